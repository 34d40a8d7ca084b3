# SPDX-License-Identifier: MIT
"""The operator's queue of the privacy mailbox (docs/mail-intake.md, "The operator's queue"):
`lethe mailbox list|show|close` and `GET /v1/mailbox`, `POST /v1/mailbox/{id}/close`.

The rows are written into the state store's mail_in table as the delivery records them
(no content in the clear; the front ends that deliver real mail are tested by the
test_mailin_*.py files): an unmatched mail waiting, a robot and a review already closed.
What is asserted: the listing's filters, rows and JSON (no personal data), `show` of a
mail whose raw message is gone, closing (state, who, why, the raw box wiped) and every
error: exit status 2 for a bad filter or number, 1 for no such mail or closed already;
over HTTP admin keys only, 400, 404, 405, 409, and nothing changed by a refused call.
"""
import json
import sqlite3
import time

from fake_platform import fake_platform  # noqa: F401
from disconnect_helpers import API_KEY, api
from lethe_e2e import run_lethe
from mailin_e2e_helpers import corpus, mailbox_env, person_values, reply_headers_ok  # noqa: F401
from request_helpers import ADMIN_KEY, configure_requests, policy, serve_env
from serve_helpers import servers  # noqa: F401

NOW = int(time.time())
# (hash, via, received_at, bytes, outcome, rule, reason, replied, state, raw_box, closed_by)
ROWS = [
    ("h1", "maildir", NOW - 300, 2100, "robot", None, "an auto-reply (Auto-Submitted)", 0,
     "closed", None, "request"),
    ("h2", "lmtp", NOW - 200, 4200, "review", "meta-deletion", None, 1, "closed", None,
     "request"),
    ("h3", "lmtp", NOW - 100, 3300, "unmatched", None, "no rule matched", 1, "open",
     b"\x01sealed-raw-message-box", None),
]


def mailbox(demo, *args):
    """`lethe mailbox ARGS -c lethe.yaml`: (code, stdout, stderr)."""
    sub, rest = args[0], args[1:]
    return run_lethe("mailbox", sub, "-c", demo.config, *rest)


def seed(demo):
    """The state store (made by a first `lethe mailbox list`) with ROWS; their ids."""
    code, out, err = mailbox(demo, "list")
    assert code == 0, err
    db = sqlite3.connect(str(demo.state_db))
    ids = []
    with db:
        for h, via, at, size, outcome, rule, reason, replied, state, raw, by in ROWS:
            cur = db.execute(
                "INSERT INTO mail_in (hash, via, received_at, bytes, outcome, rule, reason, "
                "replied, state, raw_box, closed_at, closed_by) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("hmac:" + h * 16, via, at, size, outcome, rule, reason, replied, state, raw,
                 at + 10 if state == "closed" else None, by))
            ids.append(cur.lastrowid)
    db.close()
    return ids


def row(demo, mid):
    return demo.state("SELECT state, closed_by, reason, raw_box IS NULL, reply_box IS NULL "
                      "FROM mail_in WHERE id = ?", (mid,))[0]


def test_mailbox_cli_list_show_close(demo):
    robot, review, unmatched = seed(demo)
    # The queue: open mails by default, newest first; the table names the columns.
    code, out, err = mailbox(demo, "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "RECEIVED", "VIA", "OUTCOME", "RULE", "REQUEST",
                                "REPLIED", "STATE", "RAW", "KEPT"], lines
    assert len(lines) == 2, out
    cells = lines[1].split()
    assert cells[0] == str(unmatched) and cells[2:] == ["lmtp", "unmatched", "-", "-", "yes",
                                                          "open", "yes"], cells
    assert cells[1].endswith("Z") and cells[1].startswith(time.strftime("%Y-", time.gmtime(NOW)))
    # --state all, --outcome, --json: the service's page as it is, no content.
    code, out, err = mailbox(demo, "list", "--state", "all", "--json")
    assert code == 0, err
    page = json.loads(out)
    assert [m["id"] for m in page["mails"]] == [unmatched, review, robot]
    assert page["next"] is None
    assert set(page["mails"][0]) == {"id", "via", "received_at", "bytes", "outcome", "rule",
                                     "reason", "request", "replied", "state", "raw_kept"}
    assert page["mails"][1]["rule"] == "meta-deletion"
    assert page["mails"][0]["raw_kept"] is True and page["mails"][1]["raw_kept"] is False
    code, out, err = mailbox(demo, "list", "--state", "closed", "--outcome", "robot", "--json")
    assert code == 0, err
    assert [m["id"] for m in json.loads(out)["mails"]] == [robot]
    code, out, err = mailbox(demo, "list", "--state", "all", "--limit", "2", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert [m["id"] for m in first["mails"]] == [unmatched, review] and first["next"]
    code, out, err = mailbox(demo, "list", "--state", "all", "--cursor", first["next"],
                             "--json")
    assert code == 0, err
    assert [m["id"] for m in json.loads(out)["mails"]] == [robot]
    # Bad filters are usage errors, the JSON error on stdout with --json.
    for args in (["--state", "waiting"], ["--outcome", "spam"], ["--limit", "0"],
                 ["--cursor", "x"]):
        code, out, err = mailbox(demo, "list", *args, "--json")
        assert code == 2, (args, code, out, err)
        assert json.loads(out)["error"]["code"] == "usage", (args, out)
    # show: a mail whose raw message is gone is its row only.
    code, out, err = mailbox(demo, "show", str(review))
    assert code == 0, err
    assert out.startswith("mail %d\n" % review), out
    assert "  outcome      review\n" in out and "  raw_kept     no\n" in out, out
    assert "text:" not in out
    for bad in ("0", "-1", "x", "1x"):
        code, out, err = mailbox(demo, "show", bad)
        assert code == 2, (bad, code, err)
    code, out, err = mailbox(demo, "show", "999")
    assert code == 1 and "no mail" in err, (code, err)
    # close: the row closed by "cli" with the reason, its raw message wiped.
    code, out, err = mailbox(demo, "close", str(unmatched), "--reason",
                             "answered by hand", "--json")
    assert code == 0, err
    closed = json.loads(out)
    assert closed["id"] == unmatched and closed["state"] == "closed", closed
    assert closed["raw_kept"] is False
    assert row(demo, unmatched) == ("closed", "cli", "answered by hand", 1, 1)
    code, out, err = mailbox(demo, "list")
    assert code == 0 and len(out.splitlines()) == 1, out  # nothing waits any more
    # Closed already, no such mail, a reason too long: nothing changes.
    code, out, err = mailbox(demo, "close", str(unmatched))
    assert code == 1 and "closed already" in err, (code, err)
    code, out, err = mailbox(demo, "close", "999")
    assert code == 1 and "no mail" in err, (code, err)
    code, out, err = mailbox(demo, "close", str(robot), "--reason", "x" * 161)
    assert code == 2, (code, err)
    assert row(demo, robot)[1] == "request"


def test_jobs_lists_a_reply_by_its_incoming_mail(demo):
    """A reply about no request is mail of the outbox with request 0: `lethe jobs` shows no
    request for it ("-", null) and names its incoming mail."""
    _, _, unmatched = seed(demo)
    db = sqlite3.connect(str(demo.state_db))
    with db:
        db.execute("INSERT INTO mail (request_id, notice, state, next_at, created_at, done_at, "
                   "mail_in_id) VALUES (0, 'reply_unmatched', 'sent', 0, ?, ?, ?)",
                   (NOW, NOW, unmatched))
    db.close()
    code, out, err = run_lethe("jobs", "-c", demo.config, "--state", "sent", "--json")
    assert code == 0, err
    mails = [json.loads(ln) for ln in out.splitlines() if '"mail"' in ln]
    assert len(mails) == 1, out
    assert mails[0]["request"] is None and mails[0]["incoming_mail"] == unmatched, mails
    assert mails[0]["notice"] == "reply_unmatched"
    code, out, err = run_lethe("jobs", "-c", demo.config, "--state", "sent")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "reply_unmatched" in ln)
    assert line.split()[:4] == ["1", "-", "reply_unmatched", "sent"], line


def test_mailbox_api_list_and_close(demo, fake_platform, servers):
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    robot, review, unmatched = seed(demo)
    srv = servers(demo, env=serve_env(fake_platform))
    # Admin keys only: none is 401, an app key 403.
    status, _, doc = api(srv, "GET", "/v1/mailbox", key=None)
    assert status == 401, (status, doc)
    status, _, doc = api(srv, "GET", "/v1/mailbox", key=API_KEY)
    assert status == 403 and doc["error"]["code"] == "forbidden", (status, doc)
    status, _, doc = api(srv, "POST", "/v1/mailbox/%d/close" % unmatched, key=API_KEY)
    assert status == 403, (status, doc)
    # The listing: every mail by default, filters as the CLI's.
    status, _, doc = api(srv, "GET", "/v1/mailbox", key=ADMIN_KEY)
    assert status == 200, (status, doc)
    assert [m["id"] for m in doc["mails"]] == [unmatched, review, robot]
    assert doc["mails"][0] == {"id": unmatched, "via": "lmtp", "received_at": NOW - 100,
                               "bytes": 3300, "outcome": "unmatched", "rule": None,
                               "reason": "no rule matched", "request": None,
                               "replied": True, "state": "open", "raw_kept": True}
    status, _, doc = api(srv, "GET", "/v1/mailbox?state=open", key=ADMIN_KEY)
    assert status == 200 and [m["id"] for m in doc["mails"]] == [unmatched], doc
    status, _, doc = api(srv, "GET", "/v1/mailbox?state=all&outcome=review&limit=5",
                         key=ADMIN_KEY)
    assert status == 200 and [m["id"] for m in doc["mails"]] == [review], doc
    for q in ("?state=waiting", "?outcome=spam", "?limit=0", "?limit=1001", "?limit=+5",
              "?cursor=x", "?cursor=+%d" % robot, "?cursor=%%2B%d" % robot, "?cursor=-1", "?from=x", "?state="):
        status, _, doc = api(srv, "GET", "/v1/mailbox" + q, key=ADMIN_KEY)
        assert status == 400 and doc["error"]["code"] == "invalid_request", (q, status, doc)
    # Paths and methods.
    for path, method, want in (("/v1/mailbox", "POST", 405), ("/v1/mailbox/x/close", "POST",
                                                             400),
                               ("/v1/mailbox/0/close", "POST", 400),
                               ("/v1/mailbox/%d" % unmatched, "GET", 404),
                               ("/v1/mailbox/%d/open" % unmatched, "POST", 404),
                               ("/v1/mailbox/%d/close" % unmatched, "GET", 405)):
        status, hdrs, doc = api(srv, method, path, key=ADMIN_KEY)
        assert status == want, (path, method, status, doc)
        assert doc is not None and "error" in doc, (path, doc)
    # Another path under /v1/ is the rest of the API's (an app key's 404), not this route's.
    status, _, doc = api(srv, "GET", "/v1/mailboxes", key=API_KEY)
    assert status == 404, (status, doc)
    # Bad bodies change nothing.
    for body in (b"[]", b"{", b'{"why": "x"}', b'{"reason": 5}', b'{"reason": ""}',
                 json.dumps({"reason": "x" * 161}).encode()):
        status, _, doc = api(srv, "POST", "/v1/mailbox/%d/close" % unmatched, key=ADMIN_KEY,
                             body=body, headers={"Content-Type": "application/json"})
        assert status == 400 and doc["error"]["code"] == "invalid_request", (body, status, doc)
    assert row(demo, unmatched)[0] == "open"
    # Close: the row afterwards, closed by the key, raw wiped; again: 409; none: 404.
    status, _, doc = api(srv, "POST", "/v1/mailbox/%d/close" % unmatched, key=ADMIN_KEY,
                         body=b'{"reason": "spam"}',
                         headers={"Content-Type": "application/json"})
    assert status == 200, (status, doc)
    assert doc["id"] == unmatched and doc["state"] == "closed" and doc["raw_kept"] is False
    assert row(demo, unmatched) == ("closed", "admin:ops", "spam", 1, 1)
    status, _, doc = api(srv, "POST", "/v1/mailbox/%d/close" % unmatched, key=ADMIN_KEY)
    assert status == 409 and doc["error"]["code"] == "conflict", (status, doc)
    status, _, doc = api(srv, "POST", "/v1/mailbox/999/close", key=ADMIN_KEY)
    assert status == 404 and doc["error"]["code"] == "not_found", (status, doc)
    # Nothing of a mail's content is logged (there is none to log: the row's reason only).
    assert "answered" not in srv.stderr()


def test_unmatched_mail_reply_show_and_close(mailbox_env):
    """A mail nothing fits, delivered over LMTP: its one reply (to the envelope sender,
    Auto-Submitted: auto-replied, In-Reply-To and References its Message-ID, "Re: " + its
    subject, the self-service page, nothing of the mail but its subject); `lethe mailbox
    show` prints what it says for the operator; `close` wipes it and the API lists it
    closed, without content."""
    mb = mailbox_env(0)
    p = mb.person()
    raw = corpus("unmatched-password.eml", **person_values(p))
    code, text = mb.lmtp(raw)
    assert code == 250, text
    (reply,) = mb.wait_mails(p.email, 1)
    reply_headers_ok(reply, raw)
    assert reply.subject == "Re: question", reply.subject
    assert reply.header("From") == "privacy@demo-social.example"
    assert "/privacy" in reply.text and "a person on our team will read" in reply.text
    assert "password" not in reply.text and p.email not in reply.text
    assert p.email not in (reply.html or "")
    row = mb.mailbox_list(state="open", outcome="unmatched")[-1]
    assert row["replied"] is True and row["raw_kept"] is True, row
    # The operator reads it: the table row, then the mail itself on the terminal.
    rc, out, err = mb.cli("mailbox", "list")
    assert rc == 0, err
    assert any(ln.split()[0] == str(row["id"]) and "unmatched" in ln.split()
               for ln in out.splitlines()[1:]), out
    rc, out, err = mb.cli("mailbox", "show", str(row["id"]))
    assert rc == 0, err
    assert "  subject      question\n" in out, out
    assert p.email in out and "hi, how do I change my password?" in out, out
    assert "  outcome      unmatched\n" in out and "  raw_kept     yes\n" in out, out
    # Closed by the operator: raw wiped, out of the open queue, listed closed by the API.
    rc, out, err = mb.cli("mailbox", "close", str(row["id"]), "--reason", "answered by hand")
    assert rc == 0, err
    assert "  state        closed\n" in out and "  raw_kept     no\n" in out, out
    rc, out, err = mb.cli("mailbox", "show", str(row["id"]))
    assert rc == 0 and "password" not in out and p.email not in out, out
    listed = [m for m in mb.api_mailbox("closed")["mails"] if m["id"] == row["id"]]
    assert listed and listed[0]["state"] == "closed" and listed[0]["raw_kept"] is False
    assert "password" not in json.dumps(mb.api_mailbox("all"))
    assert p.email not in mb.server.stderr()
