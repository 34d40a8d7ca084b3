#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real SMTP server on loopback that records every message: lethe's mail
tests start it (tests/e2e/smtp_helpers.py) and `make run` points the demo's
mail at it.  It is Debian's aiosmtpd (python3-aiosmtpd), not a mock.

    with SmtpSink() as sink:            # 127.0.0.1, a free port
        ... lethe.yaml: mail: {url: smtp://127.0.0.1:<sink.port>, starttls: off}
        msg = sink.wait_for(1)[0]       # a Message: .rcpt, .mail_from, .raw, .email, .peer
        msg.subject, msg.text, msg.html, msg.links  # parsed, links from the text part

Failure modes, for the tests of lethe's retries and dead letters:
    sink.fail_next(n, code=451)   the next n messages are answered 451 (temporary)
    sink.refuse(code=550)         every message is refused (5xx: permanent) until
    sink.refuse(None)             ... this
    sink.hang(seconds)            DATA is answered only after this long (0: off)
Options: SmtpSink(starttls=True) offers STARTTLS with a self-signed
certificate (sink.cert_file for lethe's mail.ca_file) and require_tls=True
refuses mail before it; smtps=True speaks TLS from the start (smtps://, the
same sink.cert_file); auth=("user", "password") requires AUTH.

Standalone (make run, the browser tests):
    smtp_sink.py --port PORT [--dir DIR]
writes each message to DIR/NNNNNN.eml (and a line to stdout) until killed.
"""
import argparse
import asyncio
import email
import email.policy
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

LINK_RE = re.compile(r"https?://[^\s<>\"']+")


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Message:
    """One message the sink accepted."""

    def __init__(self, mail_from, rcpt, raw):
        self.mail_from = mail_from
        self.rcpt = list(rcpt)
        self.raw = raw
        self.at = time.monotonic()
        self.email = email.message_from_bytes(raw, policy=email.policy.default)

    def header(self, name):
        return self.email.get(name)

    @property
    def subject(self):
        return str(self.email.get("Subject", ""))

    def _part(self, ctype):
        for part in self.email.walk():
            if part.get_content_type() == ctype and not part.is_multipart():
                return part.get_content()
        return None

    @property
    def text(self):
        return self._part("text/plain") or ""

    @property
    def html(self):
        return self._part("text/html") or ""

    @property
    def links(self):
        """The http(s) links of the text part, in order."""
        return LINK_RE.findall(self.text)


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            delay = sink.delay
            code = None
            if sink.refusing is not None:
                code = sink.refusing
            elif sink.failing > 0:
                sink.failing -= 1
                code = sink.fail_code
            sink.attempts += 1
        if delay > 0:
            await asyncio.sleep(delay)
        if code is not None:
            word = "temporarily unavailable" if code < 500 else "refused"
            return "%d %s" % (code, word)
        msg = Message(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        msg.peer = session.peer  # the client's (host, port): the same for one connection
        with sink.cv:
            sink.messages.append(msg)
            sink.cv.notify_all()
        if sink.dir is not None:
            path = sink.dir / ("%06d.eml" % len(sink.messages))
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(msg.raw)
            os.replace(tmp, path)
        if sink.echo:
            print("smtp_sink: message %d to %s: %s" % (len(sink.messages), ",".join(msg.rcpt),
                                                        msg.subject), flush=True)
        return "250 OK accepted"


class _Auth:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = getattr(auth_data, "login", None) == self.user and \
            getattr(auth_data, "password", None) == self.password
        return AuthResult(success=ok, handled=False)


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 recording what it accepts (see the module doc)."""

    def __init__(self, port=None, starttls=False, require_tls=False, auth=None, directory=None,
                 echo=False, smtps=False):
        self.port = port or free_port()
        self.messages = []
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.failing = 0
        self.fail_code = 451
        self.refusing = None
        self.delay = 0.0
        self.attempts = 0
        self.dir = Path(directory) if directory else None
        self.echo = echo
        self.cert_file = None
        self._tmp = None
        kw = {}
        if starttls or smtps:
            self._tmp = tempfile.TemporaryDirectory(prefix="lethe-smtp-")
            cert = os.path.join(self._tmp.name, "cert.pem")
            key = os.path.join(self._tmp.name, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            self.cert_file = cert
            if smtps:
                kw["ssl_context"] = ctx
            else:
                kw["tls_context"] = ctx
                kw["require_starttls"] = require_tls
        if auth is not None:
            kw["authenticator"] = _Auth(*auth)
            kw["auth_required"] = True
            kw["auth_require_tls"] = bool(starttls or smtps)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **kw)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        try:
            self.controller.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- failure modes ----
    def fail_next(self, n, code=451):
        with self.lock:
            self.failing = n
            self.fail_code = code

    def refuse(self, code=550):
        with self.lock:
            self.refusing = code

    def hang(self, seconds):
        with self.lock:
            self.delay = float(seconds)

    # ---- reading ----
    def wait_for(self, n, timeout=15.0):
        """The first @n messages once that many arrived (AssertionError after @timeout s)."""
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.messages) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("smtp sink: %d of %d messages after %.0f s"
                                         % (len(self.messages), n, timeout))
                self.cv.wait(left)
            return list(self.messages[:n])

    def to(self, address):
        """Every message accepted for @address."""
        with self.lock:
            return [m for m in self.messages if address in m.rcpt]


def main():
    ap = argparse.ArgumentParser(description="record SMTP mail on 127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", help="write each message to DIR/NNNNNN.eml")
    args = ap.parse_args()
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    sink = SmtpSink(port=args.port, directory=args.dir, echo=True).start()
    print("smtp_sink: listening on 127.0.0.1:%d" % sink.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
