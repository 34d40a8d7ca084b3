# SPDX-License-Identifier: MIT
"""Helpers of the tests that run the demo as `make run` does (test_demo_run.py,
test_readme.py).

  workdir            fixture: tmp_path laid out like the repository root, build/lethe
                     (a link to the binary under test's directory) and a fresh demo/
  move_simulator(w)  point the demo's platforms (and mail) at free loopback ports
  RunDemo(w, listen) scripts/run-demo started as `make run` starts it
  run_demo           fixture: run_demo(workdir, listen) -> a RunDemo, killed at teardown
  clean_env(**kw)    a new terminal's environment (no LETHE_* variable, no proxy)
  free_port(), listening(port), base_urls(config_text)
"""
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lethe_e2e import ROOT, SLOW, run_lethe

RUN_DEMO = ROOT / "scripts" / "run-demo"
DEMO_SECRETS = {"LETHE_FACEBOOK_APP_SECRET": "demo-facebook-secret",
                "LETHE_INSTAGRAM_APP_SECRET": "demo-instagram-secret"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def clean_env(**extra):
    """A new terminal's environment: no lethe secret or key, no proxy for loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    env.update(extra)
    return env


@pytest.fixture
def workdir(tmp_path, lethe_bin):
    """tmp_path laid out like the repository root: build/lethe and demo/ (a fresh demo
    whose simulator port is a free one)."""
    (tmp_path / "build").symlink_to(Path(lethe_bin).parent, target_is_directory=True)
    code, out, err = run_lethe("demo", "--dir", tmp_path / "demo", "--users", "12",
                               timeout=120)
    assert code == 0, err
    return tmp_path


def base_urls(config_text):
    return re.findall(r"base_url:\s*\"?([^\s\"]+)", config_text)


def move_simulator(workdir):
    """Point the demo's platforms at a free loopback port, and its mail at another (the
    SMTP sink run-demo starts); returns the platforms' port."""
    cfg = workdir / "demo" / "lethe.yaml"
    text = cfg.read_text()
    port = free_port()
    text = text.replace("smtp://127.0.0.1:8025", "smtp://127.0.0.1:%d" % free_port())
    cfg.write_text(text.replace("127.0.0.1:8091/", "127.0.0.1:%d/" % port))
    return port


class RunDemo:
    """scripts/run-demo started as `make run` starts it; stdout read line by line."""

    def __init__(self, workdir, listen):
        env = clean_env(**DEMO_SECRETS)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(RUN_DEMO), "--lethe", "build/lethe", "--config",
             "demo/lethe.yaml", "--listen", listen], cwd=str(workdir), env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.out = []
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pred, timeout=20):
        """Read lines until one satisfies @pred (bounded); returns it."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.out.append(line)
            if pred(line):
                return line
        pytest.fail("run-demo never printed the line wanted; output:\n%s\nstderr:\n%s"
                    % ("\n".join(self.out), self.stderr_now()))

    def drain(self, seconds=0.5):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            self.out.append(line)

    def stderr_now(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()

    def stop(self, sig=signal.SIGINT, timeout=15):
        """What Ctrl-C does: the signal to the whole process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail("run-demo did not stop within %ss of SIGINT" % timeout)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def run_demo():
    started = []

    def start(workdir, listen):
        r = RunDemo(workdir, listen)
        started.append(r)
        return r

    yield start
    for r in started:
        r.kill()
