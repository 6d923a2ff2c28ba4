// The web interface in headless Chromium against a fresh instance: login
// with the cookie session, upload and sign, download and verify, the
// resubmit button's visibility, resubmit to release-signing and approval
// by the officer, CSRF refusal, security headers, static file rules,
// administration pages, logout and idle expiry. Screenshots of every main
// page go to tests/out/browser/.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launch, newUser } from "../lib/browser.js";
import { Instance, OUT, cmsVerify } from "../lib/instance.js";

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
  + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const FINAL_MS = 60000;

let inst;
let browser;
const users = {};
const state = {};

async function shot(page, name, opts = {}) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: !!opts.fullPage });
}

// Logs in with the keyboard only: the form's labels, focus and tab order.
async function login(name, password) {
  const u = await newUser(browser);
  await u.page.goto(`${inst.url}/`);
  await u.page.getByLabel("User name").waitFor();
  assert.equal(await u.page.evaluate(() => document.activeElement.name), "username");
  await u.page.keyboard.type(name);
  await u.page.keyboard.press("Tab");
  await u.page.keyboard.type(password || inst.password(name));
  await u.page.keyboard.press("Enter");
  await u.page.getByRole("button", { name: "Log out" }).waitFor();
  users[name] = u;
  return u;
}

async function waitFinalCI(id) {
  const deadline = Date.now() + FINAL_MS;
  for (;;) {
    const r = await inst.request("GET", `/api/v1/signing-requests/${id}`, { clientCert: true });
    assert.equal(r.status, 200);
    if (r.json.isFinalStatus) return r.json;
    assert.ok(Date.now() < deadline, `request ${id} not final: ${r.json.workflowStatus}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function noPageErrors(u) {
  assert.deepEqual(u.errors, [], `errors in the page: ${u.errors.join("\n")}`);
}

async function waitStatus(page, status) {
  await page.locator("#summary .badge", { hasText: status }).first().waitFor({ timeout: FINAL_MS });
}

function requestIdOf(page) {
  const m = page.url().match(/#\/requests\/([0-9a-f-]{36})$/);
  assert.ok(m, `not on a request page: ${page.url()}`);
  return m[1];
}

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  inst = await Instance.create();
  await inst.start();
  browser = await launch(inst.spkiHash());
});

after(async () => {
  for (const u of Object.values(users)) await u.context.close().catch(() => {});
  if (browser) await browser.close();
  if (inst) {
    await inst.stop();
    const log = inst.log();
    if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(log)) {
      throw new Error(`sanitizer report from signetd:\n${log}`);
    }
    if (!process.env.SIGNET_KEEP) inst.cleanup();
  }
});

describe("serving", () => {
  test("the page carries a strict CSP and the other security headers", async () => {
    const r = await inst.request("GET", "/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(r.headers["content-security-policy"], CSP);
    assert.equal(r.headers["x-frame-options"], "DENY");
    assert.equal(r.headers["referrer-policy"], "no-referrer");
    assert.match(r.headers["strict-transport-security"], /^max-age=\d+/);
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    const html = r.body.toString("utf8");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "inline script");
    assert.doesNotMatch(html, /<style|style=|\bon[a-z]+=/i, "inline style or handler");
  });

  test("files have exact types; nothing outside web/static is reachable", async () => {
    const types = {
      "/js/app.js": "text/javascript; charset=utf-8",
      "/app.css": "text/css; charset=utf-8",
      "/icon.svg": "image/svg+xml",
    };
    for (const [p, t] of Object.entries(types)) {
      const r = await inst.request("GET", p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers["content-type"], t, p);
      assert.equal(r.headers["content-security-policy"], CSP, p);
    }
    // (CivetWeb itself turns "\\" into "/" and removes dot segments first)
    for (const p of ["/../signetd.conf", "/js/../../signetd.conf", "/%2e%2e/signetd.conf", "/js%2fapp.js",
      "/js\\..\\..\\signetd.conf", "/js/", "/js", "/.hidden.js", "/js/.app.js", "//etc/passwd", "/index.html/",
      "/nothing.html", "/README.md", "/api", "/api/v1x"]) {
      const r = await inst.request("GET", p);
      assert.ok(r.status === 404 || r.status === 400, `${p} answered ${r.status}`);
      assert.doesNotMatch(r.body.toString("utf8"), /\[server\]|root:/, p);
    }
    const post = await inst.request("POST", "/index.html");
    assert.equal(post.status, 405);
    const head = await inst.request("HEAD", "/index.html");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });
});

describe("developer", () => {
  test("login sets an HttpOnly, Secure, SameSite=Strict cookie", async () => {
    const u = await newUser(browser);
    await u.page.goto(`${inst.url}/`);
    await u.page.getByLabel("User name").waitFor();
    await shot(u.page, "login");
    // a wrong password shows the server's message
    await u.page.getByLabel("User name").fill("dev");
    await u.page.getByLabel("Password").fill("wrong password!");
    await u.page.getByRole("button", { name: "Log in" }).click();
    await u.page.getByRole("alert").filter({ hasText: "user name or password is wrong" }).waitFor();
    await u.context.close();

    const dev = await login("dev");
    const cookies = await dev.context.cookies();
    const c = cookies.find((x) => x.name === "__Host-signet_session");
    assert.ok(c, "no session cookie");
    assert.equal(c.httpOnly, true);
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, "Strict");
    assert.equal(c.path, "/");
    assert.equal(await dev.page.evaluate(() => document.cookie.includes("__Host-signet_session")), false);
    await dev.page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await noPageErrors(dev);
  });

  test("upload to test-signing, watch it complete, download and verify the signature", async () => {
    const { page } = users.dev;
    const file = path.join(OUT, "upload.bin");
    fs.writeFileSync(file, crypto.randomBytes(3 * 1024 * 1024));
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    await page.getByRole("heading", { name: "Submit a signing request" }).waitFor();
    await page.getByLabel("Signing policy").selectOption("test-signing");
    await page.getByLabel("Description").fill("browser test upload");
    await page.getByRole("button", { name: "Add parameter" }).click();
    await page.getByLabel("Parameter name").fill("version");
    await page.getByLabel("Parameter value").fill("1.2.3");
    await page.getByLabel("Artifact", { exact: true }).setInputFiles(file);
    await shot(page, "submit");
    await page.getByRole("button", { name: "Upload and submit" }).click();
    await page.waitForURL(/#\/requests\/[0-9a-f-]{36}$/);
    state.testId = requestIdOf(page);
    await waitStatus(page, "Completed");
    const summary = page.locator("#summary");
    const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    await summary.getByText(sha).first().waitFor();
    await summary.getByText("upload.bin").first().waitFor();
    await summary.getByText("1.2.3").waitFor();
    assert.equal(await page.locator("#origin-mark").getAttribute("data-verified"), "false");
    await page.locator("#origin-mark", { hasText: "Origin not verified" }).waitFor();
    await shot(page, "request-completed", { fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download upload.bin.p7s" }).click(),
    ]);
    const sig = path.join(OUT, "upload.bin.p7s");
    await download.saveAs(sig);
    const v = cmsVerify(sig, file, path.join(inst.pki, "test-signing.pem"));
    assert.equal(v.status, 0, `openssl cms -verify failed: ${v.stderr}`);
    // and a signature over anything else does not verify
    const other = path.join(OUT, "other.bin");
    fs.writeFileSync(other, "not the artifact");
    assert.notEqual(cmsVerify(sig, other, path.join(inst.pki, "test-signing.pem")).status, 0);
    await noPageErrors(users.dev);
  });

  test("the requests list filters and links to the request", async () => {
    const { page } = users.dev;
    await page.goto(`${inst.url}/#/requests`);
    await page.getByRole("heading", { name: "Signing requests" }).waitFor();
    await page.getByLabel("Status").selectOption("Completed");
    await page.getByLabel("Submitter").fill("dev");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/status=Completed/);
    const row = page.locator(`tr[data-id="${state.testId}"]`);
    await row.waitFor();
    await shot(page, "requests");
    await page.getByLabel("Status").selectOption("Denied");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No signing request matches.").waitFor();
    await page.goto(`${inst.url}/#/requests?submitter=dev`);
    await page.locator(`tr[data-id="${state.testId}"] a`).click();
    await page.waitForURL(new RegExp(`#/requests/${state.testId}$`));
    await noPageErrors(users.dev);
  });

  test("the dashboard lists my recent requests", async () => {
    const { page } = users.dev;
    await page.goto(`${inst.url}/#/`);
    await page.locator(`section[aria-label="My recent requests"] tr[data-id="${state.testId}"]`).waitFor();
    await shot(page, "dashboard-dev");
  });

  test("a narrow window still shows the request", async () => {
    const { page } = users.dev;
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${inst.url}/#/requests/${state.testId}`);
    await waitStatus(page, "Completed");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a 400px window`);
    await shot(page, "request-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test("a hash signing request says the appliance has not seen the file", async () => {
    const { page } = users.dev;
    const digest = crypto.createHash("sha256").update("built elsewhere").digest("hex");
    const body = Buffer.from(JSON.stringify({
      hashAlgorithm: "sha256", digest, signatureAlgorithm: "rsa-pkcs1",
      fileName: "huge.iso", tool: "pkcs11-tool",
    }));
    const r = await inst.request("POST",
      "/api/v1/projects/demo-app/signing-policies/test-signing/hash-signing-requests", {
        clientCert: true, body,
        headers: { "Content-Type": "application/json", "Content-Length": String(body.length) },
      });
    assert.equal(r.status, 201, r.body.toString());
    await waitFinalCI(r.json.id);
    await page.goto(`${inst.url}/#/requests/${r.json.id}`);
    await waitStatus(page, "Completed");
    await page.locator("#hash-note", { hasText: "hash signing: the appliance has not seen the file" }).waitFor();
    const block = page.locator("#hash-signing");
    await block.getByText(digest).waitFor();
    await block.getByText("huge.iso").waitFor();
    await block.getByText("pkcs11-tool").waitFor();
    // no download of a file that was never here
    assert.equal(await page.getByRole("link", { name: /^Download/ }).count(), 0);
    await shot(page, "request-hash", { fullPage: true });
    await page.goto(`${inst.url}/#/requests?submitter=ci-runner`);
    await page.locator(`tr[data-id="${r.json.id}"]`, { hasText: "huge.iso (hash signing: not seen)" }).waitFor();
    await noPageErrors(users.dev);
  });
});

describe("security", () => {
  test("a request that changes state without the CSRF token is refused", async () => {
    const { page, context } = users.dev;
    await page.goto(`${inst.url}/#/requests/${state.testId}`);
    await waitStatus(page, "Completed");
    // from the page itself: the cookie goes along, the header does not
    const r = await page.evaluate(async (id) => {
      const res = await fetch(`/api/v1/signing-requests/${id}/resubmit`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ signingPolicySlug: "test-signing" }),
      });
      return { status: res.status, body: await res.json() };
    }, state.testId);
    assert.equal(r.status, 403);
    assert.equal(r.body.error, "csrf");
    // a forged request elsewhere with the stolen-by-the-browser cookie
    const cookie = (await context.cookies()).find((c) => c.name === "__Host-signet_session");
    const forged = await inst.api("POST", `/signing-requests/${state.testId}/resubmit`, {
      cookie: `__Host-signet_session=${cookie.value}`, json: { signingPolicySlug: "test-signing" },
    });
    assert.equal(forged.status, 403);
    assert.equal(forged.json.error, "csrf");
    const wrong = await inst.api("POST", `/signing-requests/${state.testId}/resubmit`, {
      cookie: `__Host-signet_session=${cookie.value}`, csrf: "0".repeat(64), json: { signingPolicySlug: "test-signing" },
    });
    assert.equal(wrong.status, 403);
    // a cross-site form post (Sec-Fetch-Site) even with the right token
    const me = await inst.api("GET", "/me", { cookie: `__Host-signet_session=${cookie.value}` });
    assert.equal(me.status, 200);
    assert.match(me.json.csrfToken, /^[0-9a-f]{64}$/);
    const cross = await inst.request("POST", `/api/v1/signing-requests/${state.testId}/cancel`, {
      headers: { Cookie: `__Host-signet_session=${cookie.value}`, "X-CSRF-Token": me.json.csrfToken, "Sec-Fetch-Site": "cross-site" },
    });
    assert.equal(cross.status, 403);
    // the cookie is no bearer token
    const bearer = await inst.api("GET", "/me", { token: cookie.value });
    assert.equal(bearer.status, 401);
    // and reading needs no token
    const get = await inst.api("GET", `/signing-requests/${state.testId}`, { cookie: `__Host-signet_session=${cookie.value}` });
    assert.equal(get.status, 200);
  });

  test("bearer and client certificate callers need no CSRF token", async () => {
    const token = await inst.login("dev");
    const r = await inst.api("GET", "/me", { token });
    assert.equal(r.status, 200);
    assert.equal(r.json.csrfToken, undefined);
    assert.deepEqual(r.json.submitPolicies.map((p) => p.policy), ["test-signing"]);
    const out = await inst.api("DELETE", "/sessions/current", { token });
    assert.equal(out.status, 204);
  });
});

describe("resubmit and approval", () => {
  test("an administrator lets dev submit to release-signing and adds a user without rights", async () => {
    const admin = await login("admin");
    const { page } = admin;
    await page.getByRole("link", { name: "Administration" }).click();
    await page.getByRole("heading", { name: "Administration: Projects & policies" }).waitFor();
    await shot(page, "admin-projects", { fullPage: true });
    await page.locator('tr[data-policy="release-signing"]').getByRole("button", { name: "Edit" }).click();
    const dlg = page.locator("dialog[open]");
    const subs = dlg.getByLabel("Submitters");
    await subs.fill(`${await subs.inputValue()}, dev`);
    await shot(page, "admin-policy-edit");
    await dlg.getByRole("button", { name: "Save policy" }).click();
    await page.locator(".ok-box").waitFor();
    await page.locator('tr[data-policy="release-signing"]', { hasText: "ci-runner, dev" }).waitFor();

    // an auditor: may read every request, may submit to none
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("button", { name: "New user" }).click();
    const nu = page.locator("dialog[open]");
    await nu.getByLabel("Name").fill("viewer");
    await nu.getByLabel("auditor").check();
    state.viewerPw = crypto.randomBytes(12).toString("hex");
    await nu.getByLabel("Password").fill(state.viewerPw);
    await nu.getByRole("button", { name: "Create user" }).click();
    await page.locator('tr[data-user="viewer"]').waitFor();
    await shot(page, "admin-users");
    await noPageErrors(admin);
  });

  test("the resubmit button is absent for users who may not submit", async () => {
    for (const name of ["officer", "viewer"]) {
      const u = await login(name, name === "viewer" ? state.viewerPw : undefined);
      await u.page.goto(`${inst.url}/#/requests/${state.testId}`);
      await waitStatus(u.page, "Completed");
      await u.page.locator("#history").waitFor();
      assert.equal(await u.page.locator("#resubmit").count(), 0, `${name} sees the resubmit button`);
      if (name === "viewer") await u.context.close();
    }
    // and present for dev, who may submit to the project's policies
    await users.dev.page.goto(`${inst.url}/#/requests/${state.testId}`);
    await users.dev.page.locator("#resubmit").waitFor();
  });

  test("the resubmit dialog shows the server's refusal (release needs a verified origin)", async () => {
    const { page } = users.dev;
    await page.reload(); // dev's policies changed: /me again
    await waitStatus(page, "Completed");
    await page.getByRole("button", { name: "Resubmit signing request" }).click();
    const dlg = page.locator("#resubmit-dialog");
    await dlg.getByLabel("Signing policy").selectOption("release-signing");
    await dlg.getByRole("button", { name: "Resubmit" }).click();
    const alert = dlg.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.textContent(), /verified origin/);
    await shot(page, "resubmit-refused");
    await dlg.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await page.locator("#resubmit-dialog[open]").count(), 0);
  });

  test("dev resubmits a CI build to release-signing from the UI; officer approves; Completed", async () => {
    // the original: built and submitted by CI with a verified origin
    const data = crypto.randomBytes(64 * 1024);
    const r = await inst.submitCI({ projectSlug: "demo-app", signingPolicySlug: "test-signing",
      description: "nightly build", ...inst.verifiedOrigin() }, "app-1.2.3.tar.gz", data);
    assert.equal(r.status, 201, r.body.toString());
    state.ciId = r.json.id;
    state.ciData = data;
    await waitFinalCI(state.ciId);

    const { page } = users.dev;
    await page.goto(`${inst.url}/#/requests/${state.ciId}`);
    await waitStatus(page, "Completed");
    await page.locator("#origin-mark", { hasText: "Origin verified" }).waitFor();
    assert.equal(await page.locator("#origin-mark").getAttribute("data-verified"), "true");
    await page.locator("#origin", { hasText: "dev-ci" }).waitFor();
    await shot(page, "request-ci-verified", { fullPage: true });
    await page.getByRole("button", { name: "Resubmit signing request" }).click();
    const dlg = page.locator("#resubmit-dialog");
    const options = await dlg.getByLabel("Signing policy").locator("option").allTextContents();
    assert.equal(options.length, 2, `policies offered: ${options}`);
    await dlg.getByLabel("Signing policy").selectOption("release-signing");
    await dlg.getByLabel("Description").fill("release 1.2.3");
    await shot(page, "resubmit-dialog");
    await dlg.getByRole("button", { name: "Resubmit" }).click();
    await page.waitForURL((u) => /#\/requests\/[0-9a-f-]{36}$/.test(u.href) && !u.href.endsWith(state.ciId));
    state.releaseId = requestIdOf(page);
    await waitStatus(page, "WaitingForApproval");
    await page.locator("#original-link").waitFor();
    assert.equal(await page.locator("#original-link").textContent(), state.ciId);
    await page.locator("#origin-mark", { hasText: "Origin verified" }).waitFor();
    // dev may not approve its own request
    assert.equal(await page.locator("#approve").count(), 0);
    await shot(page, "request-waiting", { fullPage: true });

    const officer = users.officer;
    await officer.page.goto(`${inst.url}/#/`);
    const row = officer.page.locator(`section[aria-label="Waiting for my approval"] tr[data-id="${state.releaseId}"]`);
    await row.waitFor();
    await shot(officer.page, "dashboard-officer");
    await row.getByRole("link").click();
    await officer.page.getByLabel("Comment").fill("tests green");
    await officer.page.getByRole("button", { name: "Approve" }).click();
    await waitStatus(officer.page, "Completed");
    await officer.page.locator("#approvals", { hasText: "tests green" }).waitFor();
    // dev's page follows by itself
    await waitStatus(page, "Completed");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download app-1.2.3.tar.gz.p7s" }).click(),
    ]);
    const sig = path.join(OUT, "app-1.2.3.tar.gz.p7s");
    const content = path.join(OUT, "app-1.2.3.tar.gz");
    await download.saveAs(sig);
    fs.writeFileSync(content, state.ciData);
    const v = cmsVerify(sig, content, path.join(inst.pki, "release-ca.pem"));
    assert.equal(v.status, 0, `openssl cms -verify failed: ${v.stderr}`);
    await shot(page, "request-release-completed", { fullPage: true });
    // and the original names it among its resubmissions
    await page.goto(`${inst.url}/#/requests/${state.ciId}`);
    await page.locator(`#resubmitted a[href="#/requests/${state.releaseId}"]`).waitFor();
    await noPageErrors(users.dev);
    await noPageErrors(officer);
  });

  test("a deny shows the server's answer and a second decision is refused", async () => {
    const token = await inst.login("dev");
    const r = await inst.api("POST", `/signing-requests/${state.ciId}/resubmit`, {
      token, json: { signingPolicySlug: "release-signing", description: "to deny" },
    });
    assert.equal(r.status, 201, r.body.toString());
    const { page } = users.officer;
    await page.goto(`${inst.url}/#/requests/${r.json.id}`);
    await waitStatus(page, "WaitingForApproval");
    await page.getByLabel("Comment").fill("no");
    await page.getByRole("button", { name: "Deny" }).click();
    await waitStatus(page, "Denied");
    assert.equal(await page.locator("#approve").count(), 0);
  });
});

describe("administration and audit", () => {
  test("every administration page shows its data", async () => {
    const { page } = users.admin;
    const pages = {
      webhooks: "Demo App (demo-app)",
      users: "officer@signet.test",
      identities: "CN=ci-runner,O=Signet Dev",
      "build-systems": "https://oidc.dev.signet.invalid",
      keys: "release-signing",
      certificates: "CN=Signet Dev Release Signing,O=Signet Dev",
    };
    for (const [section, text] of Object.entries(pages)) {
      await page.goto(`${inst.url}/#/admin/${section}`);
      await page.locator(`#admin-${section}`).getByText(text).first().waitFor();
      assert.equal(await page.locator(".error").count(), 0, `error on ${section}`);
      await shot(page, `admin-${section}`, { fullPage: true });
    }
    // a webhook is added with its secret, listed without it, and removed
    await page.goto(`${inst.url}/#/admin/webhooks`);
    await page.getByRole("button", { name: "Add webhook" }).click();
    const hook = page.locator("dialog[open]");
    await hook.getByLabel("URL").fill("https://127.0.0.1:9/signet-hook");
    await hook.getByLabel("Secret").fill("0123456789abcdef0123");
    await hook.getByRole("button", { name: "Add webhook" }).click();
    await page.locator(".ok-box").waitFor();
    await page.getByRole("cell", { name: "https://127.0.0.1:9/signet-hook" }).waitFor();
    assert.equal(await page.getByText("0123456789abcdef0123").count(), 0);
    await shot(page, "admin-webhooks", { fullPage: true });
    await page.getByRole("button", { name: "Remove" }).click();
    await page.getByText("No webhook.").waitFor();
    // certificates show their expiry
    await page.goto(`${inst.url}/#/admin/certificates`);
    const days = await page.locator('tr[data-cert="test-signing"] td').nth(5).textContent();
    assert.match(days, /^\d+/);
    // a refusal shows the server's message
    await page.goto(`${inst.url}/#/admin/projects`);
    await page.getByRole("button", { name: "New project" }).click();
    const dlg = page.locator("dialog[open]");
    await dlg.getByLabel("Slug").fill("Bad Slug");
    await dlg.getByLabel("Name").fill("x");
    await dlg.locator("form").evaluate((f) => f.setAttribute("novalidate", ""));
    await dlg.getByRole("button", { name: "Create project" }).click();
    await dlg.getByRole("alert").waitFor();
    assert.match(await dlg.getByRole("alert").textContent(), /slug/i);
    await dlg.getByRole("button", { name: "Cancel" }).click();
    await noPageErrors(users.admin);
  });

  test("the audit log is there for auditors, with an export", async () => {
    const { page } = users.admin;
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.getByRole("cell", { name: "session.login" }).first().waitFor();
    await shot(page, "audit", { fullPage: false });
    const r = await page.evaluate(async () => (await fetch("/api/v1/audit?format=jsonl")).status);
    assert.equal(r, 200);
    // developers have no audit link
    assert.equal(await users.dev.page.getByRole("link", { name: "Audit log" }).count(), 0);
  });
});

describe("session end", () => {
  test("logout clears the cookie and ends the session on the server", async () => {
    const { page, context } = users.dev;
    const before = (await context.cookies()).find((c) => c.name === "__Host-signet_session");
    await page.goto(`${inst.url}/#/`);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await page.getByText("You are logged out.").waitFor();
    const after = (await context.cookies()).find((c) => c.name === "__Host-signet_session");
    assert.equal(after, undefined);
    const r = await inst.api("GET", "/me", { cookie: `__Host-signet_session=${before.value}` });
    assert.equal(r.status, 401);
  });

  test("an idle session ends", async () => {
    for (const u of Object.values(users)) await u.context.close().catch(() => {});
    await inst.stop();
    inst.configure("auth", ["idle_timeout = 10"]);
    await inst.start();
    const dev = await login("dev");
    await dev.page.getByRole("heading", { name: "Dashboard" }).waitFor();
    // active use keeps it alive past the idle time
    for (let i = 0; i < 4; i += 1) {
      await new Promise((r) => setTimeout(r, 4000));
      const ok = await dev.page.evaluate(async () => (await fetch("/api/v1/me")).status);
      assert.equal(ok, 200, `used session ended after ${(i + 1) * 4} s`);
    }
    await new Promise((r) => setTimeout(r, 11500));
    await dev.page.getByRole("link", { name: "Requests", exact: true }).click();
    await dev.page.getByRole("button", { name: "Log in" }).waitFor();
    await dev.page.getByText("your session has ended").waitFor();
    await shot(dev.page, "session-ended");
  });
});
