# SPDX-License-Identifier: MIT
"""Restriction requests (GDPR Art. 18 and 21) through the real `lethe serve` on the demo.

A restriction applies its policy's effects (the demo's restrict-processing:
users.processing_restricted = 1) and is completed: in force, its sealed identities kept,
until it is lifted (app API, operator API or `lethe requests lift`), which undoes the
effects and then wipes the identities.  Lifting anything but a restriction in force is
409 naming its state and kind, and changes nothing; a cancel during a grace period
undoes the effects; a restriction policy without effects is refused at start (its line),
and a restriction only the built-in default policy (no effects) would cover is refused
at creation (400, nothing stored); under a verify: true policy its verification link is
mailed (restriction wording) and confirms it, no other notice is; a SIGKILL between the effects and the completion is
finished exactly once by the restart.  The app database and the state store are read
with sqlite3; `lethe audit verify` checks the chain after each story.
"""
import json
import re
import sqlite3
import time

import pytest

from lethe_e2e import query, run_lethe
from requests_helpers import (ADMIN_KEY, api_section, assert_error, call, cli_json)
from serve_helpers import TSCALE, servers, stop_ok  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401
from lethe_e2e import without_section

RESTRICTION = ("    - {name: restriction, kind: restriction, scope: account, "
               "sources: [app, operator], effects: [restrict-processing]%s}\n")
# An erasure of the app runs at once (to lift a completed erasure); an operator's erasure
# and an app's export wait for review.
POLICIES = ("requests:\n  policies:\n" + RESTRICTION % "" +
            "    - {name: erase-now, kind: erasure, scope: account, sources: [app]}\n")
GRACE = ("requests:\n  policies:\n" + RESTRICTION % ", grace: 7d, deadline: 30d")


def configure(demo, policies=POLICIES):
    text = without_section(demo.config_without("api"), "requests")
    demo.config.write_text(text.rstrip("\n") + "\n" + api_section() + policies)


def wait_for(pred, what, srv=None, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for %s\n%s" % (what, srv.stderr() if srv else ""))


def people(demo, n):
    """(id, email) of @n active demo users, none restricted yet."""
    rows = query(demo.db, "SELECT id, email FROM users WHERE status = 'active' AND "
                          "processing_restricted = 0 ORDER BY id LIMIT ?", (n,))
    assert len(rows) == n
    return rows


def restricted(demo):
    """{user id: processing_restricted} of every user whose flag is set."""
    return dict(query(demo.db, "SELECT id, processing_restricted FROM users "
                               "WHERE processing_restricted <> 0"))


def body_of(email, kind="restriction", **extra):
    body = {"kind": kind, "scope": "account", "identities": {"email": email},
            "verified": True}
    body.update(extra)
    return body


def create(s, email, kind="restriction", want=201, **extra):
    status, hdrs, out = call(s, "POST", "/v1/requests", body=body_of(email, kind, **extra))
    assert status == want, out
    return out


def get(s, code):
    status, hdrs, out = call(s, "GET", "/v1/requests/" + code)
    assert status == 200, out
    return out


def wait_state(s, code, states):
    return wait_for(lambda: (lambda r: r if r["state"] in states else None)(get(s, code)),
                    "request in %s" % (states,), srv=s)


def row(demo, code):
    """(state, effects, length(identity_box)) of a request in the state store."""
    r = demo.state("SELECT state, effects, length(identity_box) FROM requests "
                   "WHERE code = ?", (code,))
    assert r, code
    return r[0]


def events(demo, code):
    return [e[0] for e in demo.state(
        "SELECT e.state FROM request_events e JOIN requests r ON r.id = e.request_id "
        "WHERE r.code = ? ORDER BY e.rowid", (code,))]


def audit_ok(demo):
    code, out, err = run_lethe("audit", "verify", "-c", demo.config)
    assert code == 0, (out, err)


def snapshot_state(demo):
    """What a refused action must not change: every request row, event and audit entry."""
    return (demo.state("SELECT * FROM requests ORDER BY id"),
            demo.state("SELECT * FROM request_events ORDER BY rowid"),
            demo.state("SELECT count(*) FROM audit"))


@pytest.fixture
def srv(demo, servers):
    configure(demo)
    s = servers(demo)
    yield demo, s
    stop_ok(s)


# ---- in force, then lifted -------------------------------------------------------------

@pytest.mark.parametrize("via", ["app", "admin", "cli"])
def test_restriction_applies_then_lift_undoes_and_wipes(srv, via):
    demo, s = srv
    (uid, email), (other, _) = people(demo, 2)
    before = query(demo.db, "SELECT * FROM users ORDER BY id")
    # With an address to tell: the notices speak of an erasure, so none is queued.
    req = create(s, email, notify="restricted.person@example.org")
    assert req["kind"] == "restriction" and req["policy"] == "restriction", req
    code = req["id"]
    done = wait_state(s, code, ("completed", "failed"))
    assert done["state"] == "completed", (done, s.stderr())
    # Exactly that user is restricted; every other column of every user unchanged.
    assert restricted(demo) == {uid: 1}
    after = query(demo.db, "SELECT * FROM users ORDER BY id")
    cols = [c[1] for c in query(demo.db, "PRAGMA table_info(users)")]
    flag = cols.index("processing_restricted")
    assert [r[:flag] + r[flag + 1:] for r in after] == \
        [r[:flag] + r[flag + 1:] for r in before]
    # In force: history recorded, effects applied, identities kept sealed.
    assert events(demo, code) == ["scheduled", "running", "completed"]
    state, effects, box = row(demo, code)
    assert (state, effects) == ("completed", 2) and box > 0
    assert done["completed_at"] is not None
    # A repeat while it is in force is that restriction (200), not a second one.
    again = create(s, email, want=200)
    assert again["id"] == code
    audit_ok(demo)
    # The status page says so, and the receipt is signed.
    st = s.status_json(code)
    assert st["state"] == "completed" and st["kind"] == "restriction"
    status, hdrs, page = s.get("/data-deletion/status?id=" + code)
    assert status == 200
    page = page.decode()
    assert "In force since" in page and "restrict processing" in page
    assert "We have deleted" not in page and "erased" not in page

    # Lift it.
    if via == "app":
        status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % code,
                                 body={"reason": "the accuracy check is done"})
        assert status == 200, out
    elif via == "admin":
        status, hdrs, out = call(s, "POST", "/v1/admin/requests/%s/lift" % code,
                                 key=ADMIN_KEY, body={})
        assert status == 200, out
    else:
        rc, out, err = cli_json(demo, "lift", code, "--reason", "objection upheld")
        assert rc == 0, err
    assert out["state"] == "lifted", out
    wait_for(lambda: restricted(demo) == {}, "the effects undone", srv=s)
    wait_for(lambda: row(demo, code)[2] == 0, "the identities wiped", srv=s)
    assert row(demo, code) == ("lifted", 0, 0)
    assert demo.state("SELECT notify_box IS NULL FROM requests WHERE code = ?",
                      (code,)) == [(1,)]
    assert events(demo, code) == ["scheduled", "running", "completed", "lifted"]
    assert other not in restricted(demo)
    assert query(demo.db, "SELECT * FROM users ORDER BY id") == before
    audit_ok(demo)
    # Lifted: the page says so; a second lift is a 409 naming the state.
    status, hdrs, page = s.get("/data-deletion/status?id=" + code)
    assert "Lifted on" in page.decode()
    snap = snapshot_state(demo)
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % code, body={})
    err = assert_error(status, hdrs, out, 409)
    assert "lifted" in err["message"] and "restriction" in err["message"], err
    assert snapshot_state(demo) == snap
    assert demo.state("SELECT count(*) FROM mail") == [(0,)]
    # /metrics counts it lifted, and its duration in the restriction histogram.
    status, hdrs, metrics = s.get("/metrics")
    metrics = metrics.decode()
    assert 'lethe_requests{state="lifted"} 1' in metrics
    m = re.search(r'lethe_request_duration_seconds_count\{kind="restriction"\} (\d+)', metrics)
    assert m and int(m.group(1)) == 1, metrics
    # The receipt of a lifted restriction says what happened (no erasure).
    rc, out, err = run_lethe("receipt", "show", code, "-c", demo.config)
    assert rc == 0, (out, err)
    rec = json.loads(out)["receipt"]
    assert rec["request"]["kind"] == "restriction" and rec["request"]["state"] == "lifted"
    assert "nothing was erased" in rec["reason"] and rec["counts"]["tables"] == []
    assert email not in s.stderr()


def test_lift_refused_for_erasure_and_unknown(srv):
    demo, s = srv
    (uid, email), = people(demo, 1)
    er = create(s, email, kind="erasure")
    done = wait_state(s, er["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] in ("completed", "completed_with_retention"), done
    snap = snapshot_state(demo)
    for path, key in (("/v1/requests/%s/lift", None), ("/v1/admin/requests/%s/lift", ADMIN_KEY)):
        kw = {"key": key} if key else {}
        status, hdrs, out = call(s, "POST", path % er["id"], body={}, **kw)
        err = assert_error(status, hdrs, out, 409)
        assert "erasure" in err["message"] and done["state"] in err["message"], err
    rc, out, err = cli_json(demo, "lift", er["id"])
    assert rc == 1 and "erasure" in out["error"]["message"], (rc, out, err)
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % ("a" * 34), body={})
    assert_error(status, hdrs, out, 404)
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % er["id"],
                             body={"why": "x"})
    assert_error(status, hdrs, out, 400)
    assert snapshot_state(demo) == snap
    audit_ok(demo)


def test_lift_help_and_usage(demo):
    code, out, err = run_lethe("requests", "lift", "--help")
    assert code == 0 and "usage: lethe requests lift -c CONFIG CODE" in out
    code, out, err = run_lethe("requests", "--help")
    assert "lift    -c CONFIG CODE [--reason TEXT]" in out
    # The command list names it too (and the archive command).
    code, out, err = run_lethe("help")
    assert code == 0 and "\n  export " in out, out
    requests_line = out.split("\n  requests", 1)[1].split("\n  audit", 1)[0]
    assert "lift" in requests_line, out


def test_restriction_sends_no_erasure_mail(demo, servers, smtp_sink):
    """With mail on, an erasure's person hears of it; a restriction's does not (every
    notice tells of a deletion), neither by the address on file nor by one given."""
    configure(demo)
    demo.config.write_text(
        demo.config.read_text() + "mail:\n  url: smtp://127.0.0.1:%d\n"
        "  from: privacy@demo-social.example\n  starttls: off\n" % smtp_sink.port)
    s = servers(demo)
    (uid, email), (uid2, other) = people(demo, 2)
    code = create(s, email)["id"]
    code2 = create(s, other, notify="given.address@example.org")["id"]
    for c in (code, code2):
        assert wait_state(s, c, ("completed", "failed"))["state"] == "completed"
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % code, body={})
    assert status == 200 and out["state"] == "lifted", out
    wait_for(lambda: restricted(demo) == {uid2: 1}, "the first lifted, the second in force",
             srv=s)
    wait_for(lambda: row(demo, code) == ("lifted", 0, 0), "the first wiped", srv=s)
    # The sentinel: an erasure of a third person is mailed (mail works) ...
    (_, third), = query(demo.db, "SELECT id, email FROM users WHERE status = 'active' AND "
                                 "processing_restricted = 0 AND email NOT IN (?, ?) "
                                 "ORDER BY id LIMIT 1", (email, other))
    er = create(s, third, kind="erasure")["id"]
    wait_state(s, er, ("completed", "completed_with_retention"))
    smtp_sink.wait_for(1)
    time.sleep(0.5 * TSCALE)
    # ... and it is the only mail: none of a restriction was queued or sent.
    assert smtp_sink.messages and \
        all(m.rcpt == [third] for m in smtp_sink.messages), smtp_sink.messages
    assert demo.state("SELECT count(*) FROM mail m JOIN requests r ON r.id = m.request_id "
                      "WHERE r.kind = 'restriction'") == [(0,)]
    stop_ok(s)


VERIFY = ("requests:\n  policies:\n" + RESTRICTION % ", verify: true")
SAME = {"Content-Type": "application/x-www-form-urlencoded",
        "Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}


def test_restriction_verify_mails_its_link(demo, servers, smtp_sink):
    """Under a restriction policy with verify: true, a request the app did not vouch for
    gets its verification mail (worded for a restriction: no deletion or erasure), and
    its link confirms it: the restriction then applies.  No other notice is mailed."""
    configure(demo, VERIFY)
    demo.config.write_text(
        demo.config.read_text() + "mail:\n  url: smtp://127.0.0.1:%d\n"
        "  from: privacy@demo-social.example\n  starttls: off\n" % smtp_sink.port)
    s = servers(demo)
    (uid, email), = people(demo, 1)
    code = create(s, email, verified=False)["id"]
    assert get(s, code)["state"] == "awaiting_verification"
    msg, = smtp_sink.wait_for(1, timeout=15 * TSCALE)
    assert msg.rcpt == [email]
    assert "confirm" in msg.subject.lower(), msg.subject
    for body in (msg.text, msg.html):
        assert "restrict the processing of your data" in body, body
        low = re.sub(r"https?://\S+", "", body.lower())  # the status URL's data-deletion
        assert not any(w in low for w in ("delet", "eras")), body
    links = [u for u in msg.links if "/privacy/l/" in u]
    assert len(links) == 1, msg.text
    path = "/privacy/l/" + links[0].rsplit("/", 1)[1]
    status, _, page = s.request("GET", path)
    assert status == 200, page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.decode()).group(1)
    status, _, done = s.request("POST", path, body=("csrf=" + csrf).encode(), headers=SAME)
    assert status == 200 and b"is confirmed" in done, done
    assert b"email you" not in done, done  # no news follows for a restriction
    assert wait_state(s, code, ("completed", "failed"))["state"] == "completed"
    wait_for(lambda: restricted(demo) == {uid: 1}, "the restriction in force", srv=s)
    time.sleep(0.5 * TSCALE)
    assert len(smtp_sink.messages) == 1, [m.subject for m in smtp_sink.messages]
    assert demo.state("SELECT m.notice FROM mail m JOIN requests r ON r.id = m.request_id "
                      "WHERE r.code = ?", (code,)) == [("awaiting_verification",)]
    audit_ok(demo)
    stop_ok(s)


# ---- objection: a second effect, chosen by its scope ------------------------------------

OBJECTION_SCOPE = """  marketing:
    description: "The person's marketing preferences (an objection, GDPR Art. 21(2))"
    identities: [email, user_id]
    tables: [users]
"""
OBJECTION_EFFECT = """  object-marketing:
    description: "No more direct marketing to the person (GDPR Art. 21(2)) until lifted"
    tables:
      users:
        set: {marketing_opt_out: 1}
        undo: {marketing_opt_out: 0}
"""


def test_objection_is_a_second_effect(demo, servers):
    """The README's objection: a column of the app, an effect, a scope and a policy of
    kind restriction; a restriction of that scope sets only that column, lifted as any."""
    con = sqlite3.connect(str(demo.db))
    con.execute("ALTER TABLE users ADD COLUMN marketing_opt_out INTEGER NOT NULL DEFAULT 0")
    con.commit()
    con.close()
    dm = demo.datamap.read_text()
    dm = dm.replace("\neffects:\n", "\neffects:\n" + OBJECTION_EFFECT, 1)
    dm = dm.replace("scopes:\n", "scopes:\n" + OBJECTION_SCOPE, 1)
    demo.datamap.write_text(dm)
    configure(demo, POLICIES + "    - {name: objection, kind: restriction, scope: marketing, "
                               "sources: [app, operator], effects: [object-marketing]}\n")
    s = servers(demo)
    (uid, email), = people(demo, 1)
    status, hdrs, req = call(s, "POST", "/v1/requests", body={
        "kind": "restriction", "scope": "marketing", "identities": {"email": email},
        "verified": True})
    assert status == 201 and req["policy"] == "objection", req
    assert wait_state(s, req["id"], ("completed", "failed"))["state"] == "completed"
    assert query(demo.db, "SELECT id FROM users WHERE marketing_opt_out = 1") == [(uid,)]
    assert restricted(demo) == {}  # the other effect is not this policy's
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % req["id"], body={})
    assert status == 200 and out["state"] == "lifted", out
    wait_for(lambda: query(demo.db, "SELECT count(*) FROM users WHERE marketing_opt_out = 1")
             == [(0,)], "the objection lifted", srv=s)
    audit_ok(demo)
    stop_ok(s)


# ---- grace: scheduled, then cancelled ------------------------------------------------

def test_scheduled_restriction_not_liftable_cancel_undoes(demo, servers):
    configure(demo, GRACE)
    s = servers(demo)
    (uid, email), = people(demo, 1)
    req = create(s, email)
    code = req["id"]
    assert req["state"] == "scheduled", req
    # Its effects apply at acceptance; it stays scheduled through the grace period.
    wait_for(lambda: restricted(demo) == {uid: 1}, "the effects applied", srv=s)
    wait_for(lambda: row(demo, code)[1] == 2, "the effects recorded", srv=s)
    snap = snapshot_state(demo)
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/lift" % code, body={})
    err = assert_error(status, hdrs, out, 409)
    assert "scheduled" in err["message"] and "restriction" in err["message"], err
    assert snapshot_state(demo) == snap and restricted(demo) == {uid: 1}
    status, hdrs, out = call(s, "POST", "/v1/requests/%s/cancel" % code, body={})
    assert status == 200 and out["state"] == "cancelled", out
    wait_for(lambda: restricted(demo) == {}, "the effects undone", srv=s)
    wait_for(lambda: row(demo, code) == ("cancelled", 0, 0), "the identities wiped", srv=s)
    audit_ok(demo)
    stop_ok(s)


# ---- configuration -----------------------------------------------------------------

def test_restriction_policy_without_effects_refused_at_start(demo):
    configure(demo, "requests:\n  policies:\n"
                    "    - {name: restrict-nothing, kind: restriction, scope: account}\n")
    line = [i for i, l in enumerate(demo.config.read_text().splitlines(), 1)
            if "restrict-nothing" in l][0]
    code, out, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                               timeout=30)
    assert code == 3 and "serving" not in out, (code, out, err)
    assert re.search(r"lethe\.yaml:%d: a restriction policy needs effects: policy "
                     r"'restrict-nothing' names none" % line, err), err
    code, out, err = run_lethe("requests", "list", "-c", demo.config)
    assert code == 3 and "a restriction policy needs effects" in err, (code, out, err)


def test_restriction_without_a_policy_refused_at_creation(demo, servers):
    configure(demo, "requests:\n  policies:\n"
                    "    - {name: erase-now, kind: erasure, scope: account, sources: [app]}\n")
    s = servers(demo)
    (uid, email), = people(demo, 1)
    before = demo.state("SELECT count(*) FROM requests")
    status, hdrs, out = call(s, "POST", "/v1/requests", body=body_of(email))
    err = assert_error(status, hdrs, out, 400)
    assert "no restriction policy" in err["message"], err
    assert email not in err["message"]
    assert demo.state("SELECT count(*) FROM requests") == before
    rc, out, err = cli_json(demo, "create", "--kind", "restriction", "--scope", "account",
                            "--id", "email=" + email)
    assert rc == 2 and "no restriction policy" in out["error"]["message"], (rc, out, err)
    assert demo.state("SELECT count(*) FROM requests") == before
    assert restricted(demo) == {}
    stop_ok(s)


# ---- crash between the effects and the completion ------------------------------------

HOLD = ("CREATE TRIGGER hold_completion BEFORE UPDATE OF state ON requests "
        "WHEN NEW.state = 'completed' AND OLD.kind = 'restriction' "
        "BEGIN SELECT RAISE(ABORT, 'held by the test'); END")


def test_kill_between_effects_and_completion_completes_once(demo, servers):
    """A trigger holds the completion (the runner's transition fails, after the effects
    were applied and recorded); SIGKILL then; without the trigger the restart completes
    the running restriction exactly once."""
    configure(demo)
    s = servers(demo)
    (uid, email), = people(demo, 1)
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    con.execute(HOLD)
    con.commit()
    con.close()
    code = create(s, email)["id"]
    wait_for(lambda: row(demo, code)[:2] == ("running", 2), "the effects applied, running",
             srv=s)
    wait_for(lambda: "held by the test" in s.stderr(), "a completion refused", srv=s)
    s.stop(__import__("signal").SIGKILL)
    assert row(demo, code)[:2] == ("running", 2)
    assert restricted(demo) == {uid: 1}
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    con.execute("DROP TRIGGER hold_completion")
    con.commit()
    con.close()
    s2 = servers(demo)
    wait_state(s2, code, ("completed",))
    assert events(demo, code) == ["scheduled", "running", "completed"]
    assert restricted(demo) == {uid: 1}
    state, effects, box = row(demo, code)
    assert (state, effects) == ("completed", 2) and box > 0
    assert len(re.findall(r"restriction in force", s.stderr() + s2.stderr())) == 1
    audit_ok(demo)
    stop_ok(s2)


def test_erasure_of_the_person_lifts_their_restriction(srv):
    # A restriction in force, then the person's account erased: the restriction is
    # lifted with it (effects undone on what is left, identities wiped), the history and
    # the audit chain say so; another person's restriction stays in force.
    demo, s = srv
    (uid, email), (other_uid, other_email) = people(demo, 2)
    res = create(s, email)
    other = create(s, other_email)
    for code in (res["id"], other["id"]):
        assert wait_state(s, code, ("completed", "failed"))["state"] == "completed"
    assert row(demo, res["id"])[2] > 0
    er = create(s, email, kind="erasure")
    done = wait_state(s, er["id"], ("completed", "completed_with_retention", "failed"))
    assert done["state"] in ("completed", "completed_with_retention"), done
    assert get(s, res["id"])["state"] == "lifted"
    wait_for(lambda: row(demo, res["id"])[2] == 0, "the identities wiped", srv=s)
    assert row(demo, res["id"]) == ("lifted", 0, 0)
    assert events(demo, res["id"]) == ["scheduled", "running", "completed", "lifted"]
    assert demo.state("SELECT e.reason FROM request_events e JOIN requests r ON "
                      "r.id = e.request_id WHERE r.code = ? AND e.state = 'lifted'",
                      (res["id"],)) == [("the person's account was erased",)]
    # The other person's restriction is untouched.
    assert row(demo, other["id"])[:2] == ("completed", 2)
    assert restricted(demo) == {other_uid: 1}
    assert "restrictions lifted with their account" in s.stderr()
    assert email not in s.stderr()
    audit_ok(demo)
