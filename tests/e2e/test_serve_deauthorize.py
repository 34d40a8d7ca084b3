# SPDX-License-Identifier: MIT
"""`lethe serve`: the Meta deauthorize callback.

200 with an empty body; synchronously the matching channel's tokens are NULL and its
status 'revoked', and the data map's other disconnect effects apply to that channel
(scheduled posts cancelled, automation rules disabled: the same wipe path as a channel
disconnect); everything else (its username, platform id, published posts, other
channels) stays; a deauthorization is recorded in the state store without the raw id.
"""
import sqlite3

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    deauthorizations,
    fb_id,
    ig_id,
    meta_requests,
    query,
    servers,
    sign_cli,
    sign_py,
    state_store_bytes,
    stop_ok,
)

CHANNEL_COLS = ["id", "project_id", "platform", "platform_user_id", "username", "access_token",
                "refresh_token", "token_expires_at", "status", "connected_at"]


def channel(db, platform, uid):
    rows = query(db, "SELECT * FROM channels WHERE platform = ? AND platform_user_id = ?",
                 (platform, uid))
    assert len(rows) == 1, rows
    return dict(zip(CHANNEL_COLS, rows[0]))


def assert_revoked(before, after, channel_id):
    """Only channel @channel_id changed, and only its tokens and status."""
    assert set(before) == set(after)
    for t in before:
        if t not in ("channels", "posts", "automation_rules"):
            assert after[t] == before[t], "deauthorize changed table %s" % t
    # posts: (id, project_id, channel_id, body, status, ...); rules: (id, channel_id, ..., enabled)
    for pid, row in before["posts"].items():
        want = row
        if row[2] == channel_id and row[4] == "scheduled":
            want = row[:4] + ("cancelled",) + row[5:]
        assert after["posts"][pid] == want, "post %d" % pid
    for rid, row in before["automation_rules"].items():
        want = row[:-1] + (0,) if row[1] == channel_id else row
        assert after["automation_rules"][rid] == want, "rule %d" % rid
    ch_before, ch_after = before["channels"], after["channels"]
    assert set(ch_before) == set(ch_after)
    for cid in ch_before:
        if cid != channel_id:
            assert ch_after[cid] == ch_before[cid], "channel %d changed" % cid
    b = dict(zip(CHANNEL_COLS, ch_before[channel_id]))
    a = dict(zip(CHANNEL_COLS, ch_after[channel_id]))
    assert b["access_token"] is not None, "the test needs a channel with a token"
    assert a["access_token"] is None and a["refresh_token"] is None, a
    assert a["status"] == "revoked", a
    for k in CHANNEL_COLS:
        if k not in ("access_token", "refresh_token", "status"):
            assert a[k] == b[k], k


def test_serve_deauthorize_instagram_revokes_tokens(demo, servers, snapshot):
    uid = ig_id(2)
    ch = channel(demo.db, "instagram", uid)
    assert ch["status"] == "active"
    # Meta channels of the demo have no refresh token: give this one a token to wipe.
    con = sqlite3.connect(str(demo.db))
    with con:
        con.execute("UPDATE channels SET refresh_token = 'e2e-refresh' WHERE id = ?", (ch["id"],))
    con.close()
    before = snapshot(demo.db)
    assert dict(zip(CHANNEL_COLS, before["channels"][ch["id"]]))["refresh_token"]
    srv = servers(demo)
    status, hdrs, body = srv.post_sr("/api/meta/instagram/deauthorize", sign_cli("instagram", uid))
    # Checked right after the answer: the revocation is synchronous.
    after = snapshot(demo.db)
    assert status == 200 and body == b"", (status, body)
    assert_revoked(before, after, ch["id"])
    assert any(r[2] == ch["id"] and r[4] == "cancelled" for r in after["posts"].values()), \
        "the channel's scheduled posts were cancelled"
    rows = deauthorizations(demo)
    assert len(rows) == 1
    app, subject, revoked = rows[0]
    assert app == "instagram" and revoked == 1
    assert uid not in subject
    assert uid.encode() not in state_store_bytes(demo)
    assert meta_requests(demo) == [], "a deauthorization is not a deletion request"
    # A retry is harmless.
    status, _, body = srv.post_sr("/api/meta/instagram/deauthorize", sign_py(IG_SECRET, uid))
    assert status == 200 and body == b""
    assert snapshot(demo.db) == after
    assert len(deauthorizations(demo)) == 2
    stop_ok(srv)


def test_serve_deauthorize_facebook_and_legacy_path(demo, servers, snapshot):
    srv = servers(demo)
    for i, path, sign in ((3, "/api/meta/facebook/deauthorize", lambda u: sign_py(FB_SECRET, u)),
                          (4, "/api/meta/deauthorize", lambda u: sign_cli("facebook", u))):
        uid = fb_id(i)
        ch = channel(demo.db, "facebook", uid)
        ig_before = channel(demo.db, "instagram", ig_id(i))
        before = snapshot(demo.db)
        status, hdrs, body = srv.post_sr(path, sign(uid))
        after = snapshot(demo.db)
        assert status == 200 and body == b"", (path, status, body)
        assert_revoked(before, after, ch["id"])
        # The same person's Instagram connection is another app's: untouched.
        assert channel(demo.db, "instagram", ig_id(i)) == ig_before
    assert [r[0] for r in deauthorizations(demo)] == ["facebook", "facebook"]
    for i in (3, 4):
        assert fb_id(i).encode() not in state_store_bytes(demo)
    stop_ok(srv)


def test_serve_deauthorize_unknown_id_changes_nothing(demo, servers, snapshot):
    before = snapshot(demo.db)
    srv = servers(demo)
    # An Instagram id sent to the facebook app matches no facebook channel.
    for path, sr in (("/api/meta/instagram/deauthorize", sign_py(IG_SECRET, "17841999999901")),
                     ("/api/meta/facebook/deauthorize", sign_py(FB_SECRET, ig_id(5)))):
        status, _, body = srv.post_sr(path, sr)
        assert status == 200 and body == b"", (path, status, body)
    assert snapshot(demo.db) == before
    assert [(r[0], r[2]) for r in deauthorizations(demo)] == [("instagram", 0), ("facebook", 0)]
    stop_ok(srv)
