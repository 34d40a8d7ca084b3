# SPDX-License-Identifier: MIT
"""Robots are never answered, so two robots cannot loop (RFC 3834; docs/mail-intake.md,
"Replies, robots and loops"), end to end.

An auto-reply (Auto-Submitted), an Exchange autoreply (X-Auto-Response-Suppress only), a
bounce (MAILER-DAEMON, null sender, multipart/report) and list mail (List-Id, Precedence)
are recorded as robot: no request, no reply, nothing kept.  lethe's own reply fed back to
it is a robot too.  Replies carry Auto-Submitted: auto-replied, and are rate-limited per
address.
"""
import time
from urllib.parse import urlencode

import pytest

from mailin_e2e_helpers import (
    CSRF_RE,
    FORM,
    MAILBOX_ADDR,
    PUBLIC,
    SAME,
    corpus,
    envelope,
    mailbox_env,  # noqa: F401
    person_values,
    reply_headers_ok,
)

DEMO_OPTIONS = ["--users", "24", "--seed", "7"]

ROBOTS = ["autoreply-ooo.eml", "autoreply-exchange.eml", "bounce-dsn.eml", "list-mail.eml"]


@pytest.mark.parametrize("via", ["lmtp", "maildir"])
@pytest.mark.parametrize("name", ROBOTS)
def test_robot_never_answered(mailbox_env, name, via):
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus(name, **person_values(p))
    env_from, _ = envelope(raw)
    before_req = len(mb.requests())
    before_rows = len(mb.mailbox_list())
    before_mail = len(mb.sink.messages)
    mb.deliver(via, raw)
    rows = mb.mailbox_list()
    assert len(rows) == before_rows + 1, rows
    row = rows[-1]
    assert (row["via"], row["outcome"], row["request"], row["replied"]) == \
        (via, "robot", None, False), row
    assert row["raw_kept"] is False
    assert row["reason"], row
    assert p.email not in str(row)
    assert len(mb.requests()) == before_req
    time.sleep(1.5)  # a reply would be sent within the mailer's first pass
    assert len(mb.sink.messages) == before_mail, \
        [(m.rcpt, m.subject) for m in mb.sink.messages[before_mail:]]
    assert mb.mails_to(p.email) == []
    if env_from:
        assert mb.mails_to(env_from) == []
    db_row = [r for r in mb.rows() if r[0] == row["id"]]
    assert db_row and db_row[0][7] == 0, db_row  # raw_box NULL


def test_own_reply_fed_back_is_a_robot(mailbox_env):
    """A mail that fits nothing gets reply_unmatched (auto-replied); that reply, bounced
    back into the mailbox as a forwarding robot would, is recorded as robot and answered
    by nothing: no loop."""
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus("unmatched-password.eml", **person_values(p))
    code, text = mb.lmtp(raw)
    assert code == 250, text
    reply = mb.wait_mails(p.email, 1)[0]
    reply_headers_ok(reply, raw)
    assert reply.subject == "Re: question"
    assert PUBLIC + "/privacy" in reply.text, reply.text  # the self-service page
    rows = mb.mailbox_list()
    assert (rows[-1]["outcome"], rows[-1]["replied"], rows[-1]["state"]) == \
        ("unmatched", True, "open"), rows[-1]
    n = len(mb.sink.messages)
    before_rows = len(rows)
    # The reply comes back (its own envelope sender: lethe's mail.from).
    back = reply.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    code, text = mb.lmtp(back, mail_from=reply.mail_from, rcpt=MAILBOX_ADDR)
    assert code == 250, text
    rows = mb.mailbox_list()
    assert len(rows) == before_rows + 1
    assert (rows[-1]["outcome"], rows[-1]["replied"]) == ("robot", False), rows[-1]
    time.sleep(1.5)
    assert len(mb.sink.messages) == n


def test_replies_rate_limited_per_address(mailbox_env):
    """mailbox.replies.per_address = 2: of four unmatched mails from one address within the
    window, two are answered; all four are recorded and wait in the operator's queue."""
    mb = mailbox_env(0, replies={"per_address": 2, "total": 200, "window": "1h"})
    p = mb.person()
    before_rows = len(mb.mailbox_list())
    for _ in range(4):
        code, text = mb.lmtp(corpus("unmatched-password.eml", **person_values(p)))
        assert code == 250, text
    rows = mb.mailbox_list()[before_rows:]
    assert [r["outcome"] for r in rows] == ["unmatched"] * 4, rows
    assert [r["replied"] for r in rows] == [True, True, False, False], rows
    got = mb.wait_mails(p.email, 2)
    assert all(m.header("Auto-Submitted") == "auto-replied" for m in got)
    assert len(mb.requests()) == 0
    queue = mb.mailbox_list(state="open", outcome="unmatched")
    assert [r["id"] for r in queue][-4:] == [r["id"] for r in rows]


def test_reply_window_outlives_a_shorter_page_window(mailbox_env):
    """mailbox.replies: one reply per address an hour; selfservice.limits.window one
    minute.  A self-service ask two minutes after a reply forgets the windows that ended,
    never the reply's: a second mail from the address within the hour is not answered."""
    mb = mailbox_env(0, selfservice=False,
                     replies={"per_address": 1, "total": 200, "window": "1h"})
    mb.server.kill()
    mb.demo.config.write_text(
        mb.demo.config.read_text() +
        "selfservice: {path: /privacy, limits: {window: 1m}, offers: [{id: close-account, "
        "kind: erasure, scope: account, label: \"Close my account\"}]}\n")
    mb.start()
    p = mb.person()
    before_rows = len(mb.mailbox_list())
    code, text = mb.lmtp(corpus("unmatched-password.eml", **person_values(p)))
    assert code == 250, text
    mb.wait_mails(p.email, 1)
    mb.clock.advance(120)
    status, _, page = mb.server.request("GET", "/privacy")
    assert status == 200, page
    csrf = CSRF_RE.search(page.decode()).group(1)
    body = urlencode({"csrf": csrf, "offer": "close-account",
                      "email": "someone.else@example.org"}).encode()
    h = {"Content-Type": FORM}
    h.update(SAME)
    status, _, page = mb.server.request("POST", "/privacy", body=body, headers=h)
    assert status == 200, page
    code, text = mb.lmtp(corpus("unmatched-password.eml", **person_values(p)))
    assert code == 250, text
    rows = mb.mailbox_list()[before_rows:]
    assert [r["replied"] for r in rows] == [True, False], rows
    assert len(mb.wait_mails(p.email, 1)) == 1


def test_reply_windows_purged_with_the_page_off(mailbox_env):
    """No self-service page: the replies' windows that ended are deleted all the same (at
    most once a minute, as mails come), the others kept."""
    mb = mailbox_env(0, selfservice=False,
                     replies={"per_address": 3, "total": 200, "window": "10m"})
    mb.server.kill()
    mb.demo.config.write_text(mb.demo.config.read_text() + "selfservice: {enabled: false}\n")
    mb.start()
    p, q = mb.person(), mb.person()
    code, text = mb.lmtp(corpus("unmatched-password.eml", **person_values(p)))
    assert code == 250, text
    assert mb.demo.state("SELECT count(*) FROM rate_hits")[0][0] == 2  # reply:, reply-total:
    mb.clock.advance(11 * 60)
    code, text = mb.lmtp(corpus("unmatched-password.eml", **person_values(q)))
    assert code == 250, text
    # p's window ended and is gone; q's and the total's (a new window) are kept.
    assert mb.demo.state("SELECT count(*) FROM rate_hits")[0][0] == 2
    mb.wait_mails(q.email, 1)
