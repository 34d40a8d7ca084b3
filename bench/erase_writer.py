#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/erase_writer.py - the "app" side of bench/erase's concurrent-writer run.

    erase_writer.py DB CHANNEL_ID RATE SYNCHRONOUS

Opens DB the way a typical Python app would (stdlib sqlite3, timeout=5.0,
autocommit mode), does one untimed warm-up insert, prints "ready" and waits
for a line on stdin ("go").  Then, until the next stdin line (or EOF), it
inserts one row into `messages` for channel CHANNEL_ID about RATE times a
second, each insert its own transaction:

    BEGIN IMMEDIATE; INSERT ...; COMMIT

DB may also be a postgresql:// URL: then the writer is an app on PostgreSQL
(its own libpq connection through bench/pg_common.py, application_name
lethe-bench-writer, the server's synchronous_commit; SYNCHRONOUS is ignored)
and each insert is `BEGIN; INSERT ...; COMMIT`.  A failure (a lock or
statement timeout, any server error) counts as an error like SQLite's.

Latency is measured from just before BEGIN to the return of COMMIT.  The
schedule is open-loop but never bursts to catch up after a stall: an insert
that is late starts at once and the next one is one period after it.  A
failure (SQLITE_BUSY after the 5 s busy timeout, or any other
sqlite3.Error) counts as an error and its latency is not recorded.

At the end one JSON object is printed on stdout:
    {"latencies_ms": [...], "errors": N, "error_messages": [...],
     "duration_s": S}
"""
import json
import os
import select
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_common  # noqa: E402


class PgApp:
    """The few calls main() makes on a sqlite3 connection, on a libpq one."""

    def __init__(self, url):
        self.c = pg_common.Conn(url, application_name="lethe-bench-writer")

    def execute(self, sql, params=()):
        return self.c.execute(sql, params)

    @property
    def in_transaction(self):
        return self.c.in_transaction()

    def close(self):
        self.c.close()


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: erase_writer.py DB CHANNEL_ID RATE SYNCHRONOUS\n")
        return 2
    db, channel, rate, sync = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    period = 1.0 / rate
    pg = pg_common.is_url(db)
    if pg:
        con = PgApp(db)
        sql = ("INSERT INTO messages (channel_id, sender_platform_id, sender_name, body, "
               "received_at) VALUES ($1, $2, $3, $4, $5)")
        errors_caught = (pg_common.PgError,)
    else:
        con = sqlite3.connect(db, timeout=5.0, isolation_level=None)
        if sync:
            con.execute("PRAGMA synchronous=%s" % sync)
        sql = ("INSERT INTO messages (channel_id, sender_platform_id, sender_name, body, "
               "received_at) VALUES (?, ?, ?, ?, ?)")
        errors_caught = (sqlite3.Error,)
    seq = 0

    def insert():
        nonlocal seq
        seq += 1
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        con.execute("BEGIN" if pg else "BEGIN IMMEDIATE")
        try:
            con.execute(sql, (channel, "bench-%d" % os.getpid(), "Bench Writer",
                              "concurrent insert %d" % seq, now))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    insert()  # warm-up: page cache, schema, statement cache
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline() == "":
        return 0

    lat, errors, messages = [], 0, []
    start = time.perf_counter()
    nxt = start
    stdin = sys.stdin.fileno()
    while True:
        wait = nxt - time.perf_counter()
        readable, _, _ = select.select([stdin], [], [], max(wait, 0.0))
        if readable:
            break  # "stop" or EOF
        if wait > 0:
            continue  # woke up on time; re-check the clock
        t0 = time.perf_counter()
        try:
            insert()
            lat.append((time.perf_counter() - t0) * 1000.0)
        except errors_caught as e:
            errors += 1
            if len(messages) < 10:
                messages.append("%.0f ms: %s" % ((time.perf_counter() - t0) * 1000.0, e))
        nxt = max(nxt, t0) + period
    duration = time.perf_counter() - start
    con.close()
    json.dump({"latencies_ms": lat, "errors": errors, "error_messages": messages,
               "duration_s": duration}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
