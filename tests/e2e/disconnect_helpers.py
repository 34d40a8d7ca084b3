# SPDX-License-Identifier: MIT
"""Helpers of the channel-disconnect tests (tests/e2e/test_disconnect_*.py).

  configure(demo, fake, ...)   point the demo's lethe.yaml at the fake platform, with an API
                               key and test-friendly outbox settings (small backoffs)
  API_KEY                      the key configured (its SHA-256 is in lethe.yaml)
  api(server, method, path)    an authenticated request to the app API: (status, hdrs, json)
  channel(demo, platform)      a demo channel of @platform with a token: a dict of its row
  wait_settled(server, id)     poll GET /v1/channels/{id} until no job is pending/running
  serve_env(fake)              the environment lethe serve needs (Meta and platform secrets)

Every wait is bounded and scaled by TSCALE under a sanitized build.
"""
import hashlib
import json
import time

import pytest

from lethe_e2e import query
from serve_helpers import SECRETS_ENV, TSCALE

API_KEY = "lk_e2e_0f9c2d4b7a1e3f5d8c6b9a0e2d4f6a8c"
API_SHA = hashlib.sha256(API_KEY.encode()).hexdigest()
UNSETTLED = ("pending", "retrying", "running", "staged")

# The channels table's platform names in the demo, and what lethe calls them.
CANONICAL = {"youtube": "google", "facebook": "facebook", "instagram": "instagram",
             "linkedin": "linkedin", "x": "x", "tiktok": "tiktok"}


def configure(demo, fake, base="50ms", cap="200ms", attempts=6, max_age="1h", lease="3s",
              timeout_ms=2000):
    """Rewrite the demo's outbox:/api: sections and its platforms: (the fake)."""
    text = demo.config_without("platforms")
    cut = text.index("\noutbox:")
    text = text[:cut + 1]
    text += ("outbox:\n  key_file: var/outbox.key\n  backoff_base: %s\n  backoff_cap: %s\n"
             "  max_attempts: %d\n  max_age: %s\n  lease: %s\n" % (base, cap, attempts,
                                                                    max_age, lease))
    text += "api:\n  keys:\n    - {name: e2e, sha256: %s}\n" % API_SHA
    text += "platforms: %s\n" % json.dumps(fake.platforms_config(timeout_ms=timeout_ms,
                                                                  connect_timeout_ms=1000))
    demo.config.write_text(text)


def serve_env(fake):
    env = dict(SECRETS_ENV)
    env.update(fake.env())
    return env


def api(server, method, path, key=API_KEY, body=None, headers=None, timeout=20):
    """(status, headers, parsed JSON or None) of an API request."""
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    status, hdrs, data = server.request(method, path, body=body, headers=h, timeout=timeout)
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return status, hdrs, parsed


def channel(demo, platform, skip=0):
    """A channel of @platform that holds an access token (the (skip+1)-th such)."""
    rows = query(demo.db, "SELECT id, platform_user_id, access_token, refresh_token, status "
                          "FROM channels WHERE platform = ? AND access_token IS NOT NULL "
                          "ORDER BY id", (platform,))
    assert len(rows) > skip, "the demo has no channel of %s" % platform
    r = rows[skip]
    return {"id": r[0], "account": r[1], "token": r[2], "refresh": r[3], "status": r[4]}


def channel_row(demo, cid):
    r = query(demo.db, "SELECT access_token, refresh_token, status FROM channels WHERE id = ?",
              (cid,))
    return r[0] if r else None


def jobs_settled(state):
    jobs = [state.get("revoke"), state.get("purge")] + list(state.get("unsubscribe", []))
    return all(j is None or j["state"] not in UNSETTLED for j in jobs)


def wait_settled(server, cid, timeout=20):
    """Poll the channel's state until every job is done or dead; returns it."""
    deadline = time.monotonic() + timeout * TSCALE
    last = None
    while time.monotonic() < deadline:
        status, _, last = api(server, "GET", "/v1/channels/%d" % cid)
        assert status == 200, (status, last)
        if jobs_settled(last):
            return last
        time.sleep(0.05)
    pytest.fail("channel %d not settled after %ss: %r\n%s"
                % (cid, timeout * TSCALE, last, server.stderr()))


def wait_state(server, cid, pred, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout * TSCALE
    last = None
    while time.monotonic() < deadline:
        status, _, last = api(server, "GET", "/v1/channels/%d" % cid)
        assert status == 200, (status, last)
        if pred(last):
            return last
        time.sleep(0.05)
    pytest.fail("channel %d: %s not reached after %ss: %r\n%s"
                % (cid, what, timeout * TSCALE, last, server.stderr()))


def metric(text, name, labels=None):
    """The value of metric @name{labels} in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if labels is None and head == name:
            return float(value)
        if labels is not None and head.startswith(name + "{"):
            got = dict(kv.split("=", 1) for kv in head[len(name) + 1:-1].split(","))
            got = {k: v.strip('"') for k, v in got.items()}
            if all(got.get(k) == v for k, v in labels.items()):
                return float(value)
    return None
