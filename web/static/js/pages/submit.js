// Submit: project and signing policy (those I may submit to), artifact
// configuration, description, parameters, optional origin data, and the
// artifact itself, uploaded with a progress bar.

import { api, upload } from "../api.js";
import { h, field, select, errorBox, replace, fmtSize } from "../dom.js";

function paramRow(list) {
  const name = h("input", { type: "text", name: "paramName", placeholder: "name", "aria-label": "Parameter name", pattern: "[A-Za-z0-9_.\\-]+" });
  const value = h("input", { type: "text", name: "paramValue", placeholder: "value", "aria-label": "Parameter value" });
  const remove = h("button", { type: "button", class: "small" }, "Remove");
  const row = h("div", { class: "param-row" }, name, value, remove);
  remove.addEventListener("click", () => {
    row.remove();
    const first = list.querySelector("input");
    if (first) first.focus();
  });
  return row;
}

export async function render(ctx) {
  const { me } = ctx;
  const policies = me.submitPolicies || [];
  if (!policies.length) {
    return h("div", {}, h("h1", {}, "Submit a signing request"),
      h("p", { class: "notice" }, "No signing policy lets you submit. Ask an administrator to add you to a policy's submitters."));
  }
  const projects = [...new Set(policies.map((p) => p.project))].sort();
  const preProject = ctx.query.get("project") || projects[0];
  const projectSel = select("projectSlug", projects.map((p) => [p, p]), preProject);
  const policySel = h("select", { name: "signingPolicySlug" });
  const confSel = h("select", { name: "artifactConfigurationSlug" });
  // titles of the formats, from the registry; the slugs alone still work
  let titles = {};
  try {
    const f = await api("GET", "/signature-formats");
    for (const i of f.items || []) titles[i.slug] = i.title;
  } catch (e) {
    titles = {};
  }
  // Authenticode: replace the file's signature or nest beside it, when
  // the policy leaves it to the request
  const modeSel = select("signatureMode", [["replace", "replace the file's signature"], ["append", "append (nested signature)"]], "replace");
  const modeField = field("Signature mode", modeSel, "Embedded signatures only.");
  const programName = h("input", { type: "text", name: "programName", maxlength: "256" });
  const programField = field("Program name", programName, "Shown by Windows for Authenticode signatures; the description's first line when empty.");

  function fillPolicies() {
    const current = ctx.query.get("policy");
    policySel.replaceChildren();
    for (const p of policies.filter((x) => x.project === projectSel.value)) {
      const approvals = p.requiredApprovals ? `, ${p.requiredApprovals} approval${p.requiredApprovals > 1 ? "s" : ""}` : ", no approval";
      policySel.append(h("option", { value: p.policy }, `${p.name || p.policy} (${p.policy}${approvals})`));
    }
    if (current && [...policySel.options].some((o) => o.value === current)) policySel.value = current;
    fillConfs();
  }
  function fillConfs() {
    const p = policies.find((x) => x.project === projectSel.value && x.policy === policySel.value);
    confSel.replaceChildren();
    for (const c of (p && p.artifactConfigurations) || []) {
      confSel.append(h("option", { value: c }, titles[c] ? `${c}: ${titles[c]}` : c));
    }
    fillMode();
  }
  function fillMode() {
    const p = policies.find((x) => x.project === projectSel.value && x.policy === policySel.value);
    const ac = confSel.value.startsWith("authenticode");
    modeField.wrap.hidden = !ac || !!(p && p.signatureMode);
    programField.wrap.hidden = !ac;
  }
  projectSel.addEventListener("change", fillPolicies);
  policySel.addEventListener("change", fillConfs);
  confSel.addEventListener("change", fillMode);
  fillPolicies();

  const description = h("textarea", { name: "description", maxlength: "4096", rows: "3" });
  const file = h("input", { type: "file", name: "artifact", required: true });
  const fileInfo = h("p", { class: "hint", "aria-live": "polite" });
  file.addEventListener("change", () => {
    const f = file.files[0];
    fileInfo.textContent = f ? `${f.name}: ${fmtSize(f.size)}` : "";
  });

  const params = h("div", { class: "params" });
  const addParam = h("button", { type: "button", class: "small" }, "Add parameter");
  addParam.addEventListener("click", () => {
    const row = paramRow(params);
    params.append(row);
    row.querySelector("input").focus();
  });

  const origin = {
    repositoryUrl: h("input", { type: "url", name: "origin.repositoryUrl", placeholder: "https://git.example.com/app.git" }),
    commitId: h("input", { type: "text", name: "origin.commitId" }),
    branchName: h("input", { type: "text", name: "origin.branchName", placeholder: "main" }),
    buildUrl: h("input", { type: "url", name: "origin.buildUrl" }),
  };

  const messages = h("div", { class: "messages", "aria-live": "polite" });
  const progress = h("progress", { max: "100", value: "0", "aria-label": "Upload progress" });
  const progressText = h("span", { class: "progress-text" });
  const progressBox = h("div", { class: "upload-progress", hidden: true }, progress, progressText);
  const submitBtn = h("button", { type: "submit", class: "primary" }, "Upload and submit");
  const cancelBtn = h("button", { type: "button", hidden: true }, "Cancel upload");
  let inflight = null;
  cancelBtn.addEventListener("click", () => inflight && inflight.abort());
  ctx.onLeave(() => inflight && inflight.abort());

  const form = h("form", { class: "card", id: "submit-form" },
    h("div", { class: "grid2" },
      field("Project", projectSel).wrap,
      field("Signing policy", policySel, "Only the policies that name you as a submitter.").wrap,
      field("Artifact configuration", confSel).wrap,
      modeField.wrap, programField.wrap),
    field("Description", description, "Optional: what this is and why it needs signing.").wrap,
    h("fieldset", {}, h("legend", {}, "Parameters"), params, h("p", {}, addParam)),
    h("details", {}, h("summary", {}, "Origin (optional)"),
      h("div", { class: "grid2" },
        field("Repository URL", origin.repositoryUrl).wrap,
        field("Commit", origin.commitId).wrap,
        field("Branch", origin.branchName).wrap,
        field("Build URL", origin.buildUrl).wrap),
      h("p", { class: "hint" }, "Origin data given here is recorded as stated by you; it is not verified.")),
    field("Artifact", file, "The file to sign. Large files are streamed to the appliance.").wrap,
    fileInfo,
    progressBox,
    messages,
    h("div", { class: "actions" }, submitBtn, cancelBtn));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(messages);
    const f = file.files[0];
    if (!f) {
      replace(messages, errorBox({ message: "choose the file to sign" }));
      file.focus();
      return;
    }
    const fd = new FormData();
    fd.append("projectSlug", projectSel.value);
    fd.append("signingPolicySlug", policySel.value);
    fd.append("artifactConfigurationSlug", confSel.value);
    if (description.value.trim()) fd.append("description", description.value.trim());
    if (!modeField.wrap.hidden && modeSel.value !== "replace") fd.append("parameters.signatureMode", modeSel.value);
    if (!programField.wrap.hidden && programName.value.trim()) fd.append("parameters.programName", programName.value.trim());
    for (const row of params.querySelectorAll(".param-row")) {
      const [n, v] = row.querySelectorAll("input");
      if (n.value.trim()) fd.append(`parameters.${n.value.trim()}`, v.value);
    }
    for (const [k, input] of Object.entries(origin)) {
      if (input.value.trim()) fd.append(`origin.${k}`, input.value.trim());
    }
    // the artifact last: the server checks the fields before storing it
    fd.append("artifact", f, f.name);
    submitBtn.disabled = true;
    cancelBtn.hidden = false;
    progressBox.hidden = false;
    progress.value = 0;
    progressText.textContent = "Starting upload…";
    inflight = upload("/signing-requests", fd, (loaded, total) => {
      const pct = total ? Math.floor((loaded / total) * 100) : 0;
      progress.value = pct;
      progressText.textContent = total ? `${pct}% — ${fmtSize(loaded)} of ${fmtSize(total)}` : fmtSize(loaded);
    });
    try {
      const rec = await inflight.promise;
      progress.value = 100;
      progressText.textContent = "Uploaded.";
      ctx.navigate(`/requests/${rec.id}`);
    } catch (err) {
      replace(messages, errorBox(err));
      progressText.textContent = "The upload did not complete.";
    } finally {
      inflight = null;
      submitBtn.disabled = false;
      cancelBtn.hidden = true;
    }
  });

  return h("div", {}, h("h1", {}, "Submit a signing request"), form);
}
