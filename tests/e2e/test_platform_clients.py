# SPDX-License-Identifier: MIT
"""The platform clients (src/platform/) against the fake platform, over loopback.

Each test runs tests/unit/platform_probe (one real platform_call() of
lethe's library, built next to the lethe binary under test) against
fake_platform.py and checks both sides: the request exactly as
platform-facts.md documents it (method, path, form fields, auth header, no
token in the URL) and how lethe classified the answer.
"""
import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from fake_platform import CLIENT_IDS, SECRETS, FakePlatform, fake_platform  # noqa: F401
from lethe_e2e import SLOW, check_sanitizer, lethe_env, lethe_path, run_lethe
from serve_helpers import SECRETS_ENV, servers, stop_ok  # noqa: F401  (servers: a fixture)

TOKEN = "tok-SECRET-123/+="  # characters that must be form-encoded
TIMEOUT_MS = 1500


def probe_path():
    return str(Path(lethe_path()).parent / "tests" / "unit" / "platform_probe")


def write_config(tmp_path, fake, **overrides):
    cfg = fake.platforms_config(timeout_ms=TIMEOUT_MS * SLOW, connect_timeout_ms=1000 * SLOW)
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path = tmp_path / "platforms.yaml"
    path.write_text(json.dumps({"platforms": cfg}))  # JSON is YAML
    return str(path)


def probe(config, platform, op, token=TOKEN, account="-", env=None):
    """Run one platform_call(); returns (result dict, stderr)."""
    e = dict(os.environ)
    for k in SECRETS:
        e.pop(k, None)
    e.update(FakePlatform.env() if env is None else env)
    e.update(no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    p = subprocess.run([probe_path(), config, platform, op, token, account],
                       capture_output=True, text=True, timeout=30 * SLOW, env=e)
    check_sanitizer(p.stderr)
    assert p.returncode == 0, p.stderr
    assert TOKEN not in p.stdout + p.stderr, "the token reached the output"
    for secret in SECRETS.values():
        assert secret not in p.stdout + p.stderr, "a secret reached the output"
    return json.loads(p.stdout), p.stderr


def only_call(fake, platform):
    calls = fake.calls()
    assert len(calls) == 1, calls
    c = calls[0]
    assert c.platform == platform
    assert c.headers.get("content-type") == "application/x-www-form-urlencoded"
    assert TOKEN not in c.full_path and not c.query, "token or parameters in the URL"
    return c


# (platform, op, account, method, path, form) as platform-facts.md documents them.
DOCUMENTED = [
    ("google", "revoke", "-", "POST", "/revoke", {"token": TOKEN}),
    ("facebook", "revoke", "1234567", "DELETE", "/v21.0/1234567/permissions",
     {"access_token": TOKEN}),
    ("facebook", "unsubscribe", "5550001", "DELETE", "/v21.0/5550001/subscribed_apps",
     {"access_token": TOKEN}),
    ("instagram", "unsubscribe", "17841000000101", "DELETE",
     "/v21.0/17841000000101/subscribed_apps", {"access_token": TOKEN}),
    ("linkedin", "revoke", "-", "POST", "/oauth/v2/revoke",
     {"token": TOKEN, "client_id": CLIENT_IDS["linkedin"], "client_secret": "li-secret"}),
    ("x", "revoke", "-", "POST", "/2/oauth2/revoke",
     {"token": TOKEN, "client_id": CLIENT_IDS["x"]}),
    ("tiktok", "revoke", "-", "POST", "/v2/oauth/revoke/",
     {"client_key": CLIENT_IDS["tiktok"], "client_secret": "tt-secret", "token": TOKEN}),
]


@pytest.mark.parametrize("platform,op,account,method,path,form", DOCUMENTED,
                         ids=["%s-%s" % (d[0], d[1]) for d in DOCUMENTED])
def test_platform_request_as_documented(tmp_path, fake_platform, platform, op, account,
                                        method, path, form):
    config = write_config(tmp_path, fake_platform)
    res, _ = probe(config, platform, op, account=account)
    assert res["outcome"] == "ok", res
    assert res["http_status"] == 200
    c = only_call(fake_platform, platform)
    assert (c.method, c.path) == (method, path)
    assert c.form == form
    if platform == "x":
        basic = base64.b64encode(b"x-client-1:x-secret").decode()
        assert c.headers.get("authorization") == "Basic " + basic
    else:
        assert "authorization" not in c.headers


def test_platform_x_public_client_sends_no_basic_auth(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    cfg = json.loads(Path(config).read_text())
    del cfg["platforms"]["x"]["client_secret_env"]
    Path(config).write_text(json.dumps(cfg))
    res, _ = probe(config, "twitter", "revoke")
    assert res["outcome"] == "ok", res
    c = only_call(fake_platform, "x")
    assert "authorization" not in c.headers
    assert c.form == {"token": TOKEN, "client_id": CLIENT_IDS["x"]}


def test_platform_facebook_revoke_without_user_token_uses_app_token(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    res, _ = probe(config, "facebook", "revoke", token="-", account="1234567")
    assert res["outcome"] == "ok", res
    c = only_call(fake_platform, "facebook")
    assert (c.method, c.path) == ("DELETE", "/v21.0/1234567/permissions")
    assert c.form == {"access_token": "fb-app-1001|fb-app-secret"}


def test_platform_graph_version_configurable(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform, facebook={"api_version": "v99.0"})
    res, _ = probe(config, "facebook", "revoke", account="42")
    c = only_call(fake_platform, "facebook")
    assert c.path == "/v99.0/42/permissions"
    assert res["outcome"] == "failed" and res["http_status"] == 404  # the fake knows v21.0 only


def test_platform_instagram_revoke_unsupported_sends_nothing(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    res, _ = probe(config, "instagram", "revoke", account="17841000000101")
    assert res["outcome"] == "unsupported", res
    assert "instagram" in res["detail"]
    assert fake_platform.calls() == []


def test_platform_unsubscribe_unsupported_elsewhere(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    for platform in ("google", "linkedin", "x", "tiktok"):
        res, _ = probe(config, platform, "unsubscribe", account="1")
        assert res["outcome"] == "unsupported", (platform, res)
    assert fake_platform.calls() == []


@pytest.mark.parametrize("platform,op,account", [
    ("google", "revoke", "-"), ("facebook", "revoke", "77"), ("linkedin", "revoke", "-"),
    ("x", "revoke", "-"), ("tiktok", "revoke", "-")])
def test_platform_already_revoked_counts_as_already(tmp_path, fake_platform, platform, op,
                                                    account):
    config = write_config(tmp_path, fake_platform)
    fake_platform.already(platform)
    res, _ = probe(config, platform, op, account=account)
    assert res["outcome"] == "already", res
    assert res["http_status"] == 400


@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_platform_unsubscribe_with_an_invalid_token_fails(tmp_path, fake_platform, platform):
    """Graph code 190 on DELETE /{page-id}/subscribed_apps: the token is dead, the
    subscription is still there; a failure that says so, never "already"."""
    config = write_config(tmp_path, fake_platform)
    fake_platform.already(platform)
    res, _ = probe(config, platform, "unsubscribe", account="77")
    assert res["outcome"] == "failed", res
    assert res["http_status"] == 400
    assert "token is invalid" in res["detail"] and "could not be removed" in res["detail"]


@pytest.mark.parametrize("platform", ["google", "linkedin", "x", "tiktok", "facebook"])
def test_platform_permanent_4xx_fails(tmp_path, fake_platform, platform):
    config = write_config(tmp_path, fake_platform)
    fake_platform.reject(platform, status=401)
    res, _ = probe(config, platform, "revoke", account="77")
    assert res["outcome"] == "failed", res
    assert res["http_status"] == 401


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_platform_temporary_errors_retry_then_ok(tmp_path, fake_platform, status):
    config = write_config(tmp_path, fake_platform)
    fake_platform.error("google", times=2, status=status)
    outcomes = [probe(config, "google", "revoke")[0] for _ in range(3)]
    assert [(r["outcome"], r["http_status"]) for r in outcomes] == [
        ("retry", status), ("retry", status), ("ok", 200)]
    assert len(fake_platform.calls("google")) == 3


def test_platform_path_rule_wins_over_platform_rule(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    fake_platform.reject("facebook", status=403)
    fake_platform.normal("/facebook/v21.0/5550001/subscribed_apps")
    assert probe(config, "facebook", "unsubscribe", account="5550001")[0]["outcome"] == "ok"
    assert probe(config, "facebook", "revoke", account="5550001")[0]["outcome"] == "failed"


def test_platform_hang_times_out_as_retry(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    fake_platform.hang("tiktok", seconds=30)
    t0 = time.monotonic()
    res, _ = probe(config, "tiktok", "revoke")
    took = time.monotonic() - t0
    assert res["outcome"] == "retry", res
    assert res["http_status"] == 0
    assert "timed out" in res["detail"]
    assert took < (TIMEOUT_MS / 1000.0) * SLOW + 5 * SLOW, took


def test_platform_connection_refused_is_retry(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    url = fake_platform.url
    fake_platform.stop()
    res, _ = probe(config, "google", "revoke")
    assert res["outcome"] == "retry", res
    assert res["http_status"] == 0
    assert url  # the port is gone: nothing answered


def test_platform_missing_secret_names_the_variable(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    env = {k: v for k, v in SECRETS.items() if k != "LETHE_TEST_LINKEDIN_CLIENT_SECRET"}
    res, _ = probe(config, "linkedin", "revoke", env=env)
    assert res["outcome"] == "failed", res
    assert "LETHE_TEST_LINKEDIN_CLIENT_SECRET" in res["detail"]
    assert fake_platform.calls() == []
    # Google needs no secret: unaffected.
    assert probe(config, "youtube", "revoke", env=env)[0]["outcome"] == "ok"


def test_platform_bad_account_id_never_reaches_the_url(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform)
    res, _ = probe(config, "facebook", "unsubscribe", account="../../1/permissions")
    assert res["outcome"] == "failed", res
    assert fake_platform.calls() == []


def test_platform_bad_config_is_refused(tmp_path, fake_platform):
    config = write_config(tmp_path, fake_platform,
                          linkedin={"client_secret": "inline-secret"})
    p = subprocess.run([probe_path(), config, "linkedin", "revoke", TOKEN, "-"],
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert p.returncode == 2
    assert "unknown key 'client_secret'" in p.stderr
    assert "inline-secret" not in p.stderr


# --- the platforms: section read by the real lethe binary ---------------------------------

PLATFORMS_YAML = """
platforms:
  timeout_ms: 2000
  linkedin:
    client_id: li-client-1
    client_secret_env: LETHE_TEST_LINKEDIN_CLIENT_SECRET
  x:
    client_id: x-client-1
"""


def serve_once(demo, env):
    """Run `lethe serve` expecting it to refuse to start; (exit code, stderr)."""
    e = lethe_env(dict(SECRETS_ENV, **env))
    p = subprocess.run([lethe_path(), "serve", "-c", str(demo.config), "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True, timeout=30 * SLOW,
                       env=e, stdin=subprocess.DEVNULL)
    check_sanitizer(p.stderr)
    return p.returncode, p.stderr


def test_platform_config_serve_refuses_unreadable_secret(demo):
    demo.config.write_text(demo.config_without("platforms") + PLATFORMS_YAML)
    code, err = serve_once(demo, {})
    assert code == 3, err
    assert "platforms.linkedin" in err and "LETHE_TEST_LINKEDIN_CLIENT_SECRET" in err, err


def test_platform_config_serve_starts_with_secret(demo, servers):
    demo.config.write_text(demo.config_without("platforms") + PLATFORMS_YAML)
    server = servers(demo, env={"LETHE_TEST_LINKEDIN_CLIENT_SECRET": "li-secret-value"})
    stop_ok(server)
    assert "li-secret-value" not in server.stderr()


def test_platform_config_secret_only_matters_where_needed(demo):
    # Commands that call no platform do not need the platform secrets.
    demo.config.write_text(demo.config_without("platforms") + PLATFORMS_YAML)
    code, out, err = run_lethe("plan", "-c", str(demo.config), "--scope", "account",
                               "--id", "email=user1@example.com", "--json",
                               env=lethe_env())
    assert code == 0, err


@pytest.mark.parametrize("section,message", [
    ("platforms:\n  linkedin: {client_id: a, client_secret: inline-secret}\n",
     "unknown key 'client_secret' in platforms.linkedin ("),
    ("platforms:\n  tiktok: {client_key: k}\n",
     "platforms.tiktok.client_key needs client_secret_env or client_secret_file"),
    ("platforms:\n  google: {base_url: 'ftp://example.com'}\n", "base_url"),
    ("platforms:\n  timeout_ms: soon\n", "platforms.timeout_ms must be an integer"),
    ("platforms:\n  myspace: {}\n", "unknown key 'myspace' in platforms"),
])
def test_platform_config_errors_name_the_line(demo, section, message):
    demo.config.write_text(demo.config_without("platforms") + section)
    lines = demo.config.read_text().count("\n")
    code, out, err = run_lethe("plan", "-c", str(demo.config), "--scope", "account",
                               "--id", "email=user1@example.com", env=lethe_env())
    assert code == 3, err
    assert message in err, err
    assert "lethe.yaml:%d" % lines in err or "lethe.yaml:%d" % (lines - 1) in err, err
    assert "inline-secret" not in err


def test_platform_config_of_the_fake_serves(demo, servers, fake_platform):
    # The configuration fake_platform hands to other tests is one lethe accepts.
    demo.config.write_text(demo.config_without("platforms") +
                           fake_platform.platforms_yaml(timeout_ms=1000))
    server = servers(demo, env=fake_platform.env())
    stop_ok(server)
    for secret in SECRETS.values():
        assert secret not in server.stderr()
    code, err = serve_once(demo, {})  # and without the secrets it refuses, naming one
    assert code == 3, err
    assert "LETHE_TEST_" in err, err
