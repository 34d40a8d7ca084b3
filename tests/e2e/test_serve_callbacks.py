# SPDX-License-Identifier: MIT
"""`lethe serve`: Meta data-deletion callbacks and the public status page.

Both app families (/api/meta/facebook/..., /api/meta/instagram/...) and the legacy
path of the first app (/api/meta/data-deletion = facebook); the answer's exact
shape; the background erasure (what goes, what stays); idempotence per (app, user);
ids matching nobody; the status page (HTML, JSON, 404s, stylesheet) and that it
shows none of the person's data.  The tests that erase or look requests up run on both
backends (the backend fixture: app database and state store on SQLite, then on
PostgreSQL); the public URL's path and the payload's extra fields are checked before any
database is touched, and run on SQLite.
"""
import json
import time

import pytest

from lethe_e2e import SANITIZED
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    assert_code,
    assert_log_clean,
    category_counts,
    expected_after,
    fb_id,
    ig_id,
    owner_of_channel,
    person_rows,
    public_url,
    recorded,
    query,
    reported_counts,
    servers,
    set_config,
    sign_cli,
    sign_py,
    state_store_bytes,
    stop_ok,
)

BOTH = pytest.mark.usefixtures("backend")

# What a typical demo user's erasure may take (from the 200 answer to 'completed').
TYPICAL_COMPLETION_S = 3.0 if SANITIZED else 1.0


def test_serve_sign_request_cli_matches_python_and_meta_vector(run_lethe):
    # Meta's community test vector (docs/platform-facts.md).
    vector = ("Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRo"
              "bSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ")
    py = sign_py("key", payload='{"user_id":"0","algorithm":"HMAC-SHA256","issued_at":1624244156}')
    assert py == vector
    code, out, err = run_lethe("sign-request", "--secret-env", "E2E_SR_KEY", "--user-id", "0",
                               "--issued-at", "1624244156", env={"E2E_SR_KEY": "key"})
    assert code == 0, err
    assert out.strip() == vector
    # And with the test secrets: the CLI and Python agree byte for byte.
    assert sign_cli("instagram", ig_id(3), issued_at=1700000000) == \
        sign_py(IG_SECRET, ig_id(3), issued_at=1700000000)
    assert sign_cli("facebook", fb_id(3), issued_at=1700000001) == \
        sign_py(FB_SECRET, fb_id(3), issued_at=1700000001)


@BOTH
def test_serve_instagram_data_deletion_erases_the_instagram_connection(demo, servers, snapshot):
    uid = ig_id(1)
    chans = query(demo.db, "SELECT id FROM channels WHERE platform = 'instagram' AND "
                           "platform_user_id = ?", (uid,))
    assert len(chans) == 1
    owner = owner_of_channel(demo.db, chans[0][0])
    assert owner["email"] == "user1@example.com"
    removed = person_rows(demo.db, "instagram", uid)
    assert all(removed[t] for t in ("channels", "messages", "analytics")), removed
    before = snapshot(demo.db)

    srv = servers(demo)
    sr = sign_cli("instagram", uid)                       # signed by the CLI
    t0 = time.monotonic()
    status, hdrs, data = srv.post_sr("/api/meta/instagram/data-deletion", sr)
    answered = time.monotonic()
    assert status == 200, data
    assert hdrs["content-type"] == "application/json", hdrs
    code = assert_code(json.loads(data), public_url(demo))
    # The request is recorded (durably: in the fsynced intake log, or already moved on
    # into the state store) before the answer.
    assert recorded(demo) == [(code, "instagram")]

    st, waited = srv.wait_completed(code)
    print("\ntypical demo user: completed %.3f s after the 200 answer (request took %.3f s)"
          % (waited, answered - t0))
    assert waited < TYPICAL_COMPLETION_S, "completion took %.2f s" % waited
    assert st["state"] == "completed" and st["no_data"] is False, st
    assert st["confirmation_code"] == code and st["platform"] == "Instagram"
    assert st["completed_at"] is not None
    assert reported_counts(st) == category_counts(removed), st

    after = snapshot(demo.db)
    assert after == expected_after(before, removed)
    # The person's account, projects, posts and other channels are still there.
    assert after["users"][owner["id"]] == before["users"][owner["id"]]
    others = query(demo.db, "SELECT c.platform FROM channels c JOIN projects p ON "
                            "p.id = c.project_id WHERE p.user_id = ?", (owner["id"],))
    assert sorted(r[0] for r in others) == ["facebook", "youtube"]
    assert query(demo.db, "SELECT count(*) FROM posts p JOIN projects j ON j.id = p.project_id "
                          "WHERE j.user_id = ?", (owner["id"],))[0][0] > 0
    # The finished request keeps no clear-text id in the state store.
    assert uid.encode() not in state_store_bytes(demo)
    stop_ok(srv)
    assert_log_clean(srv, uid, code)


@BOTH
def test_serve_facebook_and_legacy_paths(demo, servers, snapshot):
    """/api/meta/facebook/data-deletion and the legacy /api/meta/data-deletion both act
    for the first app (facebook), signed with the Facebook secret."""
    pub = public_url(demo)
    before = snapshot(demo.db)
    removed2 = person_rows(demo.db, "facebook", fb_id(2))
    removed3 = person_rows(demo.db, "facebook", fb_id(3))
    assert removed2["channels"] and removed3["channels"]
    srv = servers(demo)

    code2 = assert_code(srv.deletion("facebook", sign_py(FB_SECRET, fb_id(2))), pub)
    code3 = assert_code(srv.deletion(None, sign_cli("facebook", fb_id(3)),
                                     path="/api/meta/data-deletion"), pub)
    assert code2 != code3
    # The legacy path is the facebook app: the Instagram secret does not verify there.
    status, _, data = srv.post_sr("/api/meta/data-deletion", sign_py(IG_SECRET, fb_id(4)))
    assert status == 400, data

    for code, removed in ((code2, removed2), (code3, removed3)):
        st, _ = srv.wait_completed(code)
        assert st["platform"] == "Facebook" and st["no_data"] is False
        assert reported_counts(st) == category_counts(removed)
    removed = {t: removed2[t] | removed3[t] for t in removed2}
    assert snapshot(demo.db) == expected_after(before, removed)
    # The legacy path's code is the facebook app's: a retry on the family path matches.
    assert srv.deletion("facebook", sign_py(FB_SECRET, fb_id(3)))["confirmation_code"] == code3
    stop_ok(srv)


@BOTH
def test_serve_retry_same_code_other_user_or_family_differs(demo, servers, snapshot):
    pub = public_url(demo)
    srv = servers(demo)
    first = srv.deletion("instagram", sign_py(IG_SECRET, ig_id(2), issued_at=1700000000))
    code = assert_code(first, pub)
    # Meta retries: a new signature (other issued_at) for the same person, CLI-signed.
    again = srv.deletion("instagram", sign_cli("instagram", ig_id(2)))
    assert again == first
    srv.wait_completed(code)
    # Still the same after completion (within meta.repeat_window).
    assert srv.deletion("instagram", sign_py(IG_SECRET, ig_id(2))) == first
    other = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, ig_id(3))), pub)
    assert other != code
    srv.wait_completed(other)
    # The same id on the other family is another request (and there it matches nobody:
    # facebook ids are looked up among facebook channels only).
    assert person_rows(demo.db, "instagram", ig_id(4))["channels"]
    before = snapshot(demo.db)
    cross = assert_code(srv.deletion("facebook", sign_py(FB_SECRET, ig_id(4))), pub)
    assert cross not in (code, other)
    st, _ = srv.wait_completed(cross)
    assert st["no_data"] is True and st["platform"] == "Facebook", st
    assert snapshot(demo.db) == before, "a facebook request touched instagram data"
    # ... and the same id on its own family gets yet another code.
    own = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, ig_id(4))), pub)
    assert own not in (code, other, cross)
    codes = [r[0] for r in recorded(demo)]
    assert len(codes) == len(set(codes)) == 4
    stop_ok(srv)
    assert_log_clean(srv, ig_id(2), ig_id(3), ig_id(4), *codes)


@BOTH
def test_serve_unknown_id_gets_a_code_and_no_data(demo, servers, snapshot):
    before = snapshot(demo.db)
    srv = servers(demo)
    for app, secret, uid in (("instagram", IG_SECRET, "17841999999901"),
                             ("facebook", FB_SECRET, "10229999999902")):
        code = assert_code(srv.deletion(app, sign_py(secret, uid)), public_url(demo))
        st, _ = srv.wait_completed(code)
        assert st["state"] == "completed" and st["no_data"] is True, st
        assert st["categories"] == [], st
        status, hdrs, html = srv.get("/data-deletion/status?id=" + code)
        assert status == 200
        html = html.decode()
        assert "We found no data linked to this account" in html
        assert uid not in html
    assert snapshot(demo.db) == before
    stop_ok(srv)


@BOTH
def test_serve_status_page_html_shows_no_personal_data(demo, servers):
    uid = ig_id(5)
    chan = query(demo.db, "SELECT id, username FROM channels WHERE platform = 'instagram' "
                          "AND platform_user_id = ?", (uid,))
    assert len(chan) == 1
    username = chan[0][1]
    owner = owner_of_channel(demo.db, chan[0][0])
    personal = [uid, username, owner["email"], owner["name"]]
    assert all(personal), personal
    contact = "privacy@demo-social.example"
    assert contact in demo.config.read_text()

    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    # Whatever the state, the page never shows personal data.
    status, hdrs, body = srv.get("/data-deletion/status?id=" + code)
    assert status == 200
    first = body.decode()
    st, _ = srv.wait_completed(code)
    status, hdrs, body = srv.get("/data-deletion/status?id=" + code)
    assert status == 200
    assert hdrs["content-type"].startswith("text/html"), hdrs
    # Anyone with the URL can read the page: never cached, never referred.
    assert hdrs.get("cache-control") == "no-store", hdrs
    assert hdrs.get("referrer-policy") == "no-referrer", hdrs
    html = body.decode()
    assert code in html
    assert "Completed" in html and "state-completed" in html
    assert "We have deleted the data linked to your account" in html
    for label in ("Data received from Meta", "Messages and comments", "Analytics and statistics"):
        assert label in html, label
    assert contact in html and "mailto:" + contact in html
    assert "Demo Social" in html and "Instagram" in html
    for page in (first, html, json.dumps(st)):
        for p in personal:
            assert p not in page, "the status page shows personal data %r" % p
    # A browser-friendly Accept header still gets HTML.
    status, hdrs, _ = srv.get("/data-deletion/status?id=" + code,
                              accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 200 and hdrs["content-type"].startswith("text/html")
    stop_ok(srv)


@BOTH
def test_serve_status_page_json_and_404s(demo, servers):
    srv = servers(demo)
    code = assert_code(srv.deletion("facebook", sign_py(FB_SECRET, fb_id(6))), public_url(demo))
    st, _ = srv.wait_completed(code)
    assert st["confirmation_code"] == code
    assert st["state"] == "completed"
    assert st["platform"] == "Facebook"
    assert st["contact"] == "privacy@demo-social.example"
    assert isinstance(st["categories"], list) and st["categories"]
    for c in st["categories"]:
        assert {"category", "deleted", "anonymized", "retained"} <= set(c)

    unknown = "a" * len(code)
    assert unknown != code
    status, hdrs, body = srv.get("/data-deletion/status?id=" + unknown)
    assert status == 404 and hdrs["content-type"].startswith("text/html"), (status, hdrs)
    page = body.decode()
    assert "We could not find this request" in page
    assert "privacy@demo-social.example" in page
    assert unknown not in page
    status, hdrs, body = srv.get("/data-deletion/status?id=" + unknown, accept="application/json")
    assert status == 404 and hdrs["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "not_found"
    for bad in ("", "?id=", "?id=" + code[:-1], "?id=" + code + "a",
                "?id=%27%20OR%201%3D1--", "?id=" + code[:-1] + "!", "?code=" + code):
        status, hdrs, body = srv.get("/data-deletion/status" + bad)
        assert status == 404, (bad, status)
        assert hdrs["content-type"].startswith("text/html")
        assert code not in body.decode()
    # Typed back in capitals it is the same code (base32 has one case).
    assert srv.status_json(code.upper()) == st
    # Only GET/HEAD.
    status, hdrs, body = srv.request("POST", "/data-deletion/status?id=" + code, body=b"")
    assert status == 405
    status, hdrs, body = srv.request("HEAD", "/data-deletion/status?id=" + code)
    assert status == 200 and body == b""
    # The stylesheet the page links to.
    status, hdrs, body = srv.get("/static/style.css")
    assert status == 200
    assert hdrs["content-type"].startswith("text/css")
    assert len(body) > 100 and b"{" in body
    status, _, _ = srv.get("/static/nope.css")
    assert status == 404
    stop_ok(srv)


@BOTH
def test_serve_status_page_grouped_code_account_and_kept(demo, servers):
    """After a Meta-scope deletion the page shows the code in groups of four, says the
    app account still exists and whom to write to, and has no "Kept" when nothing was
    kept; the grouped code typed back (any case, spaces or dashes) finds the request."""
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, ig_id(7))), public_url(demo))
    st, _ = srv.wait_completed(code)
    assert st["confirmation_code"] == code and st["state"] == "completed", st
    assert all(c["retained"] == 0 for c in st["categories"]), st
    status, _, body = srv.get("/data-deletion/status?id=" + code)
    assert status == 200
    html = body.decode()
    grouped = " ".join(code[i:i + 4] for i in range(0, len(code), 4))
    assert "<dd><code>%s</code></dd>" % grouped in html
    assert "quote your confirmation code <code>%s</code>" % code in html
    assert "<strong>Close your Demo Social account</strong>" in html
    assert ("an account you have with Demo Social itself still exists. To close it, write to "
            '<a href="mailto:privacy@demo-social.example">') in html
    assert "Kept" not in html and "kept" not in html
    # The grouped form read back, capitals, dashes, '+' for a space: the same request.
    for typed in (grouped.replace(" ", "%20"), grouped.upper().replace(" ", "-"),
                  grouped.replace(" ", "+")):
        status, _, body = srv.get("/data-deletion/status?id=" + typed)
        assert status == 200, (typed, status)
        assert "<dd><code>%s</code></dd>" % grouped in body.decode()
        status, _, body = srv.get("/data-deletion/status?id=" + typed, accept="application/json")
        assert status == 200 and json.loads(body)["confirmation_code"] == code
    stop_ok(srv)


def test_serve_public_url_with_path(demo, servers):
    """The url is public_url (a path prefix and a trailing slash allowed) + the page."""
    set_config(demo, r"public_url: \S+", "public_url: https://privacy.example.com/lethe/")
    srv = servers(demo)
    assert "https://privacy.example.com/lethe/data-deletion/status" in srv.first_line
    resp = srv.deletion("instagram", sign_py(IG_SECRET, ig_id(9)))
    code = resp["confirmation_code"]
    assert resp["url"] == "https://privacy.example.com/lethe/data-deletion/status?id=" + code
    stop_ok(srv)


def test_serve_payload_with_extra_fields_is_accepted(demo, servers):
    """Meta's payload "does not have a strict format": unknown fields are ignored."""
    srv = servers(demo)
    sr = sign_py(FB_SECRET, payload={"algorithm": "HMAC-SHA256", "expires": 1291840400,
                                     "issued_at": 1291836800, "user_id": fb_id(8),
                                     "oauth_token": "x", "extra": {"a": [1, 2, {"b": None}]}})
    code = assert_code(srv.deletion("facebook", sr), public_url(demo))
    st, _ = srv.wait_completed(code)
    assert st["no_data"] is False
    stop_ok(srv)
