// Signet's web interface: a small single-page application. Routes live in
// the URL fragment (#/requests/ID), so the server serves one page and the
// API; every page is a module in pages/ exporting render(ctx).

import { api, setCsrf, onSessionEnded, ApiError } from "./api.js";
import { h, replace, errorBox, field, busy } from "./dom.js";
import * as dashboard from "./pages/dashboard.js";
import * as submit from "./pages/submit.js";
import * as requests from "./pages/requests.js";
import * as details from "./pages/request.js";
import * as admin from "./pages/admin.js";
import * as audit from "./pages/audit.js";
import { hasRole } from "./me.js";

const state = { me: null, gen: 0, cleanups: [], endedMessage: null };

const routes = [
  { re: /^\/$/, page: dashboard },
  { re: /^\/submit$/, page: submit },
  { re: /^\/requests$/, page: requests },
  { re: /^\/requests\/([0-9a-fA-F-]{36})$/, page: details },
  { re: /^\/admin(?:\/([a-z-]+))?$/, page: admin },
  { re: /^\/audit$/, page: audit },
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const q = at < 0 ? "" : raw.slice(at + 1);
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // a malformed fragment: no route matches it
  }
  return { path: decoded || "/", query: new URLSearchParams(q) };
}

export function navigate(path, query) {
  let target = `#${path}`;
  if (query) {
    const s = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)).toString();
    if (s) target += `?${s}`;
  }
  if (location.hash === target) render();
  else location.hash = target;
}

function cleanup() {
  for (const fn of state.cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // a page's timer: nothing to report
    }
  }
}

function navLink(href, text, current) {
  return h("a", { href, "aria-current": current ? "page" : null }, text);
}

function renderNav(path) {
  const nav = document.getElementById("nav");
  const user = document.getElementById("user");
  const me = state.me;
  if (!me) {
    replace(nav);
    replace(user);
    return;
  }
  const items = [navLink("#/", "Dashboard", path === "/")];
  if (me.submitPolicies && me.submitPolicies.length) {
    items.push(navLink("#/submit", "Submit", path === "/submit"));
  }
  items.push(navLink("#/requests", "Requests", path.startsWith("/requests")));
  if (hasRole(me, "administrator")) {
    items.push(navLink("#/admin/projects", "Administration", path.startsWith("/admin")));
  }
  if (hasRole(me, "administrator") || hasRole(me, "auditor")) {
    items.push(navLink("#/audit", "Audit log", path === "/audit"));
  }
  replace(nav, h("ul", {}, items.map((a) => h("li", {}, a))));
  const out = h("button", { type: "button", class: "link", id: "logout" }, "Log out");
  out.addEventListener("click", () => logout(out));
  replace(user, h("span", { class: "who", title: (me.roles || []).join(", ") || "no roles" }, me.name), out);
}

async function logout(button) {
  await busy(button, async () => {
    try {
      await api("DELETE", "/sessions/current", { quiet401: true });
    } catch {
      // already gone: logged out either way
    }
  });
  state.me = null;
  setCsrf(null);
  state.endedMessage = "You are logged out.";
  navigate("/");
}

function loginView(main) {
  const user = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "off", spellcheck: "false" });
  const pw = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("div", { class: "messages", "aria-live": "polite" });
  if (state.endedMessage) msg.append(h("div", { class: "notice", role: "status" }, state.endedMessage));
  const button = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "login card", novalidate: false },
    h("h1", { tabindex: "-1" }, "Log in to Signet"),
    msg,
    field("User name", user).wrap,
    field("Password", pw).wrap,
    h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(msg);
    await busy(button, async () => {
      try {
        const res = await api("POST", "/sessions", {
          body: { username: user.value, password: pw.value, cookie: true },
          quiet401: true,
        });
        setCsrf(res.csrfToken);
        pw.value = "";
        state.endedMessage = null;
        await loadMe();
        render();
      } catch (err) {
        replace(msg, errorBox(err));
        pw.value = "";
        pw.focus();
      }
    });
  });
  document.title = "Log in — Signet";
  replace(main, form);
  user.focus();
}

async function loadMe() {
  const me = await api("GET", "/me", { quiet401: true });
  state.me = me;
  setCsrf(me.csrfToken || null);
  return me;
}

export async function render() {
  cleanup();
  state.gen += 1;
  const gen = state.gen;
  const main = document.getElementById("main");
  const { path, query } = parseHash();
  if (!state.me) {
    try {
      await loadMe();
    } catch (err) {
      if (gen !== state.gen) return;
      renderNav(path);
      if (err instanceof ApiError && err.status === 401) {
        loginView(main);
      } else {
        replace(main, errorBox(err));
      }
      return;
    }
  }
  if (gen !== state.gen) return;
  renderNav(path);
  let match = null;
  let route = null;
  for (const r of routes) {
    match = path.match(r.re);
    if (match) {
      route = r;
      break;
    }
  }
  const ctx = {
    me: state.me,
    query,
    params: match ? match.slice(1) : [],
    alive: () => gen === state.gen,
    onLeave: (fn) => state.cleanups.push(fn),
    navigate,
    reloadMe: loadMe,
  };
  if (!route) {
    replace(main, h("h1", { tabindex: "-1" }, "Not found"),
      h("p", {}, "There is no page here. ", h("a", { href: "#/" }, "Go to the dashboard"), "."));
    return;
  }
  replace(main, h("p", { class: "loading" }, "Loading…"));
  try {
    const content = await route.page.render(ctx);
    if (gen !== state.gen) return;
    replace(main, content);
  } catch (err) {
    if (gen !== state.gen) return;
    replace(main, errorBox(err));
  }
  document.title = `${(main.querySelector("h1") || {}).textContent || "Signet"} — Signet`;
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

onSessionEnded((err) => {
  if (!state.me) return;
  state.me = null;
  setCsrf(null);
  state.endedMessage = err.message;
  render();
});

window.addEventListener("hashchange", () => render());
render();
