# SPDX-License-Identifier: MIT
"""tests/pg_server.py, the PostgreSQL 15 server the tests and benchmarks start:
it starts as an unprivileged user, serves databases over its own Unix socket
(or 127.0.0.1), and stop() leaves no process and no directory behind."""
import os
import subprocess
import time

import pytest

import pg_server as pgmod
from pg_server import PgError, PgMissing, PgServer, processes_of


def _owner(path):
    return os.stat(path).st_uid


def test_starts_creates_a_db_and_stops_leaving_nothing(tmp_path):
    srv = PgServer(tmp_path).start()
    try:
        pid = srv.postmaster_pid()
        assert pid is not None and processes_of(srv.datadir) == [pid]
        backends = pgmod._children(pid)
        assert backends, "a running postmaster has its background processes"
        # Never root: PostgreSQL refuses it, and the tests must not need it.
        if os.geteuid() == 0:
            import pwd
            assert _owner(srv.datadir) == pwd.getpwnam("nobody").pw_uid
            assert os.stat("/proc/%d" % pid).st_uid == pwd.getpwnam("nobody").pw_uid
        # The defaults are the server's own (what benchmarks measure) but the harness's.
        assert srv.psql("postgres", "SHOW fsync; SHOW max_connections; SHOW listen_addresses"
                        ).split("\n")[:3] == ["on", "200", ""]
        url = srv.create_db("app_one")
        assert url == "postgresql://postgres@/app_one?host=%s" % srv.dir
        assert os.path.exists(os.path.join(srv.dir, ".s.PGSQL.5432"))
        out = srv.psql("app_one", "CREATE TABLE t(id int PRIMARY KEY, v text);\n"
                       "INSERT INTO t VALUES (1, 'a'), (2, 'b|c');\n"
                       "SELECT id, v FROM t ORDER BY id;")
        assert out == "1|a\n2|b|c\n"
        with pytest.raises(PgError, match="does not exist"):
            srv.psql("app_one", "SELECT nope FROM t")
        srv.drop_db("app_one")
        assert "app_one" not in srv.psql("postgres", "SELECT datname FROM pg_database")
        the_dir = srv.dir
    finally:
        srv.stop()
    deadline = time.monotonic() + 5
    while (processes_of(srv.datadir) or any(pgmod._alive(p) for p in backends)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of(srv.datadir) == []
    assert not any(pgmod._alive(p) for p in [pid] + backends)
    assert not os.path.exists(the_dir)
    srv.stop()  # idempotent


def test_fast_and_tcp_options(tmp_path):
    srv = PgServer(tmp_path, fast=True, tcp=True).start()
    try:
        assert srv.url().startswith("postgresql://postgres@127.0.0.1:%d/" % srv.port)
        out = srv.psql("postgres", "SHOW fsync; SHOW synchronous_commit; "
                       "SHOW listen_addresses").split("\n")
        assert out[:3] == ["off", "off", "127.0.0.1"]
    finally:
        srv.stop()
    assert processes_of(srv.datadir) == []


def test_missing_postgresql_names_scripts_deps(tmp_path, monkeypatch):
    monkeypatch.setattr(pgmod, "PG_BINDIR", str(tmp_path / "no-such-bin"))
    srv = PgServer(tmp_path)
    with pytest.raises(PgMissing, match=r"scripts/deps test"):
        srv.start()
    assert list(tmp_path.iterdir()) == []


def test_fixture_gives_a_fresh_database(pg_server, pg_db):
    assert pg_db.startswith("postgresql://postgres@/t")
    db = pg_db.split("/")[3].split("?")[0]
    assert pg_server.psql(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                          ) == "0\n"
    pg_server.psql(db, "CREATE TABLE mine(id int)")


def test_a_killed_owner_leaves_nothing_running(tmp_path):
    """SIGKILL (or an unhandled SIGTERM) skips atexit: the watchdog stops the server."""
    script = ("import sys; sys.path.insert(0, %r); from pg_server import PgServer; "
              "s = PgServer(%r).start(); print(s.datadir, s.postmaster_pid(), flush=True); "
              "import time; time.sleep(300)"
              % (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), str(tmp_path)))
    p = subprocess.Popen(["/usr/bin/python3", "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        datadir, pid = p.stdout.readline().split()
        assert processes_of(datadir) == [int(pid)]
    finally:
        p.kill()
        p.wait()
    deadline = time.monotonic() + 20
    while (processes_of(datadir) or os.path.exists(datadir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(datadir) == []
    assert not os.path.exists(os.path.dirname(datadir))
