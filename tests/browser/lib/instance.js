// A fresh Signet instance for the browser tests, made the way the
// integration tests make theirs (tests/integration/conftest.py):
// scripts/provision.sh DIR on a free port, then signetd on it.

import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BUILD = path.resolve(process.env.SIGNET_BUILD || path.join(REPO, "build"));
export const OUT = path.join(REPO, "tests", "out", "browser");

const START_TIMEOUT_MS = 60000;
// the repository of build system dev-ci's tokens (as in conftest.py)
const DEV_REPOSITORY = "signet-dev/demo-app";

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export class Instance {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
    this.pki = path.join(dir, "pki");
    this.conf = path.join(dir, "signetd.conf");
    this.ca = fs.existsSync(path.join(this.pki, "tls-ca.pem")) ? fs.readFileSync(path.join(this.pki, "tls-ca.pem")) : null;
    this.proc = null;
    this.logPath = path.join(dir, "signetd.log");
  }

  static async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "signet-browser-"));
    const port = await freePort();
    const env = { ...process.env, SIGNET_PORT: String(port), SIGNET_BUILD: BUILD, SIGNET_MAX_ARTIFACT_SIZE: "64M" };
    const p = spawnSync(path.join(REPO, "scripts", "provision.sh"), [dir], { env, encoding: "utf8", timeout: 300000 });
    if (p.status !== 0) {
      throw new Error(`provision.sh exited ${p.status}\n${p.stdout}\n${p.stderr}`);
    }
    const inst = new Instance(dir, port);
    inst.ca = fs.readFileSync(path.join(inst.pki, "tls-ca.pem"));
    // Every user of this suite is a browser context on 127.0.0.1, each
    // with a pool of up to six connections that the pages keep busy: the
    // appliance's 16 per address (one person's browser) would refuse some
    // of them. The limit itself is tested in tests/integration.
    inst.configure("server", ["threads = 256", "max_connections_per_address = 64"]);
    return inst;
  }

  password(user) {
    return fs.readFileSync(path.join(this.dir, "passwords", user), "utf8").trim();
  }

  /** base64 SHA-256 of the server certificate's SubjectPublicKeyInfo:
   * what Chromium's --ignore-certificate-errors-spki-list pins. */
  spkiHash() {
    const pem = fs.readFileSync(path.join(this.pki, "server-cert.pem"), "utf8");
    const spki = new crypto.X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
    return crypto.createHash("sha256").update(spki).digest("base64");
  }

  /** Adds lines to a section of signetd.conf (read at the next start). */
  configure(section, lines) {
    fs.appendFileSync(this.conf, `\n[${section}]\n${lines.join("\n")}\n`);
  }

  async start() {
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(path.join(BUILD, "signetd"), ["-c", this.conf], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`signetd exited ${this.proc.exitCode}:\n${this.log()}`);
      try {
        const r = await this.request("GET", "/api/v1/health");
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`signetd did not answer within ${START_TIMEOUT_MS} ms:\n${this.log()}`);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 30000);
    await done;
    clearTimeout(t);
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /**
   * A raw HTTPS request trusting only this instance's CA. rawPath goes on
   * the request line as given (no normalisation of "..").
   */
  request(method, rawPath, { headers = {}, body = null, clientCert = false } = {}) {
    return new Promise((resolve, reject) => {
      const tls = clientCert ? {
        cert: fs.readFileSync(path.join(this.pki, "ci-runner.pem")),
        key: fs.readFileSync(path.join(this.pki, "ci-runner.key")),
      } : {};
      const req = https.request({
        host: "127.0.0.1", port: this.port, method, path: rawPath, ca: this.ca,
        servername: "localhost", headers, agent: false, ...tls,
      }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          let json = null;
          try {
            json = JSON.parse(buf.toString("utf8"));
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode, headers: res.headers, body: buf, json });
        });
      });
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  /** JSON API call; auth: {token} (bearer) or {cookie, csrf}. */
  async api(method, apiPath, { token, cookie, csrf, json } = {}) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (cookie) headers.Cookie = cookie;
    if (csrf) headers["X-CSRF-Token"] = csrf;
    let body = null;
    if (json !== undefined) {
      body = Buffer.from(JSON.stringify(json));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(body.length);
    }
    return this.request(method, `/api/v1${apiPath}`, { headers, body });
  }

  /** An ID token of build system dev-ci's issuer (provision.sh), as
   * tests/integration/conftest.py mints them. */
  idToken({ repository = DEV_REPOSITORY, ref = "refs/heads/main", sha, runId = "1" }) {
    const p = spawnSync("/usr/bin/python3", [path.join(REPO, "scripts", "dev-id-token.py"),
      "--key", path.join(this.pki, "oidc-issuer.key"), "--repository", repository, "--ref", ref,
      "--sha", sha, "--run-id", runId], { encoding: "utf8" });
    if (p.status !== 0) throw new Error(`dev-id-token.py: ${p.stderr}`);
    return p.stdout.trim();
  }

  /** Origin form fields that verify: ci-runner's build system with a
   * fresh ID token for branch main. */
  verifiedOrigin() {
    const commit = crypto.randomBytes(20).toString("hex");
    return {
      "origin.repositoryUrl": `https://github.com/${DEV_REPOSITORY}`,
      "origin.commitId": commit,
      "origin.branchName": "main",
      "origin.buildId": "1",
      "origin.idToken": this.idToken({ sha: commit }),
    };
  }

  /** A submission as the CI system (client certificate), multipart. */
  async submitCI(fields, filename, data) {
    const boundary = `----signet${crypto.randomBytes(12).toString("hex")}`;
    const parts = [];
    for (const [k, v] of Object.entries(fields)) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    }
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="${filename}"\r\n`
      + "Content-Type: application/octet-stream\r\n\r\n"), data, Buffer.from(`\r\n--${boundary}--\r\n`));
    const body = Buffer.concat(parts);
    return this.request("POST", "/api/v1/signing-requests", {
      clientCert: true, body,
      headers: { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": String(body.length) },
    });
  }

  async login(user) {
    const r = await this.api("POST", "/sessions", { json: { username: user, password: this.password(user) } });
    if (r.status !== 201) throw new Error(`login ${user}: ${r.status} ${r.body}`);
    return r.json.token;
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** openssl cms -verify of a detached DER signature; {status, stderr}. */
export function cmsVerify(sigPath, contentPath, caPath) {
  const p = spawnSync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath,
    "-content", contentPath, "-CAfile", caPath, "-no-CApath", "-no-CAstore", "-out", "/dev/null"],
  { encoding: "utf8", env: { PATH: process.env.PATH } });
  return { status: p.status, stderr: p.stderr };
}
