# SPDX-License-Identifier: MIT
"""The raw message is kept only while its request needs it, sealed, and never reaches a
log (docs/mail-intake.md, "What is kept, and for how long"), end to end.

A unique marker in a mail's body is never in the clear in state.db, its -wal, lethe's
stderr, the API's mailbox listing or `lethe mailbox list`; `lethe mailbox show` (the
operator's terminal) shows it while the request is open; once the request ends
(cancelled, or expired on the test clock) the raw message and the reply's headers are
wiped and `lethe mailbox show` says so; no address of the mail is in the log.
"""
import json
import secrets

from mailin_e2e_helpers import (
    MAILBOX_ADDR,
    corpus,
    mailbox_env,  # noqa: F401
    person_values,
)
from request_helpers import DAY

DEMO_OPTIONS = ["--users", "16", "--seed", "7"]


def store_bytes(mb):
    data = b""
    for suffix in ("", "-wal", "-journal"):
        p = mb.demo.state_db.parent / (mb.demo.state_db.name + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def deliver_marked(mb, via="lmtp"):
    p = mb.person()
    marker = "zqx" + secrets.token_hex(12)
    raw = corpus("privacy-marker.eml", **person_values(p, marker=marker))
    before = len(mb.requests())
    mb.deliver(via, raw)
    reqs = mb.requests()[before:]
    assert len(reqs) == 1, reqs
    row = [r for r in mb.mailbox_list() if r["request"] == reqs[0]["id"]]
    assert len(row) == 1, row
    return p, marker, reqs[0], row[0]


def assert_clean(mb, *secrets_):
    data = store_bytes(mb)
    log = mb.server.stderr()
    api = json.dumps(mb.api_mailbox())
    listed = json.dumps(mb.mailbox_list())
    for s in secrets_:
        assert s.encode() not in data, "%r in the clear in the state store" % s
        assert s not in log, "%r in lethe's log:\n%s" % (s, log)
        assert s not in api, "%r in GET /v1/mailbox" % s
        assert s not in listed, "%r in lethe mailbox list" % s


def test_marker_kept_sealed_then_wiped_on_cancel(mailbox_env):
    mb = mailbox_env(0)
    p, marker, req, row = deliver_marked(mb, "lmtp")
    mb.wait_mails(p.email, 1)
    shown = mb.mailbox_show(row["id"])
    assert shown["raw_kept"] is True
    assert marker in shown["text"]
    assert shown["from"].endswith(p.email) or p.email in shown["from"]
    assert_clean(mb, marker, p.email)

    rc, out, err = mb.cli("requests", "cancel", req["id"], "--reason", "test")
    assert rc == 0, err
    assert mb.request(req["id"])["state"] == "cancelled"
    shown = mb.mailbox_show(row["id"])
    assert shown["raw_kept"] is False
    for k in ("from", "to", "subject", "text", "claims"):
        assert k not in shown, shown
    assert marker not in json.dumps(shown)
    db = [r for r in mb.rows() if r[0] == row["id"]]
    assert db[0][6] == "closed" and db[0][7] == 0, db
    assert mb.demo.state("SELECT reply_box IS NULL FROM mail_in WHERE id = ?",
                         (row["id"],))[0][0] == 1
    assert_clean(mb, marker, p.email, MAILBOX_ADDR)


def test_marker_wiped_when_verification_expires(mailbox_env):
    mb = mailbox_env(0)
    p, marker, req, row = deliver_marked(mb, "maildir")
    assert mb.mailbox_show(row["id"])["raw_kept"] is True
    mb.clock.advance(8 * DAY)  # verify_ttl is 7d
    mb.wait(lambda: mb.request(req["id"])["state"] == "expired", "request expired",
            timeout=30)
    shown = mb.mailbox_show(row["id"])
    assert shown["raw_kept"] is False
    assert marker not in json.dumps(shown)
    assert_clean(mb, marker, p.email)


def test_unmatched_kept_until_closed(mailbox_env):
    """A mail that fits nothing waits in the operator's queue with its raw message sealed;
    `lethe mailbox close N` wipes it."""
    mb = mailbox_env(0)
    p = mb.person()
    marker = "zqx" + secrets.token_hex(12)
    raw = corpus("unmatched-password.eml", **person_values(p))
    raw = raw.replace(b"password?", b"password? " + marker.encode())
    mb.lmtp(raw)
    row = mb.mailbox_list(state="open", outcome="unmatched")[-1]
    assert (row["raw_kept"], row["request"]) == (True, None), row
    shown = mb.mailbox_show(row["id"])
    assert marker in shown["text"]
    assert_clean(mb, marker, p.email)
    rc, out, err = mb.cli("mailbox", "close", str(row["id"]), "--reason", "answered by hand")
    assert rc == 0, err
    shown = mb.mailbox_show(row["id"])
    assert (shown["state"], shown["raw_kept"]) == ("closed", False), shown
    assert marker not in json.dumps(shown)
    assert [r for r in mb.mailbox_list(state="open") if r["id"] == row["id"]] == []
    assert mb.demo.state("SELECT raw_box IS NULL AND reply_box IS NULL FROM mail_in "
                         "WHERE id = ?", (row["id"],))[0][0] == 1
    assert_clean(mb, marker, p.email)


def reply_boxes(mb, row_id):
    """(state, raw_box kept, reply_box kept) of mail_in row @row_id."""
    return tuple(mb.demo.state("SELECT state, raw_box IS NOT NULL, reply_box IS NOT NULL "
                               "FROM mail_in WHERE id = ?", (row_id,))[0])


def test_reply_headers_go_once_the_reply_is_sent(mailbox_env):
    """The reply's headers (the sender's subject and Message-ID, sealed) are wiped in the
    transaction that marks the reply sent: a status question's closed row keeps nothing,
    an unmatched mail's open row keeps its raw message only (the operator's queue), a
    claim's row while its request is still open keeps nothing of the reply."""
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus("status-code.eml", **person_values(p, code="2x3s" + "a" * 30))
    code, text = mb.lmtp(raw)
    assert code == 250, text
    mb.wait_mails(p.email, 1)
    row = mb.mailbox_list(outcome="status")[-1]
    mb.wait(lambda: reply_boxes(mb, row["id"]) == ("closed", 0, 0), "status row wiped")

    p2 = mb.person()
    mb.lmtp(corpus("unmatched-password.eml", **person_values(p2)))
    mb.wait_mails(p2.email, 1)
    row = mb.mailbox_list(state="open", outcome="unmatched")[-1]
    mb.wait(lambda: reply_boxes(mb, row["id"]) == ("open", 1, 0), "unmatched row's reply box")

    mb2 = mailbox_env(2)
    p3 = mb2.person()
    s = "stranger.%d@mail.example.net" % p3.uid
    raw = corpus("seed002-account-deletion-request.eml",
                 **person_values(p3, **{"from": s, "return_path": s}))
    code, text = mb2.lmtp(raw)
    assert code == 250, text
    mb2.wait_mails(s, 1)
    row = [r for r in mb2.mailbox_list(outcome="request") if r["request"]][-1]
    assert mb2.request(row["request"])["state"] == "awaiting_verification"
    mb2.wait(lambda: reply_boxes(mb2, row["id"]) == ("open", 1, 0), "claim row's reply box")
