# SPDX-License-Identifier: MIT
"""The mail outbox against a real SMTP server (scripts/smtp_sink.py, aiosmtpd on
loopback) and the real `lethe serve` on the demo.

  - an app's request naming the person by email, verified, under a policy with a
    grace period: a "scheduled" mail to that address with the purge date, a cancel
    link (its token stored only hashed) and the status page's URL; cancelled: a
    "cancelled" mail with the reason; refused: a "refused" mail with the reason;
    completed: a "completed" mail listing what was deleted and what was kept and why;
    extended: an "extended" mail with the new date and the reason;
  - SMTP failing N times: retried with backoff, delivered once; hanging longer than
    mail.timeout: retried; refusing (550): a dead letter, visible in `lethe jobs
    --dead`, /metrics, the request's JSON and its status page ("could not send"),
    which no longer says a link was emailed;
  - a restart with mail queued: delivered exactly once after the restart;
  - no address or link token in lethe's log; the recipient gone from the state
    store's files once the mail is sent and the request finished.
"""
import datetime
import json
import re
import sqlite3
import time

import pytest

from lethe_e2e import run_lethe, without_section
from requests_helpers import ADMIN_KEY, api_section, call, create_body
from serve_helpers import (SECRETS_ENV, TSCALE, servers, state_store_bytes,  # noqa: F401
                           stop_ok)
from smtp_helpers import smtp_sink  # noqa: F401
from test_serve_ops import metric

TOKEN_RE = re.compile(r"/privacy/l/([a-z2-7]{32})$")

GRACE = """requests:
  policies:
    - name: app-grace
      kind: erasure
      scope: account
      sources: [app]
      grace: 7d
      deadline: 30d
"""
AT_ONCE = """requests:
  policies:
    - name: app-now
      kind: erasure
      scope: account
      sources: [app]
      deadline: 30d
"""
REVIEW = """requests:
  policies:
    - name: app-review
      kind: erasure
      scope: account
      sources: [app]
      review: true
      deadline: 30d
"""
VERIFY = """requests:
  policies:
    - name: app-verify
      kind: erasure
      scope: account
      sources: [app]
      verify: true
      deadline: 30d
"""


def configure(demo, sink, policies, **mail):
    """The demo's lethe.yaml with the API keys, @policies and a mail: section to @sink."""
    opts = {"backoff_base": "100ms", "backoff_cap": "300ms", "max_attempts": "50",
            "timeout": "5s", "connect_timeout": "2s"}
    opts.update(mail)
    text = without_section(demo.config_without("api"), "requests")
    text = text.rstrip("\n") + "\n" + api_section() + policies
    text += "mail:\n  url: smtp://127.0.0.1:%d\n  from: privacy@demo-social.example\n" \
            "  starttls: off\n" % sink.port
    text += "".join("  %s: %s\n" % kv for kv in opts.items())
    demo.config.write_text(text)


def create(srv, user):
    status, _, out = call(srv, "POST", "/v1/requests", body=create_body(user=user))
    assert status in (200, 201, 202), out
    return out


def show(srv, code):
    status, _, out = call(srv, "GET", "/v1/admin/requests/" + code, key=ADMIN_KEY)
    assert status == 200, out
    return out


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def mail_of(srv, code, notice, state="sent"):
    """The request's mail about @notice once it is in @state."""
    def find():
        for m in show(srv, code)["mail"]:
            if m["notice"] == notice and m["state"] == state:
                return m
        return None
    return wait_for(find, "mail %s %s" % (notice, state))


def long_date(iso):
    """'2026-12-07T10:00:00Z' as the mails write it: '7 December 2026'."""
    d = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    return "%d %s %d" % (d.day, d.strftime("%B"), d.year)


def assert_log_clean(srv, *secrets):
    log = srv.stderr()
    for s in secrets:
        assert s not in log, "%r in lethe's log" % s


def tokens(msg):
    return [m.group(1) for m in (TOKEN_RE.search(u) for u in msg.links) if m]


def test_mail_scheduled_then_cancelled(demo, servers, smtp_sink):
    """Accepted with a grace period: "scheduled" with the purge date and a cancel link
    (hashed in the store); cancelled: "cancelled" with the reason."""
    configure(demo, smtp_sink, GRACE)
    s = servers(demo)
    req = create(s, 1)
    code = req["id"]
    assert req["state"] == "scheduled" and req["grace_until"]
    msg = smtp_sink.wait_for(1)[0]
    assert msg.rcpt == ["user1@example.com"]
    assert "scheduled" in msg.subject
    assert long_date(req["grace_until"]) in msg.text
    assert req["status_url"] in msg.links
    toks = tokens(msg)
    assert len(toks) == 1, msg.links
    assert msg.html and "user1@example.com" not in msg.text + msg.html
    assert 'href="mailto:privacy@demo-social.example"' in msg.html
    # The store keeps the link's hash, never its token.
    links = demo.state("SELECT hash, purpose, expires_at FROM links")
    assert len(links) == 1 and links[0][1] == "cancel", links
    assert toks[0] not in links[0][0]
    grace = demo.state("SELECT not_before FROM requests WHERE code = ?", (code,))[0][0]
    assert links[0][2] == grace
    m = mail_of(s, code, "scheduled")
    assert m["attempts"] == 1 and m["sent_at"] and m["last_error"] is None
    # Cancelled by the operator: the person hears why.
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/cancel" % code, key=ADMIN_KEY,
                          body={"reason": "Asked on the phone to keep the account"})
    assert status == 200, out
    msg2 = smtp_sink.wait_for(2)[1]
    assert msg2.rcpt == ["user1@example.com"]
    assert "Asked on the phone to keep the account" in msg2.text
    assert tokens(msg2) == []
    assert [m["notice"] for m in show(s, code)["mail"]] == ["scheduled", "cancelled"]
    assert_log_clean(s, "user1@example.com", toks[0])
    stop_ok(s)


def test_mail_refused_with_reason(demo, servers, smtp_sink):
    """Held for review (no mail), then refused: a "refused" mail with the reason."""
    configure(demo, smtp_sink, REVIEW)
    s = servers(demo)
    code = create(s, 2)["id"]
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/refuse" % code, key=ADMIN_KEY,
                          body={"reason": "An unpaid invoice is still open"})
    assert status == 200, out
    msg = smtp_sink.wait_for(1)[0]
    assert msg.rcpt == ["user2@example.com"]
    assert "refused" in msg.subject
    assert "An unpaid invoice is still open" in msg.text
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 1  # awaiting review told nothing
    assert [m["notice"] for m in show(s, code)["mail"]] == ["refused"]
    assert_log_clean(s, "user2@example.com")
    stop_ok(s)


def test_mail_extended_with_reason(demo, servers, smtp_sink):
    """A later due date: an "extended" mail with the new date and the operator's reason."""
    configure(demo, smtp_sink, REVIEW)
    s = servers(demo)
    req = create(s, 9)
    due = datetime.datetime.strptime(req["due_at"], "%Y-%m-%dT%H:%M:%SZ")
    later = (due + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/extend" % req["id"],
                          key=ADMIN_KEY,
                          body={"due_at": later, "reason": "The request is complex"})
    assert status == 200, out
    msg = smtp_sink.wait_for(1)[0]
    assert msg.rcpt == ["user9@example.com"]
    assert "The request is complex" in msg.text and long_date(later) in msg.text
    assert "The request is complex" in msg.html
    assert [m["notice"] for m in show(s, req["id"])["mail"]] == ["extended"]
    stop_ok(s)


def test_mail_completed_lists_deleted_and_kept(demo, servers, smtp_sink):
    """No grace, the mail server refusing for a while: the "scheduled" notice, found
    finished, is skipped; "completed" lists each category deleted and the kept invoices
    with their reason; the recipient is wiped from the state store."""
    configure(demo, smtp_sink, AT_ONCE)
    smtp_sink.refuse(451)  # hold the first mail to read its sealed recipient
    s = servers(demo)
    code = create(s, 3)["id"]
    box = wait_for(lambda: demo.state("SELECT to_box FROM mail WHERE to_box IS NOT NULL"),
                   "a queued mail")[0][0]
    assert box and b"user3@example.com" not in box
    req = wait_for(lambda: (lambda r: r if r["state"].startswith("completed") else None)(
        show(s, code)), "the request to complete")
    smtp_sink.refuse(None)
    # The "scheduled" notice found the request finished: skipped, the end is told.
    mail_of(s, code, "scheduled", state="skipped")
    msgs = smtp_sink.wait_for(1)
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 1
    assert "complete" in msgs[0].subject and msgs[0].rcpt == ["user3@example.com"]
    text = msgs[0].text
    cats = req["result"]["categories"]
    assert cats
    for c in cats:
        if c["deleted"] > 0:
            assert "%d deleted" % c["deleted"] in text, (c, text)
    kept = [c for c in cats if c["retained"] > 0]
    assert kept, cats  # the demo keeps invoices
    assert "Invoices are tax records" in text
    assert "Billing and tax records" in text
    mail_of(s, code, req["state"])  # completed_with_retention: invoices are kept
    assert_log_clean(s, "user3@example.com")
    stop_ok(s)
    data = state_store_bytes(demo)
    assert b"user3@example.com" not in data
    assert box not in data, "the sealed recipient outlived the mail and the request"


def test_mail_retried_after_failures_delivered_once(demo, servers, smtp_sink):
    """SMTP answers 451 twice: retried with backoff, delivered once, 3 attempts."""
    configure(demo, smtp_sink, GRACE)
    smtp_sink.fail_next(2, 451)
    s = servers(demo)
    code = create(s, 4)["id"]
    smtp_sink.wait_for(1)
    m = mail_of(s, code, "scheduled")
    assert m["attempts"] == 3
    assert "451" in (m["last_error"] or "")
    time.sleep(1)
    assert len(smtp_sink.messages) == 1 and smtp_sink.attempts == 3
    assert_log_clean(s, "user4@example.com")
    stop_ok(s)


def test_mail_hanging_server_is_retried(demo, servers, smtp_sink):
    """DATA answered after longer than mail.timeout: the try times out and is retried."""
    configure(demo, smtp_sink, GRACE, timeout="1s")
    smtp_sink.fail_next(1, 451)  # the hung try is not recorded when it ends at last
    smtp_sink.hang(4)
    s = servers(demo)
    code = create(s, 5)["id"]
    wait_for(lambda: smtp_sink.attempts >= 1, "the first try")
    smtp_sink.hang(0)
    smtp_sink.wait_for(1, timeout=15 * TSCALE)
    m = mail_of(s, code, "scheduled")
    assert m["attempts"] == 2, m  # the timed-out connection is not reused
    time.sleep(4)
    assert len(smtp_sink.messages) == 1
    stop_ok(s)


def test_mail_refused_is_a_dead_letter_everywhere(demo, servers, smtp_sink):
    """550: a dead letter at once, in the log (numbers only), `lethe jobs --dead`,
    /metrics, the request's JSON and its status page, which says the mail could not be
    sent and no longer that a link was emailed."""
    configure(demo, smtp_sink, VERIFY)
    smtp_sink.refuse(550)
    s = servers(demo)
    body = create_body(user=6, verified=False)
    status, _, req = call(s, "POST", "/v1/requests", body=body)
    assert status in (200, 201, 202), req
    code = req["id"]
    assert req["state"] == "awaiting_verification"
    m = mail_of(s, code, "awaiting_verification", state="dead")
    assert m["attempts"] == 1 and "550" in m["last_error"], m
    assert smtp_sink.messages == []
    number = req["number"]
    wait_for(lambda: re.search(r"mail \d+ about request %d \(awaiting_verification\) is a "
                               r"dead letter" % number, s.stderr()), "the warning")
    assert_log_clean(s, "user6@example.com")
    status, _, text = s.get("/metrics")
    assert metric(text.decode(), "lethe_mail", {"state": "dead"}) == 1
    assert metric(text.decode(), "lethe_mail", {"state": "sent"}) == 0
    status, _, page = s.get("/data-deletion/status?id=" + code)
    page = page.decode()
    assert "We could not send you an email about this request." in page
    assert "emailed you" not in page
    assert json.loads(s.get("/data-deletion/status?id=" + code,
                            accept="application/json")[2])["mail_failed"] is True
    rc, out, err = run_lethe("jobs", "-c", demo.config, "--dead", "--json")
    assert rc == 0, err
    lines = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    dead = [ln for ln in lines if "mail" in ln]
    assert len(dead) == 1 and dead[0]["request"] == number, lines
    assert dead[0]["state"] == "dead" and dead[0]["notice"] == "awaiting_verification"
    assert "user6@example.com" not in out
    rc, out, err = run_lethe("jobs", "-c", demo.config)
    assert rc == 0 and "awaiting_verification" in out and "dead" in out, out
    stop_ok(s)
    # The dead letter's recipient is gone too.
    assert demo.state("SELECT count(*) FROM mail WHERE to_box IS NOT NULL")[0][0] == 0


def test_mail_queued_across_a_restart_sent_once(demo, servers, smtp_sink):
    """Mail queued while the server refuses (451) and lethe stops: after the restart
    it is delivered exactly once."""
    configure(demo, smtp_sink, GRACE)
    smtp_sink.refuse(451)
    s = servers(demo)
    code = create(s, 7)["id"]
    wait_for(lambda: smtp_sink.attempts >= 2, "two refused tries")
    stop_ok(s)
    assert demo.state("SELECT state FROM mail")[0][0] == "pending"
    smtp_sink.refuse(None)
    s2 = servers(demo)
    smtp_sink.wait_for(1)
    m = mail_of(s2, code, "scheduled")
    assert m["attempts"] >= 3
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0].rcpt == ["user7@example.com"]
    assert_log_clean(s2, "user7@example.com")
    stop_ok(s2)


def test_no_mail_section_no_mail(demo, servers, smtp_sink):
    """Without mail: nothing is queued and the request's JSON lists no mail."""
    text = without_section(demo.config_without("api"), "requests")
    demo.config.write_text(text.rstrip("\n") + "\n" + api_section() + GRACE)
    s = servers(demo)
    code = create(s, 8)["id"]
    assert show(s, code)["mail"] == []
    assert demo.state("SELECT count(*) FROM mail")[0][0] == 0
    stop_ok(s)


def test_bad_mail_template_refuses_start(demo, smtp_sink, tmp_path):
    """An operator's notice without its Subject line: `lethe serve` refuses to start and
    names the file."""
    configure(demo, smtp_sink, GRACE)
    d = tmp_path / "templates"
    (d / "mail").mkdir(parents=True)
    (d / "mail" / "scheduled.txt").write_text("Hello from {{app_label}}.\n")
    text = demo.config.read_text().replace("server:\n", "server:\n  templates: %s\n" % d, 1)
    demo.config.write_text(text)
    rc, out, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                             env=SECRETS_ENV)
    assert rc == 3, (rc, err)
    assert "mail/scheduled.txt" in err, err
    assert "serving" not in out


def test_links_expired_over_a_day_are_purged(demo, servers, smtp_sink):
    """The runner's housekeeping deletes mailed links that expired more than a day ago
    (used or not); a link expired an hour ago, or still valid, stays."""
    configure(demo, smtp_sink, GRACE)
    now = int(time.time())
    s = servers(demo, env={"LETHE_TEST_NOW": str(now)})
    stop_ok(s)
    con = sqlite3.connect(str(demo.state_db))
    con.executemany(
        "INSERT INTO links (hash, request_id, purpose, created_at, expires_at, used_at) "
        "VALUES (?, 1, 'verify', ?, ?, ?)",
        [("anon:old", now - 5 * 86400, now - 2 * 86400, None),
         ("anon:old-used", now - 5 * 86400, now - 86400 - 60, now - 3 * 86400),
         ("anon:recent", now - 86400, now - 3600, None),
         ("anon:valid", now, now + 3600, None)])
    con.commit()
    con.close()
    s2 = servers(demo, env={"LETHE_TEST_NOW": str(now)})
    left = wait_for(lambda: (lambda h: h if len(h) == 2 else None)(
        sorted(r[0] for r in demo.state("SELECT hash FROM links"))), "the purge")
    assert left == ["anon:recent", "anon:valid"]
    assert "links: 2 expired more than a day ago; purged" in s2.stderr()
    stop_ok(s2)


def test_mail_switched_off_skips_queued_mail(demo, servers, smtp_sink):
    """Mail queued while mail was on, then lethe restarted without mail:: the queued
    mail is skipped ("mail is off") and its sealed recipient wiped at start; a notice
    queued later (the request cancelled) is skipped too, within a tick."""
    configure(demo, smtp_sink, GRACE)
    smtp_sink.refuse(451)
    s = servers(demo)
    code = create(s, 9)["id"]
    wait_for(lambda: smtp_sink.attempts >= 1, "a refused try")
    stop_ok(s)
    assert demo.state("SELECT state FROM mail WHERE to_box IS NOT NULL") == [("pending",)]
    demo.config.write_text(without_section(demo.config.read_text(), "mail"))
    s2 = servers(demo)
    assert demo.state("SELECT notice, state, last_error FROM mail WHERE to_box IS NULL") == \
        [("scheduled", "skipped", "mail is off")]
    assert "1 mails not sent: mail is off" in s2.stderr()
    status, _, out = call(s2, "POST", "/v1/admin/requests/%s/cancel" % code, key=ADMIN_KEY,
                          body={"reason": "Asked on the phone to keep the account"})
    assert status == 200, out
    rows = wait_for(lambda: (lambda r: r if len(r) == 2 and r[1][1] == "skipped" else None)(
        demo.state("SELECT notice, state, to_box IS NULL FROM mail ORDER BY id")),
        "the cancelled notice skipped")
    assert rows == [("scheduled", "skipped", 1), ("cancelled", "skipped", 1)]
    assert [m["state"] for m in show(s2, code)["mail"]] == ["skipped", "skipped"]
    smtp_sink.refuse(None)
    stop_ok(s2)
    assert smtp_sink.messages == []


def test_status_page_tells_the_verify_mail_as_it_is(demo, servers, smtp_sink):
    """Awaiting verification by the emailed link: while that mail is refused for now
    (451, pending) the page says it is being sent, never that it was; once it is
    delivered, that the link was emailed."""
    configure(demo, smtp_sink, VERIFY)
    smtp_sink.refuse(451)
    s = servers(demo)
    status, _, req = call(s, "POST", "/v1/requests", body=create_body(user=5, verified=False))
    assert status in (200, 201, 202), req
    code = req["id"]
    assert req["state"] == "awaiting_verification"
    wait_for(lambda: smtp_sink.attempts >= 1, "a refused try")
    page = s.get("/data-deletion/status?id=" + code)[2].decode()
    assert "We are sending you an email with a link to confirm it." in page
    assert "emailed" not in page
    smtp_sink.refuse(None)
    mail_of(s, code, "awaiting_verification")
    page = s.get("/data-deletion/status?id=" + code)[2].decode()
    assert "We are waiting for you to confirm this request by the link we emailed you." in page
    assert "We are sending you" not in page
    stop_ok(s)
