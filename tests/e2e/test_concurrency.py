# SPDX-License-Identifier: MIT
"""The app keeps writing while lethe erases: its writes get through (lethe's write
transactions are short and it yields), and rows of other people stay."""
import json
import sqlite3
import threading
import time

from lethe_e2e import SANITIZED, SLOW, check_sanitizer, popen_lethe, query, rows_by_table

HEAVY_ROWS = 5000 if SANITIZED else 20000
DEMO_OPTIONS = ["--users", "5", "--seed", "13", "--heavy", str(HEAVY_ROWS)]
MIN_INSERTS = 50


class Writer(threading.Thread):
    """Inserts messages for @channel, one autocommit INSERT at a time, until stopped."""

    def __init__(self, db_path, channel):
        super().__init__(daemon=True)
        self.db_path, self.channel = str(db_path), channel
        self.stop = threading.Event()
        self.ids, self.errors, self.max_wait = [], [], 0.0
        self.erasing = threading.Event()    # set while lethe runs
        self.during = 0                     # inserts started while lethe ran

    def run(self):
        con = sqlite3.connect(self.db_path, timeout=5, isolation_level=None)
        try:
            n = 0
            while not self.stop.is_set() or (len(self.ids) < MIN_INSERTS and not self.errors
                                              and n < 100 * MIN_INSERTS):
                n += 1
                t0 = time.monotonic()
                erasing = self.erasing.is_set()
                try:
                    cur = con.execute(
                        "INSERT INTO messages (channel_id, sender_platform_id, sender_name, "
                        "body, received_at) VALUES (?, ?, ?, ?, datetime('now'))",
                        (self.channel, "concurrent-%d" % n, "Concurrent Writer",
                         "written while lethe erases (%d)" % n))
                    self.ids.append(cur.lastrowid)
                    if erasing:
                        self.during += 1
                except sqlite3.Error as e:
                    self.errors.append(repr(e))
                self.max_wait = max(self.max_wait, time.monotonic() - t0)
                time.sleep(0.002)
        finally:
            con.close()


def test_app_writes_during_erase(demo):
    other = query(demo.db, "SELECT c.id FROM channels c JOIN projects p ON p.id = c.project_id "
                  "JOIN users u ON u.id = p.user_id WHERE u.email = 'user2@example.com' "
                  "ORDER BY c.id LIMIT 1")[0][0]
    before_other = query(demo.db, "SELECT * FROM messages WHERE channel_id = ? ORDER BY id",
                         (other,))
    planned = rows_by_table(demo.plan("account", ("email", "heavy@example.com")))

    w = Writer(demo.db, other)
    w.erasing.set()
    w.start()
    p = popen_lethe(*demo.erase_cmd("account", ("email", "heavy@example.com"), batch=50))
    try:
        out, err = p.communicate(timeout=120 * SLOW)
        w.erasing.clear()
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        w.stop.set()
        w.join(timeout=60 * SLOW)
    assert not w.is_alive()
    check_sanitizer(err)
    assert p.returncode == 0, "erase failed (%d): %s" % (p.returncode, err)
    summary = json.loads(out)

    assert not w.errors, "app writes failed during the erasure: %s" % w.errors[:5]
    assert len(w.ids) >= MIN_INSERTS
    assert w.during >= 1, "the app wrote only %d rows while lethe ran" % w.during
    print("%d app inserts (%d during the erasure), longest %.1f ms; erase took %.0f ms in "
          "%d transactions" % (len(w.ids), w.during, w.max_wait * 1000, summary["elapsed_ms"],
                               summary["transactions"]))
    # Every inserted row is still there, and so is everything user2 had.
    got = {r[0] for r in query(demo.db, "SELECT id FROM messages WHERE channel_id = ? AND "
                                        "sender_name = 'Concurrent Writer'", (other,))}
    assert got == set(w.ids)
    after_other = query(demo.db, "SELECT * FROM messages WHERE channel_id = ? AND "
                        "sender_name != 'Concurrent Writer' ORDER BY id", (other,))
    assert after_other == before_other
    # The erasure itself is complete and counted exactly.
    assert rows_by_table(summary) == planned
    assert query(demo.db, "SELECT count(*) FROM users WHERE email = 'heavy@example.com'") \
        == [(0,)]
