# SPDX-License-Identifier: MIT
"""A loopback stand-in for Cloudinary's Admin API and delivery, for lethe's e2e tests.

One threaded HTTP server on 127.0.0.1 (an ephemeral port) answers the Admin
API calls lethe's cloudinary media store makes, in the shapes Cloudinary
documents (https://cloudinary.com/documentation/admin_api), and serves the
assets' bytes under a delivery prefix:

    DELETE {url}/v1_1/{cloud}/resources/{rt}/{type}?public_ids[]=a&public_ids[]=b
                  &invalidate=true
           -> 200 {"deleted": {"a": "deleted", "b": "not_found"}, "deleted_counts": {...},
                   "partial": false}         (more than 100 ids: 400; no invalidate=true:
                                              400, so a test proves lethe asks the CDN to
                                              drop its cached copies)
    GET    {url}/v1_1/{cloud}/resources/{rt}/{type}?public_ids[]=a&...[&max_results=N]
           -> 200 {"resources": [{resource}, ...]}   (only the ones that exist, at most
              max_results of them: default 10, at most 500 (else 400), as the Get
              resources reference documents; when more exist, "next_cursor": "...")
    GET    {url}/v1_1/{cloud}/resources/{rt}/{type}/{public_id}
           -> 200 {resource} | 404 {"error": {"message": "Resource not found - ..."}}
    GET    {url}/res/{cloud}/{rt}/{type}/v{version}/{public_id}[.{format}]
           -> the asset's bytes (no credentials needed) | 404 with an x-cld-error header

    {resource} = {"asset_id", "public_id", "format", "version", "resource_type", "type",
                  "bytes", "url", "secure_url"}; secure_url lies under delivery_url.

Every Admin API call must carry Basic auth API_KEY:API_SECRET of the fake's
cloud, else 401 {"error": {"message": "..."}} (Cloudinary's error shape); a
path naming another cloud gets 401 too.  Admin answers carry Cloudinary's
X-FeatureRateLimit-* headers.

API (thread-safe):

    with FakeCloudinary() as fake:            # started; always stopped on exit
        fake.url, fake.api_url, fake.delivery_url, fake.cloud
        fake.credentials_url()                # cloudinary://KEY:SECRET@CLOUD
        fake.env(var="LETHE_TEST_CLOUDINARY_URL")   # {var: credentials_url(), no_proxy...}
        fake.store_config(var=..., **extra)   # a dict for one `media_stores:` entry
        fake.put(public_id, data, rt="image", type="upload", fmt="jpg") -> resource dict
        fake.has(public_id, rt="image", type="upload"), fake.get(...) -> bytes or None
        fake.ids(rt="image", type="upload")   # the public ids held, sorted

        # Failures for the next N matching calls (method None: any; path_prefix
        # "/v1_1" admin only, "/res" delivery only):
        fake.fail(status=500, times=1, retry_after=None, method=None, path_prefix="/v1_1")
        fake.hang(seconds=5, times=1, ...)    # answer after that long (stop() ends it)
        fake.drop(times=1, ...)               # close the connection without an answer
        h = fake.hold(method="DELETE")        # hold the next matching call until released:
        h.wait_arrived(30) -> bool            #   it arrived (bounded wait)
        h.release(forward=True)               #   answer it normally (False: drop it)
        fake.secure_origin = "http://..."     # make secure_url point elsewhere (None: normal)
        fake.page_size = 3                    # list at most 3 a page whatever max_results
                                              #   says (None: max_results alone)

        # What came: a list of Call, oldest first.
        fake.calls(method=None, kind=None)    # kind "admin" or "delivery"
        fake.wait_calls(n, ...)               # bounded wait
        fake.clear()

    Call fields: method, path (as received, percent-decoded, no query), raw_path,
    target_len (bytes of path and query as sent), kind ("admin", "delivery"),
    query ({name: [values]}, public_ids[] multi-valued, in order), auth (the
    Authorization header exactly as sent, or None), user ("key:secret" decoded
    from it, or None), status (answered; None for a drop/hang cut short), at.
"""
import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

CLOUD = "socio-linki"
API_KEY = "614337852921743"
API_SECRET = "fake-Cld_s3cret-0123456789"
MAX_IDS = 100
MAX_RESULTS = 500   # Get resources: max_results "up to 500", default 10
RATE_LIMIT = 500


class Call:
    """One request the fake received."""

    def __init__(self, **kw):
        self.method = kw["method"]      # "DELETE", "GET"...
        self.path = kw["path"]          # percent-decoded path, no query
        self.raw_path = kw["raw_path"]  # path as sent (still encoded), no query
        self.query = kw["query"]        # {name: [values]}
        self.auth = kw["auth"]          # Authorization header as sent, or None
        self.user = kw["user"]          # "key:secret" of Basic auth, or None
        self.kind = kw["kind"]          # "admin" (/v1_1/...) or "delivery" (/res/...) or None
        self.target_len = kw["target_len"]  # bytes of the request target (path and query)
        self.status = None              # what the fake answered
        self.at = kw["at"]              # time.monotonic() of arrival

    @property
    def public_ids(self):
        return self.query.get("public_ids[]", [])

    def __repr__(self):
        return "Call(%s %s ids=%d -> %s)" % (self.method, self.path, len(self.public_ids),
                                             self.status)


class Hold:
    """One call held until the test releases it (see FakeCloudinary.hold)."""

    def __init__(self, method, path_prefix):
        self.method = method
        self.path_prefix = path_prefix
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.forward = True

    def matches(self, method, path):
        return ((self.method is None or self.method == method)
                and (self.path_prefix is None or path.startswith(self.path_prefix)))

    def wait_arrived(self, timeout=30.0):
        return self.arrived.wait(timeout)

    def release(self, forward=True):
        self.forward = forward
        self.released.set()


class _Rule:
    def __init__(self, mode, times, status=None, seconds=None, retry_after=None, method=None,
                 path_prefix=None):
        self.mode = mode                # "status", "hang", "drop"
        self.times = times              # calls left
        self.status = status
        self.seconds = seconds
        self.retry_after = retry_after  # seconds for a Retry-After header, or None
        self.method = method
        self.path_prefix = path_prefix

    def matches(self, method, path):
        return ((self.method is None or self.method == method)
                and (self.path_prefix is None or path.startswith(self.path_prefix)))


def _error(message):
    return {"error": {"message": message}}


class FakeCloudinary:
    """The fake; see the module docstring."""

    def __init__(self, cloud=CLOUD, api_key=API_KEY, api_secret=API_SECRET):
        self.cloud = cloud
        self.api_key = api_key
        self.api_secret = api_secret
        self.secure_origin = None
        self.page_size = None
        self._lock = threading.Lock()
        self._assets = {}  # (rt, type, public_id) -> resource dict + "data"
        self._calls = []
        self._rules = []
        self._holds = []
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self.url = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self)

            do_DELETE = do_GET
            do_POST = do_GET
            do_PUT = do_GET
            do_HEAD = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        with self._lock:
            for h in self._holds:
                h.release(False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- configuration for lethe ----------------------------------------------------------

    @property
    def api_url(self):
        return self.url

    @property
    def delivery_url(self):
        return self.url + "/res"

    def credentials_url(self):
        return "cloudinary://%s:%s@%s" % (self.api_key, self.api_secret, self.cloud)

    def env(self, var="LETHE_TEST_CLOUDINARY_URL"):
        return {var: self.credentials_url(), "no_proxy": "127.0.0.1,localhost",
                "NO_PROXY": "127.0.0.1,localhost"}

    def store_config(self, var="LETHE_TEST_CLOUDINARY_URL", **extra):
        cfg = {"type": "cloudinary", "cloud_name": self.cloud, "api_url": self.api_url,
               "delivery_url": self.delivery_url, "credentials_env": var,
               "connect_timeout_ms": 1000, "timeout_ms": 3000, "retries": 2,
               "backoff_ms": 20}
        cfg.update(extra)
        return cfg

    # --- assets ---------------------------------------------------------------------------

    def _resource(self, rt, typ, public_id, version, fmt, size):
        name = quote(public_id) + ("." + fmt if fmt and rt != "raw" else "")
        origin = self.secure_origin or self.delivery_url
        rel = "%s/%s/%s/v%d/%s" % (self.cloud, rt, typ, version, name)
        return {"asset_id": secrets.token_hex(16), "public_id": public_id, "format": fmt,
                "version": version, "resource_type": rt, "type": typ, "bytes": size,
                "url": "%s/%s" % (origin, rel), "secure_url": "%s/%s" % (origin, rel)}

    def put(self, public_id, data, rt="image", type="upload", fmt="jpg"):
        """Hold an asset (replacing one of the same id); returns its resource dict."""
        version = int(time.time()) + len(self._assets)
        with self._lock:
            self._assets[(rt, type, public_id)] = {"version": version, "format": fmt,
                                                   "data": bytes(data)}
        return self._resource(rt, type, public_id, version, fmt, len(data))

    def has(self, public_id, rt="image", type="upload"):
        with self._lock:
            return (rt, type, public_id) in self._assets

    def get(self, public_id, rt="image", type="upload"):
        with self._lock:
            a = self._assets.get((rt, type, public_id))
            return None if a is None else a["data"]

    def ids(self, rt="image", type="upload"):
        with self._lock:
            return sorted(p for (r, t, p) in self._assets if r == rt and t == type)

    # --- behaviour ------------------------------------------------------------------------

    def _add_rule(self, rule):
        with self._lock:
            self._rules.append(rule)

    def fail(self, status=500, times=1, retry_after=None, method=None, path_prefix="/v1_1"):
        self._add_rule(_Rule("status", times, status=status, retry_after=retry_after,
                             method=method, path_prefix=path_prefix))

    def hang(self, seconds=5.0, times=1, method=None, path_prefix="/v1_1"):
        self._add_rule(_Rule("hang", times, seconds=seconds, method=method,
                             path_prefix=path_prefix))

    def drop(self, times=1, method=None, path_prefix="/v1_1"):
        self._add_rule(_Rule("drop", times, method=method, path_prefix=path_prefix))

    def hold(self, method=None, path_prefix="/v1_1"):
        h = Hold(method, path_prefix)
        with self._lock:
            self._holds.append(h)
        return h

    def normal(self):
        with self._lock:
            self._rules = []
            holds, self._holds = self._holds, []
        for h in holds:
            h.release(True)

    def _take_hold(self, method, path):
        with self._lock:
            for h in self._holds:
                if h.matches(method, path):
                    self._holds.remove(h)
                    return h
        return None

    def _take_rule(self, method, path):
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.matches(method, path):
                    rule.times -= 1
                    return rule
        return None

    # --- recorded calls -------------------------------------------------------------------

    def calls(self, method=None, kind=None):
        with self._lock:
            return [c for c in self._calls
                    if (method is None or c.method == method) and (kind is None or c.kind == kind)]

    def wait_calls(self, n, method=None, kind=None, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            got = self.calls(method, kind)
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError("fake cloudinary: expected %d %s call(s) within %.1fs, "
                                     "got %r" % (n, method or "", timeout, got))
            time.sleep(0.02)

    def clear(self):
        with self._lock:
            self._calls = []

    # --- serving --------------------------------------------------------------------------

    @staticmethod
    def _basic_user(auth):
        if not auth or not auth.startswith("Basic "):
            return None
        try:
            return base64.b64decode(auth[6:], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None

    def _handle(self, h):
        split = urlsplit(h.path)
        path = unquote(split.path)
        length = int(h.headers.get("Content-Length") or 0)
        if length > 0:
            h.rfile.read(min(length, 1 << 20))
        auth = h.headers.get("Authorization")
        kind = ("admin" if split.path.startswith("/v1_1/") else
                "delivery" if split.path.startswith("/res/") else None)
        call = Call(method=h.command, path=path, raw_path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True), auth=auth,
                    user=self._basic_user(auth), kind=kind, target_len=len(h.path),
                    at=time.monotonic())
        with self._lock:
            self._calls.append(call)
        held = self._take_hold(h.command, split.path)
        if held is not None:
            held.arrived.set()
            held.released.wait(120)
            if not held.forward or self._stopping.is_set():
                self._drop(h)
                return
        rule = self._take_rule(h.command, split.path)
        if rule is not None and rule.mode == "drop":
            self._drop(h)
            return
        if rule is not None and rule.mode == "hang":
            if self._stopping.wait(rule.seconds):
                return
        headers = {}
        if rule is not None and rule.mode == "status":
            status, body = rule.status, _error("injected failure %d" % rule.status)
            if rule.retry_after is not None:
                headers["Retry-After"] = str(rule.retry_after)
        elif kind == "admin":
            status, body = self._admin(call, split.path)
            headers.update({"X-FeatureRateLimit-Limit": str(RATE_LIMIT),
                            "X-FeatureRateLimit-Remaining": str(RATE_LIMIT - 1),
                            "X-FeatureRateLimit-Reset": "Mon, 07 Dec 2026 13:00:00 GMT"})
        elif kind == "delivery":
            status, body = self._delivery(call)
            if status == 404:
                headers["x-cld-error"] = "Resource not found"
        else:
            status, body = 404, _error("no such endpoint")
        call.status = status
        if isinstance(body, (bytes, bytearray)):
            data, ctype = bytes(body), "application/octet-stream"
        else:
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        except OSError:
            pass

    @staticmethod
    def _drop(h):
        h.close_connection = True
        try:
            h.connection.shutdown(2)
        except OSError:
            pass

    def _admin(self, call, raw_path):
        expected = "%s:%s" % (self.api_key, self.api_secret)
        if call.user != expected:
            return 401, _error("Invalid api_key or api_secret" if call.user
                               else "Must supply api_key")
        # /v1_1/CLOUD/resources/RT/TYPE[/PUBLIC_ID...]  (split on the encoded path: an id's
        # own '/' is sent as is, and %2F inside a segment stays part of it)
        parts = raw_path.split("/", 6)
        if len(parts) < 6 or parts[3] != "resources":
            return 404, _error("no such endpoint")
        if unquote(parts[2]) != self.cloud:
            return 401, _error("Invalid cloud_name %s" % unquote(parts[2]))
        rt, typ = unquote(parts[4]), unquote(parts[5])
        if rt not in ("image", "video", "raw"):
            return 400, _error("Invalid resource_type %s" % rt)
        if len(parts) == 7:
            if call.method != "GET":
                return 404, _error("no such endpoint")
            return self._details(rt, typ, unquote(parts[6]))
        ids = call.public_ids
        if not ids:
            return 400, _error("Must supply public_ids, prefix or all")
        if len(ids) > MAX_IDS:
            return 400, _error("Too many public_ids (at most %d)" % MAX_IDS)
        if call.method == "DELETE":
            if call.query.get("invalidate") != ["true"]:
                return 400, _error("this fake wants invalidate=true on every delete")
            deleted, counts = {}, {}
            with self._lock:
                for pid in ids:
                    gone = self._assets.pop((rt, typ, pid), None) is None
                    if pid not in deleted or deleted[pid] == "not_found":
                        deleted[pid] = "not_found" if gone else "deleted"
                    counts[pid] = {"original": 0 if gone else 1, "derived": 0}
            return 200, {"deleted": deleted, "deleted_counts": counts, "partial": False}
        if call.method == "GET":
            try:
                limit = int(call.query.get("max_results", ["10"])[-1])
            except ValueError:
                return 400, _error("Invalid max_results")
            if not 1 <= limit <= MAX_RESULTS:
                return 400, _error("max_results must be 1..%d" % MAX_RESULTS)
            if self.page_size is not None:
                limit = min(limit, self.page_size)
            out = []
            with self._lock:
                for pid in ids:
                    a = self._assets.get((rt, typ, pid))
                    if a is not None:
                        out.append(self._resource(rt, typ, pid, a["version"], a["format"],
                                                  len(a["data"])))
            answer = {"resources": out[:limit]}
            if len(out) > limit:
                answer["next_cursor"] = secrets.token_hex(16)
            return 200, answer
        return 404, _error("no such endpoint")

    def _details(self, rt, typ, pid):
        with self._lock:
            a = self._assets.get((rt, typ, pid))
            if a is None:
                return 404, _error("Resource not found - %s" % pid)
            return 200, self._resource(rt, typ, pid, a["version"], a["format"], len(a["data"]))

    def _delivery(self, call):
        # /res/CLOUD/RT/TYPE/vN/ID[.fmt]
        parts = call.path.split("/", 6)
        if len(parts) < 7 or parts[2] != self.cloud or not parts[5].startswith("v"):
            return 404, b""
        rt, typ, name = parts[3], parts[4], parts[6]
        with self._lock:
            for (r, t, pid), a in self._assets.items():
                if r != rt or t != typ:
                    continue
                full = pid + ("." + a["format"] if a["format"] and rt != "raw" else "")
                if full == name:
                    return 200, a["data"]
        return 404, b""


@pytest.fixture
def fake_cloudinary():
    """A started FakeCloudinary, stopped after the test."""
    with FakeCloudinary() as fake:
        yield fake
