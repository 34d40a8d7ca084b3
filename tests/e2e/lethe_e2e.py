# SPDX-License-Identifier: MIT
"""Helpers shared by lethe's black-box end-to-end tests (fixtures: conftest.py).

The binary is LETHE_BIN, or build/lethe relative to the repository root (found
from this file's location).  LETHE_SANITIZED=1 (an ASan+UBSan build) makes
timeouts longer and lets the tests scale their data down.

A demo lives on SQLite (files under its directory) or on PostgreSQL (a database
of the test server, tests/pg_server.py): Demo.db and Demo.state_db are then a
PgDb, and query(), execute(), columns() and snapshot() take either.  On
PostgreSQL, Debian's libpq runs every statement (through ctypes: no driver
package); values come back as SQLite's would for the demo (timestamps as
"YYYY-MM-DD HH:MM:SS" UTC, booleans equal to 1/0), so one test reads both
backends.
"""
import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections import OrderedDict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANITIZED = os.environ.get("LETHE_SANITIZED", "") not in ("", "0")
# A sanitized binary is several times slower; every timeout is scaled by this.
SLOW = 6 if SANITIZED else 1
DEFAULT_TIMEOUT = 60

DEFAULT_DEMO_OPTIONS = ["--users", "12", "--seed", "7"]

# Things a sanitizer prints when it finds a problem.
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")

HASH_RE = re.compile(r"^anon:[0-9a-f]{32}$")
TEN_YEARS = 10 * 365 * 86400

# The demo data map's parent links (child -> parents), for ordering checks.
DEMO_PARENTS = {
    "projects": ["users"],
    "channels": ["projects"],
    "posts": ["projects"],
    "media": ["projects"],
    "messages": ["channels"],
    "comments": ["channels"],
    "analytics": ["channels"],
    "automation_rules": ["channels"],
    "webhook_subscriptions": ["channels"],
    "publishing_logs": ["channels"],
    "preview_links": ["projects"],
    "request_logs": ["users"],
    "contacts": ["projects"],
    "campaigns": ["projects"],
    "invoices": ["users"],
    "users": [],
}
CHANNEL_CHILDREN = ["messages", "comments", "analytics", "automation_rules",
                    "webhook_subscriptions", "publishing_logs"]
PROJECT_CHILDREN = ["channels", "posts", "media", "preview_links", "contacts", "campaigns"]


def lethe_path():
    """The lethe binary under test (absolute)."""
    p = os.environ.get("LETHE_BIN") or str(ROOT / "build" / "lethe")
    return str(Path(p).resolve())


def lethe_env(extra=None):
    """The environment lethe runs with: no anonymize key from the caller's shell."""
    env = dict(os.environ)
    env.pop("LETHE_ANONYMIZE_KEY", None)
    if extra:
        env.update(extra)
    return env


def check_sanitizer(stderr):
    for mark in SANITIZER_MARKS:
        if mark in stderr:
            pytest.fail("sanitizer report from lethe:\n" + stderr)


def run_lethe(*args, timeout=DEFAULT_TIMEOUT, env=None, cwd=None):
    """Run lethe with @args; returns (exit code, stdout, stderr)."""
    cmd = [lethe_path()] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout * SLOW,
                           env=lethe_env(env), cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail("lethe timed out after %ss: %s" % (timeout * SLOW, " ".join(cmd)))
        raise e
    check_sanitizer(p.stderr)
    return p.returncode, p.stdout, p.stderr


def popen_lethe(*args, env=None):
    """Start lethe in the background (stdout/stderr piped)."""
    cmd = [lethe_path()] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=lethe_env(env))


# ---- PostgreSQL (libpq) ----------------------------------------------------------------

# LETHE_E2E_PG_STATE=0: the PostgreSQL demos keep their state store on SQLite
# (var/state.db), to look at the app database's driver alone.
PG_STATE = os.environ.get("LETHE_E2E_PG_STATE", "1") != "0"
# An ISO timestamp as PostgreSQL's JSON gives it (session time zone UTC).
PG_TS_RE = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)(?:\+00:00)?$")
PGRES_COMMAND_OK, PGRES_TUPLES_OK = 1, 2
_libpq = []


class PgError(Exception):
    """A statement PostgreSQL refused, or no connection (message: libpq's)."""


def libpq():
    """Debian's libpq (libpq5, a dependency of libpq-dev) through ctypes: a connection per
    statement, no driver package needed, and far cheaper than a psql process."""
    if not _libpq:
        lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        for name, res, args in (("PQconnectdb", vp, [cp]), ("PQstatus", i, [vp]),
                                ("PQerrorMessage", cp, [vp]), ("PQexec", vp, [vp, cp]),
                                ("PQresultStatus", i, [vp]), ("PQresultErrorMessage", cp, [vp]),
                                ("PQntuples", i, [vp]), ("PQnfields", i, [vp]),
                                ("PQgetvalue", cp, [vp, i, i]), ("PQgetisnull", i, [vp, i, i]),
                                ("PQclear", None, [vp]), ("PQfinish", None, [vp])):
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        _libpq.append(lib)
    return _libpq[0]


class PgDb:
    """A PostgreSQL database of the tests: its URL and the schema searched first
    ("public" for the app's tables, "lethe" for the state store's)."""

    def __init__(self, url, schema="public"):
        self.url = url
        self.schema = schema

    def __repr__(self):
        return "PgDb(%r, %r)" % (self.url, self.schema)

    def __str__(self):
        return self.url

    def exec(self, sql):
        """Run @sql (one or more statements, one transaction) in a new connection, with
        the session's search_path set to the schema and the time zone UTC; the last
        statement's rows as lists of text (None for NULL)."""
        lib = libpq()
        conn = lib.PQconnectdb(self.url.encode())
        try:
            if lib.PQstatus(conn) != 0:
                raise PgError("cannot connect to %s: %s" % (
                    self.url, (lib.PQerrorMessage(conn) or b"").decode(errors="replace")))
            full = "SET search_path = %s; SET TimeZone = 'UTC'; %s" % (
                pg_ident(self.schema), sql)
            res = lib.PQexec(conn, full.encode())
            try:
                status = lib.PQresultStatus(res)
                if status not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                    raise PgError("%r failed: %s" % (sql, (lib.PQresultErrorMessage(res) or
                                                            b"").decode(errors="replace")))
                return [[None if lib.PQgetisnull(res, r, c) else
                         lib.PQgetvalue(res, r, c).decode()
                         for c in range(lib.PQnfields(res))]
                        for r in range(lib.PQntuples(res))]
            finally:
                lib.PQclear(res)
        finally:
            lib.PQfinish(conn)

    def json(self, sql):
        """The one JSON value @sql selects, parsed (objects as lists of (key, value))."""
        rows = self.exec(sql)
        if not rows or rows[0][0] is None:
            return None
        return json.loads(rows[0][0], object_pairs_hook=list)

    def exists(self):
        """Whether the schema holds any table (a state store not created yet: False)."""
        return self.json("SELECT to_json(count(*)) FROM information_schema.tables "
                         "WHERE table_schema = %s" % pg_literal(self.schema)) > 0


def pg_ident(name):
    return '"' + name.replace('"', '""') + '"'


def pg_literal(v):
    """@v as an SQL literal (standard_conforming_strings is on: '' is the only escape)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    return "'" + str(v).replace("'", "''") + "'"


def pg_bind(sql, params):
    """@sql with SQLite's ? / ?N placeholders replaced by @params as literals (quoted
    strings and identifiers are left alone)."""
    params = list(params)
    out, i, n, pos = [], 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = sql.index(c, i + 1)
            while j + 1 < n and sql[j + 1] == c:
                j = sql.index(c, j + 2)
            out.append(sql[i:j + 1])
            i = j + 1
            continue
        if c == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            if j > i + 1:
                idx = int(sql[i + 1:j]) - 1
            else:
                idx = pos
                pos += 1
            out.append(pg_literal(params[idx]))
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def pg_value(v):
    """A JSON value of a row as SQLite gives the demo's (timestamps as its text)."""
    if isinstance(v, str):
        m = PG_TS_RE.match(v)
        if m:
            return m.group(1) + " " + m.group(2)
    return v


def pg_query(db, sql, params=()):
    """Rows of one SELECT (or ... RETURNING) on @db: a list of tuples."""
    body = pg_bind(sql, params).strip().rstrip(";")
    if body.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
        rows = db.json("WITH q AS (%s) SELECT coalesce(json_agg(row_to_json(q)), '[]') "
                       "FROM q" % body)
    else:
        rows = db.json("SELECT coalesce(json_agg(row_to_json(q)), '[]') FROM (%s) q" % body)
    return [tuple(pg_value(v) for _, v in r) for r in rows]


def pg_tables(db):
    """{table: [column, ...]} of @db's schema, every list in column order."""
    rows = db.json(
        "SELECT coalesce(json_agg(json_build_array(table_name, column_name) "
        "ORDER BY table_name, ordinal_position), '[]') FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name IN (SELECT table_name FROM "
        "information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE')"
        % (pg_literal(db.schema), pg_literal(db.schema)))
    out = OrderedDict()
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def pg_snapshot(db):
    tables = {t: c for t, c in pg_tables(db).items() if t != "lethe_restore_marker"}
    if not tables:
        return {}
    parts = ["%s, (SELECT coalesce(json_agg(row_to_json(t)), '[]') FROM \"%s\" t)"
             % (pg_literal(t), t.replace('"', '""')) for t in tables]
    doc = dict(db.json("SELECT json_build_object(%s)" % ", ".join(parts)))
    out = {}
    for t, cols in tables.items():
        key = cols.index("id") if "id" in cols else None
        rows = {}
        for n, r in enumerate(doc[t]):
            row = tuple(pg_value(v) for _, v in r)
            rows[n if key is None else row[key]] = row
        out[t] = rows
    return out


def pg_dump_text(db):
    """Every row of every table of @db's schema as text (bytea in the 'escape' form, so
    clear text stored in one shows as itself): what a reader of the tables sees."""
    cols = db.json(
        "SELECT coalesce(json_agg(json_build_array(table_name, column_name, data_type) "
        "ORDER BY table_name, ordinal_position), '[]') FROM information_schema.columns "
        "WHERE table_schema = %s" % pg_literal(db.schema))
    tables = OrderedDict()
    for t, c, typ in cols:
        ident = '"%s"' % c.replace('"', '""')
        tables.setdefault(t, []).append("encode(%s, 'escape')" % ident if typ == "bytea"
                                        else "%s::text" % ident)
    if not tables:
        return b""
    parts = ["(SELECT coalesce(string_agg(concat_ws('|', %s), E'\\n'), '') FROM \"%s\")"
             % (", ".join(c), t.replace('"', '""')) for t, c in tables.items()]
    return db.exec("SELECT %s" % " || E'\\n' || ".join(parts))[0][0].encode()


def is_pg(db):
    return isinstance(db, PgDb)


def has_table(db, table):
    """Whether @db (an SQLite file or a PgDb's schema) exists and has @table."""
    if is_pg(db):
        return db.json("SELECT to_json(count(*)) FROM information_schema.tables WHERE "
                       "table_schema = %s AND table_name = %s"
                       % (pg_literal(db.schema), pg_literal(table))) > 0
    return Path(db).exists() and query(db, "SELECT count(*) FROM sqlite_master WHERE "
                                           "name = ?", (table,))[0][0] > 0


def insert(db, sql, params=()):
    """Run one INSERT on @db (SQLite file or PgDb) and commit it; the new row's id."""
    if is_pg(db):
        return pg_query(db, sql + " RETURNING id", params)[0][0]
    con = sqlite3.connect(str(db), timeout=10)
    try:
        with con:
            return con.execute(sql, params).lastrowid
    finally:
        con.close()


def execute(db, sql, params=()):
    """Run one writing statement on @db (SQLite file or PgDb) and commit it."""
    if is_pg(db):
        db.exec(pg_bind(sql, params))
        return
    con = sqlite3.connect(str(db), timeout=10)
    try:
        with con:
            con.execute(sql, params)
    finally:
        con.close()


def snapshot(db_path):
    """Every row of every table: {table: {id: row_tuple}} (id = the 'id' column).
    lethe's own restore marker (lethe_restore_marker) is not the app's data: left out.
    On PostgreSQL (a PgDb): the tables of its schema; a table without an id column is
    keyed by row order."""
    if is_pg(db_path):
        return pg_snapshot(db_path)
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        out = {}
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'lethe_restore_marker' "
            "ORDER BY name")]
        for t in tables:
            cols = [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (t,))]
            key = cols.index("id") if "id" in cols else None
            rows = {}
            if key is None:
                for r in con.execute('SELECT rowid, * FROM "%s"' % t):
                    rows[r[0]] = tuple(r[1:])
            else:
                for r in con.execute('SELECT * FROM "%s"' % t):
                    rows[r[key]] = tuple(r)
            out[t] = rows
        return out
    finally:
        con.close()


def sorted_rows(db_path):
    """Every table's rows, sorted: {table: [row, ...]} (for comparing two databases)."""
    return {t: sorted(rows.values(), key=repr) for t, rows in snapshot(db_path).items()}


def columns(db_path, table):
    if is_pg(db_path):
        return pg_tables(db_path).get(table, [])
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        return [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (table,))]
    finally:
        con.close()


def query(db_path, sql, params=()):
    """Rows of one query on @db_path (an SQLite file or a PgDb; ? and ?N placeholders)."""
    if is_pg(db_path):
        return pg_query(db_path, sql, params)
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def block_deletes(db, table, name="e2e_block", row_id=None):
    """A trigger @name that makes every DELETE on @table (or only of the row whose id is
    @row_id) fail with 'blocked by the test', on SQLite or PostgreSQL."""
    when = "" if row_id is None else " WHEN (old.id = %d)" % int(row_id)
    if is_pg(db):
        db.exec("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
                "RAISE EXCEPTION 'blocked by the test'; END $f$; CREATE TRIGGER %s BEFORE "
                "DELETE ON \"%s\" FOR EACH ROW%s EXECUTE FUNCTION %s()"
                % (name, name, table, when, name))
        return
    execute(db, "CREATE TRIGGER %s BEFORE DELETE ON \"%s\"%s BEGIN SELECT "
            "RAISE(ABORT, 'blocked by the test'); END" % (name, table, when))


def unblock_deletes(db, table, name="e2e_block"):
    """Drop block_deletes()' trigger @name."""
    if is_pg(db):
        db.exec('DROP TRIGGER %s ON "%s"; DROP FUNCTION %s()' % (name, table, name))
        return
    execute(db, "DROP TRIGGER %s" % name)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def media_files(media_dir):
    """Relative paths of every file under @media_dir."""
    media_dir = Path(media_dir)
    return {str(p.relative_to(media_dir)) for p in media_dir.rglob("*") if p.is_file()}


class Demo:
    """One demo directory written by `lethe demo`: on SQLite (app.db, var/state.db) or,
    given @pg_url, on that PostgreSQL database (the app's tables in schema public, the
    state store in schema lethe of the same database, or on SQLite if PG_STATE is off)."""

    def __init__(self, path, pg_url=None):
        self.dir = Path(path)
        self.config = self.dir / "lethe.yaml"
        self.media = self.dir / "media"
        self.datamap = self.dir / "datamap.yaml"
        self.key_file = self.dir / "var" / "anonymize.key"
        self.pg_url = pg_url
        if pg_url is None:
            self.backend = "sqlite"
            self.db = self.dir / "app.db"
            self.state_db = self.dir / "var" / "state.db"
        else:
            self.backend = "postgresql"
            self.db = PgDb(pg_url)
            self.state_db = PgDb(pg_url, "lethe") if PG_STATE else \
                self.dir / "var" / "state.db"

    def lethe(self, command, *args, **kw):
        """Run `lethe COMMAND -c DIR/lethe.yaml ARGS...`."""
        return run_lethe(command, "-c", self.config, *args, **kw)

    def plan(self, scope, *ids):
        """`lethe plan --json`: the parsed plan (fails the test on an error)."""
        code, out, err = self.lethe("plan", "--scope", scope, *id_args(ids), "--json")
        assert code == 0, "plan failed (%d): %s" % (code, err)
        return json.loads(out)

    def erase(self, scope, *ids, batch=None, extra=()):
        """`lethe erase --json`: the parsed summary (fails the test on an error)."""
        args = ["--scope", scope, *id_args(ids), "--json", "--no-progress", *extra]
        if batch is not None:
            args += ["--batch", batch]
        code, out, err = self.lethe("erase", *args)
        assert code == 0, "erase failed (%d): %s\n%s" % (code, err, out)
        return json.loads(out)

    def erase_cmd(self, scope, *ids, batch=None):
        """The argument list of an erase (for popen_lethe)."""
        args = ["erase", "-c", str(self.config), "--scope", scope, *id_args(ids), "--json",
                "--no-progress"]
        if batch is not None:
            args += ["--batch", str(batch)]
        return args

    def snapshot(self):
        return snapshot(self.db)

    def media_files(self):
        return media_files(self.media)

    def key(self):
        return bytes.fromhex(self.key_file.read_text().strip())

    def config_without(self, section):
        """lethe.yaml's text without its top-level @section (e.g. "platforms", before a
        test appends its own: a key may appear only once)."""
        return without_section(self.config.read_text(), section)

    def state(self, sql, params=()):
        """Query the state store (empty list if it does not exist yet)."""
        if not self.state_db.exists():
            return []
        return query(self.state_db, sql, params)

    def state_rows(self, table):
        """Every row of the state store's @table, ordered by its first column."""
        return self.state('SELECT * FROM "%s" ORDER BY 1' % table)

    def rows(self, table, where="", params=()):
        """Rows of the app's @table (optionally WHERE @where), ordered by id."""
        return query(self.db, 'SELECT * FROM "%s"%s ORDER BY id'
                     % (table, " WHERE " + where if where else ""), params)

    def execute(self, sql, params=()):
        """Run one writing statement on the app's database."""
        execute(self.db, sql, params)


def rows(demo, table, where="", params=()):
    """Rows of the app's @table (of @demo, on either backend), ordered by id."""
    return demo.rows(table, where, params)


db_rows = rows


def state_rows(demo, table):
    """Every row of the state store's @table (of @demo, on either backend)."""
    return demo.state_rows(table)


def without_section(text, name):
    """YAML @text without its top-level section @name (its key line and everything
    indented under it, comments included); @text unchanged if there is none."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(name + ":"):
            skipping = True
            continue
        if skipping and (line[:1] in (" ", "\t", "#", "\n") or line == ""):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def id_args(ids):
    """[("email", "a@b"), ...] or ["email=a@b", ...] -> ["--id", "email=a@b", ...]."""
    out = []
    for i in ids:
        if isinstance(i, (tuple, list)):
            i = "%s=%s" % (i[0], i[1])
        out += ["--id", i]
    return out


def rows_by_table(summary):
    """{table: rows} of a plan or erase summary."""
    return {s["table"]: s["rows"] for s in summary["steps"]}


def copy_demo(src, dst, pg_url=None):
    """A copy of the demo directory @src; on PostgreSQL (@src a Demo on it), @pg_url is a
    database already copied from @src's (CREATE DATABASE ... TEMPLATE) and the copy's
    lethe.yaml points at it."""
    shutil.copytree(str(getattr(src, "dir", src)), str(dst), symlinks=True)
    if pg_url is None:
        return Demo(dst)
    cfg = Path(dst) / "lethe.yaml"
    text = cfg.read_text()
    assert src.pg_url in text, "the demo's lethe.yaml does not name its database"
    cfg.write_text(text.replace(src.pg_url, pg_url))
    return Demo(dst, pg_url)


def make_demo(path, options, pg_url=None):
    """`lethe demo` into @path; on PostgreSQL with --database and --state @pg_url."""
    extra = [] if pg_url is None else ["--database", pg_url] + (
        ["--state", pg_url] if PG_STATE else [])
    code, out, err = run_lethe("demo", "--dir", path, "--quiet", *extra, *options,
                               timeout=120)
    assert code == 0, "lethe demo failed (%d): %s" % (code, err)
    return Demo(path, pg_url)
