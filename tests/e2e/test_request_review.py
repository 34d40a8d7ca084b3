# SPDX-License-Identifier: MIT
"""Privacy requests: what a review of the request model found, each as a regression test.

- the app's key acts (verify, cancel) only on requests the app made;
- `lethe requests list --due-within` lists what is still owed, never finished requests;
- a completed request keeps neither its identities nor its notification address;
- a failed request's due date may be extended, and a retry clears its completion time;
- a repeat of a failed request is that request (it is still owed), not a second one.

The real `lethe serve` on the demo, the test clock, the app and operator APIs and the CLI.
"""
import json

from fake_platform import fake_platform  # noqa: F401
from request_helpers import (
    DAY,
    FINAL,
    Clock,
    admin_act,
    app_act,
    cli,
    configure_requests,
    create,
    policy,
    show,
    start,
    users,
    wait_state,
)
from serve_helpers import servers  # noqa: F401


def test_app_key_acts_only_on_the_apps_requests(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("review", review=True, deadline="30d")])
    srv = start(servers, demo, fake_platform, clock)
    (_, email), = users(demo, 1)
    # An operator's request, awaiting review.
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "email=" + email,
                       "--json")
    assert rc == 0, err
    code = json.loads(out)["id"]
    for action in ("cancel", "verify"):
        st, doc = app_act(srv, code, action)
        assert st == 404 and doc["error"]["code"] == "not_found", (action, st, doc)
    assert show(demo, clock, code)["state"] == "awaiting_review"
    # The operator may.
    st, doc = admin_act(srv, code, "cancel", {"reason": "asked by phone to stop"})
    assert st == 200 and doc["state"] == "cancelled", doc


def test_due_within_lists_only_what_is_owed(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    srv = start(servers, demo, fake_platform, clock)
    (_, e1), (_, e2) = users(demo, 2)
    st, done = create(srv, {"email": e1})
    assert st == 201, done
    wait_state(srv, done["id"], FINAL)
    # One owed: held in review by a policy of the operator's source.
    configure_requests(demo, fake_platform, [policy("review", review=True, deadline="2d")])
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "email=" + e2,
                       "--json")
    assert rc == 0, err
    owed = json.loads(out)["id"]
    clock.advance(3 * DAY)  # both past their due date
    rc, out, err = cli(demo, clock, "list", "--due-within", "48h", "--json")
    assert rc == 0, err
    listed = [r["id"] for r in json.loads(out)["requests"]]
    assert listed == [owed], listed


def test_completed_request_keeps_no_identity_or_address(demo, fake_platform, servers,
                                                        tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    srv = start(servers, demo, fake_platform, clock)
    (_, email), = users(demo, 1)
    rc, out, err = cli(demo, clock, "create", "--scope", "account", "--id", "email=" + email,
                       "--notify", email, "--json")
    assert rc == 0, err
    code = json.loads(out)["id"]
    assert demo.state("SELECT notify_box IS NOT NULL FROM requests WHERE code = ?",
                      (code,)) == [(1,)]
    wait_state(srv, code, FINAL)
    assert demo.state("SELECT length(identity_box), notify_box IS NULL FROM requests "
                      "WHERE code = ?", (code,)) == [(0, 1)]


def test_failed_request_extend_retry_and_repeat(demo, fake_platform, servers, tmp_path):
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy("now", deadline="2d")])
    # Every erasure of a user fails: the trigger refuses their deletion.
    import sqlite3
    con = sqlite3.connect(str(demo.db))
    con.execute("CREATE TRIGGER no_delete BEFORE DELETE ON users BEGIN "
                "SELECT RAISE(ABORT, 'refused by the test'); END")
    con.commit()
    con.close()
    srv = start(servers, demo, fake_platform, clock)
    (_, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    failed = wait_state(srv, req["id"], ("failed",), timeout=60)
    assert failed["completed_at"] is not None
    # A repeat of a failed request is that request: it is still owed.
    st, again = create(srv, {"email": email})
    assert st == 200 and again["id"] == req["id"], again
    # Its due date may move (it is overdue once past it).
    due = failed["due_at"]
    st, ext = admin_act(srv, req["id"], "extend",
                        {"due_at": "2099-01-01T00:00:00Z", "reason": "the disk is replaced"})
    assert st == 200 and ext["due_at"] == "2099-01-01T00:00:00Z" and ext["due_at"] != due, ext
    assert ext["state"] == "failed" and ext["reason"] != "the disk is replaced", ext
    # A retry: scheduled again, no completion time, no failure reason.
    con = sqlite3.connect(str(demo.db))
    con.execute("DROP TRIGGER no_delete")
    con.commit()
    con.close()
    st, retried = admin_act(srv, req["id"], "retry")
    assert st == 200, retried
    assert retried["state"] in ("scheduled", "running") or retried["state"] in FINAL, retried
    if retried["state"] in ("scheduled", "running"):
        assert retried["completed_at"] is None and retried["reason"] is None, retried
    done = wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=30)
    assert [e["state"] for e in done["events"]][-3:] == ["scheduled", "running",
                                                         done["state"]], done
