# SPDX-License-Identifier: MIT
"""Fixtures of lethe's black-box end-to-end tests (helpers: lethe_e2e.py).

  lethe_bin       absolute path of the binary (LETHE_BIN, else build/lethe)
  run_lethe       run_lethe(*args, timeout=..., env=...) -> (code, stdout, stderr)
  demo_template   a demo written once per test module (options: the module's
                  DEMO_OPTIONS list, default DEFAULT_DEMO_OPTIONS), without the
                  mail: and selfservice: sections `make run` uses; never modify it
  demo            a private shutil.copytree copy of demo_template (a Demo)
  snapshot        snapshot(db_path) -> {table: {id: row_tuple}}
  pg_server       a PostgreSQL 15 server for the session (tests/pg_server.py:
                  Unix socket only, fsync off: tests only); fails, never skips,
                  when PostgreSQL is missing (scripts/deps test installs it)
  pg              the same server (the name the design note uses)
  pg_db           a fresh database of pg_server for one test: its URL
  fresh_demo      fresh_demo(name, source=None) -> one more private copy of the
                  module's demo or of @source (same backend as demo)
  backend         "sqlite" or "postgresql": a test that takes it runs on both, and its
                  demo (the demo fixture) lives on that backend: on PostgreSQL the app's
                  tables and the state store are in a fresh database of the session's
                  server (pg_server), copied from a template the module writes once
                  with `lethe demo --database URL --state URL` (options: the module's
                  PG_DEMO_OPTIONS if it has them, else its DEMO_OPTIONS)
  s3              s3rver for the session (tests/s3_server.py) behind the SigV4-verifying
                  front (tests/s3_front.py), its log and injected failures cleared for
                  each test (tests/e2e/s3_helpers.py); fails, never skips, when s3rver
                  is not installed (`npm ci` in tests/s3: `make e2e` does it)
"""
import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pg_server import PgError, PgServer  # noqa: E402
from s3_front import Front  # noqa: E402
from s3_helpers import S3  # noqa: E402
from s3_server import ACCESS_KEY, REGION, SECRET, S3Error, S3Server  # noqa: E402

from lethe_e2e import (  # noqa: E402
    DEFAULT_DEMO_OPTIONS,
    copy_demo,
    lethe_path,
    make_demo,
    run_lethe,
    snapshot,
    without_section,
)


@pytest.fixture(scope="session")
def lethe_bin():
    p = lethe_path()
    if not os.access(p, os.X_OK):
        pytest.exit("lethe binary not found at %s (set LETHE_BIN or run make build)" % p,
                    returncode=2)
    return p


@pytest.fixture(name="run_lethe")
def run_lethe_fixture(lethe_bin):
    return run_lethe


@pytest.fixture(name="snapshot")
def snapshot_fixture():
    return snapshot


@pytest.fixture(scope="module")
def demo_template(request, tmp_path_factory, lethe_bin):
    """A demo built once per module; tests must copy it (the demo fixture) before use."""
    options = getattr(request.module, "DEMO_OPTIONS", DEFAULT_DEMO_OPTIONS)
    path = tmp_path_factory.mktemp("template") / "demo"
    demo = make_demo(path, options)
    # The demo mails through the SMTP sink `make run` starts (127.0.0.1:8025); a test
    # that wants mail configures its own sink (smtp_helpers), the others send none.
    text = demo.config.read_text()
    for section in ("mail", "selfservice"):
        text = without_section(text, section)
    demo.config.write_text(text)
    return demo


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A PostgreSQL 15 server for the whole session, stopped and removed at its end."""
    srv = PgServer(tmp_path_factory.getbasetemp(), fast=True)
    try:
        srv.start()
    except PgError as e:
        pytest.fail(str(e), pytrace=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pg(pg_server):
    return pg_server


@pytest.fixture(scope="session")
def s3_session(tmp_path_factory):
    """s3rver and the verifying front for the whole session (see the s3 fixture)."""
    srv = S3Server(tmp_path_factory.getbasetemp())
    try:
        srv.start()
    except S3Error as e:
        pytest.fail(str(e), pytrace=False)
    front = Front(srv.port, {ACCESS_KEY: SECRET}, region=REGION).start()
    yield S3(srv, front)
    front.stop()
    srv.stop()


@pytest.fixture
def s3(s3_session):
    """The session's s3rver behind the front, with a clean log and no failures injected."""
    s3_session.front.reset()
    yield s3_session
    s3_session.front.reset()


_pg_db_seq = itertools.count(1)


@pytest.fixture
def pg_db(pg_server, request):
    """A fresh, empty database for this test (dropped afterwards); its URL."""
    stem = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = "t%d_%s" % (next(_pg_db_seq), stem)
    url = pg_server.create_db(name)
    yield url
    pg_server.drop_db(name)


BACKENDS = ["sqlite", "postgresql"]
_pg_names = itertools.count()


def pg_name(prefix):
    """A database name no other test of this session uses."""
    return "%s_%d_%d" % (prefix, os.getpid(), next(_pg_names))


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend of the test's demo (app database and state store)."""
    return request.param


@pytest.fixture(scope="module")
def pg_demo_template(request, tmp_path_factory, lethe_bin):
    """pg_demo_template() -> (server, database name, Demo): the module's demo on
    PostgreSQL, written at the first call; its database is a template: never connect to
    it or modify it."""
    made = []

    def get():
        if not made:
            srv = request.getfixturevalue("pg_server")
            options = getattr(request.module, "PG_DEMO_OPTIONS", None) or \
                getattr(request.module, "DEMO_OPTIONS", DEFAULT_DEMO_OPTIONS)
            name = pg_name("tmpl")
            path = tmp_path_factory.mktemp("pgtemplate") / "demo"
            demo = make_demo(path, options, pg_url=srv.create_db(name))
            text = demo.config.read_text()
            for section in ("mail", "selfservice"):
                text = without_section(text, section)
            demo.config.write_text(text)
            made.append((srv, name, demo))
        return made[0]

    yield get
    for srv, name, _ in made:
        srv.drop_db(name)


def pg_demo_copy(request, tmp_path, dst_name="demo", source=None):
    """A private copy of the module's PostgreSQL demo (or of the Demo @source on it): a
    new database made from its database as a template (dropped after the test) and a
    copy of its directory.  Nothing may be connected to @source's database."""
    srv, template, demo = request.getfixturevalue("pg_demo_template")()
    if source is not None:
        demo, template = source, pg_db_name(source.pg_url)
    name = pg_name("demo")
    url = srv.create_db(name, template)
    request.addfinalizer(lambda: srv.drop_db(name))
    return copy_demo(demo, tmp_path / dst_name, pg_url=url)


def pg_db_name(url):
    """The database name of a pg_server URL (postgresql://user@/NAME?host=...)."""
    return url.split("/", 3)[3].split("?", 1)[0]


def on_pg(request):
    return "backend" in request.fixturenames and \
        request.getfixturevalue("backend") == "postgresql"


@pytest.fixture
def demo(request, tmp_path):
    """A private copy of the module's demo, on the test's backend if it takes one."""
    if on_pg(request):
        return pg_demo_copy(request, tmp_path)
    return copy_demo(request.getfixturevalue("demo_template").dir, tmp_path / "demo")


@pytest.fixture
def fresh_demo(request, tmp_path):
    """fresh_demo(name, source=None) -> another private copy (under tmp_path/name) of the
    module's demo, or of the Demo @source, on the test's backend if it takes one."""
    def make(name, source=None):
        if on_pg(request):
            return pg_demo_copy(request, tmp_path, name, source)
        src = source.dir if source is not None else \
            request.getfixturevalue("demo_template").dir
        return copy_demo(src, tmp_path / name)

    return make
