# SPDX-License-Identifier: MIT
"""The public status page and /metrics for privacy requests of every source, against
the real `lethe serve` on the demo.

Requests not from Meta are written into the state store (var/state.db) as the
request model records them (no front end creates them in these tests); Meta's come
through the signed callback and the runner.  The test clock (LETHE_TEST_NOW=file:)
moves a request past its due date."""
import json
import re
import secrets
import sqlite3
import time

import pytest

from serve_helpers import (IG_SECRET, TSCALE, ig_id, servers, sign_py,  # noqa: F401
                           stop_ok)
from test_serve_ops import metric

DAY = 86400
T0 = 1796000000  # 2026-11-30T00:53:20Z: the test clock at start
STATES = ["received", "awaiting_verification", "awaiting_review", "scheduled", "running",
          "completed", "completed_with_retention", "refused", "cancelled", "failed",
          "expired"]
REFUSAL = "An unpaid invoice is still open; write to billing first."
CANCELLATION = "Asked by the person on the phone."
FAILURE = "the erasure failed 3 times in a row; see the log, then retry it"
CODE_CHARS = "abcdefghijklmnopqrstuvwxyz234567"


def new_code():
    """A confirmation code of lethe's form (34 base32 characters)."""
    return "".join(secrets.choice(CODE_CHARS) for _ in range(34))


def insert_request(demo, state, due_at, not_before=None, expires_at=None, reason=None,
                   completed_at=None):
    """Record a request of the app in @state as the request model does; its code."""
    code = new_code()
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    try:
        with con:
            con.execute(
                "INSERT INTO requests (code, app, subject, identity_box, state, received_at, "
                "completed_at, kind, scope, source, policy, due_at, not_before, expires_at, "
                "reason, verified) VALUES (?, '', ?, x'', ?, ?, ?, 'erasure', 'account', "
                "'app', 'account-closure', ?, ?, ?, ?, 1)",
                (code, "s" + secrets.token_hex(16), state, T0 - 3600, completed_at, due_at,
                 not_before, expires_at, reason))
    finally:
        con.close()
    return code


def page(srv, code):
    status, hdrs, body = srv.get("/data-deletion/status?id=" + code)
    assert status == 200, (status, body)
    assert hdrs["content-type"].startswith("text/html")
    html = body.decode()
    assert "{{" not in html
    return html


def metrics(srv):
    status, _, body = srv.get("/metrics")
    assert status == 200
    return body.decode()


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


@pytest.fixture
def clock(tmp_path):
    path = tmp_path / "clock"
    path.write_text("%d\n" % T0)
    return path


def start(demo, servers, clock):  # noqa: F811
    srv = servers(demo, env={"LETHE_TEST_NOW": "file:%s" % clock})
    assert demo.state_db.exists()
    return srv


def test_request_status_page_every_state(demo, servers, clock):  # noqa: F811
    srv = start(demo, servers, clock)
    codes = {
        "awaiting_verification": insert_request(demo, "awaiting_verification", T0 + 30 * DAY,
                                                expires_at=T0 + 7 * DAY),
        "awaiting_review": insert_request(demo, "awaiting_review", T0 + 30 * DAY),
        "scheduled": insert_request(demo, "scheduled", T0 + 31 * DAY,
                                    not_before=T0 + 30 * DAY),
        "completed": insert_request(demo, "completed", T0 + 31 * DAY, completed_at=T0),
        "refused": insert_request(demo, "refused", T0 + 30 * DAY, reason=REFUSAL,
                                  completed_at=T0),
        "cancelled": insert_request(demo, "cancelled", T0 + 31 * DAY, reason=CANCELLATION,
                                    completed_at=T0),
        "failed": insert_request(demo, "failed", T0 + 2 * DAY, reason=FAILURE,
                                 completed_at=T0),
        "expired": insert_request(demo, "expired", T0 + 30 * DAY,
                                  reason="the identity was never verified", completed_at=T0),
    }
    contact = '<a href="mailto:privacy@demo-social.example">privacy@demo-social.example</a>'
    words = {
        "awaiting_verification": [
            "Waiting for your confirmation</strong>",
            # No mail about it (inserted without one): nothing said of an emailed link.
            "We are waiting for you to confirm this request. Nothing has been deleted yet.",
            "If it is not confirmed by 7 December 2026 at 00:53 UTC, the request expires."],
        "awaiting_review": ["Being reviewed</strong>", "We are reviewing your request"],
        "scheduled": [
            "Scheduled for 30 December 2026</strong>",
            "Your account will be erased on 30 December 2026 at 00:53 UTC; until then you "
            "can cancel this request.",
            "<dt>Grace period ends</dt>"],
        "completed": ["Completed on 30 November 2026</strong>",
                      "We have deleted the data linked to your account"],
        "refused": ["Refused</strong>", "Our reason: " + REFUSAL],
        "cancelled": ["Cancelled</strong>", "This request was cancelled: " + CANCELLATION],
        "failed": ["Not completed</strong>", "We are working on it: it is due by 2 December "
                   "2026.", "Something went wrong"],
        "expired": ["Expired</strong>", "so it expired and none of your data was erased"],
    }
    cancellable = {"awaiting_verification", "awaiting_review", "scheduled"}
    subjects = {r[0] for r in demo.state("SELECT subject FROM requests")}
    for state, code in codes.items():
        html = page(srv, code)
        for w in words[state]:
            assert w in html, "%s: %r not on the page:\n%s" % (state, w, html)
        assert "Being processed" not in html, state
        # Never "no data" for a request that has not run; no Meta instructions.
        assert "no data" not in html, state
        assert "Facebook" not in html and "Instagram" not in html, state
        # The cancel hint, in its one place, only while the request can be cancelled.
        hint = ("<strong>To cancel this request</strong>, contact %s quoting this code: "
                "<code>%s</code>." % (contact, code))
        if state in cancellable:
            assert hint in html, state
        else:
            assert "To cancel" not in html, state
        # The failure's reason is the operator's note, not the person's.
        assert FAILURE not in html
        # No personal data: not even the keyed hash that names the person.
        for s in subjects:
            assert s not in html

        j = srv.status_json(code)
        assert j["state"] == state
        assert j["kind"] == "erasure" and j["scope"] == "account" and j["source"] == "app"
        assert j["cancellable"] == (state in cancellable), state
        assert j["reason"] == {"refused": REFUSAL, "cancelled": CANCELLATION}.get(state)
        assert j["grace_until"] == ("2026-12-30T00:53:20Z" if state == "scheduled" else None)
        assert j["due_at"] is not None
        assert not set(json.dumps(j).split('"')) & subjects
    assert srv.status_json(codes["failed"])["due_at"] == "2026-12-02T00:53:20Z"

    # The grouped code typed back finds a request of the app too.
    grouped = " ".join(re.findall(".{1,4}", codes["scheduled"])).upper()
    assert srv.status_json(grouped.replace(" ", "-"))["state"] == "scheduled"

    # /metrics: every state, zeros included; nothing overdue yet.
    text = metrics(srv)
    assert "# TYPE lethe_requests gauge" in text
    for state in STATES:
        want = 1 if state in codes else 0
        assert metric(text, "lethe_requests", {"state": state}) == want, state
    assert metric(text, "lethe_requests_overdue") == 0
    # The older series stays, for the states in use.
    assert metric(text, "lethe_deletion_requests", {"state": "refused"}) == 1

    # Two days and a half later the failed request is past its deadline: the page says
    # so and the gauge counts it (closed requests never are).
    clock.write_text("%d\n" % (T0 + 2 * DAY + 12 * 3600))
    wait_for(lambda: metric(metrics(srv), "lethe_requests_overdue") == 1,
             "the overdue request in /metrics")
    html = page(srv, codes["failed"])
    assert "it was due by 2 December 2026, and we are sorry it is late." in html
    assert "2026</time> (late)</dd>" in html
    assert "(late)" not in page(srv, codes["awaiting_review"])

    # A week later the link was never followed: the request expired, and its page and
    # the gauges say so; it is closed, so never overdue.
    clock.write_text("%d\n" % (T0 + 8 * DAY))
    wait_for(lambda: metric(metrics(srv), "lethe_requests", {"state": "expired"}) == 2,
             "the unconfirmed request to expire")
    html = page(srv, codes["awaiting_verification"])
    assert "Expired</strong>" in html and "To cancel" not in html
    text = metrics(srv)
    assert metric(text, "lethe_requests", {"state": "awaiting_verification"}) == 0
    assert metric(text, "lethe_requests_overdue") == 1
    stop_ok(srv)


def test_request_status_meta_request_and_durations(demo, servers, clock):  # noqa: F811
    """A Meta request: its page keeps Meta's wording and gains the model's fields; its
    completion feeds the per-kind histogram as well as the older total."""
    srv = start(demo, servers, clock)
    text = metrics(srv)
    assert "# TYPE lethe_request_duration_seconds histogram" in text
    for kind in ("erasure", "export", "restriction"):
        assert metric(text, "lethe_request_duration_seconds_count", {"kind": kind}) == 0
    code = srv.deletion("instagram", sign_py(IG_SECRET, ig_id(3)))["confirmation_code"]
    j, _ = srv.wait_completed(code, timeout=30)
    assert j["source"] == "meta" and j["kind"] == "erasure" and j["scope"] == "meta"
    assert j["cancellable"] is False and j["reason"] is None and j["grace_until"] is None
    assert j["due_at"] is not None and j["platform"] == "Instagram"
    html = page(srv, code)
    assert "Remove Demo Social from Instagram" in html
    assert "To cancel" not in html and "To be completed by" not in html

    # The runner records the duration just after the completion commits: a client
    # that saw "completed" may read /metrics a moment before it.  Bounded wait.
    deadline = time.monotonic() + 10
    text = metrics(srv)
    while (metric(text, "lethe_request_duration_seconds_count", {"kind": "erasure"}) == 0
           and time.monotonic() < deadline):
        time.sleep(0.05)
        text = metrics(srv)
    assert metric(text, "lethe_requests", {"state": j["state"]}) == 1
    assert metric(text, "lethe_request_duration_seconds_count", {"kind": "erasure"}) == 1
    assert metric(text, "lethe_request_duration_seconds_bucket",
                  {"kind": "erasure", "le": "+Inf"}) == 1
    assert metric(text, "lethe_deletion_completion_seconds_count") == 1
    assert metric(text, "lethe_request_duration_seconds_count", {"kind": "export"}) == 0
    stop_ok(srv)


def test_request_status_pending_meta_request_shows_its_deadline(demo, servers, clock):  # noqa: F811,E501
    """A Meta request that failed shows its due date honestly, offers no cancel, and
    never says "no data" although it has not completed (a stale flag says so)."""
    srv = start(demo, servers, clock)
    code = new_code()
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    try:
        with con:
            # The runner takes only received and running rows: a failed one stays put.
            con.execute(
                "INSERT INTO requests (code, app, subject, identity_box, state, received_at, "
                "no_data, due_at) VALUES (?, 'instagram', ?, x'', 'failed', ?, 1, ?)",
                (code, "s" + secrets.token_hex(16), T0 - 3600, T0 + 30 * DAY))
    finally:
        con.close()
    html = page(srv, code)
    assert "Not completed</strong>" in html
    assert "We found no data" not in html
    assert "it is due by 30 December 2026" in html
    assert "Remove Demo Social from Instagram" in html
    assert "To cancel" not in html
    stop_ok(srv)
