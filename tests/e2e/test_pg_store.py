# SPDX-License-Identifier: MIT
"""The state store on PostgreSQL (docs/internals/store.md, "PostgreSQL").

test_sq_pg_backend runs tests/unit/sq_pg_probe against a fresh database of
the session's PostgreSQL server: the backend of sq.h (store/sq_pg.c) itself,
typed parameters, results read back (text, integers, bytea, booleans,
NULL), INSERT OR IGNORE, the write lock between two connections, a lost
connection (an error, then a reconnect) and a password kept out of
messages.
"""
import subprocess
from pathlib import Path

from lethe_e2e import lethe_path


def probe_path():
    return str(Path(lethe_path()).parent / "tests" / "unit" / "sq_pg_probe")


def test_sq_pg_backend(pg_db):
    p = subprocess.run([probe_path(), pg_db], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[-1] == "OK"
    for check in ("insert or ignore", "blob", "bool", "c2 begin waits", "c2 write waits",
                  "lost", "reconnected", "redacted"):
        assert "ok " + check in lines
