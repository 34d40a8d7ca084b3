# SPDX-License-Identifier: MIT
"""The anonymize key is never silently replaced.

The state store records the key's fingerprint.  With the key file moved away (or
LETHE_ANONYMIZE_KEY unset where it was used), or another key, every command that opens
the state store refuses to start (exit 3), says what to restore, writes no new key and
changes nothing; with the key restored, pending requests sealed under it complete, and
requests an older lethe marked failed (their identity could not be opened) run again."""
import os
import sqlite3
import time

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    SECRETS_ENV,
    ig_id,
    meta_requests,
    person_rows,
    servers,
    sign_py,
    stop_ok,
)

OTHER_KEY = "cd" * 32


def refused(demo, command, *args, env=None):
    """Run a command that must refuse the key: exit 3, one clear line, nothing written."""
    e = dict(SECRETS_ENV)
    e.update(env or {})
    code, out, err = demo.lethe(command, *args, env=e, timeout=30)
    assert code == 3, (command, code, out, err)
    assert "anonymize key" in err and "fingerprint" in err, err
    assert "state.db" in err, err
    assert OTHER_KEY not in err and OTHER_KEY[:16] not in err
    return err


def pending_request(demo, servers, uid):
    """A request recorded and sealed but not erased: the app database is write-locked
    while lethe serve takes it, then the server is killed."""
    con = sqlite3.connect(str(demo.db), timeout=10)
    con.execute("BEGIN IMMEDIATE")
    try:
        srv = servers(demo)
        code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
        deadline = time.monotonic() + 10
        while not [r for r in meta_requests(demo) if r[1] == code]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        srv.kill()
    finally:
        con.rollback()
        con.close()
    rows = meta_requests(demo)
    assert len(rows) == 1 and rows[0][3] in ("received", "running"), rows
    return code


def test_serve_refuses_a_lost_or_other_anonymize_key(demo, servers, tmp_path):
    uid = ig_id(1)
    assert person_rows(demo.db, "instagram", uid)["channels"]
    code = pending_request(demo, servers, uid)
    key = demo.key_file.read_text()
    rows = meta_requests(demo)

    # Moved away: refused, no new key written, the request untouched.
    moved = tmp_path / "anonymize.key.saved"
    os.rename(demo.key_file, moved)
    err = refused(demo, "serve")
    assert str(demo.key_file) in err and "LETHE_ANONYMIZE_KEY" in err, err
    assert "missing" in err and "restore" in err, err
    assert not demo.key_file.exists()
    assert meta_requests(demo) == rows
    assert person_rows(demo.db, "instagram", uid)["channels"]

    # Another key, in the file or in the variable: refused.
    demo.key_file.write_text(OTHER_KEY + "\n")
    err = refused(demo, "serve")
    assert "not the one" in err and str(demo.key_file) in err, err
    os.unlink(demo.key_file)
    err = refused(demo, "serve", env={"LETHE_ANONYMIZE_KEY": OTHER_KEY})
    assert "environment variable LETHE_ANONYMIZE_KEY" in err, err
    assert not demo.key_file.exists()
    assert meta_requests(demo) == rows

    # Restored: it starts and the pending request completes.
    os.rename(moved, demo.key_file)
    assert demo.key_file.read_text() == key
    srv = servers(demo)
    st, _ = srv.wait_completed(code, timeout=15)
    assert st["no_data"] is False
    assert not any(person_rows(demo.db, "instagram", uid).values())
    stop_ok(srv)


def test_serve_retries_requests_failed_under_another_key(demo, servers):
    """A request an older lethe marked failed (its identity could not be opened under a
    replaced key) still holds its sealed identity: with the right key it runs again."""
    uid = ig_id(2)
    code = pending_request(demo, servers, uid)
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    con.execute("UPDATE requests SET state = 'failed', completed_at = 1")
    con.commit()
    con.close()
    srv = servers(demo)
    st, _ = srv.wait_completed(code, timeout=15)
    assert st["no_data"] is False
    assert not any(person_rows(demo.db, "instagram", uid).values())
    stop_ok(srv)


def test_cli_commands_refuse_a_lost_anonymize_key(demo, snapshot, tmp_path):
    code, out, err = demo.lethe("erase", "--scope", "account", "--id",
                                "email=user1@example.com", "--quiet")
    assert code == 0, err
    before = snapshot(demo.db)
    ids = tmp_path / "ids.txt"
    ids.write_text("17841400000000001\n")
    moved = tmp_path / "anonymize.key.saved"
    os.rename(demo.key_file, moved)
    for cmd in (["erase", "--scope", "account", "--id", "email=user2@example.com"],
                ["sweep", "--once"],
                ["import-meta-ids", "--app", "instagram", str(ids)],
                ["disconnect", "--channel", "1", "--no-wait"],
                ["jobs"]):
        err = refused(demo, *cmd)
        assert "missing" in err and str(demo.key_file) in err, (cmd, err)
        assert not demo.key_file.exists(), cmd
    demo.key_file.write_text(OTHER_KEY + "\n")
    err = refused(demo, "erase", "--scope", "account", "--id", "email=user2@example.com")
    assert "not the one" in err, err
    assert snapshot(demo.db) == before
    assert meta_requests(demo) == []

    os.replace(moved, demo.key_file)
    code, out, err = demo.lethe("erase", "--scope", "account", "--id",
                                "email=user2@example.com", "--quiet")
    assert code == 0, err
    assert snapshot(demo.db) != before


def test_fresh_state_store_still_creates_a_key(demo):
    """No state store and no key yet: the first command creates both, as before."""
    os.unlink(demo.key_file)
    for p in demo.state_db.parent.glob("state.db*"):
        p.unlink()
    code, out, err = demo.lethe("erase", "--scope", "account", "--id",
                                "email=user1@example.com", "--quiet")
    assert code == 0, err
    assert demo.key_file.exists()
    code, out, err = demo.lethe("jobs")
    assert code == 0, err


def test_store_of_an_older_lethe_refuses_a_lost_key(demo, tmp_path):
    """A state store an older lethe filled records no fingerprint, yet holds jobs made
    with the key: a missing key is refused all the same (exit 3), no key is written; the
    key restored, it starts and its fingerprint is recorded from then on."""
    code, out, err = demo.lethe("erase", "--scope", "account", "--id",
                                "email=user1@example.com", "--quiet")
    assert code == 0, err
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    con.execute("DELETE FROM key_fingerprints WHERE name = 'anonymize'")
    con.commit()
    con.close()
    moved = tmp_path / "anonymize.key.saved"
    os.rename(demo.key_file, moved)
    err = refused(demo, "jobs")
    assert "missing" in err and "restore" in err and str(demo.key_file) in err, err
    assert not demo.key_file.exists()

    os.replace(moved, demo.key_file)
    code, out, err = demo.lethe("jobs")
    assert code == 0, err
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    recorded = con.execute("SELECT count(*) FROM key_fingerprints WHERE name = 'anonymize'")
    assert recorded.fetchone()[0] == 1
    con.close()


def test_lost_outbox_key_is_refused_not_replaced(demo, tmp_path):
    """The outbox key likewise: once a disconnect sealed jobs under it, a missing key
    file is refused (exit 3, what to restore) by serve and disconnect, and no new key
    file is written; restored, disconnects work again."""
    outbox_key = demo.state_db.parent / "outbox.key"
    code, out, err = demo.lethe("disconnect", "--channel", "1", "--no-wait", env=SECRETS_ENV)
    assert code in (0, 4), err
    assert outbox_key.exists()
    moved = tmp_path / "outbox.key.saved"
    os.rename(outbox_key, moved)
    for cmd in (["disconnect", "--channel", "2", "--no-wait"], ["serve"]):
        code, out, err = demo.lethe(*cmd, env=SECRETS_ENV, timeout=30)
        assert code == 3, (cmd, code, err)
        assert "outbox key is missing" in err and str(outbox_key) in err, (cmd, err)
        assert "restore" in err, err
        assert not outbox_key.exists(), cmd
    os.replace(moved, outbox_key)
    code, out, err = demo.lethe("disconnect", "--channel", "2", "--no-wait", env=SECRETS_ENV)
    assert code in (0, 4), err
