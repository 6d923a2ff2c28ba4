// The requests list: filters by status, project, policy (on the server)
// and submitter (here, while reading pages: the API has no submitter
// filter), paged with nextCursor.

import { api } from "../api.js";
import { h, field, select, errorBox } from "../dom.js";
import { STATUSES, requestsTable, submitterText } from "../requests-common.js";

const PAGE = 25;
// with a submitter filter, at most this many server pages per screen
const SCAN_PAGES = 10;

function datalist(id, values) {
  return h("datalist", { id }, [...values].sort().map((v) => h("option", { value: v })));
}

export async function render(ctx) {
  const { me, query } = ctx;
  const f = {
    status: query.get("status") || "",
    project: query.get("project") || "",
    policy: query.get("policy") || "",
    submitter: (query.get("submitter") || "").trim(),
    cursor: query.get("cursor") || "",
    prev: query.get("prev") || "",
  };
  const known = [...(me.submitPolicies || []), ...(me.approvePolicies || [])];
  const status = select("status", [["", "any"], ...STATUSES.map((s) => [s, s])], f.status);
  const project = h("input", { type: "text", name: "project", value: f.project, list: "dl-projects", autocomplete: "off" });
  const policy = h("input", { type: "text", name: "policy", value: f.policy, list: "dl-policies", autocomplete: "off" });
  const submitter = h("input", { type: "text", name: "submitter", value: f.submitter, autocomplete: "off" });
  const form = h("form", { class: "card filters", role: "search", "aria-label": "Filter requests" },
    field("Status", status).wrap,
    field("Project", project).wrap,
    field("Signing policy", policy).wrap,
    field("Submitter", submitter).wrap,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { href: "#/requests", class: "button" }, "Clear")),
    datalist("dl-projects", new Set(known.map((p) => p.project))),
    datalist("dl-policies", new Set(known.map((p) => p.policy))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ctx.navigate("/requests", {
      status: status.value, project: project.value.trim(), policy: policy.value.trim(),
      submitter: submitter.value.trim(),
    });
  });

  const base = { status: f.status, projectSlug: f.project, signingPolicySlug: f.policy };
  const out = h("section", { "aria-label": "Results" });
  try {
    let items = [];
    let next = f.cursor || null;
    let pages = 0;
    let scanned = 0;
    do {
      const q = { ...base, pageSize: f.submitter ? 200 : PAGE };
      if (next) q.cursor = next;
      const page = await api("GET", "/signing-requests", { query: q });
      pages += 1;
      for (const it of page.items || []) {
        scanned += 1;
        if (!f.submitter || (it.submitter && (it.submitter.name === f.submitter ||
            submitterText(it) === f.submitter))) items.push(it);
      }
      next = page.nextCursor || null;
    } while (f.submitter && next && items.length < PAGE && pages < SCAN_PAGES);
    out.append(requestsTable(items, { empty: "No signing request matches." }));
    if (f.submitter) {
      out.append(h("p", { class: "hint" },
        `Submitter filter: ${scanned} requests read, ${items.length} by ${f.submitter}.`));
    }
    const nav = h("nav", { class: "pager", "aria-label": "Pages" });
    const keep = { status: f.status, project: f.project, policy: f.policy, submitter: f.submitter };
    if (f.cursor) {
      // one step back is remembered; further back starts from the top
      nav.append(h("a", { class: "button", href: "#/requests?" + new URLSearchParams(
        Object.entries({ ...keep, cursor: f.prev }).filter(([, v]) => v)).toString() }, "Newer"));
      nav.append(h("a", { class: "button", href: "#/requests?" + new URLSearchParams(
        Object.entries(keep).filter(([, v]) => v)).toString() }, "Newest"));
    }
    if (next) {
      nav.append(h("a", { class: "button", rel: "next", href: "#/requests?" + new URLSearchParams(
        Object.entries({ ...keep, cursor: next, prev: f.cursor }).filter(([, v]) => v)).toString() }, "Older"));
    }
    out.append(nav);
  } catch (err) {
    out.append(errorBox(err));
  }
  return h("div", {}, h("h1", {}, "Signing requests"), form, out);
}
