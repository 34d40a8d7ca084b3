# SPDX-License-Identifier: MIT
"""A throwaway S3-compatible server (s3rver 3.7.1) for lethe's tests and bench/media.

s3rver (npm, pinned in tests/s3/package-lock.json; `make e2e` runs `npm ci`
there) speaks S3's REST and XML API (PutObject, GetObject, HeadObject,
ListObjectsV2, DeleteObjects...) from a directory, offline.  It is started by
node on 127.0.0.1 on a free port with a fresh temporary directory, stopped
(SIGTERM, then SIGKILL) and its directory removed by stop(), which also runs at
interpreter exit; a watchdog process does the same if this process dies
without either (SIGKILL), so nothing is left running.  Every wait is bounded.

s3rver accepts one credential, S3RVER / S3RVER (ACCESS_KEY / SECRET), and does
not check SigV4 signatures: the tests put tests/s3_front.py before it, which
does.  It runs through tests/s3/s3rver.js (one fix to s3rver's DeleteObjects:
see there), with serviceEndpoint "localhost": BUCKET.s3.localhost:PORT is a
virtual-host address of BUCKET (libcurl resolves *.localhost to loopback).

    srv = S3Server(tmpdir).start()
    c = srv.client()                   # S3Client, signs with tests/s3_sigv4.py
    c.create_bucket("media"); c.put("media", "a/b.jpg", b"...")
    c.list("media", prefix="a/")       # ["a/b.jpg"]
    srv.stop()

Run alone (python3 tests/s3_server.py) it starts s3rver and the verifying
front and prints their addresses until Ctrl-C.
"""
import atexit
import hashlib
import base64
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from s3_sigv4 import amz_date_now, sign, uri_encode  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
S3_DIR = os.path.join(HERE, "s3")
S3RVER_JS = os.path.join(S3_DIR, "node_modules", "s3rver", "lib", "s3rver.js")
S3RVER_MAIN = os.path.join(S3_DIR, "s3rver.js")  # s3rver with one fix: see there
ACCESS_KEY = "S3RVER"
SECRET = "S3RVER"
REGION = "us-east-1"
START_TIMEOUT = 30
STOP_TIMEOUT = 10
REQUEST_TIMEOUT = 60

_WATCHDOG = r"""
import os, shutil, signal, sys, time
parent, pid, top = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while os.getppid() == parent:
    time.sleep(0.5)
try:
    os.killpg(pid, signal.SIGKILL)
except OSError:
    pass
shutil.rmtree(top, ignore_errors=True)
"""


class S3Error(RuntimeError):
    """s3rver did not start, or a request of the client failed."""


class S3Missing(S3Error):
    """node or the npm packages of tests/s3 are not installed."""


def s3_missing_message():
    return ("s3rver is not installed (no node on PATH, or no %s): run `npm ci` in tests/s3 "
            "(`make e2e` does it)" % os.path.relpath(S3RVER_JS))


def s3_available():
    return shutil.which("node") is not None and os.path.isfile(S3RVER_JS)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class S3Server:
    """One s3rver in a directory of its own (see the module's docstring)."""

    def __init__(self, tmpdir=None):
        self.tmpdir = tmpdir
        self.dir = None
        self.port = None
        self.proc = None
        self._watchdog = None
        self._log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        if self.proc is not None:
            return self
        if not s3_available():
            raise S3Missing(s3_missing_message())
        self.dir = tempfile.mkdtemp(prefix="lethe-s3-", dir=str(self.tmpdir) if self.tmpdir
                                    else None)
        os.mkdir(os.path.join(self.dir, "data"))
        self._log = open(os.path.join(self.dir, "log"), "wb")
        atexit.register(self.stop)
        for _ in range(3):  # a free port may be taken between the probe and the bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                ["node", S3RVER_MAIN, os.path.join(self.dir, "data"), str(self.port)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                cwd=S3_DIR, start_new_session=True)
            if self._wait_ready():
                break
            self._kill()
        else:
            log = self.log_text()
            self.stop()
            raise S3Error("s3rver did not start within %ds: %s" % (START_TIMEOUT, log))
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.proc.pid), self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                st, _, _ = self.client().request("GET", "/")
                if st == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def _kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(STOP_TIMEOUT)
        self.proc = None

    def stop(self):
        """Stop s3rver and remove its directory.  Idempotent."""
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass
        self._kill()
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def client(self, port=None):
        """An S3Client of this server (or of a front before it on @port)."""
        return S3Client(port or self.port)


class S3Client:
    """A small path-style S3 client on loopback, signing with tests/s3_sigv4.py."""

    def __init__(self, port, access_key=ACCESS_KEY, secret=SECRET, region=REGION,
                 host="127.0.0.1"):
        self.port = port
        self.access_key, self.secret, self.region, self.host = access_key, secret, region, host

    def request(self, method, path, query="", body=b"", headers=None, timeout=REQUEST_TIMEOUT):
        """(status, {lower-case header: value}, body).  @path is already encoded."""
        h = {"host": "%s:%d" % (self.host, self.port)}
        h.update({k.lower(): v for k, v in (headers or {}).items()})
        h["authorization"] = sign(method, path, query, h, body, self.access_key, self.secret,
                                  self.region, amz_date_now())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path + ("?" + query if query else ""), skip_host=True,
                            skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    @staticmethod
    def path(bucket, key=""):
        return "/%s/%s" % (bucket, uri_encode(key, keep_slash=True))

    def _ok(self, what, st, body, ok=(200, 204)):
        if st not in ok:
            raise S3Error("%s: %d %s" % (what, st, body[:300].decode("utf-8", "replace")))

    def create_bucket(self, bucket):
        st, _, body = self.request("PUT", "/" + bucket)
        self._ok("create bucket %s" % bucket, st, body)

    def put(self, bucket, key, data):
        st, _, body = self.request("PUT", self.path(bucket, key), body=data)
        self._ok("put", st, body)

    def get(self, bucket, key):
        """The object's bytes, or None when it does not exist."""
        st, _, body = self.request("GET", self.path(bucket, key))
        if st == 404:
            return None
        self._ok("get", st, body)
        return body

    def exists(self, bucket, key):
        st, _, body = self.request("HEAD", self.path(bucket, key))
        if st == 404:
            return False
        self._ok("head", st, body)
        return True

    def list(self, bucket, prefix=""):
        """Every key under @prefix (ListObjectsV2, following continuation tokens)."""
        import xml.etree.ElementTree as ET
        keys, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            query = "&".join("%s=%s" % (uri_encode(k), uri_encode(v))
                             for k, v in sorted(q.items()))
            st, _, body = self.request("GET", "/" + bucket, query)
            self._ok("list", st, body)
            # s3rver's namespace is not S3's: match on local names
            found = {"Key": [], "IsTruncated": [], "NextContinuationToken": []}
            for el in ET.fromstring(body).iter():
                name = el.tag.rsplit("}", 1)[-1]
                if name in found:
                    found[name].append(el.text or "")
            keys += found["Key"]
            token = (found["NextContinuationToken"] or [None])[0]
            if (found["IsTruncated"] or [""])[0] != "true" or not token:
                return keys

    def delete_objects(self, bucket, keys):
        """One DeleteObjects call (Quiet) for up to 1,000 @keys; returns the answer."""
        from s3_front import _delete_body
        body = _delete_body(keys)
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        st, _, answer = self.request("POST", "/" + bucket, "delete", body,
                                     {"content-md5": md5, "content-type": "application/xml"})
        self._ok("delete objects", st, answer)
        return answer


def _main():
    from s3_front import Front, print_new
    srv = S3Server().start()
    front = Front(srv.port, {ACCESS_KEY: SECRET}, region=REGION).start()
    print("s3rver on %s, verifying front on %s (region %s, credentials %s:%s)"
          % (srv.url, front.url, REGION, ACCESS_KEY, SECRET), flush=True)
    print("create a bucket: python3 -c 'import sys; sys.path.insert(0, \"tests\"); "
          "import s3_server; s3_server.S3Client(%d).create_bucket(\"bkt\")'" % srv.port,
          flush=True)
    printed = set()
    try:
        while True:
            time.sleep(0.3)
            print_new(front, printed)
    except KeyboardInterrupt:
        pass
    finally:
        front.stop()
        srv.stop()


if __name__ == "__main__":
    _main()
