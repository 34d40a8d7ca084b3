# SPDX-License-Identifier: MIT
"""Media on Cloudinary (issue 19), end to end against a loopback fake of its Admin API.

The kind alone: tests/unit/media_call (one real media_remove/probe/open/check of a
store) against tests/e2e/fake_cloudinary.py: the calls' shapes, grouping by resource
and delivery type, retries (420/429 with Retry-After, 5xx, a dropped connection, a slow
answer), refusals (401), downloads only from delivery_url, the size cap, and no secret
or key in any message.
"""
import json
import os
import subprocess
import time
from pathlib import Path

from fake_cloudinary import API_KEY, API_SECRET, fake_cloudinary  # noqa: F401
from lethe_e2e import lethe_path

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

