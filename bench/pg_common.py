# SPDX-License-Identifier: MIT
"""bench/pg_common.py - what the benchmarks share when they run on PostgreSQL.

  Conn            a minimal libpq client through ctypes (Debian's libpq5, which
                  lethe itself loads with dlopen): text parameters and results,
                  enough for the benches' app writers and pollers without a
                  Python driver.
  start_server()  the throwaway PostgreSQL 15 of tests/pg_server.py with the
                  server's default durability (fsync and synchronous_commit on:
                  what an app's database runs with) and a log line prefix this
                  module parses.
  TxnLog          the longest transaction of lethe's sessions as the SERVER saw
                  it, from the statement log: log_statement = all and
                  log_duration = on are set on one database only (ALTER
                  DATABASE, so the raw reference and the copies run unlogged);
                  each line carries the epoch time in ms, the backend's pid and
                  the application name.  A transaction runs from the log time of
                  its BEGIN (logged when the server receives it) to the log time
                  of the duration line that follows its COMMIT or ROLLBACK
                  (logged when the commit has returned, fsync included).  A
                  statement outside BEGIN ... COMMIT is a transaction of its
                  own: its logged duration; one that only reads (SELECT, SHOW,
                  SET) is reported apart, as the longest read, since the
                  target is on transactions that write or lock.  Resolution:
                  1 ms.  Statement
                  logging was chosen over sampling pg_stat_activity.xact_start:
                  sampling misses transactions shorter than its period and its
                  own queries take CPU from the 2 cores lethe runs on; the log
                  sees every transaction and costs one line per statement.
  pg_copy()       CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY: an
                  identical copy of a database for each run (WAL_LOG, PG 15's
                  default, would write the whole copy into the WAL).
"""
import ctypes
import ctypes.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The prefix TxnLog parses: epoch seconds with ms, [pid], application@database.
LOG_PREFIX = "%n [%p] %a@%d: "
LINE_RE = re.compile(r"^(\d+\.\d+) \[(\d+)\] ([^@\n]*)@(\S*): (?:LOG|STATEMENT|DETAIL|ERROR"
                     r"|WARNING|FATAL|NOTICE):\s+(.*)$")
STMT_RE = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.S)
DUR_RE = re.compile(r"^duration: ([0-9.]+) ms")
READ_RE = re.compile(r"^\s*(SELECT|SHOW|SET|RESET)\b", re.I)
BEGIN_RE = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION)\b", re.I)
END_RE = re.compile(r"^\s*(COMMIT|END|ROLLBACK|ABORT)\b(?!\s+(TO|PREPARED))", re.I)


class PgError(Exception):
    """A libpq call failed (the server's or libpq's message)."""


_lib = None


def libpq():
    """libpq, loaded once."""
    global _lib
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("pq") or "libpq.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise PgError("cannot load libpq (%s): install libpq5 (scripts/deps)" % e) from None
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for fn, res, args in (
            ("PQconnectdb", vp, [cp]), ("PQstatus", ci, [vp]), ("PQerrorMessage", cp, [vp]),
            ("PQfinish", None, [vp]),
            ("PQexecParams", vp, [vp, cp, ci, vp, ctypes.POINTER(cp), vp, vp, ci]),
            ("PQresultStatus", ci, [vp]), ("PQresultErrorMessage", cp, [vp]),
            ("PQntuples", ci, [vp]), ("PQnfields", ci, [vp]),
            ("PQgetvalue", cp, [vp, ci, ci]), ("PQgetisnull", ci, [vp, ci, ci]),
            ("PQclear", None, [vp]), ("PQtransactionStatus", ci, [vp])):
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    _lib = lib
    return lib


class Conn:
    """One libpq connection; execute() returns rows of str/None (text format)."""

    PGRES_COMMAND_OK, PGRES_TUPLES_OK = 1, 2
    PQTRANS_IDLE = 0

    def __init__(self, url, application_name="lethe-bench"):
        lib = libpq()
        sep = "&" if "?" in url else "?"
        self.url = url
        self.c = lib.PQconnectdb((url + sep + "application_name=" + application_name).encode())
        if not self.c or lib.PQstatus(self.c) != 0:
            msg = lib.PQerrorMessage(self.c).decode(errors="replace") if self.c else "no memory"
            self.close()
            raise PgError("connect: " + msg.strip())

    def execute(self, sql, params=()):
        lib = libpq()
        vals = (ctypes.c_char_p * max(1, len(params)))(
            *[None if p is None else str(p).encode() for p in params])
        res = lib.PQexecParams(self.c, sql.encode(), len(params), None, vals, None, None, 0)
        if not res:
            raise PgError(lib.PQerrorMessage(self.c).decode(errors="replace").strip())
        try:
            st = lib.PQresultStatus(res)
            if st not in (self.PGRES_COMMAND_OK, self.PGRES_TUPLES_OK):
                raise PgError(lib.PQresultErrorMessage(res).decode(errors="replace").strip())
            rows = []
            for i in range(lib.PQntuples(res)):
                rows.append(tuple(None if lib.PQgetisnull(res, i, j)
                                  else lib.PQgetvalue(res, i, j).decode()
                                  for j in range(lib.PQnfields(res))))
            return rows
        finally:
            lib.PQclear(res)

    def in_transaction(self):
        return bool(self.c) and libpq().PQtransactionStatus(self.c) != self.PQTRANS_IDLE

    def close(self):
        if self.c:
            libpq().PQfinish(self.c)
            self.c = None


def is_url(s):
    return s.startswith("postgresql://") or s.startswith("postgres://")


def pg_server_module():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import pg_server  # noqa: E402 - tests/pg_server.py, H2's harness
    except ImportError as e:
        raise PgError("tests/pg_server.py is missing (%s)" % e) from None
    finally:
        sys.path.pop(0)
    return pg_server


def start_server(tmpdir, settings=None):
    """A PostgreSQL server for a bench: the server's default durability, our log prefix.
    Stop it with .stop() (also at exit)."""
    pg_server = pg_server_module()
    conf = {"log_line_prefix": "'%s'" % LOG_PREFIX, "log_parameter_max_length": "0",
            "log_parameter_max_length_on_error": "0", "log_min_messages": "warning",
            "log_checkpoints": "off"}
    conf.update(settings or {})
    if not pg_server.pg_available():
        raise PgError(pg_server.pg_missing_message())
    return pg_server.PgServer(tmpdir, fast=False, settings=conf).start()


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def pg_copy(srv, template, name):
    """@name: an identical copy of @template (no session may be connected to it)."""
    srv.psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE);\n"
             "CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY;"
             % (quote_ident(name), quote_ident(name), quote_ident(template)))
    return srv.url(name)


def pg_drop(srv, name):
    srv.psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE);" % quote_ident(name))


def settings_of(srv, db):
    """The settings a bench reports: durability and the version."""
    out = srv.psql(db, "SELECT current_setting('server_version'), current_setting('fsync'), "
                       "current_setting('synchronous_commit'), current_setting('wal_level'), "
                       "current_setting('shared_buffers')")
    v = out.strip().split("|")
    return {"server_version": v[0], "fsync": v[1], "synchronous_commit": v[2],
            "wal_level": v[3], "shared_buffers": v[4]}


class TxnLog:
    """Transactions of a database's sessions, from the server's statement log
    (see the module's docstring).  enable() before the run, read() after it."""

    def __init__(self, srv, db):
        self.srv, self.db = srv, db
        self.offset = 0

    def enable(self):
        self.srv.psql("postgres", "ALTER DATABASE %s SET log_statement = 'all';\n"
                      "ALTER DATABASE %s SET log_duration = on;"
                      % (quote_ident(self.db), quote_ident(self.db)))
        self.offset = os.path.getsize(self.srv.logfile)

    def read(self, exclude=("lethe-bench", "lethe-bench-writer", "psql")):
        """{'max_ms', 'count', 'top': [5 longest], 'apps': {...}} of the
        transactions logged since enable() in self.db by sessions whose
        application name is not in @exclude."""
        with open(self.srv.logfile, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode(errors="replace")
        return parse_txn_log(text, self.db, exclude)


def parse_txn_log(text, db, exclude=()):
    """The transactions in the log @text (lines with LOG_PREFIX) of database @db, sessions
    of application names not in @exclude: {'max_ms' (the longest BEGIN ... COMMIT or
    single statement that writes), 'count', 'top', 'apps', 'explicit', 'single',
    'max_read_ms' (the longest single statement that only reads), 'reads'}."""
    begin = {}     # pid -> log time (s) of its BEGIN
    ending = {}    # pid -> True once COMMIT/ROLLBACK was logged, until its duration line
    single = {}    # pid -> True when a statement outside a transaction awaits its duration
    first = {}     # pid -> the first statement of its open transaction (what it did)
    txns = []      # (ms, pid, kind, what)
    apps = {}
    for line in text.splitlines():
        m = LINE_RE.match(line)
        if m is None or m.group(4) != db or m.group(3) in exclude:
            continue
        t, pid, app, msg = float(m.group(1)), int(m.group(2)), m.group(3), m.group(5)
        apps[app] = apps.get(app, 0) + 1
        s = STMT_RE.match(msg)
        if s is not None:
            stmt = s.group(1)
            what = " ".join(stmt.split())[:60]
            if BEGIN_RE.match(stmt):
                begin[pid] = t
                first.pop(pid, None)
                single.pop(pid, None)
            elif END_RE.match(stmt) and pid in begin:
                ending[pid] = True
            elif pid not in begin:
                single[pid] = ("read" if READ_RE.match(stmt) else "single", what)
            else:
                first.setdefault(pid, what)
            continue
        d = DUR_RE.match(msg)
        if d is None:
            continue
        if ending.pop(pid, False):
            txns.append(((t - begin.pop(pid)) * 1000.0, pid, "explicit", first.pop(pid, "")))
        elif pid in single:
            kind, what = single.pop(pid)
            txns.append((float(d.group(1)), pid, kind, what))
    reads = sorted((x for x in txns if x[2] == "read"), reverse=True)
    txns = sorted((x for x in txns if x[2] != "read"), reverse=True)
    return {"max_ms": txns[0][0] if txns else 0.0, "count": len(txns),
            "max_read_ms": reads[0][0] if reads else 0.0, "reads": len(reads),
            "explicit": sum(1 for x in txns if x[2] == "explicit"),
            "single": sum(1 for x in txns if x[2] == "single"),
            "top": [round(x[0], 1) for x in txns[:5]],
            "top_what": ["%.1f ms %s: %s" % (x[0], x[2], x[3]) for x in txns[:3]],
            "max_read_what": reads[0][3] if reads else "", "apps": apps,
            "open_at_end": len(begin)}
