# SPDX-License-Identifier: MIT
"""A mail is acknowledged only once it is on the disk (docs/mail-intake.md, "Routing mail to
lethe"; docs/internals/mail-intake.md, "Delivery"), end to end, under strace.

Between the end of LMTP's DATA and its `250`, the server's last write to the state store's
WAL (the commit's frames) is followed by a sync of the WAL (fsync/fdatasync of
state.db-wal); a Maildir message's file is unlinked only after such a sync. Skipped where strace is missing or may not trace (scripts/deps test installs it).
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from mailin_e2e_helpers import (
    corpus,
    mailbox_env,  # noqa: F401
    person_values,
)
from serve_helpers import TSCALE

DEMO_OPTIONS = ["--users", "16", "--seed", "7"]


class Trace:
    """strace -f -y of the running server's syncs, sends, opens and unlinks."""

    def __init__(self, pid, path):
        if shutil.which("strace") is None:
            pytest.skip("strace is not installed (scripts/deps test)")
        self.path = path
        self.proc = subprocess.Popen(
            ["strace", "-f", "-y", "-qq", "-e",
             "trace=fsync,fdatasync,sendto,pwrite64,openat,unlink,unlinkat", "-s", "64",
             "-p", str(pid), "-o", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # strace writes nothing until attached; give it a bounded while to attach.
        time.sleep(1.0 * TSCALE)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace")
            pytest.skip("strace may not trace here: %s" % err.strip()[:200])

    def lines(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.path.read_text(errors="replace").splitlines()


# The server's 354 reply in a traced sendto: its string argument opens with it, or it
# follows an earlier reply of the same write. Not a bare "354 ": strace starts each
# line with the thread's id, and a thread 3354 or 12354 matched that.
SENT_354 = re.compile(r'sendto\(.*(?:"|\\n)354 ')


def synced_wal(line):
    return ("fsync(" in line or "fdatasync(" in line) and "state.db-wal" in line


def commit_synced(lines, tid):
    """True if thread @tid's last write to the WAL in @lines is followed by its sync of the
    WAL (a WAL restarted by a checkpoint is synced before its frames are written: not
    enough; the mailer's thread writes the WAL too, through its own connection)."""
    own = [ln for ln in lines if ln.split(" ", 1)[0] == tid]
    wrote = [i for i, ln in enumerate(own) if "pwrite64(" in ln and "state.db-wal" in ln]
    return bool(wrote) and any(synced_wal(ln) for ln in own[wrote[-1]:])


def test_lmtp_250_after_the_wal_is_synced(mailbox_env, tmp_path):
    mb = mailbox_env(0)
    # A first delivery, untraced: the WAL exists and is in use.
    code, text = mb.lmtp(corpus("seed000-account-deletion.eml", **person_values(mb.person())))
    assert code == 250, text
    for n in range(2):
        tr = Trace(mb.server.proc.pid, tmp_path / ("lmtp%d.txt" % n))
        code, text = mb.lmtp(corpus("seed000-account-deletion.eml",
                                    **person_values(mb.person())))
        assert code == 250, text
        time.sleep(0.5)
        lines = tr.lines()
        go = [i for i, ln in enumerate(lines) if SENT_354.search(ln)]
        ok = [i for i, ln in enumerate(lines) if "250 2.0.0" in ln]
        assert go and ok, "\n".join(lines[-40:])
        between = lines[go[-1]:ok[-1]]
        assert commit_synced(between, lines[ok[-1]].split(" ", 1)[0]), "\n".join(between)


def test_maildir_unlink_after_the_wal_is_synced(mailbox_env, tmp_path):
    mb = mailbox_env(0)
    mb.maildir(corpus("seed000-account-deletion.eml", **person_values(mb.person())))
    tr = Trace(mb.server.proc.pid, tmp_path / "maildir.txt")
    name = "durable-%d.lethe-test" % os.getpid()
    mb.maildir(corpus("seed000-account-deletion.eml", **person_values(mb.person())),
               name=name)
    lines = tr.lines()
    read = [i for i, ln in enumerate(lines) if "openat(" in ln and name in ln]
    gone = [i for i, ln in enumerate(lines) if "unlink" in ln and name in ln]
    assert read and gone, "\n".join(lines[-40:])
    between = lines[read[0]:gone[0]]
    assert commit_synced(between, lines[gone[0]].split(" ", 1)[0]), "\n".join(between[-40:])
