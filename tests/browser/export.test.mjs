// SPDX-License-Identifier: MIT
// An export asked on the self-service page, as a person does it in Debian's Chromium
// (issue 16): pick "Send me a copy of my data", confirm by the mailed link, open the
// "ready" mail's download link, press Download (a real browser download of the zip),
// then the status page's "Send me a new download link": no link on the page, a new
// "ready" mail with a fresh link, its page, another download.
// Each page passes axe-core's WCAG 2.1 A/AA rules and is photographed.
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

import { checkA11y, launch, linkIn, shot, startLethe, statusJson } from "./lib.mjs";

const STATUS_LINK = 'a[href*="/data-deletion/status?id="]';

/** The demo with an export offer on the page and a self-service export policy. */
function withExport(text) {
  return text
    .replace(
      "requests:\n  policies:\n",
      "requests:\n  policies:\n" +
        "    - {name: self-service-export, kind: export, scope: account, " +
        "sources: [self-service], verify: true, deadline: 30d}\n",
    )
    .replace(
      "selfservice:\n  enabled: true\n",
      "selfservice:\n  enabled: true\n  offers:\n" +
        '    - {id: close-account, kind: erasure, scope: account, label: "Close my account"}\n' +
        '    - {id: export, kind: export, scope: account, label: "Send me a copy of my data"}\n',
    );
}

async function navigating(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ timeout: 30000 }), action()]);
  return response;
}

/** The file a click on @locator downloads: its bytes. */
async function downloading(page, locator) {
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }),
    locator.click()]);
  assert.match(dl.suggestedFilename(), /\.zip$/);
  return fs.readFileSync(await dl.path());
}

/** The first mail after the @after-th whose subject matches @re, up to the @max-th: [mail, n]. */
async function mailMatching(env, re, max = 4, after = 0) {
  for (let n = after + 1; n <= max; n++) {
    const m = await env.mail(n);
    if (re.test(m.subject)) return [m, n];
  }
  throw new Error(`no mail matching ${re} in the first ${max}`);
}

test("a person asks for a copy of their data and downloads it", async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const env = await startLethe(t, { config: withExport });
  const page = await browser.newPage({ acceptDownloads: true });
  const linkPrefix = env.url + "/privacy/l/";

  // The form offers the export; ask for it.
  let res = await page.goto(env.url + "/privacy");
  assert.equal(res.status(), 200);
  await page.getByRole("radio", { name: /copy of my data/i }).check();
  await page.getByLabel(/e-?mail/i).fill("user7@example.com");
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);

  // Confirm by the mailed link; the status page follows the export.
  const verify = await env.mail(1);
  assert.match(verify.text, /copy of your data/);
  await page.goto(linkIn(verify, linkPrefix));
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  res = await navigating(page, () => page.locator(STATUS_LINK).first().click());
  const statusUrl = page.url();
  const end = Date.now() + 30000;
  while ((await statusJson(page, statusUrl)).state !== "completed") {
    assert.ok(Date.now() < end, "the export did not complete in 30 s");
    await new Promise((r) => setTimeout(r, 200));
  }

  // The "ready" mail's link: a page with a Download button; the click downloads the zip.
  const [ready, readyAt] = await mailMatching(env, /ready/i);
  const link = linkIn(ready, linkPrefix);
  res = await page.goto(link);
  assert.equal(res.status(), 200);
  assert.match(await page.locator("h1").innerText(), /your data is ready/i);
  await checkA11y(page, "the download link page");
  await shot(page, "export-01-download-page");
  let zip = await downloading(page, page.getByRole("button", { name: /download/i }));
  assert.equal(zip.subarray(0, 4).toString("latin1"), "PK\x03\x04", "not a zip");
  assert.ok(zip.includes("manifest.json"), "no manifest in the zip");
  res = await page.goto(link); // used: refused
  assert.equal(res.status(), 404);

  // The status page: ready; its button shows no link but mails a new one to the address.
  res = await page.goto(statusUrl);
  assert.equal(res.status(), 200);
  await checkA11y(page, "the status page (export ready)");
  await shot(page, "export-02-status-ready");
  res = await navigating(page, () =>
    page.getByRole("button", { name: /send me a new download link/i }).click());
  assert.equal(res.status(), 200);
  assert.ok(!page.url().startsWith(linkPrefix), page.url());
  assert.match(await page.locator("h1").innerText(), /sending you a new link/i);
  assert.equal(await page.locator(`a[href^="${linkPrefix}"]`).count(), 0);
  await checkA11y(page, "the new-link page");
  const [again] = await mailMatching(env, /ready/i, readyAt + 2, readyAt);
  const fresh = linkIn(again, linkPrefix);
  assert.notEqual(fresh, link);
  res = await page.goto(fresh);
  assert.equal(res.status(), 200);
  zip = await downloading(page, page.getByRole("button", { name: /download/i }));
  assert.equal(zip.subarray(0, 4).toString("latin1"), "PK\x03\x04", "not a zip");
});
