// The audit log (auditors and administrators): entries in order, each
// with the hash of the one before; the export is the JSON-lines file that
// `signet audit verify` re-checks.

import { api, downloadUrl } from "../api.js";
import { h, table, fmtTime, field, errorBox } from "../dom.js";
import { hasRole } from "../me.js";

const LIMIT = 100;

function actor(a) {
  if (!a) return "";
  return a.type === "user" ? a.name : `${a.name} (${a.type})`;
}

function details(d) {
  if (!d || !Object.keys(d).length) return "";
  return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("; ");
}

export async function render(ctx) {
  const { me, query } = ctx;
  if (!hasRole(me, "auditor") && !hasRole(me, "administrator")) {
    return h("div", {}, h("h1", {}, "Audit log"),
      h("p", { class: "notice" }, "The audit log is for auditors and administrators."));
  }
  const after = query.get("after") || "";
  const from = h("input", { type: "number", min: "0", name: "after", value: after });
  const form = h("form", { class: "card filters", "aria-label": "Go to entry" },
    field("Start after entry", from, "A sequence number; empty starts at the beginning.").wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Show"),
      h("a", { class: "button", href: downloadUrl("/audit?format=jsonl"), download: "signet-audit.jsonl" }, "Export (JSON lines)")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate("/audit", { after: from.value });
  });
  const out = h("section", { "aria-label": "Entries" });
  try {
    const res = await api("GET", "/audit", { query: { after, limit: LIMIT } });
    const items = res.items || [];
    out.append(items.length ? table(["#", "When", "Actor", "Action", "Target", "Details", "Hash"],
      items.map((e) => [String(e.seq), fmtTime(e.at), actor(e.actor), e.action, e.target || "", details(e.details),
        h("span", { class: "mono", title: `previous: ${e.prevHash}` }, (e.hash || "").slice(0, 16))]))
      : h("p", { class: "empty" }, "No entries."));
    const nav = h("nav", { class: "pager", "aria-label": "Pages" });
    if (after) nav.append(h("a", { class: "button", href: "#/audit" }, "First"));
    if (res.nextAfter) nav.append(h("a", { class: "button", rel: "next", href: `#/audit?after=${encodeURIComponent(res.nextAfter)}` }, "Next"));
    out.append(nav);
  } catch (err) {
    out.append(errorBox(err));
  }
  return h("div", {}, h("h1", {}, "Audit log"), form, out);
}
