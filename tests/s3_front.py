# SPDX-License-Identifier: MIT
"""A loopback front before s3rver that verifies every request's SigV4 signature.

s3rver 3.7.1 accepts any well-formed SigV4 Authorization header without
checking it (lib/middleware/authentication.js: "Signature version 4
calculation is unimplemeneted"), so a test against it alone would pass with a
wrong signature.  This front (a threading HTTP server on 127.0.0.1) checks each
request as S3 does, with tests/s3_sigv4.py (hashlib/hmac, written from AWS's
documentation and checked against its published examples), and only then
forwards it unchanged (method, path, query, headers, body) to s3rver:

  - Authorization: AWS4-HMAC-SHA256, a known access key, the front's region, host,
    x-amz-date and x-amz-content-sha256 signed (and every x-amz-* header and
    Content-MD5 present), the signature itself (403 SignatureDoesNotMatch);
  - x-amz-content-sha256 is the SHA-256 of the body received (no UNSIGNED-PAYLOAD);
  - x-amz-date within 15 minutes of the clock (403 RequestTimeTooSkewed);
  - DeleteObjects (POST ?delete): Content-MD5 present and the body's MD5, at most
    1,000 <Object> entries.

A refused request gets S3's XML <Error> and never reaches s3rver.  Every
request is recorded (Front.log: method, path, query, headers, keys of a
DeleteObjects body, the status answered, the verification error if any).

Failures are injected for the next N requests of an operation (op: "delete" =
POST ?delete, "head" (HeadObject), "headbucket" (HEAD of the bucket: told, as
"list" is, by the path's shape), "get", "put", "list", or None for any):
  500 (InternalError), 503 (SlowDown), 429 (SlowDown, as some S3-compatible
  services answer), "slow" (wait @seconds, then forward and answer: past the
  client's timeout the answer goes nowhere, but the request took effect, as on
  a real server), "reset" (close the connection with an RST, nothing
  forwarded), "hold" (block until released: see Hold), "deny" (DeleteObjects
  only: the keys in @keys answer <Error><Code>AccessDenied</Code> and are not
  forwarded; the others are).

    front = Front(upstream_port, {"S3RVER": "S3RVER"}, region="us-east-1").start()
    front.inject(503, count=2, op="delete")
    hold = front.hold(op="delete"); hold.wait_arrived(10); ...; hold.release()
    front.requests(op="delete")   # the log, filtered
    front.stop()

Run alone (python3 tests/s3_front.py --upstream-port P) it serves until Ctrl-C.
"""
import argparse
import base64
import hashlib
import http.client
import http.server
import re
import socket
import struct
import threading
import time
import urllib.parse

from s3_sigv4 import VerifyError, amz_date_now, verify

MAX_BODY = 16 << 20
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection",
        "te", "upgrade"}
_OBJECT_RE = re.compile(rb"<Object>\s*<Key>(.*?)</Key>", re.S)


def xml_escape(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def xml_unescape(text):
    def ent(m):
        e = m.group(1)
        if e.startswith("#x"):
            return chr(int(e[2:], 16))
        if e.startswith("#"):
            return chr(int(e[1:]))
        return {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}[e]
    return re.sub(r"&(#x[0-9A-Fa-f]+|#[0-9]+|amp|lt|gt|quot|apos);", ent, text)


def error_xml(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
            '</Message><RequestId>front</RequestId></Error>' %
            (code, xml_escape(message))).encode()


def delete_keys(body):
    """The object keys of a DeleteObjects body (decoded)."""
    return [xml_unescape(k.decode("utf-8")) for k in _OBJECT_RE.findall(body)]


def op_of(method, raw_path, raw_query):
    names = {n for n, _, _ in (p.partition("=") for p in (raw_query or "").split("&"))}
    if method == "POST" and "delete" in names:
        return "delete"
    if method == "HEAD":
        # HeadBucket: path-style /BUCKET or /BUCKET/, or / for a virtual host
        if raw_path.count("/") <= 1 or (raw_path.endswith("/") and raw_path.count("/") == 2):
            return "headbucket"
        return "head"
    if method == "PUT":
        return "put"
    if method == "GET":
        # a bucket listing: path-style /BUCKET or /BUCKET/, or / for a virtual host
        if raw_path.count("/") <= 1 or (raw_path.endswith("/") and raw_path.count("/") == 2):
            return "list"
        return "get"
    return method.lower()


class Hold:
    """A request held by the front (inject "hold"): wait_arrived() until one is, then
    release() lets it through (forward=True) or drops its connection (False)."""

    def __init__(self):
        self.arrived = threading.Event()
        self._go = threading.Event()
        self.forward = True

    def wait_arrived(self, timeout):
        return self.arrived.wait(timeout)

    def release(self, forward=True):
        self.forward = forward
        self._go.set()


class _Rule:
    def __init__(self, kind, count, op, seconds, keys, hold):
        self.kind, self.count, self.op = kind, count, op
        self.seconds, self.keys, self.hold = seconds, set(keys or ()), hold


class Front:
    """The verifying front (see the module's docstring)."""

    def __init__(self, upstream_port, secrets, region="us-east-1", upstream_host="127.0.0.1",
                 port=0, upstream_timeout=60):
        self.upstream = (upstream_host, upstream_port)
        self.secrets = dict(secrets)
        self.region = region
        self.upstream_timeout = upstream_timeout
        self._port = port
        self._lock = threading.Lock()
        self._rules = []
        self._log = []
        self._httpd = None
        self._thread = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        front = self

        class Handler(_Handler):
            pass
        Handler.front = front
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self._lock:
            rules, self._rules = self._rules, []
        for r in rules:
            if r.hold:
                r.hold.release(False)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- what the tests use ---------------------------------------------------------

    def reset(self):
        """Forget the log and every injected failure (releasing held requests)."""
        with self._lock:
            rules, self._rules = self._rules, []
            self._log = []
        for r in rules:
            if r.hold:
                r.hold.release(False)

    def inject(self, kind, count=1, op=None, seconds=0.0, keys=None):
        """Fail the next @count requests of @op (see the module's docstring)."""
        if kind not in (500, 503, 429, "slow", "reset", "deny"):
            raise ValueError("unknown failure %r" % (kind,))
        with self._lock:
            self._rules.append(_Rule(kind, count, op, seconds, keys, None))

    def hold(self, op=None, count=1):
        h = Hold()
        with self._lock:
            self._rules.append(_Rule("hold", count, op, 0, None, h))
        return h

    def requests(self, op=None):
        with self._lock:
            return [r for r in self._log if op is None or r["op"] == op]

    # -- inside -----------------------------------------------------------------------

    def _take_rule(self, op):
        with self._lock:
            for r in self._rules:
                if r.count > 0 and (r.op is None or r.op == op):
                    r.count -= 1
                    if r.count == 0 and r.kind != "hold":
                        self._rules.remove(r)
                    return r
        return None

    def _record(self, entry):
        with self._lock:
            self._log.append(entry)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    front = None

    def log_message(self, fmt, *args):  # noqa: A003 - quiet: pytest shows failures
        pass

    def do_GET(self):
        self._serve()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise VerifyError(411, "MissingContentLength",
                              "You must provide the Content-Length HTTP header.")
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise VerifyError(400, "EntityTooLarge", "body too large for the test front")
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body and "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _serve(self):
        front = self.front
        raw_path, _, raw_query = self.path.partition("?")
        op = op_of(self.command, raw_path, raw_query)
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + "," + v if k in headers else v
        entry = {"method": self.command, "path": raw_path, "query": raw_query, "op": op,
                 "headers": headers, "keys": [], "status": None, "error": None,
                 "verified": False, "time": time.monotonic()}
        front._record(entry)
        try:
            body = self._read_body()
            if op == "delete":
                entry["keys"] = delete_keys(body)
            verify(self.command, raw_path, raw_query, headers, body, front.secrets,
                   front.region, now_amz_date=amz_date_now())
            if op == "delete":
                self._check_delete(headers, body, entry["keys"])
        except VerifyError as e:
            entry["status"], entry["error"] = e.status, e.code
            self._answer(e.status, error_xml(e.code, e.message))
            return
        except ValueError as e:
            entry["status"], entry["error"] = 400, "BadRequest"
            self._answer(400, error_xml("BadRequest", str(e)))
            return
        entry["verified"] = True
        rule = front._take_rule(op)
        if rule is not None and self._inject(rule, entry):
            return
        denied = []
        if rule is not None and rule.kind == "deny":
            denied = [k for k in entry["keys"] if k in rule.keys]
        self._forward(entry, headers, body, denied)

    def _check_delete(self, headers, body, keys):
        md5 = headers.get("content-md5")
        if not md5:
            raise VerifyError(400, "InvalidRequest",
                              "Missing required header for this request: Content-MD5")
        if md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            raise VerifyError(400, "BadDigest",
                              "The Content-MD5 you specified did not match what we received.")
        if not keys or len(keys) > 1000:
            raise VerifyError(400, "MalformedXML",
                              "The XML you provided was not well-formed or did not validate "
                              "against our published schema (1 to 1000 objects).")

    def _inject(self, rule, entry):
        """Apply @rule; True when the request is answered (or dropped) here."""
        kind = rule.kind
        entry["injected"] = kind
        if kind in (500, 503, 429):
            code = "InternalError" if kind == 500 else "SlowDown"
            entry["status"] = kind
            self._answer(kind, error_xml(code, "injected by the test front"),
                         {"Retry-After": "0"} if kind != 500 else None)
            return True
        if kind == "reset":
            entry["status"] = "reset"
            self._reset()
            return True
        if kind == "slow":
            time.sleep(rule.seconds)
            return False
        if kind == "hold":
            rule.hold.arrived.set()
            rule.hold._go.wait()
            if not rule.hold.forward:
                entry["status"] = "dropped"
                self._reset()
                return True
        return False

    def _reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _forward(self, entry, headers, body, denied):
        front = self.front
        send_body = body
        if denied:
            keep = [k for k in entry["keys"] if k not in denied]
            send_body = _delete_body(keep)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        fwd = {k: v for k, v in fwd.items() if k.lower() != "content-length"}
        conn = http.client.HTTPConnection(*front.upstream, timeout=front.upstream_timeout)
        try:
            if denied and not send_body:
                status, rheaders, rbody = 200, [], b""
            else:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in fwd.items():
                    conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(send_body)))
                conn.endheaders(send_body)
                resp = conn.getresponse()
                status, rheaders = resp.status, resp.getheaders()
                rbody = resp.read()
        except OSError as e:
            entry["status"] = 502
            self._answer(502, error_xml("BadGateway", "s3rver: %s" % e))
            return
        finally:
            conn.close()
        if denied:
            rbody = _delete_result(entry["keys"], denied)
            rheaders = [("Content-Type", "application/xml")]
        entry["status"] = status
        out = {k: v for k, v in rheaders
               if k.lower() not in _HOP and k.lower() != "content-length"}
        try:
            if self.command == "HEAD":
                self.send_response(status)
                for k, v in out.items():
                    self.send_header(k, v)
                length = dict((k.lower(), v) for k, v in rheaders).get("content-length", "0")
                self.send_header("Content-Length", length)
                self.end_headers()
            else:
                self._answer(status, rbody, out)
        except OSError:
            entry["client_gone"] = True


def _delete_body(keys):
    objs = "".join("<Object><Key>%s</Key></Object>" % xml_escape(k) for k in keys)
    return ('<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>%s</Delete>'
            % objs).encode()


def _delete_result(keys, denied):
    parts = []
    for k in keys:
        if k in denied:
            parts.append("<Error><Key>%s</Key><Code>AccessDenied</Code><Message>Access Denied"
                         "</Message></Error>" % xml_escape(k))
    # Quiet mode: S3 lists only the errors.
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns='
            '"http://s3.amazonaws.com/doc/2006-03-01/">%s</DeleteResult>' % "".join(parts)).encode()


def print_new(front, printed):
    """Print the log's answered requests not printed yet (for a person watching)."""
    for r in front.requests():
        if r["status"] is None or id(r) in printed:
            continue
        printed.add(id(r))
        print("%s %s %s%s -> %s%s" % (
            r["method"], r["op"], urllib.parse.unquote(r["path"]),
            "?" + r["query"] if r["query"] else "", r["status"],
            " (%s)" % r["error"] if r["error"] else ""), flush=True)


def main():
    ap = argparse.ArgumentParser(description="SigV4-verifying front before s3rver")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--credentials", default="S3RVER:S3RVER", help="ACCESS_KEY:SECRET")
    a = ap.parse_args()
    key, _, secret = a.credentials.partition(":")
    front = Front(a.upstream_port, {key: secret}, region=a.region, port=a.port).start()
    print("front on %s (region %s) -> 127.0.0.1:%d" % (front.url, a.region, a.upstream_port),
          flush=True)
    printed = set()
    try:
        while True:
            time.sleep(0.2)
            print_new(front, printed)
    except KeyboardInterrupt:
        front.stop()


if __name__ == "__main__":
    main()
