# SPDX-License-Identifier: MIT
"""An erasure reaches upstream, whatever started it (issue 13, Deliver item 4).

  - `lethe erase --scope account` disconnects the person's channels before deleting
    them: every grant is revoked and every active webhook subscription removed at the
    (fake) platforms, the tokens sealed in the outbox, never in the clear;
  - a refused state store write at any point of such an erasure (a crash there) and a
    second run lose no revocation and call none twice;
  - a Meta data-deletion request (scope `meta`) unsubscribes the webhook rows it
    deletes and revokes the grant, through `lethe serve`'s outbox.
"""
import json
import shutil
import sqlite3
import time

import pytest

from disconnect_helpers import CANONICAL, configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import copy_demo, query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    TSCALE,
    fb_id,
    servers,
    sign_py,
    state_store_bytes,
    stop_ok,
)
from test_crash import install_fault, remove_fault

EMAIL = "user6@example.com"  # Instagram, Facebook, YouTube and LinkedIn channels


def channels_of_user(demo, email):
    return query(demo.db, "SELECT c.id, c.platform, c.platform_user_id, c.access_token "
                          "FROM channels c JOIN projects p ON c.project_id = p.id JOIN users u "
                          "ON p.user_id = u.id WHERE u.email = ? ORDER BY c.id", (email,))


def active_webhooks(demo, cid):
    return [r[0] for r in query(demo.db, "SELECT account_id FROM webhook_subscriptions WHERE "
                                         "channel_id = ? AND status = 'active' ORDER BY id",
                                (cid,))]


def wait_calls(fake, n, timeout=20):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        if len(fake.calls()) >= n:
            return fake.calls()
        time.sleep(0.05)
    pytest.fail("expected %d upstream calls, got %r" % (n, fake.calls()))


def test_account_erase_revokes_and_unsubscribes_upstream(demo, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    chans = channels_of_user(demo, EMAIL)
    by_platform = {p: (cid, acc, tok) for cid, p, acc, tok in chans}
    assert set(by_platform) == {"instagram", "facebook", "youtube", "linkedin"}
    assert all(tok for _, _, _, tok in chans)
    ig, fb = by_platform["instagram"], by_platform["facebook"]
    ig_hooks, fb_hooks = active_webhooks(demo, ig[0]), active_webhooks(demo, fb[0])
    assert ig_hooks and fb_hooks

    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + EMAIL, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["state"] == "completed_with_retention", summary
    assert summary["channels_disconnected"] == len(chans), summary
    assert channels_of_user(demo, EMAIL) == []

    # Every grant revoked where the platform documents a revoke, with the channel's token.
    assert [c.form["token"] for c in fake.calls("google")] == [by_platform["youtube"][2]]
    assert [c.form["token"] for c in fake.calls("linkedin")] == [by_platform["linkedin"][2]]
    fb_calls = fake.calls("facebook")
    assert sorted(c.path for c in fb_calls) == sorted(
        ["/v21.0/%s/permissions" % fb[1]] + ["/v21.0/%s/subscribed_apps" % a for a in fb_hooks])
    # The Page's webhooks go before the revoke that would kill the token they need.
    assert fb_calls[-1].path.endswith("/permissions"), fb_calls
    assert all(c.form["access_token"] == fb[2] for c in fb_calls)
    # Instagram Login: no revoke endpoint, but its webhook subscriptions are removed.
    assert [c.path for c in fake.calls("instagram")] == [
        "/v21.0/%s/subscribed_apps" % a for a in ig_hooks]

    # Every job ended; no token in the clear in the state store.
    code, out, err = run_lethe("jobs", "-c", demo.config, "--json")
    assert code == 0, err
    jobs = [json.loads(line) for line in out.splitlines()]
    assert jobs and all(j["state"] in ("done", "unsupported") for j in jobs), jobs
    raw = state_store_bytes(demo)
    for _, _, _, tok in chans:
        assert tok.encode() not in raw

    # Again: nothing left to disconnect, no second call.
    n = len(fake.calls())
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + EMAIL, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    assert json.loads(out)["channels_disconnected"] == 0
    assert len(fake.calls()) == n


def test_meta_erase_unsubscribes_its_webhook_rows(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    uid = fb_id(2)
    cid, token = query(demo.db, "SELECT id, access_token FROM channels WHERE platform = "
                                "'facebook' AND platform_user_id = ?", (uid,))[0]
    hooks = active_webhooks(demo, cid)
    assert hooks
    srv = servers(demo, env=serve_env(fake))
    code = srv.deletion("facebook", sign_py(FB_SECRET, uid))["confirmation_code"]
    st, _ = srv.wait_completed(code, timeout=20)
    assert st["no_data"] is False
    calls = wait_calls(fake, len(hooks) + 1)
    assert sorted(c.path for c in calls) == sorted(
        ["/v21.0/%s/permissions" % uid] + ["/v21.0/%s/subscribed_apps" % a for a in hooks])
    assert all(c.platform == "facebook" and c.form["access_token"] == token for c in calls)
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,))[0][0] == 0
    assert token.encode() not in state_store_bytes(demo)
    stop_ok(srv)


def test_account_erase_state_write_failure_never_loses_a_revocation(demo, tmp_path,
                                                                     fake_platform):
    """Refuse the 1st, 2nd, ... write of an account erasure to the state store (a crash
    at that exact point, as in test_crash.py), then run it again: every channel of the
    person ends with exactly one revoke job, none was called twice, no token is in the
    clear, and the channels are gone."""
    fake = fake_platform
    configure(demo, fake)
    email = "user1@example.com"
    chans = channels_of_user(demo, email)
    assert len(chans) == 3
    code, _, err = run_lethe("erase", "-c", demo.config, "--quiet", "--scope", "account",
                             "--id", "email=nobody@example.com", env=serve_env(fake))
    assert code == 0, err
    tables = install_fault(demo.state_db)
    k = 0
    while True:
        k += 1
        b = copy_demo(demo.dir, tmp_path / ("b%d" % k))
        con = sqlite3.connect(str(b.state_db))
        with con:
            con.execute("UPDATE fault SET k = ?", (k,))
        con.close()
        calls = len(fake.calls())
        code, out, err = run_lethe("erase", "-c", b.config, "--json", "--no-progress",
                                   "--scope", "account", "--id", "email=" + email,
                                   env=serve_env(fake))
        writes = remove_fault(b.state_db, tables)
        if code == 0 and writes < k:
            break
        assert code == 1, "write %d refused: exit %d, %s" % (k, code, err)
        code, out, err = run_lethe("erase", "-c", b.config, "--json", "--no-progress",
                                   "--scope", "account", "--id", "email=" + email,
                                   env=serve_env(fake))
        assert code == 0, "write %d: %s" % (k, err)
        assert channels_of_user(b, email) == []
        revokes = query(b.state_db, "SELECT platform, state, box IS NOT NULL FROM outbox "
                                    "WHERE kind = 'revoke' ORDER BY platform")
        assert sorted(r[0] for r in revokes) == sorted(
            CANONICAL[c[1]] for c in chans), (k, revokes)
        # A job not run yet (its disconnect left staged, for recovery) keeps its token sealed.
        assert all(s in ("done", "pending", "staged") for _, s, _ in revokes), (k, revokes)
        assert all(has_box == (s != "done") or p == "instagram"
                   for p, s, has_box in revokes), (k, revokes)
        new = fake.calls()[calls:]
        assert len([c for c in new if c.path.endswith("/permissions")]) <= 1, (k, new)
        assert len([c for c in new if c.platform == "google"]) <= 1, (k, new)
        raw = state_store_bytes(b)
        for _, _, _, tok in chans:
            assert tok.encode() not in raw, k
        shutil.rmtree(str(b.dir))
        assert k < 1000, "lethe never stopped writing to its state store"
    assert k > 20, "only %d state writes for a whole erasure?" % k
