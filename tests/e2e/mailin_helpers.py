# SPDX-License-Identifier: MIT
"""Helpers of the front-end tests of the privacy mailbox (test_mailin_*.py).

  mailbox_config  append a `mail:` section (the SMTP sink) and a `mailbox:` section
  message         a small RFC 5322 message (bytes, CRLF line ends)
  lmtp_send       one LMTP transaction on an smtplib.LMTP: the reply of every RCPT
                  after DATA (smtplib's data() reads only one)
  raw_lmtp        a raw socket to the listener, for pipelining and half-sent bodies
  mail_in_rows    the state store's mail_in rows
  StoreLock       a write transaction held on the state store (deliveries fail
                  temporarily while it is held)
"""
import re
import socket
import sqlite3
import time

from lethe_e2e import query

RULE = ("  rules:\n"
        "    - name: account-deletion\n"
        "      subjects: [\"Account deletion\"]\n"
        "      kind: erasure\n"
        "      scope: account\n"
        "      identities: [sender]\n")


def mailbox_config(demo, sink_port, lmtp=None, maildir=None, max_size="64KB",
                   connections=None, poll=None):
    """Append mail: and mailbox: sections to the demo's lethe.yaml."""
    text = demo.config.read_text()
    text += ("mail: {url: \"smtp://127.0.0.1:%d\", from: lethe@demo.example, "
             "starttls: off}\n" % sink_port)
    text += "mailbox:\n  addresses: [privacy@demo.example]\n"
    if lmtp is not None:
        text += "  lmtp: \"%s\"\n" % lmtp
    if maildir is not None:
        text += "  maildir: \"%s\"\n" % maildir
    if connections is not None:
        text += "  lmtp_connections: %d\n" % connections
    if poll is not None:
        text += "  poll: %s\n" % poll
    text += "  max_size: %s\n" % max_size
    text += RULE
    demo.config.write_text(text)


def message(sender="alice@example.org", subject="Account deletion", body="Please delete.",
            msgid=None):
    """A plain-text message as bytes with CRLF line ends."""
    msgid = msgid or "<%d.%s@example.org>" % (time.time_ns(), subject.replace(" ", "-"))
    lines = ["From: %s" % sender, "To: privacy@demo.example", "Subject: %s" % subject,
             "Message-ID: %s" % msgid, "Date: Mon, 7 Dec 2026 05:00:00 +0000",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", ""]
    lines += body.split("\n")
    return ("\r\n".join(lines) + "\r\n").encode()


def stuff(raw):
    """@raw dot-stuffed for DATA, ended by the line "."."""
    return re.sub(rb"(?m)^\.", b"..", raw) + b".\r\n"


def lmtp_send(conn, sender, rcpts, raw):
    """MAIL, RCPT..., DATA of @raw on smtplib.LMTP @conn (after LHLO): [(code, text)]
    per accepted recipient after the body, or the refusal of MAIL/DATA as one item."""
    code, msg = conn.mail(sender)
    if code != 250:
        return [(code, msg)]
    accepted = 0
    for r in rcpts:
        code, _ = conn.rcpt(r)
        accepted += code == 250
    conn.putcmd("data")
    code, msg = conn.getreply()
    if code != 354:
        return [(code, msg)]
    conn.send(stuff(raw))
    return [conn.getreply() for _ in range(accepted)]


class RawLmtp:
    """A raw socket to the LMTP listener: send bytes, read reply lines."""

    def __init__(self, port=None, path=None, timeout=20):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        """The next reply line without its CRLF, b"" at EOF."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            ln = self.line()
            if not ln:
                return (0, lines)
            lines.append(ln.decode())
            if len(ln) < 4 or ln[3:4] != b"-":
                return (int(ln[:3]), lines)

    def close(self):
        self.sock.close()


def mail_in_rows(demo):
    """Every mail_in row as dicts (id, via, bytes, outcome, request_id)."""
    rows = demo.state("SELECT id, via, bytes, outcome, request_id FROM mail_in ORDER BY id")
    return [dict(zip(("id", "via", "bytes", "outcome", "request_id"), r)) for r in rows]


def request_count(demo):
    """The requests in the state store (every source)."""
    return demo.state("SELECT COUNT(*) FROM requests")[0][0]


class StoreLock:
    """A write transaction held on the state store: lethe's writes fail (busy)."""

    def __init__(self, demo):
        self.con = sqlite3.connect(str(demo.state_db), timeout=10, isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.execute("ROLLBACK")
        self.con.close()


def wait_for(pred, timeout=15, interval=0.05):
    """Poll @pred until it is truthy (returned) or @timeout seconds pass (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


__all__ = ["mailbox_config", "message", "stuff", "lmtp_send", "RawLmtp", "mail_in_rows",
           "request_count", "StoreLock", "wait_for", "query"]
