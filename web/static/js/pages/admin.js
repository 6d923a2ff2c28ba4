// Administration (administrators): projects and their signing policies,
// webhooks, users, CI identities, keys in the token and certificates, all
// through /api/v1/admin/*. Edits start from the object the server sent and
// change only the fields of the form, so fields this page does not know
// survive an edit.

import { api } from "../api.js";
import { h, field, select, table, dl, errorBox, replace, busy, fmtTime, uid } from "../dom.js";
import { hasRole } from "../me.js";

const SECTIONS = [
  ["projects", "Projects & policies"],
  ["webhooks", "Webhooks"],
  ["users", "Users"],
  ["identities", "CI identities"],
  ["build-systems", "Build systems"],
  ["keys", "Keys & token"],
  ["certificates", "Certificates"],
];

const ROLES = ["administrator", "security-officer", "auditor"];

// ---------------------------------------------------------------- helpers

function splitList(s) {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function listText(a) {
  return (a || []).join(", ");
}

function changesBox(res, fallback) {
  const lines = res && Array.isArray(res.changes) && res.changes.length ? res.changes : [fallback || "Saved."];
  return h("div", { class: "ok-box", role: "status" }, lines.map((l) => h("div", {}, l)));
}

/**
 * A modal form: fields are [label, input, hint]; submit(values) may
 * throw an ApiError, shown in the dialog. Returns {dialog, open}.
 */
function formDialog(title, fields, submitText, submit) {
  const msg = h("div", { "aria-live": "polite" });
  const ok = h("button", { type: "submit", class: "primary" }, submitText);
  const cancel = h("button", { type: "button" }, "Cancel");
  const titleId = uid("dlg");
  const form = h("form", { method: "dialog" }, h("h2", { id: titleId }, title),
    fields.map(([label, input, hint]) => (label ? field(label, input, hint).wrap : input)),
    msg, h("div", { class: "actions" }, ok, cancel));
  const dialog = h("dialog", { "aria-labelledby": titleId }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(msg);
    await busy(ok, async () => {
      try {
        await submit();
        dialog.close();
      } catch (err) {
        replace(msg, errorBox(err));
      }
    });
  });
  return {
    dialog,
    open() {
      document.body.append(dialog);
      dialog.showModal();
    },
  };
}

function button(text, onclick, cls = "small") {
  const b = h("button", { type: "button", class: cls }, text);
  b.addEventListener("click", () => onclick(b));
  return b;
}

/** Runs an admin change, then shows its result and redraws. */
function changer(out, redraw) {
  return async (fn, okText) => {
    const res = await fn();
    await redraw();
    out.prepend(changesBox(res, okText));
  };
}

async function confirmDelete(out, redraw, what, path) {
  // eslint-disable-next-line no-alert
  if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
  try {
    await api("DELETE", path);
    await redraw();
    out.prepend(h("div", { class: "ok-box", role: "status" }, `Deleted ${what}.`));
  } catch (err) {
    out.prepend(errorBox(err));
  }
}

function textInput(value, attrs = {}) {
  return h("input", { type: "text", value: value || "", ...attrs });
}

// ---------------------------------------------------------------- projects

function policyDialog(project, pol, certs, principals, formats, done) {
  const isNew = !pol;
  const p = pol ? structuredClone(pol) : {};
  const slug = textInput(p.slug, { required: true, readonly: !isNew, pattern: "[a-z0-9][a-z0-9\\-]*" });
  const name = textInput(p.name, { required: true });
  const cert = select("certificate", certs.map((c) => [c.name, `${c.name} (${c.purpose}, ${c.daysLeft} days left)`]), p.certificate);
  const purpose = select("purpose", [["test", "test signing"], ["release", "release signing"]], p.purpose || "test");
  const approvals = h("input", { type: "number", min: "0", max: "16", value: String(p.requiredApprovals ?? 0) });
  const subs = textInput(listText(p.submitters), { list: "dl-principals" });
  const apprs = textInput(listText(p.approvers), { list: "dl-principals" });
  const confs = textInput(listText(p.artifactConfigurations || formats.map((f) => f.slug)));
  const verified = h("input", { type: "checkbox", checked: !!p.requireVerifiedOrigin });
  const branches = textInput(listText(p.allowedBranches));
  const dlist = h("datalist", { id: "dl-principals" }, principals.map((n) => h("option", { value: n })));
  return formDialog(isNew ? `New signing policy of ${project.slug}` : `Signing policy ${project.slug}/${p.slug}`, [
    ["Slug", slug, "Lowercase letters, digits and '-'."],
    ["Name", name],
    ["Certificate", cert],
    ["Purpose", purpose, "A release certificate serves only release-signing policies, a test certificate only test-signing ones."],
    ["Required approvals", approvals],
    ["Submitters", subs, "Users and CI identities, separated by commas."],
    ["Approvers", apprs, "Users, separated by commas."],
    ["Artifact configurations", confs, `Signature formats, separated by commas: ${formats.map((f) => f.slug).join(", ")}.`],
    [null, h("div", { class: "checks" }, h("label", {}, verified, "Require verified origin"))],
    ["Allowed branches", branches, "Optional patterns such as main, refs/tags/v*; empty allows any."],
    [null, dlist],
  ], isNew ? "Create policy" : "Save policy", async () => {
    p.slug = slug.value.trim();
    p.name = name.value.trim();
    p.certificate = cert.value;
    p.purpose = purpose.value;
    p.requiredApprovals = Number(approvals.value || 0);
    p.submitters = splitList(subs.value);
    p.approvers = splitList(apprs.value);
    p.artifactConfigurations = splitList(confs.value);
    // only sent when set or already there: an appliance without origin
    // rules refuses fields it does not know
    if (verified.checked || "requireVerifiedOrigin" in p) p.requireVerifiedOrigin = verified.checked;
    const br = splitList(branches.value);
    if (br.length || "allowedBranches" in p) p.allowedBranches = br;
    const base = `/admin/projects/${encodeURIComponent(project.slug)}/signing-policies`;
    const res = isNew ? await api("POST", base, { body: p })
      : await api("PUT", `${base}/${encodeURIComponent(p.slug)}`, { body: p });
    await done(res);
  });
}

/** The project as PUT takes it: no policies, webhooks without secrets. */
function projectBody(pr) {
  const p = structuredClone(pr);
  delete p.signingPolicies;
  p.webhooks = (p.webhooks || []).map((w) => ({ url: w.url }));
  return p;
}

function projectDialog(pr, done) {
  const isNew = !pr;
  const p = pr ? projectBody(pr) : { repositoryUrls: [], webhooks: [] };
  const slug = textInput(p.slug, { required: true, readonly: !isNew, pattern: "[a-z0-9][a-z0-9\\-]*" });
  const name = textInput(p.name, { required: true });
  const urls = h("textarea", { rows: "3" });
  urls.value = (p.repositoryUrls || []).join("\n");
  return formDialog(isNew ? "New project" : `Project ${p.slug}`, [
    ["Slug", slug, "Lowercase letters, digits and '-'; used in the API and by CI systems."],
    ["Name", name],
    ["Repository URLs", urls, "One per line: origin data must name one of these."],
  ], isNew ? "Create project" : "Save project", async () => {
    p.slug = slug.value.trim();
    p.name = name.value.trim();
    p.repositoryUrls = splitList(urls.value);
    const res = isNew ? await api("POST", "/admin/projects", { body: p })
      : await api("PUT", `/admin/projects/${encodeURIComponent(p.slug)}`, { body: p });
    await done(res);
  });
}

async function projectsSection(out) {
  const redraw = async () => {
    const [projects, certs, users, idents, formats] = await Promise.all([
      api("GET", "/admin/projects"), api("GET", "/admin/certificates"),
      api("GET", "/admin/users"), api("GET", "/admin/identities"),
      api("GET", "/signature-formats")]);
    const principals = [...users.items.map((u) => u.name), ...idents.items.map((i) => i.name)];
    const change = changer(out, redraw);
    const add = button("New project", () => projectDialog(null, (res) => change(async () => res)).open(), "primary");
    const cards = projects.items.map((pr) => {
      const pols = pr.signingPolicies || [];
      return h("section", { class: "card", dataset: { project: pr.slug } },
        h("h2", {}, `${pr.name} `, h("span", { class: "muted" }, `(${pr.slug})`)),
        dl([["Repository URLs", listText(pr.repositoryUrls) || "any"],
          ["Webhooks", String((pr.webhooks || []).length)]]),
        h("div", { class: "actions" },
          button("Edit project", () => projectDialog(pr, (res) => change(async () => res)).open()),
          button("Add signing policy", () => policyDialog(pr, null, certs.items, principals, formats.items, (res) => change(async () => res)).open()),
          button("Delete project", () => confirmDelete(out, redraw, `project ${pr.slug}`, `/admin/projects/${encodeURIComponent(pr.slug)}`), "small danger")),
        h("h3", {}, "Signing policies"),
        pols.length ? table(["Slug", "Name", "Purpose", "Certificate", "Approvals", "Submitters", "Approvers", "Configurations", ""],
          pols.map((p) => ({
            attrs: { dataset: { policy: p.slug } },
            cells: [p.slug, p.name, p.purpose, p.certificate, String(p.requiredApprovals ?? 0),
              listText(p.submitters), listText(p.approvers), listText(p.artifactConfigurations),
              h("div", { class: "actions" },
                button("Edit", () => policyDialog(pr, p, certs.items, principals, formats.items, (res) => change(async () => res)).open()),
                button("Delete", () => confirmDelete(out, redraw, `signing policy ${pr.slug}/${p.slug}`,
                  `/admin/projects/${encodeURIComponent(pr.slug)}/signing-policies/${encodeURIComponent(p.slug)}`), "small danger"))],
          }))) : h("p", { class: "empty" }, "No signing policy yet."));
    });
    replace(out, h("p", {}, add), cards.length ? cards : h("p", { class: "empty" }, "No project yet."));
  };
  await redraw();
}

// ---------------------------------------------------------------- webhooks

async function webhooksSection(out) {
  const redraw = async () => {
    const projects = await api("GET", "/admin/projects");
    const change = changer(out, redraw);
    const cards = projects.items.map((pr) => {
      const hooks = pr.webhooks || [];
      const addUrl = h("input", { type: "url", required: true, placeholder: "https://hooks.example.com/signet" });
      const secret = h("input", { type: "password", required: true, minlength: "16", autocomplete: "new-password" });
      const add = button("Add webhook", () => formDialog(`New webhook of ${pr.slug}`, [
        ["URL", addUrl, "https:// only; events are POSTed with an HMAC signature."],
        ["Secret", secret, "16 to 256 printable characters, shared with the receiver."],
      ], "Add webhook", async () => {
        const body = projectBody(pr);
        body.webhooks.push({ url: addUrl.value.trim(), secret: secret.value });
        const res = await api("PUT", `/admin/projects/${encodeURIComponent(pr.slug)}`, { body });
        secret.value = "";
        await change(async () => res);
      }).open());
      return h("section", { class: "card" }, h("h2", {}, `${pr.name} (${pr.slug})`),
        hooks.length ? table(["URL", ""], hooks.map((w, i) => [w.url,
          button("Remove", async () => {
            const body = projectBody(pr);
            body.webhooks.splice(i, 1);
            try {
              await change(() => api("PUT", `/admin/projects/${encodeURIComponent(pr.slug)}`, { body }));
            } catch (err) {
              out.prepend(errorBox(err));
            }
          }, "small danger")])) : h("p", { class: "empty" }, "No webhook."),
        h("p", {}, add));
    });
    replace(out, h("p", { class: "hint" }, "Webhooks receive every event of a project's requests. Secrets are never shown again; a kept webhook keeps its secret."),
      cards.length ? cards : h("p", { class: "empty" }, "No project yet."));
  };
  await redraw();
}

// ---------------------------------------------------------------- users

function rolesBox(roles) {
  const boxes = ROLES.map((r) => {
    const cb = h("input", { type: "checkbox", value: r, checked: (roles || []).includes(r) });
    return { r, cb, label: h("label", {}, cb, r) };
  });
  const el = h("fieldset", {}, h("legend", {}, "Roles"), h("div", { class: "checks" }, boxes.map((b) => b.label)),
    h("p", { class: "hint" }, "Submitting and approving are granted per signing policy, not by role."));
  return { el, value: () => boxes.filter((b) => b.cb.checked).map((b) => b.r) };
}

async function usersSection(out) {
  const redraw = async () => {
    const users = await api("GET", "/admin/users");
    const change = changer(out, redraw);
    const create = button("New user", () => {
      const name = textInput("", { required: true, autocomplete: "off" });
      const email = h("input", { type: "email" });
      const roles = rolesBox([]);
      const pw = h("input", { type: "password", minlength: "12", autocomplete: "new-password" });
      formDialog("New user", [["Name", name], ["E-mail", email, "Notifications go here."], [null, roles.el],
        ["Password", pw, "Optional now: 12 characters or more."]], "Create user", async () => {
        const body = { name: name.value.trim(), roles: roles.value() };
        if (email.value.trim()) body.email = email.value.trim();
        const res = await api("POST", "/admin/users", { body });
        if (pw.value) await api("POST", `/admin/users/${encodeURIComponent(body.name)}/password`, { body: { password: pw.value } });
        pw.value = "";
        await change(async () => res);
      }).open();
    }, "primary");
    const rows = users.items.map((u) => ({
      attrs: { dataset: { user: u.name } },
      cells: [u.name, u.email || "", listText(u.roles) || h("span", { class: "muted" }, "none"),
        h("div", { class: "actions" },
          button("Edit", () => {
            const email = h("input", { type: "email", value: u.email || "" });
            const roles = rolesBox(u.roles);
            formDialog(`User ${u.name}`, [["E-mail", email], [null, roles.el]], "Save user", async () => {
              const body = structuredClone(u);
              body.roles = roles.value();
              if (email.value.trim()) body.email = email.value.trim();
              else delete body.email;
              await change(() => api("PUT", `/admin/users/${encodeURIComponent(u.name)}`, { body }));
            }).open();
          }),
          button("Set password", () => {
            const pw = h("input", { type: "password", required: true, minlength: "12", autocomplete: "new-password" });
            formDialog(`Password of ${u.name}`, [["New password", pw, "12 characters or more."]], "Set password", async () => {
              await api("POST", `/admin/users/${encodeURIComponent(u.name)}/password`, { body: { password: pw.value } });
              pw.value = "";
              await change(async () => null, `The password of ${u.name} is set.`);
            }).open();
          }),
          button("Delete", () => confirmDelete(out, redraw, `user ${u.name}`, `/admin/users/${encodeURIComponent(u.name)}`), "small danger"))],
    }));
    replace(out, h("p", {}, create), table(["Name", "E-mail", "Roles", ""], rows));
  };
  await redraw();
}

// ---------------------------------------------------------------- identities

async function identitiesSection(out) {
  const redraw = async () => {
    const ids = await api("GET", "/admin/identities");
    const change = changer(out, redraw);
    const create = button("New CI identity", () => {
      const name = textInput("", { required: true });
      const subject = textInput("", { placeholder: "CN=runner,O=Example" });
      const issuer = textInput("", { placeholder: "CN=Example Client CA,O=Example" });
      const fp = textInput("", { placeholder: "64 hex digits", class: "mono" });
      formDialog("New CI identity", [["Name", name, "Used in signing policies' submitters."],
        ["Subject", subject, "As `openssl x509 -noout -subject -nameopt RFC2253` prints it."],
        ["Issuer", issuer, "The client CA's subject, in the same form."],
        ["SHA-256 fingerprint", fp, "Instead of (or besides) subject and issuer: the certificate's fingerprint."]],
      "Create identity", async () => {
        const body = { name: name.value.trim(), type: "client-certificate" };
        if (subject.value.trim()) body.subject = subject.value.trim();
        if (issuer.value.trim()) body.issuer = issuer.value.trim();
        if (fp.value.trim()) body.sha256Fingerprint = fp.value.trim().replace(/:/g, "").toLowerCase();
        await change(() => api("POST", "/admin/identities", { body }));
      }).open();
    }, "primary");
    const extra = new Set();
    for (const i of ids.items) for (const k of Object.keys(i)) if (!["name", "type", "subject", "issuer", "sha256Fingerprint"].includes(k)) extra.add(k);
    const rows = ids.items.map((i) => [i.name, i.type, i.subject || "", i.issuer || "",
      i.sha256Fingerprint ? h("span", { class: "mono" }, i.sha256Fingerprint) : "",
      ...[...extra].map((k) => (i[k] === undefined ? "" : typeof i[k] === "string" ? i[k] : JSON.stringify(i[k]))),
      button("Delete", () => confirmDelete(out, redraw, `identity ${i.name}`, `/admin/identities/${encodeURIComponent(i.name)}`), "small danger")]);
    replace(out, h("p", { class: "hint" }, "Build systems that submit over mutual TLS, recognised by their client certificate."),
      h("p", {}, create), table(["Name", "Type", "Subject", "Issuer", "SHA-256", ...extra, ""], rows));
  };
  await redraw();
}

// ---------------------------------------------------------------- build systems

function jsonInput(v, rows = "4") {
  const ta = h("textarea", { class: "pem", rows });
  ta.value = v === undefined ? "" : JSON.stringify(v, null, 2);
  return ta;
}

function parseJson(label, text) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} is not JSON: ${e.message}`);
  }
}

function buildSystemDialog(bs, idents, done) {
  const isNew = !bs;
  const b = bs ? structuredClone(bs) : {};
  const name = textInput(b.name, { required: true, readonly: !isNew });
  const ids = textInput(listText(b.identities), { list: "dl-identities" });
  const preset = select("preset", [["generic", "generic"], ["github", "github"], ["gitlab", "gitlab"]], b.preset || "generic");
  const issuer = h("input", { type: "url", value: b.issuer || "" });
  const audience = textInput(b.audience);
  const jwks = jsonInput(b.jwks, "6");
  const jwksUrl = h("input", { type: "url", value: b.jwksUrl || "" });
  const prefix = h("input", { type: "url", value: b.repositoryUrlPrefix || "" });
  const claims = jsonInput(b.claims, "3");
  const dlist = h("datalist", { id: "dl-identities" }, idents.map((n) => h("option", { value: n })));
  return formDialog(isNew ? "New build system" : `Build system ${b.name}`, [
    ["Name", name],
    ["CI identities", ids, "The client certificates that are this build system, separated by commas."],
    ["Preset", preset, "Which token claims vouch for which origin field."],
    ["OIDC issuer", issuer, "Optional: without it the client certificate alone vouches for the origin."],
    ["Audience", audience, "Required with an issuer."],
    ["JWKS", jwks, "Required with an issuer: the issuer's public keys, pasted (the appliance is offline)."],
    ["JWKS URL", jwksUrl, "Optional; recorded only."],
    ["Repository URL prefix", prefix, "Optional, e.g. https://gitlab.example.com/"],
    ["Claims (generic preset)", claims, 'Origin field → claim, e.g. {"commitId": "git_sha"}.'],
    [null, dlist],
  ], isNew ? "Create build system" : "Save build system", async () => {
    b.name = name.value.trim();
    b.identities = splitList(ids.value);
    b.preset = preset.value;
    const set = (k, v) => {
      if (v === undefined || v === "") delete b[k];
      else b[k] = v;
    };
    set("issuer", issuer.value.trim());
    set("audience", audience.value.trim());
    set("jwks", parseJson("JWKS", jwks.value));
    set("jwksUrl", jwksUrl.value.trim());
    set("repositoryUrlPrefix", prefix.value.trim());
    set("claims", parseJson("Claims", claims.value));
    const res = isNew ? await api("POST", "/admin/build-systems", { body: b })
      : await api("PUT", `/admin/build-systems/${encodeURIComponent(b.name)}`, { body: b });
    await done(res);
  });
}

async function buildSystemsSection(out) {
  const redraw = async () => {
    const [list, idents] = await Promise.all([api("GET", "/admin/build-systems"), api("GET", "/admin/identities")]);
    const names = idents.items.map((i) => i.name);
    const change = changer(out, redraw);
    const create = button("New build system", () => buildSystemDialog(null, names, (res) => change(async () => res)).open(), "primary");
    const rows = list.items.map((b) => ({
      attrs: { dataset: { buildSystem: b.name } },
      cells: [b.name, listText(b.identities), b.preset || "generic", b.issuer || h("span", { class: "muted" }, "none (certificate only)"),
        b.audience || "", b.jwks && Array.isArray(b.jwks.keys) ? `${b.jwks.keys.length} key(s)` : "",
        h("div", { class: "actions" },
          button("Edit", () => buildSystemDialog(b, names, (res) => change(async () => res)).open()),
          button("Delete", () => confirmDelete(out, redraw, `build system ${b.name}`, `/admin/build-systems/${encodeURIComponent(b.name)}`), "small danger"))],
    }));
    replace(out, h("p", { class: "hint" }, "Trusted build systems: the CI identities they submit with and the OIDC issuer whose ID tokens verify a submission's origin."),
      h("p", {}, create), rows.length ? table(["Name", "Identities", "Preset", "Issuer", "Audience", "JWKS", ""], rows)
        : h("p", { class: "empty" }, "No build system."));
  };
  await redraw();
}

// ---------------------------------------------------------------- keys

function certCell(certs) {
  if (!certs || !certs.length) return h("span", { class: "muted" }, "none");
  return certs.map((c) => h("div", { class: c.expiringSoon ? "expiring-text" : "" },
    `${c.name} (${c.purpose}) until ${fmtTime(c.notAfter)}, ${c.daysLeft} days`,
    c.expiringSoon ? h("strong", {}, " — expires soon") : ""));
}

function pemResult(title, pem, filename) {
  const ta = h("textarea", { class: "pem", readonly: true, rows: "10" });
  ta.value = pem;
  const url = URL.createObjectURL(new Blob([pem], { type: "application/pkcs10" }));
  return h("section", { class: "card" }, h("h3", {}, title), field("PEM", ta).wrap,
    h("a", { class: "button", href: url, download: filename }, `Download ${filename}`));
}

async function keysSection(out) {
  const redraw = async () => {
    const token = await api("GET", "/admin/token");
    const change = changer(out, redraw);
    const pin = token.pin || {};
    const status = h("section", { class: "card" }, h("h2", {}, "Token"), dl([
      ["Present", token.present ? "yes" : "no"],
      ["Logged in", token.loggedIn ? "yes" : h("strong", {}, "no — activate it on the appliance console")],
      ["Label", token.label], ["Manufacturer", token.manufacturer], ["Model", token.model], ["Serial", token.serial],
      ["PIN", pin.locked ? "locked" : pin.finalTry ? "final try left" : pin.countLow ? "wrong PIN entered recently" : "ok"],
      ["Error", token.error || ""],
    ]));
    const gen = button("Generate key", () => {
      const label = textInput("", { required: true, pattern: "[A-Za-z0-9._\\-]+" });
      const type = select("type", [["rsa3072", "RSA 3072"], ["rsa4096", "RSA 4096"], ["p256", "ECDSA P-256"], ["p384", "ECDSA P-384"]], "rsa3072");
      formDialog("Generate a key in the token", [["Label", label], ["Type", type]], "Generate", async () => {
        const res = await api("POST", "/admin/keys", { body: { label: label.value.trim(), type: type.value } });
        await change(async () => null, `Generated key ${res.label} (${res.id}).`);
      }).open();
    }, "primary");
    const rows = (token.keys || []).map((k) => ({
      attrs: { dataset: { key: k.label } },
      cells: [k.label, h("span", { class: "mono" }, k.id), `${k.type} ${k.bits}`, certCell(k.certificates),
        h("div", { class: "actions" },
          button("Make CSR", () => {
            const subject = textInput("", { required: true, placeholder: "CN=Example Release Signing,O=Example" });
            const eku = textInput("codeSigning");
            formDialog(`Certificate request for ${k.label}`, [["Subject", subject], ["Extended key usage", eku, "Leave empty for none."]],
              "Make CSR", async () => {
                const body = { subject: subject.value.trim() };
                if (eku.value.trim()) body.extensions = { extendedKeyUsage: eku.value.trim() };
                const res = await api("POST", `/admin/keys/${encodeURIComponent(k.id)}/csr`, { body });
                out.prepend(pemResult(`CSR of ${k.label}`, res.csrPem, `${k.label}.csr`));
              }).open();
          }),
          button("Self-signed certificate", () => {
            const name = textInput(`${k.label}-test`, { required: true });
            const subject = textInput("", { required: true, placeholder: "CN=Example Test Signing,O=Example" });
            const days = h("input", { type: "number", min: "1", max: "3650", value: "365" });
            formDialog(`Self-signed test certificate for ${k.label}`, [["Certificate name", name], ["Subject", subject], ["Days", days]],
              "Create", async () => {
                await change(() => api("POST", `/admin/keys/${encodeURIComponent(k.id)}/self-signed`,
                  { body: { name: name.value.trim(), subject: subject.value.trim(), days: Number(days.value) } }));
              }).open();
          }))],
    }));
    replace(out, status, h("section", { class: "card" }, h("h2", {}, "Keys"), h("p", {}, gen),
      rows.length ? table(["Label", "ID", "Type", "Certificates", ""], rows) : h("p", { class: "empty" }, "No key in the token.")));
  };
  await redraw();
}

// ---------------------------------------------------------------- certificates

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.addEventListener("load", () => resolve(new Uint8Array(r.result)));
    r.addEventListener("error", () => reject(new Error("the file cannot be read")));
    r.readAsArrayBuffer(file);
  });
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

async function certificatesSection(out) {
  const redraw = async () => {
    const [certs, keys] = await Promise.all([api("GET", "/admin/certificates"), api("GET", "/admin/keys").catch(() => ({ items: [] }))]);
    const change = changer(out, redraw);
    const imp = button("Import certificate chain", () => {
      const name = textInput("", { required: true });
      const purpose = select("purpose", [["release", "release"], ["test", "test"]], "release");
      const key = select("key", [["", "find the matching key"], ...keys.items.map((k) => [k.id, k.label])], "");
      const pem = h("textarea", { class: "pem", rows: "6", placeholder: "-----BEGIN CERTIFICATE-----" });
      const file = h("input", { type: "file", accept: ".pem,.crt,.cer,.der,.p7b,.p7c" });
      formDialog("Import a certificate chain", [["Name", name], ["Purpose", purpose],
        ["Token key", key, "The chain's leaf must certify this key."],
        ["Chain (PEM)", pem, "Leaf first or in any order; or choose a file below."],
        ["Chain file", file, "PEM, DER or PKCS#7."]], "Import", async () => {
        const body = { name: name.value.trim(), purpose: purpose.value };
        if (key.value) body.key = key.value;
        if (file.files[0]) {
          const bytes = await readFile(file.files[0]);
          const text = new TextDecoder().decode(bytes);
          if (text.includes("-----BEGIN")) body.chainPem = text;
          else body.chainBase64 = base64(bytes);
        } else {
          body.chainPem = pem.value;
        }
        const res = await api("POST", "/admin/certificates", { body });
        await change(async () => res);
      }).open();
    }, "primary");
    const rows = certs.items.map((c) => ({
      attrs: { class: c.expiringSoon ? "expiring" : null, dataset: { cert: c.name } },
      cells: [c.name, c.purpose, c.subject || "", h("span", { class: "mono" }, c.key || ""),
        fmtTime(c.notAfter), c.expiringSoon ? h("strong", {}, `${c.daysLeft} (expires soon)`) : String(c.daysLeft),
        button("Delete", () => confirmDelete(out, redraw, `certificate ${c.name}`, `/admin/certificates/${encodeURIComponent(c.name)}`), "small danger")],
    }));
    replace(out, h("p", {}, imp), rows.length ? table(["Name", "Purpose", "Subject", "Key", "Not after", "Days left", ""], rows)
      : h("p", { class: "empty" }, "No certificate."));
  };
  await redraw();
}

// ---------------------------------------------------------------- page

const RENDER = {
  projects: projectsSection,
  webhooks: webhooksSection,
  users: usersSection,
  identities: identitiesSection,
  "build-systems": buildSystemsSection,
  keys: keysSection,
  certificates: certificatesSection,
};

export async function render(ctx) {
  const section = ctx.params[0] || "projects";
  const title = (SECTIONS.find(([k]) => k === section) || [null, "Administration"])[1];
  const nav = h("ul", { class: "subnav", "aria-label": "Administration" }, SECTIONS.map(([k, t]) =>
    h("li", {}, h("a", { href: `#/admin/${k}`, "aria-current": k === section ? "page" : null }, t))));
  if (!hasRole(ctx.me, "administrator")) {
    return h("div", {}, h("h1", {}, "Administration"),
      h("p", { class: "notice" }, "Administration is for users with the administrator role."));
  }
  const out = h("div", { id: `admin-${section}` });
  if (!RENDER[section]) {
    return h("div", {}, h("h1", {}, "Administration"), nav, h("p", { class: "empty" }, "No such section."));
  }
  try {
    await RENDER[section](out);
  } catch (err) {
    replace(out, errorBox(err));
  }
  return h("div", {}, h("h1", {}, `Administration: ${title}`), nav, out);
}
