# SPDX-License-Identifier: MIT
"""examples/sociogenie/: every promise of SocioGenie's page (seed 001), end to end, on the
example's own files (examples/sociogenie/README.md maps each promise to its test here).

One `lethe serve` for the module (example_helpers.Example) over a demo with the
example's schema.sql applied (instagram_profiles: the Instagram fields of the user
profile): the app's disconnect, Meta's deauthorize and data-deletion callbacks, mails to
founder@magnatex.co through LMTP answered through the real SMTP sink, the app's account
deletion, and the rows and files of each demo user checked one by one.
"""
import pytest

from example_helpers import example, epoch, states  # noqa: F401

NAME = "sociogenie"
DAY = 86400
CHANNEL_ROWS = ["messages", "comments", "analytics", "automation_rules",
                "webhook_subscriptions", "publishing_logs"]
CONTENT = ["projects", "posts", "media", "preview_links", "contacts", "campaigns"]
PROFILE_COLS = ("user_id", "channel_id", "instagram_user_id", "instagram_username",
                "connected", "account_settings", "insights")


@pytest.fixture(scope="module")
def ex(example):
    return example(NAME)


def profile(ex, uid):
    r = ex.rows("SELECT %s FROM instagram_profiles WHERE user_id = ?" % ", ".join(PROFILE_COLS),
                (uid,))
    return dict(zip(PROFILE_COLS, r[0])) if r else None


def channel(ex, cid):
    r = ex.rows("SELECT status, access_token, refresh_token, platform_user_id, username, "
                "token_expires_at FROM channels WHERE id = ?", (cid,))
    return r[0] if r else None


def content(ex, uid):
    """{table: [(id, status or None)]} of user @uid's own content and account rows."""
    out = {"users": ex.rows("SELECT id, status FROM users WHERE id = ?", (uid,))}
    out["projects"] = ex.rows("SELECT id, NULL FROM projects WHERE user_id = ?", (uid,))
    for t, col in (("posts", "status"), ("media", "storage_key"), ("preview_links", "NULL"),
                   ("contacts", "NULL"), ("campaigns", "NULL")):
        out[t] = ex.rows("SELECT t.id, t.%s FROM %s t JOIN projects p ON p.id = t.project_id "
                         "WHERE p.user_id = ? ORDER BY t.id" % (col, t) if col != "NULL" else
                         "SELECT t.id, NULL FROM %s t JOIN projects p ON p.id = t.project_id "
                         "WHERE p.user_id = ? ORDER BY t.id" % t, (uid,))
    return out


def derived(ex, cid):
    return {t: [r[0] for r in ex.rows("SELECT id FROM %s WHERE channel_id = ? ORDER BY id" % t,
                                      (cid,))] for t in CHANNEL_ROWS}


def cleared(p, uid):
    """The profile row after Meta's deletion: the fields gone, the row's owner kept."""
    return p == {"user_id": uid, "channel_id": None, "instagram_user_id": None,
                 "instagram_username": None, "connected": 0, "account_settings": None,
                 "insights": None}


def test_the_schema_adds_the_instagram_fields_of_the_profile(ex):
    """"When you connect Instagram to SocioGenie, we store ... Your Instagram user ID, Your
    Instagram username, Long-lived access tokens and token expiry dates, Instagram
    analytics data": the demo's channels plus the profile fields schema.sql adds."""
    p = profile(ex, 5)
    assert p["channel_id"] == 16 and p["instagram_user_id"] == "17841000000501"
    assert p["connected"] == 1 and p["account_settings"] and p["insights"]
    st, token, refresh, uid, username, expires = channel(ex, 16)
    assert token and uid == "17841000000501" and username and expires


def test_disconnect_removes_the_connection_fields_and_keeps_content(ex):
    """"Disconnecting revokes our access tokens and removes Instagram connection fields from
    your account, including tokens and your Instagram user ID stored for that connection."
    "Content you create in SocioGenie (drafts, scheduled posts, media) is ... not removed
    automatically when you disconnect Instagram"."""
    u, cid = 5, 16
    before = content(ex, u)
    files = [k for _, k in before["media"]]
    assert any(s == "scheduled" for _, s in before["posts"]), "a scheduled post to keep"
    status, state = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200 and state["state"] == "disconnected", state
    # At once: no token, Instagram user ID, username or token expiry on the connection,
    # and the profile's connection fields (its copy of the ID included) cleared.
    assert channel(ex, cid) == ("revoked", None, None, None, None, None)
    assert ex.count("channels", "platform_user_id = ?", ("17841000000501",)) == 0
    p = profile(ex, u)
    assert p == {"user_id": u, "channel_id": cid, "instagram_user_id": None,
                 "instagram_username": None, "connected": 0, "account_settings": None,
                 "insights": None}, p
    # Instagram Login has no revoke endpoint: the tokens are deleted, no call is made.
    st = ex.settled(cid)
    assert st["revoke"]["state"] == "unsupported", st
    # Drafts, scheduled posts and media: every row as it was, every file still there.
    assert content(ex, u) == before
    assert all((ex.demo.media / f).is_file() for f in files)


def test_meta_data_deletion_finds_the_account_by_instagram_user_id(ex):
    """"When Meta sends us a valid data deletion request, we locate your SocioGenie account
    using your Instagram user ID, delete your instagram social connection document, and
    remove related fields from your user profile (including Instagram connection status,
    selected account settings, and Instagram analytics). Meta may redirect you to our
    Instagram data deletion status page with a confirmation code"."""
    u, cid, ig_id = 9, 28, "17841000000901"
    before = content(ex, u)
    others = [r[0] for r in ex.channels_of(u) if r[0] != cid]
    others_rows = {c: derived(ex, c) for c in others}
    mine = derived(ex, cid)
    assert mine["analytics"], "Instagram analytics to delete"
    status, body = ex.callback("instagram", "data-deletion", ig_id)
    assert status == 200, body
    code = body["confirmation_code"]
    assert body["url"] == "http://127.0.0.1:8080/data-deletion/status?id=" + code
    done, _ = ex.server.wait_completed(code, timeout=15)
    assert done["state"] == "completed"
    status, _, page = ex.server.get("/data-deletion/status?id=" + code)
    assert status == 200 and b"SocioGenie" in page
    assert channel(ex, cid) is None
    for t, ids in derived(ex, cid).items():
        assert ids == [], t
        assert ex.rows("SELECT id FROM %s WHERE id IN (%s)" % (t, ",".join(
            str(i) for i in mine[t]) or "NULL")) == [], t
    assert cleared(profile(ex, u), u), profile(ex, u)
    # The account and the content the person created stay; other channels untouched.
    assert content(ex, u) == before
    assert [r[0] for r in ex.channels_of(u)] == others
    assert {c: derived(ex, c) for c in others} == others_rows


def test_deauthorization_removes_tokens_and_a_later_deletion_still_finds_it(ex):
    """"If you only removed app authorization (deauthorization) without a full deletion
    request, we remove active tokens but may retain non-token connection metadata until you
    disconnect in SocioGenie or submit a full deletion request"."""
    u, cid, ig_id = 6, 18, "17841000000601"
    mine = derived(ex, cid)
    status, _ = ex.callback("instagram", "deauthorize", ig_id)
    assert status == 200
    # The tokens and, through the same disconnect effects, the connection's other fields,
    # its Instagram user ID included.
    assert channel(ex, cid) == ("revoked", None, None, None, None, None)
    assert derived(ex, cid) == mine, "no data deleted by a deauthorization"
    assert ex.fake.calls() == [] or all(ig_id not in c.full_path for c in ex.fake.calls())
    # The full deletion request later: the connection goes although the disconnect
    # cleared the Instagram user ID it is found by (lethe kept its key, sealed).
    status, body = ex.callback("instagram", "data-deletion", ig_id)
    assert status == 200
    done, _ = ex.server.wait_completed(body["confirmation_code"], timeout=15)
    assert done["state"] == "completed"
    assert channel(ex, cid) is None
    assert all(v == [] for v in derived(ex, cid).values())
    assert cleared(profile(ex, u), u)


def test_a_deletion_after_a_disconnect_in_the_app_finds_no_instagram_user_id(ex):
    """The page's two ways one after the other: Disconnect in SocioGenie ("removes ... your
    Instagram user ID stored for that connection"), then Meta's deletion request for that
    ID.  The disconnect removed the ID and purged the connection's derived data; the
    deletion, which finds the connection only by that ID, finds nothing: it completes with
    no data.  What stays is what README.md says: the connection row with no Instagram data
    (status revoked, its project and connection date), its automation rules disabled, the
    profile row with no Instagram field; the account deletion removes them."""
    u = 7
    [(cid, _, ig_id, _, _)] = ex.channels_of(u, "instagram")[:1]
    assert ig_id
    before = content(ex, u)
    rules = [r[0] for r in ex.rows("SELECT id FROM automation_rules WHERE channel_id = ? "
                                   "ORDER BY id", (cid,))]
    assert rules, "automation rules the disconnect keeps"
    status, state = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200 and state["state"] == "disconnected", state
    ex.settled(cid)
    purged = derived(ex, cid)
    # The disconnect's purge (scope `channel`): the derived data is gone, the automation
    # rules (content, not in that scope) stay, disabled.
    assert purged == dict({t: [] for t in CHANNEL_ROWS}, automation_rules=rules), purged
    status, body = ex.callback("instagram", "data-deletion", ig_id)
    assert status == 200, body
    done, _ = ex.server.wait_completed(body["confirmation_code"], timeout=15)
    assert done["state"] == "completed" and done["no_data"] is True, done
    status, _, page = ex.server.get("/data-deletion/status?id=" + body["confirmation_code"])
    assert status == 200 and b"We found no data linked to this account" in page, page
    # Nothing left that holds the Instagram user ID, username, tokens or expiry.
    assert channel(ex, cid) == ("revoked", None, None, None, None, None)
    assert ex.count("channels", "platform_user_id = ?", (ig_id,)) == 0
    assert ex.count("instagram_profiles", "instagram_user_id = ?", (ig_id,)) == 0
    assert ex.rows("SELECT enabled FROM automation_rules WHERE channel_id = ?", (cid,)) == \
        [(0,)] * len(rules)
    assert derived(ex, cid) == purged
    p = profile(ex, u)
    assert p == {"user_id": u, "channel_id": cid, "instagram_user_id": None,
                 "instagram_username": None, "connected": 0, "account_settings": None,
                 "insights": None}, p
    assert content(ex, u) == before
    assert ig_id not in ex.server.stderr()
    # The full account deletion takes what stayed.
    status, req = ex.app("POST", "/v1/requests", {
        "kind": "erasure", "scope": "account", "identities": {"user_id": str(u)},
        "verified": True})
    assert status == 201, req
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] in ("completed", "completed_with_retention"), done
    assert channel(ex, cid) is None and profile(ex, u) is None
    assert ex.count("automation_rules", "channel_id = ?", (cid,)) == 0


def test_mail_with_the_instagram_user_id_is_confirmed_by_the_address_on_file(ex):
    """"For help with Instagram data deletion, email founder@magnatex.co with the email
    address tied to your SocioGenie account and, if available, your Instagram user ID":
    the link goes to the address on file for the account with that ID, never to the
    sender's; following it deletes the Instagram data."""
    owner = ex.user(11)
    cid = 33
    before = content(ex, owner.uid)
    # Written from another address: that address is told nothing about the account.
    raw = ex.mail("seed001-instagram-deletion.eml", owner, **{
        "from": "someone.else@example.net", "return_path": "someone.else@example.net"})
    ex.lmtp(raw)
    [verify] = ex.wait_mails(owner.email, 1)
    reply = ex.wait_mails("someone.else@example.net", 1)[0]
    assert owner.email not in reply.text and "/privacy/l/" not in reply.text
    [req] = [r for r in ex.requests(source="email") if r["state"] == "awaiting_verification"]
    assert req["scope"] == "meta" and req["policy"] == "email-instagram-deletion"
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 30 * DAY
    ex.follow(verify)
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed", done
    assert states(done)[:3] == ["received", "awaiting_verification", "scheduled"]
    assert channel(ex, cid) is None and cleared(profile(ex, owner.uid), owner.uid)
    assert content(ex, owner.uid) == before
    # The completion mail, in the page's words, to the address on file.
    got = ex.wait_mails(owner.email, 3)
    assert got[-1].subject == "SocioGenie: your Instagram data has been deleted"
    text = " ".join(got[-1].text.split())
    assert "Posts already published to Instagram remain on Instagram" in text
    assert owner.ig_id not in got[-1].text and owner.ig_id not in ex.server.stderr()


def test_mail_with_a_confirmation_code_gets_its_status(ex):
    """"... or confirmation code": a mail naming a code gets that request's status link."""
    asker = ex.user(3)
    [req] = [r for r in ex.requests(source="meta")][:1]
    raw = ex.mail("status-code.eml", asker, code=req["id"])
    ex.lmtp(raw)
    [reply] = ex.wait_mails(asker.email, 1)
    assert "http://127.0.0.1:8080/data-deletion/status?id=" + req["id"] in reply.text
    assert reply.header("Auto-Submitted") == "auto-replied"


def test_deleting_the_full_account_removes_the_content(ex):
    """"... not removed automatically when you disconnect Instagram unless you delete that
    content or your full SocioGenie account": the app's account deletion."""
    p = ex.user(12)
    before = content(ex, p.uid)
    files = [k for _, k in before["media"]]
    assert files and before["posts"]
    status, req = ex.app("POST", "/v1/requests", {
        "kind": "erasure", "scope": "account", "identities": {"email": p.email},
        "verified": True})
    assert status == 201, req
    assert req["policy"] == "account-deletion"
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed_with_retention", done      # invoices: tax records
    after = content(ex, p.uid)
    assert all(v == [] for v in after.values()), after
    for t in CONTENT:
        ids = [i for i, _ in before[t]]
        assert ex.rows("SELECT id FROM %s WHERE id IN (%s)" % (t, ",".join(
            str(i) for i in ids) or "NULL")) == [], t
    assert [f for f in files if (ex.demo.media / f).exists()] == []
    assert profile(ex, p.uid) is None
    assert ex.channels_of(p.uid) == []


def test_mail_with_only_an_address_waits_for_the_operator(ex):
    """"... with the email address tied to your SocioGenie account and, if available, your
    Instagram user ID": without the ID the mail names nobody lethe can check; it waits in
    the operator's queue, and no request is made."""
    p = ex.user(10)
    before = len(ex.requests())
    raw = ex.mail("seed001-instagram-deletion.eml", p, ig_user_id="(I do not know it)")
    ex.lmtp(raw)
    rows = ex.cli_json("mailbox", "list", "--state", "open")
    rows = rows["mails"] if isinstance(rows, dict) else rows
    assert [r["outcome"] for r in rows] == ["unmatched"], rows
    assert rows[0]["request"] is None and rows[0]["raw_kept"] is True
    assert len(ex.requests()) == before
    # The operator reads it (decrypted, on the terminal only) and can act on it.
    rc, out, err = ex.cli("mailbox", "show", str(rows[0]["id"]))
    assert rc == 0 and p.email in out, err
    assert p.email not in ex.server.stderr()
