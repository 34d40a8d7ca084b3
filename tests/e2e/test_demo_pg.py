# SPDX-License-Identifier: MIT
"""`lethe demo --database postgresql://...`: the reference app in PostgreSQL.

The same tables, columns and rows as the SQLite demo of the same options (time
columns as timestamptz, analytics.day a date), in one transaction: a database
that cannot be reached, or one that already has the demo's tables, gets a
clear error and nothing is written; a password never reaches lethe.yaml or the
output.  The server is tests/pg_server.py's (the pg_server fixture).
"""
import json
import os
import queue
import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import yaml

from demo_helpers import DEMO_SECRETS, RunDemo, clean_env, free_port, move_simulator
from lethe_e2e import ROOT, SLOW, make_demo, media_files, run_lethe
from pg_server import PgServer, processes_of

OPTS = ["--users", "6", "--seed", "7", "--heavy", "200"]
TABLES = ["users", "projects", "channels", "posts", "media", "messages", "comments",
          "analytics", "automation_rules", "webhook_subscriptions", "preview_links",
          "request_logs", "publishing_logs", "contacts", "campaigns", "invoices"]
SECRET = "s3cret-Pw"


def db_name(url):
    return url.split("/")[3].split("?")[0]


def pg_columns(pg, db, table):
    out = pg.psql(db, "SELECT column_name, data_type FROM information_schema.columns "
                      "WHERE table_schema = 'public' AND table_name = '%s' "
                      "ORDER BY ordinal_position" % table)
    return [tuple(line.split("|")) for line in out.splitlines()]


def pg_rows(pg, db, table):
    """Every row of @table as a list of dicts, times in SQLite's text form."""
    cols = []
    for name, typ in pg_columns(pg, db, table):
        q = '"%s"' % name
        if typ.startswith("timestamp"):
            cols.append("to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS %s"
                        % (q, q))
        elif typ == "date":
            cols.append("to_char(%s, 'YYYY-MM-DD') AS %s" % (q, q))
        else:
            cols.append(q)
    out = pg.psql(db, "SELECT COALESCE(json_agg(row_to_json(r) ORDER BY r.id), '[]') FROM "
                      "(SELECT %s FROM public.%s) r" % (", ".join(cols), table))
    return json.loads(out)


def sqlite_rows(path, table):
    con = sqlite3.connect(str(path))
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM %s ORDER BY id" % table)]
    finally:
        con.close()


def demo_tables(pg, db):
    out = pg.psql(db, "SELECT table_name FROM information_schema.tables WHERE "
                      "table_schema = 'public' ORDER BY 1")
    return out.split()


def test_demo_pg_has_the_sqlite_demos_rows(pg_server, pg_db, tmp_path):
    db = db_name(pg_db)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "pg", "--database", pg_db, *OPTS,
                               timeout=120)
    assert code == 0, err
    lite = make_demo(tmp_path / "lite", OPTS)
    assert sorted(demo_tables(pg_server, db)) == sorted(TABLES)
    total = 0
    for t in TABLES:
        want = sqlite_rows(lite.db, t)
        got = pg_rows(pg_server, db, t)
        assert len(got) == len(want), t
        assert got == want, t
        total += len(want)
    assert "(7 users, %d rows)" % total in out
    # What a PostgreSQL app would declare: times timestamptz, ids bigint.
    cols = dict(pg_columns(pg_server, db, "messages"))
    assert cols["received_at"] == "timestamp with time zone"
    assert cols["id"] == "bigint" and cols["channel_id"] == "bigint"
    assert dict(pg_columns(pg_server, db, "analytics"))["day"] == "date"
    # The app's own inserts take ids after the demo's.
    assert pg_server.psql(db, "SELECT nextval(pg_get_serial_sequence('public.users', 'id'))"
                          ).strip() == "8"
    # The same media files; the configuration names the database, the rest unchanged.
    pgdir = tmp_path / "pg"
    assert media_files(pgdir / "media") == media_files(lite.media)
    assert not (pgdir / "app.db").exists()
    conf = yaml.safe_load((pgdir / "lethe.yaml").read_text())
    lite_conf = yaml.safe_load(lite.config.read_text())
    assert conf["app"]["database"] == pg_db
    conf["app"]["database"] = lite_conf["app"]["database"]
    assert conf == lite_conf


def test_demo_pg_refuses_a_database_with_its_tables(pg_server, pg_db, tmp_path):
    db = db_name(pg_db)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "a", "--quiet", "--database",
                               pg_db, "--users", "3")
    assert code == 0, err
    before = pg_server.psql(db, "SELECT count(*) FROM users; SELECT count(*) FROM messages")
    code, out, err = run_lethe("demo", "--dir", tmp_path / "b", "--quiet", "--database",
                               pg_db, "--users", "5")
    assert code == 2
    assert "already has the demo's tables" in err and "--force" in err
    assert not (tmp_path / "b").exists()
    assert pg_server.psql(db, "SELECT count(*) FROM users; SELECT count(*) FROM messages"
                          ) == before
    # A second demo into the same directory is refused too (its lethe.yaml exists).
    code, out, err = run_lethe("demo", "--dir", tmp_path / "a", "--quiet", "--database",
                               pg_db, "--users", "5")
    assert code == 2 and "already exists" in err
    code, out, err = run_lethe("demo", "--dir", tmp_path / "a", "--quiet", "--force",
                               "--database", pg_db, "--users", "5")
    assert code == 0, err
    assert pg_server.psql(db, "SELECT count(*) FROM users") == "5\n"


def test_demo_pg_bad_urls_write_nothing(pg_server, tmp_path):
    missing = pg_server.url("no_such_db").replace("postgres@", "postgres:%s@" % SECRET)
    cases = [
        (missing, 1, ['database "no_such_db" does not exist']),
        ("postgresql://postgres:%s@127.0.0.1:1/x?password=%s" % (SECRET, SECRET), 1,
         ["127.0.0.1", "postgresql://postgres:***@127.0.0.1:1/x?password=***"]),
        ("mysql://root:%s@localhost/app" % SECRET, 2, ["postgresql:// URL"]),
    ]
    for i, (url, want_code, says) in enumerate(cases):
        d = tmp_path / ("d%d" % i)
        code, out, err = run_lethe("demo", "--dir", d, "--database", url, timeout=30)
        assert code == want_code, (url, code, err)
        for s in says:
            assert s in err, (s, err)
        assert SECRET not in out + err
        assert not d.exists(), "nothing written for %s" % url
    # A bad state store URL is found before anything is written too.
    code, out, err = run_lethe("demo", "--dir", tmp_path / "s", "--state",
                               pg_server.url("no_such_state"), timeout=30)
    assert code == 1 and 'database "no_such_state" does not exist' in err
    assert "state store (--state)" in err
    # libpq's multi-line messages become one line.
    code, out, err = run_lethe("demo", "--dir", tmp_path / "n", "--database",
                               "postgresql://postgres@/x?host=%s" % (tmp_path / "none"))
    assert code == 1 and "No such file or directory Is the server running" in err, err
    assert not (tmp_path / "n").exists()
    assert not (tmp_path / "s").exists()


def test_demo_pg_failure_mid_load_leaves_nothing(pg_server, pg_db, tmp_path):
    """The whole load is one transaction: a failure at its end (an index name taken)
    leaves no table of the demo and no lethe.yaml naming an empty database."""
    db = db_name(pg_db)
    pg_server.psql(db, "CREATE TABLE public.messages_received_at_idx (x int)")
    code, out, err = run_lethe("demo", "--dir", tmp_path / "d", "--database", pg_db,
                               "--users", "3")
    assert code == 1, err
    assert "messages_received_at_idx" in err and "already exists" in err
    assert demo_tables(pg_server, db) == ["messages_received_at_idx"]
    assert not (tmp_path / "d" / "lethe.yaml").exists()
    assert not (tmp_path / "d" / "app.db").exists()


def test_demo_pg_force_that_fails_keeps_the_old_demo(pg_server, pg_db, tmp_path):
    """--force replaces the tables in the same transaction: when that fails (a view of
    the app's depends on users), the old tables and the old lethe.yaml stay."""
    db = db_name(pg_db)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "d", "--quiet", "--database",
                               pg_db, "--users", "3")
    assert code == 0, err
    conf = (tmp_path / "d" / "lethe.yaml").read_text()
    pg_server.psql(db, "CREATE VIEW app_users AS SELECT id, email FROM users")
    code, out, err = run_lethe("demo", "--dir", tmp_path / "d", "--quiet", "--force",
                               "--database", pg_db, "--users", "5")
    assert code == 1 and "app_users" in err, err
    assert pg_server.psql(db, "SELECT count(*) FROM users") == "3\n"
    assert (tmp_path / "d" / "lethe.yaml").read_text() == conf


def test_demo_pg_password_never_written_or_printed(pg_server, pg_db, tmp_path):
    url = pg_db.replace("postgres@", "postgres:%s@" % SECRET) + "&password=" + SECRET
    state = pg_server.url("postgres").replace("postgres@", "postgres:%s@" % SECRET)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "d", "--database", url,
                               "--state", state, "--users", "2")
    assert code == 0, err
    assert SECRET not in out + err
    assert "PGPASSWORD" in err, "says where the password must come from"
    text = (tmp_path / "d" / "lethe.yaml").read_text()
    assert SECRET not in text
    conf = yaml.safe_load(text)
    assert conf["app"]["database"] == pg_db
    assert conf["state"]["database"] == pg_server.url("postgres")
    assert "state store    postgresql://postgres:***@" in out


# ---- scripts/pg-dev and scripts/run-demo --database -----------------------------------

PG_DEV = ROOT / "scripts" / "pg-dev"
RUN_DEMO = ROOT / "scripts" / "run-demo"


def pg_dev(var, *args):
    env = dict(os.environ, LETHE_PG_DEV_VAR=str(var))
    return subprocess.run(["/usr/bin/python3", str(PG_DEV), *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_pg_dev_starts_prints_its_url_and_stops_leaving_nothing(tmp_path):
    var = tmp_path / "var"
    r = pg_dev(var, "start")
    try:
        assert r.returncode == 0, r.stderr
        url = r.stdout.strip()
        assert re.fullmatch(r"postgresql://postgres@/demo\?host=/\S+", url), r.stdout
        host = url.split("host=")[1]
        assert os.path.exists(os.path.join(host, ".s.PGSQL.5432"))
        again = pg_dev(var, "start")
        assert again.returncode == 0 and again.stdout.strip() == url
        assert pg_dev(var, "url").stdout.strip() == url
        q = subprocess.run(["psql", "-X", "-A", "-t", "-d", url, "-c",
                            "SELECT current_database()"], capture_output=True, text=True,
                           timeout=30)
        assert q.stdout == "demo\n", q.stderr
        # No TCP: the socket only.
        srv = PgServer.attach(host)
        assert srv.psql("demo", "SHOW listen_addresses") == "\n"
        datadir = srv.datadir
    finally:
        stopped = pg_dev(var, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert processes_of(datadir) == []
    assert not os.path.exists(host)
    assert pg_dev(var, "url").returncode == 1


def test_run_demo_refuses_a_demo_of_another_database(pg_server, tmp_path):
    code, out, err = run_lethe("demo", "--dir", tmp_path / "demo", "--quiet", "--users", "2")
    assert code == 0, err
    url = pg_server.url("demo").replace("postgres@", "postgres:%s@" % SECRET)
    r = subprocess.run(["/usr/bin/python3", str(RUN_DEMO), "--lethe", "lethe", "--config",
                        str(tmp_path / "demo" / "lethe.yaml"), "--listen", "127.0.0.1:1",
                        "--database", url], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    assert "names another app database (app.db)" in r.stdout and "rm -rf" in r.stdout
    assert SECRET not in r.stdout + r.stderr


class RunDemoPg(RunDemo):
    """scripts/run-demo as `make run DATABASE=URL` starts it (demo in DEMO_DIR)."""

    def __init__(self, workdir, listen, database):  # noqa: super().__init__ not called
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(RUN_DEMO), "--lethe", "build/lethe", "--config",
             "demo/lethe.yaml", "--listen", listen, "--database", database],
            cwd=str(workdir), env=clean_env(**DEMO_SECRETS), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.out = []
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()


def lethe_serve_env(parent):
    """The environment of run-demo @parent's `lethe serve` child."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if b"serve" not in f.read():
                    continue
            with open("/proc/%s/environ" % d, "rb") as f:
                return dict(kv.split("=", 1) for kv in
                            f.read().decode("utf-8", "replace").split("\0") if "=" in kv)
        except (OSError, ValueError, IndexError):
            continue
    return None


def test_make_run_on_postgresql_serves_and_its_lines_work(pg_server, pg_db, tmp_path,
                                                           lethe_bin):
    """`make run DATABASE=URL`: the demo in PostgreSQL served, the password handed to
    lethe serve as PGPASSWORD and never printed, every printed line works pasted."""
    db = db_name(pg_db)
    url = pg_db.replace("postgres@", "postgres:%s@" % SECRET)
    (tmp_path / "build").symlink_to(Path(lethe_bin).parent, target_is_directory=True)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "demo", "--users", "12",
                               "--database", url, timeout=120)
    assert code == 0, err
    move_simulator(tmp_path)
    port = free_port()
    listen = "127.0.0.1:%d" % port
    rd = RunDemoPg(tmp_path, listen, url)
    try:
        rd.until(lambda ln: "serving on port" in ln)
        env = lethe_serve_env(rd.proc.pid)
        assert env is not None and env.get("PGPASSWORD") == SECRET
        rd.until(lambda ln: "to start over" in ln)
        printed = list(rd.out)
        assert SECRET not in "\n".join(printed)
        assert any("export PGPASSWORD there too" in ln for ln in printed), printed
        assert any("--channel" in ln for ln in printed), "channels read from PostgreSQL"
        commands = [ln.strip() for ln in printed[printed.index(next(
            ln for ln in printed if ln.startswith("== Try"))) + 1:] if ln.startswith("  ")
            and not ln.strip().startswith("#")]
        assert commands and all(c.startswith(("SR=", "curl ", "build/lethe "))
                                for c in commands), commands
        script = "set -e\n" + "".join("%s\necho\n" % c for c in commands)
        p = subprocess.run(["bash", "-c", script], cwd=str(tmp_path),
                           env=clean_env(PGPASSWORD=SECRET), capture_output=True, text=True,
                           timeout=120 * SLOW)
        assert p.returncode == 0, "pasted lines failed:\n%s\n%s\n%s" % (script, p.stdout,
                                                                       p.stderr)
        assert pg_server.psql(db, "SELECT count(*) FROM users WHERE email = "
                                  "'user1@example.com'") == "0\n"
        assert rd.stop() == 0
        assert SECRET not in "\n".join(rd.out) + rd.proc.stderr.read()
    finally:
        rd.kill()
