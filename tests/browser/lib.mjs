// SPDX-License-Identifier: MIT
// Helpers of the browser tests (tests/browser/README.md): a demo with mail, the real
// SMTP sink (scripts/smtp_sink.py), the real `lethe serve`, Debian's Chromium driven by
// playwright-core, axe-core, screenshots and the mails the sink wrote.
//
//   const env = await startLethe(t, {name})  demo + sink + lethe; stopped when @t ends
//   env.url, env.sinkDir, await env.mail(n)  the n-th mail (1-based), parsed
//   const browser = await launch()           /usr/bin/chromium (CHROMIUM overrides)
//   await checkA11y(page, label)             axe-core, WCAG 2.1 A/AA: zero violations
//   await shot(page, name)                   build/browser-artifacts/NAME.png
//
// Every wait is bounded; every process is ended by the test that started it.
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const LETHE = process.env.LETHE_BIN
  ? path.resolve(process.env.LETHE_BIN) // relative to the working directory
  : path.join(ROOT, "build", "lethe");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const PYTHON = process.env.PYTHON || "/usr/bin/python3";
export const ARTIFACTS = path.resolve(
  ROOT,
  process.env.BROWSER_ARTIFACTS || "build/browser-artifacts",
);
const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const DEMO_ENV = {
  LETHE_FACEBOOK_APP_SECRET: "demo-facebook-secret",
  LETHE_INSTAGRAM_APP_SECRET: "demo-instagram-secret",
  no_proxy: "127.0.0.1,localhost",
  NO_PROXY: "127.0.0.1,localhost",
};

// The self-service policy: verified by the mailed link, then 7 days of grace in which
// the "scheduled" mail's cancel link works, then the erasure.
export const SELF_SERVICE_POLICY = `requests:
  policies:
    - name: self-service-closure
      kind: erasure
      scope: account
      sources: [self-service]
      verify: true
      review: false
      grace: 7d
      deadline: 30d
`;

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** @text without its top-level YAML section @name (key line and indented lines). */
export function withoutSection(text, name) {
  const out = [];
  let skipping = false;
  for (const line of text.split(/(?<=\n)/)) {
    if (line.startsWith(name + ":")) {
      skipping = true;
      continue;
    }
    if (skipping && /^([ \t#\n]|$)/.test(line)) continue;
    skipping = false;
    out.push(line);
  }
  return out.join("");
}

/** Resolve with the first stdout line of @proc matching @re (reject after @ms or exit). */
function lineMatching(proc, re, ms, what) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => done(new Error(`${what}: no "${re}" after ${ms} ms`)), ms);
    const onData = (chunk) => {
      buf += chunk.toString();
      const lines = buf.split("\n");
      buf = lines.pop();
      for (const ln of lines) {
        proc.output.push(ln);
        if (re.test(ln)) return done(null, ln);
      }
    };
    const onExit = (code) => done(new Error(`${what} exited (${code}) before "${re}"`));
    function done(err, ln) {
      clearTimeout(timer);
      proc.stdout.off("data", onData);
      proc.off("exit", onExit);
      // keep draining so the child never blocks on a full pipe
      proc.stdout.on("data", (c) => proc.output.push(...c.toString().split("\n")));
      err ? reject(err) : resolve(ln);
    }
    proc.stdout.on("data", onData);
    proc.on("exit", onExit);
  });
}

function startProc(cmd, args, opts, stderrFile) {
  const err = fs.openSync(stderrFile, "a");
  const proc = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", err] });
  fs.closeSync(err);
  proc.output = [];
  proc.stderrFile = stderrFile;
  return proc;
}

async function stopProc(proc, ms = 15000) {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/**
 * A demo (`lethe demo`, 12 users) in a temporary directory whose lethe.yaml mails
 * through a real SMTP sink, with the self-service page on; the sink and `lethe serve`
 * started on free loopback ports.  @opts.config(text) may change the configuration
 * text last; @opts.env adds to lethe's environment.  Both processes are stopped, and
 * lethe's stderr checked for a sanitizer report, when test @t ends.
 */
export async function startLethe(t, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lethe-browser-"));
  // One hook that always runs every step (later steps first), then reports.
  const steps = [() => fs.rmSync(dir, { recursive: true, force: true })];
  t.after(async () => {
    let first = null;
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (e) {
        first = first || e;
      }
    }
    if (first) throw first;
  });
  const demo = path.join(dir, "demo");
  execFileSync(LETHE, ["demo", "--dir", demo, "--users", "12", "--quiet"], {
    env: { ...process.env, ...DEMO_ENV },
    stdio: ["ignore", "ignore", "inherit"],
    timeout: 60000,
  });
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  const sinkDir = path.join(dir, "mail");
  const cfgPath = path.join(demo, "lethe.yaml");
  let text = fs.readFileSync(cfgPath, "utf8");
  for (const section of ["requests", "mail", "selfservice"]) text = withoutSection(text, section);
  text += SELF_SERVICE_POLICY;
  text += `mail:
  url: smtp://127.0.0.1:${smtpPort}
  from: privacy@demo-social.example
  from_name: Demo Social privacy team
  starttls: off               # loopback test sink only
  backoff_base: 1s
  backoff_cap: 2s
selfservice:
  enabled: true
`;
  if (opts.config) text = opts.config(text);
  fs.writeFileSync(cfgPath, text);

  const sink = startProc(
    PYTHON,
    [path.join(ROOT, "scripts", "smtp_sink.py"), "--port", String(smtpPort), "--dir", sinkDir],
    { env: process.env },
    path.join(dir, "sink.err"),
  );
  steps.push(() => stopProc(sink));
  await lineMatching(sink, /^smtp_sink: listening/, 20000, "smtp_sink.py");

  const lethe = startProc(
    LETHE,
    ["serve", "-c", cfgPath, "--listen", `127.0.0.1:${httpPort}`, "--public-url", url],
    { env: { ...process.env, ...DEMO_ENV, ...(opts.env || {}) } },
    path.join(dir, "lethe.err"),
  );
  steps.push(async () => {
    await stopProc(lethe);
    const err = fs.readFileSync(lethe.stderrFile, "utf8");
    if (/ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:/.test(err)) {
      throw new Error("lethe's sanitizer report:\n" + err);
    }
  });
  try {
    await lineMatching(lethe, /serving on port/, 20000, "lethe serve");
  } catch (e) {
    throw new Error(`${e.message}\n${fs.readFileSync(lethe.stderrFile, "utf8")}`);
  }
  return {
    dir,
    demo,
    config: cfgPath,
    url,
    sinkDir,
    lethe,
    mailCount: () => mailFiles(sinkDir).length,
    mail: (n, ms) => waitForMail(sinkDir, n, ms),
    stderr: () => fs.readFileSync(lethe.stderrFile, "utf8"),
  };
}

function mailFiles(dir) {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => /^\d{6}\.eml$/.test(f))
      .sort();
  } catch {
    return [];
  }
}

/** The @n-th message (1-based) the sink wrote to @dir, parsed (parseMail); waits @ms. */
export async function waitForMail(dir, n, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const files = mailFiles(dir);
    if (files.length >= n) return parseMail(fs.readFileSync(path.join(dir, files[n - 1])));
    if (Date.now() > end) {
      throw new Error(`smtp sink: ${files.length} of ${n} messages after ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function splitHead(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : "";
  const headers = {};
  for (const ln of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const i = ln.indexOf(":");
    if (i > 0) headers[ln.slice(0, i).trim().toLowerCase()] = ln.slice(i + 1).trim();
  }
  return { headers, body };
}

function decodeWords(value) {
  return value.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, cs, enc, data) => {
    if (enc.toUpperCase() === "B") return Buffer.from(data, "base64").toString("utf8");
    const bytes = data
      .replace(/_/g, " ")
      .replace(/=([0-9A-Fa-f]{2})/g, (x, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  });
}

function decodeBody(body, encoding) {
  const enc = (encoding || "7bit").toLowerCase();
  if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") {
    const bytes = body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-Fa-f]{2})/g, (x, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

function parts(headers, body, out) {
  const ctype = headers["content-type"] || "text/plain";
  const b = /boundary="?([^";]+)"?/i.exec(ctype);
  if (/^multipart\//i.test(ctype) && b) {
    const chunks = body.split("--" + b[1]);
    for (const chunk of chunks.slice(1)) {
      if (chunk.startsWith("--")) break;
      const sub = splitHead(chunk.replace(/^\r?\n/, ""));
      parts(sub.headers, sub.body, out);
    }
    return out;
  }
  out.push({
    type: ctype.split(";")[0].trim().toLowerCase(),
    text: decodeBody(body, headers["content-transfer-encoding"]),
  });
  return out;
}

/** A raw message: {headers, subject, text, html, links (of the text part)}. */
export function parseMail(raw) {
  const { headers, body } = splitHead(raw.toString("latin1"));
  const all = parts(headers, body, []);
  const text = (all.find((p) => p.type === "text/plain") || { text: "" }).text;
  const html = (all.find((p) => p.type === "text/html") || { text: "" }).text;
  return {
    headers,
    subject: decodeWords(headers.subject || ""),
    text,
    html,
    links: text.match(/https?:\/\/[^\s<>"']+/g) || [],
  };
}

/** The one link of @mail under @prefix (e.g. env.url + "/privacy/l/"). */
export function linkIn(mail, prefix) {
  const links = mail.links.filter((l) => l.startsWith(prefix));
  if (links.length < 1) {
    throw new Error(`no ${prefix} link in the mail "${mail.subject}":\n${mail.text}`);
  }
  return links[0];
}

/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 60000,
  });
}

/**
 * axe-core on @page with the WCAG 2.1 A and AA rules: throws, listing them, on any
 * violation.  axe is evaluated through the DevTools protocol, so the page's strict
 * Content-Security-Policy (no script at all) stays on.
 */
export async function checkA11y(page, label) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags } }),
    WCAG_TAGS,
  );
  const bad = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.html).join("\n    ")}`,
  );
  if (bad.length) throw new Error(`axe: ${label}: ${bad.length} violations\n${bad.join("\n")}`);
  if (result.passes.length === 0) throw new Error(`axe: ${label}: no rule ran`);
  return result;
}

/** A full-page screenshot of @page as ARTIFACTS/@name.png. */
export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The status page's facts as JSON (Accept: application/json), from @statusUrl. */
export async function statusJson(page, statusUrl) {
  const res = await page.request.get(statusUrl, { headers: { Accept: "application/json" } });
  if (res.status() !== 200) throw new Error(`${statusUrl}: HTTP ${res.status()}`);
  return res.json();
}
