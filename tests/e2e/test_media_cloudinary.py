# SPDX-License-Identifier: MIT
"""Media on Cloudinary (issue 19), end to end against a loopback fake of its Admin API.

The kind alone: tests/unit/media_call (one real media_remove/probe/open/check of a
store) against tests/e2e/fake_cloudinary.py: the calls' shapes, grouping by resource
and delivery type, retries (420/429 with Retry-After, 5xx, a dropped connection, a slow
answer), refusals (401), downloads only from delivery_url, the size cap, and no secret
or key in any message.

With the engine (the real lethe binary): the demo's media table mapped to a store
"cdn" of kind cloudinary, every media file uploaded to the fake first.  `lethe erase`
(both backends) removes exactly the person's assets, each once, in calls of at most 100
public ids with the store's Basic auth, also when the column holds delivery URLs;
assets already gone count as missing; transient answers are retried within the call; a
store that stays down or refuses the credentials fails the erasure naming the store
(never a key), keeps the keys recorded, and the next run removes them; bad store keys
and bad or missing credentials are refused at start (exit 3) before anything changes.
`lethe sweep` (both backends) removes the expired cached media's assets.  Through
`lethe serve`: an erasure request (both backends) removes the assets and its residual
scan probes each of them; a 429 storm fails the request and `lethe requests retry`
finishes it; SIGKILL while Delete resources is held at the fake, after the rows'
commit, then a restart: the request completes once, each asset removed once, counts
exact; an asset uploaded again while the scan's probe is held makes the scan residual
with counts only.  `lethe export` puts the store's bytes in the archive (delivery
downloads without credentials), counts a missing asset as missing and writes nothing
when the store fails.  Channel purges: the demo's data map hangs media under projects,
not channels, so a channel purge removes no media here (it runs through the same erase
engine, src/engine/erase_delete.c).
"""
import base64
import io
import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from disconnect_helpers import serve_env
from fake_cloudinary import API_KEY, API_SECRET, fake_cloudinary  # noqa: F401
from fake_platform import fake_platform  # noqa: F401
from lethe_e2e import execute, lethe_path, popen_lethe, query, run_lethe
from request_helpers import (FINAL, Clock, assert_failed_on_store, cli, configure_requests,
                             create, policy, show, states_of, wait_state, wait_until)
from serve_helpers import servers, stop_ok  # noqa: F401
from sweep_helpers import DAY, DEMO_NOW, fmt

VAR = "LETHE_TEST_CLOUDINARY_URL"


# ---- the kind alone, through tests/unit/media_call -------------------------------------

def media_call_bin():
    return str(Path(lethe_path()).parent / "tests" / "unit" / "media_call")


class Store:
    """A lethe.yaml-like file holding one cloudinary store "cdn" on @fake."""

    def __init__(self, fake, tmp_path, **extra):
        self.fake = fake
        self.dir = tmp_path
        self.file = tmp_path / "stores.yaml"
        self.file.write_text("media_stores: %s\n" % json.dumps(
            {"cdn": fake.store_config(var=VAR, **extra)}))
        self.env = dict(os.environ)
        self.env.update(fake.env(VAR))

    def call(self, *args, env=None, timeout=60):
        p = subprocess.run([media_call_bin(), str(self.file), *args], capture_output=True,
                           text=True, env=env or self.env, timeout=timeout)
        assert p.returncode == 0, (p.returncode, p.stderr)
        doc = json.loads(p.stdout)
        for secret in (API_SECRET, "wrong-secret-value"):
            assert secret not in p.stdout + p.stderr
        return doc

    def remove(self, *keys, env=None):
        return self.call("cdn", "remove", *keys, env=env)

    def probe(self, *keys):
        return self.call("cdn", "probe", *keys)

    def open(self, key, cap=1 << 20):
        out = self.dir / "opened"
        if out.exists():
            out.unlink()
        doc = self.call("cdn", "open", key, str(self.dir), str(cap), str(out))
        doc["bytes"] = out.read_bytes() if out.exists() else None
        return doc


def test_kind_remove_classifies_each_key(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    keys = ["u1/a.jpg", "u1/b c+d~é.jpg", "u1/gone.jpg"]
    for k in keys[:2]:
        fake.put(k, b"x")
    fake.put("u2/other.jpg", b"y")
    doc = st.remove(*keys)
    assert doc["rc"] == "ok" and doc["out"] == ["removed", "removed", "gone"], doc
    assert fake.ids() == ["u2/other.jpg"]
    call, = fake.calls("DELETE")
    assert call.public_ids == keys  # multi-valued, in order, percent-decoded exactly
    assert call.path == "/v1_1/socio-linki/resources/image/upload"
    assert call.user == "%s:%s" % (API_KEY, API_SECRET)
    # The key never travels in the path: only as public_ids[] in the query.
    assert "u1" not in call.raw_path


def test_kind_groups_delivery_urls_by_resource_and_delivery_type(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path, prefix="app/")
    img = fake.put("app/u1/plain", b"1")["secure_url"]
    vid = fake.put("u1/clip", b"2", rt="video", type="private", fmt="mp4")["secure_url"]
    raw = fake.put("u1/cv.pdf", b"3", rt="raw", fmt="pdf")["secure_url"]
    other = fake.url + "/res/another-cloud/image/upload/v1/u1/x.jpg"
    doc = st.remove("u1/plain", vid, raw, other, "https://elsewhere.example/u1/x.jpg")
    assert doc["out"] == ["removed", "removed", "removed", "failed", "failed"], doc
    assert doc["rc"] == "unavailable" and "2 not public ids or delivery URLs" in doc["msg"]
    assert "u1" not in doc["msg"] and "elsewhere" not in doc["msg"]
    paths = sorted((c.path, tuple(c.public_ids)) for c in fake.calls("DELETE"))
    assert paths == [("/v1_1/socio-linki/resources/image/upload", ("app/u1/plain",)),
                     ("/v1_1/socio-linki/resources/raw/upload", ("u1/cv.pdf",)),
                     ("/v1_1/socio-linki/resources/video/private", ("u1/clip",))], paths
    assert fake.ids("image") == [] and fake.ids("video", "private") == []
    assert img  # the plain key took the store's prefix


def test_kind_refuses_more_than_100_keys_a_call(fake_cloudinary, tmp_path):
    st = Store(fake_cloudinary, tmp_path)
    keys = ["k%03d" % i for i in range(100)]
    for k in keys:
        fake_cloudinary.put(k, b"z")
    doc = st.remove(*keys)
    assert doc["rc"] == "ok" and doc["out"] == ["removed"] * 100
    assert len(fake_cloudinary.calls("DELETE")) == 1
    doc = st.remove(*(keys + ["k100"]))
    assert doc["rc"] == "invalid_request" and "1 to 100" in doc["msg"], doc
    assert len(fake_cloudinary.calls("DELETE")) == 1

    # Long public ids: split so that no URL passes 8,000 bytes.
    fake_cloudinary.clear()
    long_keys = ["u1/%03d/" % i + "x" * 200 for i in range(100)]
    for k in long_keys:
        fake_cloudinary.put(k, b"l")
    doc = st.remove(*long_keys)
    assert doc["rc"] == "ok" and doc["out"] == ["removed"] * 100
    calls = fake_cloudinary.calls("DELETE")
    # each id takes 229 bytes of query: 34 fit in a call
    assert len(calls) == 3 and all(c.target_len <= 8000 for c in calls), calls
    assert [i for c in calls for i in c.public_ids] == long_keys


def test_kind_retries_transient_answers(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path, retries=4, backoff_ms=10)
    fake.put("a", b"1")
    fake.fail(status=420, times=1, retry_after=1, method="DELETE")
    fake.fail(status=429, times=1, method="DELETE")
    fake.fail(status=502, times=1, method="DELETE")
    fake.drop(times=1, method="DELETE")
    doc = st.remove("a")
    assert doc["rc"] == "ok" and doc["out"] == ["removed"], doc
    calls = fake.calls("DELETE")
    assert [c.status for c in calls] == [420, 429, 502, None, 200], calls
    assert calls[1].at - calls[0].at >= 0.9  # Retry-After: 1 honoured


def test_kind_gives_up_after_its_retries(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path, retries=2, backoff_ms=10, timeout_ms=500)
    fake.put("a", b"1")
    fake.fail(status=503, times=100, method="DELETE")
    doc = st.remove("a")
    assert doc["rc"] == "unavailable" and doc["out"] == ["failed"], doc
    assert "media store 'cdn' (cloudinary cloud socio-linki) answered HTTP 503 after 3 " \
           "tries" in doc["msg"], doc
    assert len(fake.calls("DELETE")) == 3 and fake.has("a")
    fake.normal()
    fake.hang(seconds=5, times=100, method="DELETE")
    t0 = time.monotonic()
    doc = st.remove("a")
    assert doc["rc"] == "unavailable" and "did not answer after 3 tries" in doc["msg"], doc
    assert time.monotonic() - t0 < 4.5  # timeout_ms bounds each try
    assert fake.has("a")


def test_kind_wrong_credentials_are_refused_not_retried(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    fake.put("a", b"1")
    env = dict(st.env)
    env[VAR] = "cloudinary://%s:wrong-secret-value@%s" % (API_KEY, fake.cloud)
    doc = st.remove("a", env=env)
    assert doc["rc"] == "forbidden" and doc["out"] == ["failed"], doc
    assert "refused the credentials (HTTP 401)" in doc["msg"]
    assert len(fake.calls()) == 1 and fake.has("a")


def test_kind_check_reads_credentials_without_calling(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    assert st.call("check")["rc"] == "ok"
    env = dict(st.env)
    del env[VAR]
    doc = st.call("check", env=env)
    assert doc["rc"] == "config" and VAR in doc["msg"], doc
    for bad in ("https://%s:%s@%s" % (API_KEY, API_SECRET, fake.cloud),
                "cloudinary://%s@%s" % (API_SECRET, fake.cloud)):
        env[VAR] = bad
        doc = st.call("check", env=env)
        assert doc["rc"] == "config", doc
        assert "is not of the form cloudinary://API_KEY:API_SECRET@CLOUD" in doc["msg"]
    env[VAR] = "cloudinary://%s:%s@another-cloud" % (API_KEY, API_SECRET)
    doc = st.call("check", env=env)
    assert doc["rc"] == "config" and "another cloud than cloud_name" in doc["msg"], doc
    # A credentials file, and no cloud_name: the URL names the cloud.
    secret = tmp_path / "cld.secret"
    secret.write_text(fake.credentials_url() + "\n")
    cfg = fake.store_config(var=VAR)
    del cfg["credentials_env"], cfg["cloud_name"]
    cfg["credentials_file"] = "cld.secret"
    st.file.write_text("media_stores: %s\n" % json.dumps({"cdn": cfg}))
    fake.put("a", b"1")
    assert st.call("check")["rc"] == "ok"
    assert st.remove("a")["out"] == ["removed"]
    assert fake.calls() != []


def test_kind_probe_lists_what_is_there(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    keys = ["p%03d" % i for i in range(150)]
    for k in keys[::2]:
        fake.put(k, b"p")
    doc = st.probe(*keys, "https://elsewhere.example/x.jpg")
    assert doc["rc"] == "ok"
    assert doc["out"] == ["present", "absent"] * 75 + ["absent"], doc
    calls = fake.calls("GET")
    assert [len(c.public_ids) for c in calls] == [100, 50]
    fake.fail(status=500, times=100, method="GET")
    doc = st.probe("p000")
    assert doc["rc"] == "unavailable" and doc["out"] == ["unknown"], doc


def test_kind_remove_asks_the_cdn_to_invalidate(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    fake.put("a", b"1")
    assert st.remove("a")["out"] == ["removed"]
    (call,) = fake.calls("DELETE")
    assert call.query["invalidate"] == ["true"] and call.status == 200, call


def test_kind_probe_asks_for_the_most_results(fake_cloudinary, tmp_path):
    """Get resources lists 10 by default: lethe asks for 500, so 100 ids fit one page."""
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    keys = ["q%03d" % i for i in range(100)]
    for k in keys:
        fake.put(k, b"q")
    doc = st.probe(*keys)
    assert doc["rc"] == "ok" and doc["out"] == ["present"] * 100, doc
    (call,) = fake.calls("GET")
    assert call.query["max_results"] == ["500"], call.query


def test_kind_probe_of_a_paginated_answer_is_unknown(fake_cloudinary, tmp_path):
    """An answer with a next_cursor lists only part: what it leaves out is not absent."""
    fake = fake_cloudinary
    fake.page_size = 3
    st = Store(fake, tmp_path)
    keys = ["r%d" % i for i in range(5)]
    for k in keys:
        fake.put(k, b"r")
    doc = st.probe(*keys)
    assert doc["rc"] == "unavailable", doc
    assert "absent" not in doc["out"], doc
    assert "listed only some of 5 assets" in doc["msg"], doc
    no_keys_in(doc["msg"], keys)
    # Fewer present than a page: a full answer, read as before.
    fake.page_size = 10
    assert st.probe(*keys, "gone")["out"] == ["present"] * 5 + ["absent"]


def test_kind_refuses_ambiguous_delivery_urls(fake_cloudinary, tmp_path):
    """No version segment: the public id cannot be told from folders and
    transformations, so the key is FAILED, counted among the refused (review B1)."""
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    fake.put("u17/p", b"mine")
    fake.put("p", b"someone else's")
    base = fake.delivery_url + "/socio-linki/image/upload/"
    doc = st.remove(base + "c_fill,w_100/u17/p.jpg", base + "u17/v2/p.jpg")
    assert doc["rc"] == "unavailable" and doc["out"] == ["failed", "failed"], doc
    assert "(2 not public ids or delivery URLs of this cloud)" in doc["msg"], doc
    assert "u17" not in doc["msg"]
    assert fake.calls("DELETE") == [] and fake.has("u17/p") and fake.has("p")
    # With the version, the same asset is named unambiguously.
    doc = st.remove(base + "c_fill,w_100/v3/u17/p.jpg")
    assert doc["out"] == ["removed"] and not fake.has("u17/p") and fake.has("p"), doc


def test_kind_open_downloads_from_delivery_url_only(fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    st = Store(fake, tmp_path)
    data = os.urandom(70000)
    fake.put("u1/photo one.jpg", data)
    doc = st.open("u1/photo one.jpg")
    assert doc["rc"] == "ok" and doc["size"] == len(data) and doc["bytes"] == data, doc
    admin, = fake.calls("GET", "admin")
    delivery, = fake.calls("GET", "delivery")
    assert admin.path == "/v1_1/socio-linki/resources/image/upload/u1/photo one.jpg"
    assert delivery.auth is None  # the delivery origin never sees the credentials
    # No temporary file is left in the directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opened", "stores.yaml"]
    # Over the cap: refused, nothing kept.
    doc = st.open("u1/photo one.jpg", cap=1000)
    assert doc["rc"] == "too_big" and doc["bytes"] is None, doc
    assert "u1" not in doc["msg"]
    # Not there: not_found, and no delivery call.
    fake.clear()
    assert st.open("u1/none.jpg")["rc"] == "not_found"
    assert fake.calls("GET", "delivery") == []
    # A secure_url elsewhere is not followed.
    fake.secure_origin = fake.url + "/elsewhere"
    fake.put("u1/moved.jpg", b"m")
    fake.clear()
    doc = st.open("u1/moved.jpg")
    assert doc["rc"] == "unavailable" and "not under delivery_url" in doc["msg"], doc
    assert [c.kind for c in fake.calls()] == ["admin"]
    fake.secure_origin = None
    # A delivery URL as the key.
    url = fake.put("u1/clip", b"video bytes", rt="video", fmt="mp4")["secure_url"]
    doc = st.open(url)
    assert doc["rc"] == "ok" and doc["bytes"] == b"video bytes", doc
    # A download that fails is retried; one that never succeeds fails the call.
    fake.fail(status=503, times=1, path_prefix="/res")
    assert st.open(url)["bytes"] == b"video bytes"



# ---- with the engine: the demo's media table on store "cdn" -----------------------------
#
# The demo's media table is mapped to store "cdn" (lethe.yaml's media_stores and the data
# map's `media: {storage_key: cdn}`) and every media row's file is uploaded to the fake
# first, its storage key as the public id.  The local files stay: lethe must not touch
# them (they are not the store's).

DEMO_OPTIONS = ["--users", "8", "--seed", "5"]
BOTH = pytest.mark.usefixtures("backend")
DONE = ("completed", "completed_with_retention")
FAST = {"retries": 2, "backoff_ms": 10, "timeout_ms": 2000}


def media_by_user(demo):
    """{user id: [storage keys]} of the demo's media rows."""
    rows = query(demo.db, "SELECT p.user_id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    out = {}
    for uid, key in rows:
        out.setdefault(uid, []).append(key)
    return out


def person_and_other(demo, least=2):
    """(uid, email, keys, other uid's keys): the two users with the most media files."""
    by = media_by_user(demo)
    a, b = sorted(by, key=lambda u: (-len(by[u]), u))[:2]
    assert len(by[a]) >= least and len(by[b]) >= 1, by
    email = query(demo.db, "SELECT email FROM users WHERE id = ?", (a,))[0][0]
    return a, email, by[a], by[b]


def use_cloudinary(demo, fake, **store):
    """Map the media table to store "cdn" on @fake and upload every media file to it."""
    opts = dict(FAST)
    opts.update(store)
    cfg = fake.store_config(var=VAR, **opts)
    text = demo.config_without("media_stores")
    demo.config.write_text(text + "media_stores: %s\n" % json.dumps({"cdn": cfg}))
    dm = demo.datamap.read_text()
    assert "    media: [storage_key]\n" in dm
    demo.datamap.write_text(dm.replace("    media: [storage_key]\n",
                                       "    media: {storage_key: cdn}\n"))
    n = 0
    for keys in media_by_user(demo).values():
        for k in keys:
            fake.put(k, (demo.media / k).read_bytes())
            n += 1
    assert n > 10, "the demo should have media files"
    fake.clear()


def erase(demo, fake, uid, expect=0, env=None):
    code, out, err = demo.lethe("erase", "--scope", "account", "--id", "user_id=%d" % uid,
                                "--json", "--no-progress", env=env or fake.env(VAR),
                                timeout=120)
    assert code == expect, "erase exited %d, not %d: %s\n%s" % (code, expect, err, out)
    return (json.loads(out) if code == 0 else None), err


def media_step(summary):
    return [s for s in summary["steps"] if s["table"] == "media"][0]


def media_rows(demo, uid):
    return query(demo.db, "SELECT count(*) FROM media m JOIN projects p ON "
                          "p.id = m.project_id WHERE p.user_id = ?", (uid,))[0][0]


def pending(demo):
    return demo.state("SELECT count(*) FROM media_pending")[0][0]


def assert_deletes(fake, allowed):
    """Every Delete resources call: 1..100 ids, all in @allowed, the store's Basic auth
    exactly as sent by an SDK; returns the ids of the calls answered 200."""
    basic = "Basic " + base64.b64encode(("%s:%s" % (API_KEY, API_SECRET)).encode()).decode()
    done = []
    for c in fake.calls("DELETE"):
        assert c.path == "/v1_1/%s/resources/image/upload" % fake.cloud, c.path
        assert 1 <= len(c.public_ids) <= 100, c
        assert c.auth == basic, c.auth
        assert set(c.public_ids) <= set(allowed), sorted(set(c.public_ids) - set(allowed))
        # The CDN is asked to drop its cached copies (Cloudinary's default is not to).
        assert c.query.get("invalidate") == ["true"], c.query
        if c.status == 200:
            done += c.public_ids
    return done


def no_keys_in(text, keys):
    for k in keys:
        assert k not in text, "a key reached the output: %s" % k


@BOTH
def test_cli_erase_removes_the_persons_assets_only(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, other_keys = person_and_other(demo)
    before = len(fake.ids())
    summary, err = erase(demo, fake, uid)
    step = media_step(summary)
    assert (step["media_files"], step["media_missing"], step["media_failed"]) == \
        (len(keys), 0, 0), step
    assert not any(fake.has(k) for k in keys)
    assert all(fake.has(k) for k in other_keys)
    assert len(fake.ids()) == before - len(keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)  # each once
    assert all((demo.media / k).exists() for k in keys)  # the local files are not the store
    assert pending(demo) == 0
    no_keys_in(err, keys)
    # A second run has nothing left to remove and calls nothing.
    fake.clear()
    summary, _ = erase(demo, fake, uid)
    assert media_step(summary)["media_files"] == 0
    assert fake.calls("DELETE") == []


def test_cli_erase_counts_assets_already_gone_as_missing(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    with fake._lock:  # the app removed one itself
        del fake._assets[("image", "upload", keys[0])]
    summary, _ = erase(demo, fake, uid)
    step = media_step(summary)
    assert (step["media_files"], step["media_missing"], step["media_failed"]) == \
        (len(keys) - 1, 1, 0), step
    assert not any(fake.has(k) for k in keys)


def test_cli_erase_sends_at_most_100_public_ids_a_call(demo, fake_cloudinary):
    """A person with 250 more assets: Delete resources calls of at most 100 ids, every
    asset removed and counted once."""
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, other_keys = person_and_other(demo)
    pid = query(demo.db, "SELECT id FROM projects WHERE user_id = ? ORDER BY id LIMIT 1",
                (uid,))[0][0]
    names = [r[1] for r in query(demo.db, "PRAGMA table_info(media)")]
    template = dict(zip(names, query(demo.db, "SELECT * FROM media WHERE storage_key = ?",
                                     (keys[0],))[0]))
    extra = ["u%d/bulk/%03d plus+space ~é.jpg" % (uid, i) for i in range(250)]
    for k in extra:
        row = dict(template)
        row.pop("id")
        row["project_id"], row["storage_key"] = pid, k
        execute(demo.db, "INSERT INTO media(%s) VALUES (%s)"
                % (", ".join(row), ", ".join("?" * len(row))), tuple(row.values()))
        fake.put(k, b"bulk " + k.encode())
    summary, _ = erase(demo, fake, uid)
    step = media_step(summary)
    assert (step["media_files"], step["media_failed"]) == (len(keys) + 250, 0), step
    done = assert_deletes(fake, keys + extra)
    assert sorted(done) == sorted(keys + extra)
    assert len(fake.calls("DELETE")) >= 3
    assert not any(fake.has(k) for k in keys + extra)
    assert all(fake.has(k) for k in other_keys)


def test_cli_erase_of_delivery_url_keys(demo, fake_cloudinary):
    """The app stored each asset's secure_url, not its public id."""
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    for k in keys:
        url = fake.put(k, b"x", fmt="png")["secure_url"]
        execute(demo.db, "UPDATE media SET storage_key = ? WHERE storage_key = ?", (url, k))
    fake.clear()
    summary, err = erase(demo, fake, uid)
    assert media_step(summary)["media_files"] == len(keys)
    assert not any(fake.has(k) for k in keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)
    no_keys_in(err, keys)


def test_cli_erase_retries_transient_answers_within_the_call(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake, retries=3)
    uid, _, keys, _ = person_and_other(demo)
    fake.fail(status=420, times=1, retry_after=0, method="DELETE")
    fake.fail(status=500, times=1, method="DELETE")
    fake.drop(times=1, method="DELETE")
    summary, _ = erase(demo, fake, uid)
    step = media_step(summary)
    assert (step["media_files"], step["media_failed"]) == (len(keys), 0), step
    assert [c.status for c in fake.calls("DELETE")] == [420, 500, None, 200]
    assert not any(fake.has(k) for k in keys)


def test_cli_erase_with_the_store_down_then_a_rerun(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    fake.fail(status=503, times=10 ** 6, method="DELETE")
    _, err = erase(demo, fake, uid, expect=1)
    assert "%d media files of media could not be removed" % len(keys) in err, err
    assert "cdn" in err and "run the same command again" in err, err
    no_keys_in(err, keys)
    assert all(fake.has(k) for k in keys)  # nothing counted removed that is there
    assert pending(demo) == len(keys)
    assert media_rows(demo, uid) == 0  # the rows' deletion committed before the deletes
    fake.normal()
    fake.clear()
    summary, _ = erase(demo, fake, uid)
    assert not any(fake.has(k) for k in keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)
    assert pending(demo) == 0
    assert media_step(summary)["media_failed"] == 0


def test_cli_erase_with_wrong_credentials(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    env = fake.env(VAR)
    env[VAR] = "cloudinary://%s:wrong-secret-value@%s" % (API_KEY, fake.cloud)
    _, err = erase(demo, fake, uid, expect=1, env=env)
    assert "refused the credentials (HTTP 401)" in err and "cdn" in err, err
    assert "wrong-secret-value" not in err and API_SECRET not in err
    assert all(fake.has(k) for k in keys)
    assert len(fake.calls("DELETE")) == 1  # a refusal is not retried
    assert pending(demo) == len(keys)
    erase(demo, fake, uid)  # the right credentials: what is recorded is removed
    assert not any(fake.has(k) for k in keys) and pending(demo) == 0


@pytest.mark.parametrize("store, words", [
    ({"resource_type": "auto"}, ["resource_type", "image, video or raw"]),
    ({"cloud_name": "bad/name"}, ["cloud_name"]),
    ({"api_url": "ftp://x"}, ["api_url"]),
    ({"bucket": "x"}, ["unknown key 'bucket'"]),
])
def test_bad_store_configuration_is_refused(demo, fake_cloudinary, store, words):
    fake = fake_cloudinary
    use_cloudinary(demo, fake, **store)
    uid, _, keys, _ = person_and_other(demo)
    before = demo.snapshot()
    _, err = erase(demo, fake, uid, expect=3)
    for w in words:
        assert w in err, err
    assert demo.snapshot() == before
    assert fake.calls() == []


def test_unset_or_malformed_credentials_are_refused_at_start(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    before = demo.snapshot()
    for value, words in [(None, [VAR, "is not set"]),
                         ("https://%s:%s@%s" % (API_KEY, API_SECRET, fake.cloud),
                          [VAR, "cloudinary://API_KEY:API_SECRET@CLOUD"]),
                         ("cloudinary://%s:%s@another-cloud" % (API_KEY, API_SECRET),
                          ["another cloud"])]:
        env = fake.env(VAR)
        if value is None:
            del env[VAR]
        else:
            env[VAR] = value
        _, err = erase(demo, fake, uid, expect=3, env=env)
        for w in words + ["cdn"]:
            assert w in err, err
        assert API_SECRET not in err
    assert demo.snapshot() == before
    assert fake.calls() == []


@BOTH
def test_sweep_removes_expired_assets(demo, fake_cloudinary):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    expired = {r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE "
                                            "created_at < ? AND cached = 1",
                                   (fmt(DEMO_NOW - 30 * DAY),))}
    assert len(expired) >= 2, "the demo should have old cached media"
    kept = set(fake.ids()) - expired
    env = fake.env(VAR)
    env["LETHE_TEST_NOW"] = str(DEMO_NOW)
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json", env=env)
    assert code == 0, err
    t = [t for t in json.loads(out)["tables"] if t["table"] == "media"][0]
    assert (t["rows"], t["media_files"], t["media_failed"]) == (len(expired), len(expired), 0)
    assert set(fake.ids()) == kept
    assert sorted(assert_deletes(fake, expired)) == sorted(expired)
    assert pending(demo) == 0


def test_sweep_killed_after_the_store_deleted_then_settled(demo, fake_cloudinary):
    """`lethe sweep --once` is killed while the store performs its Delete resources: the
    next sweep settles the records, is told not_found and counts them removed, once."""
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    expired = {r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE "
                                            "created_at < ? AND cached = 1",
                                   (fmt(DEMO_NOW - 30 * DAY),))}
    env = fake.env(VAR)
    env["LETHE_TEST_NOW"] = str(DEMO_NOW)
    hold = fake.hold(method="DELETE")
    p = popen_lethe("sweep", "-c", demo.config, "--once", "--json", env=env)
    try:
        assert hold.wait_arrived(30), "no Delete resources call arrived"
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)
    held = set(fake.calls("DELETE")[0].public_ids)
    hold.release(forward=True)
    wait_until(lambda: not any(fake.has(k) for k in held), "the held delete performed")
    assert pending(demo) >= len(held)
    fake.clear()
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json", env=env)
    assert code == 0, err
    t = [t for t in json.loads(out)["tables"] if t["table"] == "media"][0]
    assert (t["media_files"], t["media_missing"], t["media_failed"]) == \
        (len(expired), 0, 0), t
    assert not any(fake.has(k) for k in expired)
    assert pending(demo) == 0


# ---- requests through `lethe serve` -----------------------------------------------------

def serve_cld(demo, fake_platform, fake, servers, tmp_path, **store):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    use_cloudinary(demo, fake, **store)
    env = serve_env(fake_platform)
    env.update(clock.env())
    env.update(fake.env(VAR))
    return clock, lambda: servers(demo, env=env)


@BOTH
def test_request_erasure_removes_the_assets_and_the_scan_checks_them(
        demo, fake_platform, fake_cloudinary, servers, tmp_path):
    fake = fake_cloudinary
    clock, start_srv = serve_cld(demo, fake_platform, fake, servers, tmp_path)
    uid, email, keys, other_keys = person_and_other(demo)
    srv = start_srv()
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert not any(fake.has(k) for k in keys)
    assert all(fake.has(k) for k in other_keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)
    # The residual scan asked the store about every removed key (resources by public ids).
    probes = [c for c in fake.calls("GET", "admin") if c.public_ids]
    assert sorted(i for c in probes for i in c.public_ids) == sorted(keys)
    detail = json.loads(demo.state("SELECT s.detail FROM scans s JOIN requests r ON "
                                   "r.id = s.request_id WHERE r.code = ?", (code,))[0][0])
    assert (detail["media"]["checked"], detail["media"]["present"]) == (len(keys), 0), detail
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)
    no_keys_in(json.dumps(req) + srv.stderr(), keys)
    stop_ok(srv)


def test_request_fails_while_the_store_is_down_then_retry_finishes(
        demo, fake_platform, fake_cloudinary, servers, tmp_path):
    fake = fake_cloudinary
    clock, start_srv = serve_cld(demo, fake_platform, fake, servers, tmp_path)
    uid, email, keys, other_keys = person_and_other(demo)
    fake.fail(status=429, times=10 ** 6, retry_after=0, method="DELETE")
    srv = start_srv()
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=90)
    assert req["state"] == "failed", req
    reason = assert_failed_on_store(srv, demo, clock, code, "cdn", keys)
    assert ("%d media objects of table media could not be removed (media store 'cdn' "
            "(cloudinary cloud %s) answered HTTP 429" % (len(keys), fake.cloud)) in reason, reason
    log = srv.stderr()
    assert "media store 'cdn' (cloudinary cloud %s) answered HTTP 429" % fake.cloud in log, log
    no_keys_in(json.dumps(req) + log, keys)
    assert all(fake.has(k) for k in keys)
    assert media_rows(demo, uid) == 0  # the rows' deletion committed before the deletes
    assert len(fake.calls("DELETE")) >= 3  # a call and its 2 retries at least
    fake.normal()
    fake.clear()
    rc, out, err = cli(demo, clock, "retry", code, "--reason", "cloudinary is back")
    assert rc == 0, err
    req = wait_state(srv, code, DONE, timeout=60)
    assert states_of(req)[-3:] == ["scheduled", "running", req["state"]], req
    assert not any(fake.has(k) for k in keys)
    assert all(fake.has(k) for k in other_keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)
    stop_ok(srv)


def killed_at_held_delete(demo, fake_platform, fake, servers, tmp_path):
    """An erasure whose Delete resources call is held at the store: its rows committed and
    its keys recorded pending, lethe killed (SIGKILL) there.  Returns (clock, start_srv,
    code, keys, other_keys, hold), the hold still to release."""
    clock, start_srv = serve_cld(demo, fake_platform, fake, servers, tmp_path)
    uid, email, keys, other_keys = person_and_other(demo)
    hold = fake.hold(method="DELETE")
    srv = start_srv()
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    assert hold.wait_arrived(30), "no Delete resources call arrived\n" + srv.stderr()
    # The rows are committed; the delete hangs at the store.
    assert media_rows(demo, uid) == 0
    assert pending(demo) == len(keys)
    srv.stop(signal.SIGKILL)
    return clock, start_srv, code, keys, other_keys, hold


def test_sigkill_between_the_commit_and_the_deletes_then_resume(
        demo, fake_platform, fake_cloudinary, servers, tmp_path):
    fake = fake_cloudinary
    clock, start_srv, code, keys, other_keys, hold = killed_at_held_delete(
        demo, fake_platform, fake, servers, tmp_path)
    hold.release(forward=False)  # the store never saw it
    assert all(fake.has(k) for k in keys)
    fake.clear()

    srv = start_srv()
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert states_of(req) == ["received", "scheduled", "running", req["state"]], req
    assert not any(fake.has(k) for k in keys)
    assert all(fake.has(k) for k in other_keys)
    assert sorted(assert_deletes(fake, keys)) == sorted(keys)  # each once after the restart
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)
    # Counted once: the step's media count is the person's assets, none missing.
    assert demo.state("SELECT media, media_missing FROM job_steps WHERE table_name = "
                      "'media'") == [(len(keys), 0)]
    assert show(demo, clock, code)["state"] in DONE
    stop_ok(srv)


def test_sigkill_after_the_store_deleted_then_resume(
        demo, fake_platform, fake_cloudinary, servers, tmp_path):
    """The other half of the crash: the store performs the held Delete resources, but
    lethe dies before it records the answer.  The resumed run's call gets not_found for
    its own earlier records and counts them removed (lethe removed them), never missing
    and never twice."""
    fake = fake_cloudinary
    clock, start_srv, code, keys, other_keys, hold = killed_at_held_delete(
        demo, fake_platform, fake, servers, tmp_path)
    hold.release(forward=True)  # the store deletes; its answer finds lethe gone
    wait_until(lambda: not any(fake.has(k) for k in keys), "the held delete performed")
    assert pending(demo) == len(keys)  # lethe never recorded it
    fake.clear()

    srv = start_srv()
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] in DONE, req
    assert states_of(req) == ["received", "scheduled", "running", req["state"]], req
    assert all(fake.has(k) for k in other_keys)
    # The resumed run asked again (each key once) and was told not_found for all.
    again = fake.calls("DELETE")
    assert sorted(i for c in again for i in c.public_ids) == sorted(keys), again
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)
    assert demo.state("SELECT media, media_missing FROM job_steps WHERE table_name = "
                      "'media'") == [(len(keys), 0)]
    stop_ok(srv)


def test_residual_scan_flags_an_asset_put_back(demo, fake_platform, fake_cloudinary,
                                               servers, tmp_path):
    """The scan's first probe (resources by public ids) is held while the app uploads one
    asset again at a removed public id: the scan finds it, whatever the timing."""
    fake = fake_cloudinary
    clock, start_srv = serve_cld(demo, fake_platform, fake, servers, tmp_path)
    uid, email, keys, _ = person_and_other(demo)
    back = sorted(keys)[0]
    hold = fake.hold(method="GET")
    srv = start_srv()
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    assert hold.wait_arrived(60), "the scan probed nothing\n" + srv.stderr()
    assert not any(fake.has(k) for k in keys)
    fake.put(back, b"uploaded again by the app")
    hold.release()
    req = wait_state(srv, code, FINAL, timeout=60)
    assert req["state"] == "failed", req
    assert "1 media object" in req["reason"] and "cdn" in req["reason"], req
    detail = json.loads(demo.state("SELECT s.detail FROM scans s JOIN requests r ON "
                                   "r.id = s.request_id WHERE r.code = ?", (code,))[0][0])
    assert (detail["media"]["checked"], detail["media"]["present"]) == (len(keys), 1), detail
    no_keys_in(json.dumps(req) + srv.stderr() + json.dumps(detail), [back])
    wait_until(lambda: pending(demo) == 0, "media_pending forgotten", srv=srv)
    stop_ok(srv)


# ---- export ------------------------------------------------------------------------------

def export(demo, fake, uid, out, expect=0):
    code, stdout, err = demo.lethe("export", "--scope", "account", "--id",
                                   "user_id=%d" % uid, "--out", out, "--json",
                                   env=fake.env(VAR), timeout=120)
    assert code == expect, (code, err)
    return err


def test_export_archive_holds_the_assets_bytes(demo, fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    # The store's bytes, not the local files': make them differ.
    stored = {k: b"from cloudinary " + k.encode() for k in keys}
    for k, data in stored.items():
        fake.put(k, data)
    gone = sorted(keys)[-1]
    with fake._lock:
        del fake._assets[("image", "upload", gone)]
    fake.clear()
    out = tmp_path / "export.zip"
    export(demo, fake, uid, out)
    z = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    rows = query(demo.db, "SELECT m.id, m.storage_key FROM media m JOIN projects p ON "
                          "p.id = m.project_id WHERE p.user_id = ?", (uid,))
    assert len(rows) == len(keys)
    for rid, key in rows:
        name = "media/media/%d/%s" % (rid, key.rsplit("/", 1)[-1])
        if key == gone:
            assert name not in z.namelist()
        else:
            assert z.read(name) == stored[key], name
    man = json.loads(z.read("manifest.json"))
    assert man["media"] == len(keys) - 1
    mt = [t for t in man["tables"] if t["table"] == "media"][0]
    assert mt["media_missing"] == 1, mt
    # Downloads came from the delivery origin without credentials; nothing was removed.
    assert all(c.auth is None for c in fake.calls("GET", "delivery"))
    assert len(fake.calls("GET", "delivery")) == len(keys) - 1
    assert fake.calls("DELETE") == []
    # No temporary file is left beside the archive.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_with_the_store_down_writes_no_archive(demo, fake_cloudinary, tmp_path):
    fake = fake_cloudinary
    use_cloudinary(demo, fake)
    uid, _, keys, _ = person_and_other(demo)
    fake.fail(status=500, times=10 ** 6, path_prefix="/res")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    err = export(demo, fake, uid, out_dir / "export.zip", expect=1)
    assert "cdn" in err, err
    no_keys_in(err, keys)
    assert list(out_dir.iterdir()) == []
