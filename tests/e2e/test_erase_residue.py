# SPDX-License-Identifier: MIT
"""An erasure leaves nothing of the person in the app database's files.

secure_delete zeroes freed space in the database file, but in WAL mode the WAL keeps
the old images of every page written since it last started over: the person's rows as
the app last wrote them, and as lethe found them.  A job therefore ends with the WAL
checkpointed and truncated."""
import sqlite3
import subprocess

NAME = "Zebulon Quintavalle-Marker"  # unique bytes to look for


def file_bytes(db):
    """The bytes of the database's files, read by another process: closing a file this
    process opened would drop the POSIX locks of its own SQLite connection on it."""
    out = b""
    for suffix in ("", "-wal", "-journal"):
        p = db.parent / (db.name + suffix)
        if p.exists():
            out += subprocess.run(["cat", str(p)], stdout=subprocess.PIPE, check=True,
                                  timeout=30).stdout
    return out


def test_erase_leaves_no_copy_in_the_wal(demo):
    """The app wrote the person's row moments before (its connection stays open, as an
    app's does): after `lethe erase`, neither app.db nor app.db-wal holds the row."""
    email = "user4@example.com"
    app = sqlite3.connect(str(demo.db), timeout=10)
    try:
        assert app.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        app.execute("UPDATE users SET name = ? WHERE email = ?", (NAME, email))
        app.commit()
        assert NAME.encode() in file_bytes(demo.db)  # the test can fail
        assert (demo.dir / "app.db-wal").exists()
        code, out, err = demo.lethe("erase", "--scope", "account", "--id",
                                    "email=" + email, "--quiet")
        assert code == 0, err
        assert app.execute("SELECT count(*) FROM users WHERE email = ?",
                           (email,)).fetchone()[0] == 0
        data = file_bytes(demo.db)
        assert (demo.dir / "app.db-wal").exists()  # the app's connection keeps it
        assert NAME.encode() not in data
        assert email.encode() not in data
    finally:
        app.close()
