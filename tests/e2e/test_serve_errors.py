# SPDX-License-Identifier: MIT
"""`lethe serve`: refused Meta callbacks.

Each refusal is a 4xx JSON {"error": {"code", "message"}} whose text never names the
user id, and nothing is recorded: the requests and deauthorizations row counts of
the state store and every row of app.db are unchanged.
"""
import base64
import json

import pytest

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    assert_json_error,
    b64url,
    deauthorizations,
    fb_id,
    form,
    ig_id,
    meta_requests,
    servers,
    set_config,
    sign_cli,
    sign_py,
    sign_segment,
    stop_ok,
)

UID = ig_id(7)
DD = "/api/meta/instagram/data-deletion"
DEAUTH = "/api/meta/instagram/deauthorize"


def good_payload(**over):
    p = {"user_id": UID, "algorithm": "HMAC-SHA256", "issued_at": 1700000000}
    p.update(over)
    return p


def payload_segment(p):
    return b64url(json.dumps(p, separators=(",", ":")).encode())


def bad_requests():
    """(name, method, path, body, content type, expected status)."""
    good = sign_py(IG_SECRET, UID)
    sig, seg = good.split(".")
    cases = [
        ("missing_field", "POST", DD, b"foo=bar&other=" + UID.encode(), None, 400),
        ("empty_body", "POST", DD, b"", None, 400),
        ("empty_signed_request", "POST", DD, b"signed_request=", None, 400),
        ("no_dot", "POST", DD, form(sig + seg), None, 400),
        ("two_dots", "POST", DD, form(good + "." + seg), None, 400),
        ("only_dot", "POST", DD, form("."), None, 400),
        ("empty_signature", "POST", DD, form("." + seg), None, 400),
        ("empty_payload", "POST", DD, form(sig + "."), None, 400),
        ("bad_base64", "POST", DD, form("!!!!." + seg), None, 400),
        ("bad_base64_payload", "POST", DD, form(sig + ".e30*"), None, 400),
        ("standard_base64_chars", "POST", DD,
         form(sig + "." + seg[:4] + "+/" + seg[6:]), None, 400),
        ("short_signature", "POST", DD, form(sig[:20] + "." + seg), None, 400),
        ("forged_wrong_secret", "POST", DD, form(sign_py(FB_SECRET, UID)), None, 400),
        ("forged_other_payload", "POST", DD,
         form(sig + "." + payload_segment(good_payload(user_id=ig_id(8)))), None, 400),
        ("signed_unpadded_sent_padded", "POST", DD, form(sig + "." + seg + "%3D%3D"), None, 400),
        ("wrong_algorithm_cli", "POST", DD,
         form(sign_cli("instagram", UID, algorithm="HMAC-SHA1")), None, 400),
        ("wrong_algorithm", "POST", DD,
         form(sign_py(IG_SECRET, UID, algorithm="hmac-sha256")), None, 400),
        ("no_algorithm", "POST", DD,
         form(sign_py(IG_SECRET, payload={"user_id": UID, "issued_at": 1})), None, 400),
        ("user_id_number", "POST", DD,
         form(sign_py(IG_SECRET, payload=good_payload(user_id=int(UID)))), None, 400),
        ("user_id_missing", "POST", DD,
         form(sign_py(IG_SECRET, payload={"algorithm": "HMAC-SHA256", "issued_at": 1})),
         None, 400),
        ("user_id_empty", "POST", DD,
         form(sign_py(IG_SECRET, payload=good_payload(user_id=""))), None, 400),
        ("user_id_sql", "POST", DD,
         form(sign_py(IG_SECRET, payload=good_payload(user_id=UID + "' OR '1'='1"))), None, 400),
        ("payload_not_object", "POST", DD,
         form(sign_py(IG_SECRET, payload='["%s"]' % UID)), None, 400),
        ("payload_not_json", "POST", DD, form(sign_py(IG_SECRET, payload="user_id=" + UID)),
         None, 400),
        ("issued_at_string", "POST", DD,
         form(sign_py(IG_SECRET, payload=good_payload(issued_at="1700000000"))), None, 400),
        ("duplicate_key", "POST", DD,
         form(sign_py(IG_SECRET, payload='{"user_id":"%s","user_id":"%s","algorithm":'
                                         '"HMAC-SHA256"}' % (UID, ig_id(8)))), None, 400),
        ("duplicate_field", "POST", DD, form(good) + b"&" + form(good), None, 400),
        ("get", "GET", DD, None, None, 405),
        ("put", "PUT", DD, form(good), None, 405),
        ("json_content_type", "POST", DD,
         json.dumps({"signed_request": good}).encode(), "application/json", 415),
        ("multipart_content_type", "POST", DD, form(good),
         "multipart/form-data; boundary=x", 415),
        ("no_content_type", "POST", DD, form(good), "", 415),
        ("form_prefix_content_type", "POST", DD, form(good),
         "application/x-www-form-urlencodedx", 415),
        ("oversized", "POST", DD, form(good) + b"&pad=" + b"x" * (64 * 1024), None, 413),
        ("unknown_app", "POST", "/api/meta/tiktok/data-deletion", form(good), None, 404),
        ("unknown_app_prefix", "POST", "/api/meta/instagramx/data-deletion", form(good),
         None, 404),
        ("unknown_endpoint", "POST", "/api/meta/instagram/delete", form(good), None, 404),
        ("deauth_forged", "POST", DEAUTH, form(sign_py(FB_SECRET, UID)), None, 400),
        ("deauth_get", "GET", DEAUTH, None, None, 405),
        ("deauth_json", "POST", DEAUTH, json.dumps({"signed_request": good}).encode(),
         "application/json", 415),
        ("deauth_oversized", "POST", DEAUTH, form(good) + b"&pad=" + b"x" * (70 * 1024), None,
         413),
        ("deauth_unknown_app", "POST", "/api/meta/whatsapp/deauthorize", form(good), None, 404),
        ("legacy_forged", "POST", "/api/meta/data-deletion", form(sign_py(IG_SECRET, fb_id(7))),
         None, 400),
    ]
    return cases


@pytest.fixture(scope="module")
def cases():
    return bad_requests()


def test_serve_errors_are_json_4xx_and_record_nothing(demo, servers, snapshot, cases):
    before = snapshot(demo.db)
    srv = servers(demo)
    failures = []
    for name, method, path, body, ctype, expect in cases:
        headers = {}
        if body is not None and ctype != "":
            headers["Content-Type"] = ctype or "application/x-www-form-urlencoded"
        status, hdrs, data = srv.request(method, path, body=body, headers=headers)
        try:
            err = assert_json_error(status, hdrs, data, expect, secret_ids=(UID, ig_id(8),
                                                                            fb_id(7)))
            if expect == 405:
                assert hdrs.get("allow") == "POST", hdrs
        except AssertionError as e:
            failures.append("%s: %s" % (name, e))
            continue
        if expect == 400:
            assert err["code"], name
    assert not failures, "\n".join(failures)
    assert meta_requests(demo) == []
    assert deauthorizations(demo) == []
    assert snapshot(demo.db) == before
    # The server is still healthy and a good request still works.
    status, _, data = srv.post_sr(DD, sign_py(IG_SECRET, UID))
    assert status == 200, data
    stop_ok(srv)


def test_serve_error_messages_are_specific(demo, servers):
    srv = servers(demo)
    good = sign_py(IG_SECRET, UID)
    status, hdrs, data = srv.post(DD, b"foo=bar")
    err = assert_json_error(status, hdrs, data, 400)
    assert "signed_request" in err["message"]
    status, hdrs, data = srv.post(DD, form(sign_py(FB_SECRET, UID)))
    err = assert_json_error(status, hdrs, data, 400, secret_ids=(UID,))
    assert "signature" in err["message"]
    status, hdrs, data = srv.post(DD, form(good), content_type="text/plain")
    err = assert_json_error(status, hdrs, data, 415)
    assert "application/x-www-form-urlencoded" in err["message"]
    status, hdrs, data = srv.post(DD, form(good) + b"&x=" + b"y" * (65 * 1024))
    assert_json_error(status, hdrs, data, 413)
    # A chunked body over the cap, too.
    chunks = (b"x" * 4096 for _ in range(20))
    status, hdrs, data = srv.request("POST", DD, body=chunks, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"})
    assert_json_error(status, hdrs, data, 413)
    # Unknown form fields around signed_request, and a charset parameter, are fine.
    status, _, data = srv.post(DD, b"a=1&" + form(good) + b"&b=2",
                               content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert status == 200, data
    stop_ok(srv)


def test_serve_padded_payload_signed_as_received_is_accepted(demo, servers):
    """Meta signs the payload segment exactly as sent: with '=' padding, the HMAC covers
    the padding too, and lethe must accept it."""
    for extra in ("", " ", "  "):
        raw = json.dumps(good_payload(), separators=(",", ":")) + extra
        padded = base64.urlsafe_b64encode(raw.encode()).decode()
        if padded.endswith("="):
            break
    assert padded.endswith("=")
    sr = sign_segment(IG_SECRET, padded)
    srv = servers(demo)
    status, _, data = srv.post(DD, ("signed_request=" + sr.replace("=", "%3D")).encode())
    assert status == 200, data
    stop_ok(srv)


def test_serve_issued_at_max_age_refuses_stale(demo, servers):
    """With meta.issued_at_max_age set, a stale issued_at is refused and not recorded."""
    set_config(demo, r"issued_at_max_age: 0\b", "issued_at_max_age: 7d")
    srv = servers(demo)
    status, hdrs, data = srv.post(DD, form(sign_py(IG_SECRET, UID, issued_at=1000000000)))
    assert_json_error(status, hdrs, data, 400, secret_ids=(UID,))
    status, hdrs, data = srv.post(DD, form(sign_py(IG_SECRET, payload={
        "user_id": UID, "algorithm": "HMAC-SHA256"})))
    assert_json_error(status, hdrs, data, 400, secret_ids=(UID,))
    assert meta_requests(demo) == []
    status, _, data = srv.post(DD, form(sign_cli("instagram", UID)))
    assert status == 200, data
    stop_ok(srv)
