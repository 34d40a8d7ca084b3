# SPDX-License-Identifier: MIT
"""Helpers of the privacy-request interface tests (test_requests_api.py, _cli.py).

  APP_KEY, ADMIN_KEY           the app key (api.keys) and the operator key (api.admin_keys)
  configure(demo, ...)         lethe.yaml with both keys and a requests: policy that
                               holds every request for review (so it stays open)
  call(server, method, path, key, body)  (status, headers, parsed JSON or None)
  create_body(...)             a POST /v1/requests body
  assert_error(...)            a {"error": {"code", "message"}} answer
  cli_json(demo, *args)        `lethe requests ... --json`: (exit code, parsed stdout, stderr)
"""
import hashlib
import json

from lethe_e2e import run_lethe, without_section

APP_KEY = "lk_e2e_app_5b1d7c9e2f4a6b8d0c1e3f5a7b9d1c3e"
ADMIN_KEY = "lk_e2e_admin_8a6c4e2b0d9f7a5c3e1b9d7f5a3c1e0b"
APP_SHA = hashlib.sha256(APP_KEY.encode()).hexdigest()
ADMIN_SHA = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()

# Every top-level key of a request as service_request_show() gives it.
REQUEST_KEYS = {"id", "kind", "scope", "source", "policy", "state", "received_at", "due_at",
                "grace_until", "expires_at", "completed_at", "reason", "status_url", "events",
                "mail",
                "result"}
OPEN = ("received", "awaiting_verification", "awaiting_review", "scheduled")

# Requests of the app and of the operator wait for an operator's review; the app's
# must be verified first unless the app says it did.
POLICIES = """requests:
  policies:
    - name: app-closure
      kind: erasure
      scope: account
      sources: [app]
      verify: true
      review: true
      grace: 7d
      deadline: 30d
    - name: operator-closure
      kind: erasure
      scope: account
      sources: [operator]
      review: true
      deadline: 30d
"""


def api_section(app=True, admin=True):
    text = "api:\n"
    text += "  keys:\n    - {name: e2e, sha256: %s}\n" % APP_SHA if app else "  keys: []\n"
    if admin:
        text += "  admin_keys:\n    - {name: ops, sha256: %s}\n" % ADMIN_SHA
    return text


def configure(demo, app=True, admin=True, policies=POLICIES):
    """The demo's lethe.yaml with its api: section replaced and the test policies."""
    text = without_section(demo.config_without("api"), "requests")
    text = text.rstrip("\n") + "\n" + api_section(app, admin) + (policies or "")
    demo.config.write_text(text)


def call(server, method, path, key=APP_KEY, body=None, headers=None, raw=None):
    """(status, headers, parsed JSON or None); @body is JSON-encoded, @raw sent as is."""
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                         else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    status, hdrs, out = server.request(method, path, body=data, headers=h)
    try:
        parsed = json.loads(out) if out else None
    except ValueError:
        parsed = None
    return status, hdrs, parsed


def create_body(user=1, verified=True, **extra):
    body = {"kind": "erasure", "scope": "account",
            "identities": {"email": "user%d@example.com" % user}, "verified": verified}
    body.update(extra)
    return body


def assert_error(status, hdrs, body, want_status, want_code=None):
    assert status == want_status, (status, body)
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    if want_code is not None:
        assert body["error"]["code"] == want_code, body
    return body["error"]


def cli_json(demo, *args):
    """`lethe requests ARGS -c CONFIG --json`: (exit code, parsed stdout or None, stderr)."""
    code, out, err = run_lethe("requests", *args, "-c", demo.config, "--json")
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = None
    return code, parsed, err
