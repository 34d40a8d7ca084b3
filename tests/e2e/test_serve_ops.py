# SPDX-License-Identifier: MIT
"""`lethe serve`: /healthz, /readyz, /metrics, start-up and configuration errors."""
import re
import resource
import socket
import subprocess
import threading
import time

import pytest

from demo_helpers import free_port
from lethe_e2e import check_sanitizer, lethe_env, lethe_path
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_ENV,
    IG_SECRET,
    SECRETS_ENV,
    TSCALE,
    ig_id,
    public_url,
    servers,
    set_config,
    sign_py,
    stop_ok,
)


def metric(text, name, labels=None):
    """The value of sample @name{@labels} in a Prometheus text page, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        assert m, "not a Prometheus sample line: %r" % line
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if labels is None or got == labels:
            return float(m.group(3))
    return None


def test_serve_healthz_readyz(demo, servers):
    srv = servers(demo)
    assert srv.first_line.startswith("lethe: serving on port %d;" % srv.port)
    assert public_url(demo) in srv.first_line
    status, hdrs, body = srv.get("/healthz")
    assert status == 200 and body.strip() == b"ok", (status, body)
    status, hdrs, body = srv.get("/readyz")
    assert status == 200, (status, body)
    status, _, _ = srv.request("POST", "/healthz", body=b"")
    assert status == 405
    status, hdrs, body = srv.get("/nope")
    assert status == 404 and hdrs["content-type"].startswith("application/json")
    stop_ok(srv)


def test_serve_request_headers_up_to_7k_and_431_beyond(demo, servers):
    """libmicrohttpd's 16 KiB per connection takes a browser's headers (a
    6 KB cookie) on the status page; 9 KB and 20 KB of headers get 431 (the
    documented limit is about 7.5 KB), and the server goes on answering."""
    srv = servers(demo)
    sr = sign_py(IG_SECRET, ig_id(4))
    code = srv.deletion("instagram", sr)["confirmation_code"]
    path = "/data-deletion/status?id=" + code
    status, hdrs, body = srv.request("GET", path, headers={"Cookie": "c=" + "x" * 6000})
    assert status == 200 and hdrs["content-type"].startswith("text/html"), (status, body[:200])
    for size in (9000, 20000):
        status, _, _ = srv.request("GET", path, headers={"Cookie": "c=" + "x" * size})
        assert status == 431, (size, status)
    status, _, body = srv.get("/healthz")
    assert status == 200 and body.strip() == b"ok"
    stop_ok(srv)


def test_serve_libmicrohttpd_messages_are_capped_and_cut(demo, servers):
    """Each request with too many headers makes libmicrohttpd say so: lethe
    logs at most 10 of its messages a minute, and never a query string."""
    srv = servers(demo)
    path = "/data-deletion/status?id=SECRETCODEXYZ"
    for _ in range(25):
        status, _, _ = srv.request("GET", path, headers={"Cookie": "c=" + "x" * 20000})
        assert status == 431
    status, _, body = srv.get("/healthz")
    assert status == 200
    stop_ok(srv)
    log = srv.stderr()
    lines = [l for l in log.splitlines() if "libmicrohttpd:" in l]
    assert 1 <= len(lines) <= 10, lines
    assert all("431" in l for l in lines), lines  # and nothing about the logger itself
    assert "SECRETCODEXYZ" not in log


def test_serve_raises_its_open_files_limit(demo, servers):
    """Started with the usual soft limit of 1,024 open files, lethe raises it
    to what its 4,096 connections need, so 1,100 connections are served."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4352:
        pytest.skip("hard open files limit %d is below 4,352" % hard)
    # All 1,100 come from 127.0.0.1: over server.max_connections_per_ip's default.
    set_config(demo, r"^server:\n", "server:\n  max_connections_per_ip: 4096\n")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        srv = servers(demo)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with open("/proc/%d/limits" % srv.proc.pid) as f:
        line = [l for l in f if l.startswith("Max open files")][0]
    assert int(line.split()[3]) >= 4352, line
    mine = max(soft, 4096) if hard == resource.RLIM_INFINITY else min(max(soft, 4096), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (mine, hard))  # this side's 1,100 sockets
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10 * TSCALE)
                 for _ in range(1100)]
        status, _, body = srv.get("/healthz", timeout=10)
        assert status == 200 and body.strip() == b"ok"
    finally:
        for so in socks:
            so.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    stop_ok(srv)


def test_serve_metrics(demo, servers):
    srv = servers(demo)
    sr = sign_py(IG_SECRET, ig_id(3))
    code = srv.deletion("instagram", sr)["confirmation_code"]
    assert srv.deletion("instagram", sr)["confirmation_code"] == code
    srv.wait_completed(code)
    code2 = srv.deletion("facebook", sign_py(FB_SECRET, "10229999999902"))["confirmation_code"]
    srv.wait_completed(code2)
    status, _, _ = srv.post_sr("/api/meta/instagram/data-deletion", sign_py(FB_SECRET, "1"))
    assert status == 400
    status, _, _ = srv.post_sr("/api/meta/instagram/deauthorize", sign_py(IG_SECRET, ig_id(4)))
    assert status == 200
    srv.get("/healthz")
    srv.get("/nope")
    # Requests are counted once answered: poll (bounded) until the last ones show.
    deadline = time.monotonic() + 5 * TSCALE
    while True:
        status, hdrs, body = srv.get("/metrics")
        assert status == 200 and hdrs["content-type"].startswith("text/plain"), hdrs
        text = body.decode()
        if (metric(text, "lethe_http_requests_total", {"route": "other", "status": "404"}) or
                time.monotonic() > deadline):
            break
        time.sleep(0.02)
    assert "# TYPE lethe_http_requests_total counter" in text
    assert metric(text, "lethe_http_requests_total",
                  {"route": "meta_data_deletion", "status": "200"}) == 3
    assert metric(text, "lethe_http_requests_total",
                  {"route": "meta_data_deletion", "status": "400"}) == 1
    assert metric(text, "lethe_http_requests_total",
                  {"route": "meta_deauthorize", "status": "200"}) == 1
    assert metric(text, "lethe_http_requests_total", {"route": "healthz", "status": "200"}) == 1
    assert metric(text, "lethe_http_requests_total", {"route": "other", "status": "404"}) == 1
    assert metric(text, "lethe_http_requests_total",
                  {"route": "status", "status": "200"}) >= 2
    # The latency histogram.
    assert "# TYPE lethe_http_request_duration_seconds histogram" in text
    count = metric(text, "lethe_http_request_duration_seconds_count")
    assert count is not None and count >= 8
    assert metric(text, "lethe_http_request_duration_seconds_bucket", {"le": "+Inf"}) == count
    assert metric(text, "lethe_http_request_duration_seconds_sum") is not None
    buckets = [float(v) for v in re.findall(
        r'^lethe_http_request_duration_seconds_bucket\{le="[^"]+"\} (\S+)$', text, re.M)]
    assert len(buckets) >= 5 and buckets == sorted(buckets)
    # Deletion requests by state, and the completion histogram.
    assert metric(text, "lethe_deletion_requests", {"state": "completed"}) == 2
    assert "# TYPE lethe_deletion_completion_seconds histogram" in text
    assert metric(text, "lethe_deletion_completion_seconds_count") == 2
    assert metric(text, "lethe_deletion_completion_seconds_bucket", {"le": "+Inf"}) == 2
    assert metric(text, "lethe_deletion_completion_seconds_sum") is not None
    # The intake: two requests written (the repeat writes nothing), each group fsynced,
    # and both moved on into the state store (they completed, so they are there).
    assert metric(text, "lethe_intake_groups_total") == 2
    assert metric(text, "lethe_intake_syncs_total") == 2
    assert "# TYPE lethe_intake_pending gauge" in text
    assert metric(text, "lethe_intake_pending") == 0
    # No id or code leaks into the metrics.
    for s in (ig_id(3), ig_id(4), code, code2):
        assert s not in text
    stop_ok(srv)


def run_serve_expect_failure(demo, env, port, wait=5, config=None):
    """Run `serve` (with @config, default the demo's) on 127.0.0.1:@port; it must exit
    non-zero at once: (rc, out, err).  Fails as soon as it announces a port instead."""
    full = lethe_env(env)
    for k in [k for k, v in full.items() if v is None]:
        del full[k]
    p = subprocess.Popen([lethe_path(), "serve", "-c", str(config or demo.config), "--listen",
                          "127.0.0.1:%d" % port], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)
    first = []
    reader = threading.Thread(target=lambda: first.append(p.stdout.readline()), daemon=True)
    reader.start()
    reader.join(wait * TSCALE)
    if p.poll() is None and first and first[0]:
        # It announced a port: it serves where it should have refused to start.
        bound = port_open(port)
        p.kill()
        out, err = p.communicate(timeout=10)
        raise AssertionError("serve started (port %d bound: %s) where it should have failed:"
                             "\n%s%s\n%s" % (port, bound, first[0], out, err))
    try:
        out, err = p.communicate(timeout=wait * TSCALE)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise AssertionError("serve neither started nor exited:\n%s\n%s" % (out, err))
    check_sanitizer(err)
    return p.returncode, (first[0] if first else "") + out, err


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_serve_config_error_undeclared_identity(demo):
    set_config(demo, r"identity: instagram_user_id", "identity: threads_user_id")
    port = free_port()
    rc, out, err = run_serve_expect_failure(demo, SECRETS_ENV, port)
    assert rc != 0
    assert "serving on port" not in out
    assert "instagram" in err and "threads_user_id" in err and "not declared" in err, err
    assert "lethe.yaml" in err
    assert not port_open(port)
    for s in (FB_SECRET, IG_SECRET):
        assert s not in err


def test_serve_config_error_missing_secret(demo):
    port = free_port()
    env = dict(SECRETS_ENV)
    env[IG_ENV] = None
    rc, out, err = run_serve_expect_failure(demo, env, port)
    assert rc != 0
    assert "serving on port" not in out
    assert IG_ENV in err and "instagram" in err, err
    assert not port_open(port)
    # An empty secret is no better than none.
    env[IG_ENV] = ""
    rc, out, err = run_serve_expect_failure(demo, env, port)
    assert rc != 0 and "serving on port" not in out and IG_ENV in err, err
    assert not port_open(port)


def test_serve_config_error_undeclared_scope_and_bad_listen(demo):
    set_config(demo, r"scope: meta\s*$", "scope: everything\n")
    port = free_port()
    rc, out, err = run_serve_expect_failure(demo, SECRETS_ENV, port)
    assert rc != 0 and "serving on port" not in out
    assert "everything" in err and "scope" in err, err
    assert not port_open(port)


def test_serve_port_in_use_fails(demo, servers):
    """A second server on the port of a running one must fail ("cannot listen on ...
    (in use ...)"), not share the port: two servers (and two job runners on one state
    store) would split Meta's callbacks between them."""
    srv = servers(demo)
    # Its own state store and export.dir (each locked by the running one), so that the
    # port is what it trips over.
    other = demo.dir / "other-state.yaml"
    text = demo.config.read_text()
    assert "database: var/state.db" in text and "dir: var/exports" in text
    other.write_text(text.replace("database: var/state.db", "database: var/other-state.db")
                     .replace("dir: var/exports", "dir: var/other-exports"))
    rc, out, err = run_serve_expect_failure(demo, SECRETS_ENV, srv.port, config=other)
    assert rc != 0 and "serving on port" not in out
    assert "listen" in err, err
    stop_ok(srv)


def test_serve_second_server_on_one_state_store_fails(demo, servers):
    """A second server on another port but the same state store must not start: its
    intake would replay and overwrite the running server's intake log (which holds
    answered requests not yet in the store).  The first server is unharmed."""
    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, ig_id(3)))["confirmation_code"]
    rc, out, err = run_serve_expect_failure(demo, SECRETS_ENV, free_port())
    assert rc != 0 and "serving on port" not in out
    assert "intake log" in err and "in use" in err, err
    st, _ = srv.wait_completed(code)
    assert st["state"] == "completed", st
    stop_ok(srv)
