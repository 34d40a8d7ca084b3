# SPDX-License-Identifier: MIT
"""SIGKILL of `lethe serve` at each transition of a privacy request, then a restart.

A transition is stored before it is answered and the effects a policy applies (or
undoes) are recorded as due before the runner carries them out (docs/requests.md,
"Crash safety"): after a SIGKILL right after the answer, during the grace period,
while the erasure runs, after a cancel whose undoing is due, or after a request
failed, the restarted server takes each request on to where it should end, with
nothing lost and nothing done twice.  To hold effects "due" at the moment of the
kill, the test keeps a write transaction open on app.db (the runner cannot write and
tries again later); the erasure that is killed while running is the demo's heavy
user with small batches.
"""
import collections
import json
import signal
import sqlite3
import time

import pytest

from fake_platform import fake_platform  # noqa: F401
from request_helpers import (
    DAY,
    FINAL,
    Clock,
    admin_act,
    app_act,
    app_get,
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
from disconnect_helpers import serve_env
from lethe_e2e import query
from serve_helpers import servers  # noqa: F401

HEAVY_ROWS = 60000
DEMO_OPTIONS = ["--users", "12", "--seed", "7", "--heavy", str(HEAVY_ROWS)]
CLOSURE = "close-account"


class AppLock:
    """A write transaction held on app.db: lethe's writes wait, then are retried."""

    def __init__(self, demo):
        self.con = sqlite3.connect(str(demo.db), timeout=10, isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.execute("ROLLBACK")
        self.con.close()


def kill(srv):
    srv.stop(signal.SIGKILL)


def revokes(fake):
    """The upstream calls the fake received, as a Counter of (platform, method, path)."""
    return collections.Counter((c.platform, c.method, c.path) for c in fake.calls())


def channels_with_tokens(demo, uid):
    return [r[0] for r in query(
        demo.db, "SELECT c.id FROM channels c JOIN projects p ON p.id = c.project_id "
                 "WHERE p.user_id = ? AND c.access_token IS NOT NULL", (uid,))]


def wait_upstream_settled(demo, fake, srv, n_channels):
    """Wait until the outbox is idle and the fake saw at least one call per channel."""
    wait_until(lambda: len(fake.calls()) >= n_channels, "the revocations upstream", srv=srv)
    wait_until(lambda: demo.state("SELECT count(*) FROM outbox WHERE state IN "
                                  "('pending', 'retrying', 'running')")[0][0] == 0,
               "the outbox idle", srv=srv)


# ---- after the answer, with the effects due ---------------------------------------------

@pytest.mark.parametrize("via", ["create", "approve", "create-unheld"])
def test_kill_after_accept_effects_applied_once(demo, fake_platform, servers, tmp_path, via):
    """Killed right after the answer that made the effects due: after the restart they are
    carried out exactly once (with "create-unheld" the kill races the runner, which may
    have applied them already)."""
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", review=(via == "approve"), grace="7d", deadline="8d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    chans = channels_with_tokens(demo, uid)
    assert chans

    if via == "approve":
        st, req = create(srv, {"email": email}, verified=True)
        assert st == 201 and req["state"] == "awaiting_review", req
        code = req["id"]
    if via == "create-unheld":
        st, req = create(srv, {"email": email}, verified=True)
        kill(srv)
        assert st == 201 and req["state"] == "scheduled", req
        code = req["id"]
        assert request_row(demo, code)[:2] in (("scheduled", 1), ("scheduled", 2))
        pre = request_row(demo, code)[1]  # 1: the effects are due, 2: the runner was first
    else:
        lock = AppLock(demo)
        try:
            if via == "create":
                st, req = create(srv, {"email": email}, verified=True)
                assert st == 201 and req["state"] == "scheduled", req
                code = req["id"]
            else:
                st, req = admin_act(srv, code, "approve")
                assert st == 200 and req["state"] == "scheduled", req
            # Answered: stored, with its effects due (not yet carried out).
            assert request_row(demo, code)[:2] == ("scheduled", 1)
            kill(srv)
            pre = 1
        finally:
            lock.release()
        assert user_status(demo, uid) == "active" and live_tokens(demo, uid) == len(chans)
        assert fake_platform.calls() == []

    srv = start(servers, demo, fake_platform, clock)
    wait_until(lambda: request_row(demo, code)[1] == 2, "effects applied", srv=srv)
    assert user_status(demo, uid) == "closing" and live_tokens(demo, uid) == 0
    wait_upstream_settled(demo, fake_platform, srv, len(chans))
    calls = revokes(fake_platform)
    assert all(n == 1 for n in calls.values()), calls  # no call made twice
    req = app_get(srv, code)
    assert req["state"] == "scheduled" and states_of(req).count("scheduled") == 1, req
    assert log_count(srv.stderr(), demo, code, ": effects applied") == (pre == 1)

    # The grace period ends: it runs, once.
    clock.advance(7 * DAY + 1)
    req = wait_state(srv, code, FINAL)
    assert req["state"] == "completed_with_retention", req
    assert states_of(req)[-2:] == ["running", "completed_with_retention"]
    assert person_rows(demo, uid)["users"] == 0
    assert revokes(fake_platform) == calls


def test_kill_with_disconnect_staged_recovered_at_restart(demo, fake_platform, servers,
                                                          tmp_path):
    """Killed after the runner staged a channel's disconnect in the state store but before
    its app commit (a TEST crash point, the window CI once hit by chance): the restarted
    server redoes that disconnect at once, because its owner is dead, not after an age the
    test clock never reaches, and the request's effects are applied, each revoke once."""
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", review=False, grace="7d", deadline="8d", effects=[CLOSURE])])
    env = serve_env(fake_platform)
    env.update(clock.env())
    env["LETHE_TEST_CRASH"] = "disconnect-staged"
    srv = servers(demo, env=env)
    (uid, email), = users(demo, 1)
    chans = channels_with_tokens(demo, uid)
    assert chans

    try:  # the kill may come before or after the answer, as effects are applied
        create(srv, {"email": email}, verified=True)
    except (OSError, ValueError):
        pass
    wait_until(lambda: srv.proc.poll() is not None, "the crash point reached", srv=srv)
    assert srv.proc.returncode == -signal.SIGKILL, srv.stderr()
    (code,), = demo.state("SELECT code FROM requests")
    staged = demo.state("SELECT count(*) FROM channel_disconnects WHERE state = 'staged'")
    assert staged[0][0] == 1
    assert live_tokens(demo, uid) == len(chans) and fake_platform.calls() == []

    srv = start(servers, demo, fake_platform, clock)  # the clock has not moved
    wait_until(lambda: request_row(demo, code)[1] == 2, "effects applied", srv=srv)
    assert user_status(demo, uid) == "closing" and live_tokens(demo, uid) == 0
    assert "in progress" not in srv.stderr()
    assert demo.state("SELECT count(*) FROM channel_disconnects WHERE state = 'staged'") \
        == [(0,)]
    wait_upstream_settled(demo, fake_platform, srv, len(chans))
    calls = revokes(fake_platform)
    assert calls and all(n == 1 for n in calls.values()), calls


# ---- during the grace period ----------------------------------------------------------------

def test_kill_during_grace(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", grace="3d", deadline="4d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (u1, e1), (u2, e2) = users(demo, 2)
    inv1 = invoice_ids(demo, u1)
    codes = []
    for e in (e1, e2):
        st, req = create(srv, {"email": e}, verified=True)
        assert st == 201
        codes.append(req["id"])
    wait_until(lambda: all(request_row(demo, c)[1] == 2 for c in codes), "effects applied",
               srv=srv)
    n_chans = len(fake_platform.calls())
    wait_upstream_settled(demo, fake_platform, srv, n_chans)
    calls = revokes(fake_platform)
    grace = [app_get(srv, c)["grace_until"] for c in codes]
    clock.advance(DAY)
    kill(srv)

    srv = start(servers, demo, fake_platform, clock)
    time.sleep(1.5)
    for c, g in zip(codes, grace):
        req = app_get(srv, c)
        assert req["state"] == "scheduled" and req["grace_until"] == g, req
    assert revokes(fake_platform) == calls  # the effects are not applied again
    assert user_status(demo, u1) == "closing" and user_status(demo, u2) == "closing"
    # After the restart one is cancelled, the other runs when its grace ends.
    st, req = app_act(srv, codes[1], "cancel")
    assert st == 200 and req["state"] == "cancelled"
    wait_until(lambda: user_status(demo, u2) == "active", "effect undone", srv=srv)
    clock.advance(2 * DAY + 1)
    done = wait_state(srv, codes[0], FINAL)
    assert done["state"] == "completed_with_retention", done
    assert states_of(done) == ["received", "scheduled", "running", "completed_with_retention"]
    assert person_rows(demo, u1) == {"users": 0, "projects": 0, "channels": 0, "posts": 0,
                                     "invoices": 0}
    assert query(demo.db, "SELECT count(*) FROM invoices WHERE id IN (%s)"
                 % ",".join(str(i) for i in inv1))[0][0] == len(inv1)
    assert app_get(srv, codes[1])["state"] == "cancelled"
    assert person_rows(demo, u2)["users"] == 1


# ---- while the erasure runs --------------------------------------------------------------

def test_kill_while_running(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    # Small batches: the heavy user's erasure takes a second or more.
    text = demo.config.read_text().replace("batch_rows: 0 ", "batch_rows: 50 ")
    assert "batch_rows: 50 " in text
    demo.config.write_text(text)
    heavy = query(demo.db, "SELECT id FROM users WHERE email = 'heavy@example.com'")[0][0]
    inv = invoice_ids(demo, heavy)
    srv = start(servers, demo, fake_platform, clock)

    st, req = create(srv, {"email": "heavy@example.com"})
    assert st == 201, req
    code = req["id"]
    # Killed once some batches are done, not all.
    wait_until(lambda: (demo.state("SELECT sum(done) FROM job_steps")[0][0] or 0) > 0,
               "the erasure under way", srv=srv)
    kill(srv)
    assert request_row(demo, code)[0] == "running", "the erasure ended too soon to kill it"
    assert person_rows(demo, heavy)["users"] == 1

    srv = start(servers, demo, fake_platform, clock)
    assert srv.status_json(code)["state"] in ("running", "completed_with_retention")
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] == "completed_with_retention", req
    assert states_of(req) == ["received", "scheduled", "running", "completed_with_retention"]
    assert person_rows(demo, heavy) == {"users": 0, "projects": 0, "channels": 0, "posts": 0,
                                        "invoices": 0}
    assert query(demo.db, "SELECT count(*) FROM invoices WHERE id IN (%s) AND user_id IS NULL"
                 % ",".join(str(i) for i in inv))[0][0] == len(inv)
    # One job, resumed; its result is the whole erasure.
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    assert request_row(demo, code)[2] == 0
    assert srv.status_json(code)["state"] == "completed_with_retention"
    doc = show(demo, clock, code)
    assert doc["state"] == "completed_with_retention"
    assert any(c["category"] == "billing" and c["retained"] == len(inv)
               for c in doc["result"]["categories"]), doc["result"]


# ---- after a cancel whose undoing is due -----------------------------------------------------

@pytest.mark.parametrize("act", ["cancel", "refuse"])
def test_kill_after_cancel_undo_due(demo, fake_platform, servers, tmp_path, act):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", grace="3d", deadline="4d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    before = person_rows(demo, uid)
    st, req = create(srv, {"email": email}, verified=True)
    assert st == 201
    code = req["id"]
    wait_until(lambda: request_row(demo, code)[1] == 2, "effects applied", srv=srv)
    assert user_status(demo, uid) == "closing"

    lock = AppLock(demo)
    try:
        if act == "cancel":
            st, req = app_act(srv, code, "cancel", {"reason": "changed my mind"})
        else:
            st, req = admin_act(srv, code, "refuse", {"reason": "open dispute"})
        assert st == 200 and req["state"] == ("cancelled" if act == "cancel" else "refused")
        # Stored with the undoing due and the identity kept for it.
        state, effects, boxlen = request_row(demo, code)
        assert effects == 3 and boxlen > 0, (state, effects, boxlen)
        kill(srv)
    finally:
        lock.release()
    assert user_status(demo, uid) == "closing"

    srv = start(servers, demo, fake_platform, clock)
    wait_until(lambda: user_status(demo, uid) == "active", "effect undone", srv=srv)
    wait_until(lambda: request_row(demo, code)[1:] == (0, 0), "identity wiped", srv=srv)
    clock.advance(3 * DAY + 1)
    time.sleep(1.5)
    req = app_get(srv, code)
    assert req["state"] == ("cancelled" if act == "cancel" else "refused"), req
    assert "running" not in states_of(req)
    assert states_of(req).count(req["state"]) == 1
    assert person_rows(demo, uid) == before
    assert srv.status_json(code)["state"] == req["state"]
    assert show(demo, clock, code)["events"][-1]["reason"] in ("changed my mind",
                                                                "open dispute")


# ---- after a request failed -------------------------------------------------------------------

def test_kill_after_failed_stays_failed(demo, fake_platform, servers, tmp_path):
    """A failed request waits for the operator's retry: a restart does not run it again
    behind the history's back."""
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    (uid, email), = users(demo, 1)
    con = sqlite3.connect(str(demo.db))
    con.execute("CREATE TRIGGER e2e_block BEFORE DELETE ON users "
                "BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END")
    con.commit()
    con.close()
    srv = start(servers, demo, fake_platform, clock)
    st, req = create(srv, {"email": email})
    assert st == 201
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] == "failed", req
    hist = states_of(req)
    kill(srv)
    con = sqlite3.connect(str(demo.db))
    con.execute("DROP TRIGGER e2e_block")
    con.commit()
    con.close()

    srv = start(servers, demo, fake_platform, clock)
    time.sleep(1.5)
    req = app_get(srv, code)
    assert req["state"] == "failed" and states_of(req) == hist, req
    assert person_rows(demo, uid)["users"] == 1
    rc = admin_act(srv, code, "retry", {"reason": "fixed"})
    assert rc[0] == 200, rc
    req = wait_state(srv, code, FINAL)
    assert req["state"] == "completed_with_retention", req
    assert states_of(req) == hist + ["scheduled", "running", "completed_with_retention"]
    assert json.dumps(req).count('"failed"') == 1
