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
"""
import itertools
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pg_server import PgError, PgServer  # noqa: E402

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


@pytest.fixture
def demo(demo_template, tmp_path):
    """A private copy of the module's demo."""
    return copy_demo(demo_template.dir, tmp_path / "demo")


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


_pg_db_seq = itertools.count(1)


@pytest.fixture
def pg_db(pg_server, request):
    """A fresh, empty database for this test (dropped afterwards); its URL."""
    stem = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = "t%d_%s" % (next(_pg_db_seq), stem)
    url = pg_server.create_db(name)
    yield url
    pg_server.drop_db(name)
