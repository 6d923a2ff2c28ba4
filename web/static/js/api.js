// The JSON API under /api/v1, called with the session cookie. Requests
// that change state carry the session's CSRF token in X-CSRF-Token; the
// token comes from the login answer or GET /api/v1/me (the cookie itself
// is HttpOnly and never visible here).

const BASE = "/api/v1";
let csrfToken = null;
let onSessionEnd = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrfToken = token || null;
}

/** fn() is called when the server says the session has ended. */
export function onSessionEnded(fn) {
  onSessionEnd = fn;
}

function qs(query) {
  if (!query) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && typeof body.message === "string") message = body.message;
    if (body && typeof body.error === "string") code = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

function sessionGone(status, code) {
  return status === 401 && code !== "invalid_credentials";
}

/**
 * api("GET", "/signing-requests", {query: {status}}) → parsed JSON (or
 * null for 204). body: an object sent as JSON. Throws ApiError.
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  if (method !== "GET" && method !== "HEAD" && csrfToken) {
    headers["X-CSRF-Token"] = csrfToken;
  }
  let res;
  try {
    res = await fetch(BASE + path + qs(opts.query), init);
  } catch (e) {
    throw new ApiError(0, "network", `the appliance cannot be reached (${e.message})`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (sessionGone(err.status, err.code) && onSessionEnd && !opts.quiet401) onSessionEnd(err);
    throw err;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) return res.json();
  return res.text();
}

/**
 * A multipart upload with progress (fetch has no upload progress; XHR
 * does). onProgress(loaded, total). Returns {promise, abort}.
 */
export function upload(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", BASE + path);
    xhr.setRequestHeader("Accept", "application/json");
    if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
        return;
      }
      const err = new ApiError(xhr.status, (body && body.error) || `http_${xhr.status}`,
        (body && body.message) || `${xhr.status} ${xhr.statusText}`);
      if (sessionGone(err.status, err.code) && onSessionEnd) onSessionEnd(err);
      reject(err);
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network",
      "the upload was interrupted: the appliance cannot be reached or closed the connection")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was canceled")));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/**
 * Walks a paged list (nextCursor), calling keep(item) on each until
 * `want` items are kept or `maxPages` pages were read.
 * Returns {items, nextCursor, scanned}.
 */
export async function scan(path, query, keep, want, maxPages = 5, cursor = null) {
  const items = [];
  let next = cursor;
  let pages = 0;
  let scanned = 0;
  do {
    const q = { ...query, pageSize: 200 };
    if (next) q.cursor = next;
    const page = await api("GET", path, { query: q });
    pages += 1;
    for (const it of page.items || []) {
      scanned += 1;
      if (keep(it)) items.push(it);
    }
    next = page.nextCursor || null;
  } while (next && items.length < want && pages < maxPages);
  return { items, nextCursor: next, scanned };
}

export function downloadUrl(path) {
  return BASE + path;
}
