# SPDX-License-Identifier: MIT
"""`lethe sweep --once [--dry-run]`: exactly which rows go and stay, media files,
anonymize TTLs, epoch-seconds columns, legal holds ending, the missing-index
warning and bad configuration (the test clock LETHE_TEST_NOW drives time).  Every test
runs on both backends (the backend fixture: app database and state store on SQLite,
then on PostgreSQL)."""
import json

import pytest

from lethe_e2e import (HASH_RE, TEN_YEARS, execute, insert, media_files, query, run_lethe,
                       snapshot)
from sweep_helpers import (
    DAY,
    DEMO_NOW,
    DEMO_TTLS,
    clock_env,
    edit,
    expired_ids,
    fmt,
    parse,
    rows_of,
    sweep,
)

pytestmark = pytest.mark.usefixtures("backend")


def insert_message(db, received_at, body):
    return insert(db, "INSERT INTO messages (channel_id, sender_platform_id, sender_name, "
                      "body, received_at) VALUES (1, 'x', 'Boundary', ?, ?)",
                  (body, received_at))


def test_sweep_boundary_rows_exact(demo):
    now = DEMO_NOW + 5 * DAY + 3661
    cutoff = now - 30 * DAY
    before_row = insert_message(demo.db, fmt(cutoff - 1), "one second too old")
    at_row = insert_message(demo.db, fmt(cutoff), "exactly at the cutoff")
    after_row = insert_message(demo.db, fmt(cutoff + 1), "one second young enough")
    before = snapshot(demo.db)
    expired = {t: expired_ids(demo.db, t, now) for t in DEMO_TTLS}
    assert before_row in expired["messages"]
    assert all(len(expired[t]) > 0 for t in DEMO_TTLS), expired

    summary, _ = sweep(demo, now)
    assert rows_of(summary) == {t: len(ids) for t, ids in expired.items()}
    after = snapshot(demo.db)
    for table, rows in before.items():
        gone = set(rows) - set(after[table])
        assert gone == expired.get(table, set()), table
        for k in after[table]:
            assert after[table][k] == rows[k], (table, k)  # survivors untouched
    ids = set(after["messages"])
    assert before_row not in ids
    assert at_row in ids and after_row in ids  # the exact cutoff second stays

    # One second later the row at the cutoff goes too, and only it.
    summary, _ = sweep(demo, now + 1)
    assert rows_of(summary)["messages"] == 1
    ids = set(snapshot(demo.db)["messages"])
    assert at_row not in ids and after_row in ids


def test_sweep_when_condition_removes_cached_media_only(demo):
    now = DEMO_NOW
    cutoff = fmt(now - 30 * DAY)
    old = query(demo.db, "SELECT id, storage_key, cached FROM media WHERE created_at < ?",
                (cutoff,))
    cached = {r[0]: r[1] for r in old if r[2] == 1}
    uncached = {r[0]: r[1] for r in old if r[2] != 1}
    assert cached and uncached, "the demo should have old media both cached and not"
    files_before = media_files(demo.media)
    assert set(cached.values()) <= files_before

    summary, _ = sweep(demo, now)
    media = [t for t in summary["tables"] if t["table"] == "media"][0]
    assert media["rows"] == len(cached)
    assert media["media_files"] == len(cached)
    left = {r[0] for r in query(demo.db, "SELECT id FROM media")}
    assert not (left & set(cached))
    assert set(uncached) <= left
    files_after = media_files(demo.media)
    assert files_after == files_before - set(cached.values())
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]


def test_sweep_dry_run_changes_nothing(demo):
    now = DEMO_NOW
    before = snapshot(demo.db)
    files = media_files(demo.media)
    code, out, err = run_lethe("sweep", "-c", demo.config, "--dry-run", "--json",
                               env=clock_env(now))
    assert code == 0, err
    dry = json.loads(out)
    assert dry["dry_run"] is True
    assert snapshot(demo.db) == before
    assert media_files(demo.media) == files
    assert dry["transactions"] == 0
    assert rows_of(dry) == {t: len(expired_ids(demo.db, t, now)) for t in DEMO_TTLS}
    # Backlog and lag as measured before the sweep: the expired rows and the oldest one.
    for t in dry["tables"]:
        col, after, cond = DEMO_TTLS[t["table"]]
        oldest = query(demo.db, 'SELECT min("%s") FROM "%s" WHERE "%s" < ? AND %s'
                       % (col, t["table"], col, cond), (fmt(now - after),))[0][0]
        assert t["backlog"] == t["rows"]
        assert t["lag_seconds"] == now - after - parse(oldest)
    real, _ = sweep(demo, now)
    assert rows_of(real) == rows_of(dry)
    assert [t["media_files"] for t in real["tables"] if t["table"] == "media"] == \
        [t["media_files"] for t in dry["tables"] if t["table"] == "media"]
    code, out, err = run_lethe("sweep", "-c", demo.config, "--dry-run", env=clock_env(now))
    assert code == 0 and "dry run" in out


def test_sweep_anonymize_ttl(demo):
    # request_logs: anonymize after 30 days with the table's erase columns, then with own ones.
    edit(demo.datamap, r"ttl: \{column: created_at, after: 30d\}\n(\s*)\n(\s*)contacts:",
         "ttl: {column: created_at, after: 30d, action: anonymize}\n\\1\n\\2contacts:")
    now = DEMO_NOW
    expired = expired_ids(demo.db, "request_logs", now)
    before = snapshot(demo.db)["request_logs"]
    summary, _ = sweep(demo, now)
    assert rows_of(summary)["request_logs"] == len(expired)
    after = snapshot(demo.db)["request_logs"]
    assert set(after) == set(before)  # anonymized, not deleted
    cols = ["id", "user_id", "ip", "user_agent", "path", "created_at"]
    for k, row in after.items():
        r = dict(zip(cols, row))
        if k in expired:
            assert r["user_id"] is None and r["ip"] is None
            assert r["user_agent"] == "[removed]"
            assert r["path"] == dict(zip(cols, before[k]))["path"]
        else:
            assert row == before[k]
    again, _ = sweep(demo, now)
    assert rows_of(again)["request_logs"] == 0  # already in target form

    edit(demo.datamap, r"action: anonymize\}",
         "action: anonymize, columns: {ip: hash, path: {set: gone}}}")
    later = now + 2 * DAY
    more = expired_ids(demo.db, "request_logs", later)
    summary, _ = sweep(demo, later)
    rows = snapshot(demo.db)["request_logs"]
    changed = [k for k in more if dict(zip(cols, rows[k]))["path"] == "gone"]
    assert set(changed) == more
    assert rows_of(summary)["request_logs"] == len(more)
    for k in more:
        r = dict(zip(cols, rows[k]))
        assert r["ip"] is None or HASH_RE.match(r["ip"])


def test_sweep_unix_seconds_column(demo):
    demo.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, at INTEGER)")
    demo.execute("CREATE INDEX events_at_idx ON events (at)")
    now = DEMO_NOW
    cutoff = now - 3600
    for i, t in enumerate([cutoff - 7200, cutoff - 1, cutoff, cutoff + 1, None]):
        demo.execute("INSERT INTO events (id, user_id, at) VALUES (?, 1, ?)", (i + 1, t))
    edit(demo.datamap, r"^tables:\n",
         "tables:\n  events:\n    key: id\n    category: logs\n    links:\n"
         "      - {parent: users, column: user_id}\n    erase: delete\n"
         "    ttl: {column: at, after: 1h}\n\n")
    summary, _ = sweep(demo, now)
    assert rows_of(summary)["events"] == 2
    assert [r[0] for r in query(demo.db, "SELECT id FROM events ORDER BY id")] == [3, 4, 5]


def test_sweep_releases_holds_exactly_when_they_end(demo):
    email = query(demo.db, "SELECT u.email FROM invoices i JOIN users u ON u.id = i.user_id "
                           "GROUP BY u.email ORDER BY count(*) DESC, u.email LIMIT 1")[0][0]
    person = ("email", email)
    invoices = {r[0] for r in query(
        demo.db, "SELECT i.id FROM invoices i JOIN users u ON u.id = i.user_id "
                 "WHERE u.email = ?", (person[1],))}
    assert len(invoices) >= 2
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "%s=%s" % person, "--json", "--no-progress",
                               env=clock_env(DEMO_NOW))
    assert code == 0, err
    holds = demo.state("SELECT row_key, until FROM holds WHERE table_name = 'invoices'")
    assert {int(k[2:]) for k, _ in holds} == invoices
    untils = sorted(u for _, u in holds)
    first = untils[0]
    assert first > DEMO_NOW + TEN_YEARS - 700 * DAY

    # A second before the first hold ends: nothing released.
    summary, _ = sweep(demo, first - 1)
    assert summary["holds_released"] == 0
    assert {r[0] for r in query(demo.db, "SELECT id FROM invoices")} >= invoices

    # At its end: exactly the holds ended by then go, with their rows.
    due = {int(k[2:]) for k, u in holds if u <= first}
    summary, _ = sweep(demo, first)
    assert summary["holds_released"] == len(due)
    assert summary["hold_rows"] == len(due)
    left = {r[0] for r in query(demo.db, "SELECT id FROM invoices")}
    assert not (left & due)
    assert (invoices - due) <= left
    assert len(demo.state("SELECT * FROM holds")) == len(holds) - len(due)

    # After the last one ends, all of them; other people's invoices stay.
    others = {r[0] for r in query(demo.db, "SELECT id FROM invoices")} - invoices
    summary, _ = sweep(demo, untils[-1])
    assert summary["holds_released"] == len(holds) - len(due)
    left = {r[0] for r in query(demo.db, "SELECT id FROM invoices")}
    assert not (left & invoices)
    assert left == others
    assert demo.state("SELECT count(*) FROM holds") == [(0,)]
    # The job's status is not disturbed by the release.
    assert demo.state("SELECT state FROM jobs") == [("completed_with_retention",)]


def test_sweep_missing_index_warning(demo):
    summary, err = sweep(demo, DEMO_NOW)
    assert "CREATE INDEX" not in err
    demo.execute("DROP INDEX messages_received_at_idx")
    expected = expired_ids(demo.db, "messages", DEMO_NOW + DAY)
    assert expected
    summary, err = sweep(demo, DEMO_NOW + DAY)
    assert 'CREATE INDEX messages_received_at_idx ON "messages" ("received_at");' in err
    assert err.count("CREATE INDEX") == 1
    assert rows_of(summary)["messages"] == len(expected)  # slower, still right


def test_sweep_bad_configuration(demo):
    cases = [
        (demo.config, r"  enabled: false", "  enabled: maybe", "sweep.enabled"),
        (demo.config, r"  interval: 1s", "  interval: 0", "sweep.interval"),
        (demo.config, r"  interval: 1s", "  interval: soon", "sweep.interval"),
        (demo.config, r"  max_rows_per_pass: 50000", "  max_rows_per_pass: 0",
         "max_rows_per_pass"),
        (demo.config, r"  max_ms_per_pass: 250", "  max_ms_per_pass: -5", "max_ms_per_pass"),
        (demo.config, r"^sweep:", "sweep:\n  speed: 3", "speed"),
        (demo.config, r"^  media_root: media.*$", "", "media_root"),
        (demo.datamap, r"ttl: \{column: received_at, after: 30d\}",
         "ttl: {column: received_at, after: 30d, format: iso}", "ttl format"),
        (demo.datamap, r"ttl: \{column: received_at, after: 30d\}",
         "ttl: {column: received_at, after: 30d, format: unix}", "format"),
        (demo.datamap, r"ttl: \{column: received_at, after: 30d\}",
         "ttl: {column: received_at, after: never}", "after"),
        (demo.datamap, r"ttl: \{column: received_at, after: 30d\}",
         "ttl: {column: received_at, after: 30d, action: anonymize}", "columns"),
        (demo.datamap, r"ttl: \{column: created_at, after: 30d, when: \{cached: 1\}\}",
         "ttl: {column: created_at, after: 30d, action: anonymize, columns: {mime: null}}",
         "media"),
        (demo.datamap, r"ttl: \{column: received_at, after: 30d\}",
         "ttl: {column: received_at, after: 30d, columns: {body: null}}", "anonymize"),
    ]
    before = snapshot(demo.db)
    for path, pattern, repl, word in cases:
        saved = path.read_text()
        edit(path, pattern, repl)
        code, out, err = run_lethe("sweep", "-c", demo.config, "--once",
                                   env=clock_env(DEMO_NOW))
        path.write_text(saved)
        assert code == 3, (repl, code, err)
        lines = [ln for ln in err.splitlines() if ln.startswith("lethe: error:")]
        assert len(lines) == 1 and word in lines[0], (repl, err)
    assert snapshot(demo.db) == before
    code, out, err = run_lethe("sweep", "-c", demo.config, "--bogus")
    assert code == 2
    code, out, err = run_lethe("sweep", "-c", demo.config, "--json")
    assert code == 2


def test_sweep_without_ttl_tables_still_runs_for_holds(demo):
    text = demo.datamap.read_text()
    lines = [ln for ln in text.splitlines() if "ttl:" not in ln]
    demo.datamap.write_text("\n".join(lines) + "\n")
    before = snapshot(demo.db)
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", env=clock_env(DEMO_NOW))
    assert code == 0 and "nothing to sweep" not in out, out  # invoices are retained
    assert snapshot(demo.db) == before
    # Neither ttl nor retain: nothing to sweep.
    edit(demo.datamap, r"^      action: retain\n(.*\n)*?      for: 10y\n      from: issued_at\n",
         "      action: anonymize\n")
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", env=clock_env(DEMO_NOW))
    assert code == 0 and "nothing to sweep" in out, (out, err)
    assert snapshot(demo.db) == before


def test_sweep_test_clock_file(demo, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("%d\n" % (DEMO_NOW - 400 * DAY))
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json",
                               env={"LETHE_TEST_NOW": "file:%s" % clock})
    assert code == 0, err
    early = json.loads(out)
    assert early["now"] == DEMO_NOW - 400 * DAY
    clock.write_text("%d\n" % DEMO_NOW)
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json",
                               env={"LETHE_TEST_NOW": "file:%s" % clock})
    assert code == 0, err
    late = json.loads(out)
    assert late["now"] == DEMO_NOW
    assert sum(rows_of(early).values()) == 0
    assert sum(rows_of(late).values()) > 0


def test_sweep_settles_media_left_by_a_crash(demo):
    """Files recorded before a commit that a crash cut short: removed only if no row names them."""
    rows = query(demo.db, "SELECT id, storage_key FROM media WHERE cached = 0 "
                          "ORDER BY id LIMIT 2")
    (gone_id, gone_key), (live_id, live_key) = rows
    # As if a sweep had recorded both and crashed: gone_id's deletion committed, live_id's not.
    demo.execute("DELETE FROM media WHERE id = ?", (gone_id,))
    run_lethe("sweep", "-c", demo.config, "--dry-run", env=clock_env(DEMO_NOW - 400 * DAY))
    for key in (gone_key, live_key):
        execute(demo.state_db, "INSERT INTO media_pending (job_id, table_name, object_key) "
                               "VALUES (0, ?, ?)", ("media", key))
    files = media_files(demo.media)
    assert {gone_key, live_key} <= files
    summary, _ = sweep(demo, DEMO_NOW - 400 * DAY)  # nothing expired then
    assert sum(rows_of(summary).values()) == 0
    assert media_files(demo.media) == files - {gone_key}
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]
    assert query(demo.db, "SELECT count(*) FROM media WHERE id = ?", (live_id,)) == [(1,)]
