# SPDX-License-Identifier: MIT
"""The worked examples of examples/ as an operator runs them (examples/README.md).

`make run EXAMPLE=<company>` (scripts/run-demo --example) builds a demo of its own,
applies the example's schema.sql, lays its configuration over it and serves it with the
platform simulator and the SMTP sink; every line it prints works when pasted; an unknown
name lists the examples.  Every example of examples/ starts (`lethe serve` accepts its
lethe.yaml, datamap.yaml, templates and mailbox against its schema).  What each example
keeps of its page is tested by tests/e2e/test_example_<company>.py.
"""
import re
import subprocess
import sys

import pytest

from demo_helpers import DEMO_SECRETS, RUN_DEMO, RunDemo, clean_env, free_port
from example_helpers import Example
from lethe_e2e import ROOT, SLOW, lethe_path, query

sys.path.insert(0, str(ROOT / "scripts"))

import examples  # noqa: E402

NAME = "social-coworker"


class RunExample(RunDemo):
    """scripts/run-demo as `make run EXAMPLE=NAME` starts it, in @workdir."""

    def __init__(self, workdir, listen, name, *extra):  # noqa: super().__init__ not called
        import queue
        import threading
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(RUN_DEMO), "--lethe", "build/lethe", "--listen", listen,
             "--example", name, "--users", "12", *extra], cwd=str(workdir),
            env=clean_env(**DEMO_SECRETS), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.out = []
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()


def move_ports(config):
    """The installed example's simulator, SMTP sink and LMTP ports moved to free ones (the
    copy is newer than the example's file, so run-demo keeps it)."""
    text = config.read_text()
    assert "127.0.0.1:8091/" in text and "smtp://127.0.0.1:8025" in text
    text = text.replace("127.0.0.1:8091/", "127.0.0.1:%d/" % free_port())
    text = text.replace("smtp://127.0.0.1:8025", "smtp://127.0.0.1:%d" % free_port())
    text = text.replace("lmtp: 127.0.0.1:2424", "lmtp: 127.0.0.1:%d" % free_port())
    config.write_text(text)


def test_make_run_example_serves_and_its_lines_work(tmp_path, lethe_bin):
    (tmp_path / "build").symlink_to(__import__("pathlib").Path(lethe_bin).parent,
                                    target_is_directory=True)
    where = tmp_path / "var" / "examples" / NAME
    cfg = examples.install(NAME, where, lethe_path(), users=12, say=lambda _l: None)
    move_ports(cfg)
    # The example's files, and its schema.sql's additions when it has one.
    assert (where / "datamap.yaml").read_text() == \
        (ROOT / "examples" / NAME / "datamap.yaml").read_text()
    assert (where / "inbox" / "new").is_dir()
    listen = "127.0.0.1:%d" % free_port()
    rd = RunExample(tmp_path, listen, NAME)
    try:
        rd.until(lambda ln: "serving on port" in ln)
        rd.until(lambda ln: "to start over" in ln)
        printed = list(rd.out)
        assert any("lethe serves example %s at http://%s" % (NAME, listen) in ln
                   for ln in printed), printed
        assert any("examples/%s/README.md" % NAME in ln for ln in printed), printed
        assert any("var/examples/%s/inbox/new" % NAME in ln for ln in printed), printed
        commands = [ln.strip() for ln in printed[printed.index(next(
            ln for ln in printed if ln.startswith("== Try"))) + 1:] if ln.startswith("  ")
            and not ln.strip().startswith("#")]
        assert commands and all(c.startswith(("SR=", "curl ", "build/lethe "))
                                for c in commands), commands
        assert any("var/examples/%s/lethe.yaml" % NAME in c for c in commands), commands
        script = "set -e\n" + "".join("%s\necho\n" % c for c in commands)
        p = subprocess.run(["bash", "-c", script], cwd=str(tmp_path), env=clean_env(),
                           capture_output=True, text=True, timeout=120 * SLOW)
        assert p.returncode == 0, "pasted lines failed:\n%s\n%s\n%s" % (script, p.stdout,
                                                                       p.stderr)
        assert '"confirmation_code"' in p.stdout
        assert query(where / "app.db", "SELECT count(*) FROM users WHERE email = "
                                       "'user1@example.com'") == [(0,)]
        assert rd.stop() == 0
    finally:
        rd.kill()
    # A second run keeps the demo (and its erasures) and serves again.
    rd = RunExample(tmp_path, listen, NAME)
    try:
        rd.until(lambda ln: "serving on port" in ln)
        assert not any("building the demo" in ln for ln in rd.out), rd.out
        assert rd.stop() == 0
    finally:
        rd.kill()


def test_make_run_unknown_example_lists_the_examples(tmp_path, lethe_bin):
    (tmp_path / "build").symlink_to(__import__("pathlib").Path(lethe_bin).parent,
                                    target_is_directory=True)
    rd = RunExample(tmp_path, "127.0.0.1:%d" % free_port(), "no-such-company")
    try:
        rc = rd.proc.wait(timeout=30 * SLOW)
        rd.drain(1)
        out = "\n".join(rd.out)
    finally:
        rd.kill()
    assert rc == 2
    assert "no example 'no-such-company'" in out
    for name in examples.names():
        assert name in out
    assert not (tmp_path / "var").exists(), "nothing is built for an unknown name"


def test_make_run_passes_the_example_to_run_demo():
    p = subprocess.run(["make", "-n", "-C", str(ROOT), "run", "EXAMPLE=" + NAME,
                        "LISTEN=127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    line = [ln for ln in p.stdout.replace("\\\n", " ").splitlines()
            if "scripts/run-demo" in ln]
    assert line, p.stdout
    assert re.search(r"--example '%s'" % NAME, line[0]) and "--config" not in line[0], line
    assert "lethe demo" not in p.stdout and "demo/lethe.yaml" not in p.stdout


@pytest.mark.parametrize("name", examples.names())
def test_every_example_starts(name, tmp_path, lethe_bin):
    """lethe serve accepts the example over its demo: configuration, data map checked
    against the database (schema.sql included), templates, mailbox rules, policies."""
    ex = Example(name, tmp_path)
    try:
        status, _, data = ex.server.get("/healthz")
        assert status == 200, data
        # No warning but the test clock's: no unindexed link, no world-readable secret.
        warnings = [ln for ln in ex.server.stderr().splitlines() if "warning" in ln
                    and "test clock" not in ln.lower()]
        assert warnings == [], warnings
    finally:
        ex.close()
