# SPDX-License-Identifier: MIT
"""`lethe serve` against clients that hold connections: the per-address cap
(server.max_connections_per_ip) and the bound on the time a request may take
to arrive (15 s from its first byte, whatever its pace).  Loopback only; at
most a dozen sockets; the slow test takes about 20 s."""
import select
import socket
import time

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    form,
    ig_id,
    servers,
    set_config,
    sign_py,
    stop_ok,
)

ARRIVE_LIMIT_S = 15  # ARRIVE_LIMIT_MS in src/http/server.c


def connect(port, source="127.0.0.1"):
    so = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    so.settimeout(5 * TSCALE)
    so.bind((source, 0))
    so.connect(("127.0.0.1", port))
    return so


def get_healthz(port, source):
    """GET /healthz over a connection from @source: the status line, or None if
    the server closed the connection without an answer."""
    so = connect(port, source)
    try:
        so.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            try:
                chunk = so.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0] if data else None
    finally:
        so.close()


def closed_by_peer(so, wait):
    """True if the server closed @so within @wait seconds."""
    r, _, _ = select.select([so], [], [], wait)
    if not r:
        return False
    try:
        return so.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_serve_connections_per_address_are_capped(demo, servers):
    """Past server.max_connections_per_ip connections from one address the next
    one is closed at once, while another address (127.0.0.2) is still served;
    once the first ones close, the address is served again."""
    set_config(demo, r"^server:\n", "server:\n  max_connections_per_ip: 6\n")
    srv = servers(demo)
    held = []
    try:
        held = [connect(srv.port) for _ in range(6)]
        time.sleep(0.2)  # accepted, each counted against 127.0.0.1
        extra = connect(srv.port)
        try:
            assert closed_by_peer(extra, 5 * TSCALE), "a 7th connection was kept open"
        finally:
            extra.close()
        assert get_healthz(srv.port, "127.0.0.1") is None
        assert get_healthz(srv.port, "127.0.0.2") == b"HTTP/1.1 200 OK"
        # The held connections themselves still work.
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(4096).startswith(b"HTTP/1.1 200 OK")
    finally:
        for so in held:
            so.close()
    deadline = time.monotonic() + 5 * TSCALE
    while get_healthz(srv.port, "127.0.0.1") != b"HTTP/1.1 200 OK":
        assert time.monotonic() < deadline, "127.0.0.1 not served after its connections closed"
        time.sleep(0.1)
    stop_ok(srv)
    assert "connection" in srv.stderr().lower()  # libmicrohttpd said why (rate-limited)


def test_serve_config_refuses_a_bad_connection_cap(demo):
    set_config(demo, r"^server:\n", "server:\n  max_connections_per_ip: -1\n")
    code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 3, (code, err)
    assert "max_connections_per_ip must be an integer from 0 to 4096" in err


def test_serve_slow_request_is_cut_and_others_are_served(demo, servers):
    """A client that dribbles a request one byte a second (well inside the
    30 s idle timeout) is cut about ARRIVE_LIMIT_S after its first byte; a
    data-deletion callback sent meanwhile is answered at once; a connection
    that sends nothing is left to the idle timeout (still usable after the
    bound)."""
    srv = servers(demo)
    idle = connect(srv.port)
    slow = connect(srv.port)
    head = (b"POST /api/meta/instagram/data-deletion HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nX-Pad: ")
    t0 = time.monotonic()
    cut_after = None
    answered = None
    try:
        for i in range(ARRIVE_LIMIT_S + 6):
            try:
                slow.sendall(head[i:i + 1] if i < len(head) else b"a")
            except (BrokenPipeError, ConnectionResetError):
                cut_after = time.monotonic() - t0
                break
            if closed_by_peer(slow, 1.0):
                cut_after = time.monotonic() - t0
                break
            if i == 3:
                t1 = time.monotonic()
                status, _, data = srv.post("/api/meta/instagram/data-deletion",
                                           form(sign_py(IG_SECRET, ig_id(2))))
                answered = time.monotonic() - t1
                assert status == 200, data
        assert cut_after is not None, "a request dribbled for %d s was not cut" % (
            ARRIVE_LIMIT_S + 6)
        assert ARRIVE_LIMIT_S - 1 <= cut_after <= ARRIVE_LIMIT_S + 3, cut_after
        assert answered is not None and answered < 1.0 * TSCALE, answered
        # The silent connection was not cut by the bound (only the idle timeout, 30 s).
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200 OK")
    finally:
        slow.close()
        idle.close()
    stop_ok(srv)
    assert "took more than 15 s to arrive" in srv.stderr()
