# SPDX-License-Identifier: MIT
"""The sweeper inside `lethe serve`: it wakes when the (test) clock moves, removes
exactly the expired rows and their media files, ends legal holds on time, and
reports backlog, lag, rows and pass times in /metrics.  Every test runs on both
backends (the backend fixture: app database and state store on SQLite, then on
PostgreSQL)."""
import signal
import time

import pytest

from lethe_e2e import check_sanitizer, media_files, popen_lethe, query, run_lethe, snapshot
from serve_helpers import TSCALE, servers, set_config, stop_ok  # noqa: F401
from sweep_helpers import DAY, DEMO_NOW, DEMO_TTLS, expired_ids, fmt, parse
from test_serve_ops import metric

pytestmark = pytest.mark.usefixtures("backend")


def metrics(srv):
    status, _, data = srv.get("/metrics")
    assert status == 200
    return data.decode()


def wait_metric(srv, pred, what, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    text = ""
    while time.monotonic() < deadline:
        text = metrics(srv)
        if pred(text):
            return text
        time.sleep(0.05)
    pytest.fail("timed out waiting for %s; /metrics:\n%s\n%s" % (what, text, srv.stderr()))


def rows_total(text):
    return {t: metric(text, "lethe_sweep_rows_total", {"table": t, "action": "delete"})
            for t in DEMO_TTLS}


def earliest_expiry(db):
    """The first instant at which some row of a TTL table expires."""
    firsts = []
    for t, (col, after, cond) in DEMO_TTLS.items():
        v = query(db, 'SELECT min("%s") FROM "%s" WHERE %s' % (col, t, cond))[0][0]
        firsts.append(parse(v) + after)
    return min(firsts)


def test_serve_sweeps_when_the_clock_moves(demo, servers, tmp_path):  # noqa: F811
    set_config(demo, r"^  enabled: false", "  enabled: true")
    clock = tmp_path / "clock"
    quiet = earliest_expiry(demo.db)  # strictly older than cutoff: nothing yet
    clock.write_text("%d\n" % quiet)
    before = snapshot(demo.db)
    files = media_files(demo.media)
    srv = servers(demo, env={"LETHE_TEST_NOW": "file:%s" % clock})
    text = wait_metric(srv, lambda m: (metric(m, "lethe_sweep_passes_total") or 0) >= 2,
                       "two sweep passes")
    assert all(v == 0 for v in rows_total(text).values())
    assert snapshot(demo.db) == before

    # What will expire, read before the clock moves (the sweeper wakes at once then).
    expected = {t: expired_ids(demo.db, t, DEMO_NOW) for t in DEMO_TTLS}
    cached = {r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE cached = 1 "
                                            "AND created_at < ?", (fmt(DEMO_NOW - 30 * DAY),))}
    want = {t: len(ids) for t, ids in expected.items()}
    clock.write_text("%d\n" % DEMO_NOW)
    text = wait_metric(srv, lambda m: rows_total(m) == want, "the expired rows", timeout=5)
    after = snapshot(demo.db)
    for t, ids in expected.items():
        assert set(after[t]) == set(before[t]) - ids, t
    assert media_files(demo.media) == files - cached
    # Measured after the pass: nothing left behind, no lag.
    text = wait_metric(srv, lambda m: all(
        metric(m, "lethe_sweep_backlog_rows", {"table": t}) == 0 for t in DEMO_TTLS),
        "backlog 0")
    for t in DEMO_TTLS:
        assert metric(text, "lethe_sweep_lag_seconds", {"table": t}) == 0
    assert metric(text, "lethe_sweep_media_files_total", {"table": "media"}) == len(cached)
    assert metric(text, "lethe_sweep_pass_seconds_max") > 0
    assert 0 < metric(text, "lethe_sweep_transaction_seconds_max") < 5
    stop_ok(srv)


def test_serve_releases_holds_when_they_end(demo, servers, tmp_path):  # noqa: F811
    set_config(demo, r"^  enabled: false", "  enabled: true")
    clock = tmp_path / "clock"
    clock.write_text("%d\n" % DEMO_NOW)
    srv = servers(demo, env={"LETHE_TEST_NOW": "file:%s" % clock})
    # An account closure through the CLI while the server (and its sweeper) runs.
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=user3@example.com", "--json", "--no-progress",
                               env={"LETHE_TEST_NOW": "file:%s" % clock})
    assert code == 0, err
    holds = demo.state("SELECT row_key, until FROM holds")
    assert holds
    last = max(u for _, u in holds)
    keys = {int(k[2:]) for k, _ in holds}
    due = {int(k[2:]) for k, u in holds if u <= last - 1}
    assert len(due) < len(keys)
    clock.write_text("%d\n" % (last - 1))
    text = wait_metric(srv, lambda m: metric(m, "lethe_sweep_holds_released_total")
                       == len(due), "the holds ended by then released")
    passes = metric(text, "lethe_sweep_passes_total")
    text = wait_metric(srv, lambda m: metric(m, "lethe_sweep_passes_total") >= passes + 3,
                       "three more passes")
    left = {r[0] for r in query(demo.db, "SELECT id FROM invoices")}
    assert not (left & due) and (keys - due) <= left
    assert metric(text, "lethe_sweep_holds_released_total") == len(due)
    clock.write_text("%d\n" % last)
    text = wait_metric(srv, lambda m: metric(m, "lethe_sweep_holds_released_total")
                       == len(holds), "the last hold released")
    assert metric(text, "lethe_sweep_hold_rows_total") == len(holds)
    assert not ({r[0] for r in query(demo.db, "SELECT id FROM invoices")} & keys)
    assert demo.state("SELECT count(*) FROM holds") == [(0,)]
    stop_ok(srv)


def test_serve_without_sweep_has_no_sweep_metrics(demo, servers):  # noqa: F811
    before = snapshot(demo.db)
    srv = servers(demo, env={"LETHE_TEST_NOW": str(DEMO_NOW)})
    text = metrics(srv)
    assert "lethe_sweep_" not in text
    time.sleep(0.3)
    assert snapshot(demo.db) == before  # sweep.enabled: false in the demo
    stop_ok(srv)


def test_sweep_command_runs_until_sigterm(demo):
    """`lethe sweep` without --once: the sweeper loop, even with sweep.enabled false."""
    expected = {t: expired_ids(demo.db, t, DEMO_NOW) for t in DEMO_TTLS}
    p = popen_lethe("sweep", "-c", demo.config, env={"LETHE_TEST_NOW": str(DEMO_NOW)})
    try:
        first = p.stdout.readline()
        assert first.startswith("lethe: sweeping 6 tables every 1s"), first
        deadline = time.monotonic() + 10 * TSCALE
        while time.monotonic() < deadline:
            if all(not (set(snapshot(demo.db)[t]) & ids) for t, ids in expected.items()):
                break
            time.sleep(0.05)
        for t, ids in expected.items():
            assert not (set(snapshot(demo.db)[t]) & ids), t
        for sig in (signal.SIGHUP, signal.SIGUSR1):  # logged and ignored, not a stop
            p.send_signal(sig)
            time.sleep(0.2 * TSCALE)
            assert p.poll() is None, f"lethe sweep died on {sig!r}"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10 * TSCALE)
        assert p.returncode == 0, err
        check_sanitizer(err)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=10)


def test_serve_warns_about_unindexed_ttl_column(demo, servers):  # noqa: F811
    set_config(demo, r"^  enabled: false", "  enabled: true")
    demo.execute("DROP INDEX comments_created_at_idx")
    srv = servers(demo, env={"LETHE_TEST_NOW": str(DEMO_NOW - 800 * DAY)})
    deadline = time.monotonic() + 5 * TSCALE
    want = 'CREATE INDEX comments_created_at_idx ON "comments" ("created_at");'
    while time.monotonic() < deadline and want not in srv.stderr():
        time.sleep(0.05)
    assert want in srv.stderr()
    assert srv.stderr().count("CREATE INDEX") == 1
    stop_ok(srv)
