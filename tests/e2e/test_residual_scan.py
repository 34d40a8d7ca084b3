# SPDX-License-Identifier: MIT
"""The residual scan after a request's erasure (docs/internals/proof.md), end to end.

The real `lethe serve` runs the demo's requests through the app and operator APIs; the
app database is a real SQLite file the tests change under it: an app trigger that logs
the account's deletion while its erasure runs (a row planted mid-erasure), a table the
scope forgot, a row planted under an anonymize part.
A scan that finds rows fails the request with a reason naming the tables, is counted in
/metrics and logged without a value; an operator's retry then completes it.  After a
normal erasure, neither the app database nor the state store (files and WALs) holds the
person's identifiers, and `lethe scan` agrees with the scans row.  `proof: {scan: false}`
turns the scan off.

Every test runs on both backends (the backend fixture: app database and state store on
SQLite, then on PostgreSQL) but test_erased_person_is_in_no_database_file, which reads
SQLite's database files and WALs byte by byte (SQLite only by nature).  The scans row's
file checks (wal, secure_delete) are SQLite's: file_checks() says what each backend
records.
"""
import json
import re
import subprocess

import pytest

from fake_platform import fake_platform  # noqa: F401
from lethe_e2e import execute, query, run_lethe, snapshot
from request_helpers import (
    FINAL,
    Clock,
    admin_act,
    app_get,
    configure_requests,
    create,
    policy,
    start,
    states_of,
    users,
    wait_state,
)
from serve_helpers import FB_SECRET, servers, sign_py, stop_ok  # noqa: F401

DEMO_OPTIONS = ["--users", "12", "--seed", "5"]
DONE = ("completed", "completed_with_retention")
BOTH = pytest.mark.usefixtures("backend")


def file_checks(demo, scan):
    """The scans row's file checks: SQLite's WAL truncated and secure_delete on; on
    PostgreSQL there are no app database files lethe can check (wal: not_sqlite)."""
    if demo.backend == "sqlite":
        return scan["wal"] == "truncated" and scan["secure_delete"] == 1
    return scan["wal"] == "not_sqlite"


def configure_now(demo, fake, extra=""):
    """Requests of the account scope run at once (no verification, review or grace)."""
    configure_requests(demo, fake, [policy("now", deadline="2d")])
    if extra:
        demo.config.write_text(demo.config.read_text() + extra)


def plant_on_delete(demo, uid):
    """The app logs the account's deletion in request_logs the moment its users row is
    deleted (an app's audit trigger), once.  The map names request_logs.user_id as the
    user_id identity too, so the new row still names the person after the erasure.  The
    erasure anonymized request_logs before it reached users, and its own recount only
    reopens delete steps: the planted row is left for the scan."""
    path = demo.dir / "datamap.yaml"
    text = path.read_text()
    old = ("  request_logs:\n    key: id\n    category: logs\n    links:\n"
           "      - parent: users\n        column: user_id\n")
    assert old in text
    path.write_text(text.replace(old, old + "      - identity: user_id\n"
                                            "        column: user_id\n", 1))
    execute(demo.db, "CREATE TABLE e2e_planted(n INTEGER)")
    if demo.backend == "postgresql":
        demo.db.exec(
            "CREATE FUNCTION e2e_plant() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
            "IF (SELECT count(*) FROM e2e_planted) = 0 THEN "
            "INSERT INTO e2e_planted VALUES (1); "
            "INSERT INTO request_logs(user_id, ip, user_agent, path, created_at) VALUES "
            "(old.id, '203.0.113.77', 'e2e', '/account/delete', '2026-12-01 00:00:00'); "
            "END IF; RETURN old; END $f$; "
            "CREATE TRIGGER e2e_plant AFTER DELETE ON users FOR EACH ROW "
            "WHEN (old.id = %d) EXECUTE FUNCTION e2e_plant()" % uid)
        return
    execute(demo.db,
            "CREATE TRIGGER e2e_plant AFTER DELETE ON users WHEN old.id = %d AND "
            "(SELECT count(*) FROM e2e_planted) = 0 BEGIN "
            "INSERT INTO e2e_planted VALUES (1); "
            "INSERT INTO request_logs(user_id, ip, user_agent, path, created_at) VALUES "
            "(old.id, '203.0.113.77', 'e2e', '/account/delete', '2026-12-01 00:00:00'); END"
            % uid)


def planted(demo, uid):
    return query(demo.db, "SELECT count(*) FROM request_logs WHERE user_id = ?", (uid,))[0][0]


def metric(srv, name):
    status, _, text = srv.get("/metrics")
    assert status == 200
    m = re.search(r"^%s (\d+)$" % re.escape(name), text.decode(), re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


def scan_row(demo, code):
    rows = demo.state("SELECT s.result, s.rows, s.tables, s.detail, s.wal, s.secure_delete "
                      "FROM scans s JOIN requests r ON r.id = s.request_id WHERE r.code = ?",
                      (code,))
    assert rows, "no scan of request %s" % code
    r = rows[0]
    return {"result": r[0], "rows": r[1], "tables": r[2], "detail": json.loads(r[3]),
            "wal": r[4], "secure_delete": r[5]}


def lethe_scan(demo, *ids, scope=None):
    args = ["scan", "-c", demo.config, "--json"]
    for i in ids:
        args += ["--id", i]
    if scope:
        args += ["--scope", scope]
    code, out, err = run_lethe(*args)
    return code, (json.loads(out) if out.strip() else None), out + err


def file_bytes(path):
    """A file and its -wal, read by another process (see test_erase_residue.py)."""
    out = b""
    for suffix in ("", "-wal", "-journal"):
        p = path.parent / (path.name + suffix)
        if p.exists():
            out += subprocess.run(["cat", str(p)], stdout=subprocess.PIPE, check=True,
                                  timeout=30).stdout
    return out


def data_of(demo):
    """The app database's content: its file's bytes on SQLite, its rows on PostgreSQL."""
    return file_bytes(demo.db) if demo.backend == "sqlite" else snapshot(demo.db)


@BOTH
def test_scan_catches_a_row_planted_mid_erasure(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_now(demo, fake_platform)
    (uid, email), = users(demo, 1)
    plant_on_delete(demo, uid)
    srv = start(servers, demo, fake_platform, clock)
    assert metric(srv, "lethe_residual_found_total") == 0
    assert metric(srv, "lethe_residual_requests") == 0

    ids = {"email": email, "user_id": str(uid)}
    st, req = create(srv, ids)
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] == "failed", req
    assert req["reason"] == "the residual scan found 1 row in request_logs", req
    assert planted(demo, uid) == 1
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (uid,))[0][0] == 0
    scan = scan_row(demo, code)
    assert scan["result"] == "residual" and scan["rows"] == 1, scan
    assert scan["detail"]["found"] == [{"table": "request_logs", "rows": 1, "kept": False,
                                        "outside": False}], scan
    assert file_checks(demo, scan), scan
    assert metric(srv, "lethe_residual_found_total") == 1
    assert metric(srv, "lethe_residual_requests") == 1
    log = srv.stderr()
    assert re.search(r"request \d+: the residual scan found 1 rows of the person after its "
                     r"erasure, in request_logs", log), log
    assert email not in log
    # `lethe scan` sees what the runner saw, and prints no value.
    rc, doc, text = lethe_scan(demo, "email=" + email, "user_id=%d" % uid)
    assert rc == 1, text
    assert doc["result"] == "residual" and doc["rows"] == 1 and doc["tables"] == scan["tables"]
    assert email not in text

    # The operator retries: the erasure takes the planted row, the scan is clean.
    st, doc = admin_act(srv, code, "retry", {"reason": "the app re-created the account"})
    assert st == 200, doc
    req = wait_state(srv, code, DONE, timeout=30)
    assert states_of(req)[-4:] == ["failed", "scheduled", "running", req["state"]], req
    assert planted(demo, uid) == 0
    assert scan_row(demo, code)["result"] == "clean"
    assert metric(srv, "lethe_residual_requests") == 0
    assert metric(srv, "lethe_residual_found_total") == 1
    rc, doc, text = lethe_scan(demo, "email=" + email, "user_id=%d" % uid)
    assert rc == 0 and doc["result"] == "clean", text
    stop_ok(srv)


def forget_a_table(demo, email):
    """A newsletter table naming the person by email, mapped, but left out of the account
    scope, which lists its tables."""
    key = ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
           if demo.backend == "postgresql" else "INTEGER PRIMARY KEY")
    execute(demo.db, "CREATE TABLE newsletter(id %s, email TEXT)" % key)
    execute(demo.db, "CREATE INDEX newsletter_email ON newsletter(email)")
    execute(demo.db, "INSERT INTO newsletter(email) VALUES (?), ('someone@else.example')",
            (email,))
    text = (demo.dir / "datamap.yaml").read_text()
    tables = re.findall(r"^  (\w+):\n    key:", text, re.M)
    assert "users" in tables and "invoices" in tables
    text = text.replace("\nscopes:\n", "\n  newsletter:\n    key: id\n    category: marketing\n"
                        "    links:\n      - identity: email\n        column: email\n"
                        "    erase: delete\n\nscopes:\n", 1)
    assert "    tables: all\n" in text
    text = text.replace("    tables: all\n", "    tables: [%s]\n" % ", ".join(tables), 1)
    (demo.dir / "datamap.yaml").write_text(text)


@BOTH
def test_scan_catches_a_table_the_scope_forgot(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_now(demo, fake_platform)
    (uid, email), = users(demo, 1)
    forget_a_table(demo, email)
    # Before: the forgotten table is named, outside the scope.
    rc, doc, text = lethe_scan(demo, "email=" + email)
    assert rc == 1, text
    assert {"table": "newsletter", "rows": 1, "kept": False, "outside": True} in doc["found"]
    srv = start(servers, demo, fake_platform, clock)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] == "failed", req
    assert req["reason"] == ("the residual scan found 1 row in newsletter (outside the "
                             "scope)"), req
    assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (uid,))[0][0] == 0
    scan = scan_row(demo, code)
    assert scan["detail"]["found"] == [{"table": "newsletter", "rows": 1, "kept": False,
                                        "outside": True}], scan
    assert metric(srv, "lethe_residual_found_total") == 1
    assert email not in srv.stderr()
    stop_ok(srv)


def test_erased_person_is_in_no_database_file(demo, fake_platform, servers, tmp_path):
    """A normal erasure through `lethe serve`: the app database, the state store and
    their WALs hold none of the person's identifiers; the scans row is clean and agrees
    with `lethe scan`.  SQLite only: it reads the database files byte by byte."""
    clock = Clock(tmp_path / "clock")
    configure_now(demo, fake_platform)
    (uid, _), = users(demo, 1)
    email = "zebediah.quillfeather-%d@residue.example" % uid
    name = "Zebediah Quillfeather-Oyelaran"
    handle = "zq_residue_handle_%d" % uid
    platform_uid = "998877665544%04d" % uid
    execute(demo.db, "UPDATE users SET email = ?, name = ? WHERE id = ?", (email, name, uid))
    execute(demo.db, "UPDATE channels SET username = ?, platform_user_id = ? WHERE project_id "
                     "IN (SELECT id FROM projects WHERE user_id = ?)", (handle, platform_uid, uid))
    secrets = [email, name, handle, platform_uid]
    assert all(s.encode() in file_bytes(demo.db) for s in secrets)  # the test can fail

    srv = start(servers, demo, fake_platform, clock)
    st, req = create(srv, {"email": email, "user_id": str(uid)})
    assert st == 201, req
    code = req["id"]
    req = wait_state(srv, code, FINAL, timeout=30)
    assert req["state"] in DONE, req
    scan = scan_row(demo, code)
    assert scan["result"] == "clean" and scan["rows"] == 0, scan
    assert scan["wal"] == "truncated" and scan["secure_delete"] == 1, scan
    rc, doc, text = lethe_scan(demo, "email=" + email, "user_id=%d" % uid)
    assert rc == 0, text
    assert (doc["result"], doc["rows"], doc["tables"]) == ("clean", 0, scan["tables"])
    data = file_bytes(demo.db) + file_bytes(demo.state_db)
    for s in secrets:
        assert s.encode() not in data, "%r is still in a database file" % s
    assert email not in srv.stderr()
    stop_ok(srv)
    data = file_bytes(demo.db) + file_bytes(demo.state_db)
    for s in secrets:
        assert s.encode() not in data, "%r is in a database file after stop" % s


@BOTH
def test_scan_off_is_skipped(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_now(demo, fake_platform, extra="proof:\n  scan: false\n")
    (uid, email), = users(demo, 1)
    plant_on_delete(demo, uid)
    srv = start(servers, demo, fake_platform, clock)
    st, req = create(srv, {"email": email, "user_id": str(uid)})
    assert st == 201, req
    req = wait_state(srv, req["id"], FINAL, timeout=30)
    # Not scanned: the planted row goes unnoticed, as the operator chose.
    assert req["state"] in DONE, req
    assert planted(demo, uid) == 1
    scan = scan_row(demo, req["id"])
    assert scan["result"] == "skipped" and scan["rows"] == 0, scan
    assert file_checks(demo, scan), scan
    assert metric(srv, "lethe_residual_found_total") == 0
    stop_ok(srv)


@BOTH
def test_lethe_scan_reads_only(demo):
    (uid, email), = users(demo, 1)
    before = data_of(demo)
    state_exists = demo.state_db.exists()
    rc, doc, text = lethe_scan(demo, "email=" + email)
    assert rc == 1 and doc["result"] == "residual" and doc["scope"] == "account", text
    assert {"table": "invoices", "rows": doc["kept"], "kept": True, "outside": False} \
        in doc["found"]
    assert email not in text
    code, out, err = run_lethe("scan", "-c", demo.config, "--id", "email=" + email)
    assert code == 1 and "residual" in out and "users" in out and email not in out + err
    assert data_of(demo) == before
    assert demo.state_db.exists() == state_exists
    # Nobody: clean.
    rc, doc, text = lethe_scan(demo, "email=nobody@nowhere.example")
    assert rc == 0 and doc["result"] == "clean" and doc["rows"] == 0, text
    # Usage errors: exit 2, nothing printed of the value.
    for args in (["--id", "email=" + email, "--scope", "nope"],
                 ["--id", "meta_asid=123456", "--scope", "account"],
                 ["--id", "bogus"], []):
        code, out, err = run_lethe("scan", "-c", demo.config, *args)
        assert code == 2, (args, code, out, err)
        assert email not in out + err
    code, out, _ = run_lethe("help")
    assert code == 0 and re.search(r"^  scan ", out, re.M), out


@BOTH
def test_demo_map_scans_clean_after_each_scope(demo):
    """The demo's map as it is: every scope's erasure leaves nothing the scan flags (the
    channel scope leaves the channel row and its automation rules by design)."""
    fb = query(demo.db, "SELECT platform_user_id FROM channels WHERE platform = 'facebook' "
                        "ORDER BY id LIMIT 1")[0][0]
    chan = query(demo.db, "SELECT id FROM channels WHERE platform = 'instagram' AND "
                          "platform_user_id <> ? ORDER BY id LIMIT 1", (fb,))[0][0]
    (uid, email), = users(demo, 1)
    cases = [("channel", "channel_id=%d" % chan), ("meta", "meta_asid=" + fb),
             ("account", "email=" + email)]
    for scope, ident in cases:
        rc, doc, text = lethe_scan(demo, ident, scope=scope)
        assert rc == 1 and doc["rows"] > 0, text  # the test can fail
        kind, value = ident.split("=", 1)
        demo.erase(scope, (kind, value))
        rc, doc, text = lethe_scan(demo, ident, scope=scope)
        assert rc == 0 and doc["result"] == "clean" and doc["rows"] == 0, (scope, text)


REVOKE_LINE = ("      revoke_token: access_token    # the token sent upstream to revoke "
               "the grant\n")


def anonymize_channels_in_meta(demo):
    """docs/datamap.md's erase_in example (test_erase_parts.py's seed 001 map): a Meta
    request anonymizes the channel row and keeps platform_user_id, the identity it is
    found by; the account scope still deletes it."""
    text = demo.datamap.read_text()
    assert text.count(REVOKE_LINE) == 1
    demo.datamap.write_text(text.replace(
        REVOKE_LINE, REVOKE_LINE + "    erase_in:\n      meta:\n        action: anonymize\n"
        "        columns: {username: null, status: {set: erased}}\n"))


@BOTH
def test_meta_request_anonymizing_a_linked_row_completes(demo, servers):
    """A row an anonymize part leaves in its target form is anonymized, not residual: the
    Meta request completes through `lethe serve`, and `lethe scan` agrees; the same row
    with a rewritten column put back is residual."""
    anonymize_channels_in_meta(demo)
    fb, chan = query(demo.db, "SELECT platform_user_id, id FROM channels WHERE platform = "
                              "'facebook' ORDER BY id LIMIT 1")[0]
    rc, doc, text = lethe_scan(demo, "meta_asid=" + fb, scope="meta")
    assert rc == 1 and doc["rows"] > 0 and doc["anonymized"] == 0, text

    srv = servers(demo)
    code = srv.deletion("facebook", sign_py(FB_SECRET, fb))["confirmation_code"]
    st, _ = srv.wait_completed(code, timeout=30)
    assert st["state"] == "completed", st
    row = query(demo.db, "SELECT username, status, access_token, platform_user_id FROM "
                         "channels WHERE id = ?", (chan,))
    assert row == [(None, "erased", None, fb)], row
    scan = scan_row(demo, code)
    assert scan["result"] == "clean" and scan["rows"] == 0, scan
    assert scan["detail"]["anonymized"] == 1, scan
    assert scan["detail"]["found"] == [{"table": "channels", "rows": 1, "kept": False,
                                        "outside": False, "anonymized": True}], scan
    stop_ok(srv)
    assert fb not in srv.stderr()
    rc, doc, text = lethe_scan(demo, "meta_asid=" + fb, scope="meta")
    assert rc == 0 and doc["result"] == "clean", text
    assert (doc["rows"], doc["anonymized"], doc["tables"]) == (0, 1, scan["tables"]), text
    code_, out, err = run_lethe("scan", "-c", demo.config, "--scope", "meta",
                                "--id", "meta_asid=" + fb)
    assert code_ == 0 and "anonymized" in out and fb not in out + err, out + err

    # A row planted under the anonymize part (a rewritten column not in target form).
    execute(demo.db, "UPDATE channels SET username = 'planted_handle' WHERE id = ?", (chan,))
    rc, doc, text = lethe_scan(demo, "meta_asid=" + fb, scope="meta")
    assert rc == 1 and doc["result"] == "residual", text
    assert (doc["rows"], doc["anonymized"]) == (1, 0), text
    assert doc["found"] == [{"table": "channels", "rows": 1, "kept": False,
                             "outside": False}], text
    assert "planted_handle" not in text


@BOTH
def test_lethe_scan_asks_for_a_scope_without_an_account_scope(demo):
    """--scope defaults to account only when the map has that scope."""
    (uid, email), = users(demo, 1)
    text = demo.datamap.read_text()
    assert text.count("\nscopes:\n  account:\n") == 1
    demo.datamap.write_text(text.replace("\nscopes:\n  account:\n",
                                         "\nscopes:\n  closure:\n"))
    code, out, err = run_lethe("scan", "-c", demo.config, "--id", "email=" + email)
    assert code == 2, (code, out, err)
    assert "has no scope 'account'" in err and "--scope" in err, err
    assert "closure, meta, channel" in err and email not in out + err, err
    rc, doc, text = lethe_scan(demo, "email=" + email, scope="closure")
    assert rc == 1 and doc["scope"] == "closure" and doc["rows"] > 0, text
