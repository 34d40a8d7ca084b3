# SPDX-License-Identifier: MIT
"""A local simulator of the platforms' revoke and webhook endpoints.

Used by lethe's e2e tests (through tests/e2e/fake_platform.py) and by `make
run`, whose demo configuration points every platform's base_url here, so a
demo disconnect runs lethe's real code path and never calls the internet.

One threaded HTTP server on 127.0.0.1 (loopback only; an ephemeral port, or
the one given) stands in for every platform of docs/internals/platforms.md.
Each platform lives under its own path prefix, so lethe's configuration
points each base URL at it:

    google     POST   {url}/google/revoke                                form token
    facebook   DELETE {url}/facebook/v21.0/{user-id}/permissions         form access_token
               DELETE {url}/facebook/v21.0/{page-id}/subscribed_apps     form access_token
    instagram  DELETE {url}/instagram/v21.0/{ig-user-id}/subscribed_apps form access_token
    linkedin   POST   {url}/linkedin/oauth/v2/revoke     form token, client_id, client_secret
    x          POST   {url}/x/2/oauth2/revoke            form token, client_id (+ Basic auth)
    tiktok     POST   {url}/tiktok/v2/oauth/revoke/      form client_key, client_secret, token

Answers in normal mode are the documented successes (Google and LinkedIn 200
with an empty body, Facebook/Instagram {"success":true}, X {"revoked":true},
TikTok {}).  A request to an unknown path or with the wrong method gets 404; a
documented request missing a form field (or not sent as a form) gets 400
invalid_request, so a wrong request never passes as a success.

As a program (what `make run` starts through scripts/run-demo):

    python3 scripts/platform_sim.py [--listen 127.0.0.1:8091]

serves until SIGINT or SIGTERM and prints one line per call (platform,
method, path, status; never a form field, so no token or secret).

API (all methods are thread-safe):

    with FakePlatform() as fake:          # started; always stopped on exit
                                          # FakePlatform(port=8091): that port (loopback)
                                          # FakePlatform(on_call=f): f(call) once answered
        fake.url                          # "http://127.0.0.1:PORT"
        fake.base_url("facebook")         # what to configure as that platform's base_url
        fake.platforms_config(timeout_ms=2000)
                                          # a dict for lethe.yaml's `platforms:` section:
                                          # every base_url pointed here, client ids, and
                                          # secrets via *_env (the variables of SECRETS)
        fake.platforms_yaml(timeout_ms=2000)  # the same as one line to append to lethe.yaml
        fake.env()                        # {variable: value} to add to lethe's environment:
                                          # the secrets, and no_proxy for 127.0.0.1

        # Behaviour, per platform name or per exact path (with its platform prefix,
        # e.g. "/facebook/v21.0/123/permissions"); a path rule wins over a platform rule.
        fake.normal("x")                  # documented success (the default)
        fake.error("google", times=2)     # 500 the next 2 calls, then normal (times=None: always)
        fake.error("google", times=1, status=503)   # any 5xx/408/429 status
        fake.hang("tiktok", seconds=30)   # answer nothing for that long (stop() ends it)
        fake.already("facebook")          # "already revoked" in the platform's own format
        fake.reject("linkedin", status=401)  # a permanent 4xx in the platform's format
        fake.revoke_kills_tokens()        # Graph semantics: once a Facebook permissions revoke
                                          # succeeded, every token of the person (Page tokens
                                          # included) is invalid: later Facebook calls get 190

        # What lethe sent: a list of Call, oldest first.
        fake.calls()                      # every call;  fake.calls("google") one platform's
        fake.wait_calls(3, "google", timeout=10)  # bounded wait for at least 3, returns them
        fake.clear()                      # forget recorded calls (behaviour stays)

    Call fields: platform, method, path (after the platform prefix), full_path,
    query ({name: [values]}), headers ({lower-case name: value}), form ({name:
    value} when the body is application/x-www-form-urlencoded, else {}), body
    (bytes), status (what the fake answered), at (time.monotonic()).

As a pytest fixture: `from fake_platform import fake_platform  # noqa: F401`
in a test module gives tests a started FakePlatform that is stopped after the
test whatever happens (tests/e2e/fake_platform.py).
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PLATFORMS = ("google", "facebook", "instagram", "linkedin", "x", "tiktok")
API_VERSION = "v21.0"
MAX_BODY = 1 << 20

# Client ids the default configuration uses, and the secrets behind *_env.
CLIENT_IDS = {
    "facebook": "fb-app-1001",
    "linkedin": "li-client-1",
    "x": "x-client-1",
    "tiktok": "tt-client-key-1",
}
SECRETS = {
    "LETHE_TEST_FACEBOOK_APP_SECRET": "fb-app-secret",
    "LETHE_TEST_LINKEDIN_CLIENT_SECRET": "li-secret",
    "LETHE_TEST_X_CLIENT_SECRET": "x-secret",
    "LETHE_TEST_TIKTOK_CLIENT_SECRET": "tt-secret",
}

# Form fields each documented call must carry.
REQUIRED = {
    "google": ("token",),
    "facebook": ("access_token",),
    "instagram": ("access_token",),
    "linkedin": ("token", "client_id", "client_secret"),
    "x": ("token", "client_id"),
    "tiktok": ("client_key", "client_secret", "token"),
}

# "Already revoked / invalid token" as each platform words it (status, body).
GRAPH_190 = {"error": {"message": "Error validating access token: The user has not "
                                  "authorized application 1001.",
                       "type": "OAuthException", "code": 190, "error_subcode": 458,
                       "fbtrace_id": "AfakeTrace"}}
ALREADY = {
    "google": (400, {"error": "invalid_token", "error_description": "Token expired or revoked"}),
    "facebook": (400, GRAPH_190),
    "instagram": (400, GRAPH_190),
    "linkedin": (400, {"error": "invalid_request",
                       "error_description": "The token has been revoked"}),
    "x": (400, {"error": "invalid_request",
                "error_description": "Value passed for the token was invalid."}),
    "tiktok": (400, {"error": "access_token_invalid",
                     "error_description": "The access token is invalid or not found in the "
                                          "request.",
                     "log_id": "20261122000000FAKE"}),
}

# A permanent refusal in each platform's format (any 4xx status).
REJECT = {
    "google": {"error": "invalid_request", "error_description": "Bad Request"},
    "facebook": {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException",
                           "code": 100, "fbtrace_id": "AfakeTrace"}},
    "instagram": {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException",
                            "code": 100, "fbtrace_id": "AfakeTrace"}},
    "linkedin": {"error": "invalid_client", "error_description": "Client authentication failed"},
    "x": {"error": "unauthorized_client", "error_description": "Missing valid authorization"},
    "tiktok": {"error": "invalid_client", "error_description": "Client key or secret is invalid",
               "log_id": "20261122000000FAKE"},
}


class Call:
    """One request the fake received."""

    def __init__(self, **kw):
        self.platform = kw["platform"]    # platform prefix, or None for an unknown one
        self.method = kw["method"]        # "POST", "DELETE"...
        self.path = kw["path"]            # path after the platform prefix
        self.full_path = kw["full_path"]  # path as received (without query)
        self.query = kw["query"]          # {name: [values]}
        self.headers = kw["headers"]      # {lower-case name: value}
        self.form = kw["form"]            # {name: value} of a form body, else {}
        self.body = kw["body"]            # raw body bytes
        self.status = kw.get("status")    # status the fake answered (None while hanging)
        self.at = kw["at"]                # time.monotonic() of arrival

    def __repr__(self):
        return "Call(%s %s %s -> %s)" % (self.platform, self.method, self.path, self.status)


def _route(platform, method, path):
    """True if @method @path is a documented endpoint of @platform."""
    parts = path.strip("/").split("/")
    if platform == "google":
        return method == "POST" and path == "/revoke"
    if platform == "linkedin":
        return method == "POST" and path == "/oauth/v2/revoke"
    if platform == "x":
        return method == "POST" and path == "/2/oauth2/revoke"
    if platform == "tiktok":
        return method == "POST" and path == "/v2/oauth/revoke/"
    if platform == "facebook":
        return (method == "DELETE" and len(parts) == 3 and parts[0] == API_VERSION
                and parts[1].isdigit() and parts[2] in ("permissions", "subscribed_apps"))
    if platform == "instagram":
        return (method == "DELETE" and len(parts) == 3 and parts[0] == API_VERSION
                and parts[1].isdigit() and parts[2] == "subscribed_apps")
    return False


def _success(platform):
    if platform in ("facebook", "instagram"):
        return 200, {"success": True}
    if platform == "x":
        return 200, {"revoked": True}
    if platform == "tiktok":
        return 200, {}
    return 200, None  # Google and LinkedIn: 200, empty body


class _Rule:
    def __init__(self, mode, times=None, status=None, seconds=None):
        self.mode = mode        # normal, error, hang, already, reject
        self.times = times      # calls left before normal again; None = for ever
        self.status = status    # status for error/reject
        self.seconds = seconds  # hang length


class FakePlatform:
    """The fake platform server; see the module docstring."""

    def __init__(self, hang_seconds=30.0, port=0, on_call=None):
        self._port = port          # 0: an ephemeral port
        self._on_call = on_call    # called with each Call once answered (or None)
        self._lock = threading.Lock()
        self._calls = []
        self._rules = {}
        self._stopping = threading.Event()
        self._hang_default = hang_seconds
        self._kill_on_revoke = False
        self._fb_revoked = False
        self._server = None
        self._thread = None
        self.url = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                fake._handle(self)

            do_DELETE = do_POST
            do_GET = do_POST
            do_PUT = do_POST
            do_PATCH = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving; hanging answers end at once.  Safe to call twice."""
        self._stopping.set()
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

    def base_url(self, platform):
        return "%s/%s" % (self.url, platform)

    def platforms_config(self, timeout_ms=3000, connect_timeout_ms=1000):
        """The `platforms:` section of lethe.yaml pointing every platform here."""
        cfg = {"connect_timeout_ms": connect_timeout_ms, "timeout_ms": timeout_ms}
        for p in PLATFORMS:
            cfg[p] = {"base_url": self.base_url(p)}
        cfg["facebook"].update(app_id=CLIENT_IDS["facebook"],
                               app_secret_env="LETHE_TEST_FACEBOOK_APP_SECRET")
        cfg["linkedin"].update(client_id=CLIENT_IDS["linkedin"],
                               client_secret_env="LETHE_TEST_LINKEDIN_CLIENT_SECRET")
        cfg["x"].update(client_id=CLIENT_IDS["x"],
                        client_secret_env="LETHE_TEST_X_CLIENT_SECRET")
        cfg["tiktok"].update(client_key=CLIENT_IDS["tiktok"],
                             client_secret_env="LETHE_TEST_TIKTOK_CLIENT_SECRET")
        return cfg

    def platforms_yaml(self, **kw):
        """platforms_config(**kw) as a `platforms:` line to append to a lethe.yaml."""
        return "platforms: %s\n" % json.dumps(self.platforms_config(**kw))  # JSON is YAML

    @staticmethod
    def env():
        """The secrets, and no_proxy so a proxy of the caller's shell never sits in between."""
        e = dict(SECRETS)
        e.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
        return e

    # --- behaviour ------------------------------------------------------------------------

    def _set(self, key, rule):
        if not key.startswith("/") and key not in PLATFORMS:
            raise ValueError("unknown platform %r (or give a path starting with /)" % key)
        with self._lock:
            self._rules[key] = rule

    def normal(self, key):
        self._set(key, _Rule("normal"))

    def error(self, key, times=None, status=500):
        if not (status >= 500 or status in (408, 429)):
            raise ValueError("error() takes a 5xx, 408 or 429 status")
        self._set(key, _Rule("error", times=times, status=status))

    def hang(self, key, seconds=None, times=None):
        self._set(key, _Rule("hang", times=times, seconds=seconds or self._hang_default))

    def already(self, key, times=None):
        self._set(key, _Rule("already", times=times))

    def reject(self, key, status=400, times=None):
        if not 400 <= status <= 499:
            raise ValueError("reject() takes a 4xx status")
        self._set(key, _Rule("reject", times=times, status=status))

    def revoke_kills_tokens(self, on=True):
        with self._lock:
            self._kill_on_revoke = on
            self._fb_revoked = False

    def _take_rule(self, platform, full_path):
        """The rule for this call (consuming one of its times), or None for normal."""
        with self._lock:
            for key in (full_path, platform):
                rule = self._rules.get(key)
                if rule is None:
                    continue
                if rule.times is not None:
                    if rule.times <= 0:
                        del self._rules[key]
                        continue
                    rule.times -= 1
                return rule
        return None

    # --- recorded calls -------------------------------------------------------------------

    def calls(self, platform=None):
        with self._lock:
            return [c for c in self._calls if platform is None or c.platform == platform]

    def wait_calls(self, n, platform=None, timeout=10.0):
        """Wait (bounded) until at least @n calls (of @platform) arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.calls(platform)
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError("fake platform: expected %d call(s) to %s within %.1fs, "
                                     "got %d: %r" % (n, platform or "any platform", timeout,
                                                     len(got), got))
            time.sleep(0.02)

    def clear(self):
        with self._lock:
            self._calls = []

    # --- serving --------------------------------------------------------------------------

    def _handle(self, h):
        split = urlsplit(h.path)
        full_path = split.path
        parts = full_path.split("/", 2)
        platform = parts[1] if len(parts) > 1 and parts[1] in PLATFORMS else None
        path = "/" + parts[2] if platform is not None and len(parts) > 2 else full_path
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = {}
        if ctype == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in
                    parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        call = Call(platform=platform, method=h.command, path=path, full_path=full_path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in h.headers.items()}, form=form,
                    body=body, at=time.monotonic())
        with self._lock:
            self._calls.append(call)
        status, answer = self._answer(platform, h.command, path, full_path, form)
        if status is None:
            return  # hung until the client gave up or the fake stopped
        call.status = status
        if self._on_call is not None:
            self._on_call(call)
        data = b"" if answer is None else json.dumps(answer).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # lethe hung up (its timeout)

    def _answer(self, platform, method, path, full_path, form):
        if platform is None or not _route(platform, method, path):
            return 404, {"error": "not_found", "error_description": "no such endpoint"}
        rule = self._take_rule(platform, full_path)
        mode = rule.mode if rule is not None else "normal"
        if mode == "hang":
            self._stopping.wait(rule.seconds)
            return None, None
        if mode == "error":
            return rule.status, {"error": "server_error"}
        if mode == "already":
            return ALREADY[platform]
        if mode == "reject":
            return rule.status, REJECT[platform]
        missing = [f for f in REQUIRED[platform] if not form.get(f)]
        if missing:
            return 400, {"error": "invalid_request",
                         "error_description": "missing form field(s): " + ",".join(missing)}
        if platform == "facebook":
            with self._lock:
                if self._fb_revoked:
                    return ALREADY["facebook"]
                if self._kill_on_revoke and path.endswith("/permissions"):
                    self._fb_revoked = True
        return _success(platform)


def parse_listen(text):
    """'127.0.0.1:PORT' (or ':PORT', 'PORT') -> port; only loopback is served."""
    host, _, port = text.rpartition(":")
    if host not in ("", "127.0.0.1", "localhost") or not port.isdigit() or int(port) > 65535:
        raise ValueError("--listen must be 127.0.0.1:PORT (the simulator serves loopback "
                         "only), not %r" % text)
    return int(port)


def call_line(call):
    """One line about @call for a terminal: no form field, so no token or secret."""
    return "platform simulator: %s %s %s -> %s" % (call.platform or "?", call.method,
                                                   call.full_path, call.status)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Simulate the platforms lethe calls on a "
                                 "channel disconnect (loopback only).")
    ap.add_argument("--listen", default="127.0.0.1:8091", help="127.0.0.1:PORT (default "
                    "%(default)s)")
    args = ap.parse_args(argv)
    try:
        port = parse_listen(args.listen)
    except ValueError as e:
        ap.error(str(e))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        fake = FakePlatform(port=port, on_call=lambda c: print(call_line(c), flush=True))
        fake.start()
    except OSError as e:
        print("platform simulator: cannot listen on 127.0.0.1:%d: %s" % (port, e.strerror),
              file=sys.stderr)
        return 1
    print("platform simulator: %s (%s); Ctrl-C stops it" % (fake.url, ", ".join(PLATFORMS)),
          flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
