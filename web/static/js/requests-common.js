// What several pages say about signing requests.

import { h, table, badge, fmtTime, shortId } from "./dom.js";

export const STATUSES = ["InProgress", "WaitingForApproval", "QueuedForProcessing", "Processing",
  "Completed", "Failed", "Denied", "Canceled"];

export function submitterText(rec) {
  const s = rec.submitter || {};
  if (!s.name) return "";
  return s.type === "client-certificate" ? `${s.name} (CI)` : s.name;
}

export function isMine(me, rec) {
  const s = rec.submitter || {};
  return s.name === me.name && (s.type || "user") === me.type;
}

function listed(list, rec) {
  return (list || []).some((p) => p.project === rec.projectSlug && p.policy === rec.signingPolicySlug);
}

/** May me decide on rec now (the server checks again)? */
export function mayDecide(me, rec) {
  if (rec.workflowStatus !== "WaitingForApproval") return false;
  if (!listed(me.approvePolicies, rec) || isMine(me, rec)) return false;
  return !(rec.approvals || []).some((a) => a.by && a.by.name === me.name && a.by.type === me.type);
}

/** The signing policies of rec's project that me may submit to. */
export function resubmitTargets(me, rec) {
  return (me.submitPolicies || []).filter((p) => p.project === rec.projectSlug);
}

export function requestLink(rec, text) {
  return h("a", { href: `#/requests/${rec.id}` }, text || shortId(rec.id));
}

export function requestsTable(items, opts = {}) {
  if (!items.length) return h("p", { class: "empty" }, opts.empty || "No signing requests.");
  return table(["Request", "Status", "Project / policy", "Artifact", "Submitter", "Created", "Description"],
    items.map((r) => ({
      attrs: { dataset: { id: r.id, status: r.status } },
      cells: [
        requestLink(r),
        badge(r.status, r.workflowStatus),
        `${r.projectSlug} / ${r.signingPolicySlug}`,
        r.hash ? `${r.hash.fileName || "unknown"} (hash signing: not seen)` : (r.unsignedArtifact && r.unsignedArtifact.name) || "",
        submitterText(r),
        fmtTime(r.createdAt),
        r.description || "",
      ],
    })), { caption: opts.caption });
}
