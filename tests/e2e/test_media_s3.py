# SPDX-License-Identifier: MIT
"""Media on an S3-compatible store (issue 19): the demo's media table mapped to a store
of kind s3 on s3rver (tests/s3_server.py), which lethe reaches only through the front
that verifies every request's SigV4 signature (tests/s3_front.py).

Each test uploads the demo's media files to a bucket of its own under a prefix, empties
the local media directory (nothing may be read or removed there) and maps
`media: {storage_key: uploads}`.  What is checked: objects present before and absent
after, only the person's; DeleteObjects calls of at most 1,000 keys, every request
signed and verified; TTL sweeps; both address styles; transient failures retried within
the call; persistent ones failing with the store's name and finishing on a re-run,
never counted as removed; SIGKILL between the rows' commit and the deletes, then the
resume; the export archive holding the objects' bytes; the residual scan flagging an
object put back.

Channel purges: the demo's data map hangs media under projects, not channels, so a
channel purge removes no media here; it runs through the same erase engine
(src/engine/erase_delete.c), which these tests exercise.
"""
import concurrent.futures
import io
import json
import signal
import zipfile

import pytest

from disconnect_helpers import api
from fake_platform import fake_platform  # noqa: F401
from lethe_e2e import make_demo, popen_lethe, query, run_lethe
from request_helpers import (FINAL, Clock, assert_failed_on_store, cli, configure_requests,
                             create, policy, start, states_of, wait_state, wait_until)
from serve_helpers import servers  # noqa: F401
from sweep_helpers import DAY, DEMO_NOW, fmt, sweep

DEMO_OPTIONS = ["--users", "8", "--seed", "5"]
BOTH = pytest.mark.usefixtures("backend")
STORE = "uploads"
PREFIX = "app/"
DONE = ("completed", "completed_with_retention")
# Small bounds so a failing store fails fast; retries within one call.
FAST = {"retries": 3, "backoff_ms": 20, "timeout_ms": 1500, "connect_timeout_ms": 1000}


class Media:
    """The demo's media moved to a bucket; what the tests read back."""

    def __init__(self, demo, s3, bucket, objects):
        self.demo, self.s3, self.bucket = demo, s3, bucket
        self.objects = objects  # storage key -> bytes

    def present(self):
        """Storage keys (without the prefix) still in the bucket."""
        return {k[len(PREFIX):] for k in self.s3.list(self.bucket, PREFIX)}

    def deleted_calls(self):
        """The front's DeleteObjects requests (each: its decoded keys)."""
        return self.s3.front.requests(op="delete")


def use_s3(demo, s3, tmp_path, path_style=True, endpoint=None, secret="S3RVER", **kw):
    """Upload the demo's media to a new bucket and map the media table to store STORE."""
    bucket = s3.bucket()
    objects = {}
    for p in sorted(demo.media.rglob("*")):
        if p.is_file():
            objects[str(p.relative_to(demo.media))] = p.read_bytes()
            p.unlink()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put(bucket, PREFIX + k, objects[k]), objects))
    assert len(objects) > 10, "the demo should have media files"
    cred = tmp_path / ("s3-cred-%s" % bucket)
    cred.write_text("S3RVER:%s\n" % secret)
    cred.chmod(0o600)
    opts = dict(FAST)
    opts.update(kw)
    entry = s3.store_yaml(STORE, bucket, prefix=PREFIX, path_style=path_style,
                          endpoint=endpoint, **opts)
    entry = entry.replace("    credentials_env: LETHE_TEST_S3\n",
                          "    credentials_file: %s\n" % cred)
    demo.config.write_text(demo.config.read_text() + "media_stores:\n" + entry)
    dm = demo.datamap.read_text()
    assert "    media: [storage_key]\n" in dm
    demo.datamap.write_text(dm.replace("    media: [storage_key]\n",
                                       "    media: {storage_key: %s}\n" % STORE))
    m = Media(demo, s3, bucket, objects)
    m.cred = cred
    return m


def person_media(demo, least=3, skip=0):
    """(user id, email, storage keys) of a user with media (the most, then the next)."""
    rows = query(demo.db, "SELECT p.user_id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    by_user = {}
    for uid, key in rows:
        by_user.setdefault(uid, []).append(key)
    ranked = sorted(by_user, key=lambda u: (-len(by_user[u]), u))
    uid = ranked[skip]
    assert len(by_user[uid]) >= least
    email = query(demo.db, "SELECT email FROM users WHERE id = ?", (uid,))[0][0]
    return uid, email, set(by_user[uid])


def media_rows(demo, uid):
    return query(demo.db, "SELECT count(*) FROM media WHERE project_id IN "
                          "(SELECT id FROM projects WHERE user_id = ?)", (uid,))[0][0]


def pending(demo):
    return demo.state("SELECT count(*) FROM media_pending")[0][0]


def erase(demo, email, expect=0):
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + email, "--json", "--no-progress", timeout=120)
    assert code == expect, "erase exited %d, not %d: %s\n%s" % (code, expect, err, out)
    doc = json.loads(out) if out.strip() else None
    # A failed erase prints {"error": {...}} only: no summary to check then.
    return (doc if doc is not None and "steps" in doc else None), err


def media_step(summary):
    return [s for s in summary["steps"] if s["table"] == "media"][0]


def assert_deletes_signed(m, keys):
    """Every request lethe sent was verified; DeleteObjects calls of 1..1000 keys
    covering exactly @keys (with the prefix), each key at least once."""
    reqs = m.s3.front.requests()
    assert reqs, "lethe sent nothing to the store"
    bad = [(r["method"], r["op"], r["error"]) for r in reqs if not r["verified"]]
    assert bad == [], "requests the front refused: %r" % bad
    calls = m.deleted_calls()
    assert calls
    for c in calls:
        assert 1 <= len(c["keys"]) <= 1000, len(c["keys"])
        assert c["headers"].get("content-md5"), "DeleteObjects without Content-MD5"
    sent = set()
    for c in calls:
        if c["status"] == 200:
            sent |= set(c["keys"])
    assert sent == {PREFIX + k for k in keys}, sorted(sent ^ {PREFIX + k for k in keys})[:5]


def no_keys_in(text, keys):
    for k in keys:
        assert k not in text, "an object key reached the output: %s" % k


# ---- erase (CLI) -------------------------------------------------------------------------

@BOTH
def test_cli_erase_deletes_exactly_the_persons_objects(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    assert keys <= m.present()
    summary, err = erase(demo, email)
    step = media_step(summary)
    assert (step["media_files"], step["media_missing"], step["media_failed"]) == \
        (len(keys), 0, 0), step
    assert m.present() == set(m.objects) - keys  # the person's gone, everyone else's kept
    assert media_rows(demo, uid) == 0
    assert_deletes_signed(m, keys)
    assert pending(demo) == 0
    no_keys_in(err, keys)
    # Run again: nothing left to remove, nothing sent to remove.
    n = len(m.deleted_calls())
    summary, _ = erase(demo, email)
    assert len(m.deleted_calls()) == n


def test_heavy_persons_2000_objects_go_in_calls_of_1000(s3, tmp_path):
    """The demo's heavy user owns 2,000 media files: DeleteObjects takes 1,000 keys at
    most, so lethe needs two calls at least, and sends none larger."""
    demo = make_demo(tmp_path / "heavy", ["--users", "2", "--seed", "5", "--heavy", "200000"])
    m = use_s3(demo, s3, tmp_path)
    uid = query(demo.db, "SELECT id FROM users WHERE email = 'heavy@example.com'")[0][0]
    keys = {r[0] for r in query(demo.db, "SELECT m.storage_key FROM media m JOIN projects p "
                                         "ON p.id = m.project_id WHERE p.user_id = ?", (uid,))}
    assert len(keys) == 2000
    summary, _ = erase(demo, "heavy@example.com")
    assert media_step(summary)["media_files"] == 2000
    assert m.present() == set(m.objects) - keys
    sizes = [len(c["keys"]) for c in m.deleted_calls()]
    assert sum(sizes) == 2000 and max(sizes) <= 1000 and len(sizes) >= 2, sizes
    assert_deletes_signed(m, keys)


def test_cli_erase_credentials_from_the_environment(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    text = demo.config.read_text().replace("    credentials_file: %s\n" % m.cred,
                                           "    credentials_env: LETHE_TEST_S3\n")
    demo.config.write_text(text)
    uid, email, keys = person_media(demo)
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + email, "--json", "--no-progress", env=s3.env)
    assert code == 0, err
    assert media_step(json.loads(out))["media_files"] == len(keys)
    assert not keys & m.present()
    # Without the variable: a clear configuration error before anything changes.
    uid2, email2, keys2 = person_media(demo, skip=1)
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + email2, "--no-progress")
    assert code != 0 and "LETHE_TEST_S3" in err, (code, err)
    assert keys2 <= m.present() and media_rows(demo, uid2) == len(keys2)


def test_virtual_host_addressing(demo, s3, tmp_path):
    """path_style false: BUCKET.s3.localhost:PORT (libcurl resolves *.localhost to
    loopback; s3rver runs with serviceEndpoint localhost)."""
    m = use_s3(demo, s3, tmp_path, path_style=False,
               endpoint="http://s3.localhost:%d" % s3.front.port)
    uid, email, keys = person_media(demo)
    summary, _ = erase(demo, email)
    assert media_step(summary)["media_files"] == len(keys)
    assert not keys & m.present()
    calls = m.deleted_calls()
    assert calls
    for c in calls:
        assert c["headers"]["host"] == "%s.s3.localhost:%d" % (m.bucket, s3.front.port)
        assert c["path"] == "/" and c["verified"]


# ---- failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [500, 503, 429, "slow", "reset"])
def test_transient_failures_are_retried_within_the_call(demo, s3, tmp_path, kind):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    if kind == "slow":  # past timeout_ms (1.5 s): the client gives up, then retries
        s3.front.inject("slow", count=1, op="delete", seconds=3)
    else:
        s3.front.inject(kind, count=2, op="delete")
    summary, err = erase(demo, email)
    step = media_step(summary)
    assert (step["media_files"], step["media_failed"]) == (len(keys), 0), step
    assert not keys & m.present()
    calls = m.deleted_calls()
    assert len(calls) >= (2 if kind == "slow" else 3), [c["status"] for c in calls]
    assert_deletes_signed(m, keys)
    assert pending(demo) == 0


def test_store_down_fails_then_a_rerun_finishes(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    s3.front.inject(503, count=10000, op="delete")
    summary, err = erase(demo, email, expect=1)
    assert STORE in err and "run" in err and "again" in err, err
    no_keys_in(err, keys)
    assert media_rows(demo, uid) == 0  # the rows are gone (committed first) ...
    assert keys <= m.present()  # ... the objects are not, and were not counted removed
    if summary is not None:
        step = media_step(summary)
        assert step["media_files"] == 0 and step["media_failed"] == len(keys), step
    assert pending(demo) == len(keys)  # recorded for the re-run
    s3.front.reset()
    summary, err = erase(demo, email)
    assert not keys & m.present()
    assert m.present() == set(m.objects) - keys
    assert pending(demo) == 0


def test_denied_objects_stay_recorded(demo, s3, tmp_path):
    """DeleteObjects answers 200 with <Error> entries (AccessDenied) for some keys: those
    are not removed, not counted removed, and fail the erasure until a re-run."""
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    denied = set(sorted(keys)[:2])
    s3.front.inject("deny", count=10000, op="delete", keys={PREFIX + k for k in denied})
    summary, err = erase(demo, email, expect=1)
    assert STORE in err, err
    no_keys_in(err, keys)
    assert m.present() & keys == denied
    if summary is not None:
        step = media_step(summary)
        assert (step["media_files"], step["media_failed"]) == (len(keys) - 2, 2), step
    assert pending(demo) == 2
    s3.front.reset()
    erase(demo, email)
    assert not keys & m.present()
    assert pending(demo) == 0


def test_wrong_credentials_fail_clearly(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path, secret="not-the-secret-7f3a")
    uid, email, keys = person_media(demo)
    summary, err = erase(demo, email, expect=1)
    assert STORE in err, err
    assert "not-the-secret-7f3a" not in err and "S3RVER:" not in err
    no_keys_in(err, keys)
    assert keys <= m.present()
    assert [r["error"] for r in s3.front.requests()][:1] == ["SignatureDoesNotMatch"]
    if summary is not None:
        assert media_step(summary)["media_files"] == 0
    m.cred.write_text("S3RVER:S3RVER\n")
    erase(demo, email)
    assert not keys & m.present()
    assert pending(demo) == 0


# ---- TTL sweep ---------------------------------------------------------------------------

@BOTH
def test_sweep_deletes_expired_media_objects(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    cutoff = fmt(DEMO_NOW - 30 * DAY)
    expired = {r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE "
                                            "created_at < ? AND cached = 1", (cutoff,))}
    assert len(expired) >= 2, "the demo should have old cached media"
    summary, err = sweep(demo, DEMO_NOW)
    t = [t for t in summary["tables"] if t["table"] == "media"][0]
    assert (t["rows"], t["media_files"], t["media_failed"]) == (len(expired), len(expired), 0)
    assert m.present() == set(m.objects) - expired
    assert_deletes_signed(m, expired)
    assert pending(demo) == 0


def test_sweep_with_the_store_down_retries_later(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    cutoff = fmt(DEMO_NOW - 30 * DAY)
    expired = {r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE "
                                            "created_at < ? AND cached = 1", (cutoff,))}
    s3.front.inject(500, count=10000, op="delete")
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json",
                               env={"LETHE_TEST_NOW": str(DEMO_NOW)})
    assert expired <= m.present()  # nothing counted removed that is not
    if code == 0:
        t = [t for t in json.loads(out)["tables"] if t["table"] == "media"][0]
        assert t["media_files"] == 0 and t["media_failed"] == len(expired), t
    else:
        assert STORE in err, err
    assert pending(demo) == len(expired)
    s3.front.reset()
    # The next pass settles what is recorded (the sweeper's settle runs at most every
    # few seconds: a later clock).
    sweep(demo, DEMO_NOW + DAY)
    assert not expired & m.present()
    assert pending(demo) == 0


# ---- erasure requests (app API) ----------------------------------------------------------

def serve_s3(demo, s3, tmp_path, fake, servers, **kw):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake, [policy("now", deadline="2d")])
    m = use_s3(demo, s3, tmp_path, **kw)
    return m, clock, start(servers, demo, fake, clock)


@BOTH
def test_request_erasure_deletes_the_objects(demo, s3, tmp_path, fake_platform, servers):
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers)
    uid, email, keys = person_media(demo)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    req = wait_state(srv, req["id"], FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert m.present() == set(m.objects) - keys
    assert_deletes_signed(m, keys)
    assert pending(demo) == 0
    no_keys_in(srv.stderr(), keys)


def failed_on_store(demo, s3, tmp_path, fake_platform, servers, op):
    """An erasure whose store answers 503 to every @op ("delete", "head") call: it fails,
    and its reason says which store failed and how (API, CLI), never a key; so does the
    log.  Returns (m, clock, srv, uid, keys, code, req, reason)."""
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers)
    uid, email, keys = person_media(demo)
    s3.front.inject(503, count=100000, op=op)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] == "failed", req
    reason = assert_failed_on_store(srv, demo, clock, code, STORE, keys)
    return m, clock, srv, uid, keys, code, req, reason


def test_request_with_the_store_down_fails_then_retry_completes(demo, s3, tmp_path,
                                                                 fake_platform, servers):
    m, clock, srv, uid, keys, code, req, reason = failed_on_store(
        demo, s3, tmp_path, fake_platform, servers, "delete")
    assert ("%d media objects of table media could not be removed (media store '%s' "
            "answered HTTP 503" % (len(keys), STORE)) in reason, reason
    assert "they stay recorded" in reason, reason
    assert "media store '%s'" % STORE in srv.stderr(), srv.stderr()
    no_keys_in(json.dumps(req) + srv.stderr(), keys)
    assert keys <= m.present()
    assert media_rows(demo, uid) == 0
    s3.front.reset()
    rc, out, err = cli(demo, clock, "retry", code, "--reason", "store back")
    assert rc == 0, err
    req = wait_state(srv, code, DONE, timeout=60)
    assert states_of(req)[-3:] == ["scheduled", "running", req["state"]], req
    assert not keys & m.present()
    assert m.present() == set(m.objects) - keys
    assert pending(demo) == 0


def test_request_whose_scan_cannot_check_the_store_fails_naming_it(demo, s3, tmp_path,
                                                                   fake_platform, servers):
    """The objects are removed, then the residual scan's HEADs fail: the request fails
    (the scan could not run), its reason names the store the scan could not check."""
    m, clock, srv, uid, keys, code, req, reason = failed_on_store(
        demo, s3, tmp_path, fake_platform, servers, "head")
    assert ("the residual scan could not check the objects removed from media store '%s' "
            "(media store '%s' answered HTTP 503" % (STORE, STORE)) in reason, reason
    assert not keys & m.present()  # the erasure itself was done
    assert media_rows(demo, uid) == 0


def killed_at_held_delete(demo, s3, tmp_path, fake_platform, servers):
    """An erasure whose DeleteObjects call is held at the store: the rows of its batch
    committed and its keys recorded pending, lethe killed (SIGKILL) there.  Returns (m,
    clock, code, uid, keys, hold, held): the hold still to release, @held keys pending."""
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers)
    uid, email, keys = person_media(demo)
    hold = s3.front.hold(op="delete")
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    assert hold.wait_arrived(30), "no DeleteObjects call arrived\n" + srv.stderr()
    # The rows of the batch are committed; the delete hangs at the store.
    assert media_rows(demo, uid) == 0
    held = pending(demo)
    assert held >= 1
    srv.stop(signal.SIGKILL)
    return m, clock, code, uid, keys, hold, held


def test_sigkill_between_commit_and_deletes_then_resume(demo, s3, tmp_path, fake_platform,
                                                        servers):
    m, clock, code, uid, keys, hold, _ = killed_at_held_delete(demo, s3, tmp_path,
                                                               fake_platform, servers)
    hold.release(forward=False)  # the store never saw it
    assert keys <= m.present()
    s3.front.reset()

    srv = start(servers, demo, fake_platform, clock)
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert states_of(req) == ["received", "scheduled", "running", req["state"]], req
    assert m.present() == set(m.objects) - keys  # gone, everyone else's kept
    assert media_rows(demo, uid) == 0
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    assert pending(demo) == 0
    # Each of the person's keys deleted (at least once) after the restart.
    sent = set()
    for c in m.deleted_calls():
        if c["status"] == 200:
            sent |= set(c["keys"])
    assert {PREFIX + k for k in keys} <= sent
    # The job's media step counts each object once: removed, none missing or counted twice.
    assert demo.state("SELECT sum(media), sum(media_missing) FROM job_steps WHERE "
                      "table_name = 'media'") == [(len(keys), 0)]


def test_sigkill_after_the_store_deleted_then_resume(demo, s3, tmp_path, fake_platform,
                                                     servers):
    """The other half of the crash: the held DeleteObjects reaches s3rver, which deletes
    the objects, but lethe is dead before it reads the answer.  The resumed run deletes
    again (S3 answers success for a key already gone) and counts each object once, as
    removed."""
    m, clock, code, uid, keys, hold, held = killed_at_held_delete(demo, s3, tmp_path,
                                                                  fake_platform, servers)
    hold.release(forward=True)
    wait_until(lambda: len(keys - m.present()) >= held, "the held delete performed")
    assert pending(demo) == held  # lethe never recorded it
    s3.front.reset()

    srv = start(servers, demo, fake_platform, clock)
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert states_of(req) == ["received", "scheduled", "running", req["state"]], req
    assert m.present() == set(m.objects) - keys
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    assert pending(demo) == 0
    assert demo.state("SELECT sum(media), sum(media_missing) FROM job_steps WHERE "
                      "table_name = 'media'") == [(len(keys), 0)]


def test_sigkill_of_cli_erase_then_rerun(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    hold = s3.front.hold(op="delete")
    p = popen_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                    "email=" + email, "--json", "--no-progress")
    try:
        assert hold.wait_arrived(30), "no DeleteObjects call arrived"
        assert media_rows(demo, uid) == 0
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)
    hold.release(forward=False)
    assert keys <= m.present() and pending(demo) >= 1
    s3.front.reset()
    erase(demo, email)
    assert m.present() == set(m.objects) - keys
    assert pending(demo) == 0
    assert_deletes_signed(m, keys)


# ---- export and the residual scan --------------------------------------------------------

def test_export_archive_holds_the_objects_bytes(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    out = tmp_path / "export.zip"
    code, stdout, err = run_lethe("export", "-c", demo.config, "--scope", "account",
                                  "--id", "email=" + email, "--out", out, "--json")
    assert code == 0, err
    z = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    rows = query(demo.db, "SELECT m.id, m.storage_key FROM media m JOIN projects p ON "
                          "p.id = m.project_id WHERE p.user_id = ?", (uid,))
    assert len(rows) == len(keys)
    for rid, key in rows:
        name = "media/media/%d/%s" % (rid, key.rsplit("/", 1)[-1])
        assert z.read(name) == m.objects[key], name
    man = json.loads(z.read("manifest.json"))
    assert man["media"] == len(keys)
    gets = s3.front.requests(op="get")
    assert gets and all(r["verified"] for r in gets)
    # Exporting removes nothing.
    assert m.present() == set(m.objects)


def test_export_with_an_object_gone_counts_it_missing(demo, s3, tmp_path):
    m = use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    gone = sorted(keys)[0]
    s3.client.delete_objects(m.bucket, [PREFIX + gone])
    out = tmp_path / "export.zip"
    code, stdout, err = run_lethe("export", "-c", demo.config, "--scope", "account",
                                  "--id", "email=" + email, "--out", out, "--json")
    assert code == 0, err
    man = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("manifest.json"))
    assert man["media"] == len(keys) - 1
    mt = {t["table"]: t for t in man["tables"]}
    assert (mt["media"]["media"], mt["media"]["media_missing"]) == (len(keys) - 1, 1), mt


def test_export_with_the_store_down_writes_no_archive(demo, s3, tmp_path):
    use_s3(demo, s3, tmp_path)
    uid, email, keys = person_media(demo)
    s3.front.inject(500, count=100000, op="get")
    out = tmp_path / "export.zip"
    code, stdout, err = run_lethe("export", "-c", demo.config, "--scope", "account",
                                  "--id", "email=" + email, "--out", out, "--json")
    assert code != 0 and STORE in err, (code, err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("export.zip")] == []


def test_export_request_with_the_store_down_fails_naming_the_store(demo, s3, tmp_path,
                                                                   fake_platform, servers):
    """The exporter's failed reason names the store that failed, as the runner's does."""
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("export", kind="export", deadline="30d")])
    use_s3(demo, s3, tmp_path)
    srv = start(servers, demo, fake_platform, clock)
    uid, email, keys = person_media(demo)
    s3.front.inject(500, count=100000, op="get")
    body = {"kind": "export", "scope": "account", "identities": {"email": email},
            "verified": True}
    status, _, req = api(srv, "POST", "/v1/requests", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    assert status == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] == "failed", req
    reason = assert_failed_on_store(srv, demo, clock, code, STORE, keys, what="export")
    assert ("a media object of table media could not be read (media store '%s' answered "
            "HTTP 500" % STORE) in reason, reason
    s3.front.reset()
    rc, out, err = cli(demo, clock, "retry", code, "--reason", "store back")
    assert rc == 0, err
    req = wait_state(srv, code, ("completed",), timeout=60)
    assert req["export"]["media"] == len(keys), req


def test_residual_scan_flags_an_object_put_back(demo, s3, tmp_path, fake_platform, servers):
    """The scan probes the erased keys (HEAD): the first probe is held while the app puts
    one object back, so the scan finds it, whatever the timing."""
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers)
    uid, email, keys = person_media(demo)
    back = sorted(keys)[0]
    hold = s3.front.hold(op="head")
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    assert hold.wait_arrived(60), "the scan probed nothing\n" + srv.stderr()
    s3.put(m.bucket, PREFIX + back, b"put back by the app")
    hold.release()
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] == "failed", req
    assert "1 media object" in req["reason"] and STORE in req["reason"], req
    heads = s3.front.requests(op="head")
    assert len(heads) >= len(keys) and all(r["verified"] for r in heads)
    detail = json.loads(demo.state("SELECT s.detail FROM scans s JOIN requests r ON "
                                   "r.id = s.request_id WHERE r.code = ?", (code,))[0][0])
    assert (detail["media"]["checked"], detail["media"]["present"]) == (len(keys), 1), detail
    assert detail["media"]["stores"] == [{"store": STORE, "checked": len(keys), "present": 1}]
    no_keys_in(json.dumps(req) + srv.stderr() + json.dumps(detail), [back])
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)


def test_residual_scan_checks_the_bucket_by_virtual_host(demo, s3, tmp_path, fake_platform,
                                                         servers):
    """path_style false: the scan's HeadBucket is `HEAD /` on BUCKET.s3.localhost, answered
    200; then the objects' HEADs, all absent: the request completes, the scan clean."""
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers, path_style=False,
                             endpoint="http://s3.localhost:%d" % s3.front.port)
    uid, email, keys = person_media(demo)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    req = wait_state(srv, req["id"], FINAL, timeout=60)
    assert req["state"] in DONE, req
    checks = s3.front.requests(op="headbucket")
    assert len(checks) == 1, checks
    c = checks[0]
    assert (c["path"], c["status"], c["verified"]) == ("/", 200, True), c
    assert c["headers"]["host"] == "%s.s3.localhost:%d" % (m.bucket, s3.front.port)
    heads = s3.front.requests(op="head")
    assert len(heads) == len(keys) and all(r["status"] == 404 for r in heads)


def test_residual_scan_with_the_bucket_gone_fails_to_run(demo, s3, tmp_path, fake_platform,
                                                         servers):
    """The bucket is gone (or misnamed) by the time of the scan.  HEAD answers have no
    body: every object's 404 would read "absent" and the scan pass, clean.  The scan's
    HeadBucket answers 404 instead, so it fails to run and the request never completes."""
    m, clock, srv = serve_s3(demo, s3, tmp_path, fake_platform, servers)
    uid, email, keys = person_media(demo)
    # The scan's first call, whichever it is (HeadBucket; HeadObject without the check).
    holds = [s3.front.hold(op="headbucket"), s3.front.hold(op="head")]
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    wait_until(lambda: any(h.arrived.is_set() for h in holds), "the scan's first call",
               timeout=60, srv=srv)
    # The erasure is done (its DeleteObjects went through); the bucket goes, straight at
    # s3rver: emptied, then deleted.
    assert not keys & m.present()
    left = m.s3.list(m.bucket)
    if left:
        m.s3.client.delete_objects(m.bucket, left)
    st, _, body = m.s3.client.request("DELETE", "/" + m.bucket)
    assert st == 204, body
    for h in holds:
        h.release()
    req = wait_state(srv, code, FINAL, timeout=90)
    assert req["state"] == "failed", req
    assert "media store '%s': the bucket check (HeadBucket) answered HTTP 404" % STORE \
        in srv.stderr(), srv.stderr()
    checks = s3.front.requests(op="headbucket")
    assert len(checks) >= 2 and all(r["verified"] and r["status"] == 404 for r in checks[1:])
    # No object was asked, so none was called absent; no scan of the request passed.
    assert s3.front.requests(op="head") == []
    clean = demo.state("SELECT count(*) FROM scans s JOIN requests r ON r.id = s.request_id "
                       "WHERE r.code = ? AND s.result = 'clean'", (code,))[0][0]
    assert clean == 0
    no_keys_in(json.dumps(req) + srv.stderr(), keys)
