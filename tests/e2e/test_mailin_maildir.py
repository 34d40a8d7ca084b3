# SPDX-License-Identifier: MIT
"""The Maildir reader of the privacy mailbox: `lethe mail-intake --maildir DIR [--once]`
and `mailbox.maildir` inside `lethe serve` (docs/internals/mail-intake.md, "Front ends:
LMTP and Maildir"), end to end with the real binary.

What a message became is read from the command's counts and the state store's mail_in
table; a file is removed only once its mail is recorded.
"""
import json
import os
import shutil
import signal
import subprocess
import time

from lethe_e2e import lethe_env, lethe_path, run_lethe
from mailin_helpers import StoreLock, mail_in_rows, mailbox_config, message, wait_for
from serve_helpers import servers, stop_ok  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401

SENDER = "bob.maildir@example.org"


def maildir(tmp_path, name="md"):
    d = tmp_path / name
    for sub in ("new", "cur", "tmp"):
        (d / sub).mkdir(parents=True)
    return d


def put(d, name, raw, sub="new", mtime=None):
    """Write a message file, by default modified 10 s ago (a file modified less than 2 s
    ago may still be written: lethe leaves it for the next pass)."""
    p = d / sub / name
    p.write_bytes(raw)
    if mtime is None:
        mtime = time.time() - 10
    os.utime(p, (mtime, mtime))
    return p


def intake(demo, d, *extra, timeout=60, env=None):
    return run_lethe("mail-intake", "-c", demo.config, "--maildir", d, *extra,
                     timeout=timeout, env=env)


def files(d):
    return sorted(p.name for sub in ("new", "cur") for p in (d / sub).iterdir())


def test_once_delivers_oldest_first_and_removes_files(demo, smtp_sink, tmp_path):
    mailbox_config(demo, smtp_sink.port)
    d = maildir(tmp_path)
    now = time.time()
    # cur/ after new/ whatever the times; oldest first within each; dot files ignored.
    put(d, "c.old", message(sender=SENDER, body="c" * 30), sub="cur", mtime=now - 500)
    put(d, "b.newer", message(sender=SENDER, body="b" * 20), mtime=now - 100)
    put(d, "a.older", message(sender=SENDER, body="a" * 10), mtime=now - 200)
    put(d, ".hidden", message(sender=SENDER, body="hidden"))
    code, out, err = intake(demo, d, "--once", "--json")
    assert code == 0, (code, out, err)
    doc = json.loads(out)
    assert set(doc) == {"delivered", "duplicates", "refused", "failed", "outcomes"}
    assert doc["failed"] == 0 and doc["duplicates"] == 0
    assert doc["delivered"] + doc["refused"] == 3, doc
    assert sum(doc["outcomes"].values()) == 3, doc
    assert set(doc["outcomes"]) == {"request", "review", "status", "unmatched", "robot",
                                    "refused", "duplicate"}
    assert files(d) == [".hidden"], files(d)
    assert (d / "new" / ".hidden").exists()
    rows = mail_in_rows(demo)
    sizes = [len(message(sender=SENDER, body=b)) for b in ("a" * 10, "b" * 20, "c" * 30)]
    assert [r["bytes"] for r in rows] == sizes, rows
    assert all(r["via"] == "maildir" for r in rows)
    # A second pass: nothing left to do.
    code, out, err = intake(demo, d, "--once")
    assert code == 0, (code, out, err)
    assert "0 delivered" in out, out
    assert SENDER not in err and "bob" not in err, err


def test_file_modified_just_now_waits_for_the_next_pass(demo, smtp_sink, tmp_path):
    # A file written in place (an operator's cp, some fetchers) may be half-written while
    # it is young: it is left, not recorded nor removed, until it has settled.
    mailbox_config(demo, smtp_sink.port)
    d = maildir(tmp_path)
    put(d, "old", message(sender=SENDER, body="settled"))
    young = put(d, "young", message(sender=SENDER, body="half of it"), mtime=time.time())
    code, out, err = intake(demo, d, "--once", "--json")
    assert code == 0, (code, out, err)
    doc = json.loads(out)
    assert doc["delivered"] + doc["refused"] == 1 and doc["failed"] == 0, doc
    assert files(d) == ["young"], files(d)
    assert "still being written" in err, err
    assert [r["bytes"] for r in mail_in_rows(demo)] == [len(message(sender=SENDER,
                                                                     body="settled"))]
    # Settled (its writer done 2 s ago): read at the next pass.
    os.utime(young, (time.time() - 3, time.time() - 3))
    code, out, err = intake(demo, d, "--once", "--json")
    assert code == 0, (code, out, err)
    assert files(d) == []
    assert len(mail_in_rows(demo)) == 2


def test_bad_dirs_and_config(demo, smtp_sink, tmp_path):
    # No mailbox: section: a configuration error (exit 3).
    d = maildir(tmp_path)
    code, out, err = intake(demo, d, "--once")
    assert code == 3, (code, out, err)
    assert "mailbox" in err
    mailbox_config(demo, smtp_sink.port)
    code, out, err = intake(demo, tmp_path / "missing", "--once")
    assert code == 1 and "missing" in err, (code, out, err)
    plain = tmp_path / "plain"
    plain.mkdir()
    code, out, err = intake(demo, plain, "--once")
    assert code == 1 and "not a Maildir" in err, (code, out, err)
    code, out, err = run_lethe("mail-intake", "-c", demo.config, "--once")
    assert code == 2 and "--maildir" in err, (code, out, err)
    code, out, err = intake(demo, d, "--json")
    assert code == 2, (code, out, err)
    assert mail_in_rows(demo) == []


def no_gmime(tmp_path):
    """An environment where GMime cannot be loaded: a library of its soname without its
    functions comes first on LD_LIBRARY_PATH, so every parse fails temporarily (the
    state store works: the failure is the message's, during the pass)."""
    lib = tmp_path / "no-gmime"
    lib.mkdir(exist_ok=True)
    shutil.copyfile("/lib/x86_64-linux-gnu/libutil.so.1", lib / "libgmime-3.0.so.0")
    return {"LD_LIBRARY_PATH": str(lib)}


def test_temporary_failure_leaves_the_file_then_retry(demo, smtp_sink, tmp_path):
    mailbox_config(demo, smtp_sink.port)
    d = maildir(tmp_path)
    put(d, "m1", message(sender=SENDER))
    code, out, err = intake(demo, d, "--once", "--json", env=no_gmime(tmp_path))
    # The store opened; the message failed in the pass: counted, exit 1, the file stays.
    assert code == 1, (code, out, err)
    doc = json.loads(out)
    assert doc["failed"] == 1 and doc["delivered"] == 0 and doc["refused"] == 0, doc
    assert "stays for the next pass" in err, err
    assert files(d) == ["m1"]
    assert mail_in_rows(demo) == []
    code, out, err = intake(demo, d, "--once", "--json")
    assert code == 0, (code, out, err)
    assert json.loads(out)["failed"] == 0
    assert files(d) == []
    assert len(mail_in_rows(demo)) == 1



def test_locked_store_fails_at_open_and_the_file_stays(demo, smtp_sink, tmp_path):
    """The state store's write lock held by another process: `lethe mail-intake` cannot
    open it (its schema check is a write transaction) and gives up after its 10 s, before
    any message is read: exit 1, the file stays, and a later pass stores it once."""
    mailbox_config(demo, smtp_sink.port)
    d = maildir(tmp_path)
    # Create the state store first (an empty pass), then hold its write lock.
    code, out, err = intake(demo, d, "--once")
    assert code == 0, (code, out, err)
    put(d, "m1", message(sender=SENDER))
    lock = StoreLock(demo)
    try:
        code, out, err = intake(demo, d, "--once", "--json")
    finally:
        lock.release()
    # Exit 1 and the file stays: opening the state store (its schema check is a write
    # transaction) waits its 10 s for the lock and gives up before any message is read.
    assert code == 1, (code, out, err)
    doc = json.loads(out)
    assert doc == {"error": {"code": "state",
                             "message": "state store: begin: database is locked"}}, doc
    assert files(d) == ["m1"]
    assert mail_in_rows(demo) == []
    code, out, err = intake(demo, d, "--once", "--json")
    assert code == 0, (code, out, err)
    assert files(d) == []
    assert len(mail_in_rows(demo)) == 1

def test_failing_file_warned_at_a_limited_rate(demo, smtp_sink, tmp_path):
    # A file that fails on every pass (every second here) is not warned about every pass.
    mailbox_config(demo, smtp_sink.port, poll="1s")
    d = maildir(tmp_path)
    put(d, "m1", message(sender=SENDER))
    env = lethe_env(no_gmime(tmp_path))
    errlog = tmp_path / "intake.stderr"
    with open(errlog, "wb") as ef:
        p = subprocess.Popen([lethe_path(), "mail-intake", "-c", str(demo.config),
                              "--maildir", str(d)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=ef, env=env)
        try:
            assert "reading the Maildir" in p.stdout.readline().decode()
            time.sleep(8)  # about 8 passes, each failing at once
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=20) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    log = errlog.read_text()
    n = log.count("stays for the next pass")
    assert 1 <= n <= 3, log
    assert files(d) == ["m1"] and mail_in_rows(demo) == []


def test_second_reader_refused_while_first_runs(demo, smtp_sink, tmp_path):
    mailbox_config(demo, smtp_sink.port, poll="1s")
    d = maildir(tmp_path)
    first = subprocess.Popen([lethe_path(), "mail-intake", "-c", str(demo.config),
                              "--maildir", str(d)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=lethe_env(None))
    try:
        line = first.stdout.readline().decode()
        assert "reading the Maildir" in line, (line, first.poll())
        code, out, err = intake(demo, d, "--once")
        assert code == 1 and "another lethe reads it" in err, (code, out, err)
        # The running one reads what arrives.
        put(d, "late", message(sender=SENDER))
        assert wait_for(lambda: files(d) == [], timeout=20), files(d)
        assert len(mail_in_rows(demo)) == 1
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # Once it is gone, the lock is free.
    code, out, err = intake(demo, d, "--once")
    assert code == 0, (code, out, err)


def test_serve_reads_the_maildir(servers, demo, smtp_sink, tmp_path):
    d = maildir(tmp_path)
    mailbox_config(demo, smtp_sink.port, maildir=str(d), poll="1s")
    srv = servers(demo)
    assert "reading the Maildir" in srv.stderr()
    # serve holds the Maildir: a mail-intake on it is refused.
    code, out, err = intake(demo, d, "--once")
    assert code == 1 and "another lethe reads it" in err, (code, out, err)
    put(d, "x1", message(sender=SENDER))
    put(d, "x2", message(sender=SENDER, body="second"), sub="cur")
    assert wait_for(lambda: files(d) == [], timeout=20), files(d)
    rows = mail_in_rows(demo)
    assert len(rows) == 2 and all(r["via"] == "maildir" for r in rows), rows
    # A temporary failure (the state store locked) leaves the file for the next pass.
    lock = StoreLock(demo)
    try:
        put(d, "x3", message(sender=SENDER, body="third"))
        assert wait_for(lambda: "stays for the next pass" in srv.stderr(), timeout=30)
        assert files(d) == ["x3"]
    finally:
        lock.release()
    assert wait_for(lambda: files(d) == [], timeout=20), files(d)
    assert len(mail_in_rows(demo)) == 3
    assert SENDER not in srv.stderr()
    stop_ok(srv)
