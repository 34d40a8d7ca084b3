// SPDX-License-Identifier: MIT
// tests/browser/screenshot.mjs - render docs/selfservice.png from the real page.
//
// Starts a demo with mail (the same set-up as the browser tests: lib.mjs), opens
// /privacy in Debian's Chromium at 760 px wide and photographs the whole page.  Rerun
// it after changing the page:
//
//   make browser   (once, for npm ci)   then   node tests/browser/screenshot.mjs [OUT]
import fs from "node:fs";
import path from "node:path";

import { ROOT, launch, startLethe } from "./lib.mjs";

const out = path.resolve(process.argv[2] || path.join(ROOT, "docs", "selfservice.png"));
const cleanups = [];
const t = { after: (fn) => cleanups.unshift(fn) };
let browser;
try {
  const env = await startLethe(t);
  browser = await launch();
  const page = await browser.newPage({ viewport: { width: 760, height: 600 } });
  const res = await page.goto(env.url + "/privacy");
  if (res.status() !== 200) throw new Error(`GET /privacy: HTTP ${res.status()}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${path.relative(process.cwd(), out)} (${fs.statSync(out).size} bytes)`);
} finally {
  if (browser) await browser.close();
  for (const fn of cleanups) await fn();
}
