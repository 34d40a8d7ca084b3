# SPDX-License-Identifier: MIT
"""Helpers of the privacy-request state machine tests (tests/e2e/test_request_*.py).

  Clock(path)                 the test clock LETHE_TEST_NOW=file:PATH (starts at the real
                              time); .set(t), .advance(s), .now, .env()
  configure_requests(demo, fake, policies, ...)
                              the demo's lethe.yaml with the fake platform, an app key, an
                              admin key and a `requests:` section of @policies
  policy(name, **kw)          one policy for the demo's account scope (app and operator)
  start(servers, demo, fake, clock)   `lethe serve` on the test clock
  create / app_get / app_act / admin_act   the app and operator APIs: (status, json)
  cli(demo, clock, sub, ...)  `lethe requests SUB -c lethe.yaml ...` on the test clock
  show(demo, clock, code)     `lethe requests show --json`, parsed
  wait_state(srv, code, states)      poll GET /v1/requests/{id} (bounded)
  states_of(req)              the states of a request's history, in order
  user_status / person_rows / request_row   what the databases hold
  log_ref(demo, code)         a regex matching how the log names a request (its code, or
                              its number in the state store)

Every wait is bounded and scaled by TSCALE under a sanitized build.
"""
import hashlib
import json
import os
import re
import time

import pytest

from disconnect_helpers import api, configure, serve_env
from lethe_e2e import query, run_lethe
from serve_helpers import TSCALE

ADMIN_KEY = "lk_e2e_admin_7d3b91c4e0a25f68b1d9c3e7a4f0b2d6"
ADMIN_SHA = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
HOUR = 3600
DAY = 86400
FINAL = ("completed", "completed_with_retention", "refused", "cancelled", "failed", "expired")


class Clock:
    """The test clock: a file of epoch seconds that lethe re-reads at every time_now()."""

    def __init__(self, path, now=None):
        self.path = str(path)
        self.set(int(time.time()) if now is None else now)

    def set(self, t):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.path)  # never seen half-written
        self.now = t

    def advance(self, seconds):
        self.set(self.now + seconds)

    def env(self):
        return {"LETHE_TEST_NOW": "file:%s" % self.path}


def policy(name, **kw):
    """A policy for erasures of the demo's account scope from the app and the operator."""
    p = {"name": name, "kind": "erasure", "scope": "account", "sources": ["app", "operator"]}
    p.update(kw)
    return p


def configure_requests(demo, fake, policies, verify_ttl="7d", warn_before="3d"):
    """Point the demo at @fake with an app key and an admin key, and replace its `requests:`
    section with @policies (a list of dicts, written as YAML flow style)."""
    configure(demo, fake)
    text = demo.config.read_text()
    marker = "api:\n  keys:\n"
    assert marker in text
    text = text.replace(marker, "api:\n  admin_keys:\n    - {name: ops, sha256: %s}\n  keys:\n"
                        % ADMIN_SHA)
    section = {"verify_ttl": verify_ttl, "warn_before": warn_before, "policies": policies}
    text += "requests: %s\n" % json.dumps(section)
    demo.config.write_text(text)


def start(servers, demo, fake, clock):
    env = serve_env(fake)
    env.update(clock.env())
    return servers(demo, env=env)


# ---- the APIs ------------------------------------------------------------------------

def create(srv, identities, verified=None, scope="account"):
    """POST /v1/requests: (status, json)."""
    body = {"kind": "erasure", "scope": scope, "identities": identities}
    if verified is not None:
        body["verified"] = verified
    status, _, doc = api(srv, "POST", "/v1/requests", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    return status, doc


def app_get(srv, code):
    status, _, doc = api(srv, "GET", "/v1/requests/" + code)
    assert status == 200, (status, doc)
    return doc


def app_act(srv, code, action, body=None):
    """POST /v1/requests/{id}/{action}: (status, json)."""
    status, _, doc = api(srv, "POST", "/v1/requests/%s/%s" % (code, action),
                         body=json.dumps(body or {}).encode(),
                         headers={"Content-Type": "application/json"})
    return status, doc


def admin_act(srv, code, action, body=None):
    """POST /v1/admin/requests/{id}/{action}: (status, json)."""
    status, _, doc = api(srv, "POST", "/v1/admin/requests/%s/%s" % (code, action),
                         key=ADMIN_KEY, body=json.dumps(body or {}).encode(),
                         headers={"Content-Type": "application/json"})
    return status, doc


def admin_get(srv, path):
    status, _, doc = api(srv, "GET", path, key=ADMIN_KEY)
    assert status == 200, (status, doc)
    return doc


def cli(demo, clock, sub, *args, timeout=30):
    """`lethe requests SUB -c lethe.yaml ARGS` on the test clock: (code, stdout, stderr)."""
    return run_lethe("requests", sub, "-c", demo.config, *args, env=clock.env(),
                     timeout=timeout)


def show(demo, clock, code):
    rc, out, err = cli(demo, clock, "show", code, "--json")
    assert rc == 0, (rc, err)
    return json.loads(out)


def states_of(req):
    return [e["state"] for e in req["events"]]


def wait_state(srv, code, states, timeout=10):
    """Poll the app API until the request is in one of @states; returns it."""
    deadline = time.monotonic() + timeout * TSCALE
    last = None
    while time.monotonic() < deadline:
        last = app_get(srv, code)
        if last["state"] in states:
            return last
        time.sleep(0.05)
    pytest.fail("request %s not in %s after %ss: %r\n%s"
                % (code, states, timeout * TSCALE, last, srv.stderr()))


def wait_until(pred, what, timeout=10, srv=None):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail("not true after %ss: %s\n%s" % (timeout * TSCALE, what,
                                                srv.stderr() if srv else ""))


# ---- the databases ---------------------------------------------------------------------

def users(demo, n, with_channels=True):
    """(id, email) of @n demo users (those with a connected channel holding a token)."""
    sql = ("SELECT u.id, u.email FROM users u WHERE u.status = 'active'" +
           (" AND EXISTS (SELECT 1 FROM channels c JOIN projects p ON p.id = c.project_id "
            "WHERE p.user_id = u.id AND c.access_token IS NOT NULL)" if with_channels else "") +
           " ORDER BY u.id LIMIT ?")
    rows = query(demo.db, sql, (n,))
    assert len(rows) == n, "the demo has fewer than %d such users" % n
    return rows


def user_status(demo, uid):
    r = query(demo.db, "SELECT status FROM users WHERE id = ?", (uid,))
    return r[0][0] if r else None


def person_rows(demo, uid):
    """{table: rows} of the person's account: users, projects, channels, posts, invoices
    still linked to them."""
    q = {
        "users": "SELECT count(*) FROM users WHERE id = ?1",
        "projects": "SELECT count(*) FROM projects WHERE user_id = ?1",
        "channels": "SELECT count(*) FROM channels WHERE project_id IN "
                    "(SELECT id FROM projects WHERE user_id = ?1)",
        "posts": "SELECT count(*) FROM posts WHERE project_id IN "
                 "(SELECT id FROM projects WHERE user_id = ?1)",
        "invoices": "SELECT count(*) FROM invoices WHERE user_id = ?1",
    }
    return {t: query(demo.db, sql, (uid,))[0][0] for t, sql in q.items()}


def invoice_ids(demo, uid):
    return [r[0] for r in query(demo.db, "SELECT id FROM invoices WHERE user_id = ? "
                                         "ORDER BY id", (uid,))]


def live_tokens(demo, uid):
    """Channels of the person that still hold an access token."""
    return query(demo.db, "SELECT count(*) FROM channels WHERE access_token IS NOT NULL AND "
                          "project_id IN (SELECT id FROM projects WHERE user_id = ?)",
                 (uid,))[0][0]


def log_ref(demo, code):
    """A regex of the names the log may give request @code: the code or its row id."""
    r = demo.state("SELECT id FROM requests WHERE code = ?", (code,))
    assert r, "no request %s in the state store" % code
    return "(?:%s|%d)" % (re.escape(code), r[0][0])


def log_count(text, demo, code, what):
    """How many lines of @text say "request <code or id>@what" (@what a regex)."""
    return len(re.findall(r"request %s%s" % (log_ref(demo, code), what), text))


def request_row(demo, code):
    """(state, effects, length(identity_box)) of a request in the state store."""
    r = demo.state("SELECT state, effects, length(identity_box) FROM requests WHERE code = ?",
                   (code,))
    assert r, "no request %s in the state store" % code
    return r[0]



def assert_failed_on_store(srv, demo, clock, code, store, keys, what="erasure"):
    """Request @code failed on media store @store: its reason says so to operators (app API,
    admin API, `lethe requests show`), the person's status page does not show it, and no
    object key of @keys reaches any of them, the log or the audit chain."""
    want = "the %s failed 3 times in a row: " % what
    req = app_get(srv, code)
    reason = req["reason"]
    assert req["state"] == "failed" and reason.startswith(want), req
    assert "media store '%s'" % store in reason, reason
    assert reason.endswith("; retry the request"), reason
    assert "see the log" not in reason, reason
    assert admin_get(srv, "/v1/admin/requests/" + code)["reason"] == reason
    shown = show(demo, clock, code)
    assert shown["reason"] == reason, shown
    status, _, page = srv.get("/data-deletion/status?id=" + code)
    assert status == 200, (status, page)
    page = page.decode()
    assert "media store" not in page and "'%s'" % store not in page, page
    audit = "\n".join(str(r[0]) for r in demo.state("SELECT body FROM audit"))
    seen = json.dumps(req) + json.dumps(shown) + page + srv.stderr() + audit
    for k in keys:
        assert k not in seen, "an object key reached the request or the log: %s" % k
    return reason
