# SPDX-License-Identifier: MIT
"""Never trust the sender (docs/mail-intake.md, "What a mail becomes"), end to end.

A forged From: never gets the verify link to anyone but the registered address; a claimed
account name has its link mailed to the address on file, never to the sender; the sender's
reply tells no code and is the same bytes (but for its Message-ID and Date) whether the
account exists or not, or was exported within export.rate_limit (nothing made); a claimed Instagram username waits for an operator, its notification address
gets only a mail asking to confirm that address, and approving it runs it.
"""
import re
import time

from lethe_e2e import query
from mailin_e2e_helpers import (
    MAILBOX_ADDR,
    corpus,
    link_token_of,
    mailbox_env,  # noqa: F401
    person_values,
    reply_headers_ok,
    seed_block,
    without_code,
)

DEMO_OPTIONS = ["--users", "24", "--seed", "7"]


def stranger(p):
    """An address no demo account has."""
    return "stranger.%d@mail.example.net" % p.uid


def test_forged_from_gets_no_link(mailbox_env):
    """From: the victim's registered address, envelope and Reply-To the attacker's: the one
    mail lethe sends is the verify link, to the victim; the attacker gets nothing."""
    mb = mailbox_env(0)
    victim = mb.person()
    attacker = "mallory.%d@attacker.example" % victim.uid
    raw = corpus("forged-from.eml", **person_values(victim, return_path=attacker))
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1 and reqs[0]["state"] == "awaiting_verification", reqs
    got = mb.wait_mails(victim.email, 1)
    assert link_token_of(got[0]) is not None
    assert mb.mails_to(attacker) == []
    assert all(attacker not in m.raw.decode("utf-8", "replace") for m in mb.sink.messages)
    # The victim ignores it: nothing happens (the request waits, then expires).
    assert mb.request(reqs[0]["id"])["state"] == "awaiting_verification"


def test_account_name_link_goes_to_address_on_file(mailbox_env):
    mb = mailbox_env(2)
    p = mb.person()
    s = stranger(p)
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(p, **{"from": s, "return_path": s, "from_name": "Someone"}))
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1 and reqs[0]["state"] == "awaiting_verification", reqs
    # The link: to the account's address only.
    links = mb.wait_mails(p.email, 1)
    assert link_token_of(links[0]) is not None
    # The sender: one reply, no link, no code (its status page would tell), auto-replied.
    replies = mb.wait_mails(s, 1)
    assert link_token_of(replies[0]) is None, replies[0].text
    reply_headers_ok(replies[0], raw)
    assert without_code(replies[0].text, reqs[0]["id"]) == replies[0].text
    assert without_code(replies[0].html, reqs[0]["id"]) == replies[0].html
    # The link confirms it.
    mb.verify(links[0])
    done = ("completed", "completed_with_retention")  # seed 002's policy: no grace period
    mb.wait(lambda: mb.request(reqs[0]["id"])["state"] in done, "completed")


def _normal(msg, code):
    """What a reply says with its code, links, Message-ID and Date blanked."""
    parts = []
    for text in (msg.text, msg.html):
        text = without_code(text, code)
        text = re.sub(r"https?://\S+", "LINK", text)
        parts.append(text)
    heads = [(k, v) for k, v in msg.email.items()
             if k.lower() not in ("message-id", "date", "in-reply-to", "references",
                                  "content-type")]
    return heads, parts


def test_reply_never_reveals_an_account(mailbox_env):
    """The same sender names an existing account, then one that does not exist: two
    requests, one verify link (to the existing account's address), and two replies that
    say the same."""
    mb = mailbox_env(2)
    p = mb.person()
    s = stranger(p)
    vals = person_values(p, **{"from": s, "return_path": s, "from_name": "Someone"})
    raw1 = corpus("seed002-account-deletion-request.eml", **vals)
    vals["account_name"] = "Nobody Here %d" % p.uid
    raw2 = corpus("seed002-account-deletion-request.eml", **vals)
    before = len(mb.requests())
    for raw in (raw1, raw2):
        code, text = mb.lmtp(raw)
        assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 2 and all(r["state"] == "awaiting_verification" for r in reqs), reqs
    replies = mb.wait_mails(s, 2)
    assert len(mb.wait_mails(p.email, 1)) == 1  # the existing account's link only
    for m in replies:
        reply_headers_ok(m, raw1 if m.header("In-Reply-To") in raw1.decode() else raw2)
        assert not any(r["id"] in m.text or r["id"] in m.html for r in reqs), m.text
    a, b = replies
    assert _normal(a, reqs[0]["id"]) == _normal(b, reqs[1]["id"])


def _bytes_but_date_and_ids(msg):
    """@msg's raw bytes with its Date and Message-ID headers and its (random) multipart
    boundary blanked."""
    raw = msg.raw
    m = re.search(rb'boundary="([^"]+)"', raw)
    assert m, raw[:600]
    raw = raw.replace(m.group(1), b"BOUNDARY")
    return re.sub(rb"(?im)^(Date|Message-ID):[^\r\n]*(\r?\n[ \t][^\r\n]*)*", rb"\1: X", raw)


EXPORT_RULE = {"name": "account-export", "subjects": ["Account Export Request"],
               "kind": "export", "scope": "account", "identities": ["account_name"]}


def test_export_too_soon_gets_the_same_reply(mailbox_env):
    """A claimed account whose export ran within export.rate_limit makes nothing, and its
    sender gets the very reply (byte for byte but Date, Message-ID and the MIME boundary)
    that a name no account has gets, and a repeat of that: no silence that tells."""
    rules = [EXPORT_RULE] + seed_block(2)["mailbox"]["rules"]
    mb = mailbox_env(2, rules=rules, replies={"per_address": 10, "total": 200, "window": "1h"})
    p = mb.person()
    s = stranger(p)
    nobody = "Nobody Here %d" % p.uid

    def mail(name, nonce, date="Mon, 07 Dec 2026 05:00:00 +0000"):
        vals = person_values(p, **{"from": s, "return_path": s, "from_name": "Someone",
                                   "account_name": name, "nonce": nonce, "date": date})
        raw = corpus("seed002-account-deletion-request.eml", **vals)
        return raw.replace(b"Subject: Account Deletion Request",
                           b"Subject: Account Export Request")

    # The account's export, confirmed at its address on file and run.
    before = len(mb.requests())
    code, text = mb.lmtp(mail(p.name, "first%d" % p.uid))
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1 and reqs[0]["kind"] == "export", reqs
    mb.verify(mb.wait_mails(p.email, 1)[0])
    mb.wait(lambda: mb.request(reqs[0]["id"])["state"] == "completed", "export completed",
            timeout=60)
    mb.wait_mails(s, 1)
    owner = len(mb.wait_mails(p.email, 3))  # the link, scheduled, completed (with its link)
    # Asked again at once (nothing made), then for a name no account has, then that again
    # (a repeat of its open request): three mails with the same Message-ID.
    nonce = "again%d" % p.uid
    for n, raw in enumerate((mail(p.name, nonce), mail(nobody, nonce),
                             mail(nobody, nonce, "Mon, 07 Dec 2026 05:01:00 +0000"))):
        code, text = mb.lmtp(raw)
        assert code == 250, text
        got = mb.wait_mails(s, 2 + n)
    made = mb.requests()[before:]
    assert len(made) == 2 and made[1]["state"] == "awaiting_verification", made
    rows = mb.rows()[-3:]
    assert [(r[2], r[4] or None, r[5]) for r in rows] == [("request", None, 1),
                                                 ("request", made[1]["number"], 1),
                                                 ("request", made[1]["number"], 1)], rows
    replies = got[1:]
    for m in replies:
        reply_headers_ok(m, raw)
        assert not any(r["id"] in m.text or r["id"] in m.html for r in made), m.text
    assert len({_bytes_but_date_and_ids(m) for m in replies}) == 1, \
        [m.raw.decode() for m in replies]
    assert len(mb.mails_to(p.email)) == owner  # the account's address: nothing more


def test_instagram_username_goes_to_review(mailbox_env):
    """A claimed Instagram username: awaiting_review; the notification address (the
    sender's) gets only a mail asking to confirm it, the account's address nothing; the
    operator's approval runs the erasure of that Instagram connection."""
    mb = mailbox_env(2)
    p = mb.person()
    s = stranger(p)
    raw = corpus("seed002-meta-instagram.eml",
                 **person_values(p, **{"from": s, "return_path": s, "from_name": "Someone"}))
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1, reqs
    req = reqs[0]
    assert (req["state"], req["scope"]) == ("awaiting_review", "meta"), req
    review = mb.requests(state="awaiting_review")
    assert [r["id"] for r in review if r["id"] == req["id"]] == [req["id"]]
    got = mb.wait_mails(s, 2)
    replies = [m for m in got if m.header("In-Reply-To")]
    confirms = [m for m in got if not m.header("In-Reply-To")]
    assert len(replies) == 1 and len(confirms) == 1, [m.subject for m in got]
    reply_headers_ok(replies[0], raw)
    assert link_token_of(replies[0]) is None
    assert link_token_of(confirms[0]) is not None
    assert mb.mails_to(p.email) == []
    # The queue shows the claim to the operator.
    rows = [r for r in mb.mailbox_list() if r["request"] == req["id"]]
    assert len(rows) == 1 and rows[0]["outcome"] == "review", rows
    shown = mb.mailbox_show(rows[0]["id"])
    assert {(c["identity"], c["value"]) for c in shown["claims"]} >= \
        {("instagram_username", p.ig)}, shown["claims"]
    # Approval is the verification: the Instagram connection is erased.
    n_before = query(mb.demo.db, "SELECT count(*) FROM channels WHERE username = ?",
                     (p.ig,))[0][0]
    assert n_before >= 1
    rc, out, err = mb.cli("requests", "approve", req["id"])
    assert rc == 0, err
    mb.wait(lambda: mb.request(req["id"])["state"] in ("completed",
                                                       "completed_with_retention"),
            "approved request completed")
    assert query(mb.demo.db, "SELECT count(*) FROM channels WHERE username = ?",
                 (p.ig,))[0][0] == 0
    assert mb.mails_to(MAILBOX_ADDR) == []


def test_maildir_reply_goes_to_return_path_else_from(mailbox_env):
    """From a Maildir the reply goes to the Return-Path the MDA wrote, not to From:; with
    no Return-Path at all, to the From: address.  The verify link still goes to the
    address on file."""
    mb = mailbox_env(2)
    p = mb.person()
    s = stranger(p)
    bounce_to = "bounces+%d@mail.example.net" % p.uid
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(p, **{"from": s, "return_path": bounce_to}))
    mb.maildir(raw)
    replies = mb.wait_mails(bounce_to, 1)
    reply_headers_ok(replies[0], raw)
    assert mb.mails_to(s) == []
    assert len(mb.wait_mails(p.email, 1)) == 1  # the link, to the address on file

    q = mb.person()
    s2 = stranger(q)
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(q, **{"from": s2, "return_path": "unused"}))
    raw = raw.split(b"\r\n", 1)[1]  # no Return-Path line at all
    mb.maildir(raw)
    replies = mb.wait_mails(s2, 1)
    reply_headers_ok(replies[0], raw)
    assert len(mb.wait_mails(q.email, 1)) == 1


def test_no_reply_to_robots_addresses(mailbox_env):
    """A mail that fits nothing from noreply@, a *-request address, postmaster@, the
    mailbox's own address or lethe's mail.from is recorded (unmatched) and answered by
    nothing."""
    mb = mailbox_env(0)
    p = mb.person()
    before = len(mb.mailbox_list())
    n = len(mb.sink.messages)
    senders = ["noreply@shop.example", "no-reply@shop.example", "news-request@lists.example",
               "postmaster@mail.example.net", MAILBOX_ADDR, "privacy@demo-social.example",
               "owner-news@lists.example"]
    for addr in senders:
        raw = corpus("unmatched-password.eml",
                     **person_values(p, **{"from": addr, "return_path": addr}))
        code, text = mb.lmtp(raw)
        assert code == 250, text
    rows = mb.mailbox_list()[before:]
    assert len(rows) == len(senders), rows
    assert all(r["replied"] is False for r in rows), rows
    assert all(r["outcome"] in ("unmatched", "robot") for r in rows), rows
    time.sleep(1.5)
    assert len(mb.sink.messages) == n, [m.rcpt for m in mb.sink.messages[n:]]
