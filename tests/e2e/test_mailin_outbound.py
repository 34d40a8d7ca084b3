# SPDX-License-Identifier: MIT
"""What a delivered mail may make lethe mail (docs/mail-intake.md, "Replies"), end to end.

Every mail a delivery causes counts against mailbox.replies: ten mails forged From: one
address are all recorded, but its owner gets the verify link once and the news again at
most once per window (at most `per_address` mails in all); a claim's link to the address
on file likewise. The reply to a claim reaches the sender before the link it caused goes
to the address on file, so its order of arrival is the same whether or not the account
exists.
"""
import time

from mailin_e2e_helpers import (
    corpus,
    mailbox_env,  # noqa: F401
    person_values,
)

DEMO_OPTIONS = ["--users", "24", "--seed", "7"]
FORGED = 10


def stranger(p, i=0):
    return "stranger%d.%d@mail.example.net" % (i, p.uid)


def test_forged_from_mail_bomb(mailbox_env):
    mb = mailbox_env(0)
    per = mb.mb["replies"]["per_address"] if "replies" in mb.mb else 3
    victim = mb.person()
    before = len(mb.rows())
    for i in range(FORGED):
        raw = corpus("forged-from.eml",
                     **person_values(victim, return_path="m%d.%d@attacker.example"
                                     % (i, victim.uid)))
        code, text = mb.lmtp(raw)
        assert code == 250, text
    rows = mb.rows()[before:]
    assert len(rows) == FORGED and all(r[2] == "request" for r in rows), rows
    # The link once, the news again once per window: two mails, at most per_address.
    got = mb.wait_mails(victim.email, 2)
    time.sleep(1.5)
    assert len(mb.mails_to(victim.email)) == 2 <= per
    for i in range(FORGED):
        assert not mb.mails_to("m%d.%d@attacker.example" % (i, victim.uid))
    assert all("/privacy/l/" in m.text for m in got)


def test_forged_from_per_address_one(mailbox_env):
    """per_address 1: the news again is not mailed either (the mail is skipped)."""
    mb = mailbox_env(0, replies={"per_address": 1, "total": 200, "window": "1h"})
    victim = mb.person()
    for i in range(FORGED):
        raw = corpus("forged-from.eml",
                     **person_values(victim, return_path="x%d.%d@attacker.example"
                                     % (i, victim.uid)))
        code, text = mb.lmtp(raw)
        assert code == 250, text
    mb.wait_mails(victim.email, 1)
    time.sleep(1.5)
    assert len(mb.mails_to(victim.email)) == 1
    skipped = mb.demo.state("SELECT count(*) FROM mail WHERE state = 'skipped' AND "
                            "last_error = 'over mailbox.replies'")
    assert skipped[0][0] == 1, skipped


def test_claims_mail_the_address_on_file_within_limits(mailbox_env):
    """Strangers naming one account, again and again: each gets its reply, the address on
    file gets the link once and the news again once."""
    mb = mailbox_env(2)
    p = mb.person()
    for i in range(6):
        s = stranger(p, i)
        raw = corpus("seed002-account-deletion-request.eml",
                     **person_values(p, **{"from": s, "return_path": s}))
        code, text = mb.lmtp(raw)
        assert code == 250, text
    for i in range(6):
        mb.wait_mails(stranger(p, i), 1)
    mb.wait_mails(p.email, 2)
    time.sleep(1.5)
    assert len(mb.mails_to(p.email)) == 2


def _first_of_delivery(mb, start, sender, others):
    """The recipients of the mails that arrived since @start, in order, once the sender's
    reply and @others arrived."""
    mb.wait_mails(sender, 1)
    for o in others:
        mb.wait_mails(o, 1)
    time.sleep(1.0)
    return [m.rcpt[0].lower() for m in mb.sink.messages[start:]]


def test_reply_arrives_first_whatever_exists(mailbox_env):
    """A claim naming an existing account: the reply to the sender arrives before the link to
    the address on file; naming no account: the reply alone (the mailer sends one mail at a
    time, in the order it claims them)."""
    mb = mailbox_env(2)
    p = mb.person()
    s = stranger(p, 7)
    start = len(mb.sink.messages)
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(p, **{"from": s, "return_path": s}))
    code, text = mb.lmtp(raw)
    assert code == 250, text
    order = _first_of_delivery(mb, start, s, [p.email])
    assert order == [s, p.email.lower()], order

    s2 = stranger(p, 8)
    start = len(mb.sink.messages)
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(p, **{"from": s2, "return_path": s2,
                                       "account_name": "Nobody Here %d" % p.uid}))
    code, text = mb.lmtp(raw)
    assert code == 250, text
    order = _first_of_delivery(mb, start, s2, [])
    assert order == [s2], order
