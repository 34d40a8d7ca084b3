# SPDX-License-Identifier: MIT
"""`lethe serve`: a data deletion interrupted by SIGKILL or SIGTERM resumes at the next
start, and its confirmation code then reaches 'completed' with the data gone.

The heavy demo user (heavy@example.com) owns tens of thousands of rows under its
Instagram channel (and as many under its Facebook one).  The tests set
erase.batch_rows to a small fixed size so that such an erasure lasts long enough
(hundreds of ms) to be interrupted reliably.

Also here, since they need a long erasure: progress on the status page while running,
callbacks answered during a long erasure, and import-meta-ids beside a running server.

The restarts (SIGKILL, SIGTERM) and the callbacks during a long erasure run on both
backends (the backend fixture: app database and state store on SQLite, then on
PostgreSQL); the progress page and the import stay on SQLite (no backend matter in
them that the others do not cover, and the heavy demo is costly).
"""
import json
import os
import signal
import threading
import time

import pytest

from lethe_e2e import SANITIZED, check_sanitizer, popen_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    TSCALE,
    assert_code,
    category_counts,
    expected_after,
    fb_id,
    ig_id,
    intake_log,
    meta_requests,
    person_rows,
    public_url,
    query,
    reported_counts,
    servers,
    set_config,
    sign_py,
    state_store_bytes,
    stop_ok,
)

HEAVY_ROWS = 50000 if SANITIZED else 200000
DEMO_OPTIONS = ["--users", "4", "--seed", "3", "--heavy", str(HEAVY_ROWS)]
# On PostgreSQL each batch is a round trip: 20000 rows still take seconds at BATCH_ROWS
# a batch, and the snapshots stay small.
PG_DEMO_OPTIONS = ["--users", "4", "--seed", "3", "--heavy", "20000"]
BATCH_ROWS = 10


def heavy_instagram_id(db):
    rows = query(db, "SELECT c.platform_user_id FROM channels c JOIN projects p ON "
                     "p.id = c.project_id JOIN users u ON u.id = p.user_id WHERE "
                     "u.email = 'heavy@example.com' AND c.platform = 'instagram'")
    assert len(rows) == 1, rows
    return rows[0][0]


def remaining(db, removed):
    """How many of the rows in @removed are still in @db."""
    n = 0
    for t, ids in removed.items():
        if ids:
            n += len({r[0] for r in query(db, 'SELECT id FROM "%s" WHERE id BETWEEN ? AND ?'
                                          % t, (min(ids), max(ids)))} & ids)
    return n


def request_state(demo, code):
    """The state of request @code: from the state store, or "received" while it is only
    in the intake log (answered, fsynced, not yet moved into the store)."""
    logged = [c for c, _ in intake_log(demo) if c == code]
    rows = [r for r in meta_requests(demo) if r[1] == code]
    assert len(rows) == 1 or (not rows and len(logged) == 1), (rows, logged)
    return rows[0][3] if rows else "received"


def prepare(demo):
    set_config(demo, r"batch_rows: 0\b", "batch_rows: %d" % BATCH_ROWS)
    uid = heavy_instagram_id(demo.db)
    removed = person_rows(demo.db, "instagram", uid)
    assert len(removed["messages"]) > 1000, "the heavy user's channel is too small"
    return uid, removed


def wait_partly_erased(demo, removed):
    """Wait (bounded) until the erasure is under way: some rows gone, not all."""
    total = sum(len(v) for v in removed.values())
    deadline = time.monotonic() + 10 * TSCALE
    while True:
        left = remaining(demo.db, removed)
        if left < total or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert 0 < left < total, "the erasure did not start in time (or finished): %d" % left
    return left


def wait_stopped(pid):
    """Wait (bounded) until every thread of @pid is stopped (SIGSTOP is asynchronous)."""
    deadline = time.monotonic() + 5 * TSCALE
    while time.monotonic() < deadline:
        states = set()
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.add(f.read().rsplit(")", 1)[1].split()[0])
        if states <= {"T", "t"}:
            return
        time.sleep(0.001)
    raise AssertionError("lethe did not stop")


def freeze_mid_erasure(pid, demo, removed):
    """Leave lethe stopped (SIGSTOP) with its erasure under way and not done.  It runs in
    slices of a few milliseconds (SIGCONT, sleep, SIGSTOP) until some rows are gone: on a
    fast machine the whole erasure can otherwise finish between two looks at the rows.
    Returns the rows left."""
    total = sum(len(v) for v in removed.values())
    deadline = time.monotonic() + 20 * TSCALE
    os.kill(pid, signal.SIGSTOP)
    wait_stopped(pid)
    while True:
        left = remaining(demo.db, removed)
        if 0 < left < total:
            return left
        if left == 0 or time.monotonic() > deadline:
            os.kill(pid, signal.SIGCONT)
            raise AssertionError("the erasure did not start in time (or finished): %d" % left)
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)
        wait_stopped(pid)


def finish_after_restart(demo, servers, snapshot, uid, code, removed, before):
    srv = servers(demo)
    # Meta may retry meanwhile: same code across the restart.
    assert srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"] == code
    st, waited = srv.wait_completed(code, timeout=30)
    print("\nresumed request completed %.2f s after the restart" % waited)
    assert st["state"] == "completed" and st["no_data"] is False, st
    assert remaining(demo.db, removed) == 0
    assert snapshot(demo.db) == expected_after(before, removed)
    # The counts on the status page are exact despite the interruption.
    assert reported_counts(st) == category_counts(removed), st
    assert uid.encode() not in state_store_bytes(demo)
    stop_ok(srv)


@pytest.mark.usefixtures("backend")
def test_serve_restart_after_sigkill_resumes(demo, servers, snapshot):
    uid, removed = prepare(demo)
    before = snapshot(demo.db)
    srv = servers(demo)
    status, _, data = srv.post_sr("/api/meta/instagram/data-deletion", sign_py(IG_SECRET, uid))
    srv.stop(signal.SIGKILL)                 # right after the 200 answer
    assert status == 200, data
    code = assert_code(json.loads(data), public_url(demo))
    # The request was stored before the answer, and was not finished at the kill.
    state = request_state(demo, code)
    left = remaining(demo.db, removed)
    print("\nSIGKILL: request state %r, %d of %d rows left" % (
        state, left, sum(len(v) for v in removed.values())))
    assert state in ("received", "running"), state
    assert left > 0
    # Pending, the person's id is stored only sealed (identity_box), never in the clear.
    assert uid.encode() not in state_store_bytes(demo)
    finish_after_restart(demo, servers, snapshot, uid, code, removed, before)


@pytest.mark.usefixtures("backend")
def test_serve_restart_after_sigterm_mid_job_resumes(demo, servers, snapshot):
    uid, removed = prepare(demo)
    total = sum(len(v) for v in removed.values())
    before = snapshot(demo.db)
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    pid = srv.proc.pid
    frozen_left = freeze_mid_erasure(pid, demo, removed)
    try:
        frozen_state = request_state(demo, code)
    except BaseException:
        os.kill(pid, signal.SIGCONT)
        raise
    if frozen_state != "running" or frozen_left <= 2 * BATCH_ROWS:
        os.kill(pid, signal.SIGCONT)
    assert frozen_state == "running", frozen_state
    assert frozen_left > 2 * BATCH_ROWS, "the erasure was nearly done: %d left" % frozen_left
    t0 = time.monotonic()
    threading.Timer(0.1, os.kill, (pid, signal.SIGCONT)).start()
    stop_ok(srv)                             # graceful stop mid-job, exit 0 quickly
    stopped = time.monotonic() - t0
    left = remaining(demo.db, removed)
    state = request_state(demo, code)
    print("\nSIGTERM mid-job: stopped in %.2f s, request state %r, %d of %d rows left"
          % (stopped, state, left, total))
    assert state in ("received", "running"), state
    assert left > 0, "the job finished before the stop; make the heavy user heavier"
    finish_after_restart(demo, servers, snapshot, uid, code, removed, before)


def test_serve_status_shows_progress_while_running(demo, servers):
    """docs/status-page.md: while the request is still running, the page shows the
    counts so far (caption "(so far)").  Checked once rows are visibly gone."""
    uid, removed = prepare(demo)
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    wait_partly_erased(demo, removed)
    st = srv.status_json(code)
    status, _, body = srv.get("/data-deletion/status?id=" + code)
    html = body.decode()
    assert status == 200
    if st["state"] == "running":
        assert "In progress" in html
        assert any(c["deleted"] > 0 for c in st["categories"]), \
            "rows are being deleted but the status shows no progress: %r" % st
        assert "(so far)" in html
    srv.wait_completed(code, timeout=30)
    stop_ok(srv)


@pytest.mark.usefixtures("backend")
def test_serve_callbacks_during_heavy_erasure(demo, servers):
    """While a long erasure runs, deauthorizations and new requests are still answered
    promptly (the erasure's short transactions let them in)."""
    uid, removed = prepare(demo)
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    wait_partly_erased(demo, removed)
    slowest = 0.0
    for i in range(1, 5):
        t0 = time.monotonic()
        status, _, body = srv.post_sr("/api/meta/facebook/deauthorize",
                                      sign_py(FB_SECRET, fb_id(i)))
        slowest = max(slowest, time.monotonic() - t0)
        assert status == 200 and body == b"", (status, body)
        rows = query(demo.db, "SELECT access_token, status FROM channels WHERE platform = "
                              "'facebook' AND platform_user_id = ?", (fb_id(i),))
        assert rows == [(None, "revoked")], rows
    t0 = time.monotonic()
    other = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, ig_id(2))), public_url(demo))
    slowest = max(slowest, time.monotonic() - t0)
    print("\nslowest callback during the heavy erasure: %.3f s" % slowest)
    assert slowest < 1.0 * TSCALE
    srv.wait_completed(code, timeout=30)
    st, _ = srv.wait_completed(other, timeout=10)
    assert st["no_data"] is False
    stop_ok(srv)


def test_serve_import_while_serving_counts_exact(demo, servers, tmp_path):
    """`import-meta-ids` run while `serve` runs on the same configuration (the operator
    imports Meta's emailed id list on the live host): each request must be processed
    once, and its status must report exactly the rows that went.  While the import is
    erasing the heavy user's Facebook data, a callback (for an id matching nobody)
    wakes the server's job runner, which then sees the imported request too."""
    set_config(demo, r"batch_rows: 0\b", "batch_rows: %d" % BATCH_ROWS)
    rows = query(demo.db, "SELECT c.platform_user_id FROM channels c JOIN projects p ON "
                          "p.id = c.project_id JOIN users u ON u.id = p.user_id WHERE "
                          "u.email = 'heavy@example.com' AND c.platform = 'facebook'")
    assert len(rows) == 1
    uid = rows[0][0]
    removed = person_rows(demo.db, "facebook", uid)
    srv = servers(demo)
    f = tmp_path / "ids.txt"
    f.write_text(uid + "\n")
    proc = popen_lethe("import-meta-ids", "-c", demo.config, "--app", "facebook", f)
    try:
        wait_partly_erased(demo, removed)
        other = srv.deletion("instagram", sign_py(IG_SECRET, "17841999999901"))
        out, err = proc.communicate(timeout=60 * TSCALE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    check_sanitizer(err)
    assert proc.returncode == 0, err
    assert "1 new requests" in out, out
    code = [r[1] for r in meta_requests(demo) if r[2] == "facebook"]
    assert len(code) == 1
    st, _ = srv.wait_completed(code[0], timeout=30)
    srv.wait_completed(other["confirmation_code"], timeout=10)
    assert remaining(demo.db, removed) == 0
    log = srv.stderr()
    stop_ok(srv)
    assert reported_counts(st) == category_counts(removed), \
        "status counts %r, rows actually erased %r; server log:\n%s" % (
            reported_counts(st), category_counts(removed), log)
