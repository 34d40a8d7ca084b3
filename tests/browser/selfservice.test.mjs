// SPDX-License-Identifier: MIT
// The self-service page as a person uses it, in Debian's Chromium (issue 14, item 5):
// ask on /privacy, read the mail the real SMTP sink received, open its link, confirm
// with the button, see the status page, cancel with the "scheduled" mail's link.  Each
// page of the way passes axe-core's WCAG 2.1 A/AA rules and is photographed to
// build/browser-artifacts/.  Then the same by keyboard alone, and without JavaScript.
import assert from "node:assert/strict";
import { test } from "node:test";

import { checkA11y, launch, linkIn, shot, startLethe, statusJson } from "./lib.mjs";

const STATUS_LINK = 'a[href*="/data-deletion/status?id="]';

/** One browser for the test, closed when it ends. */
async function browserFor(t) {
  const browser = await launch();
  t.after(() => browser.close());
  return browser;
}

/** The page's answer to a navigation that @action starts (a click, a key). */
async function navigating(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ timeout: 30000 }), action()]);
  return response;
}

/** The page's security headers, as the design asks of every self-service page. */
function assertPageHeaders(response, what) {
  const h = response.headers();
  assert.match(h["content-type"] || "", /^text\/html/, what);
  assert.match(h["cache-control"] || "", /no-store/, `${what}: Cache-Control`);
  assert.equal(h["referrer-policy"], "no-referrer", `${what}: Referrer-Policy`);
  assert.match(h["content-security-policy"] || "", /default-src 'none'/, `${what}: CSP`);
  assert.equal(h["set-cookie"], undefined, `${what}: a cookie`);
}

/** The language, and one label for every field a person fills in. */
async function assertFormBasics(page) {
  assert.match((await page.getAttribute("html", "lang")) || "", /^[a-z]{2}/);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
      .filter((el) => !el.labels || el.labels.length === 0)
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, [], "fields without a label");
}

test("a person asks, confirms by the mailed link, sees the status page, cancels", async (t) => {
  const browser = await browserFor(t);
  const env = await startLethe(t);
  const page = await browser.newPage();
  const linkPrefix = env.url + "/privacy/l/";

  // The form: pick "close my account", give an address, send.
  let res = await page.goto(env.url + "/privacy");
  assert.equal(res.status(), 200);
  assertPageHeaders(res, "GET /privacy");
  await assertFormBasics(page);
  await checkA11y(page, "the form");
  await shot(page, "flow-01-form");
  await page.getByRole("radio", { name: /close my account/i }).check();
  await page.getByLabel(/e-?mail/i).fill("user3@example.com");
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  assertPageHeaders(res, "POST /privacy");
  assert.match(await page.locator("body").innerText(), /mail/i);
  await checkA11y(page, "the sent page");
  await shot(page, "flow-02-sent");

  // The confirmation mail: its link opens a page that only asks (GET changes nothing).
  const confirm = await env.mail(1);
  const confirmLink = linkIn(confirm, linkPrefix);
  assert.ok(!confirm.text.includes("user3@example.com"), "the mail names the address");
  res = await page.goto(confirmLink);
  assert.equal(res.status(), 200);
  assertPageHeaders(res, "GET link");
  await checkA11y(page, "the confirm link page");
  await shot(page, "flow-03-confirm-link");
  res = await page.goto(confirmLink); // a mail scanner's prefetch, twice: still valid
  assert.equal(res.status(), 200, "GET of the link used it up");
  assert.equal(env.mailCount(), 1, "a GET of the link sent mail");

  // Confirm with the button (a POST): the outcome, then the status page it links to.
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  assertPageHeaders(res, "POST link");
  await checkA11y(page, "the confirmed page");
  await shot(page, "flow-04-confirmed");
  res = await navigating(page, () => page.locator(STATUS_LINK).first().click());
  assert.equal(res.status(), 200);
  const statusUrl = page.url();
  assert.ok(statusUrl.startsWith(env.url + "/data-deletion/status?id="), statusUrl);
  await checkA11y(page, "the status page (scheduled)");
  await shot(page, "flow-05-status-scheduled");
  assert.equal((await statusJson(page, statusUrl)).state, "scheduled");

  // The used link is gone: one readable answer for used, unknown and expired.
  res = await page.goto(confirmLink);
  assert.equal(res.status(), 404);
  assert.match(await page.locator("body").innerText(), /no longer valid/i);
  await checkA11y(page, "the invalid link page");
  await shot(page, "flow-06-link-invalid");

  // The "scheduled" mail carries the cancel link of the grace period.
  const scheduled = await env.mail(2);
  const cancelLink = linkIn(scheduled, linkPrefix);
  assert.notEqual(cancelLink, confirmLink);
  res = await page.goto(cancelLink);
  assert.equal(res.status(), 200);
  assert.match(await page.locator("body").innerText(), /cancel/i);
  await checkA11y(page, "the cancel link page");
  await shot(page, "flow-07-cancel-link");
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  await checkA11y(page, "the cancelled page");
  await shot(page, "flow-08-cancelled");
  res = await navigating(page, () => page.locator(STATUS_LINK).first().click());
  assert.equal(res.status(), 200);
  await checkA11y(page, "the status page (cancelled)");
  await shot(page, "flow-09-status-cancelled");
  assert.equal((await statusJson(page, statusUrl)).state, "cancelled");
});

/** What has the focus: {tag, type, name, text, href, visible} (visible: an outline
 * or a box shadow drawn for it). */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const cs = getComputedStyle(el);
    const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
    return {
      tag: el.tagName.toLowerCase(),
      type: el.getAttribute("type") || "",
      name: el.getAttribute("name") || "",
      text: (el.innerText || el.value || "").trim(),
      href: el.getAttribute("href") || "",
      label: el.labels && el.labels[0] ? el.labels[0].innerText : "",
      visible: outline || cs.boxShadow !== "none",
    };
  });
}

/** Press Tab until @want(focused) holds (at most 30 times); the focus must show. */
async function tabTo(page, want, what) {
  const seen = [];
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press("Tab");
    const f = await focused(page);
    seen.push(f && `${f.tag}[${f.type || f.name}] ${f.text || f.label || f.href}`);
    if (f && want(f)) {
      assert.ok(f.visible, `${what}: the focus is not visible on ${JSON.stringify(f)}`);
      return f;
    }
  }
  throw new Error(`Tab never reached ${what}; focus went: ${seen.join(" | ")}`);
}

const isButton = (f) => f.tag === "button" || (f.tag === "input" && f.type === "submit");

test("the whole way by keyboard alone: Tab, Space and Enter, no click", async (t) => {
  const browser = await browserFor(t);
  const env = await startLethe(t);
  const page = await browser.newPage();
  const linkPrefix = env.url + "/privacy/l/";

  await page.goto(env.url + "/privacy");
  await tabTo(page, (f) => f.type === "radio" && /close my account/i.test(f.label), "the offer");
  await page.keyboard.press("Space");
  assert.ok(await page.getByRole("radio", { name: /close my account/i }).isChecked());
  await tabTo(page, (f) => f.tag === "input" && /mail/i.test(f.type + f.name), "the address");
  await page.keyboard.type("user4@example.com");
  await tabTo(page, isButton, "the send button");
  let res = await navigating(page, () => page.keyboard.press("Enter"));
  assert.equal(res.status(), 200);
  await shot(page, "keyboard-01-sent");

  const confirmLink = linkIn(await env.mail(1), linkPrefix);
  await page.goto(confirmLink);
  await tabTo(page, isButton, "the confirm button");
  res = await navigating(page, () => page.keyboard.press("Enter"));
  assert.equal(res.status(), 200);
  await tabTo(page, (f) => f.href.includes("/data-deletion/status?id="), "the status link");
  res = await navigating(page, () => page.keyboard.press("Enter"));
  assert.equal(res.status(), 200);
  const statusUrl = page.url();
  assert.equal((await statusJson(page, statusUrl)).state, "scheduled");
  await shot(page, "keyboard-02-status");

  const cancelLink = linkIn(await env.mail(2), linkPrefix);
  await page.goto(cancelLink);
  await tabTo(page, isButton, "the cancel button");
  res = await navigating(page, () => page.keyboard.press("Space"));
  assert.equal(res.status(), 200);
  assert.equal((await statusJson(page, statusUrl)).state, "cancelled");
  await shot(page, "keyboard-03-cancelled");
});

test("the page works with JavaScript disabled", async (t) => {
  const browser = await browserFor(t);
  const env = await startLethe(t);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const linkPrefix = env.url + "/privacy/l/";

  let res = await page.goto(env.url + "/privacy");
  assert.equal(res.status(), 200);
  assert.equal(await page.locator("script").count(), 0, "the page has a script");
  await page.getByRole("radio", { name: /close my account/i }).check();
  await page.getByLabel(/e-?mail/i).fill("user5@example.com");
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  await shot(page, "nojs-01-sent");

  await page.goto(linkIn(await env.mail(1), linkPrefix));
  res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.equal(res.status(), 200);
  res = await navigating(page, () => page.locator(STATUS_LINK).first().click());
  assert.equal(res.status(), 200);
  assert.equal((await statusJson(page, page.url())).state, "scheduled");
  await shot(page, "nojs-02-status");
});

test("a form without its CSRF token is refused and asks nothing", async (t) => {
  const browser = await browserFor(t);
  const env = await startLethe(t);
  const page = await browser.newPage();

  await page.goto(env.url + "/privacy");
  await page.evaluate(() => {
    for (const el of document.querySelectorAll("form input[type=hidden]")) el.remove();
  });
  await page.getByRole("radio", { name: /close my account/i }).check();
  await page.getByLabel(/e-?mail/i).fill("user6@example.com");
  const res = await navigating(page, () => page.locator("form").getByRole("button").click());
  assert.ok(res.status() >= 400 && res.status() < 500, `HTTP ${res.status()}`);
  await checkA11y(page, "the refused form");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(env.mailCount(), 0, "a POST without its token sent mail");
});
