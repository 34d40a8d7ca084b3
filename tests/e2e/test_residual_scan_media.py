# SPDX-License-Identifier: MIT
"""The residual scan's objects (docs/proof.md "Media objects"), end to end, on the store
"local" (app.media_root).

The real `lethe serve` erases a person with media files through the app API.  Its
erasure keeps the keys of the objects it removed (media_pending, removed = 1) until the
request's scan has asked the store about each again:
  - a normal erasure: the scan's detail says every file of the person was checked and
    none is there; the receipt (scan.media) says so too; nothing is left in media_pending;
  - a store that cannot say (a symbolic link put in the way of a removed key's directory
    while the erasure runs: the local store neither follows it nor calls the key absent)
    makes the scan fail to run: the request stays running and is taken again; once the
    link is gone, the run ends with the job that erased (no new one), its scan checks
    that job's keys, and forgets them;
  - a file the app writes back at a removed key while the erasure is still running (the
    app's trigger on the users row, which the erasure deletes after the media rows,
    holds the erasure for seconds while the test writes the file): the request fails
    with "the residual scan found 1 media object still in store local", counts only;
    the key is in no API answer, status page, log line, audit chain entry or scans row,
    and media_pending is empty once the request has ended.

Both backends (the backend fixture: app database and state store on SQLite, then on
PostgreSQL).  Remote stores (S3, Cloudinary) have their own tests.
"""
import json
import re
import threading
import time

import pytest

from disconnect_helpers import api
from fake_platform import fake_platform  # noqa: F401
from lethe_e2e import execute, query
from request_helpers import (
    FINAL,
    Clock,
    app_get,
    configure_requests,
    create,
    policy,
    start,
    wait_state,
)
from serve_helpers import servers, stop_ok  # noqa: F401

DEMO_OPTIONS = ["--users", "12", "--seed", "5"]
DONE = ("completed", "completed_with_retention")
BOTH = pytest.mark.usefixtures("backend")
HOLD_S = 3  # how long the app's trigger holds the erasure in the users step


def configure_now(demo, fake):
    """Requests of the account scope run at once (no verification, review or grace)."""
    configure_requests(demo, fake, [policy("now", deadline="2d")])


def person_with_files(demo, least=3):
    """(user id, email, keys of the user's media files that exist) for the user with the
    most files (at least @least)."""
    rows = query(demo.db, "SELECT p.user_id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    on_disk = demo.media_files()
    by_user = {}
    for uid, key in rows:
        if key in on_disk:
            by_user.setdefault(uid, set()).add(key)
    uid = max(by_user, key=lambda u: len(by_user[u]))
    assert len(by_user[uid]) >= least, "the demo should give someone %d media files" % least
    email = query(demo.db, "SELECT email FROM users WHERE id = ?", (uid,))[0][0]
    return uid, email, sorted(by_user[uid])


def scan_row(demo, code):
    rows = demo.state("SELECT s.result, s.rows, s.detail, s.job_id FROM scans s "
                      "JOIN requests r ON r.id = s.request_id WHERE r.code = ?", (code,))
    assert rows, "no scan of request %s" % code
    return {"result": rows[0][0], "rows": rows[0][1], "detail": json.loads(rows[0][2]),
            "job": rows[0][3]}


def scan_rows(demo, code):
    return demo.state("SELECT count(*) FROM scans s JOIN requests r ON r.id = s.request_id "
                      "WHERE r.code = ?", (code,))[0][0]


def pending(demo):
    """Every media_pending row: (job, table, store, key, removed)."""
    return demo.state("SELECT job_id, table_name, store, object_key, removed "
                      "FROM media_pending ORDER BY 1, 2, 3, 4")


def hold_users_delete(demo, uid):
    """The app's trigger on the person's users row holds the erasure HOLD_S seconds, in
    its last step (users is the parent of every table with media: its rows go after the
    media rows, whose files are removed when their batch commits)."""
    if demo.backend == "postgresql":
        demo.db.exec(
            "CREATE FUNCTION e2e_hold() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
            "PERFORM pg_sleep(%d); RETURN old; END $f$; "
            "CREATE TRIGGER e2e_hold AFTER DELETE ON users FOR EACH ROW "
            "WHEN (old.id = %d) EXECUTE FUNCTION e2e_hold()" % (HOLD_S, uid))
        return
    # SQLite has no sleep: a counting query of about HOLD_S seconds.
    execute(demo.db, "CREATE TABLE e2e_held(n INTEGER)")
    execute(demo.db,
            "CREATE TRIGGER e2e_hold AFTER DELETE ON users WHEN old.id = %d BEGIN "
            "INSERT INTO e2e_held WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
            "FROM c WHERE i < 12000000) SELECT count(*) FROM c; END" % uid)


class Replanter(threading.Thread):
    """Writes @key back (other bytes) the moment the erasure has removed it."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self.path.exists():
                self.path.write_bytes(b"written back by the app")
                self.done.set()
                return
            time.sleep(0.002)


def serve_person(demo, fake_platform, servers, tmp_path, hold=False):
    """`lethe serve` on a test clock over a demo user with media files; @hold: the user's
    erasure is held in its users step (hold_users_delete()).  Returns (clock, srv, uid,
    email, keys)."""
    clock = Clock(tmp_path / "clock")
    configure_now(demo, fake_platform)
    uid, email, keys = person_with_files(demo)
    if hold:
        hold_users_delete(demo, uid)
    srv = start(servers, demo, fake_platform, clock)
    return clock, srv, uid, email, keys


@BOTH
def test_scan_checks_every_removed_object(demo, fake_platform, servers, tmp_path):
    clock, srv, uid, email, keys = serve_person(demo, fake_platform, servers, tmp_path)
    st, req = create(srv, {"email": email, "user_id": str(uid)})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] in DONE, req
    assert not set(keys) & demo.media_files()
    scan = scan_row(demo, code)
    assert scan["result"] == "clean", scan
    assert scan["detail"]["media"] == {
        "checked": len(keys), "present": 0,
        "stores": [{"store": "local", "checked": len(keys), "present": 0}]}, scan
    # The receipt states the counts.
    status, _, env = api(srv, "GET", "/v1/requests/%s/receipt" % code)
    assert status == 200, env
    assert env["receipt"]["scan"]["media"] == {"checked": len(keys), "present": 0}, env
    # The keys kept for the scan went with the request.
    assert pending(demo) == []
    stop_ok(srv)


@BOTH
def test_scan_finds_an_object_written_back(demo, fake_platform, servers, tmp_path):
    clock, srv, uid, email, keys = serve_person(demo, fake_platform, servers, tmp_path,
                                                hold=True)
    key = keys[0]
    back = Replanter(demo.media / key)
    back.start()
    try:
        st, req = create(srv, {"email": email, "user_id": str(uid)})
        assert st == 201, req
        code = req["id"]
        req = wait_state(srv, code, FINAL, timeout=60)
    finally:
        back.stop.set()
        back.join(5)
    assert back.done.is_set(), "the erasure never removed the file"
    assert req["state"] == "failed", req
    assert req["reason"] == "the residual scan found 1 media object still in store local", req
    assert (demo.media / key).exists()
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (uid,))[0][0] == 0
    scan = scan_row(demo, code)
    assert scan["result"] == "residual" and scan["rows"] == 0, scan
    assert scan["detail"]["media"] == {
        "checked": len(keys), "present": 1,
        "stores": [{"store": "local", "checked": len(keys), "present": 1}]}, scan
    assert pending(demo) == []
    # Counts and the store's name only: no key in the answers, the page, the log, the
    # scans row or the audit chain.
    texts = [json.dumps(req), json.dumps(scan)]
    status, _, page = srv.get("/data-deletion/status?id=" + code)
    assert status == 200
    texts.append(page.decode())
    texts.append(srv.stderr())
    texts += [r[0] for r in demo.state("SELECT body FROM audit ORDER BY seq")]
    assert re.search(r"request \d+: the residual scan found 1 of the %d media objects its "
                     r"erasure removed back in their store" % len(keys), srv.stderr())
    for k in keys:
        base = k.rsplit("/", 1)[-1]
        for t in texts:
            assert k not in t and base not in t, "a key in %r" % t[:200]
    stop_ok(srv)


@BOTH
def test_scan_that_cannot_run_is_retried(demo, fake_platform, servers, tmp_path):
    clock, srv, uid, email, keys = serve_person(demo, fake_platform, servers, tmp_path,
                                                hold=True)
    st, req = create(srv, {"email": email, "user_id": str(uid)})
    assert st == 201, req
    code = req["id"]
    # The erasure removed the files and is held in its users step: put a link in the way.
    deadline = time.monotonic() + 30
    while set(keys) & demo.media_files():
        assert time.monotonic() < deadline, "the erasure never removed the files"
        time.sleep(0.005)
    parent = (demo.media / keys[0]).parent
    aside = parent.with_name(parent.name + "-aside")
    parent.rename(aside)
    parent.symlink_to(aside.name)
    deadline = time.monotonic() + 30
    while "erased, but its end failed; will retry: media store 'local'" not in srv.stderr():
        assert time.monotonic() < deadline, srv.stderr()
        time.sleep(0.02)
    assert app_get(srv, code)["state"] == "running"
    assert scan_rows(demo, code) == 0
    # Kept until the scan can run, then scanned with the new job's and forgotten.
    assert pending(demo), "the keys were forgotten before their scan"
    parent.unlink()
    aside.rename(parent)
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    scan = scan_row(demo, code)
    assert scan["result"] == "clean", scan
    # The run ended with the job that erased (no empty second job).
    assert demo.state("SELECT id FROM jobs WHERE kind = 'erase'") == [(scan["job"],)], scan
    assert scan["detail"]["media"]["checked"] == len(keys), scan
    assert scan["detail"]["media"]["present"] == 0, scan
    assert pending(demo) == []
    log = srv.stderr()
    for k in keys:
        assert k not in log
    stop_ok(srv)
