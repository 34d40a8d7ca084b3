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
import email
import email.policy
import html.parser
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

from demo_helpers import (  # noqa: F401  (workdir, run_demo: fixtures)
    base_urls,
    clean_env,
    free_port,
    listening,
    move_simulator,
    run_demo,
    workdir,
)
from lethe_e2e import ROOT, SLOW, query, run_lethe
from serve_helpers import servers  # noqa: F401  (fixture)

PLATFORM_OF = {"youtube": "google", "facebook": "facebook", "instagram": "instagram",
               "linkedin": "linkedin", "x": "x", "tiktok": "tiktok"}
SIM_RE = re.compile(r"^platform simulator: (\S+) (\S+) (\S+) -> (\S+)$")


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


def test_make_run_prints_lines_that_work_and_disconnects_stay_local(workdir, run_demo):
    sim_port = move_simulator(workdir)
    port = free_port()
    listen = "127.0.0.1:%d" % port
    rd = run_demo(workdir, listen)
    serving = rd.until(lambda ln: "serving on port" in ln)
    assert listening(port), "lethe said it serves before it listens"
    # Nothing says "serving" before lethe itself did.
    assert not any("serves the demo" in ln for ln in rd.out[:-1]), rd.out
    rd.until(lambda ln: "serves the demo at http://%s" % listen in ln)
    assert "http://%s/data-deletion/status" % listen in serving, serving
    rd.until(lambda ln: "to start over" in ln)
    printed = list(rd.out)

    # Every command line it prints, pasted into a shell in a new terminal at the root.
    commands = [ln.strip() for ln in printed[printed.index(next(
        ln for ln in printed if ln.startswith("== Try"))) + 1:] if ln.startswith("  ")
        and not ln.strip().startswith("#")]
    assert commands, printed
    assert all(c.startswith(("SR=", "curl ", "build/lethe ")) for c in commands), commands
    script = "set -e\n" + "".join("%s\necho\n" % c for c in commands)
    p = subprocess.run(["bash", "-c", script], cwd=str(workdir), env=clean_env(),
                       capture_output=True, text=True, timeout=120 * SLOW)
    assert p.returncode == 0, "pasted lines failed:\n%s\n%s\n%s" % (script, p.stdout,
                                                                   p.stderr)
    # The data-deletion answer's status link is on the port it serves (LISTEN moved it).
    answer = json.loads(re.search(r'\{"url":[^}]*\}', p.stdout).group(0))
    assert answer["url"].startswith("http://%s/data-deletion/status?id=" % listen), answer
    page = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           answer["url"]], env=clean_env(), capture_output=True,
                          text=True, timeout=30)
    assert page.stdout == "200", page

    # The channels it names, one of every platform, disconnected as the README says
    # (after the lines above ran): exit 0, quickly.
    db = workdir / "demo" / "app.db"
    named = [ln for ln in printed if "--channel" in ln or "channels of the other" in ln]
    ids = [int(i) for i in re.findall(r"(?:--channel |: |, )(\d+)", " ".join(named))]
    platforms = {query(db, "SELECT platform FROM channels WHERE id = ?", (i,))[0][0]
                 for i in ids}
    assert platforms == set(PLATFORM_OF), (named, platforms)
    done = {PLATFORM_OF[p] for p in platforms}
    for cid in ids[1:]:  # the first one ran with the pasted lines
        t0 = time.monotonic()
        d = subprocess.run(["build/lethe", "disconnect", "-c", "demo/lethe.yaml",
                            "--channel", str(cid)], cwd=str(workdir),
                           env=clean_env(), capture_output=True, text=True,
                           timeout=60 * SLOW)
        assert d.returncode == 0, (cid, d.stdout, d.stderr)
        assert time.monotonic() - t0 < 10 * SLOW, cid

    # The simulator recorded the calls; every one a documented endpoint answered 200.
    rd.drain(1.0)
    calls = [SIM_RE.match(ln).groups() for ln in rd.out if SIM_RE.match(ln)]
    assert calls, rd.out
    assert all(status == "200" for _, _, _, status in calls), calls
    assert {c[0] for c in calls} == done, calls
    for platform in ("google", "linkedin", "x", "tiktok"):
        assert any(c[0] == platform and "/revoke" in c[2] for c in calls), (platform, calls)
    assert any(c[0] == "facebook" and c[2].endswith("/permissions") for c in calls), calls
    assert any(c[0] == "instagram" and c[2].endswith("/subscribed_apps") for c in calls)
    # Every job ended done, none dead or waiting: nothing else was called.
    jobs = query(workdir / "demo" / "var" / "state.db",
                 "SELECT kind, state, reason FROM outbox WHERE state != 'done'")
    assert jobs == [], jobs

    # Ctrl-C stops lethe and the simulator; the exit status is lethe's clean stop.
    assert rd.stop() == 0
    assert not listening(port) and not listening(sim_port)


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
    """`lethe help` lists `export` (lethe exports now), and every command it
    lists, and every command it names in its prose, exists (its --help runs)."""
    code, out, err = run_lethe("help")
    assert code == 0
    listed = re.findall(r"^  ([a-z]+)(?: |$)", out.split("Commands:")[1].split("Example:")[0],
                        re.M)
    assert "export" in listed, out
    named = re.findall(r"\(lethe ([a-z]+)\)", out)
    assert named == ["export"], out
    for name in listed + named:
        code, _, err = run_lethe(name, "--help")
        assert code == 0, (name, err)


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


def test_deps_run_group_installs_no_test_toolchain_and_says_what(tmp_path):
    """scripts/deps run: build and run packages only, listed before apt-get runs."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "apt.log"
    (stubs / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # nothing installed
    (stubs / "id").write_text("#!/bin/sh\necho 0\n")
    (stubs / "apt-get").write_text('#!/bin/sh\necho "apt-get $*" >> %s\n' % log)
    for s in stubs.iterdir():
        s.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (stubs, os.environ.get("PATH", "")))

    def deps(*groups):
        log.write_text("")
        p = subprocess.run(["sh", str(ROOT / "scripts" / "deps"), *groups], env=env,
                           capture_output=True, text=True, timeout=30)
        return p, log.read_text()

    p, apt = deps("run")
    assert p.returncode == 0, p.stderr
    install = [ln for ln in apt.splitlines() if " install " in ln]
    assert len(install) == 1, apt
    pkgs = set(install[0].split()) - {"apt-get", "install", "-y", "-q",
                                      "--no-install-recommends"}
    for needed in ("meson", "libmicrohttpd-dev", "libcurl4-openssl-dev", "python3", "curl"):
        assert needed in pkgs, pkgs
    for not_needed in ("clang", "libclang-rt-14-dev", "clang-format", "python3-pytest",
                       "wrk", "nginx-light"):
        assert not_needed not in pkgs, pkgs
    listed = next(ln for ln in p.stdout.splitlines() if "installing" in ln)
    assert set(listed.rsplit(":", 1)[1].split()) == pkgs, p.stdout
    p, apt = deps("test")
    assert {"clang", "libclang-rt-14-dev", "python3-pytest"} <= set(apt.split()), apt
    p, apt = deps("nonsense")
    assert p.returncode == 2 and "unknown group" in p.stderr and apt == ""
    assert shutil.which("sh")


def test_make_run_closed_terminal_stops_lethe_too(workdir, run_demo):
    """Closing the terminal sends SIGHUP to `make run`'s process group; lethe takes
    SIGHUP as "reload", so run-demo must stop it: nothing may keep the port afterwards.
    And if run-demo is killed outright, the kernel stops lethe (PR_SET_PDEATHSIG)."""
    import signal

    move_simulator(workdir)
    for sig in (signal.SIGHUP, signal.SIGKILL):
        port = free_port()
        rd = run_demo(workdir, "127.0.0.1:%d" % port)
        rd.until(lambda ln: "serving on port" in ln)
        assert listening(port)
        os.killpg(rd.proc.pid, sig)
        rd.proc.wait(timeout=15 * SLOW)
        deadline = time.monotonic() + 10 * SLOW
        while listening(port):
            assert time.monotonic() < deadline, "lethe still serves after %r" % sig
            time.sleep(0.1)


class _FormFields(html.parser.HTMLParser):
    """The fields a browser would send from the page's POST form: hidden inputs, the
    first radio button (or the checked one), and the email input's name."""

    def __init__(self):
        super().__init__()
        self.fields, self.radio, self.email = {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag != "input":
            return
        if a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif a.get("type") == "radio" and (self.radio is None or "checked" in a):
            self.radio = (a["name"], a.get("value", "on"))
        elif a.get("type") == "email":
            self.email = a["name"]


def test_make_run_serves_the_self_service_page_and_mails_into_the_demo(workdir, run_demo):
    """make run (issue 14): the page at /privacy is on, its mail goes to the local SMTP
    sink run-demo starts (loopback only) and lands in demo/mail/, as run-demo says."""
    move_simulator(workdir)
    text = (workdir / "demo" / "lethe.yaml").read_text()
    assert re.search(r"^  url: smtp://127\.0\.0\.1:\d+$", text, re.M), text
    assert re.search(r"^  starttls: off\b", text, re.M), text
    port = free_port()
    listen = "127.0.0.1:%d" % port
    rd = run_demo(workdir, listen)
    rd.until(lambda ln: "to start over" in ln)
    printed = "\n".join(rd.out)
    assert "open http://%s/privacy in a browser" % listen in printed, printed
    assert "lands in demo/mail/" in printed, printed

    # A person asks on the page, as the browser posts its form.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://%s/privacy" % listen, timeout=30) as r:
        assert r.status == 200
        form = _FormFields()
        form.feed(r.read().decode())
    assert form.radio and form.email, "no offer or email field on the page"
    fields = dict(form.fields)
    fields[form.radio[0]] = form.radio[1]
    fields[form.email] = "user3@example.com"
    body = urllib.parse.urlencode(fields).encode()
    with opener.open("http://%s/privacy" % listen, data=body, timeout=30) as r:
        assert r.status == 200
    first = workdir / "demo" / "mail" / "000001.eml"
    deadline = time.monotonic() + 20 * SLOW
    while not first.exists():
        assert time.monotonic() < deadline, "no mail in demo/mail/ after 20 s"
        time.sleep(0.1)
    msg = email.message_from_bytes(first.read_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "http://%s/privacy/l/" % listen in text, text
    assert rd.stop() == 0
