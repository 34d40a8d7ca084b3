# SPDX-License-Identifier: MIT
"""Races of two changes to one privacy request: exactly one wins (docs/requests.md).

Every transition is one conditional update of the state store.  Here the real
`lethe serve` on the demo, on the test clock LETHE_TEST_NOW=file:PATH, gets changes
sent at the very moment the runner makes another: a cancel as the grace period ends,
a verification as the link expires.  For each request exactly one wins, and the
API's answer, the history, app.db and the status page's JSON agree on which.
"""
import random
import re
import threading
import time

from fake_platform import fake_platform  # noqa: F401
from request_helpers import (
    FINAL,
    HOUR,
    Clock,
    app_act,
    configure_requests,
    create,
    person_rows,
    policy,
    request_row,
    start,
    states_of,
    user_status,
    users,
    wait_state,
    wait_until,
)
from serve_helpers import TSCALE, servers  # noqa: F401

DEMO_OPTIONS = ["--users", "30", "--seed", "7"]
CLOSURE = "close-account"


def send_at_once(srv, clock, codes, action, rng, body=None, advance=HOUR, spread=0.6):
    """Move the clock on by @advance, then POST @action of every request of @codes, each
    within the next @spread seconds (threads); {code: (status, json)}."""
    answers = {}

    def send(code, delay):
        time.sleep(delay)
        answers[code] = app_act(srv, code, action, body)

    threads = [threading.Thread(target=send, args=(c, rng.uniform(0, spread))) for c in codes]
    clock.advance(advance)
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * TSCALE)
    assert len(answers) == len(codes)
    return answers


# ---- a cancel racing the end of grace ----------------------------------------------------

RACE_ROUNDS = 20
RACE_BATCH = 10


def test_cancel_races_end_of_grace(demo, fake_platform, servers, tmp_path):
    """Requests whose grace period ends as their cancel is sent: exactly one of the
    cancel and the run wins each, and the API, the history, app.db and the status page
    agree on which."""
    rng = random.Random(13)
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", grace="1h", deadline="2d", effects=[CLOSURE])])
    srv = start(servers, demo, fake_platform, clock)
    people = users(demo, RACE_ROUNDS)
    tally = {"cancelled": 0, "ran": 0}
    for b in range(0, RACE_ROUNDS, RACE_BATCH):
        batch = people[b:b + RACE_BATCH]
        codes = []
        for uid, email in batch:
            st, req = create(srv, {"email": email}, verified=True)
            assert st == 201 and req["state"] == "scheduled", req
            codes.append(req["id"])
        wait_until(lambda: all(request_row(demo, c)[1] == 2 for c in codes),
                   "effects applied", srv=srv)
        before = {uid: person_rows(demo, uid) for uid, _ in batch}
        # The grace period of every request of the batch ends now; each cancel is sent
        # within the next 0.6 s, while the runner takes them one after the other.
        answers = send_at_once(srv, clock, codes, "cancel", rng, {"reason": "race"})
        for (uid, email), code in zip(batch, codes):
            st, ans = answers[code]
            req = wait_state(srv, code, FINAL, timeout=15)
            hist = states_of(req)
            page = srv.status_json(code)["state"]
            if st == 200:
                tally["cancelled"] += 1
                assert ans["state"] == "cancelled" and req["state"] == "cancelled", (ans, req)
                assert hist == ["received", "scheduled", "cancelled"], hist
                assert page == "cancelled"
                wait_until(lambda: user_status(demo, uid) == "active", "effect undone",
                           srv=srv)
                assert person_rows(demo, uid) == before[uid]
                wait_until(lambda: request_row(demo, code)[1:] == (0, 0), "identity wiped",
                           srv=srv)
            else:
                tally["ran"] += 1
                assert st == 409, (st, ans)
                assert re.search(r"is (running|completed_with_retention) cannot be cancelled",
                                 ans["error"]["message"]), ans
                assert req["state"] == "completed_with_retention", req
                assert hist == ["received", "scheduled", "running",
                                "completed_with_retention"], hist
                assert page == "completed_with_retention"
                assert person_rows(demo, uid)["users"] == 0
                assert request_row(demo, code)[2] == 0
    print("cancel race: %(cancelled)d cancelled, %(ran)d ran" % tally)
    assert tally["cancelled"] + tally["ran"] == RACE_ROUNDS


# ---- a verification racing the expiry of its link ------------------------------------------

def test_verify_races_expiry(demo, fake_platform, servers, tmp_path):
    """Requests whose verification link expires as the app verifies them: each is either
    verified (scheduled, its effect applied, no "expired" in its history) or expired (the
    verify answered 409, nothing applied, the identity wiped)."""
    rng = random.Random(29)
    clock = Clock(tmp_path / "clock")
    configure_requests(demo, fake_platform, [policy(
        "closure", verify=True, grace="1d", deadline="2d", effects=[CLOSURE])],
        verify_ttl="1h")
    srv = start(servers, demo, fake_platform, clock)
    batch = users(demo, 10)
    codes = []
    for uid, email in batch:
        st, req = create(srv, {"email": email})
        assert st == 201 and req["state"] == "awaiting_verification", req
        codes.append(req["id"])
    # Expiry is checked about once a second: the verifications are spread over 2 s.
    answers = send_at_once(srv, clock, codes, "verify", rng, spread=2.0)
    tally = {"verified": 0, "expired": 0}
    for (uid, email), code in zip(batch, codes):
        st, ans = answers[code]
        req = wait_state(srv, code, ("scheduled",) + FINAL, timeout=5)
        page = srv.status_json(code)["state"]
        if st == 200:
            tally["verified"] += 1
            assert ans["state"] == "scheduled" and req["state"] == "scheduled", (ans, req)
            assert states_of(req) == ["received", "awaiting_verification", "scheduled"], req
            assert page == "scheduled"
            wait_until(lambda: user_status(demo, uid) == "closing", "effect applied", srv=srv)
        else:
            tally["expired"] += 1
            assert st == 409 and "expired" in ans["error"]["message"], (st, ans)
            assert req["state"] == "expired", req
            assert states_of(req) == ["received", "awaiting_verification", "expired"], req
            assert page == "expired"
            assert request_row(demo, code)[1:] == (0, 0)
    time.sleep(1.2)  # no late effect on an expired request
    for (uid, email), code in zip(batch, codes):
        if answers[code][0] != 200:
            assert user_status(demo, uid) == "active"
            assert person_rows(demo, uid)["users"] == 1
    print("verify race: %(verified)d verified, %(expired)d expired" % tally)
