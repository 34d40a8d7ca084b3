# SPDX-License-Identifier: MIT
"""`lethe serve` with its state store on a full filesystem (a small tmpfs,
mounted for the test: needs root, which CI has).

The intake log is preallocated, so callbacks are still recorded durably and
answered with a code while the state store cannot be written; each such code
must have its status page (the intake's pending requests), /readyz must say
not ready with a reason, and once space returns everything must reach the
state store and /readyz must say ready again.  The tmpfs is unmounted
whatever happens."""
import errno
import json
import os
import sqlite3
import subprocess
import tempfile
import time

import pytest

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    servers,
    set_config,
    sign_py,
    stop_ok,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs: needs root")

TMPFS_MB = 80  # the intake log's 18 MB, the state store, and READY_MIN_FREE (32 MiB) free


def umount(path):
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        if subprocess.run(args, capture_output=True, timeout=30).returncode == 0:
            return


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % TMPFS_MB,
                        "tmpfs", str(mnt)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "cannot mount a tmpfs: %s" % r.stderr
    try:
        yield mnt
    finally:
        umount(mnt)


def fill(path):
    """Write zeros to @path until the filesystem is full (to the last page)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    if os.write(fd, block) < size:
                        break
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)


def readyz(srv):
    status, hdrs, body = srv.get("/readyz")
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    return status, json.loads(body)


def status_of(srv, code):
    status, hdrs, data = srv.get("/data-deletion/status?id=" + code, accept="application/json")
    return status, (json.loads(data) if data else None)


def metric(srv, name):
    _, _, body = srv.get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_serve_full_disk_codes_keep_their_page_and_readyz_says_so(demo, small_fs, servers):
    state_db = small_fs / "state.db"
    set_config(demo, r"^(\s*)database: var/state.db.*$", r"\1database: %s" % state_db)
    srv = servers(demo)
    try:
        status, body = readyz(srv)
        assert status == 200 and body == {"ready": True}, body

        fill(small_fs / "filler")
        status, body = readyz(srv)
        assert status == 503, body
        assert body["error"]["code"] == "not_ready"
        assert "state store" in body["error"]["message"], body

        codes, refused = [], 0
        for i in range(40):
            st, hdrs, data = srv.post_sr("/api/meta/instagram/data-deletion",
                                         sign_py(IG_SECRET, "99990000%04d" % i))
            if st == 503:
                refused += 1
                continue
            assert st == 200, (st, data)
            codes.append(json.loads(data)["confirmation_code"])
        assert codes, "every callback was refused although the intake log had room"
        # Every code answered has its page: never "does not match any request".
        for code in codes:
            st, page = status_of(srv, code)
            assert st == 200, (code, st, page)
            assert page["state"] in ("received", "running", "completed"), page
        st, hdrs, html = srv.get("/data-deletion/status?id=" + codes[-1])
        assert st == 200 and hdrs["content-type"].startswith("text/html"), (st, html[:300])
        status, body = readyz(srv)
        assert status == 503, body
        # Deauthorizations cannot be recorded: 503 each, and a warning each, rate-limited.
        failed = 0
        for i in range(14):
            st, _, _ = srv.post_sr("/api/meta/instagram/deauthorize",
                                   sign_py(IG_SECRET, "99991000%04d" % i))
            failed += st == 503
        assert failed == 14, failed

        # Space returns: everything reaches the state store, readiness comes back.
        os.unlink(str(small_fs / "filler"))
        deadline = time.monotonic() + 20 * TSCALE
        while True:
            status, body = readyz(srv)
            if status == 200 and metric(srv, "lethe_intake_pending") == 0:
                break
            assert time.monotonic() < deadline, (status, body)
            time.sleep(0.2)
        con = sqlite3.connect("file:%s?mode=ro" % state_db, uri=True, timeout=10)
        try:
            stored = {r[0] for r in con.execute("SELECT code FROM requests")}
        finally:
            con.close()
        assert set(codes) <= stored, set(codes) - stored
        for code in codes:
            st, page = status_of(srv, code)
            assert st == 200, (code, st, page)
        stop_ok(srv)
    finally:
        srv.kill()
    log = srv.stderr()
    # The indexer's and intake's failures are logged, but not once per request or try.
    for what in ("could not be moved into the state store", "intake: cannot write",
                 "repeat lookup failed"):
        assert sum(what in line for line in log.splitlines()) <= 3, (what, log[-3000:])
    deauth = [line for line in log.splitlines() if "deauthorize (instagram)" in line]
    assert 1 <= len(deauth) <= 10, deauth


def test_serve_readyz_says_a_read_only_state_store_is_not_ready(demo, servers):
    """A state store whose filesystem turns read-only (an error remount, a wrong mount):
    /readyz says not ready and why, before any write has to fail; ready again once
    writable.  A read-only bind mount of the directory is put over it (a plain remount
    of a filesystem with files open for writing is refused)."""
    var = demo.state_db.parent
    srv = servers(demo)
    mounted = False
    try:
        status, body = readyz(srv)
        assert status == 200 and body == {"ready": True}, body
        # The kernel refuses to make a mount read-only (EBUSY) while a file is open for
        # writing through it, and lethe may open one (a journal, a probe) at any moment.
        # So the read-only mount is made at a path lethe never uses (a bind of var made
        # read-only there), then bound over var: a bind mount keeps its source's
        # read-only flag, so var is read-only from its first moment, with no race.
        stage = tempfile.mkdtemp(prefix="lethe-ro-")
        try:
            for args in (["mount", "--bind", str(var), stage],
                         ["mount", "-o", "remount,bind,ro", stage],
                         ["mount", "--bind", stage, str(var)]):
                r = subprocess.run(args, capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, (args, r.stderr)
                mounted = mounted or args[-1] == str(var)
        finally:
            umount(stage)
            os.rmdir(stage)
        status, body = readyz(srv)
        assert status == 503, body
        assert "read-only" in body["error"]["message"], body
        assert "state store" in body["error"]["message"], body
        umount(var)
        mounted = False
        status, body = readyz(srv)
        assert status == 200 and body == {"ready": True}, body
        stop_ok(srv)
    finally:
        if mounted:
            umount(var)
        srv.kill()
