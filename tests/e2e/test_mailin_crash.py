# SPDX-License-Identifier: MIT
"""A crash never loses a mail and never makes two requests (docs/mail-intake.md, "What a
mail becomes"), end to end.

lethe serve is SIGKILLed while an LMTP delivery waits on a state store the test keeps
locked (BEGIN IMMEDIATE): the client never saw a 250, nothing is recorded; after a restart
the MTA's redelivery makes exactly one request, and another redelivery of the same bytes
after the 250 is a duplicate.  A Maildir file copied back after it was consumed is a
duplicate too: removed, no second request.
"""
import sqlite3
import threading
import time

from mailin_e2e_helpers import (
    corpus,
    mailbox_env,  # noqa: F401
    person_values,
)

DEMO_OPTIONS = ["--users", "16", "--seed", "7"]


def test_sigkill_during_delivery_then_redelivery(mailbox_env):
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus("seed000-account-deletion.eml", **person_values(p))
    before_req, before_rows = len(mb.requests()), len(mb.rows())
    lock = sqlite3.connect(str(mb.demo.state_db), timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    result = {}

    def deliver():
        try:
            result["reply"] = mb.lmtp(raw, timeout=30)
        except Exception as e:  # the server died under it
            result["error"] = repr(e)

    t = threading.Thread(target=deliver, daemon=True)
    try:
        t.start()
        time.sleep(1.0)  # DATA sent; lethe waits for the write lock
        assert t.is_alive() or result.get("reply", (0,))[0] != 250, result
        mb.kill_server()
        t.join(30)
        assert not t.is_alive()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert result.get("reply", (0,))[0] != 250, result  # never acknowledged
    assert len(mb.rows()) == before_rows
    assert mb.demo.state("SELECT count(*) FROM requests WHERE source = 'email'")[0][0] == \
        before_req

    mb.start()
    code, text = mb.lmtp(raw)  # the MTA redelivers
    assert code == 250, text
    assert len(mb.requests()) == before_req + 1
    assert len(mb.rows()) == before_rows + 1
    code, text = mb.lmtp(raw)  # and once more after the 250 (its ack was lost)
    assert code == 250, text
    assert len(mb.requests()) == before_req + 1
    assert len(mb.rows()) == before_rows + 1
    assert len(mb.wait_mails(p.email, 1)) == 1  # one verify mail, not two


def test_maildir_file_copied_back_is_a_duplicate(mailbox_env):
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus("seed000-account-deletion.eml", **person_values(p))
    before_req, before_rows = len(mb.requests()), len(mb.rows())
    mb.maildir(raw, name="1796700000.M1P1.host")
    assert len(mb.requests()) == before_req + 1
    assert len(mb.rows()) == before_rows + 1
    # A backup restored into the Maildir: the same bytes again, under the same name.
    path = mb.maildir(raw, name="1796700000.M1P1.host")
    assert not path.exists()
    assert len(mb.requests()) == before_req + 1
    assert len(mb.rows()) == before_rows + 1
    # And under another name, in cur/ (already seen by a mail client).
    dst = mb.maildir_path / "cur" / "1796700001.M2P2.host:2,S"
    dst.write_bytes(raw)
    mb.wait(lambda: not dst.exists(), "cur/ file consumed")
    assert len(mb.requests()) == before_req + 1
    assert len(mb.rows()) == before_rows + 1
    assert len(mb.wait_mails(p.email, 1)) == 1
