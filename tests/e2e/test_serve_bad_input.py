# SPDX-License-Identifier: MIT
"""`lethe serve` and requests that are wrong before their body: a
Content-Length over the cap, request headers over 8 KiB, %00 in the path,
HTTP/1.1 without Host; and error answers on the HTML routes, which are pages.
Raw sockets on loopback, every read bounded."""
import json
import socket
import sqlite3
import time

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    assert_json_error,
    form,
    ig_id,
    meta_requests,
    servers,
    sign_py,
    stop_ok,
)

DD = "/api/meta/instagram/data-deletion"


def raw(port, request, timeout=5):
    """Send @request (bytes) and read until the server closes: (status, headers, body,
    seconds to the end of the answer)."""
    so = socket.create_connection(("127.0.0.1", port), timeout=timeout * TSCALE)
    t0 = time.monotonic()
    data = b""
    try:
        so.sendall(request)
        while True:
            try:
                chunk = so.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        so.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, time.monotonic() - t0


def assert_page(status, hdrs, body, expect):
    assert status == expect, (status, body[:300])
    assert hdrs.get("content-type", "").startswith("text/html"), hdrs
    assert body.lstrip().startswith(b"<!DOCTYPE html>"), body[:200]
    assert b"{{" not in body


def test_serve_content_length_over_cap_is_413_at_once(demo, servers):
    """A Content-Length over 64 KiB is refused on its headers: the answer comes
    although no byte of the body was sent."""
    srv = servers(demo)
    req = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           "Content-Length: 10000000\r\n\r\n" % DD).encode()
    status, hdrs, body, secs = raw(srv.port, req, timeout=3)
    assert_json_error(status, hdrs, body, 413)
    assert secs < 2 * TSCALE, secs
    # At the cap exactly, the body is read (and judged on its content).
    pad = b"&x=" + b"y" * (64 * 1024 - 200)
    good = form(sign_py(IG_SECRET, ig_id(3)))
    st, _, data = srv.post(DD, good + pad[:64 * 1024 - len(good)])
    assert st == 200, data
    assert len(meta_requests(demo)) <= 1
    stop_ok(srv)


def test_serve_header_limit_is_8k_and_its_error_is_lethes(demo, servers):
    srv = servers(demo)
    ok = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\nConnection: close\r\n\r\n"
    status, _, body, _ = raw(srv.port, (ok % ("a" * 7900)).encode())
    assert status == 200, body
    status, hdrs, body, _ = raw(srv.port, (ok % ("a" * 8300)).encode())
    err = assert_json_error(status, hdrs, body, 431)
    assert "8 KiB" in err["message"]
    req = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           "X-Pad: %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\na=b&c" % (DD, "a" * 9000))
    status, hdrs, body, _ = raw(srv.port, req.encode())
    assert_json_error(status, hdrs, body, 431)
    req = ("GET /data-deletion/status?id=abc HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n"
           "Connection: close\r\n\r\n" % ("a" * 9000))
    assert_page(*raw(srv.port, req.encode())[:3], 431)
    assert meta_requests(demo) == []
    stop_ok(srv)


def test_serve_nul_in_path_is_400(demo, servers):
    srv = servers(demo)
    status, hdrs, body, _ = raw(srv.port, b"GET /healthz%00.txt HTTP/1.1\r\nHost: x\r\n"
                                          b"Connection: close\r\n\r\n")
    assert_json_error(status, hdrs, body, 400)
    sr = form(sign_py(IG_SECRET, ig_id(5)))
    req = ("POST %s%%00x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
           "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (DD, len(sr))).encode() + sr
    status, hdrs, body, _ = raw(srv.port, req)
    assert_json_error(status, hdrs, body, 400)
    assert meta_requests(demo) == []
    status, hdrs, body, _ = raw(srv.port, b"GET /data-deletion/status%00?id=x HTTP/1.1\r\n"
                                          b"Host: x\r\nConnection: close\r\n\r\n")
    assert status == 400, body
    # %00 in a query value is not the path's business (the code is just unknown).
    status, _, body, _ = raw(srv.port, b"GET /data-deletion/status?id=ab%00cd HTTP/1.1\r\n"
                                       b"Host: x\r\nConnection: close\r\n\r\n")
    assert status == 404, body
    stop_ok(srv)


def test_serve_http11_without_host_is_400(demo, servers):
    srv = servers(demo)
    status, hdrs, body, _ = raw(srv.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    err = assert_json_error(status, hdrs, body, 400)
    assert "Host" in err["message"]
    status, _, body, _ = raw(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200 and body == b"ok\n", body
    stop_ok(srv)


def test_serve_html_routes_answer_errors_as_pages(demo, servers):
    srv = servers(demo)
    status, hdrs, body = srv.request("POST", "/data-deletion/status?id=x", body=b"")
    assert_page(status, hdrs, body, 405)
    assert hdrs.get("allow") == "GET, HEAD"
    status, hdrs, body = srv.get("/data-deletion/statusx", accept="text/html,*/*")
    assert_page(status, hdrs, body, 404)
    status, hdrs, body = srv.get("/data-deletion/status?id=" + "a" * 34)
    assert_page(status, hdrs, body, 404)
    # API clients and clients that ask for JSON keep JSON.
    status, hdrs, body = srv.get("/nope")
    assert_json_error(status, hdrs, body, 404)
    status, hdrs, body = srv.request("POST", "/data-deletion/status", body=b"",
                                     headers={"Accept": "application/json"})
    assert_json_error(status, hdrs, body, 405)
    status, hdrs, body = srv.get("/api/meta/instagram/data-deletion", accept="text/html")
    assert_json_error(status, hdrs, body, 405)
    # The status page's 503 (the state store cannot be read) is a page too.
    code = srv.deletion("instagram", sign_py(IG_SECRET, ig_id(6)))["confirmation_code"]
    srv.wait_completed(code)
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    try:
        con.execute("ALTER TABLE requests RENAME TO requests_gone")
        con.commit()
    finally:
        con.close()
    status, hdrs, body = srv.get("/data-deletion/status?id=" + code)
    assert_page(status, hdrs, body, 503)
    assert b"try again" in body.lower() or b"cannot be read" in body
    status, hdrs, body = srv.get("/data-deletion/status?id=" + code, accept="application/json")
    assert_json_error(status, hdrs, body, 503)
    assert json.loads(body)["error"]["code"]
    srv.kill()
