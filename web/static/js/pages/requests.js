// The requests list: filters by status, project, policy and submitter,
// all applied by the server, paged with nextCursor.

import { api } from "../api.js";
import { h, field, select, errorBox } from "../dom.js";
import { STATUSES, requestsTable } from "../requests-common.js";

const PAGE = 25;
// the table shows a CI identity as "NAME (CI)" (submitterText); the
// server filters by the name alone
const CI_SUFFIX = " (CI)";

function submitterName(text) {
  return text.endsWith(CI_SUFFIX) ? text.slice(0, -CI_SUFFIX.length).trim() : text;
}

function datalist(id, values) {
  return h("datalist", { id }, [...values].sort().map((v) => h("option", { value: v })));
}

export async function render(ctx) {
  const { me, query } = ctx;
  const f = {
    status: query.get("status") || "",
    project: query.get("project") || "",
    policy: query.get("policy") || "",
    submitter: submitterName((query.get("submitter") || "").trim()),
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
      submitter: submitterName(submitter.value.trim()),
    });
  });

  const q = {
    status: f.status, projectSlug: f.project, signingPolicySlug: f.policy,
    submitter: f.submitter, pageSize: PAGE, cursor: f.cursor,
  };
  const out = h("section", { "aria-label": "Results" });
  try {
    const page = await api("GET", "/signing-requests", { query: q });
    const next = page.nextCursor || null;
    out.append(requestsTable(page.items || [], { empty: "No signing request matches." }));
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
