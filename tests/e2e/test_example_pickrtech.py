# SPDX-License-Identifier: MIT
"""examples/pickrtech/: every promise of PickrTech's page (seed 003), end to end, on the
example's own files (examples/pickrtech/README.md maps each promise to its test here).

One `lethe serve` for the module (example_helpers.Example): a deletion request mailed to
contact@pickrtech.com through LMTP naming an Instagram username, the address it gives
confirmed by its own link through the real SMTP sink, the operator's review (approve,
refuse) through the operator API, Meta's deauthorize callback, the error logs kept for
security and swept when their 90 days end (the test clock), row by row.  The tests share
the server and run in order; the last one moves the clock.
"""
import calendar
import time

import pytest

from example_helpers import example, epoch, states  # noqa: F401

NAME = "pickrtech"
DAY = 86400
DERIVED = ["messages", "comments", "analytics", "automation_rules",
           "webhook_subscriptions"]


@pytest.fixture(scope="module")
def ex(example):
    return example(NAME)


def of_channel(ex, cid):
    out = {t: [r[0] for r in ex.rows("SELECT id FROM %s WHERE channel_id = ? ORDER BY id" % t,
                                     (cid,))] for t in DERIVED}
    out["logs"] = ex.rows("SELECT id, level, created_at FROM publishing_logs WHERE "
                          "channel_id = ? ORDER BY id", (cid,))
    return out


def account(ex, uid):
    """The person's app account, projects, posts and their other channels: never in the
    Instagram deletion."""
    return {"users": ex.rows("SELECT * FROM users WHERE id = ?", (uid,)),
            "projects": ex.rows("SELECT * FROM projects WHERE user_id = ?", (uid,)),
            "posts": ex.rows("SELECT p.* FROM posts p JOIN projects j ON j.id = p.project_id "
                             "WHERE j.user_id = ? ORDER BY p.id", (uid,))}


def channel(ex, cid):
    r = ex.rows("SELECT status, access_token, platform_user_id, username FROM channels "
                "WHERE id = ?", (cid,))
    return r[0] if r else None


def ts(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


CONFIRM = "pickr.confirm@example.org"


def test_a_mailed_request_is_reviewed_then_the_instagram_data_deleted(ex):
    """"please contact us by email: contact@pickrtech.com ... include: Your Instagram
    username; A short statement that you want your Instagram-related app data deleted; An
    email address where we can confirm completion of the request."  "After receiving a
    valid request, PickrTech will review the request and delete Instagram-related app data
    that is no longer required for security, legal, or operational reasons. This may
    include stored access tokens, account identifiers, and related publishing logs."  "We
    aim to process valid deletion requests within 30 days.\""""
    p = ex.user(4)
    cid = 13                              # user 4's Instagram account, demouser4.ig
    assert p.ig == "demouser4.ig" and channel(ex, cid) is not None
    before = of_channel(ex, cid)
    errors = [r for r in before["logs"] if r[1] == "error"]
    infos = [r for r in before["logs"] if r[1] != "error"]
    assert errors and infos and before["analytics"]
    acct = account(ex, p.uid)
    others = [r for r in ex.channels_of(p.uid) if r[0] != cid]
    ex.lmtp(ex.mail("seed003-pickrtech-instagram.eml", p, confirm=CONFIRM))
    # The request waits for PickrTech's review; nothing is deleted yet.
    [req] = [r for r in ex.requests(source="email") if r["state"] == "awaiting_review"]
    assert req["scope"] == "meta" and req["policy"] == "email-instagram-deletion"
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 30 * DAY
    # The address the mail gives confirms itself first (its own link); the sender hears
    # that the request waits for review.
    [confirm_link] = ex.wait_mails(CONFIRM, 1)
    [review] = ex.wait_mails(p.email, 1)
    text = " ".join(review.text.split())
    assert "PickrTech will review the request" in text, text
    assert "We aim to process valid deletion requests within 30 days" in text
    assert review.header("Auto-Submitted") == "auto-replied"
    assert "/privacy/l/" in confirm_link.text
    ex.follow(confirm_link)
    assert channel(ex, cid) is not None and of_channel(ex, cid) == before
    # The operator reviews it and approves.
    status, body = ex.admin("POST", "/v1/admin/requests/%s/approve" % req["id"],
                            {"reason": "the username is the sender's Instagram account"})
    assert status == 200, body
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] == "completed_with_retention", done
    assert states(done) == ["received", "awaiting_review", "scheduled", "running",
                            "completed_with_retention"]
    # Access token and account identifiers: the channel row is gone; publishing logs
    # deleted but the error logs, kept for security; what came through the account gone.
    assert channel(ex, cid) is None
    after = of_channel(ex, cid)
    assert all(after[t] == [] for t in DERIVED), after
    assert after["logs"] == errors
    assert ex.rows("SELECT id FROM publishing_logs WHERE id IN (%s)"
                   % ",".join(str(r[0]) for r in infos)) == []
    # Nothing else: the person's account, projects, posts and other channels.
    assert account(ex, p.uid) == acct
    assert [r for r in ex.channels_of(p.uid)] == others
    # Completion confirmed at the address the mail gave, in the page's words, with what
    # was kept and until when.
    [_, scheduled, done_mail] = ex.wait_mails(CONFIRM, 3)
    assert scheduled.subject == "Your request to PickrTech is scheduled"
    assert done_mail.subject == "PickrTech: your Instagram-related app data has been deleted"
    text = " ".join(done_mail.text.split())
    assert "no longer required for security, legal, or operational reasons" in text
    assert "Error logs are kept for 90 days" in text
    until = time.strftime("%-d %B %Y", time.gmtime(ts(errors[0][2]) + 90 * DAY))
    assert until in text, text
    assert p.ig not in done_mail.text and p.email not in done_mail.text
    log = ex.server.stderr()
    assert p.ig not in log and CONFIRM not in log and p.email not in log


def test_a_request_the_review_finds_invalid_is_refused_with_its_reason(ex):
    """"After receiving a valid request, PickrTech will review the request": one that is
    not valid is refused, the person told why, and nothing deleted."""
    p = ex.user(7)
    cid = 21
    before = of_channel(ex, cid)
    addr = "seven.confirm@example.org"
    ex.lmtp(ex.mail("seed003-pickrtech-instagram.eml", p, confirm=addr))
    [req] = [r for r in ex.requests(source="email") if r["state"] == "awaiting_review"]
    [link] = ex.wait_mails(addr, 1)
    ex.follow(link)
    reason = "we could not match this username to an account connected to our app"
    status, body = ex.admin("POST", "/v1/admin/requests/%s/refuse" % req["id"],
                            {"reason": reason})
    assert status == 200 and body["state"] == "refused", body
    [_, refused] = ex.wait_mails(addr, 2)
    assert "PickrTech" in refused.subject
    assert reason in " ".join(refused.text.split())
    assert channel(ex, cid) is not None and of_channel(ex, cid) == before


def test_disconnecting_the_app_stops_access_and_the_data_can_still_be_deleted(ex):
    """"You may also disconnect the PickrTech app from your Instagram or Meta account
    through your Instagram or Meta account settings. Disconnecting the app may stop future
    access, but you may still contact us to request deletion of stored app data.\""""
    cid, ig_id = 11, "17841000000304"     # user 3's second Instagram account
    before = of_channel(ex, cid)
    status, _ = ex.callback("instagram", "deauthorize", ig_id)
    assert status == 200
    st, token, account_id, _ = channel(ex, cid)
    assert (st, token, account_id) == ("revoked", None, ig_id)
    assert of_channel(ex, cid) == before, "stored app data stays until a request"
    # ... and a request (here the operator's, for a mail that named the account) still
    # deletes it.
    rc, out, err = ex.cli("requests", "create", "--scope", "meta", "--id",
                          "instagram_user_id=" + ig_id, "--json")
    assert rc == 0, err
    import json
    req = json.loads(out)
    assert req["policy"] == "operator-instagram-deletion"
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] in ("completed", "completed_with_retention"), done
    assert channel(ex, cid) is None
    after = of_channel(ex, cid)
    assert all(after[t] == [] for t in DERIVED)
    assert [r for r in after["logs"] if r[1] != "error"] == []


def test_the_kept_error_logs_are_deleted_when_their_90_days_end(ex):
    """The error logs kept "for security" are not kept for ever: the sweeper deletes each
    when its 90 days from the failed attempt end (the test clock moves on)."""
    held = ex.rows("SELECT id, created_at FROM publishing_logs WHERE channel_id = 13")
    assert held, "the first test kept user 4's error logs"
    end = max(ts(c) for _, c in held) + 90 * DAY
    ex.clock.set(end - 60)
    time.sleep(1.5)
    assert ex.rows("SELECT id, created_at FROM publishing_logs WHERE channel_id = 13") == held
    ex.clock.set(end + 2)
    ex.wait(lambda: ex.count("publishing_logs", "channel_id = 13") == 0,
            "the error logs swept when their hold ended")
