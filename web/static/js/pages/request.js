// A signing request: status and history, artifacts, origin and its
// verification, approvals, the request it was resubmitted from and those
// resubmitted from it, downloads, and what I may do with it (approve or
// deny, cancel, resubmit). Refreshes itself until the request is final.

import { api, downloadUrl } from "../api.js";
import { h, dl, table, badge, fmtTime, fmtSize, errorBox, replace, field, select, busy, shortId } from "../dom.js";
import { mayDecide, isMine, resubmitTargets, submitterText, requestLink } from "../requests-common.js";

const POLL_MS = 1500;
// resubmissions listed; more than this is unusual enough to say so
const RELATED_MAX = 50;

const ORIGIN_FIELDS = [
  ["repositoryUrl", "Repository"], ["commitId", "Commit"], ["branchName", "Branch"],
  ["buildUrl", "Build"], ["buildId", "Build ID"],
];

function mono(v) {
  return v ? h("span", { class: "mono" }, v) : "";
}

function artifactBlock(title, art, href, missing) {
  if (!art) return h("div", {}, h("h3", {}, title), h("p", { class: "empty" }, missing));
  return h("div", {}, h("h3", {}, title), dl([
    ["Name", art.name],
    ["Size", fmtSize(art.size)],
    ["SHA-256", mono(art.sha256)],
  ]), href ? h("p", {}, h("a", { class: "button", href, download: art.name || "" }, `Download ${art.name || "artifact"}`)) : null);
}

/** A hash signing request: the build machine hashed a file the
 * appliance never received; what it states is all there is to judge. */
function hashBlock(rec) {
  const x = rec.hash;
  return h("div", { id: "hash-signing" }, h("h3", {}, "Hash signing"),
    h("p", { class: "warning", id: "hash-note" }, "hash signing: the appliance has not seen the file"),
    dl([
      ["File name (stated)", x.fileName || ""],
      ["Tool (stated)", x.tool || ""],
      ["Hash algorithm", x.algorithm],
      ["Digest", mono(x.digest)],
      ["Signature algorithm", x.mechanism],
      ["Signature", x.signature ? mono(x.signature) : (rec.isFinalStatus ? "none: the request did not complete" : "not signed yet")],
    ]));
}

function jsonBlock(v) {
  return h("pre", { class: "json" }, JSON.stringify(v, null, 2));
}

/** The evidence of the origin data; absent means not verified. */
function originBlock(rec) {
  const origin = rec.origin || {};
  const ev = rec.originVerification || origin.verification || null;
  const verified = !!(ev && ev.verified === true);
  const mark = h("p", {},
    h("span", { class: `verify ${verified ? "yes" : "no"}`, id: "origin-mark", dataset: { verified: String(verified) } },
      h("span", { class: "mark", "aria-hidden": "true" }, verified ? "✔" : "✖"),
      verified ? "Origin verified" : "Origin not verified"));
  const rows = ORIGIN_FIELDS.map(([k, label]) => [label, origin[k] ? mono(origin[k]) : ""]);
  for (const [k, v] of Object.entries(origin)) {
    if (k === "verification" || ORIGIN_FIELDS.some(([f]) => f === k)) continue;
    rows.push([k, typeof v === "string" ? mono(v) : jsonBlock(v)]);
  }
  const data = rows.some(([, v]) => v) ? dl(rows) : h("p", { class: "empty" }, "No origin data was submitted.");
  let evidence;
  if (!ev) {
    evidence = h("p", { class: "hint" }, "No verification evidence is recorded for this request: its origin data is what the submitter stated.");
  } else {
    const evRows = [
      ["Verified", verified ? "yes" : "no"],
      ["Build system", ev.buildSystem],
      ["Issuer", ev.issuer ? mono(ev.issuer) : ""],
      ["Key ID", ev.keyId ? mono(ev.keyId) : ""],
      ["Verified at", fmtTime(ev.verifiedAt)],
      ["Reason", ev.reason],
    ];
    for (const [k, v] of Object.entries(ev)) {
      if (["verified", "buildSystem", "issuer", "keyId", "verifiedAt", "reason", "claims"].includes(k)) continue;
      evRows.push([k.charAt(0).toUpperCase() + k.slice(1), typeof v === "string" ? v : jsonBlock(v)]);
    }
    evidence = h("div", {}, h("h3", {}, "Evidence"), dl(evRows),
      ev.claims ? h("details", {}, h("summary", {}, "Token claims"), jsonBlock(ev.claims)) : null);
  }
  return h("section", { class: "card", id: "origin" }, h("h2", {}, "Origin"), mark, data, evidence);
}

function historyBlock(rec) {
  const rows = (rec.history || []).map((e) => {
    const extra = Object.entries(e).filter(([k]) => k !== "at" && k !== "workflowStatus")
      .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("; ");
    return [fmtTime(e.at), e.workflowStatus, extra];
  });
  return h("section", { class: "card", id: "history" }, h("h2", {}, "History"),
    rows.length ? table(["When", "Status", "Details"], rows) : h("p", { class: "empty" }, "No history."));
}

function approvalsBlock(rec) {
  const list = rec.approvals || [];
  const need = rec.requiredApprovals || 0;
  const got = list.filter((a) => a.decision === "approved").length;
  return h("section", { class: "card", id: "approvals" }, h("h2", {}, "Approvals"),
    h("p", {}, need ? `${got} of ${need} required approval${need > 1 ? "s" : ""}.` : "This policy needs no approval."),
    list.length ? table(["Decision", "By", "When", "Comment", "Over artifact SHA-256"],
      list.map((a) => [a.decision, a.by ? a.by.name : "", fmtTime(a.at), a.comment || "", mono(a.artifactSha256)]))
      : null);
}

function summaryBlock(rec) {
  const signed = rec.signedArtifact || null;
  return h("section", { class: "card", id: "summary" },
    dl([
      ["Status", h("span", {}, badge(rec.status, rec.workflowStatus), rec.workflowStatus !== rec.status ? ` ${rec.workflowStatus}` : "")],
      ["Request ID", mono(rec.id)],
      ["Project", rec.projectSlug],
      ["Signing policy", rec.signingPolicySlug],
      ["Artifact configuration", rec.artifactConfigurationSlug],
      ["Description", rec.description || ""],
      ["Submitter", submitterText(rec)],
      ["Created", fmtTime(rec.createdAt)],
      ["Updated", fmtTime(rec.updatedAt)],
      ["Certificate", rec.certificate ? rec.certificate.name : ""],
      ["Resubmitted from", rec.originalSigningRequestId
        ? h("a", { href: `#/requests/${rec.originalSigningRequestId}`, id: "original-link" }, rec.originalSigningRequestId) : ""],
    ]),
    Object.keys(rec.parameters || {}).length
      ? h("div", {}, h("h3", {}, "Parameters"), dl(Object.entries(rec.parameters).map(([k, v]) => [k, mono(String(v))])))
      : null,
    rec.hash ? hashBlock(rec) : h("div", { class: "cols" },
      artifactBlock("Unsigned artifact", rec.unsignedArtifact, rec.unsignedArtifactLink ? downloadUrl(rec.unsignedArtifactLink.replace(/^\/api\/v1/, "")) : null, "none"),
      artifactBlock("Signed artifact", signed, signed && rec.signedArtifactLink ? downloadUrl(rec.signedArtifactLink.replace(/^\/api\/v1/, "")) : null,
        rec.isFinalStatus ? "No signed artifact: the request did not complete." : "Not signed yet.")));
}

function decideForm(ctx, rec, reload) {
  const comment = h("textarea", { name: "comment", rows: "2", maxlength: "2048" });
  const msg = h("div", { "aria-live": "polite" });
  const approve = h("button", { type: "button", class: "approve", id: "approve" }, "Approve");
  const deny = h("button", { type: "button", class: "danger", id: "deny" }, "Deny");
  async function decide(button, what) {
    replace(msg);
    await busy(button, async () => {
      try {
        await api("POST", `/signing-requests/${rec.id}/${what}`, { body: comment.value.trim() ? { comment: comment.value.trim() } : {} });
        await reload(true);
      } catch (err) {
        replace(msg, errorBox(err));
      }
    });
  }
  approve.addEventListener("click", () => decide(approve, "approve"));
  deny.addEventListener("click", () => decide(deny, "deny"));
  return h("section", { class: "card", id: "decide" }, h("h2", {}, "Your decision"),
    h("p", {}, "You are an approver of this signing policy. Check the artifact's SHA-256 and origin before you decide: the decision is recorded with them."),
    field("Comment", comment, "Optional; recorded with your decision and in the audit log.").wrap,
    msg, h("div", { class: "actions" }, approve, deny));
}

function cancelForm(rec, reload) {
  const msg = h("div", { "aria-live": "polite" });
  const btn = h("button", { type: "button", id: "cancel" }, "Cancel this request");
  btn.addEventListener("click", async () => {
    replace(msg);
    await busy(btn, async () => {
      try {
        await api("POST", `/signing-requests/${rec.id}/cancel`, { body: {} });
        await reload(true);
      } catch (err) {
        replace(msg, errorBox(err));
      }
    });
  });
  return h("div", {}, msg, btn);
}

function resubmitDialog(ctx, rec, targets) {
  const policy = select("signingPolicySlug", targets.map((p) => [p.policy, `${p.name || p.policy} (${p.policy})`]));
  policy.required = true;
  const other = targets.find((p) => p.policy !== rec.signingPolicySlug);
  if (other) policy.value = other.policy;
  const description = h("textarea", { name: "description", rows: "3", maxlength: "4096" });
  const msg = h("div", { "aria-live": "polite" });
  const ok = h("button", { type: "submit", class: "primary", id: "resubmit-confirm" }, "Resubmit");
  const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
  const form = h("form", { method: "dialog" },
    h("h2", { id: "resubmit-title" }, "Resubmit signing request"),
    h("p", {}, `The same artifact (${rec.unsignedArtifact ? rec.unsignedArtifact.name : "?"}), its parameters and origin go to another signing policy of ${rec.projectSlug}.`),
    field("Signing policy", policy, "Only the policies you may submit to.").wrap,
    field("Description", description, "Optional.").wrap,
    msg, h("div", { class: "actions" }, ok, cancel));
  const dialog = h("dialog", { id: "resubmit-dialog", "aria-labelledby": "resubmit-title" }, form);
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(msg);
    await busy(ok, async () => {
      try {
        const body = { signingPolicySlug: policy.value };
        if (description.value.trim()) body.description = description.value.trim();
        const created = await api("POST", `/signing-requests/${rec.id}/resubmit`, { body });
        dialog.close();
        ctx.navigate(`/requests/${created.id}`);
      } catch (err) {
        replace(msg, errorBox(err));
      }
    });
  });
  return dialog;
}

function actionsBlock(ctx, rec, reload) {
  const { me } = ctx;
  const parts = [];
  if (mayDecide(me, rec)) parts.push(decideForm(ctx, rec, reload));
  const simple = [];
  if (!rec.isFinalStatus && isMine(me, rec) && rec.workflowStatus !== "Processing") {
    simple.push(cancelForm(rec, reload));
  }
  const targets = resubmitTargets(me, rec);
  if (rec.workflowStatus === "Completed" && targets.length) {
    const dialog = resubmitDialog(ctx, rec, targets);
    const open = h("button", { type: "button", class: "primary", id: "resubmit" }, "Resubmit signing request");
    open.addEventListener("click", () => dialog.showModal());
    simple.push(h("div", {}, open, dialog));
  }
  if (simple.length) parts.push(h("section", { class: "card", id: "actions" }, h("h2", {}, "Actions"), h("div", { class: "actions" }, simple)));
  return parts;
}

async function relatedBlock(rec) {
  const body = h("div", {});
  try {
    const r = await api("GET", "/signing-requests", {
      query: { originalSigningRequestId: rec.id, pageSize: RELATED_MAX },
    });
    const items = r.items || [];
    if (items.length) {
      body.append(table(["Request", "Status", "Signing policy", "Submitter", "Created"],
        items.map((it) => [requestLink(it), badge(it.status, it.workflowStatus), it.signingPolicySlug,
          submitterText(it), fmtTime(it.createdAt)])));
    } else {
      body.append(h("p", { class: "empty" }, "None."));
    }
    if (r.nextCursor) {
      body.append(h("p", { class: "hint" }, `The ${items.length} most recent; there are more.`));
    }
  } catch (err) {
    body.append(errorBox(err));
  }
  return h("section", { class: "card", id: "resubmitted" }, h("h2", {}, "Resubmitted as"), body);
}

export async function render(ctx) {
  const id = ctx.params[0];
  let rec = await api("GET", `/signing-requests/${id}`);
  const head = h("div", { class: "pagehead" });
  const info = h("div", {});
  const actions = h("div", {});
  const related = h("div", {});
  const live = h("p", { class: "hint", "aria-live": "polite", id: "live" });

  function draw(full) {
    replace(head, h("h1", {}, `Signing request ${shortId(rec.id)}`), badge(rec.status, rec.workflowStatus));
    replace(info, summaryBlock(rec), approvalsBlock(rec), originBlock(rec), historyBlock(rec));
    // do not throw away a comment being typed
    const typing = actions.querySelector("textarea") && [...actions.querySelectorAll("textarea")].some((t) => t.value);
    const dialogOpen = actions.querySelector("dialog[open]");
    if (full || (!typing && !dialogOpen)) replace(actions, actionsBlock(ctx, rec, reload));
    live.textContent = rec.isFinalStatus ? "" : "This page updates itself until the request is final.";
  }

  async function reload(full) {
    rec = await api("GET", `/signing-requests/${id}`);
    if (!ctx.alive()) return;
    draw(full);
    if (rec.isFinalStatus) relatedBlock(rec).then((el) => ctx.alive() && replace(related, el));
  }

  draw(true);
  replace(related, await relatedBlock(rec));
  let timer = null;
  let last = rec.updatedAt;
  const tick = async () => {
    if (!ctx.alive() || rec.isFinalStatus) return;
    try {
      const fresh = await api("GET", `/signing-requests/${id}`);
      if (!ctx.alive()) return;
      if (fresh.updatedAt !== last || fresh.workflowStatus !== rec.workflowStatus) {
        rec = fresh;
        last = fresh.updatedAt;
        draw(false);
        if (rec.isFinalStatus) relatedBlock(rec).then((el) => ctx.alive() && replace(related, el));
      }
    } catch {
      // shown on the next explicit action; keep polling
    }
    if (ctx.alive() && !rec.isFinalStatus) timer = setTimeout(tick, POLL_MS);
  };
  if (!rec.isFinalStatus) timer = setTimeout(tick, POLL_MS);
  ctx.onLeave(() => clearTimeout(timer));

  return h("div", {}, head, live, actions, info, related);
}
