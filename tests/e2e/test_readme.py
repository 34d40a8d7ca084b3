# SPDX-License-Identifier: MIT
"""README.md's examples work as written (issue 11, item 9).

The ```sh blocks run, as a new operator pastes them from the repository root,
against a fresh demo served the way `make run` serves it (scripts/run-demo,
its platforms simulated); the only change is the port: the README's
127.0.0.1:8080 becomes a free one.  The YAML examples are checked against
what they describe: the data map excerpts against the demo's data map, the
configuration examples by lethe itself, the command synopsis against each
command's --help.
"""
import json
import os
import re
import subprocess

import pytest
import yaml

from lethe_e2e import ROOT, SLOW, query, run_lethe
from demo_helpers import RunDemo, clean_env, free_port, move_simulator, workdir  # noqa: F401

README = (ROOT / "README.md").read_text()
DEMO_DATAMAP = yaml.safe_load((ROOT / "src" / "demo" / "datamap.yaml").read_text())
# Blocks not run here (a test of the block's text), and why.
NOT_RUN = {
    "make run": (lambda b: b.startswith("make run"),
                 "the Makefile itself: run by scripts/run-demo below, as make does"),
}


def blocks(lang):
    """The README's fenced blocks of @lang, in order."""
    return re.findall(r"^```%s\n(.*?)^```" % lang, README, re.S | re.M)


def section(title):
    """The README text of section '## @title' (up to the next '## ')."""
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), README, re.S | re.M)
    assert m, title
    return m.group(1)


def consistent(excerpt, full, path="datamap"):
    """An excerpt agrees with @full: mappings are subsets, lists prefixes, the rest equal."""
    if isinstance(excerpt, dict):
        assert isinstance(full, dict), path
        for k, v in excerpt.items():
            assert k in full, "%s/%s is not in the demo's data map" % (path, k)
            consistent(v, full[k], "%s/%s" % (path, k))
    elif isinstance(excerpt, list):
        assert isinstance(full, list) and full[:len(excerpt)] == excerpt, \
            "%s: %r is not how the demo's data map starts: %r" % (path, excerpt, full)
    else:
        assert excerpt == full, "%s: README says %r, the demo has %r" % (path, excerpt, full)


def test_readme_sh_examples_run_against_a_fresh_demo(workdir):
    move_simulator(workdir)
    port = free_port()
    run = RunDemo(workdir, "127.0.0.1:%d" % port)
    try:
        run.until(lambda ln: "to start over" in ln)
        ran = 0
        for block in blocks("sh"):
            if any(match(block) for match, _ in NOT_RUN.values()):
                continue
            script = "set -e\n" + block.replace("127.0.0.1:8080", "127.0.0.1:%d" % port)
            p = subprocess.run(["bash", "-c", script], cwd=str(workdir), env=clean_env(),
                               capture_output=True, text=True, timeout=120 * SLOW)
            assert p.returncode == 0, "README block failed:\n%s\n%s\n%s" % (block, p.stdout,
                                                                            p.stderr)
            if "data-deletion" in block:
                answer = json.loads(p.stdout)
                assert answer["url"].startswith("http://127.0.0.1:%d/" % port), answer
            if "api-key" in block:
                # The key it printed, configured and reloaded, is taken: channel 5 is
                # disconnected (a 401 or 403 would be an error object).
                state = json.loads(p.stdout)
                assert state["channel"] == "5" and state["state"] == "disconnected", state
            if "sign-request" in block and "curl" not in block:
                # What it prints is a request the demo (make run) accepts as its app's.
                sr = p.stdout.strip()
                assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", sr), p.stdout
                app = "facebook" if "FACEBOOK" in block else "instagram"
                c = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", "-d",
                                    "signed_request=" + sr, "http://127.0.0.1:%d/api/meta/%s/"
                                    "data-deletion" % (port, app)], env=clean_env(),
                                   capture_output=True, text=True, timeout=30)
                assert c.stdout.endswith("\n200"), c.stdout
            ran += 1
        assert ran == len(blocks("sh")) - len(NOT_RUN), "a README block was not run"
        # The erasures happened: user1's account and user2's Instagram connection.
        db = workdir / "demo" / "app.db"
        assert query(db, "SELECT count(*) FROM users WHERE email = 'user1@example.com'") == \
            [(0,)]
        assert query(db, "SELECT count(*) FROM channels WHERE platform = 'instagram' AND "
                         "platform_user_id = '17841000000201'") == [(0,)]
        assert run.stop() == 0
    finally:
        run.kill()


def test_readme_sign_request_example_uses_the_demo_secret():
    block = next(b for b in blocks("sh") if "LETHE_FACEBOOK_APP_SECRET" in b)
    secret = re.search(r"LETHE_FACEBOOK_APP_SECRET=(\S+)", block).group(1)
    make = (ROOT / "Makefile").read_text()
    assert "LETHE_FACEBOOK_APP_SECRET ?= %s\n" % secret in make, secret


def test_readme_community_vector_is_what_sign_request_prints():
    code, out, err = run_lethe("sign-request", "--secret-env", "VEC", "--user-id", "0",
                               "--issued-at", "1624244156", env={"VEC": "key"})
    assert code == 0, err
    assert "`key`, `--user-id 0 --issued-at 1624244156`" in README
    assert out.strip() == ("Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIs"
                           "ImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ")


def test_readme_data_map_excerpts_agree_with_the_demo():
    excerpt = yaml.safe_load(next(b for b in blocks("yaml") if b.startswith("tables:")))
    consistent(excerpt, DEMO_DATAMAP)
    ttl = next(b for b in blocks("yaml") if "ttl:" in b and not b.startswith("tables:"))
    consistent(yaml.safe_load(ttl), DEMO_DATAMAP["tables"], "datamap/tables")
    # The prose around it says the same as the map: request logs are deleted by the ttl.
    assert DEMO_DATAMAP["tables"]["request_logs"]["ttl"].get("action", "delete") == "delete"


def test_readme_configuration_examples_are_accepted(workdir):
    """The Configuration section's YAML, put together in the demo's directory (its
    relative paths are the demo's), is a configuration lethe accepts."""
    text = "".join(blocks("yaml")[i] for i, b in enumerate(blocks("yaml"))
                   if b in section("Configuration"))
    assert "platforms:" in text and "outbox:" in text and "server:" in text
    cfg = workdir / "demo" / "readme.yaml"
    cfg.write_text(text)
    code, out, err = run_lethe("plan", "-c", cfg, "--scope", "account", "--id",
                               "email=user1@example.com")
    assert code == 0, err


def test_readme_command_synopsis_matches_each_help():
    block = re.search(r"^```\n(lethe demo .*?)^```", README, re.S | re.M).group(1)
    lines = []
    for ln in block.splitlines():
        if ln.startswith("lethe "):
            lines.append(ln)
        elif ln.startswith(" ") and lines:
            lines[-1] += " " + ln.strip()
    seen = 0
    for ln in lines:
        cmd = ln.split()[1]
        if cmd == "help":
            continue
        code, out, err = run_lethe(cmd, "--help")
        assert code == 0, err
        usage = out.split("\n\n", 1)[0]
        assert usage.startswith("usage: "), out
        assert " ".join(usage[7:].split()) == " ".join(ln.split()), (ln, usage)
        seen += 1
    assert seen == 19


def test_readme_links_point_at_files_that_exist():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if "://" in target:
            continue
        assert (ROOT / target).exists(), target
    for anchor in re.findall(r"\]\(#([^)]+)\)", README):
        titles = [re.sub(r"[^a-z0-9 -]", "", t.lower()).replace(" ", "-")
                  for t in re.findall(r"^#+ (.*)$", README, re.M)]
        assert anchor in titles, anchor


def test_contrib_systemd_unit_verifies(tmp_path, lethe_bin):
    analyze = "/usr/bin/systemd-analyze"
    assert os.access(analyze, os.X_OK), "systemd-analyze is missing: scripts/deps test installs it"
    unit = (ROOT / "contrib" / "lethe.service").read_text()
    assert "User=lethe" in unit and "LimitNOFILE=" in unit and "NoNewPrivileges=yes" in unit
    path = tmp_path / "lethe.service"
    path.write_text(unit.replace("/usr/local/bin/lethe", lethe_bin))
    p = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


def test_contrib_nginx_config_passes_nginx_t(tmp_path):
    nginx = "/usr/sbin/nginx"
    assert os.access(nginx, os.X_OK), "nginx is missing: scripts/deps test installs it"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj",
                    "/CN=privacy.example.com"], check=True, capture_output=True, timeout=60)
    conf = (ROOT / "contrib" / "nginx-lethe.conf").read_text()
    live = "/etc/letsencrypt/live/privacy.example.com/"
    assert live + "fullchain.pem" in conf and live + "privkey.pem" in conf
    conf = conf.replace(live + "fullchain.pem", str(cert)).replace(live + "privkey.pem",
                                                                    str(key))
    (tmp_path / "lethe.conf").write_text(conf)
    main = tmp_path / "nginx.conf"
    main.write_text("pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  include %s;\n}\n"
                    % (tmp_path, tmp_path / "lethe.conf"))
    p = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(main)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "test is successful" in p.stderr, p.stderr


def test_deployment_yaml_is_a_configuration_lethe_accepts(workdir):
    """docs/deployment.md's lethe.yaml, its paths moved into the demo."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    text = re.search(r"^```yaml\n(.*?)^```", doc, re.S | re.M).group(1)
    demo = workdir / "demo"
    text = (text.replace("/srv/app/", str(demo) + "/").replace("/var/lib/lethe/",
                                                               str(demo / "var") + "/"))
    cfg = demo / "deploy.yaml"
    cfg.write_text(text)
    code, out, err = run_lethe("plan", "-c", cfg, "--scope", "account", "--id",
                               "email=user1@example.com")
    assert code == 0, err
