# SPDX-License-Identifier: MIT
"""The outbox of channel disconnects: retries, timeouts, dead letters, restarts.

  - 500 twice then success: three calls, the job ends revoked after backoffs;
  - a hanging platform: the call times out and is retried;
  - "already revoked" counts as success;
  - a platform that always fails: after outbox.max_attempts the job is a dead letter,
    visible in /metrics and `lethe jobs --dead`, its sealed token dropped;
  - SIGKILL of lethe serve during a call, restart: the job completes exactly once;
  - a double disconnect is idempotent (same state, no second revoke);
  - Meta's deauthorize takes the same wipe path (no upstream call: tokens are dead);
  - `lethe disconnect --timeout` bounds a hanging call and a long purge;
  - a process with another outbox key refuses to act;
  - `lethe jobs`: the API's state names, ISO 8601 times, null where nothing applies.

Every test runs on both backends (the backend fixture: app database and state store on
SQLite, then on PostgreSQL).
"""
import json
import re
import signal
import threading
import time

import pytest

from disconnect_helpers import (
    api,
    channel,
    channel_row,
    configure,
    metric,
    serve_env,
    wait_settled,
    wait_state,
)
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    TSCALE,
    fb_id,
    servers,
    set_config,
    sign_py,
    stop_ok,
)

pytestmark = pytest.mark.usefixtures("backend")


def disconnect(srv, cid):
    status, _, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, (status, st)
    assert st["state"] == "disconnected"
    return st


def disconnect_timeout_1s(demo, fake, ch):
    """`lethe disconnect --timeout 1` of @ch: (status, stdout, stderr, seconds taken)."""
    t0 = time.monotonic()
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(ch["id"]),
                               "--timeout", "1", env=serve_env(fake))
    return code, out, err, time.monotonic() - t0


def test_outbox_500_then_success_retries_with_backoff(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake, base="100ms", cap="400ms")
    fake.error("google", times=2)
    ch = channel(demo, "youtube")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, ch["id"])
    st = wait_settled(srv, ch["id"])
    assert st["revoke"]["state"] == "done", st
    assert st["revoke"]["attempts"] == 3
    calls = fake.calls("google")
    assert [c.status for c in calls] == [500, 500, 200]
    assert all(c.form == {"token": ch["token"]} for c in calls)
    # Full jitter never waits longer than the cap (plus scheduling slack).
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:])]
    assert all(g < 0.4 + 1.5 * TSCALE for g in gaps), gaps
    stop_ok(srv)


def test_outbox_hang_times_out_and_retries(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake, timeout_ms=500)
    fake.hang("tiktok", seconds=20, times=1)
    ch = channel(demo, "tiktok")
    srv = servers(demo, env=serve_env(fake))
    t0 = time.monotonic()
    disconnect(srv, ch["id"])
    st = wait_settled(srv, ch["id"])
    assert st["revoke"]["state"] == "done", st
    assert st["revoke"]["attempts"] == 2
    calls = fake.calls("tiktok")
    assert len(calls) == 2 and calls[1].status == 200
    assert time.monotonic() - t0 < 15 * TSCALE, "the hanging call was not cut by the timeout"
    stop_ok(srv)


def test_outbox_already_revoked_counts_as_success(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    fake.already("google")
    ch = channel(demo, "youtube")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, ch["id"])
    st = wait_settled(srv, ch["id"])
    assert st["revoke"]["state"] == "already_revoked", st
    assert st["revoke"]["attempts"] == 1
    assert len(fake.calls("google")) == 1
    status, _, text = srv.get("/metrics")
    assert metric(text.decode(), "lethe_outbox_dead_letters") == 0
    stop_ok(srv)


def test_outbox_max_attempts_dead_letter(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake, attempts=3, base="20ms", cap="50ms")
    fake.error("linkedin", status=503)
    ch = channel(demo, "linkedin")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, ch["id"])
    st = wait_settled(srv, ch["id"])
    assert st["revoke"]["state"] == "dead", st
    assert st["revoke"]["attempts"] == 3
    assert "gave up after 3 attempts" in st["revoke"]["detail"]
    assert ch["token"] not in json.dumps(st)
    assert len(fake.calls("linkedin")) == 3
    # The token stays wiped locally; the job's sealed copy is gone too.
    assert channel_row(demo, ch["id"])[0] is None
    assert query(demo.state_db, "SELECT count(*) FROM outbox WHERE kind = 'revoke' AND "
                                "box IS NOT NULL")[0][0] == 0
    status, _, text = srv.get("/metrics")
    text = text.decode()
    assert metric(text, "lethe_outbox_jobs", {"kind": "revoke", "state": "dead"}) == 1
    assert metric(text, "lethe_outbox_dead_letters") == 1
    code, out, err = run_lethe("jobs", "-c", demo.config, "--dead", "--json")
    assert code == 0, err
    jobs = [json.loads(line) for line in out.splitlines()]
    assert len(jobs) == 1
    assert jobs[0]["kind"] == "revoke" and jobs[0]["platform"] == "linkedin"
    assert jobs[0]["state"] == "dead" and jobs[0]["attempts"] == 3
    assert jobs[0]["sealed_payload"] is False and jobs[0]["http_status"] == 503
    code, out, err = run_lethe("jobs", "-c", demo.config)
    assert code == 0 and "dead" in out and ch["token"] not in out
    stop_ok(srv)


def test_outbox_sigkill_mid_call_restart_completes_once(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake, lease="60s", timeout_ms=30000)
    fake.hang("google", seconds=30)
    ch = channel(demo, "youtube")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, ch["id"])
    fake.wait_calls(1, "google", timeout=10 * TSCALE)
    wait_state(srv, ch["id"], lambda s: s["revoke"]["state"] == "running", what="running")
    srv.stop(signal.SIGKILL)
    fake.normal("google")
    # The lease would last 60 s, but its process is dead: the job is taken over at once.
    srv2 = servers(demo, env=serve_env(fake))
    st = wait_settled(srv2, ch["id"], timeout=15)
    assert st["revoke"]["state"] == "done", st
    ok = [c for c in fake.calls("google") if c.status == 200]
    assert len(ok) == 1, fake.calls("google")
    assert query(demo.state_db, "SELECT count(*) FROM outbox WHERE kind = 'revoke'")[0][0] == 1
    assert query(demo.state_db, "SELECT state FROM outbox WHERE kind = 'revoke'") == [("done",)]
    stop_ok(srv2)


def test_outbox_double_disconnect_is_idempotent(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    ch = channel(demo, "x")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, ch["id"])
    first = wait_settled(srv, ch["id"])
    jobs = query(demo.state_db, "SELECT count(*) FROM outbox")[0][0]
    status, _, second = api(srv, "POST", "/v1/channels/%d/disconnect" % ch["id"])
    assert status == 200
    assert second == first
    time.sleep(0.3)
    assert len(fake.calls("x")) == 1
    assert query(demo.state_db, "SELECT count(*) FROM outbox")[0][0] == jobs
    # The CLI says the same.
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(ch["id"]),
                               "--json", env=serve_env(fake))
    assert code == 0, err
    assert json.loads(out) == first
    stop_ok(srv)


def test_deauthorize_takes_the_disconnect_wipe_path(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    uid = fb_id(2)
    cid = query(demo.db, "SELECT id FROM channels WHERE platform = 'facebook' AND "
                         "platform_user_id = ?", (uid,))[0][0]
    srv = servers(demo, env=serve_env(fake))
    status, _, body = srv.post_sr("/api/meta/facebook/deauthorize", sign_py(FB_SECRET, uid))
    assert status == 200 and body == b""
    assert channel_row(demo, cid) == (None, None, "revoked")
    status, _, st = api(srv, "GET", "/v1/channels/%d" % cid)
    assert status == 200
    assert st["state"] == "disconnected" and st["source"] == "deauthorize"
    assert st["revoke"]["state"] == "already_revoked"
    assert "purge" not in st and st["unsubscribe"] == []
    time.sleep(0.3)
    assert fake.calls() == [], "Meta's tokens are dead: no upstream call"
    stop_ok(srv)


def test_outbox_concurrent_disconnects_of_one_channel(demo, servers, fake_platform):
    """Eight API calls and two CLI runs at once: one disconnect, one revoke call."""
    fake = fake_platform
    configure(demo, fake)
    ch = channel(demo, "tiktok")
    srv = servers(demo, env=serve_env(fake))
    results, errors = [], []

    def via_api():
        try:
            results.append(api(srv, "POST", "/v1/channels/%d/disconnect" % ch["id"])[0])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def via_cli():
        code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(ch["id"]),
                                   "--no-wait", env=serve_env(fake))
        results.append(code)
        if code != 0:
            errors.append(err)

    threads = [threading.Thread(target=via_api) for _ in range(8)]
    threads += [threading.Thread(target=via_cli) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60 * TSCALE)
    assert not errors, errors
    assert results.count(200) == 8 and results.count(0) == 2, results
    st = wait_settled(srv, ch["id"])
    assert st["revoke"]["state"] == "done", st
    assert len(fake.calls("tiktok")) == 1
    assert query(demo.state_db, "SELECT count(*) FROM channel_disconnects")[0][0] == 1
    assert query(demo.state_db, "SELECT count(*) FROM outbox WHERE kind = 'revoke'")[0][0] == 1
    stop_ok(srv)


def test_cli_disconnect_timeout_bounds_a_hanging_call(demo, fake_platform):
    """--timeout S bounds the whole wait: a call that hangs is cut at the time left (the
    platform timeout is 30 s here), the job stays to be retried, exit status 4."""
    fake = fake_platform
    configure(demo, fake, lease="60s", timeout_ms=30000)
    fake.hang("google", seconds=30)
    ch = channel(demo, "youtube")
    code, out, err, elapsed = disconnect_timeout_1s(demo, fake, ch)
    assert code == 4, (code, out, err)
    assert elapsed < 6 * TSCALE, elapsed
    assert channel_row(demo, ch["id"]) == (None, None, "revoked")
    assert len(fake.calls("google")) == 1
    states = query(demo.state_db, "SELECT state FROM outbox WHERE kind = 'revoke'")
    assert states == [("pending",)], states


def test_cli_refuses_another_outbox_key(demo, fake_platform):
    """The jobs of a state store are sealed under one key: a process with another one (here
    LETHE_OUTBOX_KEY overriding the key file) refuses to act, and nothing changes."""
    fake = fake_platform
    configure(demo, fake)
    a = channel(demo, "x")
    b = channel(demo, "tiktok")
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(a["id"]),
                               "--no-wait", env=serve_env(fake))
    assert code == 0, err
    env = serve_env(fake)
    env["LETHE_OUTBOX_KEY"] = "ab" * 32
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(b["id"]),
                               "--no-wait", env=env)
    assert code != 0
    assert "outbox key" in err and "ab" * 8 not in err
    assert len(err.strip().splitlines()) == 1, err
    assert channel_row(demo, b["id"])[0] == b["token"]
    assert query(demo.state_db, "SELECT count(*) FROM channel_disconnects")[0][0] == 1


def test_cli_disconnect_timeout_stops_a_long_purge(demo, fake_platform):
    """--timeout also bounds the purge: it stops at the first batch boundary past the
    deadline (resumable, the job pending), instead of running to its end."""
    fake = fake_platform
    configure(demo, fake)
    set_config(demo, r"batch_rows: 0\b", "batch_rows: 1")
    ch = channel(demo, "youtube")
    if demo.backend == "postgresql":
        demo.execute("INSERT INTO messages (channel_id, sender_platform_id, sender_name, body, "
                     "received_at) SELECT ?, 'u' || i, 'n', 'b', '2026-01-01 00:00:00+00' "
                     "FROM generate_series(1, 200000) AS n(i)", (ch["id"],))
    else:
        demo.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE "
                     "i < 200000) INSERT INTO messages (channel_id, sender_platform_id, "
                     "sender_name, body, received_at) SELECT ?, 'u' || i, 'n', 'b', "
                     "'2026-01-01 00:00:00' FROM n", (ch["id"],))
    code, out, err, elapsed = disconnect_timeout_1s(demo, fake, ch)
    assert code == 4, (code, out, err)
    assert elapsed < 5 * TSCALE, elapsed
    left = query(demo.db, "SELECT count(*) FROM messages WHERE channel_id = ?",
                 (ch["id"],))[0][0]
    assert 0 < left < 200000, left
    assert query(demo.state_db, "SELECT state FROM outbox WHERE kind = 'purge'") == [
        ("pending",)]


ISO_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_cli_jobs_states_times_and_nulls(demo, servers, fake_platform):
    """`lethe jobs` shows the API's job states (retrying, already_revoked...), ISO 8601
    UTC times, and null in --json where a value does not apply (it showed the stored
    state, "YYYY-MM-DD HH:MM:SS", "-" and 0)."""
    fake = fake_platform
    configure(demo, fake, base="1h", cap="1h", attempts=6)
    fake.error("linkedin", status=503)
    fake.already("google")
    li, yt = channel(demo, "linkedin"), channel(demo, "youtube")
    srv = servers(demo, env=serve_env(fake))
    disconnect(srv, li["id"])
    disconnect(srv, yt["id"])
    wait_state(srv, li["id"], lambda st: st["revoke"]["state"] == "retrying", what="retrying")
    api_yt = wait_settled(srv, yt["id"])
    assert api_yt["revoke"]["state"] == "already_revoked", api_yt
    stop_ok(srv)

    code, out, err = run_lethe("jobs", "-c", demo.config, "--json")
    assert code == 0, err
    jobs = [json.loads(line) for line in out.splitlines()]
    for j in jobs:
        assert set(j) == {"id", "disconnect", "kind", "platform", "state", "outcome",
                          "attempts", "next_try", "finished_at", "http_status", "reason",
                          "sealed_payload"}, j
        for k in ("platform", "outcome", "reason"):
            assert j[k] is None or (isinstance(j[k], str) and j[k]), (k, j)
        for k in ("next_try", "finished_at"):
            assert j[k] is None or re.fullmatch(ISO_RE, j[k]), (k, j)
        assert j["http_status"] is None or j["http_status"] >= 100, j
    revokes = {j["platform"]: j for j in jobs if j["kind"] == "revoke"}
    r = revokes["linkedin"]
    assert r["state"] == "retrying" and r["attempts"] == 1 and r["http_status"] == 503, r
    assert re.fullmatch(ISO_RE, r["next_try"]) and r["finished_at"] is None, r
    r = revokes["google"]
    assert r["state"] == "already_revoked" and r["next_try"] is None, r
    assert re.fullmatch(ISO_RE, r["finished_at"]), r
    # The same names as the API's channel state, job by job.
    assert r["state"] == api_yt["revoke"]["state"]

    def listed(*args):
        code, out, err = run_lethe("jobs", "-c", demo.config, "--json", *args)
        assert code == 0, err
        return [json.loads(line)["id"] for line in out.splitlines()]

    assert listed("--state", "retrying") == [revokes["linkedin"]["id"]]
    assert listed("--state", "already_revoked") == [revokes["google"]["id"]]
    assert revokes["linkedin"]["id"] not in listed("--state", "pending")
    assert revokes["google"]["id"] not in listed("--state", "done")
    code, out, err = run_lethe("jobs", "-c", demo.config)
    assert code == 0, err
    line = [x for x in out.splitlines() if " retrying " in x]
    assert len(line) == 1 and re.search(ISO_RE, line[0]), out
    assert li["token"] not in out and yt["token"] not in out
