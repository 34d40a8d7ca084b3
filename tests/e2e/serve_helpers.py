# SPDX-License-Identifier: MIT
"""Helpers of the black-box tests of `lethe serve` (tests/e2e/test_serve_*.py).

  Server          one `lethe serve` process on 127.0.0.1:0 (port read from stdout)
  servers         fixture: servers(demo, ...) starts a Server; all are SIGKILLed at
                  teardown if a test left them running
  sign_py         a Meta signed_request built in Python (HMAC-SHA256, base64url)
  sign_cli        the same through `lethe sign-request`
  ig_id / fb_id   the demo's Instagram / Facebook ids of user i
  person_rows     the rows one Meta identity's erasure must remove from app.db

The demo's databases are SQLite files or PostgreSQL (lethe_e2e.PgDb): every helper
reads either.

Every HTTP request has a timeout and every wait is bounded; the bounds are
multiplied by TSCALE under a sanitized build (LETHE_SANITIZED=1).
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import re
import signal
import sqlite3
import struct
import subprocess
import threading
import time

import pytest

from lethe_e2e import (SANITIZED, PgError, check_sanitizer, columns, is_pg, lethe_env,
                       lethe_path, pg_dump_text, query, run_lethe)

# The sanitized build is ~3x slower; every bound below is scaled by this.
TSCALE = 4 if SANITIZED else 1

FB_ENV = "LETHE_FACEBOOK_APP_SECRET"
IG_ENV = "LETHE_INSTAGRAM_APP_SECRET"
FB_SECRET = "e2e-facebook-app-secret-3f9a"
IG_SECRET = "e2e-instagram-app-secret-77c1"
SECRETS_ENV = {FB_ENV: FB_SECRET, IG_ENV: IG_SECRET}
SECRET_OF = {"facebook": FB_SECRET, "instagram": IG_SECRET}
ENV_OF = {"facebook": FB_ENV, "instagram": IG_ENV}
PLATFORM_OF = {"facebook": "facebook", "instagram": "instagram"}

FORM = "application/x-www-form-urlencoded"
CODE_RE = re.compile(r"^[A-Za-z0-9]+$")
SERVING_RE = re.compile(rb"^lethe: serving on port (\d+);")

# Tables the demo's 'meta' scope erases below a channel, and every table's category
# (src/demo/datamap.yaml).
CHANNEL_CHILDREN = ["messages", "comments", "analytics", "automation_rules",
                    "webhook_subscriptions", "publishing_logs"]
META_TABLES = ["channels"] + CHANNEL_CHILDREN
CATEGORY = {
    "channels": "meta-sourced", "messages": "messages", "comments": "messages",
    "analytics": "analytics", "automation_rules": "content",
    "webhook_subscriptions": "meta-sourced", "publishing_logs": "logs",
}


def ig_id(i):
    """The demo's Instagram-scoped id of user i (its first Instagram channel)."""
    return "17841%07d01" % i


def fb_id(i):
    """The demo's Facebook app-scoped id of user i (its first Facebook channel)."""
    return "10229%07d02" % i


# ---- signed requests --------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_segment(secret, segment):
    """Sign the payload segment @segment (text, exactly as it will be sent)."""
    mac = hmac.new(secret.encode(), segment.encode("ascii"), hashlib.sha256).digest()
    return b64url(mac) + "." + segment


def sign_py(secret, user_id=None, issued_at=None, algorithm="HMAC-SHA256", payload=None):
    """A signed_request for @payload (a dict or raw JSON text), by default
    {"user_id", "algorithm", "issued_at"}."""
    if payload is None:
        payload = {"user_id": user_id, "algorithm": algorithm,
                   "issued_at": int(time.time()) if issued_at is None else issued_at}
    if not isinstance(payload, (str, bytes)):
        payload = json.dumps(payload, separators=(",", ":"))
    if isinstance(payload, str):
        payload = payload.encode()
    return sign_segment(secret, b64url(payload))


def sign_cli(app, user_id, issued_at=None, algorithm=None):
    """`lethe sign-request --secret-env VAR --user-id ID` for app family @app."""
    args = ["sign-request", "--secret-env", ENV_OF[app], "--user-id", user_id]
    if issued_at is not None:
        args += ["--issued-at", str(issued_at)]
    if algorithm is not None:
        args += ["--algorithm", algorithm]
    code, out, err = run_lethe(*args, env=SECRETS_ENV, timeout=20)
    assert code == 0, "sign-request failed (%d): %s" % (code, err)
    sr = out.strip()
    assert sr and "\n" not in sr
    return sr


def form(sr):
    """The form body Meta sends."""
    return ("signed_request=" + sr).encode("ascii")


# ---- the server ---------------------------------------------------------------

class Server:
    """`lethe serve -c CONFIG --listen 127.0.0.1:0` with the test app secrets."""

    def __init__(self, config, stderr_path, env=None, listen="127.0.0.1:0", start_timeout=15):
        self.config = str(config)
        self.stderr_path = str(stderr_path)
        e = dict(SECRETS_ENV)
        if env:
            e.update(env)
        full = lethe_env(e)
        for k, v in list(full.items()):
            if v is None:
                del full[k]
        self.err_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [lethe_path(), "serve", "-c", self.config, "--listen", listen],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err_file,
            env=full)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read_stdout, daemon=True)
        self.reader.start()
        self.port = None
        deadline = time.monotonic() + start_timeout * TSCALE
        first = None
        while time.monotonic() < deadline:
            try:
                first = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and not self.reader.is_alive():
                    break
                continue
            break
        if first is None or not SERVING_RE.match(first or b""):
            self.kill()
            pytest.fail("lethe serve did not announce its port (first line %r, exit %r):\n%s"
                        % (first, self.proc.returncode, self.stderr()))
        self.port = int(SERVING_RE.match(first).group(1))
        self.first_line = first.decode()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- HTTP --

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, {lower-case header: value}, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * TSCALE)
        try:
            headers = headers or {}
            chunked = any(k.lower() == "transfer-encoding" for k in headers)
            conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, hdrs, data
        finally:
            conn.close()

    def get(self, path, accept=None, timeout=10):
        return self.request("GET", path, headers={"Accept": accept} if accept else {},
                            timeout=timeout)

    def post(self, path, body, content_type=FORM, timeout=10):
        headers = {"Content-Type": content_type} if content_type else {}
        return self.request("POST", path, body=body, headers=headers, timeout=timeout)

    def post_sr(self, path, sr, timeout=10):
        return self.post(path, form(sr), timeout=timeout)

    def deletion(self, app, sr, path=None):
        """POST a data-deletion callback; asserts a 200 and returns the parsed JSON."""
        status, hdrs, data = self.post_sr(path or "/api/meta/%s/data-deletion" % app, sr)
        assert status == 200, "data-deletion answered %d: %r" % (status, data)
        return json.loads(data)

    def status_json(self, code):
        status, hdrs, data = self.get("/data-deletion/status?id=" + code,
                                      accept="application/json")
        assert status == 200, "status of a known code answered %d: %r" % (status, data)
        assert hdrs.get("content-type", "").startswith("application/json")
        return json.loads(data)

    def wait_completed(self, code, timeout=5, interval=0.01):
        """Poll the status JSON until the request is completed; (json, seconds)."""
        t0 = time.monotonic()
        deadline = t0 + timeout * TSCALE
        last = None
        while time.monotonic() < deadline:
            last = self.status_json(code)
            if last["state"] in ("completed", "completed_with_retention"):
                return last, time.monotonic() - t0
            assert last["state"] in ("received", "running"), last
            time.sleep(interval)
        pytest.fail("request %s not completed after %ss: %r\n%s"
                    % (code, timeout * TSCALE, last, self.stderr()))

    # -- life cycle --

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Send @sig and wait (bounded); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout * TSCALE)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("lethe serve did not exit within %ss of signal %d:\n%s"
                        % (timeout * TSCALE, sig, self.stderr()))
        self._close()
        if sig != signal.SIGKILL:
            check_sanitizer(self.stderr())
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _close(self):
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if not self.err_file.closed:
            self.err_file.close()


@pytest.fixture
def servers(tmp_path):
    """servers(demo_or_config, env=None) -> a started Server; killed at teardown."""
    started = []
    count = [0]

    def start(target, env=None, **kw):
        config = getattr(target, "config", target)
        count[0] += 1
        s = Server(config, tmp_path / ("serve-%d.stderr" % count[0]), env=env, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def stop_ok(server):
    """SIGTERM, and assert a clean exit 0 within a few seconds."""
    rc = server.stop(signal.SIGTERM, timeout=5)
    assert rc == 0, "lethe serve exited %d after SIGTERM:\n%s" % (rc, server.stderr())


# ---- the demo's data -------------------------------------------------------------

def public_url(demo):
    m = re.search(r"^\s*public_url:\s*(\S+)", demo.config.read_text(), re.M)
    assert m, "no server.public_url in " + str(demo.config)
    return m.group(1).rstrip("/")


def set_config(demo, pattern, replacement):
    """Edit the demo's lethe.yaml with one regex substitution (must match)."""
    text = demo.config.read_text()
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert n == 1, "pattern %r not in %s" % (pattern, demo.config)
    demo.config.write_text(new)


def channels_of(db, platform, platform_user_id):
    return [r[0] for r in query(db, "SELECT id FROM channels WHERE platform = ? AND "
                                    "platform_user_id = ? ORDER BY id",
                                (platform, platform_user_id))]


def person_rows(db, platform, platform_user_id):
    """{table: set of ids} that the meta-scope erasure of this identity removes."""
    chans = channels_of(db, platform, platform_user_id)
    out = {"channels": set(chans)}
    for t in CHANNEL_CHILDREN:
        ids = set()
        for c in chans:
            ids |= {r[0] for r in query(db, 'SELECT id FROM "%s" WHERE channel_id = ?' % t,
                                        (c,))}
        out[t] = ids
    return out


def expected_after(before, removed):
    """@before (a snapshot) without the rows of @removed ({table: ids})."""
    out = {}
    for t, rows in before.items():
        gone = removed.get(t, set())
        out[t] = {k: v for k, v in rows.items() if k not in gone}
    return out


def category_counts(removed):
    """{category: rows} of @removed, as the status page should report them."""
    out = {}
    for t, ids in removed.items():
        if ids:
            out[CATEGORY[t]] = out.get(CATEGORY[t], 0) + len(ids)
    return out


def reported_counts(status):
    return {c["category"]: c["deleted"] for c in status["categories"] if c["deleted"]}


def owner_of_channel(db, channel_id):
    """(users row as dict) of the user owning channel @channel_id."""
    r = query(db, "SELECT u.* FROM channels c JOIN projects p ON p.id = c.project_id "
                  "JOIN users u ON u.id = p.user_id WHERE c.id = ?", (channel_id,))
    return dict(zip(columns(db, "users"), r[0])) if r else None


def meta_requests(demo):
    """Meta rows of the requests table (empty if the state store has none yet)."""
    try:
        return demo.state("SELECT id, code, app, state, no_data FROM requests WHERE app <> '' "
                          "ORDER BY id")
    except (sqlite3.OperationalError, PgError):
        return []


INTAKE_MAGIC = 0x3149544C  # "LTI1", src/meta/intake.c
CODE_LEN = 34               # META_CODE_LEN
SUBJECT_LEN = 37            # HASH_TEXT_LEN


def state_files(demo):
    """The path the state store's own files start with: the SQLite store's file, or for
    a PostgreSQL store <config dir>/var/state.db, never made itself (its intake log is
    var/state.db-intake0 and -intake1 all the same)."""
    return str(demo.dir / "var" / "state.db") if is_pg(demo.state_db) else str(demo.state_db)


def intake_log(demo):
    """(code, app) of every request in the intake log (state.db-intake0 and -intake1),
    read as lethe reads it at start: groups from the start of each file while they carry
    the first group's epoch and their checksum (BLAKE2b-128 of the header's first 16 bytes
    and the payload) holds."""
    out = []
    for i in (0, 1):
        path = state_files(demo) + "-intake%d" % i
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        off = 0
        epoch = None
        while len(data) - off >= 32:
            magic, count, length, ep = struct.unpack_from("<IIII", data, off)
            if magic != INTAKE_MAGIC or length > len(data) - off - 32 or \
                    ep != (ep if epoch is None else epoch):
                break
            epoch = ep
            h = hashlib.blake2b(digest_size=16)
            h.update(data[off:off + 16])
            h.update(data[off + 32:off + 32 + length])
            if h.digest() != data[off + 16:off + 32]:
                break
            pos = off + 32
            for _ in range(count):
                na = data[pos + 8]
                nb, = struct.unpack_from("<H", data, pos + 9)
                nb &= 0x7FFF  # the top bit marks a rerun (its run number, then its box)
                code = data[pos + 11:pos + 11 + CODE_LEN].decode()
                fixed = pos + 11 + CODE_LEN + SUBJECT_LEN
                out.append((code, data[fixed:fixed + na].decode()))
                pos = fixed + na + nb
            off += 32 + length
    return out


def recorded(demo):
    """(code, app) of every request lethe has durably recorded: in the intake log (an
    answered request is there at least, fsynced) or already moved into the state store.
    The log is read first: a request leaves it only after it is in the store."""
    logged = set(intake_log(demo))
    return sorted(logged | {(r[1], r[2]) for r in meta_requests(demo)})


def deauthorizations(demo):
    try:
        return demo.state("SELECT app, subject, rows_revoked FROM deauthorizations ORDER BY id")
    except (sqlite3.OperationalError, PgError):
        return []


def state_store_bytes(demo):
    """The raw bytes of the state store, with its WAL and intake log (to look for
    clear-text ids); on PostgreSQL every row of the store's tables as text (the server's
    files are not lethe's: what a reader of the store sees is what counts there) and the
    intake log lethe keeps beside it."""
    data = b""
    if is_pg(demo.state_db):
        data = pg_dump_text(demo.state_db)
        for suffix in ("-intake0", "-intake1"):
            p = state_files(demo) + suffix
            if os.path.exists(p):
                with open(p, "rb") as f:
                    data += f.read()
        return data
    for suffix in ("", "-wal", "-journal", "-intake0", "-intake1"):
        p = str(demo.state_db) + suffix
        if os.path.exists(p):
            with open(p, "rb") as f:
                data += f.read()
    return data


def assert_code(resp, public):
    """A data-deletion answer: exactly {url, confirmation_code}, code alphanumeric and
    >= 128 bits, url = public_url/data-deletion/status?id=CODE.  Returns the code."""
    assert isinstance(resp, dict) and set(resp) == {"url", "confirmation_code"}, resp
    code = resp["confirmation_code"]
    assert isinstance(code, str) and CODE_RE.match(code), code
    assert len(code) >= 26, "confirmation code too short for 128 bits: %r" % code
    assert resp["url"] == public + "/data-deletion/status?id=" + code, resp
    return code


def assert_json_error(status, hdrs, data, expect_status, secret_ids=()):
    """A 4xx {"error": {"code", "message"}} that names none of @secret_ids."""
    assert status == expect_status, "expected %d, got %d: %r" % (expect_status, status, data)
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    body = json.loads(data)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    for sid in secret_ids:
        assert sid not in data.decode("utf-8", "replace"), \
            "the error answer names the id %s: %r" % (sid, data)
    return body["error"]


def assert_log_clean(server, *secrets):
    """The server's log names none of @secrets (ids, codes) nor the app secrets."""
    log = server.stderr()
    for s in tuple(secrets) + (FB_SECRET, IG_SECRET):
        assert s not in log, "the server log contains %r:\n%s" % (s, log)
