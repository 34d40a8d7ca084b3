# SPDX-License-Identifier: MIT
"""Helpers of the TTL sweep tests (tests/e2e/test_sweep_*.py).

The demo's rows are dated before DEMO_NOW (src/demo/demo.c DEMO_BASE), so the
tests run lethe with the test-only clock LETHE_TEST_NOW (epoch seconds, or
file:PATH re-read at every call) set around it.
"""
import calendar
import json
import re
import time

from lethe_e2e import query, run_lethe

DEMO_NOW = 1792627200  # 2026-10-22 00:00:00 UTC, the demo's "now"
DAY = 86400

# The demo data map's TTLs: table -> (time column, seconds, extra SQL condition).
DEMO_TTLS = {
    "media": ("created_at", 30 * DAY, "cached = 1"),
    "messages": ("received_at", 30 * DAY, "1 = 1"),
    "comments": ("created_at", 30 * DAY, "1 = 1"),
    "publishing_logs": ("created_at", 30 * DAY, "1 = 1"),
    "preview_links": ("created_at", 1 * DAY, "1 = 1"),
    "request_logs": ("created_at", 30 * DAY, "1 = 1"),
}


def fmt(t):
    """Epoch seconds as the demo's time text, "YYYY-MM-DD HH:MM:SS" UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def parse(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


def clock_env(now):
    return {"LETHE_TEST_NOW": str(now)}


def expired_ids(db, table, now):
    """Ids of @table's rows the demo map's ttl expires at @now (strictly older)."""
    col, after, cond = DEMO_TTLS[table]
    return {r[0] for r in query(db, 'SELECT id FROM "%s" WHERE "%s" < ? AND %s'
                                % (table, col, cond), (fmt(now - after),))}


def sweep(demo, now, *extra, expect=0):
    """`lethe sweep --once --json` at test time @now; (parsed JSON or None, stderr)."""
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json", *extra,
                               env=clock_env(now))
    assert code == expect, "sweep exited %d (wanted %d): %s\n%s" % (code, expect, err, out)
    return (json.loads(out) if code == 0 else None), err


def rows_of(summary):
    return {t["table"]: t["rows"] for t in summary["tables"]}


def edit(path, pattern, replacement):
    """One regex substitution in a file (must match)."""
    text = path.read_text()
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert n == 1, "pattern %r not in %s" % (pattern, path)
    path.write_text(new)
