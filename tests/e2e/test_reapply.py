# SPDX-License-Identifier: MIT
"""Erasures survive a backup restore: the ledger and `lethe reapply` (docs/proof.md).

The demo's app database is backed up (SQLite's backup API, lethe stopped), three people
are erased through `lethe serve` (app API requests, verified by the app), lethe stops,
the backup is restored over the app database, and then `lethe reapply` (or the start-up
check of `lethe serve`) must find exactly those three, make one request of source
`restore` each, and erase them again, row by row, touching nobody else: the app
database ends exactly as it was after the first erasures.  A person who signed up again
with the same email (a new users row) and a new account that reuses an erased row's key
with another email are not erased.  The ledger holds no email or username in the clear.
"""
import json
import sqlite3
import time

import pytest

from lethe_e2e import query, run_lethe, snapshot
from requests_helpers import call, configure
from serve_helpers import IG_SECRET, TSCALE, ig_id, meta_requests, servers, sign_py, stop_ok  # noqa: F401,E501

DEMO_OPTIONS = ["--users", "16", "--seed", "15"]
DONE = ("completed", "completed_with_retention")


def people(demo, n=3):
    """(id, email) of @n users with projects and channels, not the first or the last."""
    rows = query(demo.db, "SELECT u.id, u.email FROM users u WHERE EXISTS (SELECT 1 FROM "
                          "channels c JOIN projects p ON p.id = c.project_id WHERE "
                          "p.user_id = u.id) ORDER BY u.id LIMIT ? OFFSET 1", (n,))
    assert len(rows) == n
    return rows


def usernames(demo, uids):
    rows = query(demo.db, "SELECT c.username FROM channels c JOIN projects p ON "
                          "p.id = c.project_id WHERE p.user_id IN (%s) AND c.username IS "
                          "NOT NULL" % ",".join("?" * len(uids)), uids)
    return [r[0] for r in rows if r[0]]


def backup(src, dst):
    """Copy the SQLite database @src to @dst with SQLite's backup API (WAL included)."""
    s = sqlite3.connect(str(src))
    d = sqlite3.connect(str(dst))
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def wait_requests(srv, codes, timeout=30):
    deadline = time.monotonic() + timeout * TSCALE
    docs = {}
    while time.monotonic() < deadline:
        for c in codes:
            status, _, doc = call(srv, "GET", "/v1/requests/" + c)
            assert status == 200, (status, doc)
            docs[c] = doc
        if all(d["state"] in DONE for d in docs.values()):
            return docs
        assert all(d["state"] in ("received", "scheduled", "running") + DONE for d in docs.values()), docs
        time.sleep(0.05)
    pytest.fail("requests not done: %r\n%s" % (docs, srv.stderr()))


def erase_three(demo, servers):
    """Back up the app database, erase three people through lethe serve; returns
    (backup path, [(id, email)], [request numbers], snapshot after)."""
    configure(demo, policies=None)  # an app key; the built-in default policy
    who = people(demo)
    saved = demo.dir / "app-backup.db"
    backup(demo.db, saved)
    srv = servers(demo)
    codes = []
    for uid, email in who:
        status, _, doc = call(srv, "POST", "/v1/requests",
                              body={"kind": "erasure", "scope": "account",
                                    "identities": {"email": email}, "verified": True})
        assert status in (200, 201, 202), (status, doc)
        codes.append(doc["id"])
    docs = wait_requests(srv, codes)
    stop_ok(srv)
    numbers = [docs[c]["number"] for c in codes]
    for uid, _ in who:
        assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (uid,)) == [(0,)]
    return saved, who, numbers, snapshot(demo.db)


def restore(saved, demo):
    """Put the backup back over the app database (lethe is stopped)."""
    backup(saved, demo.db)


def reapply(demo, *args):
    code, out, err = run_lethe("reapply", "-c", demo.config, "--json", *args)
    assert code == 0, (code, out, err)
    return json.loads(out)


def restore_requests(demo):
    code, out, err = run_lethe("requests", "list", "-c", demo.config, "--source", "restore",
                               "--json", "--limit", "1000")
    assert code == 0, err
    return json.loads(out)["requests"]


def wait_restore_done(demo, srv, n, timeout=30):
    deadline = time.monotonic() + timeout * TSCALE
    reqs = []
    while time.monotonic() < deadline:
        reqs = restore_requests(demo)
        if len(reqs) == n and all(r["state"] in DONE for r in reqs):
            return reqs
        time.sleep(0.1)
    pytest.fail("restore requests not done: %r\n%s" % (reqs, srv.stderr()))


def assert_secrets_absent(path, secrets):
    for p in (path, path.parent / (path.name + "-wal")):
        if p.exists():
            data = p.read_bytes()
            for s in secrets:
                assert s.encode() not in data, (p, "holds a value in the clear")


def test_reapply_erases_exactly_the_restored_people(demo, servers):
    saved, who, numbers, after = erase_three(demo, servers)
    uids = [u for u, _ in who]
    emails = [e for _, e in who]
    names = usernames(Demo_of(saved), uids)
    before_restore = snapshot(saved)

    # The ledger: erased entries, keyed hashes only.
    n = demo.state("SELECT count(*) FROM ledger WHERE state = 'erased'")[0][0]
    assert n >= 3, n
    assert demo.state("SELECT count(DISTINCT request_id) FROM ledger") == [(3,)]
    for kh, ids in demo.state("SELECT key_hash, ids FROM ledger"):
        assert kh.startswith("anon:") and len(kh) == 37, kh
        for i in json.loads(ids):
            kind, h = i.split(":", 1)
            assert h.startswith("anon:") and len(h) == 37, i
    assert_secrets_absent(demo.state_db, emails + names)

    # Nothing was restored yet: nobody to re-apply.
    out = reapply(demo)
    assert out["found"] == 0 and out["requests"] == [], out

    restore(saved, demo)
    assert snapshot(demo.db) == before_restore

    # --dry-run finds them and changes nothing.
    out = reapply(demo, "--dry-run")
    assert out["dry_run"] is True and out["found"] == 3, out
    assert sorted(r["erased_by"] for r in out["requests"]) == sorted(numbers), out
    assert all(r["request"] is None for r in out["requests"]), out
    assert {(t["table"], t["scope"]) for t in out["tables"]} >= {("users", "account")}, out
    assert restore_requests(demo) == []
    assert snapshot(demo.db) == before_restore

    # The text form: counts and numbers, never a value.
    code, text, err = run_lethe("reapply", "-c", demo.config, "--dry-run")
    assert code == 0, err
    assert "3 people erased before are back" in text, text
    for s in emails + names:
        assert s not in text and s not in err

    out = reapply(demo)
    assert out["dry_run"] is False and out["found"] == 3 and out["failed"] == 0, out
    made = {r["erased_by"]: r["request"] for r in out["requests"]}
    assert sorted(made) == sorted(numbers), out
    assert all(isinstance(v, int) and not r["repeat"]
               for r, v in zip(out["requests"], made.values())), out
    reqs = restore_requests(demo)
    assert sorted(r["number"] for r in reqs) == sorted(made.values()), reqs
    for r in reqs:
        assert r["source"] == "restore" and r["scope"] == "account", r
        assert r["policy"] == "restore" and r["state"] in ("received", "scheduled"), r
    # Each names the request that erased them first.
    for by, num in made.items():
        code_, text_, err_ = run_lethe("requests", "show", "-c", demo.config,
                                       [r for r in reqs if r["number"] == num][0]["id"],
                                       "--json")
        assert code_ == 0, err_
        doc = json.loads(text_)
        assert any(e["reason"] == "re-applied after a restore: request #%d" % by
                   for e in doc["events"]), doc["events"]

    # Run again before they ran: the open requests are not duplicated.
    again = reapply(demo)
    assert again["found"] == 3 and all(r["repeat"] for r in again["requests"]), again
    assert sorted(r["request"] for r in again["requests"]) == sorted(made.values())
    assert len(restore_requests(demo)) == 3

    # lethe serve runs them (its own look at start off: this test's is the command's): the
    # database ends as it was after the first erasures.
    text = demo.config.read_text()
    demo.config.write_text(text + "proof:\n  reapply_at_start: false\n")
    srv = servers(demo)
    wait_restore_done(demo, srv, 3)
    stop_ok(srv)
    assert snapshot(demo.db) == after
    assert reapply(demo)["found"] == 0

    # Signing up again with the same email, or a new account on an erased row's key with
    # another email: neither is the erased person.
    con = sqlite3.connect(str(demo.db))
    try:
        con.execute("INSERT INTO users (id, email, name, status) VALUES (?, ?, 'Again', "
                    "'active')", (10000, emails[0]))
        con.execute("INSERT INTO users (id, email, name, status) VALUES (?, ?, 'Other', "
                    "'active')", (uids[1], "someone.else@example.com"))
        con.commit()
    finally:
        con.close()
    out = reapply(demo)
    assert out["found"] == 0, out
    assert query(demo.db, "SELECT count(*) FROM users WHERE id IN (?, ?)",
                 (10000, uids[1])) == [(2,)]
    assert_secrets_absent(demo.state_db, emails + names)


def test_serve_reapplies_at_start(demo, servers):
    saved, who, numbers, after = erase_three(demo, servers)
    restore(saved, demo)
    srv = servers(demo)
    reqs = wait_restore_done(demo, srv, 3)
    stop_ok(srv)
    assert snapshot(demo.db) == after
    log = srv.stderr()
    nums = sorted(r["number"] for r in reqs)
    assert ("the app database holds 3 people erased before: it was restored from a "
            "backup; erasing them again (requests %s)"
            % ", ".join("#%d" % n for n in nums)) in log, log
    for _, email in who:
        assert email not in log
    # A second start finds nobody: no new request, no warning.
    srv = servers(demo)
    time.sleep(0.5)
    stop_ok(srv)
    assert len(restore_requests(demo)) == 3
    assert "people erased before" not in srv.stderr()


def Demo_of(path):
    """A stand-in with .db for a bare database file."""
    class D:
        db = path
    return D


def wait_log(srv, text, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        if text in srv.stderr():
            return
        time.sleep(0.05)
    pytest.fail("%r not logged:\n%s" % (text, srv.stderr()))


def test_restart_without_restore_does_not_reapply(demo, servers):
    """A start with no restore does not look: someone who signs up again on their old id
    with the same email (SQLite reuses the highest deleted rowid) stays."""
    saved, who, numbers, after = erase_three(demo, servers)
    uid, email = who[0]
    con = sqlite3.connect(str(demo.db))
    try:
        con.execute("INSERT INTO users (id, email, name, status) VALUES (?, ?, 'Again', "
                    "'active')", (uid, email))
        con.commit()
    finally:
        con.close()
    srv = servers(demo)
    wait_log(srv, "no restore of the app database detected")
    time.sleep(0.5)
    stop_ok(srv)
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ? AND email = ?",
                 (uid, email)) == [(1,)]
    assert restore_requests(demo) == []
    assert "people erased before" not in srv.stderr()
    # The command always looks, and says the marker shows no restore (the documented
    # caveat of a re-signup that reuses the id and the email).
    code, text, err = run_lethe("reapply", "-c", demo.config, "--dry-run")
    assert code == 0, err
    assert "restore marker shows no restore" in text, text
    out = reapply(demo, "--dry-run")
    assert out["restore_detected"] is False, out

    # A restore after that is detected: the marker in the backup is behind.
    restore(saved, demo)
    srv = servers(demo)
    reqs = wait_restore_done(demo, srv, 3)
    stop_ok(srv)
    assert "it was restored from a backup; looking for people erased before" in srv.stderr()
    assert len(reqs) == 3


def invites_map(demo, b_email, a_email, scope_email_only):
    """An invites table linking two emails (B invited A), listed before users."""
    con = sqlite3.connect(str(demo.db))
    try:
        con.executescript("CREATE TABLE invites(id INTEGER PRIMARY KEY, inviter_email TEXT, "
                          "invitee_email TEXT); CREATE INDEX i1 ON invites(inviter_email);"
                          "CREATE INDEX i2 ON invites(invitee_email);")
        con.execute("INSERT INTO invites VALUES (1, ?, ?)", (b_email, a_email))
        con.commit()
    finally:
        con.close()
    p = demo.dir / "datamap.yaml"
    t = p.read_text()
    if scope_email_only:
        t2 = t.replace("    identities: [email, user_id, account_name]\n    tables: all",
                       "    identities: [email]\n    tables: all", 1)
        assert t2 != t
        t = t2
    t2 = t.replace("tables:\n  users:\n", "tables:\n  invites:\n    key: id\n"
                   "    category: account\n    links:\n      - identity: email\n"
                   "        column: inviter_email\n      - identity: email\n"
                   "        column: invitee_email\n    erase: delete\n\n  users:\n", 1)
    assert t2 != t
    p.write_text(t2)


@pytest.mark.parametrize("scope_email_only", [True, False])
def test_restore_of_a_relation_row_erases_only_the_erased_person(demo, servers,
                                                                 scope_email_only):
    """A erased (B invited A), the backup restored: the restore request names A, never B.
    With a scope of [email] only it used to erase B instead of A; with [email, user_id],
    it was refused ("the identities name more than one person") and A stayed."""
    who = people(demo)
    a_uid, a_email = who[0]
    b_uid, b_email = query(demo.db, "SELECT id, email FROM users ORDER BY id DESC LIMIT 1")[0]
    assert b_uid not in [u for u, _ in who]
    invites_map(demo, b_email, a_email, scope_email_only)
    saved, who2, numbers, after = erase_three(demo, servers)
    assert who2 == who
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (b_uid,)) == [(1,)]
    assert query(demo.db, "SELECT count(*) FROM invites") == [(0,)]
    # B's email hash is not in the ledger: only A's column of the invite is A's.
    restore(saved, demo)
    out = reapply(demo)
    assert out["found"] == 3 and out["failed"] == 0, out
    text = demo.config.read_text()
    demo.config.write_text(text + "proof:\n  reapply_at_start: false\n")
    srv = servers(demo)
    wait_restore_done(demo, srv, 3)
    stop_ok(srv)
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (b_uid,)) == [(1,)]
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (a_uid,)) == [(0,)]
    assert query(demo.db, "SELECT count(*) FROM invites") == [(0,)]
    assert snapshot(demo.db) == after


def wait_meta(demo, code, states, timeout=30):
    deadline = time.monotonic() + timeout * TSCALE
    rows = []
    while time.monotonic() < deadline:
        rows = [r for r in meta_requests(demo) if r[1] == code]
        if rows and rows[0][3] in states:
            return rows[0]
        time.sleep(0.05)
    pytest.fail("Meta request %s not in %r: %r" % (code, states, rows))


def test_meta_repeat_after_a_residual_keeps_the_erased_rows_in_the_ledger(demo, servers):
    """A Meta request's run erases the channels, then fails its residual scan (a table
    outside the meta scope names the same Instagram id); the operator removes that row and
    Meta asks again: the repeat finds nothing left and completes through the earlier run's
    path.  The channels that run erased must stay in the ledger (erased), not be dropped."""
    uid = ig_id(1)
    con = sqlite3.connect(str(demo.db))
    try:
        con.executescript("CREATE TABLE ig_notes(id INTEGER PRIMARY KEY, ig_id TEXT);"
                          "CREATE INDEX ig_notes_ig ON ig_notes(ig_id);")
        con.execute("INSERT INTO ig_notes VALUES (1, ?)", (uid,))
        con.commit()
    finally:
        con.close()
    p = demo.dir / "datamap.yaml"
    t = p.read_text()
    t2 = t.replace("tables:\n  users:\n", "tables:\n  ig_notes:\n    key: id\n"
                   "    category: account\n    links:\n      - identity: instagram_user_id\n"
                   "        column: ig_id\n    erase: delete\n\n  users:\n", 1)
    assert t2 != t
    p.write_text(t2)
    chans = query(demo.db, "SELECT count(*) FROM channels WHERE platform = 'instagram' AND "
                           "platform_user_id = ?", (uid,))[0][0]
    assert chans > 0

    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    row = wait_meta(demo, code, ("failed",))
    rid = row[0]
    assert query(demo.db, "SELECT count(*) FROM channels WHERE platform = 'instagram' AND "
                          "platform_user_id = ?", (uid,)) == [(0,)]
    assert demo.state("SELECT state, count(*) FROM ledger WHERE request_id = ? "
                      "GROUP BY state", (rid,)) == [("pending", chans)]

    # The operator removes the row; Meta asks again: nothing is left to erase.
    con = sqlite3.connect(str(demo.db))
    try:
        con.execute("DELETE FROM ig_notes")
        con.commit()
    finally:
        con.close()
    again = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    assert again == code
    wait_meta(demo, code, DONE)
    stop_ok(srv)
    assert demo.state("SELECT state, count(*) FROM ledger WHERE request_id = ? "
                      "GROUP BY state", (rid,)) == [("erased", chans)]


def test_people_who_cannot_be_reapplied_are_told_once(demo, servers):
    """People found again whose erasure cannot be re-applied for good (here: the scope
    that erased them is no longer in the data map) are reported once and set aside
    ('unmatched'), not reported again at every look."""
    saved, who, numbers, after = erase_three(demo, servers)
    restore(saved, demo)
    p = demo.dir / "datamap.yaml"
    t = p.read_text()
    t2 = t.replace("scopes:\n  account:\n", "scopes:\n  whole_account:\n", 1)
    assert t2 != t
    p.write_text(t2)
    code, out, err = run_lethe("reapply", "-c", demo.config, "--json")
    assert code == 1, (code, out, err)
    doc = json.loads(out)
    assert doc["found"] == 3 and doc["failed"] == 3 and doc["set_aside"] == 3, doc
    assert all(r["set_aside"] is True and r["request"] is None for r in doc["requests"]), doc
    assert demo.state("SELECT DISTINCT state FROM ledger") == [("unmatched",)]
    # Told once: the next look finds nobody to report, and makes nothing.
    out = reapply(demo)
    assert out["found"] == 0 and out["failed"] == 0, out
    assert restore_requests(demo) == []
