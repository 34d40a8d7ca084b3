# SPDX-License-Identifier: MIT
"""The benchmarks' PostgreSQL measuring parts (bench/pg_common.py, bench/README.md).

bench/erase and bench/sweep judge "the longest lethe transaction" on
PostgreSQL from the server's statement log: these tests hold the parser to
what a transaction is (BEGIN received to COMMIT done; a statement outside a
transaction is one of its own; reads apart; other databases and the benches'
own sessions left out) and check it against a real server started with the
benches' settings, where a transaction held open 60 ms must be reported as
at least 60 ms and a short one as short.  Loopback only: the server listens
on a Unix socket in its own directory.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import pg_common  # noqa: E402

LOG = """\
1000.000 [11] lethe@app: LOG:  statement: BEGIN
1000.001 [11] lethe@app: LOG:  duration: 0.010 ms
1000.002 [11] lethe@app: LOG:  execute S_1: DELETE FROM messages WHERE id IN ($1)
1000.030 [11] lethe@app: LOG:  duration: 28.000 ms
1000.031 [12] lethe-bench-writer@app: LOG:  statement: BEGIN
1000.031 [11] lethe@app: LOG:  statement: COMMIT
1000.041 [11] lethe@app: LOG:  duration: 9.500 ms
1000.200 [12] lethe-bench-writer@app: LOG:  statement: COMMIT
1000.201 [12] lethe-bench-writer@app: LOG:  duration: 0.100 ms
1000.300 [11] lethe@app: LOG:  duration: 0.020 ms
1000.300 [11] lethe@app: LOG:  execute <unnamed>: SELECT count(*)
\tFROM messages
1000.390 [11] lethe@app: LOG:  duration: 90.000 ms
1000.400 [11] lethe@app: LOG:  execute <unnamed>: UPDATE users SET name = NULL WHERE id = $1
1000.407 [11] lethe@app: LOG:  duration: 7.250 ms
1000.500 [13] lethe@other: LOG:  statement: BEGIN
1000.900 [13] lethe@other: LOG:  statement: COMMIT
1000.901 [13] lethe@other: LOG:  duration: 0.100 ms
1001.000 [11] lethe@app: LOG:  statement: begin isolation level repeatable read
1001.010 [11] lethe@app: LOG:  statement: ROLLBACK TO SAVEPOINT a
1001.011 [11] lethe@app: LOG:  duration: 0.010 ms
1001.020 [11] lethe@app: LOG:  statement: ROLLBACK
1001.022 [11] lethe@app: LOG:  duration: 0.100 ms
"""


def test_parse_txn_log_counts_begin_to_commit_and_keeps_reads_apart():
    r = pg_common.parse_txn_log(LOG, "app", exclude=("lethe-bench-writer",))
    # BEGIN at .000 to COMMIT's duration line at .041; the UPDATE alone (7.25 ms);
    # the repeatable-read transaction to its ROLLBACK (not ROLLBACK TO): 22 ms.
    assert r["count"] == 3
    assert r["explicit"] == 2 and r["single"] == 1
    assert r["max_ms"] == pytest.approx(41.0, abs=0.01)
    assert r["top"] == [41.0, 22.0, 7.2] or r["top"] == [41.0, 22.0, 7.3]
    # The 90 ms SELECT is a read: reported apart, not the transaction target.
    assert r["reads"] == 1 and r["max_read_ms"] == pytest.approx(90.0)
    # The writer (excluded) and the other database's 400 ms transaction are not counted.
    assert set(r["apps"]) == {"lethe"}
    assert r["open_at_end"] == 0


def test_parse_txn_log_other_database_and_open_transaction():
    r = pg_common.parse_txn_log(LOG, "other")
    assert r["count"] == 1 and r["max_ms"] == pytest.approx(401.0, abs=0.01)
    r = pg_common.parse_txn_log("1.000 [5] lethe@app: LOG:  statement: BEGIN\n", "app")
    assert r["count"] == 0 and r["open_at_end"] == 1


@pytest.fixture
def bench_pg(tmp_path):
    try:
        srv = pg_common.start_server(str(tmp_path))
    except pg_common.PgError as e:
        pytest.fail("PostgreSQL for the benches: %s (install it with `scripts/deps test`)" % e)
    yield srv
    srv.stop()
    assert not os.path.exists(srv.datadir)


def test_txn_log_measures_a_live_server(bench_pg):
    srv = bench_pg
    srv.create_db("run")
    s = pg_common.settings_of(srv, "run")
    assert s["fsync"] == "on" and s["synchronous_commit"] == "on"  # the benches' durability
    con = pg_common.Conn(srv.url("run"), application_name="lethe")
    try:
        con.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        tl = pg_common.TxnLog(srv, "run")
        tl.enable()
    finally:
        con.close()
    # Sessions opened after enable() are logged (ALTER DATABASE ... SET).
    con = pg_common.Conn(srv.url("run"), application_name="lethe")
    writer = pg_common.Conn(srv.url("run"), application_name="lethe-bench-writer")
    try:
        con.execute("BEGIN")
        con.execute("INSERT INTO t VALUES ($1, $2)", (1, "a"))
        time.sleep(0.06)
        con.execute("COMMIT")
        con.execute("INSERT INTO t VALUES ($1, $2)", (2, "b"))
        writer.execute("BEGIN")
        time.sleep(0.2)
        writer.execute("COMMIT")
        assert con.execute("SELECT count(*) FROM t") == [("2",)]
    finally:
        con.close()
        writer.close()
    r = tl.read()
    assert r["explicit"] == 1 and r["single"] == 1 and r["reads"] == 1
    assert 60.0 <= r["max_ms"] < 1000.0
    assert r["top"][1] < 60.0
    # The raw reference's copies are not logged: the setting is the database's own.
    srv.psql("postgres", "CREATE DATABASE raw TEMPLATE run STRATEGY FILE_COPY")
    before = os.path.getsize(srv.logfile)
    srv.psql("raw", "BEGIN; DELETE FROM t; COMMIT;")
    assert "DELETE FROM t" not in open(srv.logfile).read()[before:]


def test_benches_take_backend_option():
    for b in ("erase", "sweep", "requests"):
        p = subprocess.run([sys.executable, str(ROOT / "bench" / b), "--help"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "--backend" in p.stdout and "postgresql" in p.stdout
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "requests"), "--backend",
                        "postgresql", "--workers", "0", "--skip-list"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--workers" in p.stderr


def run_bench(name, tmp_path, env_extra, *args, timeout=300):
    env = dict(os.environ, BENCH_OUT_DIR=str(tmp_path / "out"), BENCH_DIR=str(tmp_path / "w"),
               **env_extra)
    p = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--backend", "postgresql"]
                       + list(args), capture_output=True, text=True, timeout=timeout, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p


def test_bench_erase_on_postgresql_small(tmp_path, lethe_bin):
    """bench/erase --backend postgresql end to end on a small demo: raw and lethe leave
    the same end state (no WARNING), the server's log saw lethe's transactions, the
    writer's inserts all committed, the server ran with fsync on."""
    p = run_bench("erase", tmp_path, {"BENCH_ROWS": "3000", "BENCH_USERS": "20",
                                      "BENCH_REPEAT": "1", "BENCH_RATE": "50",
                                      "LETHE_BIN": lethe_bin})
    assert "WARNING" not in p.stdout, p.stdout
    out = json.loads((tmp_path / "out" / "erase-pg.json").read_text())
    assert out["backend"] == "postgresql" and out["postgresql"]["fsync"] == "on"
    assert out["heavy_rows"] >= 3000 and out["raw_sql_s"] > 0 and out["lethe_s"] > 0
    srv = out["server_transactions_runs"][0]
    assert srv["count"] >= out["lethe_transactions"][0] > 0
    assert srv["max_ms"] > 0 and srv["apps"].get("lethe", 0) > 0
    assert out["writer"]["inserts"] > 0 and out["writer"]["errors"] == 0
    assert not os.path.exists(tmp_path / "w-pg")  # server stopped, directory removed


def test_bench_sweep_on_postgresql_small(tmp_path, lethe_bin):
    """bench/sweep --backend postgresql end to end on a small table."""
    p = run_bench("sweep", tmp_path, {"BENCH_ROWS": "20000", "BENCH_RATE": "50",
                                      "BENCH_LAG_RATE": "500", "BENCH_LAG_SECONDS": "4",
                                      "LETHE_BIN": lethe_bin})
    assert "WARNING" not in p.stdout, p.stdout
    out = json.loads((tmp_path / "out" / "sweep-pg.json").read_text())
    assert out["expired"] == out["lethe_rows"] == 9999
    assert out["server_transactions"]["count"] > 0 and out["max_transaction_ms"] > 0
    assert out["writer_inserts"] > 0 and out["writer_errors"] == 0
    assert out["lag_inserted"] > 0 and out["lag_insert_errors"] == 0
    assert not os.path.exists(tmp_path / "w-pg")


def test_bench_requests_two_workers_on_postgresql_small(tmp_path, lethe_bin):
    """bench/requests --backend postgresql --workers 1,2 end to end on a few requests:
    every request completed, none ran twice, and with two workers both did some."""
    env = dict(os.environ, BENCH_OUT_DIR=str(tmp_path / "out"), LETHE_BIN=lethe_bin)
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "requests"), "--backend",
                        "postgresql", "--workers", "1,2", "--requests", "24", "--rate", "40",
                        "--ref-erasures", "1", "--drain-max", "120", "--dir",
                        str(tmp_path / "w")], capture_output=True, text=True, timeout=400,
                       env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = json.loads((tmp_path / "out" / "requests-pg.json").read_text())
    assert [r["workers"] for r in out["runs"]] == [1, 2]
    for r in out["runs"]:
        assert r["accepted"] == 24 and r["not_ended"] == 0, r
        once = r["ran_once"]
        assert once["ok"] and once["requests"] == 24 and once["erase_jobs"] == 24, once
        assert sum(once["completions_logged_by_worker"]) == 24
        assert r["completions_per_s"] > 0
    assert all(n > 0 for n in out["runs"][1]["ran_once"]["completions_logged_by_worker"])
    assert "ran once: ok" in p.stdout
    assert not os.path.exists(tmp_path / "w-pg")
