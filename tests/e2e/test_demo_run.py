# SPDX-License-Identifier: MIT
"""`make run` as a new operator meets it (issue 11, items 6 and 7).

The demo is written by `lethe demo` and run by scripts/run-demo exactly as
the Makefile does (`--lethe build/lethe --config demo/lethe.yaml --listen
ADDR:PORT`, from the directory above build/ and demo/), only on free
loopback ports: the simulator's port in the demo's lethe.yaml is moved off
8091 so a `make run` on this machine is never disturbed.  Every line it
prints is then pasted into a shell, and every platform's disconnect must end
cleanly against the simulator, which is the only thing contacted.
"""
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from lethe_e2e import ROOT, SLOW, query, run_lethe
from serve_helpers import servers  # noqa: F401  (fixture)

RUN_DEMO = ROOT / "scripts" / "run-demo"
DEMO_SECRETS = {"LETHE_FACEBOOK_APP_SECRET": "demo-facebook-secret",
                "LETHE_INSTAGRAM_APP_SECRET": "demo-instagram-secret"}
PLATFORM_OF = {"youtube": "google", "facebook": "facebook", "instagram": "instagram",
               "linkedin": "linkedin", "x": "x", "tiktok": "tiktok"}
SIM_RE = re.compile(r"^platform simulator: (\S+) (\S+) (\S+) -> (\S+)$")


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
    """Point the demo's platforms at a free loopback port; returns it."""
    cfg = workdir / "demo" / "lethe.yaml"
    text = cfg.read_text()
    port = free_port()
    cfg.write_text(text.replace("127.0.0.1:8091/", "127.0.0.1:%d/" % port))
    return port


def test_demo_config_calls_only_the_local_simulator(workdir):
    """`lethe demo` points every platform at the loopback simulator, with client ids."""
    text = (workdir / "demo" / "lethe.yaml").read_text()
    urls = base_urls(text)
    assert sorted(u.rsplit("/", 1)[1] for u in urls) == sorted(set(PLATFORM_OF.values()))
    for u in urls:
        assert u.startswith("http://127.0.0.1:8091/"), u
    for secret in ("linkedin", "x", "tiktok"):
        path = workdir / "demo" / "secrets" / ("%s.secret" % secret)
        assert path.read_text() == "demo-%s-secret\n" % secret
        assert path.stat().st_mode & 0o077 == 0, "a demo secret is readable by others"


def test_demo_disconnect_without_the_simulator_fails_fast_and_says_why(workdir):
    sim_port = move_simulator(workdir)  # a free port: nothing listens there
    db = workdir / "demo" / "app.db"
    cid = query(db, "SELECT id FROM channels WHERE platform = 'youtube' AND "
                    "access_token IS NOT NULL ORDER BY id")[0][0]
    t0 = time.monotonic()
    d = subprocess.run(["build/lethe", "disconnect", "-c", "demo/lethe.yaml", "--channel",
                        str(cid)], cwd=str(workdir), env=clean_env(), capture_output=True,
                       text=True, timeout=60 * SLOW)
    took = time.monotonic() - t0
    assert d.returncode == 4, (d.stdout, d.stderr)  # disconnected; the revoke a dead letter
    assert took < 15 * SLOW, took
    why = "127.0.0.1 port %d" % sim_port
    assert why in d.stdout and "Connection refused" in d.stdout, d.stdout
    assert "HTTP 0" not in d.stdout + d.stderr, d.stderr
    assert why in d.stderr and "Connection refused" in d.stderr, d.stderr
    code, out, err = run_lethe("jobs", "-c", workdir / "demo" / "lethe.yaml", "--dead")
    assert code == 0, err
    assert why in out and "Connection refused" in out, out


def test_demo_try_line_names_the_binary_as_it_was_run(workdir):
    p = subprocess.run(["build/lethe", "demo", "--dir", "other", "--users", "2"],
                       cwd=str(workdir), env=clean_env(), capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert p.returncode == 0, p.stderr
    tries = [ln.strip() for ln in p.stdout.splitlines() if "plan -c" in ln]
    assert tries == ["build/lethe plan -c other/lethe.yaml --scope account --id "
                     "email=user1@example.com"], p.stdout
    q = subprocess.run(["bash", "-c", tries[0]], cwd=str(workdir), env=clean_env(),
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert q.returncode == 0, q.stderr


def test_help_claims_only_what_lethe_does():
    code, out, err = run_lethe("help")
    assert code == 0
    assert "export" not in out.lower(), out


def test_serve_listen_moves_a_default_public_url(demo, servers):
    """Without server.public_url, status links follow --listen; --public-url wins."""
    text = demo.config.read_text()
    demo.config.write_text(re.sub(r"^\s*public_url:.*\n", "", text, flags=re.M))
    port = free_port()
    srv = servers(demo, listen="127.0.0.1:%d" % port)
    assert "status pages at http://127.0.0.1:%d/data-deletion/status" % port in \
        srv.first_line, srv.first_line
    srv.kill()
    demo.config.write_text(text)  # public_url: http://127.0.0.1:8080 in the demo
    port = free_port()
    srv = servers(demo, listen="127.0.0.1:%d" % port)
    assert "at http://127.0.0.1:8080/data-deletion" in srv.first_line, srv.first_line
    srv.kill()
