# SPDX-License-Identifier: MIT
"""A TTL sweep leaves nothing of the expired rows in the app database's files.

As for an erasure (test_erase_residue.py): secure_delete zeroes freed space in the
database file, but the WAL keeps the old images of every page written since it last
started over.  The sweeper of `lethe serve` therefore truncates the WAL after a pass
that deleted or anonymized rows, and leaves it alone after a pass that found nothing."""
import sqlite3
import time

import pytest

from serve_helpers import TSCALE, servers, set_config, stop_ok  # noqa: F401
from sweep_helpers import DAY, DEMO_NOW, fmt
from test_erase_residue import file_bytes
from test_serve_ops import metric
from test_sweep_serve import earliest_expiry, metrics, wait_metric

NAME = "Ottoline Wrexham-Quarrier"  # unique bytes to look for


def passes(srv):
    return metric(metrics(srv), "lethe_sweep_passes_total") or 0


def test_serve_sweep_leaves_no_copy_in_the_wal(demo, servers, tmp_path):  # noqa: F811
    """The app wrote an expiring comment moments before (its connection stays open, as
    an app's does): once the sweeper deleted it, neither app.db nor app.db-wal holds
    it; idle passes before that did not touch the WAL."""
    set_config(demo, r"^  enabled: false", "  enabled: true")
    clock = tmp_path / "clock"
    clock.write_text("%d\n" % earliest_expiry(demo.db))  # nothing expired yet
    srv = servers(demo, env={"LETHE_TEST_NOW": "file:%s" % clock})
    wait_metric(srv, lambda m: (metric(m, "lethe_sweep_passes_total") or 0) >= 1,
                "a first sweep pass")
    app = sqlite3.connect(str(demo.db), timeout=10)
    try:
        assert app.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cid = app.execute("SELECT id FROM comments WHERE created_at < ? ORDER BY created_at "
                          "LIMIT 1", (fmt(DEMO_NOW - 30 * DAY),)).fetchone()[0]
        app.execute("UPDATE comments SET body = ? WHERE id = ?", (NAME, cid))
        app.commit()
        # Idle passes (nothing expired) leave the WAL as it is.
        seen = passes(srv)
        wait_metric(srv, lambda m: metric(m, "lethe_sweep_passes_total") >= seen + 2,
                    "two idle passes")
        assert NAME.encode() in file_bytes(demo.db)  # the test can fail

        clock.write_text("%d\n" % DEMO_NOW)
        deadline = time.monotonic() + 15 * TSCALE
        while NAME.encode() in file_bytes(demo.db):
            if time.monotonic() > deadline:
                pytest.fail("the swept comment is still in app.db or app.db-wal:\n"
                            + srv.stderr())
            time.sleep(0.1)
        assert app.execute("SELECT count(*) FROM comments WHERE id = ?",
                           (cid,)).fetchone()[0] == 0
        assert (demo.dir / "app.db-wal").exists()  # the app's connection keeps it
    finally:
        app.close()
    stop_ok(srv)
