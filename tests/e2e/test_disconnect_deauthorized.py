# SPDX-License-Identifier: MIT
"""After Meta's deauthorize (issue 13, Deliver item 4).

  - a disconnect of a channel the deauthorize disconnected, by the API or the CLI,
    still purges the channel's data and adds the webhook unsubscribes the deauthorize
    left out, once: a second disconnect changes nothing and says so;
  - a data-deletion request after a deauthorize whose effects cleared the identity
    column still finds and erases the person's channel: the status page never says
    "no data" while mapped rows of that person remain.
"""
import json

from disconnect_helpers import api, configure, serve_env, wait_settled
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    fb_id,
    ig_id,
    servers,
    sign_py,
    state_store_bytes,
    stop_ok,
)

DERIVED = ("messages", "comments", "analytics", "publishing_logs", "webhook_subscriptions")


def derived_rows(demo, cid):
    return {t: query(demo.db, "SELECT count(*) FROM %s WHERE channel_id = ?" % t,
                     (cid,))[0][0] for t in DERIVED}


def test_disconnect_after_deauthorize_purges_once(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    uid = ig_id(2)
    cid = query(demo.db, "SELECT id FROM channels WHERE platform = 'instagram' AND "
                         "platform_user_id = ?", (uid,))[0][0]
    before = derived_rows(demo, cid)
    assert before["messages"] > 0 and before["webhook_subscriptions"] > 0
    srv = servers(demo, env=serve_env(fake))
    status, _, _ = srv.post_sr("/api/meta/instagram/deauthorize", sign_py(IG_SECRET, uid))
    assert status == 200
    assert derived_rows(demo, cid) == before, "a deauthorize keeps non-token metadata"

    status, _, st = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, st
    # Added to the deauthorize's disconnect: what it left out.
    assert st["state"] == "disconnected" and st["source"] == "deauthorize", st
    st = wait_settled(srv, cid)
    assert st["purge"]["state"] == "done", st
    assert st["revoke"]["state"] == "already_revoked", st
    assert [u["state"] for u in st["unsubscribe"]] == ["no_token"], st
    assert all(n == 0 for n in derived_rows(demo, cid).values()), derived_rows(demo, cid)
    assert fake.calls() == [], "Meta's tokens are dead: no upstream call"

    # A second disconnect, by the API or the CLI, changes nothing and says so.
    status, _, again = api(srv, "POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200 and again == st, again
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(cid),
                               env=serve_env(fake))
    assert code == 0, err
    assert "already disconnected" in out
    assert query(demo.state_db, "SELECT count(*) FROM outbox WHERE kind = 'purge'")[0][0] == 1
    stop_ok(srv)


def test_cli_disconnect_after_deauthorize_purges(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    uid = fb_id(3)
    cid = query(demo.db, "SELECT id FROM channels WHERE platform = 'facebook' AND "
                         "platform_user_id = ?", (uid,))[0][0]
    assert derived_rows(demo, cid)["messages"] > 0
    srv = servers(demo, env=serve_env(fake))
    status, _, _ = srv.post_sr("/api/meta/facebook/deauthorize", sign_py(FB_SECRET, uid))
    assert status == 200
    stop_ok(srv)
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(cid),
                               "--json", env=serve_env(fake))
    assert code == 0, err
    st = json.loads(out)
    assert st["source"] == "deauthorize" and st["purge"]["state"] == "done", st
    assert all(n == 0 for n in derived_rows(demo, cid).values())
    assert fake.calls() == []


def test_meta_request_after_deauthorize_that_cleared_the_id(demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    # The app clears the connection's platform user id on disconnect (seed 001, section 2).
    text = demo.datamap.read_text()
    old = "    disconnect:\n      set: {status: revoked}\n"
    assert text.count(old) == 1
    demo.datamap.write_text(text.replace(
        old, "    disconnect:\n      set: {status: revoked, platform_user_id: null}\n"))
    uid = ig_id(1)
    cid = query(demo.db, "SELECT id FROM channels WHERE platform = 'instagram' AND "
                         "platform_user_id = ?", (uid,))[0][0]
    assert derived_rows(demo, cid)["messages"] > 0
    srv = servers(demo, env=serve_env(fake))
    status, _, _ = srv.post_sr("/api/meta/instagram/deauthorize", sign_py(IG_SECRET, uid))
    assert status == 200
    assert query(demo.db, "SELECT platform_user_id FROM channels WHERE id = ?",
                 (cid,)) == [(None,)]
    assert uid.encode() not in state_store_bytes(demo)

    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    st, _ = srv.wait_completed(code, timeout=20)
    assert st["no_data"] is False, st
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,))[0][0] == 0
    assert all(n == 0 for n in derived_rows(demo, cid).values())
    # The person's other channels (Facebook, another app's id) are not this request's.
    assert query(demo.db, "SELECT count(*) FROM channels WHERE platform = 'facebook' AND "
                          "platform_user_id = ?", (fb_id(1),))[0][0] == 1
    stop_ok(srv)
