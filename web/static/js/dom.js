// Building the page: elements are made with h(), text always goes in as
// text nodes (never parsed as HTML), and event handlers are attached with
// addEventListener (the Content-Security-Policy forbids inline handlers).

let idCounter = 0;

/** A fresh id for label/input pairs. */
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * h("a", {href: "#/x", class: "btn", onclick: fn}, "text", child, [more])
 * Attributes: class, dataset (object), on<event> (function), boolean
 * attributes (true / false), everything else through setAttribute.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k === "value" && "value" in el) {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field; returns {wrap, input}. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const hintEl = hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" },
    h("label", { for: input.id }, label), input, hintEl);
  return { wrap, input };
}

/** A <select> of [value, text] pairs. */
export function select(name, options, value) {
  const el = h("select", { name });
  for (const [v, t] of options) {
    el.appendChild(h("option", { value: v }, t));
  }
  if (value !== undefined) el.value = value;
  return el;
}

/** An error box: the server's message first, its code after. */
export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err);
  const code = err && err.code ? err.code : null;
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, "Error: "), msg,
    code ? h("span", { class: "code" }, ` (${code}${err.status ? `, HTTP ${err.status}` : ""})`) : null);
}

export function notice(text) {
  return h("div", { class: "notice", role: "status" }, text);
}

/** A definition list of [term, value] rows (skipping empty values). */
export function dl(rows) {
  const el = h("dl", { class: "props" });
  for (const [k, v] of rows) {
    if (v === undefined || v === null || v === "") continue;
    el.append(h("dt", {}, k), h("dd", {}, v));
  }
  return el;
}

/** A table with a header row; rows are arrays of cells. */
export function table(headers, rows, opts = {}) {
  const t = h("table", { class: opts.class || "grid" },
    opts.caption ? h("caption", {}, opts.caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", r.attrs || {}, (r.cells || r).map((c) => h("td", {}, c))))));
  return h("div", { class: "table-wrap" }, t);
}

const STATUS_CLASS = {
  Completed: "ok",
  Failed: "bad",
  Denied: "bad",
  Canceled: "muted",
  WaitingForApproval: "wait",
  InProgress: "run",
  QueuedForProcessing: "run",
  Processing: "run",
};

export function badge(status, title) {
  return h("span", { class: `badge ${STATUS_CLASS[status] || "run"}`, title }, status || "?");
}

export function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function fmtSize(n) {
  if (typeof n !== "number") return "";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  const exact = i === 0 ? "" : ` (${n.toLocaleString()} bytes)`;
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}${exact}`;
}

/** A busy button: disabled while fn runs. */
export async function busy(button, fn) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = was;
    button.removeAttribute("aria-busy");
  }
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}
