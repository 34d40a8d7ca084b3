# SPDX-License-Identifier: MIT
"""`lethe serve` on a PostgreSQL app database under the failure modes of
docs/scale-out.md ("Failure modes"), against a real PostgreSQL 15:

- a long transaction pinning the xmin horizon (a psql session after
  `BEGIN; SELECT txid_current();`): lethe keeps erasing, and warns once per look
  naming the session's pid and the transaction's age, never what it ran; /metrics
  shows it; the warning stops once the transaction ends;
- the connection lost mid-batch (pg_terminate_backend of lethe's connections) and
  the server restarted (pg_ctl restart) while an erasure runs: the request resumes
  and completes with every row of the person gone, no other row touched and the
  exact counts on the status page (no row erased twice or skipped);
- the app holding a lock on rows lethe must delete (SELECT ... FOR UPDATE held
  longer than lock_timeout): lethe waits visibly (a warning naming the table, not
  the row's values), never reports the request done while the lock is held, and
  completes once it is released.

The module runs its own PostgreSQL server (the restart must not disturb other
modules' databases); the demo's app tables live in a database of it, its state
store in SQLite or (tests taking `state`) in the same PostgreSQL database, whose
sessions are then cut and restarted too.  The heavy demo user's erasure, with small batches, lasts long
enough to be interrupted (as in test_serve_restart.py).
"""
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time

import pytest

from lethe_e2e import Demo, run_lethe, snapshot, without_section
from pg_server import PG_BINDIR, PgError, PgServer
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    assert_code,
    category_counts,
    expected_after,
    person_rows,
    public_url,
    query,
    reported_counts,
    servers,
    set_config,
    sign_py,
    stop_ok,
)
from sweep_helpers import DAY, DEMO_NOW, clock_env, fmt

HEAVY_ROWS = 20000  # about 1,200 messages and 2,700 rows on the heavy user's Instagram channel
DEMO_OPTIONS = ["--users", "4", "--seed", "3", "--heavy", str(HEAVY_ROWS)]
# Rows per transaction, so that the erasure lasts a few seconds: a batch costs about
# ten times more with the state store on PostgreSQL (its own transactions per batch);
# two rows, not ten, there: with ten the erasure once finished before the restart.
BATCH_ROWS = {"sqlite": 1, "postgresql": 2}
RESUME_S = 20  # an interrupted erasure completes within this (a job's lease is 30 s)
WARN_S = 2  # app.long_transaction_warn_s in these tests: a look every second


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory):
    """This module's own PostgreSQL server (overrides the session's: a restart here
    must not touch other modules' databases)."""
    srv = PgServer(tmp_path_factory.mktemp("pgfail"), fast=True)
    try:
        srv.start()
    except PgError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


def make_template(srv, tmp_path_factory, name, pg_state):
    srv.create_db(name)
    path = tmp_path_factory.mktemp(name) / "demo"
    extra = ["--state", srv.url(name)] if pg_state else []
    code, out, err = run_lethe("demo", "--dir", path, "--quiet", "--database", srv.url(name),
                               *extra, *DEMO_OPTIONS, timeout=300)
    assert code == 0, "lethe demo --database failed (%d): %s" % (code, err)
    demo = Demo(path, srv.url(name))
    text = demo.config.read_text()
    for section in ("mail", "selfservice"):
        text = without_section(text, section)
    demo.config.write_text(text)
    demo.template_name = name
    return demo


@pytest.fixture(scope="module")
def pg_templates(pg_server, tmp_path_factory):
    """templates(state) -> the module's demo with its app tables in PostgreSQL (a
    template database: never used directly), its state store in SQLite ("sqlite") or
    in the same PostgreSQL database ("postgresql"); written at first use."""
    made = {}

    def get(state):
        if state not in made:
            made[state] = make_template(pg_server, tmp_path_factory, "tmpl_failures_" + state,
                                        state == "postgresql")
        return made[state]

    return get


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request):
    """The state store's backend of a test that takes it (the app database is always
    PostgreSQL here)."""
    return request.param


_copies = itertools.count(1)


@pytest.fixture
def pgdemo(request, pg_server, pg_templates, tmp_path):
    """A private copy of the module's demo: its own database made from the template; the
    state store on the test's `state` backend if it takes one, else SQLite."""
    state = request.getfixturevalue("state") if "state" in request.fixturenames else "sqlite"
    tmpl = pg_templates(state)
    name = "failures_%d" % next(_copies)
    pg_server.psql("postgres", 'CREATE DATABASE "%s" TEMPLATE "%s"' % (name, tmpl.template_name))
    shutil.copytree(str(tmpl.dir), str(tmp_path / "demo"), symlinks=True)
    demo = Demo(tmp_path / "demo", pg_server.url(name))
    text = demo.config.read_text()
    assert tmpl.pg_url in text, "the demo's lethe.yaml does not name its database"
    demo.config.write_text(text.replace(tmpl.pg_url, demo.pg_url))
    if state == "sqlite":
        demo.state_db = demo.dir / "var" / "state.db"  # the files copied with the directory
    demo.state_backend = state
    yield demo
    pg_server.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


class PgSession:
    """A psql session kept open (a transaction of the 'app'): one statement per call,
    its first output line read back within a bounded time."""

    def __init__(self, url):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()

    def one(self, sql, timeout=20):
        """Run @sql (one statement returning one row) and return its output line."""
        self.send(sql)
        try:
            line = self.lines.get(timeout=timeout * TSCALE)
        except queue.Empty:
            line = None
        assert line is not None, "psql gave no answer to %r: %s" % (
            sql, self.proc.stderr.read() if self.proc.poll() is not None else "")
        return line

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def pg_session():
    """pg_session(url) -> an open PgSession, closed (its transaction ended) at teardown."""
    opened = []

    def make(url):
        s = PgSession(url)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def heavy_instagram_id(db):
    rows = query(db, "SELECT c.platform_user_id FROM channels c JOIN projects p ON "
                     "p.id = c.project_id JOIN users u ON u.id = p.user_id WHERE "
                     "u.email = 'heavy@example.com' AND c.platform = 'instagram'")
    assert len(rows) == 1, rows
    return rows[0][0]


def remaining(db, removed):
    """How many of the rows in @removed are still in @db."""
    n = 0
    for t, ids in removed.items():
        if ids:
            n += len({r[0] for r in query(db, 'SELECT id FROM "%s"' % t)} & ids)
    return n


def prepare(demo, warn_s=None):
    set_config(demo, r"batch_rows: 0\b", "batch_rows: %d" % BATCH_ROWS[demo.state_backend])
    if warn_s is not None:
        set_config(demo, r"^app:\n", "app:\n  long_transaction_warn_s: %d\n" % warn_s)
    uid = heavy_instagram_id(demo.db)
    removed = person_rows(demo.db, "instagram", uid)
    assert len(removed["messages"]) > 500, "the heavy user's channel is too small"
    return uid, removed


def wait_partly_erased(demo, removed, timeout=20):
    """Wait (bounded) until the erasure is under way: some rows gone, not all."""
    total = sum(len(v) for v in removed.values())
    deadline = time.monotonic() + timeout * TSCALE
    while True:
        left = remaining(demo.db, removed)
        if left < total or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 0 < left < total, "the erasure did not start in time (or finished): %d" % left
    return left


def wait_completed(srv, code, timeout):
    """Poll the status JSON until the request is completed; (json, seconds).  Right after
    the state store's connection was cut, a read may answer 503 "unavailable" (the
    store reconnects at its next statement): tolerated, and said."""
    t0 = time.monotonic()
    deadline = t0 + timeout * TSCALE
    last, unavailable = None, 0
    while time.monotonic() < deadline:
        status, _, data = srv.get("/data-deletion/status?id=" + code,
                                  accept="application/json")
        if status == 503 and json.loads(data)["error"]["code"] == "unavailable":
            unavailable += 1
            time.sleep(0.1)
            continue
        assert status == 200, (status, data)
        last = json.loads(data)
        if last["state"] in ("completed", "completed_with_retention"):
            if unavailable:
                print("\nthe status answered 503 %d times on the way" % unavailable)
            return last, time.monotonic() - t0
        assert last["state"] in ("received", "running"), last
        time.sleep(0.05)
    pytest.fail("request %s not completed after %ss: %r\n%s"
                % (code, timeout * TSCALE, last, srv.stderr()))


def assert_completed_exactly(demo, srv, code, removed, before, timeout=90):
    """The request completes with the person's rows gone, nothing else touched, and the
    status page's counts exact: no row erased twice, none skipped."""
    st, waited = wait_completed(srv, code, timeout)
    assert st["state"] == "completed" and st["no_data"] is False, st
    assert remaining(demo.db, removed) == 0
    assert snapshot(demo.db) == expected_after(before, removed)
    assert reported_counts(st) == category_counts(removed), st
    return waited


def lethe_backends(demo):
    """pids of the client sessions on the demo's database but this one: lethe's (its app
    database's and, with the state store there, its store's)."""
    rows = demo.db.exec("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
    return [int(r[0]) for r in rows]


# ---- a long transaction pins the xmin horizon ------------------------------------------


def metric(srv, name):
    status, _, data = srv.get("/metrics")
    assert status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), data.decode(), re.M)
    return float(m.group(1)) if m else None


def warnings_about(stderr, pid):
    return [l for l in stderr.splitlines()
            if "holds back vacuum" in l and "(pid %d," % pid in l]


def test_long_transaction_warned_while_lethe_keeps_working(state, pgdemo, servers,
                                                           pg_session):
    demo = pgdemo
    uid, removed = prepare(demo, warn_s=WARN_S)
    before = snapshot(demo.db)
    # The app's session: a transaction holding an xid, its last statement a marker
    # that must never reach lethe's log.
    holder = pg_session(demo.db.url)
    holder.send("BEGIN;")
    pid = int(holder.one("SELECT pg_backend_pid();"))
    holder.one("SELECT txid_current();")
    holder.one("SELECT 'the-app-statement-text-7f3a' AS marker;")
    srv = servers(demo)

    # lethe keeps working: a deletion is erased while the transaction stays open.
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    assert_completed_exactly(demo, srv, code, removed, before)

    # Warned, naming the pid and the age; the statement text never.
    deadline = time.monotonic() + (WARN_S + 10) * TSCALE
    while not warnings_about(srv.stderr(), pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    first = warnings_about(srv.stderr(), pid)
    assert first, "no warning about pid %d:\n%s" % (pid, srv.stderr())
    m = re.search(r"open for (\d+) s", first[0])
    assert m and int(m.group(1)) >= WARN_S, first[0]
    assert "the-app-statement-text-7f3a" not in srv.stderr()
    assert metric(srv, "lethe_pg_oldest_transaction_pid") == pid
    assert metric(srv, "lethe_pg_oldest_transaction_seconds") >= WARN_S

    # Once per look (a fifth of the threshold, at least 1 s), not in a loop.
    n0 = len(warnings_about(srv.stderr(), pid))
    time.sleep(3)
    n1 = len(warnings_about(srv.stderr(), pid))
    assert 1 <= n1 - n0 <= 3 + 1, (n0, n1)

    # The transaction ends: the warnings stop and the metrics say none is open.
    holder.one("COMMIT; SELECT 1;")
    deadline = time.monotonic() + 10 * TSCALE
    while metric(srv, "lethe_pg_oldest_transaction_pid") != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(srv, "lethe_pg_oldest_transaction_pid") == 0
    n2 = len(warnings_about(srv.stderr(), pid))
    time.sleep(2)
    assert len(warnings_about(srv.stderr(), pid)) == n2
    stop_ok(srv)


# ---- the connection lost mid-batch -----------------------------------------------------


def test_connections_terminated_mid_batch_job_resumes(state, pgdemo, servers):
    demo = pgdemo
    uid, removed = prepare(demo)
    before = snapshot(demo.db)
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    left = wait_partly_erased(demo, removed)
    # Every lethe session of the database, cut while the erasure runs (lethe reconnects
    # only when a thread next needs its connection: rounds until the runner is back).
    killed = 0
    for _ in range(3):
        pids = lethe_backends(demo)
        if pids:
            rows = demo.db.exec("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) "
                                "FROM pg_stat_activity WHERE pid IN (%s)) q"
                                % ", ".join(str(p) for p in pids))
            killed += int(rows[0][0])
        time.sleep(0.3)
    print("\nterminated %d sessions, the first time with %d rows left" % (killed, left))
    assert killed >= 1
    waited = assert_completed_exactly(demo, srv, code, removed, before)
    # Taken back at once: not after its own job lease (30 s) lapsed, which a run that
    # lost the state store mid-job could not release.
    assert waited < RESUME_S * TSCALE, "completed %.1f s after the cut" % waited
    # The runner met the lost connection mid-job (the app database's, or first the state
    # store's when it is there too), said so, and went on.
    assert re.search(r"warning: .*(connection to the app database was lost|state store: "
                     r".*connection to the server lost)", srv.stderr()), srv.stderr()
    assert srv.proc.poll() is None, "lethe serve died:\n%s" % srv.stderr()
    stop_ok(srv)


def test_server_restart_mid_job_resumes(state, pgdemo, servers, pg_server):
    demo = pgdemo
    uid, removed = prepare(demo)
    before = snapshot(demo.db)
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    left = wait_partly_erased(demo, removed)
    # A clean restart (fast: sessions cut, checkpoint) while the job runs.
    t0 = time.monotonic()
    r = pg_server._run_server_cmd(
        [os.path.join(PG_BINDIR, "pg_ctl"), "-D", pg_server.datadir, "-l", pg_server.logfile,
         "-w", "-t", "60", "-m", "fast", "restart"], timeout=90)
    assert r.returncode == 0, r.stdout
    after = remaining(demo.db, removed)
    print("\nrestarted in %.1f s: %d rows left before, %d after"
          % (time.monotonic() - t0, left, after))
    assert after > 0, "the erasure ended before the restart: not a restart mid-job"
    waited = assert_completed_exactly(demo, srv, code, removed, before)
    assert waited < RESUME_S * TSCALE, "completed %.1f s after the restart" % waited
    # The runner met the server gone mid-job (a lost connection, or no server to begin
    # the next batch on), said so, and went on.
    assert re.search(r"warning: .*(connection to the app database was lost|app database "
                     r"busy \(the app database cannot be reached|state store: .*connection "
                     r"to the server lost)", srv.stderr()), srv.stderr()
    assert srv.proc.poll() is None, "lethe serve died:\n%s" % srv.stderr()
    stop_ok(srv)


# ---- the app holds a lock on rows lethe wants ------------------------------------------


def test_row_lock_held_by_app_waits_visibly(pgdemo, servers, pg_session):
    demo = pgdemo
    uid, removed = prepare(demo)
    before = snapshot(demo.db)
    chans = sorted(removed["channels"])
    body = query(demo.db, "SELECT body FROM messages WHERE channel_id = ? AND body IS NOT "
                          "NULL ORDER BY id LIMIT 1", (chans[0],))[0][0]
    # The app locks the person's messages and keeps the transaction open.
    holder = pg_session(demo.db.url)
    holder.send("BEGIN;")
    locked = int(holder.one("SELECT count(*) FROM (SELECT id FROM messages WHERE channel_id "
                            "IN (%s) FOR UPDATE) q;" % ", ".join(str(c) for c in chans)))
    assert locked == len(removed["messages"])
    srv = servers(demo)
    code = assert_code(srv.deletion("instagram", sign_py(IG_SECRET, uid)), public_url(demo))
    # Held for several lock timeouts: never done while held, and warned naming the table.
    deadline = time.monotonic() + 8 * TSCALE
    seen = set()
    while time.monotonic() < deadline:
        st = srv.status_json(code)
        seen.add(st["state"])
        assert st["state"] in ("received", "running"), st
        time.sleep(0.2)
    assert remaining(demo.db, {"messages": removed["messages"]}) == len(removed["messages"])
    log = srv.stderr()
    waits = [l for l in log.splitlines() if "warning" in l and "messages" in l
             and "lock" in l]
    assert waits, "no warning naming the locked table:\n%s" % log
    assert body not in log
    # Released: the erasure goes on and completes exactly.
    holder.one("COMMIT; SELECT 1;")
    assert_completed_exactly(demo, srv, code, removed, before)
    stop_ok(srv)


def test_row_lock_held_by_app_sweep_waits_visibly(pgdemo, pg_session):
    """The TTL sweep meets the app's lock too: a pass gives up after lock_timeout with a
    warning naming the table, deletes none of the locked rows (nor reports them), and
    the next pass after the release deletes them."""
    demo = pgdemo
    cutoff = fmt(DEMO_NOW - 30 * DAY)
    expired = {r[0] for r in query(demo.db, "SELECT id FROM messages WHERE received_at < ?",
                                   (cutoff,))}
    assert len(expired) > 10, "the demo has too few expired messages"
    body = query(demo.db, "SELECT body FROM messages WHERE id = ?", (min(expired),))[0][0]
    holder = pg_session(demo.db.url)
    holder.send("BEGIN;")
    locked = int(holder.one("SELECT count(*) FROM (SELECT id FROM messages WHERE received_at "
                            "< '%s' FOR UPDATE) q;" % cutoff))
    assert locked == len(expired)
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json",
                               env=clock_env(DEMO_NOW), timeout=120)
    assert code != 0, "a sweep that could not delete the expired rows succeeded:\n%s" % out
    assert re.search(r"warning: sweep: messages: .*lock", err), err
    assert body not in err and body not in out
    left = {r[0] for r in query(demo.db, "SELECT id FROM messages WHERE received_at < ?",
                                (cutoff,))}
    assert left == expired
    holder.one("COMMIT; SELECT 1;")
    code, out, err = run_lethe("sweep", "-c", demo.config, "--once", "--json",
                               env=clock_env(DEMO_NOW), timeout=120)
    assert code == 0, err
    assert query(demo.db, "SELECT count(*) FROM messages WHERE received_at < ?",
                 (cutoff,)) == [(0,)]
    assert {t["table"]: t["rows"] for t in json.loads(out)["tables"]}["messages"] == \
        len(expired)
