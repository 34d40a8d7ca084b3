# SPDX-License-Identifier: MIT
"""Helpers of the worked examples' tests (tests/e2e/test_example_*.py): one company's
examples/<company>/ run as `make run EXAMPLE=<company>` runs it, with the tests' fakes.

  Example(name, base)   a demo with examples/NAME/ laid over it by scripts/examples.py
                        (its schema.sql applied, its lethe.yaml, datamap.yaml and
                        templates/ in place), then only what a test must change: the
                        platforms pointed at a FakePlatform, mail.url at a real SMTP sink
                        (aiosmtpd), the mailbox's LMTP on a free loopback port, an app and
                        an admin API key; `lethe serve` started on the test clock.
                        .demo (lethe_e2e.Demo), .server, .fake, .sink, .clock, .config
                        (the example's lethe.yaml, parsed), .datamap (its datamap.yaml)
    .lmtp(raw)          deliver a mail through LMTP as an MTA does (asserts 250)
    .mail(name, person, **over)   a mail of tests/e2e/mail_corpus/ from demo user @person
                        to the example's first mailbox address
    .mails_to(addr) / .wait_mails(addr, n)   what the SMTP sink received
    .follow(msg)        open the one confirmation link of mail @msg and press its button
    .app(method, path, body) / .admin(...)   the app and operator APIs: (status, json)
    .callback(app, kind, user_id, path=None) a signed Meta callback: (status, json)
    .settled(channel_id)  the channel's state once its disconnect jobs are done or dead
    .wait_request(code, states)   poll the request (operator API) until in @states
    .cli(*args) / .cli_json(*args)           lethe on the example's config and clock
    .rows(sql, params) / .count(table, where, params)   the app database
    .user(uid)          a demo user (Person: uid, email, name, ig, fb, ig_id)
    .restart(stderr_name, extra_env)   serve again after a config change
  owned(ex, uid) / present(ex, table, ids) / ids(ex, sql) / channel(ex, cid) / codes(ex)
                        what the app database and lethe hold, for before/after checks
  example               module fixture: example(name) -> a started Example, one per name
                        per module, stopped at the module's end

Every wait is bounded and scaled by TSCALE under a sanitized build.
"""
import calendar
import json
import smtplib
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from disconnect_helpers import jobs_settled
from fake_platform import FakePlatform
from lethe_e2e import ROOT, Demo, lethe_path, query, without_section
from mailin_e2e_helpers import (CSRF_RE, LINK_RE, SAME, Person, Served, corpus, envelope,
                                person_values)
from request_helpers import ADMIN_KEY, ADMIN_SHA, Clock
from requests_helpers import APP_KEY, APP_SHA, call
from serve_helpers import FORM, SECRET_OF, TSCALE, Server, sign_py
from smtp_helpers import SmtpSink, free_port

sys.path.insert(0, str(ROOT / "scripts"))

import examples  # noqa: E402  scripts/examples.py, what `make run EXAMPLE=` uses

DEMO_USERS = 12
FINAL = ("completed", "completed_with_retention", "refused", "cancelled", "failed",
         "expired")
# The demo schema's tables a user's rows hang from, by the key they hang by (owned()).
BY_PROJECT = ["posts", "media", "preview_links", "contacts", "campaigns"]
BY_CHANNEL = ["messages", "comments", "analytics", "automation_rules",
              "webhook_subscriptions", "publishing_logs"]


class Example(Served):
    """examples/@name/ over a fresh demo in @base, served on the test clock."""

    def __init__(self, name, base, users=DEMO_USERS):
        self.name = name
        self.base = Path(base)
        self.fake = FakePlatform().__enter__()
        self.sink = SmtpSink().__enter__()
        self.clock = Clock(self.base / "now")
        self.server = None
        cfg = examples.install(name, self.base / name, lethe_path(), users=users,
                               say=lambda _line: None)
        self.demo = Demo(cfg.parent)
        self.config = yaml.safe_load(cfg.read_text())
        self.datamap = yaml.safe_load((cfg.parent / "datamap.yaml").read_text())
        self.addresses = (self.config.get("mailbox") or {}).get("addresses") or []
        text = cfg.read_text()
        text = without_section(text, "platforms") + self.fake.platforms_yaml(timeout_ms=2000)
        text = text.replace("smtp://127.0.0.1:8025", "smtp://127.0.0.1:%d" % self.sink.port)
        self.lmtp_port = free_port()
        text = text.replace("lmtp: 127.0.0.1:2424", "lmtp: 127.0.0.1:%d" % self.lmtp_port)
        text = without_section(text, "api")
        text += ("api:\n  keys:\n    - {name: app, sha256: %s}\n  admin_keys:\n"
                 "    - {name: ops, sha256: %s}\n" % (APP_SHA, ADMIN_SHA))
        cfg.write_text(text)
        self.start()

    # -- life cycle --

    def start(self):
        env = dict(self.fake.env())
        env.update(self.clock.env())
        self.server = Server(self.demo.config, self.base / "serve.stderr", env=env)
        if "mailbox" in self.config and "lmtp" in self.config["mailbox"]:
            self.wait_lmtp()

    def restart(self, stderr_name, extra_env):
        """Serve again (after the test changed the config) with @extra_env added, logging to
        @stderr_name in the base; returns the environment it runs with."""
        self.server.kill()
        env = dict(self.fake.env())
        env.update(self.clock.env())
        env.update(extra_env)
        self.server = Server(self.demo.config, self.base / stderr_name, env=env)
        self.wait_lmtp()
        return env

    def close(self):
        """Stop lethe as an operator does (SIGTERM: it must exit 0, and a sanitized build
        must have reported nothing), then the fakes."""
        try:
            if self.server is not None and self.server.proc.poll() is None:
                rc = self.server.stop()
                assert rc == 0, "lethe serve exited %s:\n%s" % (rc, self.server.stderr())
        finally:
            if self.server is not None:
                self.server.kill()
            self.sink.__exit__(None, None, None)
            self.fake.__exit__(None, None, None)

    # -- people and rows --

    def user(self, uid):
        """Demo user @uid with their first Instagram and Facebook channel's names."""
        r = query(self.demo.db, "SELECT u.id, u.email, u.name, "
                  "(SELECT c.username FROM channels c JOIN projects p ON p.id = c.project_id"
                  " WHERE p.user_id = u.id AND c.platform = 'instagram' ORDER BY c.id),"
                  "(SELECT c.username FROM channels c JOIN projects p ON p.id = c.project_id"
                  " WHERE p.user_id = u.id AND c.platform = 'facebook' ORDER BY c.id),"
                  "(SELECT c.platform_user_id FROM channels c JOIN projects p ON "
                  " p.id = c.project_id WHERE p.user_id = u.id AND c.platform = 'instagram'"
                  " ORDER BY c.id) FROM users u WHERE u.id = ?", (uid,))
        assert r, "no demo user %d" % uid
        return Person(*r[0])

    def rows(self, sql, params=()):
        return query(self.demo.db, sql, params)

    def count(self, table, where="1", params=()):
        return self.rows('SELECT count(*) FROM "%s" WHERE %s' % (table, where), params)[0][0]

    def channels_of(self, uid, platform=None):
        """[(id, platform, platform_user_id, status, access_token)] of user @uid's channels."""
        sql = ("SELECT c.id, c.platform, c.platform_user_id, c.status, c.access_token FROM "
               "channels c JOIN projects p ON p.id = c.project_id WHERE p.user_id = ?")
        params = [uid]
        if platform:
            sql += " AND c.platform = ?"
            params.append(platform)
        return self.rows(sql + " ORDER BY c.id", params)

    def media_of(self, uid):
        """The storage keys of user @uid's media rows."""
        return [r[0] for r in self.rows(
            "SELECT m.storage_key FROM media m JOIN projects p ON p.id = m.project_id "
            "WHERE p.user_id = ? ORDER BY m.id", (uid,))]

    # -- mail --

    def mail(self, name, person, **over):
        """Corpus mail @name from @person's registered address to the mailbox."""
        v = person_values(person, to=self.addresses[0])
        v.update(over)
        return corpus(name, **v)

    def lmtp(self, raw, timeout=30):
        env_from, body = envelope(raw)
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=timeout * TSCALE) as c:
            c.ehlo()
            code, text = c.mail(env_from or "")
            assert code == 250, (code, text)
            code, text = c.rcpt(self.addresses[0])
            assert code == 250, (code, text)
            code, text = c.data(body)
            assert code == 250, (code, text, self.server.stderr())

    def mails_to(self, addr):
        return [m for m in self.sink.messages if addr.lower() in [r.lower() for r in m.rcpt]]

    def wait_mails(self, addr, n, timeout=15):
        """Exactly @n mails to @addr within @timeout (none more after a short pause)."""
        self.wait(lambda: len(self.mails_to(addr)) >= n, "%d mails to %s" % (n, addr), timeout)
        time.sleep(0.3)
        got = self.mails_to(addr)
        assert len(got) == n, [(m.rcpt, m.subject) for m in got]
        return got

    def follow(self, msg):
        """Open the one /privacy/l/ link of mail @msg and press its button."""
        tokens = LINK_RE.findall(msg.text)
        assert len(set(tokens)) == 1, msg.text
        path = "/privacy/l/" + tokens[0]
        status, _, page = self.server.request("GET", path)
        assert status == 200, (status, page)
        m = CSRF_RE.search(page.decode())
        assert m, page
        h = {"Content-Type": FORM}
        h.update(SAME)
        status, _, page = self.server.request("POST", path, headers=h,
                                              body=urlencode({"csrf": m.group(1)}).encode())
        assert status == 200, (status, page)
        return page.decode()

    # -- HTTP --

    def app(self, method, path, body=None):
        status, _, data = call(self.server, method, path, key=APP_KEY, body=body)
        return status, data

    def admin(self, method, path, body=None):
        status, _, data = call(self.server, method, path, key=ADMIN_KEY, body=body)
        return status, data

    def callback(self, app, kind, user_id, path=None):
        """Meta's @kind ("data-deletion" or "deauthorize") callback for @app's @user_id,
        signed with the test secret, at @path (default /api/meta/APP/KIND)."""
        sr = sign_py(SECRET_OF[app], user_id=user_id, issued_at=self.clock.now)
        status, _, data = self.server.post(path or "/api/meta/%s/%s" % (app, kind),
                                           ("signed_request=" + sr).encode())
        return status, (json.loads(data) if data else None)

    def settled(self, cid, timeout=20):
        """Channel @cid's state (app API) once none of its jobs is pending or running."""
        last = {}

        def done():
            status, last["s"] = self.app("GET", "/v1/channels/%d" % cid)
            assert status == 200, (status, last["s"])
            return jobs_settled(last["s"])

        self.wait(done, "channel %d's jobs settled (last %s)" % (cid, last.get("s")), timeout)
        return last["s"]

    def request(self, code):
        status, data = self.admin("GET", "/v1/admin/requests/" + code)
        assert status == 200, (status, data)
        return data

    def wait_request(self, code, states, timeout=20):
        """Poll request @code until its state is one of @states; returns it."""
        last = {}

        def reached():
            last["r"] = self.request(code)
            return last["r"]["state"] in states

        self.wait(reached, "request %s in %s (last %s)" % (code, states, last.get("r")),
                  timeout)
        return last["r"]

    def requests(self, **query_args):
        status, data = self.admin("GET", "/v1/admin/requests?" + urlencode(query_args))
        assert status == 200, (status, data)
        return data["requests"]


@pytest.fixture(scope="module")
def example(tmp_path_factory, lethe_bin):
    """example(name) -> a started Example (one per name per module)."""
    made = {}

    def get(name, **kw):
        if name not in made:
            made[name] = Example(name, tmp_path_factory.mktemp("example"), **kw)
        return made[name]

    yield get
    for e in made.values():
        e.close()


def ids(ex, sql, params=()):
    return [r[0] for r in ex.rows(sql, params)]


def owned(ex, uid):
    """{table: [ids]} of every row of demo user @uid."""
    out = {"users": ids(ex, "SELECT id FROM users WHERE id = ?", (uid,))}
    for t in ("projects", "request_logs", "invoices"):
        out[t] = ids(ex, "SELECT id FROM %s WHERE user_id = ? ORDER BY id" % t, (uid,))
    proj = ",".join(str(i) for i in out["projects"]) or "NULL"
    out["channels"] = ids(ex, "SELECT id FROM channels WHERE project_id IN (%s) ORDER BY id"
                          % proj)
    chans = ",".join(str(i) for i in out["channels"]) or "NULL"
    for t in BY_PROJECT:
        out[t] = ids(ex, "SELECT id FROM %s WHERE project_id IN (%s) ORDER BY id" % (t, proj))
    for t in BY_CHANNEL:
        out[t] = ids(ex, "SELECT id FROM %s WHERE channel_id IN (%s) ORDER BY id" % (t, chans))
    return out


def present(ex, table, wanted):
    """The ids of @wanted still in @table."""
    if not wanted:
        return []
    return ids(ex, "SELECT id FROM %s WHERE id IN (%s) ORDER BY id"
               % (table, ",".join(str(i) for i in wanted)))


def channel(ex, cid):
    r = ex.rows("SELECT status, access_token, refresh_token FROM channels WHERE id = ?", (cid,))
    return r[0] if r else None


def codes(ex):
    """The codes of every request lethe holds."""
    return {r["id"] for r in ex.requests(limit=1000)}


def states(req):
    """The states of request @req's history, in order."""
    return [e["state"] for e in req["events"]]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def epoch(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
