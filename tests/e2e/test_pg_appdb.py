# SPDX-License-Identifier: MIT
"""The app database on PostgreSQL: every engine path on the demo's data in PostgreSQL.

The demo (SQLite) is copied into a PostgreSQL database of the session's server
(tests/pg_server.py) with PostgreSQL's types: integers as bigint, the time columns as
timestamptz, timestamp, date, "YYYY-MM-DD HH:MM:SS" text and epoch-seconds bigint (one
of each among the TTL tables), and the same indexes.  The same commands then run on the
PostgreSQL copy and on the SQLite demo, and their results (plans, erased and anonymized
rows, swept rows, exports) must agree, row by row where the types allow.
"""
import calendar
import json
import re
import sqlite3
import subprocess
import threading
import time
import zipfile

import pytest

from disconnect_helpers import configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import (
    DEFAULT_DEMO_OPTIONS,
    HASH_RE,
    copy_demo,
    make_demo,
    run_lethe,
    without_section,
)
from serve_helpers import FB_SECRET, fb_id, servers, sign_py, stop_ok  # noqa: F401
from sweep_helpers import DAY, DEMO_NOW, clock_env, edit, fmt

# PostgreSQL types of the demo's columns where they are not bigint/text/double precision.
PG_TYPES = {
    ("users", "created_at"): "timestamptz",
    ("projects", "created_at"): "timestamptz",
    ("posts", "created_at"): "timestamptz",
    ("media", "created_at"): "timestamptz",
    ("messages", "received_at"): "timestamptz",         # TTL on timestamptz
    ("comments", "created_at"): "date",                 # TTL on date
    ("preview_links", "created_at"): "timestamp",       # TTL on timestamp without zone
    ("request_logs", "created_at"): "text",             # TTL on datetime text
    ("publishing_logs", "created_at"): "bigint",        # TTL on epoch seconds
    ("analytics", "day"): "date",
    ("invoices", "issued_at"): "timestamptz",
}
PG_SEQ = iter(range(1, 10**6))


def pg_type(table, col, decl):
    if (table, col) in PG_TYPES:
        return PG_TYPES[(table, col)]
    return {"INTEGER": "bigint", "REAL": "double precision"}.get(decl.upper(), "text")


def pg_value(typ, v):
    """A SQLite value as CSV text for COPY into a column of type @typ."""
    if v is None:
        return None
    if typ == "bigint" and isinstance(v, str):
        return str(calendar.timegm(time.strptime(v, "%Y-%m-%d %H:%M:%S")))
    if typ == "date" and isinstance(v, str):
        return v[:10]
    return str(v)


def csv_field(s):
    if s is None:
        return ""
    return '"' + s.replace('"', '""') + '"'


def to_pg(demo, srv, name=None):
    """Copy @demo's app database into a new PostgreSQL database and point the demo's
    lethe.yaml at it; returns the database's name."""
    name = name or "h1_%d" % next(PG_SEQ)
    url = srv.create_db(name)
    con = sqlite3.connect(str(demo.db))
    sql = []
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
            "'sqlite_%' AND name != 'lethe_restore_marker' ORDER BY name")]
        for t in tables:
            cols = [(r[1], r[2], r[5]) for r in con.execute("SELECT * FROM pragma_table_info(?)",
                                                            (t,))]
            defs = ", ".join('"%s" %s%s' % (c, pg_type(t, c, d), " PRIMARY KEY" if pk else "")
                             for c, d, pk in cols)
            sql.append('CREATE TABLE "%s" (%s);' % (t, defs))
            sql.append('COPY "%s" FROM STDIN WITH (FORMAT csv);' % t)
            types = [pg_type(t, c, d) for c, d, _ in cols]
            for row in con.execute('SELECT * FROM "%s"' % t):
                sql.append(",".join(csv_field(pg_value(types[i], v)) for i, v in enumerate(row)))
            sql.append("\\.")
        for (idx, tbl, ddl) in con.execute("SELECT name, tbl_name, sql FROM sqlite_master "
                                           "WHERE type = 'index'"):
            if ddl is not None:
                sql.append(ddl + ";")
            else:  # a UNIQUE constraint's index
                cols = [r[2] for r in con.execute("SELECT * FROM pragma_index_info(?)", (idx,))]
                sql.append('CREATE UNIQUE INDEX ON "%s" (%s);'
                           % (tbl, ", ".join('"%s"' % c for c in cols)))
    finally:
        con.close()
    srv.psql(name, "\n".join(sql) + "\n")
    set_database(demo, url)
    return name


def set_database(demo, url):
    edit(demo.config, r"^  database: .*$", "  database: %s" % url)


def pg_rows(srv, db, sql):
    """Rows of @sql as lists of strings (psql's unaligned output; NULL as '')."""
    out = srv.psql(db, sql)
    return [line.split("|") for line in out.splitlines() if line != ""]


def pg_ids(srv, db, table):
    return {int(r[0]) for r in pg_rows(srv, db, 'SELECT id FROM "%s"' % table)}


def sq_ids(demo, table):
    con = sqlite3.connect(str(demo.db))
    try:
        return {r[0] for r in con.execute('SELECT id FROM "%s"' % table)}
    finally:
        con.close()


TABLES = ["users", "projects", "channels", "posts", "media", "messages", "comments",
          "analytics", "automation_rules", "webhook_subscriptions", "publishing_logs",
          "preview_links", "request_logs", "contacts", "campaigns", "invoices"]


@pytest.fixture
def pair(demo, pg_server, tmp_path):
    """(the SQLite demo, a copy of it on PostgreSQL, the PostgreSQL database's name)."""
    pg = copy_demo(demo.dir, tmp_path / "pgdemo")
    name = to_pg(pg, pg_server)
    yield demo, pg, name
    pg_server.drop_db(name)


def plan_rows(demo, scope, *ids):
    return [(s["table"], s.get("part"), s["rows"]) for s in demo.plan(scope, *ids)["steps"]]


def test_pg_plan_erase_and_anonymize_match_sqlite(pair, pg_server):
    sq, pg, db = pair
    for scope, ident in (("account", "email=user3@example.com"), ("account", "user_id=5"),
                         ("meta", "meta_asid=%s" % pg_rows(pg_server, db,
                          "SELECT platform_user_id FROM channels WHERE platform = 'facebook' "
                          "ORDER BY id LIMIT 1")[0][0])):
        assert plan_rows(pg, scope, ident) == plan_rows(sq, scope, ident), (scope, ident)
    # An identity that cannot be an integer never meets an integer column: no row, no
    # error, and the value is not echoed.
    code, out, err = pg.lethe("plan", "--scope", "account", "--id", "user_id=abc", "--json")
    assert code == 0, err
    assert sum(s["rows"] for s in json.loads(out)["steps"]) == 0

    for d in (sq, pg):
        d.erase("account", "email=user3@example.com", batch=2)
        d.erase("account", "user_id=5")
    for t in TABLES:
        assert pg_ids(pg_server, db, t) == sq_ids(sq, t), t
    # The anonymized rows hold what SQLite's hold (same key: the same keyed hashes).
    con = sqlite3.connect(str(sq.db))
    try:
        want = [[("" if v is None else str(v)) for v in r] for r in con.execute(
            "SELECT id, user_id, email, name, tax_id FROM invoices ORDER BY id")]
        logs = [[("" if v is None else str(v)) for v in r] for r in con.execute(
            "SELECT id, user_id, ip, user_agent FROM request_logs ORDER BY id")]
    finally:
        con.close()
    assert pg_rows(pg_server, db, "SELECT id, user_id, email, name, tax_id FROM invoices "
                                  "ORDER BY id") == want
    assert pg_rows(pg_server, db, "SELECT id, user_id, ip, user_agent FROM request_logs "
                                  "ORDER BY id") == logs
    hashed = pg_rows(pg_server, db, "SELECT email FROM invoices WHERE user_id IS NULL")
    assert hashed and all(HASH_RE.match(r[0]) for r in hashed)


def test_pg_sweep_every_time_type(pair, pg_server):
    sq, pg, db = pair
    now = DEMO_NOW + 5 * DAY
    out = {}
    for d in (sq, pg):
        code, stdout, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                      env=clock_env(now))
        assert code == 0, err
        out[d] = {t["table"]: t["rows"] for t in json.loads(stdout)["tables"]}
    cutoff = fmt(now - 30 * DAY)
    # comments.created_at is a date on PostgreSQL: its rows expire by day.
    want_comments = pg_rows(pg_server, db, "SELECT count(*) FROM comments")
    assert out[pg]["comments"] > 0
    for t in ("media", "messages", "publishing_logs", "preview_links", "request_logs"):
        assert out[pg][t] == out[sq][t] > 0 or (t == "media" and out[pg][t] == out[sq][t]), t
        assert pg_ids(pg_server, db, t) == sq_ids(sq, t), t
    left = pg_rows(pg_server, db, "SELECT count(*) FROM comments WHERE created_at < '%s'"
                   % cutoff)
    assert left == [["0"]] and want_comments != [["0"]]
    # Anonymize TTL (a row-value cursor over a text time column), against SQLite's result.
    for d in (sq, pg):
        edit(d.datamap, r"ttl: \{column: created_at, after: 30d\}\n(\s*)\n(\s*)contacts:",
             "ttl: {column: created_at, after: 20d, action: anonymize}\n\\1\n\\2contacts:")
        code, stdout, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                      env=clock_env(now))
        assert code == 0, err
    con = sqlite3.connect(str(sq.db))
    try:
        logs = [[("" if v is None else str(v)) for v in r] for r in con.execute(
            "SELECT id, user_id, ip, user_agent FROM request_logs ORDER BY id")]
    finally:
        con.close()
    assert any(r[3] == "[removed]" for r in logs)
    assert pg_rows(pg_server, db, "SELECT id, user_id, ip, user_agent FROM request_logs "
                                  "ORDER BY id") == logs
    # Keyed hashes as the target form (the dialect's hex-text test): a second pass
    # rewrites nothing, and the values are SQLite's (the same key).
    rows = {}
    for d in (sq, pg):
        edit(d.datamap, r"(  contacts:\n(?:    .*\n)*?)    erase: delete\n",
             "\\1    erase: delete\n    ttl: {column: created_at, after: 30d, "
             "action: anonymize, columns: {email: hash, name: null}}\n")
        for n in range(2):
            code, stdout, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                          env=clock_env(now))
            assert code == 0, err
            rows[(d, n)] = {t["table"]: t["rows"] for t in json.loads(stdout)["tables"]}
    assert rows[(pg, 0)]["contacts"] == rows[(sq, 0)]["contacts"] > 0
    assert rows[(pg, 1)]["contacts"] == rows[(sq, 1)]["contacts"] == 0
    con = sqlite3.connect(str(sq.db))
    try:
        contacts = [[("" if v is None else str(v)) for v in r] for r in con.execute(
            "SELECT id, email, name FROM contacts ORDER BY id")]
    finally:
        con.close()
    assert any(HASH_RE.match(r[1]) for r in contacts)
    assert pg_rows(pg_server, db, "SELECT id, email, name FROM contacts ORDER BY id") == \
        contacts


def test_pg_export_and_scan(pair, pg_server, tmp_path):
    sq, pg, db = pair
    docs = {}
    for d, name in ((sq, "sq"), (pg, "pg")):
        zpath = tmp_path / ("%s.zip" % name)
        code, stdout, err = d.lethe("export", "--scope", "account", "--id",
                                    "email=user3@example.com", "--out", zpath, "--json")
        assert code == 0, err
        z = zipfile.ZipFile(str(zpath))
        docs[name] = {n: json.loads(z.read(n)) for n in z.namelist()
                      if n.startswith("tables/")}
    assert sorted(docs["pg"]) == sorted(docs["sq"])
    for n in docs["sq"]:
        assert [r.get("id") for r in docs["pg"][n]] == [r.get("id") for r in docs["sq"][n]], n
        for a, b in zip(docs["pg"][n], docs["sq"][n]):
            # Times come back as SQLite's text (UTC, whole seconds); a date is midnight.
            if n == "tables/analytics.json":
                b = dict(b, day=b["day"] + " 00:00:00")
            if n == "tables/comments.json":
                b = dict(b, created_at=b["created_at"][:10] + " 00:00:00")
            if n == "tables/publishing_logs.json":
                b = dict(b, created_at=calendar.timegm(time.strptime(b["created_at"],
                                                                     "%Y-%m-%d %H:%M:%S")))
            assert a == b, n
    assert docs["pg"]["tables/users.json"][0]["email"] == "user3@example.com"
    assert "password_hash" not in docs["pg"]["tables/users.json"][0]
    # The residual scan: row checks by SQL run, file checks do not apply.
    code, out, err = pg.lethe("scan", "--id", "email=user3@example.com", "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["result"] == "residual" and doc["rows"] > 0, doc
    pg.erase("account", "email=user3@example.com")
    code, out, err = pg.lethe("scan", "--id", "email=user3@example.com", "--json")
    doc = json.loads(out)
    assert doc["result"] in ("clean", "residual") and "user3@example.com" not in out + err
    assert not [f for f in doc["found"] if not f.get("kept")], doc


def test_pg_disconnect_effects_and_channel_scope(pair, pg_server, fake_platform):
    sq, pg, db = pair
    cid = int(pg_rows(pg_server, db, "SELECT id FROM channels WHERE platform = 'youtube' AND "
                                     "access_token IS NOT NULL ORDER BY id LIMIT 1")[0][0])
    for d in (sq, pg):
        configure(d, fake_platform)
        code, out, err = run_lethe("disconnect", "-c", d.config, "--channel", str(cid),
                                   "--json", env=serve_env(fake_platform))
        assert code == 0, err
        st = json.loads(out)
        assert st["state"] == "disconnected", st
    assert len(fake_platform.calls("google")) == 2  # one revoke from each
    for t in TABLES:
        assert pg_ids(pg_server, db, t) == sq_ids(sq, t), t
    con = sqlite3.connect(str(sq.db))
    try:
        want = {
            "channels": "SELECT id, status, access_token, refresh_token FROM channels "
                        "ORDER BY id",
            "posts": "SELECT id, status FROM posts ORDER BY id",
            "automation_rules": "SELECT id, enabled FROM automation_rules ORDER BY id",
        }
        for t, q in want.items():
            rows = [[("" if v is None else str(v)) for v in r] for r in con.execute(q)]
            assert pg_rows(pg_server, db, q) == rows, t
    finally:
        con.close()
    assert pg_rows(pg_server, db, "SELECT status, access_token FROM channels WHERE id = %d"
                   % cid) == [["revoked", ""]]
    # The channel scope by its integer identity, as on SQLite.
    other = int(pg_rows(pg_server, db, "SELECT id FROM channels WHERE id <> %d ORDER BY id "
                                       "LIMIT 1" % cid)[0][0])
    for d in (sq, pg):
        d.erase("channel", "channel_id=%d" % other)
    for t in TABLES:
        assert pg_ids(pg_server, db, t) == sq_ids(sq, t), t


def test_pg_catalogue_schema_mixed_case_epoch_and_refusals(pg_server, demo, tmp_path):
    name = "h1_cat_%d" % next(PG_SEQ)
    url = pg_server.create_db(name)
    try:
        pg_server.psql(name, """
            CREATE SCHEMA app;
            CREATE TABLE app."People" ("Id" bigint PRIMARY KEY, "Email" text NOT NULL);
            CREATE TABLE app.notes (id bigint PRIMARY KEY, "PersonId" bigint,
                                    "Body" text, created bigint);
            CREATE INDEX ON app.notes ("PersonId");
            CREATE INDEX ON app.notes (created);
            CREATE TABLE pairs (a bigint, b bigint, "Email" text, PRIMARY KEY (a, b));
            INSERT INTO app."People" VALUES (1, 'a@x.example'), (2, 'b@x.example');
            INSERT INTO app.notes VALUES (1, 1, 'n1', 1000), (2, 1, 'n2', 2000000000),
                                         (3, 2, 'n3', 1000);
            INSERT INTO pairs VALUES (1, 1, 'a@x.example');
        """)
        d = copy_demo(demo.dir, tmp_path / "cat")
        set_database(d, url)
        d.datamap.write_text("""version: 1
identities:
  email: "e-mail"
tables:
  app.People:
    key: Id
    category: account
    links:
      - identity: email
        column: Email
    erase: delete
  app.notes:
    key: id
    category: content
    links:
      - parent: app.People
        column: PersonId
    erase: delete
    ttl: {column: created, after: 1d}
scopes:
  account:
    description: "everything"
    identities: [email]
    tables: all
""")
        text = d.config.read_text()
        for s in ("meta", "selfservice", "mail", "mailbox", "proof"):
            text = re.sub(r"(?ms)^%s:.*?(?=^\S)" % s, "", text)
        d.config.write_text(text)
        plan = d.plan("account", "email=a@x.example")
        # The index advice for a mixed-case column is quoted, so it runs as printed.
        code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
        assert code == 0 and 'CREATE INDEX ON "app"."People" ("Email")' in err, err
        assert [(s["table"], s["rows"]) for s in plan["steps"]] == [("app.notes", 2),
                                                                   ("app.People", 1)]
        d.erase("account", "email=a@x.example")
        assert pg_rows(pg_server, name, 'SELECT "Id" FROM app."People"') == [["2"]]
        assert pg_rows(pg_server, name, "SELECT id FROM app.notes") == [["3"]]
        # Without an index on the ttl column the sweep says which to create: it runs.
        pg_server.psql(name, "DROP INDEX app.notes_created_idx")
        code, out, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                   env=clock_env(DEMO_NOW))
        assert code == 0, err
        assert pg_rows(pg_server, name, "SELECT id FROM app.notes") == []
        advice = re.search(r"create one: (CREATE INDEX .*;)", err)
        assert advice and "app.notes" not in advice.group(1), err
        pg_server.psql(name, "SET search_path = app; " + advice.group(1))
        code, out, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                   env=clock_env(DEMO_NOW))
        assert code == 0 and "create one" not in err, err
        # A composite primary key without a 'key': refused at validation, clearly.
        d.datamap.write_text(d.datamap.read_text().replace("scopes:", """  pairs:
    category: account
    links:
      - identity: email
        column: Email
    erase: delete
scopes:"""))
        code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
        assert code != 0 and "no single-column primary key" in err, err
        # A table that is not there: named with the (password-free) URL.
        d.datamap.write_text(d.datamap.read_text().replace("  pairs:", "  app.nope:"))
        code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
        assert code != 0 and "no table 'app.nope'" in err, err
    finally:
        pg_server.drop_db(name)


def test_pg_password_never_printed(demo, tmp_path):
    d = copy_demo(demo.dir, tmp_path / "pw")
    set_database(d, "postgresql://lethe:s3cretpw@127.0.0.1:1/nodb?connect_timeout=2")
    code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
    assert code != 0 and "cannot open app database" in err, err
    assert "s3cretpw" not in out + err and "***" in err


def hold_row(srv, db, table, key, seconds):
    """psql holding @table's row @key FOR UPDATE for @seconds (started, lock taken)."""
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", srv.host, "-p", str(srv.port), "-U", "postgres", "-d", db,
         "-c", "BEGIN; SELECT 1 FROM %s WHERE id = %d FOR UPDATE; SELECT pg_sleep(%s); "
               "COMMIT;" % (table, key, seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pg_rows(
            srv, db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                     "WHERE c.relname = '%s' AND l.mode = 'RowShareLock'" % table) == [["0"]]:
        time.sleep(0.05)
    return holder


def test_pg_lock_timeout_is_busy_then_retried(pair, pg_server):
    sq, pg, db = pair
    url = pg_server.url(db)
    uid = int(pg_rows(pg_server, db, "SELECT id FROM users WHERE email = "
                                     "'user6@example.com'")[0][0])
    # A short lock_timeout in the URL: lethe gives up on the app's row, says why, and
    # the erasure resumes when run again.
    set_database(pg, url + "&options=-c%20lock_timeout%3D300")
    holder = hold_row(pg_server, db, "users", uid, 4)
    try:
        t0 = time.monotonic()
        code, out, err = pg.lethe("erase", "--scope", "account", "--id",
                                  "email=user6@example.com", "--json", "--no-progress")
        assert time.monotonic() - t0 < 4, "lethe queued behind the app's lock"
        assert code != 0, out
        assert "lock_timeout" in err and "55P03" in err, err
        assert "user6@example.com" not in err
        assert pg_rows(pg_server, db, "SELECT count(*) FROM users WHERE id = %d" % uid) == [["1"]]
    finally:
        holder.wait(timeout=30)
    pg.erase("account", "email=user6@example.com")
    assert pg_rows(pg_server, db, "SELECT count(*) FROM users WHERE id = %d" % uid) == [["0"]]
    # lethe.yaml's app.database_options: a long lock_timeout waits for the app's 4 s lock
    # (the default 2 s would give up).
    set_database(pg, url)
    edit(pg.config, r"^(  database: .*)$",
         "\\1\n  database_options: {lock_timeout_ms: 60000, statement_timeout_ms: 90000}")
    uid = int(pg_rows(pg_server, db, "SELECT id FROM users WHERE email = "
                                     "'user8@example.com'")[0][0])
    holder = hold_row(pg_server, db, "users", uid, 4)
    try:
        pg.erase("account", "email=user8@example.com")
    finally:
        holder.wait(timeout=30)
    assert pg_rows(pg_server, db, "SELECT count(*) FROM users WHERE id = %d" % uid) == [["0"]]


def test_pg_connection_lost_mid_erasure_resumes_without_loss(pair, pg_server):
    """The app database drops lethe's connection mid-erasure (a failover): the batch in
    flight is rolled back, never reported done; the next transaction reconnects, or the
    erasure stops with a clear message and resumes when run again.  The end state is
    exactly SQLite's after the same erasure."""
    sq, pg, db = pair
    killed = []

    def killer():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            out = pg_rows(pg_server, db, "SELECT pg_terminate_backend(pid) FROM "
                                         "pg_stat_activity WHERE application_name = 'lethe' "
                                         "AND datname = current_database()")
            if ["t"] in out:
                killed.append(True)
                return
            time.sleep(0.01)

    t = threading.Thread(target=killer)
    t.start()
    try:
        code, out, err = pg.lethe("erase", "--scope", "account", "--id",
                                  "email=user7@example.com", "--batch", "1", "--json",
                                  "--no-progress")
    finally:
        t.join(timeout=60)
    assert killed, "lethe's connection was never seen"
    if code != 0:
        assert "connection to the app database was lost" in err, err
        pg.erase("account", "email=user7@example.com")
    assert "user7@example.com" not in err
    sq.erase("account", "email=user7@example.com", batch=1)
    for tname in TABLES:
        assert pg_ids(pg_server, db, tname) == sq_ids(sq, tname), tname
    code, out, err = pg.lethe("plan", "--scope", "account", "--id", "email=user7@example.com",
                              "--json")
    assert code == 0 and sum(s["rows"] for s in json.loads(out)["steps"]
                             if s["action"] != "retain") == 0, out


def test_pg_serve_waits_visibly_behind_the_apps_lock(pair, pg_server, servers):
    """lethe serve on a PostgreSQL app database whose app holds a row of the person for
    a while: each try gives up after lock_timeout, is warned about and taken again (not
    failed), and the request completes once the app lets go."""
    sq, pg, db = pair
    set_database(pg, pg_server.url(db) + "&options=-c%20lock_timeout%3D300")
    person = fb_id(2)
    cid = int(pg_rows(pg_server, db, "SELECT id FROM channels WHERE platform = 'facebook' "
                                     "AND platform_user_id = '%s'" % person)[0][0])
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", pg_server.host, "-p", str(pg_server.port), "-U", "postgres",
         "-d", db, "-c", "BEGIN; SELECT 1 FROM channels WHERE id = %d FOR UPDATE; "
                         "SELECT pg_sleep(3); COMMIT;" % cid],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        srv = servers(pg)
        code = srv.deletion("facebook", sign_py(FB_SECRET, person))["confirmation_code"]
        time.sleep(1.0)
        assert srv.status_json(code)["state"] in ("received", "running")
    finally:
        holder.wait(timeout=30)
    srv.wait_completed(code, timeout=20)
    stop_ok(srv)
    log = srv.stderr()
    assert "retried later" in log and "lock_timeout" in log and "55P03" in log, log
    assert person not in log
    assert pg_rows(pg_server, db, "SELECT count(*) FROM channels WHERE id = %d" % cid) == [["0"]]
    # The restore marker (the one table lethe writes in the app database) is kept there.
    marker = pg_rows(pg_server, db, "SELECT id, epoch FROM lethe_restore_marker")
    assert len(marker) == 1 and marker[0][0] == "1" and int(marker[0][1]) >= 1, marker


def test_pg_demo_written_by_lethe_demo_erases_and_sweeps_like_sqlite(demo, pg_server,
                                                                      tmp_path):
    """`lethe demo --database postgresql://` (the reference app, timestamptz times) and
    the SQLite demo of the same options: the same plans, erasures and sweeps."""
    name = "h1_demo_%d" % next(PG_SEQ)
    url = pg_server.create_db(name)
    try:
        pg = make_demo(tmp_path / "pgdemo", DEFAULT_DEMO_OPTIONS + ["--database", url])
        text = pg.config.read_text()
        for s in ("mail", "selfservice"):
            text = without_section(text, s)
        pg.config.write_text(text)
        for ident in ("email=user2@example.com", "user_id=4", "account_name=Demo User 6"):
            assert plan_rows(pg, "account", ident) == plan_rows(demo, "account", ident), ident
            demo.erase("account", ident, batch=3)
            pg.erase("account", ident, batch=3)
        now = DEMO_NOW + 2 * DAY
        for d in (demo, pg):
            code, out, err = run_lethe("sweep", "-c", d.config, "--once", "--json",
                                       env=clock_env(now))
            assert code == 0, err
        for t in TABLES:
            assert pg_ids(pg_server, name, t) == sq_ids(demo, t), t
    finally:
        pg_server.drop_db(name)


def test_pg_database_options_are_checked(demo, pg_server, tmp_path):
    d = copy_demo(demo.dir, tmp_path / "opts")
    edit(d.config, r"^(  database: .*)$", "\\1\n  database_options: {lock_timeout_ms: 300}")
    code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
    assert code == 3 and "PostgreSQL app database only" in err, (code, err)
    set_database(d, pg_server.url("postgres") + "&options=-c%20lock_timeout%3D1s")
    code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
    assert code == 3 and "keep one" in err, (code, err)
    set_database(d, pg_server.url("postgres"))
    edit(d.config, r"lock_timeout_ms: 300", "lock_timeout_ms: 0")
    code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
    assert code == 3 and "lock_timeout_ms must be an integer from 1" in err, (code, err)
    edit(d.config, r"lock_timeout_ms: 0", "lock_timeout: 1")
    code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example")
    assert code == 3 and "lock_timeout" in err, (code, err)


def test_pg_server_that_never_answers_times_out(demo, tmp_path):
    """A PostgreSQL address that accepts and never answers: lethe gives up after its
    default connect_timeout (10 s) instead of hanging."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    try:
        d = copy_demo(demo.dir, tmp_path / "silent")
        set_database(d, "postgresql://lethe@127.0.0.1:%d/app" % srv.getsockname()[1])
        t0 = time.monotonic()
        code, out, err = d.lethe("plan", "--scope", "account", "--id", "email=a@x.example",
                                 timeout=40)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert code != 0 and "cannot open app database" in err, err
    assert 8 <= took < 30, took
