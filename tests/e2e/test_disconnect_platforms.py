# SPDX-License-Identifier: MIT
"""Channel disconnect through the app API, per platform, against the fake platform.

For each platform the demo connects: POST /v1/channels/{id}/disconnect answers 200 with
the channel disconnected; at once the tokens are NULL, the status 'revoked', the
channel's scheduled posts cancelled and its automation rules disabled; then the outbox
makes exactly the upstream calls platform-facts.md documents (method, path, form
fields, auth header), removes the active webhook subscriptions of Facebook Pages and
Instagram accounts, and purges the channel's messages, comments, analytics, logs and
subscriptions.  Instagram Login has no revoke endpoint: no call, and the state says
so.  No token reaches the state store or the logs in the clear.
"""
import base64
import sqlite3

import pytest

from disconnect_helpers import (
    CANONICAL,
    api,
    channel,
    channel_row,
    configure,
    serve_env,
    wait_settled,
)
from fake_platform import CLIENT_IDS, SECRETS, fake_platform  # noqa: F401  (fixture)
from lethe_e2e import query
from serve_helpers import servers, stop_ok  # noqa: F401  (fixture)

PURGED = ["messages", "comments", "analytics", "publishing_logs", "webhook_subscriptions"]


def counts(db, cid):
    return {t: query(db, "SELECT count(*) FROM %s WHERE channel_id = ?" % t, (cid,))[0][0]
            for t in PURGED}


def active_hooks(demo, cid):
    return [r[0] for r in query(demo.db, "SELECT account_id FROM webhook_subscriptions WHERE "
                                         "channel_id = ? AND status = 'active' ORDER BY id",
                                (cid,))]


def expected_revoke(platform, ch):
    """(method, path, form, extra headers) of the documented revoke call, or None."""
    tok = ch["token"]
    if platform == "youtube":
        return "POST", "/revoke", {"token": tok}, {}
    if platform == "facebook":
        return "DELETE", "/v21.0/%s/permissions" % ch["account"], {"access_token": tok}, {}
    if platform == "linkedin":
        return "POST", "/oauth/v2/revoke", {
            "token": tok, "client_id": CLIENT_IDS["linkedin"],
            "client_secret": SECRETS["LETHE_TEST_LINKEDIN_CLIENT_SECRET"]}, {}
    if platform == "x":
        basic = base64.b64encode(("%s:%s" % (CLIENT_IDS["x"],
                                             SECRETS["LETHE_TEST_X_CLIENT_SECRET"])).encode())
        return "POST", "/2/oauth2/revoke", {"token": tok, "client_id": CLIENT_IDS["x"]}, {
            "authorization": "Basic " + basic.decode()}
    if platform == "tiktok":
        return "POST", "/v2/oauth/revoke/", {
            "client_key": CLIENT_IDS["tiktok"],
            "client_secret": SECRETS["LETHE_TEST_TIKTOK_CLIENT_SECRET"], "token": tok}, {}
    return None  # instagram


@pytest.mark.parametrize("platform", ["youtube", "facebook", "instagram", "linkedin", "x",
                                      "tiktok"])
def test_disconnect_per_platform_as_documented(demo, servers, fake_platform, platform):
    fake = fake_platform
    configure(demo, fake)
    ch = channel(demo, platform)
    for skip in range(1, 6):
        # Meta channels: one with an active webhook subscription to remove.
        if platform not in ("facebook", "instagram") or active_hooks(demo, ch["id"]):
            break
        ch = channel(demo, platform, skip)
    cid = ch["id"]
    scheduled = query(demo.db, "SELECT count(*) FROM posts WHERE channel_id = ? AND status = "
                               "'scheduled'", (cid,))[0][0]
    rules_on = query(demo.db, "SELECT count(*) FROM automation_rules WHERE channel_id = ? AND "
                              "enabled = 1", (cid,))[0][0]
    hooks = active_hooks(demo, cid)
    before = counts(demo.db, cid)
    assert sum(before.values()) > 0, "the test needs derived data to purge"
    other = query(demo.db, "SELECT id, access_token, status FROM channels WHERE id != ? "
                           "ORDER BY id", (cid,))

    srv = servers(demo, env=serve_env(fake))
    status, hdrs, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, (status, st)
    assert hdrs["content-type"].startswith("application/json")
    # At once, before any upstream call could matter.
    assert st["state"] == "disconnected" and st["channel"] == str(cid)
    assert st["platform"] == CANONICAL[platform]
    assert channel_row(demo, cid) == (None, None, "revoked")
    assert query(demo.db, "SELECT count(*) FROM posts WHERE channel_id = ? AND status = "
                          "'scheduled'", (cid,))[0][0] == 0
    assert query(demo.db, "SELECT count(*) FROM automation_rules WHERE channel_id = ? AND "
                          "enabled = 1", (cid,))[0][0] == 0
    effects = {e["table"]: e["rows"] for e in st["effects"]["tables"]}
    assert st["effects"]["tokens_wiped"] == (2 if ch["refresh"] else 1)
    assert effects == {"channels": 1, "posts": scheduled, "automation_rules": rules_on}
    assert query(demo.db, "SELECT id, access_token, status FROM channels WHERE id != ? "
                          "ORDER BY id", (cid,)) == other, "another channel changed"

    st = wait_settled(srv, cid)
    calls = fake.calls()
    want = expected_revoke(platform, ch)
    revokes = [c for c in calls if not c.path.endswith("/subscribed_apps")]
    if want is None:
        assert revokes == [], "Instagram Login has no revoke endpoint: %r" % revokes
        assert st["revoke"]["state"] == "unsupported"
        assert st["revoke"]["detail"] == ("Instagram Login documents no revoke endpoint; the "
                                          "token was deleted")
    else:
        method, path, form, headers = want
        assert len(revokes) == 1, revokes
        c = revokes[0]
        assert c.platform == CANONICAL[platform]
        assert (c.method, c.path, c.form) == (method, path, form)
        assert c.headers["content-type"].startswith("application/x-www-form-urlencoded")
        for k, v in headers.items():
            assert c.headers.get(k) == v, k
        if not headers:
            assert "authorization" not in c.headers
        assert st["revoke"]["state"] == "done" and st["revoke"]["attempts"] == 1
        assert st["revoke"]["outcome"] == "revoked"

    unsubs = [c for c in calls if c.path.endswith("/subscribed_apps")]
    if platform in ("facebook", "instagram"):
        assert hooks, "the test needs an active webhook subscription"
        assert [(c.method, c.path, c.form) for c in unsubs] == [
            ("DELETE", "/v21.0/%s/subscribed_apps" % a, {"access_token": ch["token"]})
            for a in hooks]
        assert [u["state"] for u in st["unsubscribe"]] == ["done"] * len(hooks)
    else:
        assert unsubs == []
        assert [u["state"] for u in st["unsubscribe"]] == ["unsupported"] * len(hooks)

    assert st["purge"]["state"] == "done" and st["purge"]["outcome"] == "purged"
    assert counts(demo.db, cid) == {t: 0 for t in PURGED}
    assert {t: n for t, n in st["purge"]["tables"].items()} == before
    # The token is nowhere in the clear: not in the state store, not in the log.
    state_bytes = b"".join(p.read_bytes() for p in demo.state_db.parent.glob("state.db*"))
    assert ch["token"].encode() not in state_bytes
    assert ch["account"].encode() not in state_bytes
    assert query(demo.state_db, "SELECT count(*) FROM outbox WHERE box IS NOT NULL")[0][0] == 0
    assert ch["token"] not in srv.stderr()
    stop_ok(srv)


def facebook_channel_with_hooks(demo):
    for skip in range(0, 6):
        ch = channel(demo, "facebook", skip)
        if active_hooks(demo, ch["id"]):
            return ch
    pytest.fail("the demo has no Facebook channel with an active webhook subscription")


def test_disconnect_facebook_unsubscribes_with_page_tokens_before_the_revoke(
        demo, servers, fake_platform):
    """The Facebook revoke kills every token of the person, Page tokens too: the Pages are
    unsubscribed first, each with its own Page token (unsubscribe: {token: COL})."""
    fake = fake_platform
    configure(demo, fake)
    fake.revoke_kills_tokens()
    ch = facebook_channel_with_hooks(demo)
    cid = ch["id"]
    with sqlite3.connect(str(demo.db)) as c:
        c.execute("ALTER TABLE webhook_subscriptions ADD COLUMN page_token TEXT")
        c.execute("UPDATE webhook_subscriptions SET page_token = 'page-tok-' || id")
    text = demo.datamap.read_text()
    assert "      account: account_id\n" in text
    demo.datamap.write_text(text.replace("      account: account_id\n",
                                         "      account: account_id\n      token: page_token\n"))
    hooks = query(demo.db, "SELECT account_id, page_token FROM webhook_subscriptions WHERE "
                           "channel_id = ? AND status = 'active' ORDER BY id", (cid,))
    srv = servers(demo, env=serve_env(fake))
    status, _, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, (status, st)
    st = wait_settled(srv, cid)
    calls = fake.calls("facebook")
    assert [(c.method, c.path, c.form) for c in calls] == [
        ("DELETE", "/v21.0/%s/subscribed_apps" % a, {"access_token": t}) for a, t in hooks] + [
        ("DELETE", "/v21.0/%s/permissions" % ch["account"], {"access_token": ch["token"]})]
    assert [u["state"] for u in st["unsubscribe"]] == ["done"] * len(hooks)
    assert [u["outcome"] for u in st["unsubscribe"]] == ["unsubscribed"] * len(hooks)
    assert st["revoke"]["outcome"] == "revoked"
    for _, t in hooks:
        assert t not in srv.stderr()
    stop_ok(srv)


def test_disconnect_unsubscribe_with_a_dead_token_is_a_dead_letter(demo, servers,
                                                                    fake_platform):
    """Graph code 190 on an unsubscribe means the token is dead, not that the subscription
    is gone: a dead letter saying so, never "already_unsubscribed"."""
    fake = fake_platform
    configure(demo, fake)
    ch = facebook_channel_with_hooks(demo)
    cid = ch["id"]
    for a in active_hooks(demo, cid):
        fake.already("/facebook/v21.0/%s/subscribed_apps" % a)
    srv = servers(demo, env=serve_env(fake))
    status, _, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, (status, st)
    st = wait_settled(srv, cid)
    assert st["unsubscribe"], st
    for u in st["unsubscribe"]:
        assert u["state"] == "dead" and u["outcome"] == "failed", u
        assert "token is invalid" in u["detail"] and "could not be removed" in u["detail"], u
    # The revoke still runs once the unsubscribes ended.
    assert st["revoke"]["outcome"] in ("revoked", "already_revoked")
    stop_ok(srv)


def test_disconnect_facebook_without_user_token_revokes_with_the_app_token(demo, servers,
                                                                           fake_platform):
    """No user token but an account id and a configured app: the permissions are removed
    with the app token {app-id}|{app-secret}, not recorded as "no_token"."""
    fake = fake_platform
    configure(demo, fake)
    ch = channel(demo, "facebook")
    cid = ch["id"]
    with sqlite3.connect(str(demo.db)) as c:
        c.execute("UPDATE channels SET access_token = NULL, refresh_token = 'r' WHERE id = ?",
                  (cid,))
    srv = servers(demo, env=serve_env(fake))
    status, _, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, (status, st)
    st = wait_settled(srv, cid)
    revokes = [c for c in fake.calls("facebook") if c.path.endswith("/permissions")]
    app_token = "%s|%s" % (CLIENT_IDS["facebook"], SECRETS["LETHE_TEST_FACEBOOK_APP_SECRET"])
    assert [(c.method, c.path, c.form) for c in revokes] == [
        ("DELETE", "/v21.0/%s/permissions" % ch["account"], {"access_token": app_token})]
    assert st["revoke"]["state"] == "done" and st["revoke"]["outcome"] == "revoked"
    assert app_token not in srv.stderr()
    stop_ok(srv)
