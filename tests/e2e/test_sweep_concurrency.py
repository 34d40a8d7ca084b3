# SPDX-License-Identifier: MIT
"""A TTL sweep running while an erasure runs: both complete, and every row the
two of them remove is counted exactly once."""
import json
import time

from lethe_e2e import SANITIZED, SLOW, popen_lethe, query, snapshot
from sweep_helpers import DEMO_NOW, DEMO_TTLS, clock_env, expired_ids, fmt

HEAVY_ROWS = 4000 if SANITIZED else 30000
DEMO_OPTIONS = ["--users", "5", "--seed", "13", "--heavy", str(HEAVY_ROWS)]
EMAIL = "heavy@example.com"

# The heavy person's rows of each TTL table (the account scope's links).
PERSON_SQL = {
    "media": "SELECT id FROM media WHERE project_id IN (%s)",
    "preview_links": "SELECT id FROM preview_links WHERE project_id IN (%s)",
    "messages": "SELECT id FROM messages WHERE channel_id IN "
                "(SELECT id FROM channels WHERE project_id IN (%s))",
    "comments": "SELECT id FROM comments WHERE channel_id IN "
                "(SELECT id FROM channels WHERE project_id IN (%s))",
    "publishing_logs": "SELECT id FROM publishing_logs WHERE channel_id IN "
                       "(SELECT id FROM channels WHERE project_id IN (%s))",
}
PROJECTS = "SELECT p.id FROM projects p JOIN users u ON u.id = p.user_id WHERE u.email = ?"


def person_ids(db, table):
    return {r[0] for r in query(db, PERSON_SQL[table] % PROJECTS, (EMAIL,))}


def finish(p, what):
    out, err = p.communicate(timeout=120 * SLOW)
    assert p.returncode == 0, "%s exited %d: %s" % (what, p.returncode, err)
    return json.loads(out)


def test_sweep_during_erasure(demo):
    now = DEMO_NOW + 20 * 86400  # many of the person's rows have expired too
    before = snapshot(demo.db)
    person = {t: person_ids(demo.db, t) for t in PERSON_SQL}
    expired = {t: expired_ids(demo.db, t, now) for t in DEMO_TTLS}
    assert sum(len(person[t] & expired[t]) for t in PERSON_SQL) > 100

    erase = popen_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                        "email=" + EMAIL, "--json", "--no-progress", "--batch", "50",
                        env=clock_env(now))
    time.sleep(0.05)
    sweep = popen_lethe("sweep", "-c", demo.config, "--once", "--json", env=clock_env(now))
    swept = finish(sweep, "sweep")
    erased = finish(erase, "erase")
    assert erased["state"] == "completed_with_retention"
    swept_rows = {t["table"]: t["rows"] for t in swept["tables"]}
    erased_rows = {s["table"]: s["rows"] for s in erased["steps"]}

    after = snapshot(demo.db)
    for t in PERSON_SQL:
        gone = person[t] | expired[t]
        assert set(after[t]) == set(before[t]) - gone, t
        # Each removed row counted by exactly one of them.
        assert erased_rows[t] + swept_rows[t] == len(gone), t
    # request_logs: the erasure anonymizes, the sweep deletes what expired.
    left = set(after["request_logs"])
    assert not (left & expired["request_logs"])
    assert query(demo.db, "SELECT count(*) FROM request_logs WHERE user_id IN "
                          "(SELECT id FROM users WHERE email = ?)", (EMAIL,)) == [(0,)]
    # Nothing expired is left anywhere; the media of removed cached rows are gone.
    for t, (col, after_s, cond) in DEMO_TTLS.items():
        assert query(demo.db, 'SELECT count(*) FROM "%s" WHERE "%s" < ? AND %s'
                     % (t, col, cond), (fmt(now - after_s),)) == [(0,)], t
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]
