# SPDX-License-Identifier: MIT
"""Every path of the privacy-request state machine (docs/requests.md), end to end.

The real `lethe serve` runs on the demo with policies written into its lethe.yaml for
each case and the test clock LETHE_TEST_NOW=file:PATH; requests are driven through
the app API, the operator API and `lethe requests`, and each case checks the API's
answer, `lethe requests show --json`, the app database and the public status page
(its JSON form: its wording is not asserted).  The fake platform records the
revocations the close-account effect queues.  Every case runs on both backends (the
backend fixture: the app database and the state store on SQLite, then on PostgreSQL).
"""
import json
import re
import time

import pytest

from fake_platform import fake_platform  # noqa: F401
from request_helpers import (
    DAY,
    FINAL,
    HOUR,
    Clock,
    admin_act,
    admin_get,
    app_act,
    app_get,
    cli,
    configure_requests,
    create,
    invoice_ids,
    live_tokens,
    log_count,
    person_rows,
    policy,
    request_row,
    show,
    start,
    states_of,
    user_status,
    users,
    wait_state,
    wait_until,
)
from lethe_e2e import block_deletes, query, unblock_deletes
from serve_helpers import TSCALE, servers  # noqa: F401

DEMO_OPTIONS = ["--users", "30", "--seed", "7"]

pytestmark = pytest.mark.usefixtures("backend")

CLOSURE = "close-account"


def gone(demo, uid, invoices):
    """The person's account is erased: no row of theirs, their invoices kept unlinked."""
    assert person_rows(demo, uid) == {"users": 0, "projects": 0, "channels": 0, "posts": 0,
                                      "invoices": 0}
    kept = query(demo.db, "SELECT id, user_id FROM invoices WHERE id IN (%s) ORDER BY id"
                 % ",".join("?" * len(invoices)), invoices)
    assert [r[0] for r in kept] == invoices and all(r[1] is None for r in kept), kept


def intact(demo, uid, before):
    assert person_rows(demo, uid) == before


def same_view(api_doc, cli_doc):
    """The API's and the CLI's view of one request agree on what matters."""
    for k in ("id", "state", "policy", "due_at", "grace_until", "reason", "completed_at"):
        assert api_doc[k] == cli_doc[k], (k, api_doc[k], cli_doc[k])
    assert states_of(api_doc) == states_of(cli_doc)


# ---- 1. verify -> review -> grace -> run -> completed_with_retention ----------------------

def test_verify_review_grace_run(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", verify=True, review=True, grace="7d", deadline="30d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    inv = invoice_ids(demo, uid)
    before = person_rows(demo, uid)
    assert inv and before["channels"] > 0

    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    assert req["state"] == "awaiting_verification" and req["policy"] == "closure"
    assert req["expires_at"] is not None and req["grace_until"] is None
    assert srv.status_json(code)["state"] == "awaiting_verification"

    st, req = app_act(srv, code, "verify")
    assert st == 200 and req["state"] == "awaiting_review", req
    # Waiting for an operator: nothing is done to the person yet.
    time.sleep(1.2)
    assert user_status(demo, uid) == "active" and live_tokens(demo, uid) == before["channels"]
    listed = admin_get(srv, "/v1/admin/requests?state=awaiting_review")["requests"]
    assert [r["id"] for r in listed] == [code]

    st, req = admin_act(srv, code, "approve", {"reason": "nothing to keep"})
    assert st == 200 and req["state"] == "scheduled", req
    assert req["grace_until"] is not None
    # Accepted: the effect applies at once (sign-in off, grants revoked upstream).
    wait_until(lambda: user_status(demo, uid) == "closing" and live_tokens(demo, uid) == 0,
               "close-account applied", srv=srv)
    page = srv.status_json(code)
    assert page["state"] == "scheduled"
    if "grace_until" in page:  # the status page's new fields (another branch of issue 13)
        assert page["grace_until"] == req["grace_until"], page
    # The grace period holds it; still scheduled a while later.
    time.sleep(1.2)
    assert app_get(srv, code)["state"] == "scheduled"
    intact_rows = person_rows(demo, uid)
    assert intact_rows["users"] == 1 and intact_rows["projects"] == before["projects"]

    clock.advance(7 * DAY + 1)
    req = wait_state(srv, code, FINAL)
    assert req["state"] == "completed_with_retention", req
    assert states_of(req) == ["received", "awaiting_verification", "awaiting_review",
                              "scheduled", "running", "completed_with_retention"], req
    cats = {c["category"]: c for c in req["result"]["categories"]}
    assert cats["billing"]["retained"] == len(inv) and cats["billing"]["reason"], cats
    assert cats["account"]["deleted"] >= 1, cats
    gone(demo, uid, inv)
    # Finished: the sealed identities are wiped.
    state, effects, boxlen = request_row(demo, code)
    assert state == "completed_with_retention" and boxlen == 0
    page = srv.status_json(code)
    assert page["state"] == "completed_with_retention"
    assert any(c["category"] == "billing" and c["retained"] == len(inv)
               for c in page["categories"]), page
    assert email not in json.dumps(page)
    same_view(req, show(demo, clock, code))


# ---- 1. no verification, no review, no grace: done within seconds --------------------

def test_no_grace_no_review_completes_at_once(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    srv = start(servers, demo, fake_platform, clock)
    (u1, e1), (u2, e2) = users(demo, 2)
    inv1, inv2 = invoice_ids(demo, u1), invoice_ids(demo, u2)

    st, req = create(srv, {"email": e1})
    assert st == 201 and req["grace_until"] is None and req["policy"] == "now", req
    assert req["source"] == "app"
    # The CLI records one too (source operator); the running server carries it out.
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "user_id=%d" % u2,
                       "--json")
    assert rc == 0, err
    req2 = json.loads(out)
    assert req2["source"] == "operator" and req2["state"] in ("scheduled", "running"), req2

    t0 = time.monotonic()
    done = wait_state(srv, req["id"], FINAL, timeout=5)
    done2 = wait_state(srv, req2["id"], FINAL, timeout=5)
    assert time.monotonic() - t0 < 5 * TSCALE
    for r in (done, done2):
        assert r["state"] == "completed_with_retention", r
        assert states_of(r) == ["received", "scheduled", "running",
                                "completed_with_retention"], r
        # Due = receipt + the policy's deadline (2 days).
        assert r["due_at"] > r["received_at"]
    gone(demo, u1, inv1)
    gone(demo, u2, inv2)
    assert srv.status_json(req2["id"])["state"] == "completed_with_retention"
    same_view(done2, show(demo, clock, req2["id"]))


# ---- 1. cancel in grace: effects undone, identity wiped, nothing erased ------------------

def test_cancel_in_grace_undoes_effects(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", grace="30d", deadline="31d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    before = person_rows(demo, uid)

    st, req = create(srv, {"email": email}, verified=True)
    assert st == 201 and req["state"] == "scheduled" and req["grace_until"], req
    code = req["id"]
    wait_until(lambda: user_status(demo, uid) == "closing" and live_tokens(demo, uid) == 0,
               "close-account applied", srv=srv)
    wait_until(lambda: request_row(demo, code)[1] == 2, "effects recorded applied", srv=srv)

    # A reason with a control character is refused and changes nothing.
    st, bad = app_act(srv, code, "cancel", {"reason": "no\x01"})
    assert st == 400 and bad["error"]["code"], bad
    assert app_get(srv, code)["state"] == "scheduled"

    st, req = app_act(srv, code, "cancel", {"reason": "the person changed their mind"})
    assert st == 200 and req["state"] == "cancelled", req
    assert req["grace_until"] is None and req["completed_at"] is not None
    ev = req["events"][-1]
    assert ev["state"] == "cancelled" and ev["reason"] == "the person changed their mind"
    assert ev["by"].startswith("app:"), ev
    # The runner undoes the effect, then wipes the sealed identities.
    wait_until(lambda: user_status(demo, uid) == "active", "close-account undone", srv=srv)
    wait_until(lambda: request_row(demo, code)[1:] == (0, 0), "identity wiped", srv=srv)

    # The grace period would have ended: nothing runs, nothing is erased.
    clock.advance(31 * DAY)
    time.sleep(1.5)
    req = app_get(srv, code)
    assert req["state"] == "cancelled" and "running" not in states_of(req), req
    after = person_rows(demo, uid)
    assert after == before, (before, after)
    assert live_tokens(demo, uid) == 0  # a revoked grant is not given back
    page = srv.status_json(code)
    assert page["state"] == "cancelled"
    if "reason" in page:  # the status page's new fields (another branch of issue 13)
        assert page["reason"] == "the person changed their mind", page
    assert email not in json.dumps(page)
    cli_doc = show(demo, clock, code)
    same_view(req, cli_doc)
    assert cli_doc["events"][-1]["reason"] == "the person changed their mind"
    # A second cancel: 409, names the state, changes nothing.
    st, again = app_act(srv, code, "cancel")
    assert st == 409 and "cancelled" in again["error"]["message"], again
    assert states_of(app_get(srv, code)) == states_of(req)


# ---- 1. refuse with a reason --------------------------------------------------------------

def test_refuse_with_reason(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [
        policy("reviewed", review=True, grace="7d", deadline="30d", effects=[CLOSURE],
               sources=["app"]),
        policy("operator", grace="7d", deadline="30d", effects=[CLOSURE], sources=["operator"]),
    ])
    srv = start(servers, demo, fake_platform, clock)
    (u1, e1), (u2, e2) = users(demo, 2)
    before1, before2 = person_rows(demo, u1), person_rows(demo, u2)

    # In review, by the CLI: a reason is required.
    st, req = create(srv, {"email": e1}, verified=True)
    assert st == 201 and req["state"] == "awaiting_review", req
    code = req["id"]
    rc, out, err = cli(demo, clock, "refuse", code)
    assert rc == 2, (rc, out, err)
    assert app_get(srv, code)["state"] == "awaiting_review"
    reason = "an invoice dispute is open; write to billing"
    rc, out, err = cli(demo, clock, "refuse", code, "--reason", reason, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["state"] == "refused" and doc["reason"] == reason, doc
    assert doc["events"][-1] == {"state": "refused", "at": doc["events"][-1]["at"],
                                 "by": "cli", "reason": reason}
    req = app_get(srv, code)
    assert req["state"] == "refused" and req["reason"] == reason, req
    same_view(req, show(demo, clock, code))
    page = srv.status_json(code)
    assert page["state"] == "refused", page
    if "reason" in page:  # the status page's new fields (another branch of issue 13)
        assert page["reason"] == reason, page
    assert request_row(demo, code)[2] == 0  # identity wiped at once: no effect was applied
    # An app key cannot refuse; the operator API cannot refuse twice.
    st, _ = app_act(srv, code, "refuse", {"reason": "x"})
    assert st in (403, 404, 405), st
    st, again = admin_act(srv, code, "refuse", {"reason": reason})
    assert st == 409, again

    # In grace, by the operator API: the effects applied are undone.
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "email=" + e2,
                       "--json")
    assert rc == 0, err
    code2 = json.loads(out)["id"]
    wait_until(lambda: user_status(demo, u2) == "closing", "effect applied", srv=srv)
    st, bad = admin_act(srv, code2, "refuse", {})
    assert st == 400 and "reason" in bad["error"]["message"], bad
    st, req2 = admin_act(srv, code2, "refuse", {"reason": "duplicate account"})
    assert st == 200 and req2["state"] == "refused" and req2["reason"] == "duplicate account"
    assert req2["events"][-1]["by"] == "admin:ops", req2["events"]
    wait_until(lambda: user_status(demo, u2) == "active", "effect undone", srv=srv)
    wait_until(lambda: request_row(demo, code2)[1:] == (0, 0), "identity wiped", srv=srv)
    clock.advance(8 * DAY)
    time.sleep(1.5)
    assert app_get(srv, code2)["state"] == "refused"
    assert person_rows(demo, u1) == before1
    assert person_rows(demo, u2)["users"] == 1 and person_rows(demo, u2)["projects"] == \
        before2["projects"]
    assert srv.status_json(code2)["state"] == "refused"


# ---- 1. expire: a request never verified ---------------------------------------------------

def test_expire_unverified(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", verify=True, grace="7d", deadline="30d", effects=[CLOSURE])],
        verify_ttl="2h")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), (u2, e2) = users(demo, 2)
    before = person_rows(demo, uid)

    st, req = create(srv, {"email": email})
    assert st == 201 and req["state"] == "awaiting_verification", req
    code = req["id"]
    assert req["expires_at"] is not None
    # Another, cancelled by the operator before it was verified: identity wiped at once.
    st, other = create(srv, {"email": e2})
    assert st == 201
    rc, out, err = cli(demo, clock, "cancel", other["id"], "--reason", "asked by phone",
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["state"] == "cancelled"
    assert request_row(demo, other["id"])[1:] == (0, 0)
    clock.advance(2 * HOUR - 60)
    time.sleep(1.5)
    assert app_get(srv, code)["state"] == "awaiting_verification"

    clock.advance(61)
    req = wait_state(srv, code, FINAL, timeout=5)
    assert req["state"] == "expired" and req["reason"], req
    assert states_of(req) == ["received", "awaiting_verification", "expired"]
    assert req["expires_at"] is None and req["completed_at"] is not None
    assert request_row(demo, code)[2] == 0
    # Too late to verify; nothing was done to the person.
    st, late = app_act(srv, code, "verify")
    assert st == 409 and "expired" in late["error"]["message"], late
    assert person_rows(demo, uid) == before and user_status(demo, uid) == "active"
    assert srv.status_json(code)["state"] == "expired"
    same_view(req, show(demo, clock, code))
    # The cancelled one stays cancelled (its link expired too), untouched.
    other = app_get(srv, other["id"])
    assert other["state"] == "cancelled" and states_of(other) == [
        "received", "awaiting_verification", "cancelled"], other
    assert other["events"][-1]["by"] == "cli" and other["reason"] == "asked by phone"
    assert user_status(demo, u2) == "active"
    # A new request of the same person is a new one (the expired one is finished).
    st, fresh = create(srv, {"email": email})
    assert st == 201 and fresh["id"] != code, fresh


# ---- 1. fail and retry ----------------------------------------------------------------------

def test_fail_then_retry(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    (u1, e1), (u2, e2) = users(demo, 2)
    inv1 = invoice_ids(demo, u1)
    # The erasure fails for real: the app database refuses to delete the user.
    block_deletes(demo.db, "users")
    srv = start(servers, demo, fake_platform, clock)

    st, req = create(srv, {"email": e1})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] == "failed" and "3 times" in req["reason"], req
    assert states_of(req) == ["received", "scheduled", "running", "failed"], req
    assert log_count(srv.stderr(), demo, code, ": failed") == 1
    assert e1 not in srv.stderr()
    assert srv.status_json(code)["state"] == "failed"
    failed = admin_get(srv, "/v1/admin/requests?state=failed")["requests"]
    assert [r["id"] for r in failed] == [code]
    # The identity is kept for a retry.
    assert request_row(demo, code)[2] > 0

    # Put right what made it fail, then the operator retries it.
    unblock_deletes(demo.db, "users")
    rc, out, err = cli(demo, clock, "retry", code, "--reason", "trigger removed", "--json")
    assert rc == 0, err
    assert json.loads(out)["state"] == "scheduled"
    req = wait_state(srv, code, ("completed", "completed_with_retention"), timeout=10)
    assert req["state"] == "completed_with_retention", req
    assert states_of(req) == ["received", "scheduled", "running", "failed", "scheduled",
                              "running", "completed_with_retention"], req
    assert req["events"][4]["by"] == "cli" and req["events"][4]["reason"] == "trigger removed"
    gone(demo, u1, inv1)
    assert request_row(demo, code)[2] == 0
    assert srv.status_json(code)["state"] == "completed_with_retention"
    same_view(req, show(demo, clock, code))
    rc, out, err = cli(demo, clock, "retry", code)
    assert rc == 1 and "completed_with_retention" in err, (rc, err)


def test_failure_never_blocks_the_queue(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    (u1, e1), (u2, e2) = users(demo, 2)
    block_deletes(demo.db, "users", row_id=u1)
    srv = start(servers, demo, fake_platform, clock)
    st, bad = create(srv, {"email": e1})
    assert st == 201
    wait_until(lambda: "erasure failed, will retry" in srv.stderr(), "a first failure",
               srv=srv)
    # While the first one fails, the next person's request goes through.
    st, good = create(srv, {"email": e2})
    assert st == 201
    done = wait_state(srv, good["id"], FINAL, timeout=10)
    assert done["state"] == "completed_with_retention", done
    assert app_get(srv, bad["id"])["state"] in ("running", "failed")


# ---- 1. deadline warnings on the test clock --------------------------------------------------

def test_deadline_warnings(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [
        policy("short", review=True, deadline="3d", sources=["app"]),
        policy("long", review=True, deadline="10d", sources=["operator"]),
    ], warn_before="2d")
    srv = start(servers, demo, fake_platform, clock)
    (u1, e1), (u2, e2) = users(demo, 2)
    st, a = create(srv, {"email": e1}, verified=True)
    assert st == 201 and a["state"] == "awaiting_review"
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "email=" + e2,
                       "--json")
    assert rc == 0, err
    b = json.loads(out)
    assert b["policy"] == "long"

    def warned(code):
        return log_count(srv.stderr(), demo, code,
                         r" \(awaiting_review, \w+\) is (?:due in|overdue)")

    time.sleep(1.5)
    assert warned(a["id"]) == 0 and warned(b["id"]) == 0
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h", "--json")
    assert rc == 0 and json.loads(out)["requests"] == [], out

    # A is due within 2 days: warned once, listed; B not yet.
    clock.advance(25 * HOUR)
    wait_until(lambda: warned(a["id"]) == 1, "a warning for A", srv=srv)
    assert log_count(srv.stderr(), demo, a["id"],
                     r" \(awaiting_review, app\) is due in 4[67] hours") == 1
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h", "--json")
    assert rc == 0, err
    assert [r["id"] for r in json.loads(out)["requests"]] == [a["id"]]
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h")
    assert rc == 0 and a["id"] in out and b["id"] not in out, out

    # Both past due: B, never warned, is reported overdue; A is not warned again.
    clock.advance(10 * DAY)
    wait_until(lambda: warned(b["id"]) == 1, "a warning for B", srv=srv)
    assert log_count(srv.stderr(), demo, b["id"],
                     r" \(awaiting_review, operator\) is overdue") == 1
    time.sleep(2.2)
    assert warned(a["id"]) == 1 and warned(b["id"]) == 1
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h", "--json")
    listed = json.loads(out)["requests"]
    assert [r["id"] for r in listed] == [a["id"], b["id"]]  # overdue first, by due date
    assert all(r["overdue"] for r in listed)
    assert app_get(srv, a["id"])["overdue"] is True
    assert e1 not in srv.stderr() and e2 not in srv.stderr()
    status, hdrs, data = srv.get("/metrics")
    if b"lethe_requests_overdue" in data:  # /metrics of deadlines (issue 13, item 7)
        assert re.search(rb"^lethe_requests_overdue 2$", data, re.M), data

    # An operator extends A's deadline by 30 days: no longer overdue, and warned again
    # once the new due date nears.
    rc, out, err = cli(demo, clock, "extend", a["id"], "--by", "30d", "--reason",
                       "complex request", "--json")
    assert rc == 0, err
    ext = json.loads(out)
    assert ext["state"] == "awaiting_review" and ext["overdue"] is False, ext
    assert ext["events"][-1]["state"] == "extended"
    assert ext["events"][-1]["reason"] == "complex request"
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h", "--json")
    assert [r["id"] for r in json.loads(out)["requests"]] == [b["id"]]
    time.sleep(1.5)
    assert warned(a["id"]) == 1
    clock.advance(22 * DAY)  # A due in about 1.5 days
    wait_until(lambda: warned(a["id"]) == 2, "a warning for A's new deadline", srv=srv)
    assert warned(b["id"]) == 1


# ---- 4. the repeat rule ----------------------------------------------------------------------

def test_repeat_of_open_request_is_that_request(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", grace="1d", deadline="2d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)

    both = {"email": email, "user_id": str(uid)}
    st, first = create(srv, both, verified=True)
    assert st == 201
    code = first["id"]
    # The same person (the same identities, in any order), kind and scope while open:
    # the same request, 200, and nothing changes.
    for ids in (both, {"user_id": str(uid), "email": email}):
        st, again = create(srv, ids, verified=True)
        assert st == 200 and again["id"] == code and again["state"] == "scheduled", again
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "user_id=%d" % uid,
                       "--id", "email=" + email, "--json")
    assert rc == 0 and json.loads(out)["id"] == code, out
    assert states_of(app_get(srv, code)) == ["received", "scheduled"]
    assert demo.state("SELECT count(*) FROM requests")[0][0] == 1

    clock.advance(DAY + 1)
    done = wait_state(srv, code, FINAL)
    assert done["state"] == "completed_with_retention", done
    # Finished: a repeat is a new request.
    st, fresh = create(srv, both, verified=True)
    assert st == 201 and fresh["id"] != code, fresh
    assert app_get(srv, code)["state"] == "completed_with_retention"

