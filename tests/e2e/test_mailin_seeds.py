# SPDX-License-Identifier: MIT
"""The seed pages' own wordings, mailed to lethe (docs/mail-intake.md), end to end.

Each mail of tests/e2e/mail_corpus/seed*.eml goes to a real `lethe serve` whose `mailbox:`
section is the seed's block of docs/mail-intake.md ("What each seed's mailbox needs",
loaded verbatim; the test adds the address, the LMTP port and the Maildir), once through
LMTP (Python's smtplib.LMTP) and once through the Maildir.  The request it makes (kind,
scope, source, state), the operator's view of the mail (`lethe mailbox list`), the mails
lethe sends (to whom, which, with which headers) are asserted exactly, and following the
mailed link (or approving, for a claim only an operator can check) moves the request on.
"""
import calendar
import sqlite3
import time

import pytest

from lethe_e2e import query
from mailin_e2e_helpers import (
    MAILBOX_ADDR,
    corpus,
    decide,
    link_token_of,
    mailbox_env,  # noqa: F401
    person_values,
    policy_for,
    reply_headers_ok,
    seconds,
)

DEMO_OPTIONS = ["--users", "40", "--seed", "7"]

# (corpus file, seed, subject as written, identity kinds the mail names, kind, the policy
# of the seed's policies block in docs/mail-intake.md the request follows: only seed 004's
# erasure waits in a grace period (30 days) once verified, the others run at once)
CASES = [
    ("seed000-account-deletion.eml", 0, "Account deletion", set(), "erasure",
     "email-account-deletion"),
    ("seed001-instagram-deletion.eml", 1, "Instagram data deletion",
     {"instagram_user_id"}, "erasure", "email-instagram-deletion"),
    ("seed002-account-deletion-request.eml", 2, "Account Deletion Request",
     {"account_name"}, "erasure", "email-account-deletion"),
    ("seed002-meta-instagram.eml", 2, "Meta Data Deletion Request",
     {"instagram_username"}, "erasure", "email-meta-deletion"),
    ("seed002-meta-facebook-page.eml", 2, "Meta Data Deletion Request",
     {"facebook_page"}, "erasure", "email-meta-deletion"),
    ("seed003-pickrtech-instagram.eml", 3, "Deletion of my Instagram data",
     {"instagram_username"}, "erasure", "email-instagram-deletion"),
    ("seed004-data-deletion.eml", 4, "Data Deletion Request", set(), "erasure",
     "email-data-deletion"),
    ("seed004-export.eml", 4, "Data Export Request", set(), "export", "email-data-export"),
]


def ids(case):
    return case[0].replace(".eml", "")


def has_invoices(mb, p):
    """Whether demo user @p has invoices: an account erasure keeps them (tax records, the
    data map's retain), so it ends completed_with_retention."""
    con = sqlite3.connect(str(mb.demo.db))
    try:
        return con.execute("SELECT count(*) FROM invoices WHERE user_id = ?",
                           (p.uid,)).fetchone()[0] > 0
    finally:
        con.close()


def states_after_ok(path, pols, policy, final="completed"):
    """The whole history of a request made by mail that follows @policy (a name of the
    seed's policies block, @pols) once its link is followed (or an operator approved it):
    it waited for its link (for an operator, on a claim proved by review), is accepted
    (scheduled), and then waits in the policy's grace period or, with none, runs at once
    and ends @final."""
    pol = [p for p in pols if p["name"] == policy]
    assert len(pol) == 1, (policy, pols)
    first = "awaiting_review" if path == "review" else "awaiting_verification"
    states = ["received", first, "scheduled"]
    if str(pol[0].get("grace", "0")) in ("0", "0s", "off"):
        states += ["running", final]
    return states


def history(mb, code):
    return [e["state"] for e in mb.request(code)["events"]]


@pytest.mark.parametrize("via", ["lmtp", "maildir"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_seed_wording(mailbox_env, case, via):
    name, seed, subject, kinds, kind, policy = case
    mb = mailbox_env(seed)
    p = mb.person()
    confirm = "confirm.%d@mail.example.net" % p.uid  # seed 003: where to confirm
    raw = corpus(name, **person_values(p, confirm=confirm))
    text = raw.decode("utf-8", "replace")
    rule, ident, path = decide(mb.block, subject, kinds, text)
    assert rule["kind"] == kind, rule
    before = len(mb.requests())
    rows_before = len(mb.mailbox_list())

    mb.deliver(via, raw)

    # The request: one, from email, the rule's kind and scope, waiting for its link or
    # for an operator.
    reqs = mb.requests()
    assert len(reqs) == before + 1, reqs
    req = reqs[-1]
    assert (req["kind"], req["scope"], req["source"]) == (rule["kind"], rule["scope"], "email")
    assert req["policy"] == policy, req
    want_state = "awaiting_review" if path == "review" else "awaiting_verification"
    assert req["state"] == want_state, (req, path)

    # The operator's view: one row, no personal data, naming the rule and the request.
    rows = mb.mailbox_list()
    assert len(rows) == rows_before + 1, rows
    row = rows[-1]
    assert row["via"] == via
    assert row["outcome"] == ("review" if path == "review" else "request")
    assert row["rule"] == rule["name"]
    assert row["request"] == req["id"]
    assert row["state"] == "open"
    assert row["raw_kept"] is True
    assert row["replied"] is (path != "sender")
    for v in (p.email, p.name, p.ig, p.fb, confirm):
        assert v not in str(row), row

    assert history(mb, req["id"]) == ["received", want_state], mb.request(req["id"])

    # The mails.  Once verified (or approved), a request whose policy has a grace period
    # (seed 004's erasure) waits in it, the others run at once.
    final = "completed_with_retention" if kind == "erasure" and req["scope"] == "account" \
        and has_invoices(mb, p) else "completed"
    want = states_after_ok(path, mb.policies, policy, final)
    if path == "sender":
        # The verify mail is the answer: one mail, to the sender, with the link.
        got = mb.wait_mails(p.email, 1)
        assert link_token_of(got[0]) is not None, got[0].text
        assert got[0].header("In-Reply-To") is None
        assert got[0].header("Auto-Submitted") == "auto-generated"  # a notice, not a reply
        mb.verify(got[0])
        mb.wait(lambda: history(mb, req["id"]) == want, "request %s goes %s after its link"
                % (req["id"], " -> ".join(want)))
    elif path == "on_file":
        # The link to the address on file (the sender here), and the same reply to the
        # sender as for an account that does not exist.
        got = mb.wait_mails(p.email, 2)
        links = [m for m in got if link_token_of(m)]
        replies = [m for m in got if m.header("In-Reply-To")]
        assert len(links) == 1 and len(replies) == 1 and links[0] is not replies[0], \
            [(m.subject, m.header("In-Reply-To")) for m in got]
        reply_headers_ok(replies[0], raw)
        assert replies[0].subject == "Re: " + subject
        assert req["id"] not in replies[0].text  # no code: its status page would tell
        mb.verify(links[0])
        mb.wait(lambda: history(mb, req["id"]) == want, "request %s goes %s after its link"
                % (req["id"], " -> ".join(want)))
    else:
        # Review: the sender gets reply_review; the notification address (the body's for
        # seed 003, else the From: address) only a mail asking to confirm it; the account's
        # address nothing.
        notify = confirm if rule.get("notify_from_body") else p.email
        if notify == p.email:
            got = mb.wait_mails(p.email, 2)
            replies = [m for m in got if m.header("In-Reply-To")]
            confirms = [m for m in got if not m.header("In-Reply-To")]
        else:
            replies = mb.wait_mails(p.email, 1)
            confirms = mb.wait_mails(notify, 1)
        assert len(replies) == 1 and len(confirms) == 1
        reply_headers_ok(replies[0], raw)
        assert replies[0].subject == "Re: " + subject
        assert link_token_of(replies[0]) is None, replies[0].text
        assert link_token_of(confirms[0]) is not None, confirms[0].text
        rc, out, err = mb.cli("requests", "approve", req["id"])
        assert rc == 0, err
        mb.wait(lambda: history(mb, req["id"]) == want, "request %s goes %s after approval"
                % (req["id"], " -> ".join(want)))
    if want[-1] == "scheduled":
        # It waits there for its grace period: 30 days on the test clock.
        req = mb.request(req["id"])
        assert req["grace_until"] is not None, req
    # Where lethe replies, it is to the envelope sender: nothing went to the mailbox itself.
    assert not mb.mails_to(MAILBOX_ADDR)


def test_seed002_prose_is_no_claim(mailbox_env):
    """The owner writes from the registered address and says "My account is registered to
    this address." instead of an "Account name:" line: prose, not an account named
    "registered to this address" (docs/mail-intake.md: a one-word label takes no "is").
    The sender path: the verify link to the From: address, no reply, no claim."""
    mb = mailbox_env(2)
    p = mb.person()
    raw = corpus("seed002-account-deletion-request.eml", **person_values(p))
    line = b"Account name: " + p.name.encode()
    assert line in raw
    raw = raw.replace(line, b"My account is registered to this address.")
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1 and reqs[0]["state"] == "awaiting_verification", reqs
    row = [r for r in mb.mailbox_list() if r["request"] == reqs[0]["id"]][-1]
    assert (row["outcome"], row["rule"], row["replied"]) == ("request", "account-deletion",
                                                           False), row
    assert not mb.mailbox_show(row["id"]).get("claims"), "a claim was read from prose"
    # The one mail is the verify link, to the owner; following it moves the request on.
    got = mb.wait_mails(p.email, 1)
    assert link_token_of(got[0]) is not None, got[0].text
    assert got[0].header("In-Reply-To") is None
    mb.verify(got[0])
    mb.wait(lambda: mb.request(reqs[0]["id"])["state"] not in ("awaiting_verification",
                                                              "expired"),
            "request %s verified by its link" % reqs[0]["id"])


def _epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_seed_policy_times(mailbox_env, case):
    """What each seed's page promises about time, as its policies block of
    docs/mail-intake.md says it (loaded verbatim): the request follows that block's policy,
    is due `deadline` after it was received (000, 002, 003: 30 days; 004: the erasure 31
    days, the export 48 hours), and once confirmed waits its grace period (004's erasure:
    30 days, its close-account effect applied at once) or runs at once."""
    name, seed, subject, kinds, kind, policy = case
    mb = mailbox_env(seed)
    p = mb.person()
    confirm = "confirm.%d@mail.example.net" % p.uid
    raw = corpus(name, **person_values(p, confirm=confirm))
    rule, ident, path = decide(mb.block, subject, kinds, raw.decode("utf-8", "replace"))
    pol = policy_for(mb.policies, rule["kind"], rule["scope"])
    assert pol["name"] == policy, (pol, policy)
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reqs = mb.requests()[before:]
    assert len(reqs) == 1, reqs
    req = mb.request(reqs[0]["id"])
    assert req["policy"] == pol["name"], (req, pol)
    received = _epoch(req["received_at"])
    assert received == mb.clock.now, req
    assert _epoch(req["due_at"]) - received == seconds(pol["deadline"]), (req, pol)

    # Confirmed: by the link (the sender's address, or the address on file: the owner's
    # here) or by the operator's approval.
    if path == "review":
        rc, out, err = mb.cli("requests", "approve", req["id"])
        assert rc == 0, err
    else:
        got = mb.wait_mails(p.email, 1 if path == "sender" else 2)
        links = [m for m in got if link_token_of(m)]
        assert len(links) == 1, [m.subject for m in got]
        mb.verify(links[0])
    if pol.get("grace"):
        mb.wait(lambda: mb.request(req["id"])["state"] == "scheduled",
                "request %s scheduled" % req["id"])
        got = mb.request(req["id"])
        assert _epoch(got["grace_until"]) - mb.clock.now == seconds(pol["grace"]), got
        assert _epoch(got["due_at"]) >= _epoch(got["grace_until"]), got
        if "close-account" in (pol.get("effects") or []):
            status = query(mb.demo.db, "SELECT status FROM users WHERE email = ?", (p.email,))
            assert status == [("closing",)], status
    else:
        done = ("completed", "completed_with_retention")
        mb.wait(lambda: mb.request(req["id"])["state"] in done,
                "request %s completed" % req["id"])
        assert mb.request(req["id"])["grace_until"] is None
