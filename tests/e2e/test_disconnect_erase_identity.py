# SPDX-License-Identifier: MIT
"""An erasure whose own channel disconnect clears the identity column the erasure finds
the channel by (`channels.disconnect.set: {platform_user_id: null}`, allowed by
docs/datamap.md; found writing the SocioGenie example).

The erasure disconnects the person's channels before its steps (revoke and unsubscribe
durable before the tokens go).  That disconnect must not unlink the rows the steps are
about to find: the columns the erasure selects the channel by (its links and their
conditions) keep their values until the steps ran, and what the map's `disconnect: set`
writes to them is written afterwards, to the rows the erasure keeps.

  - a Meta data-deletion callback completes only once the person's channel and its
    messages, comments, analytics... are gone, row by row (the request used to end
    `completed` with no category while every row stayed);
  - `lethe erase --scope meta` does the same from the command line;
  - a scope that anonymizes the channel row keeps it, anonymized, and then clears the
    identity as the disconnect says;
  - the person's other channels (another platform, another app's id) stay untouched;
  - an erasure SIGKILLed after its disconnect (tokens gone, messages half deleted)
    finds the channel again when run again, and erases it;
  - a channel unlinked while the erasure runs (by the app here) fails the erasure
    instead of letting it end `completed` with the channel and its rows left.

Runs on both backends (the backend fixture: app database and state store on SQLite,
then on PostgreSQL).
"""
import signal
import subprocess
import time

import pytest

from disconnect_helpers import configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import execute, has_table, is_pg, lethe_env, lethe_path, query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    fb_id,
    ig_id,
    servers,
    sign_py,
    stop_ok,
)

pytestmark = pytest.mark.usefixtures("backend")

DERIVED = ("messages", "comments", "analytics", "automation_rules", "publishing_logs",
           "webhook_subscriptions")
OLD_SET = "    disconnect:\n      set: {status: revoked}\n"
NEW_SET = "    disconnect:\n      set: {status: revoked, platform_user_id: null}\n"
REVOKE_LINE = ("      revoke_token: access_token    # the token sent upstream to revoke "
               "the grant\n")


def clear_id_at_disconnect(demo):
    """The map variant: a disconnect clears the channel's platform user id."""
    text = demo.datamap.read_text()
    assert text.count(OLD_SET) == 1
    demo.datamap.write_text(text.replace(OLD_SET, NEW_SET))


def derived_rows(demo, cid):
    return {t: query(demo.db, "SELECT count(*) FROM %s WHERE channel_id = ?" % t,
                     (cid,))[0][0] for t in DERIVED}


def ig_channel(demo, n):
    """(instagram user id, channel id) of demo person @n, with derived rows to erase."""
    uid = ig_id(n)
    rows = query(demo.db, "SELECT id FROM channels WHERE platform = 'instagram' AND "
                          "platform_user_id = ?", (uid,))
    assert len(rows) == 1, rows
    cid = rows[0][0]
    before = derived_rows(demo, cid)
    assert before["messages"] > 0 and before["analytics"] > 0, before
    return uid, cid


def others(demo, cid):
    """Every channel row but @cid, and their derived row counts: what must not change."""
    return (query(demo.db, "SELECT * FROM channels WHERE id <> ? ORDER BY id", (cid,)),
            {t: query(demo.db, "SELECT count(*) FROM %s WHERE channel_id <> ?" % t,
                      (cid,))[0][0] for t in DERIVED})


def test_meta_deletion_whose_disconnect_clears_the_id_erases_the_channel(
        demo, servers, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    clear_id_at_disconnect(demo)
    uid, cid = ig_channel(demo, 1)
    kept = others(demo, cid)
    srv = servers(demo, env=serve_env(fake))
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    st, _ = srv.wait_completed(code, timeout=30)
    assert st["state"] == "completed" and st["no_data"] is False, st
    # The channel and everything derived from it, row by row.
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,)) == [(0,)]
    assert derived_rows(demo, cid) == {t: 0 for t in DERIVED}, derived_rows(demo, cid)
    # What the status page says was erased is what was.
    deleted = {c["category"]: c["deleted"] for c in st["categories"] if c["deleted"]}
    assert deleted.get("meta-sourced", 0) >= 1 and deleted.get("messages", 0) > 0, st
    # Nothing else changed: the person's Facebook channel, other people's channels.
    assert others(demo, cid) == kept
    assert query(demo.db, "SELECT count(*) FROM channels WHERE platform = 'facebook' AND "
                          "platform_user_id = ?", (fb_id(1),)) == [(1,)]
    stop_ok(srv)
    assert uid not in srv.stderr()


def test_cli_erasure_whose_disconnect_clears_the_id_erases_the_channel(demo, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    clear_id_at_disconnect(demo)
    uid, cid = ig_channel(demo, 2)
    kept = others(demo, cid)
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "meta", "--id",
                               "instagram_user_id=" + uid, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    assert '"channels_disconnected": 1' in out, out
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,)) == [(0,)]
    assert derived_rows(demo, cid) == {t: 0 for t in DERIVED}
    assert others(demo, cid) == kept
    # Run again: nothing of the person is left to find, and nothing else goes.
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "meta", "--id",
                               "instagram_user_id=" + uid, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    assert others(demo, cid) == kept


def test_an_anonymized_channel_is_kept_then_its_id_cleared(demo, fake_platform):
    """A scope that keeps the channel row, anonymized: the steps find it and its children
    by the id; the disconnect's `platform_user_id: null` is written after them."""
    fake = fake_platform
    configure(demo, fake)
    clear_id_at_disconnect(demo)
    text = demo.datamap.read_text()
    assert text.count(REVOKE_LINE) == 1
    demo.datamap.write_text(text.replace(
        REVOKE_LINE, REVOKE_LINE + "    erase_in:\n      meta:\n        action: anonymize\n"
        "        columns: {username: null, status: {set: erased}}\n"))
    uid, cid = ig_channel(demo, 3)
    kept = others(demo, cid)
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "meta", "--id",
                               "instagram_user_id=" + uid, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    row = query(demo.db, "SELECT username, status, access_token, refresh_token, "
                         "platform_user_id FROM channels WHERE id = ?", (cid,))
    assert row == [(None, "erased", None, None, None)], row
    assert derived_rows(demo, cid) == {t: 0 for t in DERIVED}
    assert others(demo, cid) == kept


def fill_messages(demo, cid):
    """Enough messages on channel @cid that an erasure one row a batch takes a while."""
    cols = "channel_id, sender_platform_id, sender_name, body, received_at"
    if is_pg(demo.db):
        execute(demo.db, "INSERT INTO messages (%s) SELECT ?, 'p', 'n', 'filler', "
                         "'2026-01-01 00:00:00' FROM generate_series(1, 3000)" % cols, (cid,))
    else:
        execute(demo.db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                         "WHERE i < 20000) INSERT INTO messages (%s) SELECT ?, 'p', 'n', "
                         "'filler', '2026-01-01 00:00:00' FROM n" % cols, (cid,))


def start_erase(demo, fake, uid):
    """`lethe erase --scope meta --batch 1` of @uid, returned once some batches committed
    (the person's channels are disconnected by then)."""
    erase = subprocess.Popen([lethe_path(), "erase", "-c", str(demo.config), "--scope",
                              "meta", "--id", "instagram_user_id=" + uid, "--batch", "1",
                              "--quiet"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=lethe_env(serve_env(fake)))
    deadline = time.monotonic() + 30 * TSCALE
    while time.monotonic() < deadline and erase.poll() is None:
        if has_table(demo.state_db, "job_steps") and query(
                demo.state_db, "SELECT coalesce(sum(done), 0) FROM job_steps")[0][0] > 0:
            break
        time.sleep(0.02)
    return erase


def test_an_erasure_killed_after_its_disconnect_finds_the_channel_again(demo, fake_platform):
    fake = fake_platform
    configure(demo, fake)
    clear_id_at_disconnect(demo)
    uid, cid = ig_channel(demo, 4)
    kept = others(demo, cid)
    fill_messages(demo, cid)
    erase = start_erase(demo, fake, uid)
    try:
        assert erase.poll() is None, "the erasure ended before it could be killed"
        erase.send_signal(signal.SIGKILL)
        erase.wait(timeout=10)
    finally:
        if erase.poll() is None:
            erase.kill()
            erase.wait(timeout=10)
    # Killed between its disconnect and the channel's step: tokens gone, the id held.
    assert query(demo.db, "SELECT access_token, refresh_token, status, platform_user_id "
                          "FROM channels WHERE id = ?", (cid,)) == [(None, None, "revoked",
                                                                    uid)]
    assert derived_rows(demo, cid)["messages"] > 0
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "meta", "--id",
                               "instagram_user_id=" + uid, "--json", "--no-progress",
                               env=serve_env(fake))
    assert code == 0, err
    assert '"resumed": true' in out, out
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,)) == [(0,)]
    assert derived_rows(demo, cid) == {t: 0 for t in DERIVED}
    assert others(demo, cid) == kept


def test_a_channel_unlinked_while_the_erasure_runs_fails_it(demo, fake_platform):
    """The app clears the id the erasure finds the channel by while the erasure deletes
    the channel's messages (one a batch): the channel and the messages left no longer
    match, and the erasure must say so rather than report the person erased."""
    fake = fake_platform
    configure(demo, fake)
    uid, cid = ig_channel(demo, 4)
    fill_messages(demo, cid)
    erase = start_erase(demo, fake, uid)
    try:
        assert erase.poll() is None, "the erasure ended before the app could change the row"
        # The channel was disconnected (tokens gone) and still carries the id.
        assert query(demo.db, "SELECT access_token, platform_user_id FROM channels WHERE "
                              "id = ?", (cid,)) == [(None, uid)]
        execute(demo.db, "UPDATE channels SET platform_user_id = NULL WHERE id = ?", (cid,))
        out, err = erase.communicate(timeout=120 * TSCALE)
    finally:
        if erase.poll() is None:
            erase.kill()
            erase.wait(timeout=10)
    assert erase.returncode != 0, out
    assert "stopped matching this erasure" in err, err
    assert uid not in out + err
    assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (cid,)) == [(1,)]
    assert derived_rows(demo, cid)["messages"] > 0
    assert demo.state("SELECT state FROM jobs") != [("completed",)]
