# SPDX-License-Identifier: MIT
"""The HTTP interfaces of privacy requests, through the real `lethe serve` on the demo.

App API (api.keys): POST /v1/requests, GET /v1/requests/{id}, POST .../cancel and
.../verify.  Operator API (api.admin_keys): GET /v1/admin/requests (filters, cursor,
limit), GET .../{id}, POST .../approve, refuse, extend, retry, cancel.  No key is 401,
a key of the wrong list 403 (an app key never opens an operator route, nor an admin key
an app route); every bad input is 400 {"error": {"code", "message"}} and records
nothing; a state that does not allow the action is 409.  The state machine itself
(grace, review, expiry, crashes) is tested elsewhere: these tests hold every request
for review, so it stays where the interface put it.  The tests that store, list and act
on requests run on both backends (the backend fixture: SQLite, then PostgreSQL); the
keys, the input checks and the routes are answered before the state store is read, the
same on both, and run on SQLite.
"""
import json
import re
import signal
import time

import pytest

from lethe_e2e import run_lethe
from requests_helpers import (ADMIN_KEY, ADMIN_SHA, APP_KEY, APP_SHA, OPEN, REQUEST_KEYS,
                              assert_error, call, configure, create_body)
from serve_helpers import TSCALE, assert_log_clean, servers, stop_ok  # noqa: F401

CODE_RE = re.compile(r"^[a-z2-7]{32,34}$")
UNKNOWN = "a" * 34  # a well-formed code no request has
BOTH = pytest.mark.usefixtures("backend")


@pytest.fixture
def srv(demo, servers):
    configure(demo)
    s = servers(demo)
    yield demo, s
    stop_ok(s)


def listing(s, query=""):
    status, hdrs, body = call(s, "GET", "/v1/admin/requests" + query, key=ADMIN_KEY)
    assert status == 200, body
    assert set(body) == {"requests", "next"}, body
    return body


def all_ids(s):
    return [r["id"] for r in listing(s, "?limit=1000")["requests"]]


def create(s, **kw):
    status, hdrs, body = call(s, "POST", "/v1/requests", body=create_body(**kw))
    assert status == 201, body
    assert hdrs["content-type"].startswith("application/json")
    assert REQUEST_KEYS <= set(body), body
    assert CODE_RE.match(body["id"]), body
    return body


# ---- keys ------------------------------------------------------------------------

APP_ROUTES = [("POST", "/v1/requests"), ("GET", "/v1/requests/" + UNKNOWN),
              ("POST", "/v1/requests/%s/cancel" % UNKNOWN),
              ("POST", "/v1/requests/%s/verify" % UNKNOWN)]
ADMIN_ROUTES = [("GET", "/v1/admin/requests"), ("GET", "/v1/admin/requests/" + UNKNOWN)] + [
    ("POST", "/v1/admin/requests/%s/%s" % (UNKNOWN, a))
    for a in ("approve", "refuse", "extend", "retry", "cancel")]


def test_keys_open_only_their_own_api(srv):
    demo, s = srv
    body = create_body()
    for method, path in APP_ROUTES + ADMIN_ROUTES:
        for auth in (None, "Basic dXNlcjpwYXNz", "Bearer ", "bearer"):
            h = {"Authorization": auth} if auth else {}
            status, hdrs, out = call(s, method, path, key=None, headers=h,
                                     body=body if method == "POST" else None)
            assert_error(status, hdrs, out, 401, "unauthorized")
            assert hdrs.get("www-authenticate") == "Bearer"
        status, hdrs, out = call(s, method, path, key="lk_wrong",
                                 body=body if method == "POST" else None)
        err = assert_error(status, hdrs, out, 403, "forbidden")
        assert "lk_wrong" not in err["message"]
    # An app key on every operator route, an admin key on every app route (and on the
    # channel API): refused before anything is read.
    for method, path in ADMIN_ROUTES:
        status, hdrs, out = call(s, method, path, key=APP_KEY,
                                 body={"reason": "r"} if method == "POST" else None)
        assert_error(status, hdrs, out, 403, "forbidden")
    for method, path in APP_ROUTES + [("GET", "/v1/channels/1")]:
        status, hdrs, out = call(s, method, path, key=ADMIN_KEY,
                                 body=body if method == "POST" else None)
        assert_error(status, hdrs, out, 403, "forbidden")
    assert all_ids(s) == [], "a refused request was recorded"


def test_admin_keys_reload_on_sighup_and_api_key_admin(demo, servers):
    configure(demo, admin=False)
    s = servers(demo)
    status, hdrs, out = call(s, "GET", "/v1/admin/requests", key=ADMIN_KEY)
    assert_error(status, hdrs, out, 403, "forbidden")
    # `lethe api-key --admin` prints a key and its admin_keys entry; SIGHUP puts it in force.
    code, text, err = run_lethe("api-key", "--admin", "--name", "night-shift")
    assert code == 0, err
    key = text.splitlines()[0]
    assert key.startswith("lk_")
    entry = [ln for ln in text.splitlines() if ln.strip().startswith("- {name: night-shift")]
    assert len(entry) == 1, text
    assert "  admin_keys:" in text.splitlines()
    cfg = demo.config.read_text()
    cfg = cfg.replace("api:\n", "api:\n  admin_keys:\n  " + entry[0] + "\n", 1)
    demo.config.write_text(cfg)
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5 * TSCALE
    status = None
    while time.monotonic() < deadline:
        status, hdrs, out = call(s, "GET", "/v1/admin/requests", key=key)
        if status == 200:
            break
        time.sleep(0.05)
    assert status == 200, out
    assert out == {"requests": [], "next": None}
    # ... and it is still not an app key.
    status, hdrs, out = call(s, "POST", "/v1/requests", key=key, body=create_body())
    assert_error(status, hdrs, out, 403, "forbidden")
    assert key not in s.stderr()
    stop_ok(s)


def test_one_key_in_both_lists_is_refused_at_load(demo):
    configure(demo)
    text = demo.config.read_text().replace(ADMIN_SHA, APP_SHA)
    demo.config.write_text(text)
    code, out, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0")
    assert code == 3, err
    assert "admin_keys" in err and "also in api.keys" in err, err


# ---- bad input -------------------------------------------------------------------

def _body(**kw):
    b = create_body()
    b.update(kw)
    return json.dumps(b).encode()


def _without(key):
    b = create_body()
    del b[key]
    return json.dumps(b).encode()


BAD_CREATE = {
    "not json": b"kind=erasure&scope=account",
    "truncated": b'{"kind": "erasure", ',
    "array": b"[]",
    "string": b'"erasure"',
    "nul in json": b'{"scope": "acc\\u0000ount", "identities": {"email": "a@b.c"}}',
    "duplicate key": b'{"scope": "account", "scope": "meta", "identities": {"email": "a@b.c"}}',
    "unknown field": _body(priority="high"),
    "no scope": _without("scope"),
    "no identities": _without("identities"),
    "scope not a string": _body(scope=1),
    "scope empty": _body(scope=""),
    "kind not a string": _body(kind=["erasure"]),
    "identities a list": _body(identities=[{"kind": "email", "value": "a@b.c"}]),
    "identities empty": _body(identities={}),
    "identity value a number": _body(identities={"user_id": 5}),
    "identity value empty": _body(identities={"email": ""}),
    "identity value too long": _body(identities={"email": "x" * 1025}),
    "identity kind bad": _body(identities={"e mail": "a@b.c"}),
    "nine identities": _body(identities={"k%d" % i: "v" for i in range(9)}),
    "verified a string": _body(verified="yes"),
    "verified a number": _body(verified=1),
    "notify not an address": _body(notify="nobody"),
    "notify a number": _body(notify=5),
    "notify with a space": _body(notify="a b@example.com"),
    # What would go into a mail header unquoted, or break out of it, is refused here,
    # not later as a dead letter.
    "notify with a quote": _body(notify='"a"@example.com'),
    "notify with a comma": _body(notify="a@example.com,b@example.com"),
    "notify with angle brackets": _body(notify="<a@example.com>"),
    "notify with a line break": _body(notify="a@example.com\r\nBcc: b@example.com"),
    "notify not ASCII": _body(notify="jos\u00e9@example.com"),
    "unknown scope": _body(scope="no_such_scope"),
    "unknown kind": _body(kind="obliterate"),
    "identity kind not in the scope": _body(identities={"no_such_kind": "v"}),
}


@pytest.mark.parametrize("case", sorted(BAD_CREATE))
def test_create_bad_input_is_400_and_records_nothing(srv, case):
    demo, s = srv
    status, hdrs, out = call(s, "POST", "/v1/requests", raw=BAD_CREATE[case])
    err = assert_error(status, hdrs, out, 400, "invalid_request")
    assert "user1@example.com" not in err["message"]
    assert all_ids(s) == []
    assert_log_clean(s, "user1@example.com")


def test_create_body_over_the_cap_is_413(srv):
    demo, s = srv
    raw = _body(reason="x" * (70 * 1024))
    status, hdrs, out = call(s, "POST", "/v1/requests", raw=raw)
    assert_error(status, hdrs, out, 413)
    assert all_ids(s) == []


def test_ids_methods_and_paths(srv):
    demo, s = srv
    for path in ("/v1/requests/abc", "/v1/requests/" + "A" * 34, "/v1/requests/" + "a" * 40,
                 "/v1/requests/%s/cancel" % ("1" * 34), "/v1/admin/requests/abc/approve"):
        key = ADMIN_KEY if "/admin/" in path else APP_KEY
        method = "POST" if path.endswith(("cancel", "approve")) else "GET"
        status, hdrs, out = call(s, method, path, key=key, body={} if method == "POST" else None)
        err = assert_error(status, hdrs, out, 400, "invalid_request")
        assert "AAAA" not in err["message"]
    for method, path, key in (("GET", "/v1/requests/" + UNKNOWN, APP_KEY),
                              ("POST", "/v1/requests/%s/cancel" % UNKNOWN, APP_KEY),
                              ("GET", "/v1/admin/requests/" + UNKNOWN, ADMIN_KEY),
                              ("POST", "/v1/admin/requests/%s/retry" % UNKNOWN, ADMIN_KEY)):
        status, hdrs, out = call(s, method, path, key=key, body={} if method == "POST" else None)
        err = assert_error(status, hdrs, out, 404, "not_found")
        assert UNKNOWN not in err["message"]
    for method, path, key, allow in (("GET", "/v1/requests", APP_KEY, "POST"),
                                     ("POST", "/v1/requests/" + UNKNOWN, APP_KEY, "GET, HEAD"),
                                     ("GET", "/v1/requests/%s/cancel" % UNKNOWN, APP_KEY, "POST"),
                                     ("POST", "/v1/admin/requests", ADMIN_KEY, "GET, HEAD"),
                                     ("GET", "/v1/admin/requests/%s/refuse" % UNKNOWN, ADMIN_KEY,
                                      "POST")):
        status, hdrs, out = call(s, method, path, key=key, body={} if method == "POST" else None)
        assert_error(status, hdrs, out, 405)
        assert hdrs.get("allow") == allow
    for method, path, key in (("POST", "/v1/requests/%s/approve" % UNKNOWN, APP_KEY),
                              ("POST", "/v1/requests/%s/frob" % UNKNOWN, APP_KEY),
                              ("POST", "/v1/admin/requests/%s/verify" % UNKNOWN, ADMIN_KEY),
                              ("GET", "/v1/requestsx", APP_KEY),
                              ("GET", "/v1/admin/channels/1", ADMIN_KEY)):
        status, hdrs, out = call(s, method, path, key=key, body={} if method == "POST" else None)
        assert_error(status, hdrs, out, 404, "not_found")


# ---- the app's requests ----------------------------------------------------------

@BOTH
def test_create_show_repeat_verify_cancel(srv):
    demo, s = srv
    req = create(s, verified=False, notify="person@example.com")
    code = req["id"]
    assert req["kind"] == "erasure" and req["scope"] == "account"
    assert req["source"] == "app" and req["policy"] == "app-closure"
    assert req["state"] == "awaiting_verification", req
    assert code in (req["status_url"] or ""), req
    text = json.dumps(req)
    assert "user1@example.com" not in text and "person@example.com" not in text
    assert any(e["by"] == "app:e2e" for e in req["events"]), req["events"]

    status, hdrs, shown = call(s, "GET", "/v1/requests/" + code)
    assert status == 200 and shown["id"] == code and shown["state"] == req["state"], shown
    status, hdrs, head = call(s, "HEAD", "/v1/requests/" + code)
    assert status == 200

    # The same person, kind and scope again: the same request, 200, nothing new.
    status, hdrs, again = call(s, "POST", "/v1/requests", body=create_body(verified=True))
    assert status == 200, again
    assert again["id"] == code and again["state"] == "awaiting_verification", again
    assert all_ids(s) == [code]

    # The app vouches it verified the person now: on to review.  Not twice.
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/verify" % code)
    assert status == 200 and out["state"] == "awaiting_review", out
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/verify" % code, body={})
    assert_error(status, hdrs, out, 409, "conflict")
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/verify" % code, body={"reason": "x"})
    assert_error(status, hdrs, out, 400, "invalid_request")

    # Cancel: wrong types first (nothing changes), then for real; then not again.
    for raw in (b'{"reason": 5}', b'{"why": "x"}', b"[]", b"nope"):
        status, hdrs, out = call(s, "POST", "/v1/requests/%s/cancel" % code, raw=raw)
        assert_error(status, hdrs, out, 400, "invalid_request")
    assert call(s, "GET", "/v1/requests/" + code)[2]["state"] == "awaiting_review"
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/cancel" % code,
                             body={"reason": "the person changed their mind"})
    assert status == 200 and out["state"] == "cancelled", out
    assert out["events"][-1]["by"] == "app:e2e", out["events"]
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/cancel" % code)
    err = assert_error(status, hdrs, out, 409, "conflict")
    assert "cancelled" in err["message"]
    # A finished request is no longer open: the same person may ask again.
    again = create(s)
    assert again["id"] != code
    assert_log_clean(s, "user1@example.com", "person@example.com")


# ---- the operator's listing ----------------------------------------------------

@BOTH
def test_admin_list_filters_and_pages(srv):
    demo, s = srv
    made = [create(s, user=u)["id"] for u in range(1, 8)]
    # verified: true and review: every one is awaiting review.
    assert sorted(all_ids(s)) == sorted(made)
    seen, cursor, pages = [], None, 0
    while True:
        page = listing(s, "?limit=3" + ("&cursor=" + cursor if cursor else ""))
        assert 1 <= len(page["requests"]) <= 3
        for r in page["requests"]:
            assert "events" not in r and "result" not in r
        seen += [r["id"] for r in page["requests"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
        assert pages < 5
    assert pages == 3 and sorted(seen) == sorted(made) and len(set(seen)) == 7
    dues = [r["due_at"] for r in listing(s)["requests"]]
    assert dues == sorted(dues)

    assert len(listing(s, "?state=awaiting_review")["requests"]) == 7
    assert listing(s, "?state=completed")["requests"] == []
    assert len(listing(s, "?source=app&kind=erasure")["requests"]) == 7
    assert listing(s, "?source=operator")["requests"] == []
    assert listing(s, "?due_before=2001-01-01T00:00:00Z")["requests"] == []
    assert len(listing(s, "?due_before=2999-01-01")["requests"]) == 7
    assert listing(s, "?due_after=2999-01-01T00:00:00Z")["requests"] == []
    assert len(listing(s, "?due_after=2001-01-01&state=awaiting_review&limit=1000")
               ["requests"]) == 7

    for q in ("?state=nope", "?source=fax", "?kind=obliterate", "?limit=0", "?limit=1001",
              "?limit=x", "?limit=-1", "?limit=", "?due_before=tomorrow",
              "?due_after=2026-13-01", "?cursor=%00%01garbage", "?cursor=zzzz", "?sort=due",
              "?state="):
        status, hdrs, out = call(s, "GET", "/v1/admin/requests" + q, key=ADMIN_KEY)
        assert_error(status, hdrs, out, 400, "invalid_request")
    # Numbers are digits only: a "+" decodes to a space, which strtol() would skip.
    cursor = listing(s, "?limit=3")["next"]
    assert listing(s, "?limit=3&cursor=" + cursor)["requests"]
    due, rid = cursor.split(".")
    for q in ("?limit=+5", "?limit=%2B5", "?limit=%205", "?limit=5+", "?limit=%0A5",
              "?limit=3&cursor=+" + cursor, "?limit=3&cursor=%2B" + cursor,
              "?limit=3&cursor=%20" + cursor, "?limit=3&cursor=%s.+%s" % (due, rid),
              "?limit=3&cursor=%s.%%2B%s" % (due, rid), "?limit=3&cursor=-" + cursor,
              "?limit=3&cursor=%s." % due, "?limit=3&cursor=." + rid):
        status, hdrs, out = call(s, "GET", "/v1/admin/requests" + q, key=ADMIN_KEY)
        assert_error(status, hdrs, out, 400, "invalid_request")


# ---- the operator's actions ----------------------------------------------------

@BOTH
def test_admin_actions_and_their_errors(srv):
    demo, s = srv
    a = create(s, user=1)["id"]
    b = create(s, user=2)["id"]

    def act(code, action, body=None, raw=None):
        return call(s, "POST", "/v1/admin/requests/%s/%s" % (code, action), key=ADMIN_KEY,
                    body=body, raw=raw)

    def state(code):
        status, hdrs, out = call(s, "GET", "/v1/admin/requests/" + code, key=ADMIN_KEY)
        assert status == 200, out
        return out

    # refuse: the reason is required and a string; nothing changes without it.
    for body in (None, {}, {"reason": ""}, {"reason": 7}, {"reason": None},
                 {"reason": "x", "extra": 1}, {"reason": "x" * 501}):
        assert_error(*act(a, "refuse", body=body), 400, "invalid_request")
    # extend: both due_at and reason, due_at a time, later than the current one.
    due = state(a)["due_at"]
    for body in ({"reason": "backlog"}, {"due_at": "2999-01-01T00:00:00Z"},
                 {"due_at": "next week", "reason": "backlog"},
                 {"due_at": 32503680000, "reason": "backlog"},
                 {"due_at": "2001-01-01T00:00:00Z", "reason": "backlog"},
                 {"due_at": due, "reason": "backlog"}):
        assert_error(*act(a, "extend", body=body), 400, "invalid_request")
    assert state(a)["due_at"] == due and state(a)["state"] == "awaiting_review"
    # retry is for failed requests only; approve takes no unknown field.
    err = assert_error(*act(a, "retry"), 409, "conflict")
    assert "awaiting_review" in err["message"]
    assert_error(*act(a, "approve", body={"force": True}), 400, "invalid_request")

    out = act(a, "extend", body={"due_at": "2999-01-01T00:00:00Z", "reason": "backlog"})
    assert out[0] == 200, out
    assert out[2]["due_at"].startswith("2999-01-01"), out[2]
    assert out[2]["events"][-1]["by"] == "admin:ops"

    out = act(a, "refuse", body={"reason": "the account has an open invoice dispute"})
    assert out[0] == 200 and out[2]["state"] == "refused", out
    assert out[2]["reason"] == "the account has an open invoice dispute"
    for action, body in (("refuse", {"reason": "again"}), ("approve", None), ("cancel", None),
                         ("retry", None),
                         ("extend", {"due_at": "2999-06-01T00:00:00Z", "reason": "r"})):
        err = assert_error(*act(a, action, body=body), 409, "conflict")
        assert "refused" in err["message"], err
    assert state(a)["state"] == "refused"

    out = act(b, "approve", body={"reason": "checked the invoices"})
    assert out[0] == 200 and out[2]["state"] == "scheduled", out  # grace: 7d
    assert out[2]["grace_until"] is not None
    assert_error(*act(b, "approve"), 409, "conflict")
    out = act(b, "cancel", body={"reason": "asked by phone"})
    assert out[0] == 200 and out[2]["state"] == "cancelled", out
    assert [r["state"] for r in listing(s, "?limit=10")["requests"]].count("cancelled") == 1
