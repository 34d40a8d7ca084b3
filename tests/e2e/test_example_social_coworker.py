# SPDX-License-Identifier: MIT
"""examples/social-coworker/: every promise of Social Coworker's page (seed 000), end to
end, on the example's own files (examples/social-coworker/README.md maps each promise to
its test here).

One `lethe serve` for the module (example_helpers.Example): the app's disconnect API,
Meta's callbacks at the page's own URLs (/api/meta/deauthorize, /api/meta/data-deletion),
a mail "Account deletion" through LMTP answered through the real SMTP sink, the
confirmation link pressed, and the rows and media files of each demo user checked one by
one.  The tests share the server and run in order; each uses its own demo user, and the
last one moves the test clock six years on.
"""
import re

import pytest

from example_helpers import example, epoch, states  # noqa: F401

NAME = "social-coworker"
MAILBOX = "hola@comartinvi.com"
DAY = 86400

# Tables of the demo and how each reaches the user: its own column, or a parent's.
BY_PROJECT = ["posts", "media", "preview_links", "contacts", "campaigns"]
BY_CHANNEL = ["messages", "comments", "analytics", "automation_rules",
              "webhook_subscriptions", "publishing_logs"]


@pytest.fixture(scope="module")
def ex(example):
    return example(NAME)


def owned(ex, uid):
    """{table: [ids]} of every row of demo user @uid."""
    out = {"users": [r[0] for r in ex.rows("SELECT id FROM users WHERE id = ?", (uid,))]}
    for t in ("projects", "request_logs", "invoices"):
        out[t] = [r[0] for r in ex.rows("SELECT id FROM %s WHERE user_id = ? ORDER BY id" % t,
                                        (uid,))]
    proj = ",".join(str(i) for i in out["projects"]) or "NULL"
    out["channels"] = [r[0] for r in ex.rows(
        "SELECT id FROM channels WHERE project_id IN (%s) ORDER BY id" % proj)]
    chans = ",".join(str(i) for i in out["channels"]) or "NULL"
    for t in BY_PROJECT:
        out[t] = [r[0] for r in ex.rows("SELECT id FROM %s WHERE project_id IN (%s) ORDER BY id"
                                        % (t, proj))]
    for t in BY_CHANNEL:
        out[t] = [r[0] for r in ex.rows("SELECT id FROM %s WHERE channel_id IN (%s) ORDER BY id"
                                        % (t, chans))]
    return out


def present(ex, table, ids):
    if not ids:
        return []
    return [r[0] for r in ex.rows("SELECT id FROM %s WHERE id IN (%s) ORDER BY id"
                                  % (table, ",".join(str(i) for i in ids)))]


def totals(ex):
    return {t: ex.count(t) for t in ["users", "projects", "channels", "request_logs",
                                     "invoices"] + BY_PROJECT + BY_CHANNEL}


def channel(ex, cid):
    r = ex.rows("SELECT status, access_token, refresh_token, platform_user_id FROM channels "
                "WHERE id = ?", (cid,))
    return r[0] if r else None


# ---- 1. Revoke access to a social network ------------------------------------------------

def test_disconnect_in_the_app_marks_the_account_revoked_at_once(ex):
    """"Disconnect": marks the account as revoked in our database immediately (we will not
    use your token again); the encrypted record stays until the account is closed."""
    u = 6
    before = owned(ex, u)
    ig, li = 18, 20                       # user 6's Instagram and LinkedIn channels
    assert channel(ex, ig)[0] == "active" and channel(ex, ig)[1] is not None
    for cid in (ig, li):
        status, state = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
        assert status == 200, state
        assert state["state"] == "disconnected" and state["source"] == "api"
        # Immediately, in the answer's transaction: revoked, no token left.
        st, token, refresh, account = channel(ex, cid)
        assert (st, token, refresh) == ("revoked", None, None)
        assert account is not None, "the record itself stays until the account is closed"
    # Instagram Login documents no revoke endpoint (the page: "social networks do not
    # expose an API that lets us revoke the permission"): no call; LinkedIn's is called.
    st = ex.settled(ig)
    assert st["revoke"]["state"] == "unsupported", st
    assert [c for c in ex.fake.calls("instagram") if "revoke" in c.path] == []
    st = ex.settled(li)
    assert st["revoke"]["outcome"] == "revoked", st
    # The account, its projects, posts and other channels are untouched.
    after = owned(ex, u)
    for t in ("users", "projects", "channels", "posts", "media", "invoices"):
        assert after[t] == before[t], t
    assert channel(ex, 19)[1] is not None, "the Facebook channel keeps its token"


def test_deauthorize_at_the_pages_url_marks_the_token_revoked(ex):
    """Meta calls our Deauthorize Callback (/api/meta/deauthorize) and we mark your token
    as revoked immediately."""
    u, cid, ig_id = 5, 16, "17841000000501"
    before = owned(ex, u)
    assert channel(ex, cid)[1] is not None
    status, body = ex.callback("instagram", "deauthorize", ig_id, path="/api/meta/deauthorize")
    assert status == 200, body
    st, token, refresh, _ = channel(ex, cid)
    assert (st, token, refresh) == ("revoked", None, None)
    after = owned(ex, u)
    assert after == before, "nothing is deleted by a deauthorization"
    assert [c for c in ex.fake.calls() if "17841000000501" in c.full_path] == []


def test_data_deletion_at_the_pages_url_deletes_the_instagram_connection(ex):
    """Meta calls our Data Deletion Request URL (/api/meta/data-deletion); we delete the
    Instagram connection immediately and return a confirmation_code with a URL to check the
    status at /data-deletion/status.  The account, projects and posts are not deleted."""
    u, cid, ig_id = 9, 28, "17841000000901"
    before = owned(ex, u)
    total = totals(ex)
    status, body = ex.callback("instagram", "data-deletion", ig_id,
                               path="/api/meta/data-deletion")
    assert status == 200, body
    code = body["confirmation_code"]
    assert body["url"] == "http://127.0.0.1:8080/data-deletion/status?id=" + code
    done, _ = ex.server.wait_completed(code, timeout=15)
    assert done["state"] == "completed", done
    status, _, page = ex.server.get("/data-deletion/status?id=" + code)
    assert status == 200 and b"Social Coworker" in page
    after = owned(ex, u)
    # The Instagram connection and what came through it: gone, row by row.
    assert cid not in after["channels"]
    for t in BY_CHANNEL:
        gone = [i for i in before[t] if i not in after[t]]
        mine = [r[0] for r in ex.rows("SELECT id FROM %s WHERE channel_id = ?" % t, (cid,))]
        assert mine == [], t
        assert len(gone) == total[t] - ex.count(t), t
    # "The SaaS user account, projects and already-published posts are not deleted".
    for t in ("users", "projects", "posts", "media", "invoices", "request_logs"):
        assert after[t] == before[t], t
    assert sorted(after["channels"]) == sorted(c for c in before["channels"] if c != cid)


def test_the_record_is_deleted_earlier_when_the_person_writes_to_us(ex):
    """"The encrypted record is fully deleted when you close your account ... or earlier if
    you request it by writing to us": the operator's request in scope `connection`."""
    u, cid = 11, 36                       # user 11's X channel
    status, _ = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200
    ex.settled(cid)
    assert channel(ex, cid)[0] == "revoked"
    before = owned(ex, u)
    rc, out, err = ex.cli("requests", "create", "--scope", "connection", "--id",
                          "channel_id=%d" % cid, "--json")
    assert rc == 0, err
    import json
    req = json.loads(out)
    assert req["policy"] == "operator-connection-deletion"
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 30 * DAY
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed", done
    after = owned(ex, u)
    assert channel(ex, cid) is None
    assert after["channels"] == [c for c in before["channels"] if c != cid]
    for t in BY_CHANNEL:
        assert ex.rows("SELECT id FROM %s WHERE channel_id = ?" % t, (cid,)) == [], t
    for t in ("users", "projects", "posts", "media", "invoices"):
        assert after[t] == before[t], t


# ---- 2. Delete all your data (account closure) by mail -------------------------------------

def test_account_deletion_by_mail_deletes_everything_but_tax_data(ex):
    """"send an email to hola@comartinvi.com with the subject "Account deletion" from the
    email address registered ... We will delete all your data within a maximum of 30 days
    and send you confirmation by email when completed. Except for legal obligations (tax
    data if you made a payment ...)"."""
    p = ex.user(6)                        # disconnected Instagram and LinkedIn above
    before = owned(ex, p.uid)
    assert before["invoices"] and before["request_logs"] and before["media"]
    files = ex.media_of(p.uid)
    assert files and all((ex.demo.media / f).is_file() for f in files)
    assert 18 in before["channels"] and channel(ex, 18)[0] == "revoked"
    total = totals(ex)
    ex.lmtp(ex.mail("seed000-account-deletion.eml", p))
    # The confirmation link goes to the registered address (never trusted From: alone).
    [verify] = ex.wait_mails(p.email, 1)
    assert "Social Coworker" in verify.subject and "confirm" in verify.subject.lower()
    [req] = [r for r in ex.requests(source="email") if r["state"] == "awaiting_verification"]
    assert req["scope"] == "account" and req["policy"] == "email-account-deletion"
    # "within a maximum of 30 days": the deadline.
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 30 * DAY
    assert req["grace_until"] is None
    ex.follow(verify)
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed_with_retention", done
    assert states(done) == ["received", "awaiting_verification", "scheduled", "running",
                            "completed_with_retention"]
    after = owned(ex, p.uid)
    # Everything on the page's list is gone, row by row: user account (email), projects
    # and configurations, posts and drafts, media, tokens (with the channels), execution
    # history and logs (request logs deleted, not anonymized).
    for t, ids in before.items():
        if t == "invoices":
            continue
        assert present(ex, t, ids) == [], t
        assert ex.count(t) == total[t] - len(ids), "only the person's rows of %s" % t
    assert ex.count("request_logs", "user_id IS NULL") == 0
    # ... and the files: "Images and videos uploaded to storage".
    assert [f for f in files if (ex.demo.media / f).exists()] == []
    # Tax data kept, without name or email, under a legal hold.
    kept = ex.rows("SELECT id, user_id, name, email, tax_id, amount FROM invoices WHERE id IN "
                   "(%s) ORDER BY id" % ",".join(str(i) for i in before["invoices"]))
    assert [k[0] for k in kept] == before["invoices"]
    for _, uid, name, mail, tax_id, amount in kept:
        assert uid is None and name is None and re.fullmatch(r"anon:[0-9a-f]{32}", mail)
        assert tax_id and amount is not None
    assert p.email not in str(kept) and p.name not in str(kept)
    # "send you confirmation by email when completed", in the page's words.
    # (Between the two, lethe's "scheduled" notice says when it will be carried out.)
    [_, scheduled, confirm] = ex.wait_mails(p.email, 3)
    assert scheduled.subject == "Your request to Social Coworker is scheduled"
    assert confirm.subject == "Social Coworker: your data has been deleted (tax records kept)"
    text = " ".join(confirm.text.split())
    assert "Except for legal obligations" in text
    assert "Spanish law requires us to keep accounting records for 6 years" in text
    assert "the execution history and logs associated with your account" in text
    assert p.email not in confirm.text
    # Never in the log: the address, the name, the Instagram id.
    log = ex.server.stderr()
    assert p.email not in log and p.name not in log and p.ig_id not in log


def test_account_deletion_from_an_unregistered_address_erases_nothing(ex):
    """"from the email address registered in Social Coworker": a mail from any other
    address gets a link to that address, which finds no account."""
    total = totals(ex)
    stranger = ex.user(7)
    raw = ex.mail("seed000-account-deletion.eml", stranger, **{
        "from": "someone.else@example.net", "return_path": "someone.else@example.net"})
    ex.lmtp(raw)
    [verify] = ex.wait_mails("someone.else@example.net", 1)
    assert ex.mails_to(stranger.email) == []
    [req] = [r for r in ex.requests(source="email") if r["state"] == "awaiting_verification"]
    ex.follow(verify)
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed" and done["result"]["no_data"] is True, done
    assert totals(ex) == total


def test_tax_data_is_deleted_when_the_legal_period_ends(ex):
    """"... in which case the legal retention period applies": 6 years from the invoice,
    then the sweeper deletes it (the test clock moves six years on)."""
    held = ex.rows("SELECT id, issued_at FROM invoices WHERE user_id IS NULL ORDER BY "
                   "issued_at")
    assert held, "the account deletion above kept invoices"
    import calendar
    import time
    issued = [calendar.timegm(time.strptime(i[:19], "%Y-%m-%d %H:%M:%S")) for _, i in held]
    others = ex.count("invoices", "user_id IS NOT NULL")
    # One day before the first hold ends, nothing goes.
    ex.clock.set(issued[0] + 6 * 365 * DAY - DAY)
    import time as t
    t.sleep(1.5)
    assert ex.count("invoices", "user_id IS NULL") == len(held)
    # Past the last one's end, every held invoice is gone; the others stay.
    ex.clock.set(issued[-1] + 6 * 365 * DAY + 2)
    ex.wait(lambda: ex.count("invoices", "user_id IS NULL") == 0, "held invoices swept")
    assert ex.count("invoices", "user_id IS NOT NULL") == others
