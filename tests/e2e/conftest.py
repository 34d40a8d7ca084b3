# SPDX-License-Identifier: MIT
"""Fixtures of lethe's black-box end-to-end tests (helpers: lethe_e2e.py).

  lethe_bin       absolute path of the binary (LETHE_BIN, else build/lethe)
  run_lethe       run_lethe(*args, timeout=..., env=...) -> (code, stdout, stderr)
  demo_template   a demo written once per test module (options: the module's
                  DEMO_OPTIONS list, default DEFAULT_DEMO_OPTIONS), without the
                  mail: and selfservice: sections `make run` uses; never modify it
  demo            a private shutil.copytree copy of demo_template (a Demo)
  snapshot        snapshot(db_path) -> {table: {id: row_tuple}}
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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
