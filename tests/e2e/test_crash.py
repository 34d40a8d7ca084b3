# SPDX-License-Identifier: MIT
"""The crash test: an erasure killed (SIGKILL) over and over, then run to completion,
ends exactly like an uninterrupted one: same rows in every table, same media files,
same holds and the same per-table counts in the final summary (src/engine/erase.c:
"every batch is idempotent" and "counts are exact").

The random kill delays come from a seeded generator; the seed is printed (run pytest
with -s to see it) and can be fixed with LETHE_CRASH_SEED.

The crash tests run on both backends (the backend fixture: app database and state store
on SQLite, then on PostgreSQL); the state store write failure at every point stays on
SQLite: it injects the failures with SQLite triggers on the store's file.
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from lethe_e2e import (
    SANITIZED,
    SLOW,
    PgError,
    check_sanitizer,
    copy_demo,
    make_demo,
    popen_lethe,
    query,
    rows_by_table,
    sorted_rows,
)

HEAVY_ROWS = 5000 if SANITIZED else 20000
DEMO_OPTIONS = ["--users", "5", "--seed", "11", "--heavy", str(HEAVY_ROWS)]
MAX_KILLS = 20
HEAVY = ("email", "heavy@example.com")


def crash_seed():
    seed = int(os.environ.get("LETHE_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
    print("crash test seed: LETHE_CRASH_SEED=%d" % seed)
    return seed


def run_to_end(demo, cmd):
    """Run @cmd to completion; the parsed summary."""
    t0 = time.monotonic()
    p = popen_lethe(*cmd)
    out, err = p.communicate(timeout=120 * SLOW)
    check_sanitizer(err)
    assert p.returncode == 0, "erase failed (%d): %s\n%s" % (p.returncode, err, out)
    return json.loads(out), time.monotonic() - t0


def job_states(demo):
    """[(job id, state)] from the state store; tolerates a store not created yet."""
    try:
        return demo.state("SELECT id, state FROM jobs ORDER BY id")
    except (sqlite3.DatabaseError, PgError):
        return []


class Killer:
    """Runs @cmd again and again, SIGKILLing each run when its wait() returns, until a
    run completes the job or @max_kills runs were killed."""

    def __init__(self, demo, cmd, rng, max_kills=MAX_KILLS):
        self.demo, self.cmd, self.rng, self.max_kills = demo, cmd, rng, max_kills
        self.kills = 0
        self.killed_running = 0     # kills after which a job was left 'running'
        self.summary = None         # summary of the run that completed the job
        self.lost = False           # killed after the job completed: summary lost
        self.log = []

    def running(self):
        return self.kills < self.max_kills and self.summary is None and not self.lost

    def attempt(self, wait, cmd=None, sig=signal.SIGKILL):
        """One run (of @cmd, default the Killer's); @wait(proc) returns when it is time
        to send @sig (unless the run ended by then)."""
        p = popen_lethe(*(cmd or self.cmd))
        try:
            wait(p)
            if p.poll() is None:
                os.kill(p.pid, sig)
                _, err = p.communicate(timeout=30 * SLOW)
                check_sanitizer(err)
                self.kills += 1
                states = [s for _, s in job_states(self.demo)]
                if "running" in states:
                    self.killed_running += 1
                elif states and states[-1].startswith("completed"):
                    # Killed between finishing the job and printing its summary.
                    self.lost = True
                self.log.append("killed (jobs: %s)" % states)
                return
            out, err = p.communicate(timeout=120 * SLOW)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        check_sanitizer(err)
        assert p.returncode == 0, "erase failed (%d): %s\n%s" % (p.returncode, err, out)
        self.summary = json.loads(out)
        self.log.append("completed on its own")

    def finish(self):
        """Run once more to completion unless a run already completed the job."""
        if self.summary is None:
            self.summary, _ = run_to_end(self.demo, self.cmd)
            self.log.append("final run")
        return self.summary


def sleep_wait(delay):
    def wait(p):
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
    return wait


def compare_final(a, b, summary_a, summary_b):
    """B (crashed) ends exactly like A (uninterrupted)."""
    ra, rb = sorted_rows(a.db), sorted_rows(b.db)
    assert set(ra) == set(rb)
    for t in ra:
        assert ra[t] == rb[t], "table %s differs after the crashes (%d vs %d rows)" % (
            t, len(ra[t]), len(rb[t]))
    assert a.media_files() == b.media_files()
    assert a.state("SELECT table_name, row_key, until FROM holds ORDER BY 1, 2") == \
        b.state("SELECT table_name, row_key, until FROM holds ORDER BY 1, 2")
    assert summary_b["state"] == summary_a["state"]
    assert rows_by_table(summary_b) == rows_by_table(summary_a), \
        "per-table counts are not exact across crashes"
    media_a = [s.get("media_files") for s in summary_a["steps"]]
    media_b = [s.get("media_files") for s in summary_b["steps"]]
    assert media_b == media_a, "media file counts are not exact across crashes"
    # One job, resumed after every crash, and it is finished.
    jobs = b.state("SELECT id, state FROM jobs ORDER BY id")
    assert [s for _, s in jobs] == [summary_a["state"]], jobs
    assert summary_b["job"] == jobs[0][0]


def crash_copies(fresh, name, crash, attempts=20):
    """Run @crash(b) (kill runs, then finish the job) on fresh copies (@fresh(name)) until
    one run was killed in the middle of the job and the job's summary was seen.

    Starting over is needed when every run happened to finish before its kill, or
    when a kill landed after the job finished but before its summary was printed
    (the summary is lost then).  Returns (b, killer)."""
    for attempt in range(attempts):
        b = fresh("%s%d" % (name, attempt))
        k = crash(b)
        if k.lost:
            print("attempt %d: killed after the job completed; starting over" % attempt)
            continue
        k.finish()
        if k.killed_running or k.summary["resumed"]:
            return b, k
        print("attempt %d: no kill landed in the middle of the job; starting over" % attempt)
    raise AssertionError("no attempt killed a run in the middle of the job")


@pytest.mark.usefixtures("backend")
def test_crash_heavy_account(fresh_demo):
    a = fresh_demo("a")
    planned = rows_by_table(a.plan("account", HEAVY))
    assert sum(planned.values()) >= HEAVY_ROWS * 0.9

    summary_a, duration = run_to_end(a, a.erase_cmd("account", HEAVY, batch=50))
    assert rows_by_table(summary_a) == planned

    seed = crash_seed()
    rng = random.Random(seed)

    def crash(b):
        k = Killer(b, b.erase_cmd("account", HEAVY, batch=50), rng)
        while k.running():
            k.attempt(sleep_wait(rng.uniform(0.005, max(duration, 0.01))))
        return k

    b, k = crash_copies(fresh_demo, "b", crash)
    summary_b = k.summary
    print("uninterrupted run %.3f s; B: %s" % (duration, "; ".join(k.log)))

    assert k.killed_running > 0 or summary_b["resumed"], \
        "no run was killed in the middle of the job (seed %d)" % seed
    compare_final(a, b, summary_a, summary_b)
    assert query(b.db, "SELECT count(*) FROM users WHERE email = 'heavy@example.com'") == [(0,)]


# ---- anonymize and retain steps, one row per transaction ------------------------------


def add_rewrite_rows(demo, uid, n_logs, n_invoices):
    """Give user @uid more request_logs and invoices (copies of its own), so the
    anonymize and retain steps take a while at --batch 1."""
    shift = "datetime(issued_at, ? || ' days')" if demo.backend == "sqlite" else \
        "issued_at + make_interval(days => ?)"
    for i in range(n_logs):
        demo.execute("INSERT INTO request_logs (user_id, ip, user_agent, path, created_at) "
                     "SELECT user_id, ip, user_agent, path || '?n=' || ?, created_at "
                     "FROM request_logs WHERE user_id = ? ORDER BY id LIMIT 1", (i, uid))
    for i in range(n_invoices):
        demo.execute("INSERT INTO invoices (user_id, email, name, tax_id, amount, issued_at) "
                     "SELECT user_id, email, name, tax_id, amount + ?, %s "
                     "FROM invoices WHERE user_id = ? ORDER BY id LIMIT 1" % shift,
                     (i, -30 * (i + 1), uid))


STEP_STARTED = ("SELECT s.finished FROM job_steps s JOIN jobs j ON j.id = s.job_id "
                "WHERE j.state = 'running' AND s.table_name = ?")


def step_wait(demo, table, rng, deadline):
    """Wait until the running job has started step @table, then a random 0-4 ms more
    (on PostgreSQL each look is a psql run: a few ms)."""
    def wait(p):
        end = time.monotonic() + deadline
        con = None
        try:
            while p.poll() is None and time.monotonic() < end:
                try:
                    if demo.backend == "postgresql":
                        r = demo.state(STEP_STARTED, (table,))
                    else:
                        if con is None and demo.state_db.exists():
                            con = sqlite3.connect(str(demo.state_db), timeout=1)
                        r = con.execute(STEP_STARTED, (table,)).fetchall() \
                            if con is not None else []
                    if r and not r[0][0]:
                        break
                except (sqlite3.DatabaseError, PgError):
                    pass
                time.sleep(0.0005)
        finally:
            if con is not None:
                con.close()
        time.sleep(rng.uniform(0, 0.004))
    return wait


def step_state(demo, table):
    """(done, pending_rows, finished) of @table's step in the newest job, or None."""
    try:
        r = demo.state("SELECT s.done, s.pending_rows, s.finished FROM job_steps s "
                       "WHERE s.table_name = ? ORDER BY s.job_id DESC LIMIT 1", (table,))
    except (sqlite3.DatabaseError, PgError):
        return None
    return r[0] if r else None


@pytest.mark.usefixtures("backend")
def test_crash_normal_user_rewrite_steps(fresh_demo):
    base = fresh_demo("base")
    uid = 3
    add_rewrite_rows(base, uid, 40, 20)
    a = fresh_demo("a", base)
    person = ("user_id", uid)
    planned = rows_by_table(a.plan("account", person))
    assert planned["request_logs"] >= 40 and planned["invoices"] >= 20

    summary_a, duration = run_to_end(a, a.erase_cmd("account", person, batch=1))
    assert rows_by_table(summary_a) == planned

    seed = crash_seed()
    rng = random.Random(seed)
    landed = {"request_logs": 0, "invoices": 0}

    def crash(b):
        k = Killer(b, b.erase_cmd("account", person, batch=1), rng, max_kills=30)
        while k.running():
            # Aim at the anonymize and retain steps while they are unfinished; else
            # anywhere.
            targets = [t for t in landed if (step_state(b, t) or (0, 0, 0))[2] == 0]
            if targets and rng.random() < 0.75:
                t = rng.choice(targets)
                k.attempt(step_wait(b, t, rng, 10 * SLOW))
                st = step_state(b, t)
                if k.summary is None and st is not None and not st[2] and (st[0] or st[1]):
                    landed[t] += 1
            else:
                k.attempt(sleep_wait(rng.uniform(0.002, max(duration, 0.005))))
        return k

    b, k = crash_copies(lambda name: fresh_demo(name, base), "b", crash)
    summary_b = k.summary
    print("uninterrupted run %.3f s; kills in the middle of request_logs/invoices: %s; B: %s"
          % (duration, landed, "; ".join(k.log)))

    assert k.killed_running > 0 or summary_b["resumed"], \
        "no run was killed in the middle of the job (seed %d)" % seed
    compare_final(a, b, summary_a, summary_b)


@pytest.mark.usefixtures("backend")
def test_crash_resume_with_other_batch_sizes_and_signals(fresh_demo):
    """A job resumed with another --batch (or none: adaptive) and stopped by SIGKILL,
    SIGTERM or SIGINT still ends exactly like an uninterrupted one."""
    a = fresh_demo("a")
    summary_a, duration = run_to_end(a, a.erase_cmd("account", HEAVY))
    seed = crash_seed()
    rng = random.Random(seed)
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    used = []

    def crash(b):
        k = Killer(b, b.erase_cmd("account", HEAVY), rng, max_kills=12)
        while k.running():
            batch = rng.choice([None, 500, 50, 20])
            sig = rng.choice(signals)
            used.append((batch, sig.name))
            k.attempt(sleep_wait(rng.uniform(0.005, max(duration, 0.01))),
                      cmd=b.erase_cmd("account", HEAVY, batch=batch), sig=sig)
        return k

    b, k = crash_copies(fresh_demo, "b", crash)
    print("uninterrupted run %.3f s; runs (batch, signal): %s; B: %s" % (
        duration, used, "; ".join(k.log)))
    compare_final(a, b, summary_a, k.summary)


# ---- a failing state store write at every point -----------------------------------------


def install_fault(state_db):
    """Make the K-th write (INSERT, UPDATE or DELETE on any table) to the state store
    fail, K read from fault.k; returns the tables instrumented."""
    con = sqlite3.connect(str(state_db))
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        sql = ["CREATE TABLE fault (n INTEGER NOT NULL, k INTEGER NOT NULL);",
               "INSERT INTO fault VALUES (0, 0);"]
        for t in tables:
            for ev in ("INSERT", "UPDATE", "DELETE"):
                sql.append(
                    'CREATE TRIGGER "fault_%s_%s" BEFORE %s ON "%s" BEGIN '
                    "UPDATE fault SET n = n + 1; "
                    "SELECT RAISE(ABORT, 'injected fault') WHERE (SELECT n = k FROM fault); "
                    "END;" % (t, ev, ev, t))
        con.executescript("".join(sql))
    finally:
        con.close()
    return tables


def remove_fault(state_db, tables):
    con = sqlite3.connect(str(state_db))
    try:
        n = con.execute("SELECT n FROM fault").fetchone()[0]
        con.executescript("".join('DROP TRIGGER "fault_%s_%s";' % (t, ev) for t in tables
                                  for ev in ("INSERT", "UPDATE", "DELETE")) +
                          "DROP TABLE fault;")
    finally:
        con.close()
    return n


def test_state_write_failure_at_every_point(tmp_path):
    """Fail the 1st, 2nd, ... write lethe makes to its state store (the write is
    refused, lethe exits 1), then run the same erasure again: every time the result
    equals an uninterrupted erasure, counts included.  A refused write is a crash at
    that exact point, made deterministic."""
    base = make_demo(tmp_path / "base", ["--users", "4", "--seed", "11"])
    person = ("user_id", 3)
    a = copy_demo(base.dir, tmp_path / "a")
    summary_a = a.erase("account", person, batch=2)
    final_a = sorted_rows(a.db)
    holds_a = a.state("SELECT table_name, row_key, until FROM holds ORDER BY 1, 2")
    counts_a = [(s["table"], s["rows"], s.get("media_files")) for s in summary_a["steps"]]

    # A state store with the fault triggers, ready to copy.
    code, out, err = base.lethe("erase", "--quiet", "--scope", "account", "--id",
                                "email=nobody@example.com")
    assert code == 0, err
    if not base.state_db.exists():
        pytest.skip("no state store at var/state.db")
    tables = install_fault(base.state_db)

    step = 1
    failures, k = [], 0
    while True:
        k += step
        b = copy_demo(base.dir, tmp_path / ("b%d" % k))
        con = sqlite3.connect(str(b.state_db))
        with con:
            con.execute("UPDATE fault SET k = ?", (k,))
        con.close()
        code, out, err = b.lethe("erase", "--json", "--no-progress", "--scope", "account",
                                 "--id", "user_id=3", "--batch", "2")
        writes = remove_fault(b.state_db, tables)
        if code == 0 and writes < k:
            break                               # past the last write: done
        assert code == 1, "write %d refused: exit %d, %s" % (k, code, err)
        summary_b = b.erase("account", person, batch=2)
        counts_b = [(s["table"], s["rows"], s.get("media_files")) for s in summary_b["steps"]]
        problems = []
        if counts_b != counts_a:
            problems.append("counts %s" % [(x, y) for x, y in zip(counts_a, counts_b) if x != y])
        if sorted_rows(b.db) != final_a:
            problems.append("app rows differ")
        if b.media_files() != a.media_files():
            problems.append("media files differ")
        if b.state("SELECT table_name, row_key, until FROM holds ORDER BY 1, 2") != holds_a:
            problems.append("holds differ")
        if problems:
            failures.append("write %d (%s): %s" % (k, err.strip().splitlines()[-1][:120],
                                                   "; ".join(problems)))
        shutil.rmtree(str(b.dir))
        assert k < 2000, "lethe never stopped writing to its state store"
    assert k > 40, "only %d state writes for a whole erasure?" % k
    assert not failures, "after a refused state write the result differs from an " \
        "uninterrupted erasure (media_files: expected/actual per table):\n" + \
        "\n".join(failures)
