# SPDX-License-Identifier: MIT
"""The LMTP listener of `lethe serve` (RFC 2033; docs/internals/mail-intake.md, "Front
ends: LMTP and Maildir"), end to end with the real binary and Python's smtplib.LMTP.

The demo gets a `mail:` section (the SMTP sink of the tests) and a `mailbox:` section
with `lmtp:` on a free loopback port (or a Unix socket) and max_size 64KB.  What a
message became is read from the LMTP replies and the state store's mail_in table.
"""
import os
import re
import select
import signal
import smtplib
import socket
import stat
import time

from demo_helpers import free_port
from lethe_e2e import run_lethe
from mailin_helpers import (
    RawLmtp,
    StoreLock,
    lmtp_send,
    mail_in_rows,
    mailbox_config,
    message,
    request_count,
    stuff,
    wait_for,
)
from serve_helpers import SECRETS_ENV, TSCALE, servers, stop_ok  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401

SENDER = "alice.mailin@example.org"
RCPT = "privacy@demo.example"
MAX = 64 * 1024
BUSY_S = 10  # the state store gives up waiting for its write lock after this (store.h)


def serve_lmtp(servers, demo, sink, tmp_path, **kw):
    """Start lethe serve with an LMTP listener: (server, port or socket path).  @env: extra
    environment for the server."""
    env = kw.pop("env", None)
    if kw.pop("unix", False):
        where = str(tmp_path / "lmtp.sock")
        mailbox_config(demo, sink.port, lmtp="unix:" + where, **kw)
    else:
        where = free_port()
        mailbox_config(demo, sink.port, lmtp="127.0.0.1:%d" % where, **kw)
    srv = servers(demo, env=env)
    return srv, where


def short_timeouts(ms):
    """The environment that shortens the session timeouts (IDLE,SEND,DATA,SESSION in ms;
    read only under a test clock)."""
    return {"LETHE_TEST_NOW": str(int(time.time())), "LETHE_TEST_LMTP_MS": ms}


def lmtp(port, timeout=20):
    c = smtplib.LMTP("127.0.0.1", port, timeout=timeout)
    assert c.ehlo("client.example")[0] == 250
    return c


def no_address_logged(srv):
    log = srv.stderr()
    assert SENDER not in log and "alice" not in log, log


def test_lhlo_capabilities_helo_refused_and_small_commands(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    assert "LMTP on 127.0.0.1:%d" % port in srv.stderr()
    c = smtplib.LMTP("127.0.0.1", port, timeout=20)
    try:
        # The greeting names no version.
        code, banner = c.docmd("NOOP")
        assert code == 250
        code, _ = c.docmd("HELO client.example")
        assert code == 500
        code, _ = c.docmd("EHLO client.example")
        assert code == 500
        code, _ = c.docmd("MAIL FROM:<%s>" % SENDER)
        assert code == 503  # LHLO first
        code, _ = c.ehlo("client.example")  # smtplib.LMTP sends LHLO
        assert code == 250
        feats = c.esmtp_features
        assert "pipelining" in feats and "enhancedstatuscodes" in feats
        assert "8bitmime" in feats
        assert feats["size"].strip() == str(MAX)
        code, _ = c.docmd("VRFY", SENDER)
        assert code == 252
        code, _ = c.docmd("FOO")
        assert code == 500
        code, _ = c.docmd("X" * 1200)
        assert code == 500  # a line over 1000 bytes
        code, _ = c.docmd("NOOP")
        assert code == 250  # still in step after the long line
        code, _ = c.docmd("QUIT")
        assert code == 221
    finally:
        c.close()
    r = RawLmtp(port)
    code, lines = r.reply()
    r.close()
    assert code == 220 and lines[0].startswith("220 ")
    assert not any(ch.isdigit() for ch in lines[0][4:]), lines  # no version in it
    stop_ok(srv)


def test_size_over_max_refused_at_mail_and_in_data(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    c = lmtp(port)
    try:
        code, msg = c.docmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, MAX + 1))
        assert code == 552 and msg.startswith(b"5.3.4"), msg
        code, _ = c.docmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 1000))
        assert code == 250
        code, _ = c.docmd("RSET")
        assert code == 250
        # No SIZE given: the body itself is over max_size -> 552 for each recipient.
        big = message(sender=SENDER, body="x" * 100 + ("\n" + "y" * 990) * 80)
        assert len(big) > MAX
        replies = lmtp_send(c, SENDER, [RCPT, "dpo@demo.example"], big)
        assert [r[0] for r in replies] == [552, 552], replies
        assert replies[0][1].startswith(b"5.3.4"), replies
        # The session goes on.
        code, _ = c.docmd("NOOP")
        assert code == 250
    finally:
        c.close()
    assert mail_in_rows(demo) == []
    no_address_logged(srv)
    stop_ok(srv)


def test_two_rcpts_two_replies_one_delivery(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    before = request_count(demo)
    c = lmtp(port)
    try:
        raw = message(sender=SENDER)
        replies = lmtp_send(c, SENDER, [RCPT, "dpo@demo.example"], raw)
        assert len(replies) == 2, replies
        assert replies[0] == replies[1], replies  # the same answer for both
        # A fixed text: neither the outcome nor the mail number reaches the MTA's log
        # or a success DSN (RFC 3461); both are logged by lethe only.
        assert replies[0] == (250, b"2.0.0 ok"), replies
        # The same bytes again (an MTA redelivering): a duplicate, nothing new.
        again = lmtp_send(c, SENDER, [RCPT], raw)
        assert again == [(250, b"2.0.0 ok")], again
    finally:
        c.close()
    assert wait_for(lambda: "a message of %d bytes: duplicate (mail 1)" % len(raw)
                    in srv.stderr(), timeout=10), srv.stderr()
    rows = mail_in_rows(demo)
    assert len(rows) == 1, rows
    assert rows[0]["via"] == "lmtp" and rows[0]["bytes"] == len(raw)
    # The sender path of the rule: ONE request, whatever the number of recipients.
    assert rows[0]["outcome"] == "request" and rows[0]["request_id"], rows
    assert request_count(demo) == before + 1
    no_address_logged(srv)
    stop_ok(srv)


def test_dot_stuffed_lines_arrive_unstuffed(servers, demo, smtp_sink, tmp_path):
    """The bytes recorded are the message as written: the Maildir copy of the same bytes
    is a duplicate of what came over LMTP dot-stuffed (same keyed hash)."""
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    raw = message(sender=SENDER, body=".a line with a dot\n..two dots\n.\nend")
    c = lmtp(port)
    try:
        replies = lmtp_send(c, SENDER, [RCPT], raw)
        assert replies[0][0] == 250, replies
    finally:
        c.close()
    rows = mail_in_rows(demo)
    assert len(rows) == 1 and rows[0]["bytes"] == len(raw), rows
    md = tmp_path / "md"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1.copy.host").write_bytes(raw)
    settled = time.time() - 10  # a file modified just now waits for a later pass
    os.utime(md / "new" / "1.copy.host", (settled, settled))
    code, out, err = run_lethe("mail-intake", "-c", demo.config, "--maildir", md, "--once",
                               "--json")
    assert code == 0, (code, out, err)
    assert '"duplicates": 1' in out, out
    assert len(mail_in_rows(demo)) == 1
    stop_ok(srv)


def test_rset_and_sequence_errors(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    c = lmtp(port)
    try:
        code, _ = c.docmd("DATA")
        assert code == 503
        code, _ = c.docmd("RCPT TO:<%s>" % RCPT)
        assert code == 503
        code, _ = c.mail(SENDER)
        assert code == 250
        code, _ = c.mail(SENDER)
        assert code == 503  # nested MAIL
        code, _ = c.rcpt(RCPT)
        assert code == 250
        code, _ = c.docmd("RSET")
        assert code == 250
        code, _ = c.docmd("DATA")
        assert code == 503  # the transaction is gone
        code, _ = c.mail(SENDER)
        assert code == 250  # a new one may start
        code, _ = c.docmd("RSET")
        assert code == 250
    finally:
        c.close()
    assert mail_in_rows(demo) == []
    stop_ok(srv)


def test_pipelined_commands_answered_in_order(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    raw = message(sender=SENDER, subject="Account deletion pipelined")
    r = RawLmtp(port)
    try:
        assert r.reply()[0] == 220
        r.send(b"LHLO client.example\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               b"RCPT TO:<dpo@demo.example>\r\nNOOP\r\nDATA\r\n"
               % (SENDER.encode(), RCPT.encode()))
        code, lines = r.reply()
        assert code == 250 and lines[-1].startswith("250 SIZE"), lines
        assert [r.reply()[0] for _ in range(5)] == [250, 250, 250, 250, 354]
        r.send(re.sub(rb"(?m)^\.", b"..", raw) + b".\r\nNOOP\r\nQUIT\r\n")
        got = [r.reply() for _ in range(4)]
        assert [g[0] for g in got] == [250, 250, 250, 221], got
        assert got[0] == got[1]
    finally:
        r.close()
    assert len(mail_in_rows(demo)) == 1
    stop_ok(srv)


def test_connection_cap(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path, connections=2)
    a, b = RawLmtp(port), RawLmtp(port)
    try:
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        third = RawLmtp(port)
        code, lines = third.reply()
        third.close()
        assert code == 421 and "4.3.2" in lines[0], lines
        a.send(b"QUIT\r\n")
        assert a.reply()[0] == 221
        a.close()

        def fourth_served():
            d = RawLmtp(port)
            code = d.reply()[0]
            d.close()
            return code == 220

        assert wait_for(fourth_served, timeout=10, interval=0.1)
    finally:
        b.close()
    stop_ok(srv)


def test_client_vanishing_mid_data_records_nothing(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    raw = message(sender=SENDER, body="half of it\n" * 200)
    r = RawLmtp(port)
    assert r.reply()[0] == 220
    r.send(b"LHLO c\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER.encode(),
                                                                    RCPT.encode()))
    assert r.reply()[0] == 250
    assert [r.reply()[0] for _ in range(3)] == [250, 250, 354]
    r.send(raw[: len(raw) // 2])
    r.close()
    assert wait_for(lambda: "ended inside DATA" in srv.stderr(), timeout=10), srv.stderr()
    assert mail_in_rows(demo) == []
    # The server still serves.
    c = lmtp(port)
    try:
        replies = lmtp_send(c, SENDER, [RCPT], message(sender=SENDER))
        assert replies[0][0] == 250, replies
    finally:
        c.close()
    assert len(mail_in_rows(demo)) == 1
    no_address_logged(srv)
    stop_ok(srv)


def test_unix_socket(servers, demo, smtp_sink, tmp_path):
    srv, path = serve_lmtp(servers, demo, smtp_sink, tmp_path, unix=True)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    c = smtplib.LMTP(path, timeout=20)
    try:
        c.ehlo("client.example")
        replies = lmtp_send(c, SENDER, [RCPT], message(sender=SENDER))
        assert replies[0][0] == 250, replies
    finally:
        c.close()
    assert len(mail_in_rows(demo)) == 1
    stop_ok(srv)
    assert not os.path.exists(path)  # removed at stop
    # A stale socket file (a lethe killed) is replaced at the next start.
    srv = servers(demo)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    assert os.path.exists(path)
    srv = servers(demo)
    c = smtplib.LMTP(path, timeout=20)
    try:
        assert c.ehlo("client.example")[0] == 250
    finally:
        c.close()
    stop_ok(srv)


def test_bind_failure_is_a_start_failure(demo, smtp_sink, tmp_path):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        mailbox_config(demo, smtp_sink.port, lmtp="127.0.0.1:%d" % port)
        code, out, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                                   timeout=30, env=SECRETS_ENV)
        assert code != 0, (code, out, err)
        assert "mailbox.lmtp: cannot listen on 127.0.0.1:%d" % port in err, err
    finally:
        busy.close()


def test_temporary_failure_451_then_retry_stores_one(servers, demo, smtp_sink, tmp_path):
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    raw = message(sender=SENDER)
    before = request_count(demo)
    # The state store exists once serve started; hold its write lock until lethe answers.
    lock = StoreLock(demo)
    try:
        c = lmtp(port, timeout=(BUSY_S + 20) * TSCALE)
        try:
            t0 = time.monotonic()
            replies = lmtp_send(c, SENDER, [RCPT, "dpo@demo.example"], raw)
            waited = time.monotonic() - t0
        finally:
            c.close()
    finally:
        lock.release()
    assert [r[0] for r in replies] == [451, 451], replies
    assert replies[0][1].startswith(b"4.3.0"), replies
    # lethe waited its busy timeout for the lock (10 s of wall time, STORE_BUSY_MS), then
    # answered: not at once, and not "10 s" of 200 us sleeps that each took longer (14 s
    # idle, longer than this client's old 90 s on a loaded machine).  Another thread of
    # the serve (the runner's tick, the mailbox prune at start) may hold the service's
    # st_mu through its own 10 s wait for the same lock first: two waits at most.
    assert BUSY_S <= waited < 2 * BUSY_S + 3 * TSCALE, waited
    assert mail_in_rows(demo) == []
    # The MTA retries: exactly one mail recorded.
    c = lmtp(port)
    try:
        replies = lmtp_send(c, SENDER, [RCPT, "dpo@demo.example"], raw)
    finally:
        c.close()
    assert [r[0] for r in replies] == [250, 250], replies
    rows = mail_in_rows(demo)
    assert len(rows) == 1, rows
    assert request_count(demo) == before + 1
    no_address_logged(srv)
    stop_ok(srv)



def closed_by_server(sock, timeout):
    """Whether the server closes @sock within @timeout s (EOF or a reset while reading)."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def test_client_that_never_reads_is_disconnected(servers, demo, smtp_sink, tmp_path):
    # A client pipelines NOOPs and never reads its replies: the session must not sit in
    # send() forever holding a slot (send timeout 1 s here, 300 s in production).
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path, connections=1,
                           env=short_timeouts("60000,1000,60000,600000"))
    assert "TEST timeouts" in srv.stderr()
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    closed = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not closed:
        try:
            s.send(b"NOOP\r\n" * 10000)
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            closed = True  # reset: the server closed with our NOOPs unread
    if not closed:
        closed = closed_by_server(s, 5)
    s.close()
    assert closed, "the session still holds the client that never reads"
    assert wait_for(lambda: "a session closed: timeout" in srv.stderr(), timeout=10)
    # Its slot (the only one) is free again.
    c = lmtp(port)
    try:
        assert c.noop()[0] == 250
    finally:
        c.close()
    stop_ok(srv)


def test_data_and_session_deadlines(servers, demo, smtp_sink, tmp_path):
    # A body trickled a byte at a time never idles, but DATA must end within its deadline
    # (10 min in production, 1.5 s here); nothing is delivered.
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path,
                           env=short_timeouts("60000,60000,1500,600000"))
    r = RawLmtp(port)
    assert r.reply()[0] == 220
    r.send(b"LHLO c\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER.encode(),
                                                                    RCPT.encode()))
    assert r.reply()[0] == 250
    assert [r.reply()[0] for _ in range(3)] == [250, 250, 354]
    t0 = time.monotonic()
    closed_at = None
    for ch in message(sender=SENDER, body="slow " * 40):
        if select.select([r.sock], [], [], 0)[0] or time.monotonic() - t0 > 15:
            break  # the server spoke (421) or closed
        try:
            r.send(bytes([ch]))
        except OSError:
            break  # reset: the server closed
        time.sleep(0.1)
    try:
        code = r.reply()[0]  # 421 4.4.2, or 0 when the close came as a reset first
    except OSError:
        code = 0
    closed_at = time.monotonic() - t0
    r.close()
    assert code in (421, 0) and closed_at < 15, (code, closed_at)
    assert wait_for(lambda: "a session closed: timeout" in srv.stderr(), timeout=10)
    assert mail_in_rows(demo) == []
    stop_ok(srv)
    # A session that keeps talking (a NOOP every 0.2 s) ends at the session deadline.
    srv = servers(demo, env=short_timeouts("60000,60000,60000,2000"))  # the same port
    r = RawLmtp(port)
    assert r.reply()[0] == 220
    t0 = time.monotonic()
    codes = []
    try:
        while time.monotonic() - t0 < 15:
            r.send(b"NOOP\r\n")
            codes.append(r.reply()[0])
            if codes[-1] != 250:
                break
            time.sleep(0.2)
    except OSError:
        codes.append(0)
    r.close()
    assert codes[-1] in (421, 0) and time.monotonic() - t0 < 15, codes
    assert codes.count(250) >= 3, codes
    stop_ok(srv)


def test_timeouts_only_under_a_test_clock(servers, demo, smtp_sink, tmp_path):
    # Without LETHE_TEST_NOW the variable is ignored: production timeouts stay.
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path,
                           env={"LETHE_TEST_LMTP_MS": "1,1,1,1"})
    assert "TEST timeouts" not in srv.stderr()
    c = lmtp(port)
    try:
        time.sleep(0.5)
        assert c.noop()[0] == 250
    finally:
        c.close()
    stop_ok(srv)


def _cpu_s(pid):
    """User + system CPU seconds of process @pid so far."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_accept_out_of_descriptors_does_not_spin(servers, demo, smtp_sink, tmp_path):
    # accept() failing with EMFILE leaves the listener readable: the accept thread must
    # wait before it tries again, not spin at 100 % CPU.
    import resource

    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path)
    pid = srv.proc.pid
    old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    top = max(int(n) for n in os.listdir("/proc/%d/fd" % pid))
    socks = []
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (top + 1, old[1]))
        for _ in range(8):  # more than the free descriptors below the limit
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=20))
        assert wait_for(lambda: "cannot accept a connection" in srv.stderr(), timeout=10), \
            srv.stderr()
        before = _cpu_s(pid)
        time.sleep(2)
        used = _cpu_s(pid) - before
        assert used < 0.5, "the accept thread spins: %.2f s of CPU in 2 s" % used
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
    # Descriptors back: the connections that waited in the backlog are served.
    for s in socks:
        s.settimeout(20)
        assert s.recv(4096).startswith(b"220 "), "a waiting connection not served"
        s.close()
    stop_ok(srv)


def test_inflight_budget_452_then_retry(servers, demo, smtp_sink, tmp_path):
    # At most 4 x max_size bytes of bodies are held across sessions (not
    # lmtp_connections x max_size): 4 sessions holding a nearly full body each leave no
    # room, a 5th gets 452 4.3.1 (its MTA retries); once one ends, mail goes through.
    srv, port = serve_lmtp(servers, demo, smtp_sink, tmp_path, connections=8)
    env = b"LHLO c\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER.encode(),
                                                                   RCPT.encode())
    holders = []
    late = RawLmtp(port)  # let into DATA while there is still room
    try:
        for i in range(4):
            if i == 3:
                assert late.reply()[0] == 220
                late.send(env)
                assert [late.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
            h = RawLmtp(port)
            assert h.reply()[0] == 220
            h.send(env)
            assert [h.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
            raw = message(sender=SENDER, body="held %d " % i + "x" * (MAX - 4096))
            h.send(raw)  # no final "." yet: the body stays held
            holders.append((h, raw))

        def fifth_refused():
            r = RawLmtp(port)
            try:
                assert r.reply()[0] == 220
                r.send(env)
                codes = [r.reply() for _ in range(4)]
            finally:
                r.close()  # inside DATA if it was let in: nothing is delivered
            if codes[3][0] == 452:
                assert "4.3.1" in codes[3][1][0], codes
                return True
            assert codes[3][0] == 354, codes
            return False

        # Each holder's body is read by its session as it arrives (milliseconds).
        assert wait_for(fifth_refused, timeout=10, interval=0.1), srv.stderr()
        assert "DATA refused for now" in srv.stderr()
        # The session let in before: its body finds no room, answered 452 at its end.
        late.send(stuff(message(sender=SENDER, body="late")))
        code, lines = late.reply()
        assert code == 452 and "4.3.1" in lines[0], lines
        # One holder ends its message: stored, its bytes released.
        h, raw = holders.pop()
        h.send(b".\r\n")
        assert h.reply() == (250, ["250 2.0.0 ok"])
        h.close()
        c = lmtp(port)
        try:
            replies = lmtp_send(c, SENDER, [RCPT], message(sender=SENDER, body="after"))
            assert replies[0][0] == 250, replies
        finally:
            c.close()
    finally:
        late.close()
        for h, _ in holders:
            h.close()
    assert len(mail_in_rows(demo)) == 2
    stop_ok(srv)
