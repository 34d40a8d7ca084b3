# SPDX-License-Identifier: MIT
"""The state store on PostgreSQL (docs/internals/store.md, "PostgreSQL").

test_sq_pg_backend runs tests/unit/sq_pg_probe against a fresh database of
the session's PostgreSQL server: the backend of sq.h (store/sq_pg.c) itself,
typed parameters, results read back (text, integers, bytea, booleans,
NULL), INSERT OR IGNORE, the write lock between two connections, a lost
connection (an error, then a reconnect), a failed statement stepped again
(its result freed), a session whose search_path is not lethe (refused) and
a password kept out of messages.  The others run the lethe binary with `state.database:` set to
that database's URL in lethe.yaml (the product's configuration key).
"""
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from lethe_e2e import lethe_path
from serve_helpers import servers  # noqa: F401  (fixture)


def probe_path():
    return str(Path(lethe_path()).parent / "tests" / "unit" / "sq_pg_probe")


def use_pg_state(demo, url):
    """Point the demo's lethe.yaml at the PostgreSQL state store @url."""
    text = demo.config.read_text()
    text = re.sub(r"(?m)^state:\n(  .*\n)*", "", text)
    demo.config.write_text(text + "state:\n  database: %s\n" % url)


def pg_rows(pg, db, sql):
    out = pg.psql(db, "SET search_path = lethe; " + sql)
    return [line.split("|") for line in out.splitlines() if line != ""]


def db_name(url):
    return url.split("/")[3].split("?")[0]


def test_sq_pg_backend(pg_db):
    p = subprocess.run([probe_path(), pg_db], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[-1] == "OK"
    for check in ("insert or ignore", "blob", "bool", "c2 begin waits", "c2 write waits",
                  "failed step freed", "lost", "reconnected", "schema refused",
                  "schema still refused", "redacted"):
        assert "ok " + check in lines


def sqlite_catalogue(path):
    con = sqlite3.connect(str(path))
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        cols = {t: sorted(r[1] for r in con.execute("PRAGMA table_info(\"%s\")" % t))
                for t in tables}
        idx = sorted(r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        version = con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()
    return cols, idx, version


def pg_catalogue(pg, db):
    cols = {}
    for t, c in pg_rows(pg, db, "SELECT table_name, column_name FROM "
                               "information_schema.columns WHERE table_schema = 'lethe' "
                               "AND table_name <> 'schema_version'"):
        cols.setdefault(t, []).append(c)
    # SQLite's implicit rowid is a column of its own on PostgreSQL (ORDER BY rowid).
    assert "rowid" in cols["request_events"]
    cols = {t: sorted(x for x in c if x != "rowid") for t, c in cols.items()}
    # lethe's own indexes: not those PostgreSQL makes for keys and UNIQUE.
    idx = sorted(r[0] for r in pg_rows(
        pg, db, "SELECT indexname FROM pg_indexes i WHERE schemaname = 'lethe' AND NOT "
                "EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"))
    version = int(pg_rows(pg, db, "SELECT version FROM schema_version")[0][0])
    return cols, idx, version


def test_pg_schema_is_sqlites(demo, pg, pg_db):
    """A new PostgreSQL store gets SQLite's tables, columns, indexes and version."""
    code, _, err = demo.lethe("jobs", "--json")
    assert code == 0, err
    lite = sqlite_catalogue(demo.state_db)
    use_pg_state(demo, pg_db)
    code, _, err = demo.lethe("jobs", "--json")
    assert code == 0, err
    got = pg_catalogue(pg, db_name(pg_db))
    assert got[0] == lite[0]
    assert got[1] == lite[1]
    assert got[2] == lite[2]
    assert "singletons" in got[0]
    # The tables are in schema lethe, not the app's public schema.
    assert pg_rows(pg, db_name(pg_db), "SELECT count(*) FROM information_schema.tables "
                                       "WHERE table_schema = 'public'") == [["0"]]


def test_pg_store_migrates_once(demo, pg, pg_db):
    """Several lethe processes opening a new store at once: one migrates, all work."""
    code, _, err = demo.lethe("jobs", "--json")
    assert code == 0, err
    version = sqlite_catalogue(demo.state_db)[2]
    use_pg_state(demo, pg_db)
    results = []

    def one():
        results.append(demo.lethe("jobs", "--json"))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [0] * 4, [r[2] for r in results]
    assert pg_rows(pg, db_name(pg_db), "SELECT id, version FROM schema_version") == \
        [["1", str(version)]]


def pg_primary_key(pg, db, table):
    return pg_rows(pg, db, "SELECT string_agg(a.attname, ',' ORDER BY u.ord) FROM "
                           "pg_constraint k CROSS JOIN LATERAL unnest(k.conkey) WITH "
                           "ORDINALITY AS u(attnum, ord) JOIN pg_attribute a ON "
                           "a.attrelid = k.conrelid AND a.attnum = u.attnum WHERE "
                           "k.contype = 'p' AND k.conrelid = 'lethe.%s'::regclass" % table)


def test_pg_store_upgrade_widens_a_primary_key(demo, pg, pg_db):
    """A version-16 store's media_pending gains the store column and a primary key that
    holds it (v17): the same object key recorded for two stores is two records."""
    use_pg_state(demo, pg_db)
    code, _, err = demo.lethe("jobs", "--json")
    assert code == 0, err
    db = db_name(pg_db)
    assert pg_primary_key(pg, db, "media_pending") == [["job_id,table_name,store,object_key"]]
    version = pg_rows(pg, db, "SELECT version FROM schema_version")
    pg.psql(db, "SET search_path = lethe; DROP TABLE media_pending; "
                "CREATE TABLE media_pending (job_id BIGINT NOT NULL, table_name TEXT NOT NULL, "
                "object_key TEXT NOT NULL, PRIMARY KEY (job_id, table_name, object_key)); "
                "INSERT INTO media_pending VALUES (7, 'media', 'u3/a.jpg'); "
                "UPDATE schema_version SET version = 16;")
    code, _, err = demo.lethe("jobs", "--json")
    assert code == 0, err
    assert pg_primary_key(pg, db, "media_pending") == [["job_id,table_name,store,object_key"]]
    assert pg_rows(pg, db, "SELECT job_id, store, object_key, removed FROM media_pending") == \
        [["7", "local", "u3/a.jpg", "0"]]
    pg.psql(db, "SET search_path = lethe; INSERT INTO media_pending (job_id, table_name, "
                "store, object_key) VALUES (7, 'media', 'cdn', 'u3/a.jpg');")
    assert pg_rows(pg, db, "SELECT count(*) FROM media_pending") == [["2"]]
    assert pg_rows(pg, db, "SELECT version FROM schema_version") == version


def test_pg_store_erase(demo, pg, pg_db):
    """An erasure through the CLI with the state on PostgreSQL: its job and steps there."""
    use_pg_state(demo, pg_db)
    summary = demo.erase("account", "user_id=3")
    assert summary["state"] in ("completed", "completed_with_retention")
    jobs = pg_rows(pg, db_name(pg_db), "SELECT state, lease_owner IS NULL FROM jobs")
    assert jobs == [[summary["state"], "t"]]
    steps = pg_rows(pg, db_name(pg_db), "SELECT count(*) FROM job_steps WHERE finished <> 0")
    assert int(steps[0][0]) > 0
    # Nothing of lethe's in a var/state.db.
    assert not demo.state_db.exists()
    again = demo.erase("account", "user_id=3")
    assert again["state"] in ("completed", "completed_with_retention")


def test_pg_store_password_redacted(demo):
    """A store that cannot be reached: the message names it without its password."""
    use_pg_state(demo, "postgresql://lethe:hunter2secret@/nodb?host=/nonexistent-dir")
    code, out, err = demo.lethe("jobs", "--json")
    assert code != 0
    assert "hunter2secret" not in out + err
    assert "***" in err
    assert "cannot connect to state store" in err


def second_worker(demo, path):
    """A config directory of its own for a second worker of @demo's store and app."""
    shutil.copytree(str(demo.dir), str(path), symlinks=True,
                    ignore=shutil.ignore_patterns("state-intake*", "app.db*", "media"))
    cfg = path / "lethe.yaml"
    text = cfg.read_text()
    text = text.replace("database: app.db", "database: %s" % (demo.dir / "app.db"))
    text = text.replace("media_root: media", "media_root: %s" % (demo.dir / "media"))
    cfg.write_text(text)
    return cfg


def sweep_owner(pg, db):
    rows = pg_rows(pg, db, "SELECT owner FROM singletons WHERE name = 'sweep'")
    return int(rows[0][0].split(":")[1]) if rows else None


def wait_for(fn, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    return fn()


def test_pg_workers_share_one_sweeper(demo, pg, pg_db, tmp_path, servers):
    """Two workers of one store: one sweeps; killed, the other takes the sweep over."""
    use_pg_state(demo, pg_db)
    demo.config.write_text(demo.config.read_text().replace(
        "  enabled: false", "  enabled: true", 1))
    db = db_name(pg_db)
    w1 = servers(demo)
    w2 = servers(second_worker(demo, tmp_path / "w2"))
    pids = {w1.proc.pid: w1, w2.proc.pid: w2}
    holder = wait_for(lambda: sweep_owner(pg, db))
    assert holder in pids
    # A live worker's lease is renewed by it and never taken by the other.
    for _ in range(3):
        time.sleep(1.0)
        assert sweep_owner(pg, db) == holder
    other = [p for p in pids if p != holder][0]
    pids[holder].kill()
    # Same host, dead process: taken over at once (the other's next look, within a pass).
    assert wait_for(lambda: sweep_owner(pg, db) == other) is True
    assert pids[other].proc.poll() is None
