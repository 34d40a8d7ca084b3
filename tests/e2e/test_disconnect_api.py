# SPDX-License-Identifier: MIT
"""The app API's refusals, and the CLI's: keys, ids, methods, bodies.

Every /v1/ route needs "Authorization: Bearer KEY" with a configured key: without one
401 and "WWW-Authenticate: Bearer", with a wrong one 403.  A channel id that is not a
positive integer is 400, an unknown channel 404, a wrong method 405 with Allow, a body
over 64 KiB 413.  Every refusal is {"error": {"code", "message"}}, echoes nothing the
client sent, and changes nothing.  `lethe api-key` prints a key the server accepts.
"""
import json
import re
import sqlite3

import pytest

from disconnect_helpers import API_KEY, api, channel, channel_row, configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import query, run_lethe
from serve_helpers import servers, stop_ok  # noqa: F401  (fixture)


def assert_error(status, hdrs, body, want_status, want_code):
    assert status == want_status, (status, body)
    assert hdrs["content-type"].startswith("application/json")
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == want_code, body


@pytest.fixture
def setup(demo, servers, fake_platform):
    configure(demo, fake_platform)
    ch = channel(demo, "youtube")
    srv = servers(demo, env=serve_env(fake_platform))
    yield demo, srv, ch, fake_platform
    assert fake_platform.calls() == [], "a refused request reached a platform"
    assert channel_row(demo, ch["id"])[0] == ch["token"], "a refused request changed data"
    assert query(demo.state_db, "SELECT count(*) FROM outbox")[0][0] == 0
    stop_ok(srv)


@pytest.mark.parametrize("auth", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer"])
def test_api_without_a_key_is_401(setup, auth):
    demo, srv, ch, _ = setup
    for method, path in (("POST", "/v1/channels/%d/disconnect" % ch["id"]),
                         ("GET", "/v1/channels/%d" % ch["id"]), ("GET", "/v1/nothing")):
        headers = {"Authorization": auth} if auth is not None else {}
        status, hdrs, body = api(srv, method, path, key=None, headers=headers)
        assert_error(status, hdrs, body, 401, "unauthorized")
        assert hdrs.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("key", ["wrong", API_KEY + "x", API_KEY[:-1], "x" * 5000])
def test_api_with_a_wrong_key_is_403(setup, key):
    demo, srv, ch, _ = setup
    status, hdrs, body = api(srv, "POST", "/v1/channels/%d/disconnect" % ch["id"], key=key)
    assert_error(status, hdrs, body, 403, "forbidden")
    assert "www-authenticate" not in hdrs
    assert key[:20] not in json.dumps(body)


@pytest.mark.parametrize("cid", ["abc", "0", "-1", "1x", "1.5", "%20", "99999999999999999999",
                                 "9223372036854775808", "00", "1;drop"])
def test_api_bad_channel_id_is_400(setup, cid):
    demo, srv, ch, _ = setup
    for method, path in (("GET", "/v1/channels/%s" % cid),
                         ("POST", "/v1/channels/%s/disconnect" % cid)):
        status, hdrs, body = api(srv, method, path)
        assert_error(status, hdrs, body, 400, "invalid_request")
        assert cid not in body["error"]["message"] or cid in ("0", "1")


def test_api_unknown_channel_is_404(setup):
    demo, srv, ch, _ = setup
    for method, path in (("GET", "/v1/channels/987654"),
                         ("POST", "/v1/channels/987654/disconnect")):
        status, hdrs, body = api(srv, method, path)
        assert_error(status, hdrs, body, 404, "not_found")
        assert "987654" not in body["error"]["message"]


def test_api_wrong_method_is_405_and_unknown_path_404(setup):
    demo, srv, ch, _ = setup
    cid = ch["id"]
    for method in ("GET", "PUT", "DELETE"):
        status, hdrs, body = api(srv, method, "/v1/channels/%d/disconnect" % cid)
        assert_error(status, hdrs, body, 405, "method_not_allowed")
        assert hdrs["allow"] == "POST"
    for method in ("POST", "DELETE", "PATCH"):
        status, hdrs, body = api(srv, method, "/v1/channels/%d" % cid)
        assert_error(status, hdrs, body, 405, "method_not_allowed")
        assert hdrs["allow"] == "GET, HEAD"
    for path in ("/v1/channels/%d/revoke" % cid, "/v1/users/1", "/v1/channels/%d/disconnect/x"
                 % cid):
        status, hdrs, body = api(srv, "POST", path)
        assert_error(status, hdrs, body, 404, "not_found")


def test_api_oversize_body_is_413(setup):
    demo, srv, ch, _ = setup
    status, hdrs, body = api(srv, "POST", "/v1/channels/%d/disconnect" % ch["id"],
                             body=b"x" * (65 * 1024),
                             headers={"Content-Type": "application/json"})
    assert_error(status, hdrs, body, 413, "too_big")


def test_api_connected_channel_state(setup):
    demo, srv, ch, _ = setup
    status, hdrs, body = api(srv, "GET", "/v1/channels/%d" % ch["id"])
    assert status == 200
    assert body == {"channel": str(ch["id"]), "state": "connected", "platform": "google"}


def test_api_key_command_prints_a_key_the_server_accepts(demo, servers, fake_platform):
    code, out, err = run_lethe("api-key", "--name", "scheduler")
    assert code == 0, err
    key, *rest = out.splitlines()
    assert re.fullmatch(r"lk_[0-9a-f]{64}", key)
    # After the key, YAML only: comments and the api: section (test_serve_reload.py).
    yaml_lines = [x for x in rest if not x.startswith("#")]
    assert yaml_lines[:2] == ["api:", "  keys:"] and len(yaml_lines) == 3, rest
    line = yaml_lines[2]
    m = re.fullmatch(r"    - \{name: scheduler, sha256: ([0-9a-f]{64})\}", line)
    assert m, line
    code2, out2, _ = run_lethe("api-key")
    assert code2 == 0 and out2.splitlines()[0] != key, "every key is fresh"
    configure(demo, fake_platform)
    demo.config.write_text(demo.config.read_text().replace("  keys:\n", "  keys:\n" + line + "\n"))
    srv = servers(demo, env=serve_env(fake_platform))
    ch = channel(demo, "linkedin")
    status, _, body = api(srv, "GET", "/v1/channels/%d" % ch["id"], key=key)
    assert status == 200 and body["state"] == "connected"
    status, _, body = api(srv, "GET", "/v1/channels/%d" % ch["id"])  # the e2e key still works
    assert status == 200
    assert key not in srv.stderr()
    stop_ok(srv)
    assert run_lethe("api-key", "--name", "bad name!")[0] == 2


def test_cli_disconnect_refusals(demo, fake_platform):
    configure(demo, fake_platform)
    env = serve_env(fake_platform)
    ch = channel(demo, "x")
    for args in ([], ["--channel", "abc"], ["--channel", "0"], ["--channel", "1", "extra"],
                 ["--channel", "1", "--timeout", "0"]):
        code, out, err = run_lethe("disconnect", "-c", demo.config, *args, env=env)
        assert code == 2, (args, code, err)
        assert err.startswith("lethe: error:") or "usage" in err
    code, out, err = run_lethe("disconnect", "--channel", "1", env=env)
    assert code == 2
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", "987654", "--json",
                               env=env)
    assert code == 1
    assert json.loads(out)["error"]["code"] == "not_found"
    assert "987654" not in out + err, "the channel id is not echoed in an error"
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", "987654",
                               env=env)
    assert code == 1 and "no channel" in err
    assert "987654" not in out + err, "the channel id is not echoed in an error"
    code, out, err = run_lethe("jobs", "-c", demo.config, "--state", "bogus")
    assert code == 2
    assert fake_platform.calls() == []
    assert channel_row(demo, ch["id"])[0] == ch["token"]
    # A missing platform secret is a configuration error, before anything changes.
    env.pop("LETHE_TEST_X_CLIENT_SECRET")
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(ch["id"]),
                               env=env)
    assert code == 3, err
    assert channel_row(demo, ch["id"])[0] == ch["token"]


def test_api_disconnect_refuses_a_token_too_long_to_carry(demo, servers, fake_platform):
    """A token no revoke job can carry (8 KiB or more): 400 with a clear message, and
    nothing changes (it is not wiped as if there were none)."""
    configure(demo, fake_platform)
    ch = channel(demo, "youtube")
    big = "t" * 9000
    with sqlite3.connect(str(demo.db)) as c:
        c.execute("UPDATE channels SET access_token = ? WHERE id = ?", (big, ch["id"]))
    srv = servers(demo, env=serve_env(fake_platform))
    status, hdrs, body = api(srv, "POST", "/v1/channels/%d/disconnect" % ch["id"])
    assert_error(status, hdrs, body, 400, "invalid_request")
    assert "cannot be carried" in body["error"]["message"]
    assert "nothing changed" in body["error"]["message"]
    assert big[:20] not in json.dumps(body)
    assert channel_row(demo, ch["id"])[0] == big
    assert query(demo.state_db, "SELECT count(*) FROM outbox")[0][0] == 0
    assert query(demo.state_db, "SELECT count(*) FROM channel_disconnects")[0][0] == 0
    assert fake_platform.calls() == []
    stop_ok(srv)
