# SPDX-License-Identifier: MIT
"""Export requests through the real `lethe serve` on the demo (docs/export.md).

POST /v1/requests with kind export: the exporter thread builds the archive,
encrypted at rest under export.dir, and the request completes; GET
/v1/requests/{id}/export streams the zip (409 before it is ready, 410 once it
expired or the request was cancelled, 404 for no such request).  One export per
person within export.rate_limit (429 with the next date and Retry-After, nothing
stored; an operator's is exempt).  A SIGKILL while an archive is built leaves no archive and no
.part file behind, and the export completes exactly once after the restart; so
do the states a kill between the rename and the commit (a file without a row)
and between a cancel's commit and its unlink (a deleted row's file) leave.  An
export that fails three times in a row is failed with its reason while erasures
go on, and a retry completes it.  export.dir is locked by the serve that uses
it: a second serve of the same state store, or of another one given the same
export.dir, is refused before its exporter sweeps, and the first's archives
stay; a dir open to group or other is warned about.  An erasure of the
person's account deletes their export archives with it.

Every test on the demo runs on both backends (the backend fixture: app database and
state store on SQLite, then on PostgreSQL), but for four that stay on SQLite: the
SIGKILL mid-build and the second serve build a 300k-row heavy demo of their own (its
time), the second serve and the shared export.dir are refused because the SQLite store
belongs to one process (on PostgreSQL several workers share a store by design: the
two-worker tests, test_pg_workers.py), and the dir's mode is no database matter.
"""
import hashlib
import io
import json
import os
import re
import signal
import stat
import time
import zipfile

import pytest

from lethe_e2e import execute, is_pg, make_demo, query, run_lethe, without_section
from request_helpers import DAY, Clock
from requests_helpers import APP_KEY, ADMIN_KEY, api_section, assert_error, call, cli_json
from serve_helpers import SECRETS_ENV, TSCALE, assert_log_clean, servers, stop_ok  # noqa: F401

UNKNOWN = "a" * 34  # a well-formed code no request has
USER = "user1@example.com"

# The demo's own export policy (app, operator) without grace, an erasure for the
# queue-independence check, and an export policy with grace for "not ready yet".
POLICIES = """requests:
  policies:
    - {name: export, kind: export, scope: account, sources: [app, operator], deadline: 30d}
    - {name: closure, kind: erasure, scope: account, sources: [app, operator], deadline: 30d}
"""
GRACE_POLICIES = """requests:
  policies:
    - {name: export-later, kind: export, scope: account, sources: [app, operator],
       grace: 1d, deadline: 30d}
"""


def configure(demo, policies=POLICIES, export=None):
    """The demo's lethe.yaml with the test API keys, @policies and an export: section."""
    text = without_section(without_section(demo.config_without("api"), "requests"), "export")
    text = text.rstrip("\n") + "\n" + api_section() + policies
    text += export if export is not None else "export:\n  dir: var/exports\n"
    demo.config.write_text(text)


def export_dir(demo):
    return demo.dir / "var" / "exports"


def create(s, user=1, kind="export", scope="account", want=201):
    body = {"kind": kind, "scope": scope, "identities": {"email": "user%d@example.com" % user},
            "verified": True}
    status, hdrs, out = call(s, "POST", "/v1/requests", body=body)
    assert status == want, (status, out)
    return out


def get(s, code):
    status, _, out = call(s, "GET", "/v1/requests/" + code)
    assert status == 200, (status, out)
    return out


def wait_state(s, code, states, timeout=20):
    deadline = time.monotonic() + timeout * TSCALE
    while True:
        r = get(s, code)
        if r["state"] in states:
            return r
        assert time.monotonic() < deadline, "request stuck in %s: %r" % (r["state"], r)
        time.sleep(0.1)


def download(s, code):
    """GET /v1/requests/{code}/export: (status, headers, body bytes)."""
    return s.request("GET", "/v1/requests/%s/export" % code,
                     headers={"Authorization": "Bearer " + APP_KEY}, timeout=30)


def archives(demo):
    d = export_dir(demo)
    # Its lock file (.lethe.lock) is no archive.
    return sorted(p.name for p in d.iterdir() if p.name != ".lethe.lock") if d.exists() else []


def requests_count(demo):
    return demo.state("SELECT count(*) FROM requests")[0][0]


def wait_until(pred, what, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


BOTH = pytest.mark.usefixtures("backend")


@pytest.fixture
def srv(demo, servers, backend):
    configure(demo)
    s = servers(demo)
    yield demo, s
    stop_ok(s)


def test_export_completes_and_downloads(srv):
    demo, s = srv
    req = create(s)
    assert req["kind"] == "export" and req["export"]["ready"] is False, req
    done = wait_state(s, req["id"], ("completed", "failed"))
    assert done["state"] == "completed", done
    x = done["export"]
    assert x["ready"] is True and x["deleted"] is False, x
    assert x["rows"] > 0 and x["bytes"] > 0 and x["downloads"] == 0, x
    assert x["created_at"] and x["expires_at"], x

    status, hdrs, data = download(s, req["id"])
    assert status == 200, data[:200]
    assert hdrs["content-type"] == "application/zip"
    assert int(hdrs["content-length"]) == len(data) == x["bytes"]
    assert re.match(r'attachment; filename="[a-z0-9-]*export-\d{4}-\d{2}-\d{2}\.zip"$',
                    hdrs["content-disposition"]), hdrs
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["files"], manifest
    for f in manifest["files"]:
        body = z.read(f["path"])
        assert len(body) == f["bytes"], f
        assert hashlib.sha256(body).hexdigest() == f["sha256"], f
    names = z.namelist()
    users_file = [n for n in names if n in ("tables/users.json", "tables/users.jsonl")]
    assert users_file, names
    text = z.read(users_file[0]).decode()
    rows = json.loads(text) if text.lstrip().startswith("[") else \
        [json.loads(line) for line in text.splitlines() if line]
    assert [r["email"] for r in rows] == [USER], rows
    # Counted, and the JSON says so.
    assert get(s, req["id"])["export"]["downloads"] == 1
    # Its duration feeds the per-kind histogram, as an erasure's does.
    status, _, metrics = s.get("/metrics")
    assert status == 200
    assert re.search(rb'^lethe_request_duration_seconds_count\{kind="export"\} 1$', metrics,
                     re.M), metrics

    # At rest: one file under export.dir, encrypted (no zip, no email), 0600 in a 0700 dir.
    files = archives(demo)
    assert len(files) == 1 and files[0].endswith(".lx"), files
    path = export_dir(demo) / files[0]
    raw = path.read_bytes()
    assert b"PK\x03\x04" not in raw
    assert USER.encode() not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(export_dir(demo).stat().st_mode) == 0o700
    assert_log_clean(s, req["id"], USER)


def test_export_without_mail_has_no_link_button(srv):
    """Mail off (or no address): the status page of a ready export offers no button that
    would mail a link; the app downloads it through the API."""
    demo, s = srv
    req = create(s)
    wait_state(s, req["id"], ("completed",))
    status, hdrs, page = s.request("GET", "/data-deletion/status?id=" + req["id"])
    assert status == 200 and b"Your data is ready" in page, page
    assert b"new download link" not in page and b"<form" not in page, page
    assert b"/privacy/l/" not in page
    assert download(s, req["id"])[0] == 200


def test_export_missing_file_is_410_and_marked_deleted(srv):
    """A ready export whose file is gone (an operator's rm, a restore): the download says
    the copy could not be found (410), the row is marked deleted so nothing says "ready"
    any more, the log warns without the file's name, and the person may ask again."""
    demo, s = srv
    req = create(s)
    wait_state(s, req["id"], ("completed",))
    name, = archives(demo)
    (export_dir(demo) / name).unlink()
    status, hdrs, body = download(s, req["id"])
    if is_pg(demo.state_db):
        # Several workers share a PostgreSQL store: the file may be on another's disk.
        # A 503 that says so, and the row left alone (test_pg_workers_export.py).
        err = assert_error(status, hdrs, json.loads(body), 503, "unavailable")
        assert "not on this worker" in err["message"], err
        x = get(s, req["id"])["export"]
        assert x["ready"] is True and x["deleted"] is False, x
        assert demo.state("SELECT deleted_at IS NULL FROM exports") == [(1,)]
        log = s.stderr()
        assert "marked deleted" not in log and name not in log, log
        return
    err = assert_error(status, hdrs, json.loads(body), 410, "gone")
    assert err["message"] == "the copy could not be found; ask again", err
    x = get(s, req["id"])["export"]
    assert x["ready"] is False and x["deleted"] is True and x["downloads"] == 0, x
    assert demo.state("SELECT key_box IS NULL, deleted_at IS NOT NULL FROM exports") == \
        [(1, 1)]
    status, _, page = s.request("GET", "/data-deletion/status?id=" + req["id"])
    assert status == 200 and b"could not be found" in page, page
    assert b"that time has ended" not in page
    log = s.stderr()
    assert "export archive file is missing" in log, log
    assert name not in log
    # Lost, it does not count against the rate limit: the person asks again.
    again = create(s)
    assert again["id"] != req["id"]
    wait_state(s, again["id"], ("completed",))
    assert download(s, again["id"])[0] == 200


def test_export_route_errors(srv):
    demo, s = srv
    status, hdrs, out = download(s, UNKNOWN)
    assert_error(status, hdrs, json.loads(out), 404, "not_found")
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/export" % UNKNOWN, body={})
    assert status == 405 and hdrs.get("allow") == "GET", (status, hdrs)
    status, hdrs, out = call(s, "GET", "/v1/requests/%s/export" % UNKNOWN, key=ADMIN_KEY)
    assert_error(status, hdrs, out, 403, "forbidden")
    # An erasure has no archive.
    er = create(s, user=2, kind="erasure")
    status, hdrs, out = download(s, er["id"])
    assert_error(status, hdrs, json.loads(out), 404)


def test_export_unknown_scope_is_400_and_stores_nothing(srv):
    demo, s = srv
    before = requests_count(demo)
    status, hdrs, out = call(s, "POST", "/v1/requests",
                             body={"kind": "export", "scope": "no_such_scope",
                                   "identities": {"email": USER}, "verified": True})
    assert_error(status, hdrs, out, 400)
    assert requests_count(demo) == before


def test_export_scope_defaults_to_account_erasure_names_its_own(srv):
    """An export without "scope" is the account's; an erasure without one is refused."""
    demo, s = srv
    status, _, out = call(s, "POST", "/v1/requests",
                          body={"kind": "export", "identities": {"email": USER},
                                "verified": True})
    assert status == 201 and out["scope"] == "account", (status, out)
    before = requests_count(demo)
    for body in ({"kind": "erasure", "identities": {"email": USER}, "verified": True},
                 {"identities": {"email": USER}, "verified": True},
                 {"kind": "erasure", "scope": None, "identities": {"email": USER}}):
        status, hdrs, out = call(s, "POST", "/v1/requests", body=body)
        err = assert_error(status, hdrs, out, 400)
        assert err["message"] == '"scope" is required', err
    assert requests_count(demo) == before


@BOTH
def test_export_not_ready_is_409(demo, servers):
    configure(demo, GRACE_POLICIES)
    s = servers(demo)
    req = create(s)
    assert req["state"] == "scheduled", req
    status, hdrs, out = download(s, req["id"])
    err = assert_error(status, hdrs, json.loads(out), 409, "conflict")
    assert "not ready" in err["message"], err
    assert archives(demo) == []
    # Cancelled before it was built: none will be, 410 as for a withdrawn archive.
    status, _, out = call(s, "POST", "/v1/requests/%s/cancel" % req["id"], body={})
    assert status == 200 and out["state"] == "cancelled", out
    assert out["export"]["deleted"] is True and out["export"]["ready"] is False, out
    status, hdrs, out = download(s, req["id"])
    err = assert_error(status, hdrs, json.loads(out), 410, "gone")
    assert err["message"] == "the request was cancelled before its archive was made", err
    status, _, page = s.request("GET", "/data-deletion/status?id=" + req["id"])
    assert status == 200 and b"was cancelled" in page, page
    assert b"that time has ended" not in page and b"was deleted" not in page, page
    stop_ok(s)


def test_export_cancel_deletes_archive(srv):
    demo, s = srv
    req = create(s)
    wait_state(s, req["id"], ("completed",))
    assert len(archives(demo)) == 1
    status, _, out = call(s, "POST", "/v1/requests/%s/cancel" % req["id"], body={})
    assert status == 200, out
    assert out["state"] == "cancelled" and out["export"]["deleted"] is True, out
    assert archives(demo) == []
    status, hdrs, body = download(s, req["id"])
    assert_error(status, hdrs, json.loads(body), 410, "gone")
    # The row stays, without its key.
    assert demo.state("SELECT key_box IS NULL, deleted_at IS NOT NULL FROM exports") == \
        [(1, 1)]


@BOTH
def test_export_expires_and_rate_limit(demo, servers, tmp_path):
    configure(demo)
    clock = Clock(tmp_path / "clock")
    s = servers(demo, env=clock.env())
    req = create(s)
    wait_state(s, req["id"], ("completed",))
    assert len(archives(demo)) == 1

    # A second export within 7 days: 429 with the next date, nothing stored.
    before = requests_count(demo)
    status, hdrs, out = call(s, "POST", "/v1/requests",
                             body={"kind": "export", "scope": "account",
                                   "identities": {"email": USER}, "verified": True})
    err = assert_error(status, hdrs, out, 429, "rate_limited")
    nxt = time.strftime("%Y-%m-%d", time.gmtime(clock.now + 7 * DAY))
    assert err["message"] == "one export per 7 days; the next from %s" % nxt, err
    # Retry-After: the seconds until then (the clock stands still: the whole window).
    assert 7 * DAY - 120 <= int(hdrs["retry-after"]) <= 7 * DAY, hdrs
    assert requests_count(demo) == before
    # Another person is not limited.
    other = create(s, user=3)
    wait_state(s, other["id"], ("completed",))

    # The operator is exempt.
    code, stdout, stderr = run_lethe("requests", "create", "-c", demo.config, "--kind",
                                     "export", "--scope", "account", "--id", "email=" + USER,
                                     "--verified", "--json", env=clock.env())
    assert code == 0, stderr
    op = json.loads(stdout)
    assert op["source"] == "operator"
    wait_state(s, op["id"], ("completed",))
    # The app key downloads only the exports the app asked for: another's is unknown.
    status, hdrs, body = download(s, op["id"])
    assert_error(status, hdrs, json.loads(body), 404, "not_found")
    assert get(s, op["id"])["export"]["downloads"] == 0

    # Past its expiry the archive is deleted within a second or two: 410, file gone.
    clock.advance(7 * DAY + 60)
    wait_until(lambda: archives(demo) == [], "the expired archives stay: %r" % archives(demo))
    status, hdrs, body = download(s, req["id"])
    assert_error(status, hdrs, json.loads(body), 410, "gone")
    assert get(s, req["id"])["export"]["deleted"] is True
    assert demo.state("SELECT count(*) FROM exports WHERE deleted_at IS NULL") == [(0,)]

    # After the window the person may ask again.
    again = create(s)
    assert again["id"] not in (req["id"], op["id"])
    wait_state(s, again["id"], ("completed",))
    stop_ok(s)


@BOTH
def test_export_open_repeat_is_same_request(demo, servers):
    configure(demo, GRACE_POLICIES)
    s = servers(demo)
    first = create(s)
    status, _, again = call(s, "POST", "/v1/requests",
                            body={"kind": "export", "scope": "account",
                                  "identities": {"email": USER}, "verified": True})
    assert status == 200 and again["id"] == first["id"], (status, again)
    stop_ok(s)


def test_export_sigkill_mid_build_completes_once(tmp_path, servers):
    demo = make_demo(tmp_path / "heavy", ["--users", "4", "--seed", "7", "--heavy", "300000"])
    text = demo.config.read_text()
    for section in ("mail", "selfservice"):
        text = without_section(text, section)
    demo.config.write_text(text)
    configure(demo)
    s = servers(demo)
    status, _, req = call(s, "POST", "/v1/requests",
                          body={"kind": "export", "scope": "account",
                                "identities": {"email": "heavy@example.com"}, "verified": True})
    assert status == 201, req
    d = export_dir(demo)
    wait_until(lambda: d.exists() and any(n.endswith(".part") for n in os.listdir(d)),
               "no archive is being built", timeout=20)
    s.stop(signal.SIGKILL)
    # Nothing reachable: no finished archive, no row.
    assert not any(n.endswith(".lx") for n in os.listdir(d)), os.listdir(d)
    assert demo.state("SELECT count(*) FROM exports") == [(0,)]

    s2 = servers(demo)
    done = wait_state(s2, req["id"], ("completed", "failed"), timeout=60)
    assert done["state"] == "completed", done
    files = archives(demo)
    assert len(files) == 1 and files[0].endswith(".lx"), files
    assert demo.state("SELECT count(*) FROM exports") == [(1,)]
    events = [e["state"] for e in done["events"]]
    assert events.count("completed") == 1, events
    status, hdrs, data = download(s2, req["id"])
    assert status == 200 and len(data) == done["export"]["bytes"]
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    stop_ok(s2)


@BOTH
def test_export_failing_is_failed_then_retried(demo, servers):
    # export.dir is a file: every build fails.
    configure(demo, export="export:\n  dir: var/exports-broken\n")
    broken = demo.dir / "var" / "exports-broken"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("not a directory\n")
    s = servers(demo)
    req = create(s)
    er = create(s, user=2, kind="erasure")
    # The erasure does not wait for the failing export.
    wait_state(s, er["id"], ("completed", "completed_with_retention"), timeout=30)
    failed = wait_state(s, req["id"], ("failed", "completed"), timeout=30)
    assert failed["state"] == "failed", failed
    assert failed["reason"] == ("the export failed 3 times in a row; see the log, then "
                                "retry it"), failed
    assert failed["export"]["ready"] is False
    status, hdrs, out = download(s, req["id"])
    assert_error(status, hdrs, json.loads(out), 409)

    # Fixed, and retried by the operator: it completes.
    broken.unlink()
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/retry" % req["id"], key=ADMIN_KEY,
                          body={})
    assert status == 200, out
    done = wait_state(s, req["id"], ("completed", "failed"), timeout=30)
    assert done["state"] == "completed", done
    status, _, data = download(s, req["id"])
    assert status == 200 and zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    stop_ok(s)


def test_erasure_of_the_person_deletes_their_archive(srv):
    # An export completed, then the same person's account erased: the archive goes in
    # the erasure's transaction (its file right after), another person's stays.
    demo, s = srv
    req = create(s)
    other = create(s, user=3)
    for code in (req["id"], other["id"]):
        wait_state(s, code, ("completed",))
    assert len(archives(demo)) == 2
    kept = demo.state("SELECT file FROM exports e JOIN requests r ON r.id = e.request_id "
                      "WHERE r.code = ?", (other["id"],))[0][0]
    er = create(s, kind="erasure")
    done = wait_state(s, er["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] in ("completed", "completed_with_retention"), done
    assert archives(demo) == [kept]
    x = get(s, req["id"])
    assert x["state"] == "completed" and x["export"]["deleted"] is True, x
    status, hdrs, body = download(s, req["id"])
    e = assert_error(status, hdrs, json.loads(body), 410, "gone")
    assert "with the account" in e["message"], e
    assert demo.state("SELECT key_box IS NULL, deleted_at IS NOT NULL, why FROM exports e "
                      "JOIN requests r ON r.id = e.request_id WHERE r.code = ?",
                      (req["id"],)) == [(1, 1, 2)]
    # The page says why: deleted with the account, not lost, not expired.
    status, _, page = s.request("GET", "/data-deletion/status?id=" + req["id"])
    assert status == 200 and b"deleted</strong> with your account" in page, page
    assert b"could not be found" not in page and b"that time has ended" not in page
    status, _, data = download(s, other["id"])
    assert status == 200 and len(data) == get(s, other["id"])["export"]["bytes"]
    assert "1 export archives deleted" in s.stderr(), s.stderr()
    assert_log_clean(s, USER)


# ---- the states a crash leaves between the rename, the commit and the unlink ----------
# No hook stops lethe at those points, so each test makes the state itself, with lethe
# stopped, exactly as such a kill leaves it, and starts lethe on it.

@BOTH
def test_crash_between_rename_and_commit_rebuilds_once(demo, servers):
    # Killed after the rename, before the commit: the request is still running (its
    # identities sealed), a finished archive without a row is on disk.
    configure(demo, GRACE_POLICIES)
    s = servers(demo)
    req = create(s)
    stop_ok(s)
    d = export_dir(demo)
    rid = demo.state("SELECT id FROM requests WHERE code = ?", (req["id"],))[0][0]
    execute(demo.state_db, "UPDATE requests SET state = 'running', not_before = 0 "
                           "WHERE id = ?", (rid,))
    assert demo.state("SELECT length(identity_box) > 0 FROM requests WHERE id = ?",
                      (rid,)) == [(1,)]
    d.mkdir(parents=True, exist_ok=True)
    orphan = "%d-%s.lx" % (rid, "0123456789abcdef")
    (d / orphan).write_bytes(os.urandom(4096))
    if is_pg(demo.state_db):
        # A shared export.dir's sweep keeps files younger than 10 minutes (a sibling's).
        os.utime(d / orphan, (time.time() - 3600, time.time() - 3600))
    s2 = servers(demo)
    done = wait_state(s2, req["id"], ("completed", "failed"), timeout=60)
    assert done["state"] == "completed", done
    files = archives(demo)
    assert len(files) == 1 and files[0] != orphan and files[0].endswith(".lx"), files
    assert [e["state"] for e in done["events"]].count("completed") == 1, done["events"]
    assert demo.state("SELECT count(*) FROM exports") == [(1,)]
    status, _, data = download(s2, req["id"])
    assert status == 200 and zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    stop_ok(s2)


@BOTH
def test_crash_between_commit_and_unlink_is_swept(demo, servers):
    # Killed after a cancel's commit, before its unlink: the row is deleted, its file
    # still there.  The next start removes it; nothing else goes.
    configure(demo)
    s = servers(demo)
    req = create(s)
    other = create(s, user=3)
    for code in (req["id"], other["id"]):
        wait_state(s, code, ("completed",))
    stop_ok(s)
    d = export_dir(demo)
    file = demo.state("SELECT file FROM exports e JOIN requests r ON r.id = e.request_id "
                      "WHERE r.code = ?", (req["id"],))[0][0]
    kept = [f for f in archives(demo) if f != file]
    saved = (d / file).read_bytes()
    rc, out, err = cli_json(demo, "cancel", req["id"])
    assert rc == 0 and out["export"]["deleted"] is True, (rc, out, err)
    assert not (d / file).exists()
    (d / file).write_bytes(saved)
    if is_pg(demo.state_db):
        # A shared export.dir's sweep keeps files younger than 10 minutes (a sibling's).
        os.utime(d / file, (time.time() - 3600, time.time() - 3600))
    s2 = servers(demo)
    wait_until(lambda: archives(demo) == kept, "the file of the deleted row stays: %r"
               % archives(demo))
    assert "removed 1 unfinished or orphaned archives" in s2.stderr(), s2.stderr()
    status, _, data = download(s2, other["id"])
    assert status == 200
    stop_ok(s2)


def heavy_demo(tmp_path, name="heavy"):
    """A demo whose export takes a while to build (300k rows), without mail."""
    demo = make_demo(tmp_path / name, ["--users", "4", "--seed", "7", "--heavy", "300000"])
    text = demo.config.read_text()
    for section in ("mail", "selfservice"):
        text = without_section(text, section)
    demo.config.write_text(text)
    configure(demo)
    return demo


def serve_refused(config):
    """`lethe serve` that must refuse to start: its stderr."""
    code, out, err = run_lethe("serve", "-c", config, "--listen", "127.0.0.1:0",
                               env=SECRETS_ENV, timeout=30)
    assert code != 0 and "serving" not in out, (code, out, err)
    return err


def test_second_serve_leaves_first_archive_alone(tmp_path, servers):
    # The first serve builds an archive (its .part on disk) when a second serve of the
    # same state store starts: the second is refused before its exporter sweeps.
    demo = heavy_demo(tmp_path)
    s = servers(demo)
    status, _, req = call(s, "POST", "/v1/requests",
                          body={"kind": "export", "scope": "account",
                                "identities": {"email": "heavy@example.com"}, "verified": True})
    assert status == 201, req
    d = export_dir(demo)
    wait_until(lambda: d.exists() and any(n.endswith(".part") for n in os.listdir(d)),
               "no archive is being built", timeout=20)
    err = serve_refused(demo.config)
    assert "is in use" in err, err
    assert "removed" not in err, err
    done = wait_state(s, req["id"], ("completed", "failed"), timeout=60)
    assert done["state"] == "completed", done
    # Built once, never disturbed (no "cannot rename": retry), and it downloads whole.
    assert "will retry" not in s.stderr(), s.stderr()
    assert len(archives(demo)) == 1, archives(demo)
    status, hdrs, data = download(s, req["id"])
    assert status == 200 and len(data) == done["export"]["bytes"]
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    stop_ok(s)


def test_shared_export_dir_is_refused(demo, servers, tmp_path):
    # Another state store given the same export.dir would take this one's archives
    # for orphans: its serve is refused, and the archive stays and downloads.
    configure(demo)
    s = servers(demo)
    req = create(s)
    wait_state(s, req["id"], ("completed",))
    kept = archives(demo)
    assert len(kept) == 1 and kept[0].endswith(".lx"), kept
    other = make_demo(tmp_path / "other", ["--users", "4", "--seed", "3"])
    text = other.config.read_text()
    for section in ("mail", "selfservice"):
        text = without_section(text, section)
    other.config.write_text(text)
    configure(other, export="export:\n  dir: %s\n" % export_dir(demo))
    err = serve_refused(other.config)
    assert "export.dir %s is used by another lethe" % export_dir(demo) in err, err
    assert archives(demo) == kept
    status, _, data = download(s, req["id"])
    assert status == 200 and len(data) == get(s, req["id"])["export"]["bytes"]
    # Once the first is gone, the second may have the dir.
    stop_ok(s)
    s2 = servers(other)
    stop_ok(s2)


def test_export_dir_open_to_others_is_warned(demo, servers):
    configure(demo)
    d = export_dir(demo)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    s = servers(demo)
    stop_ok(s)
    assert "export.dir %s allows group or other access (mode 755)" % d in s.stderr(), \
        s.stderr()
    # A private dir is not.
    os.chmod(d, 0o700)
    s2 = servers(demo)
    stop_ok(s2)
    assert "allows group or other access" not in s2.stderr(), s2.stderr()
