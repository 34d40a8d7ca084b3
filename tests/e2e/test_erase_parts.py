# SPDX-License-Identifier: MIT
"""What erasure does to a table per scope (erase_in) and to part of it (keep rules).

Each test edits the demo's data map the way a seed's privacy page needs it:
  seed 001  a Meta request clears fields of a row an account closure deletes
  seed 004  an account closure holds rows 30 days for recovery; deleting one
            channel's data does not inherit that hold, and ends it
  seed 003  error logs are kept (with their reason) while the rest is deleted,
            on the CLI and on the public status page
  media     files of a held row stay until the hold ends, then go with it
Every other row must stay byte-identical.
"""
import json

from lethe_e2e import query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    ig_id,
    public_url,
    assert_code,
    servers,
    sign_py,
    IG_SECRET,
    stop_ok,
)

DAY = 86400
NOW = 1796000000  # the test clock (2026-11-30), after every demo row
RECOVERY = "Kept 30 days after an account closure so that the account can be recovered"
SECURITY = "Error logs are kept while they are needed to investigate failed publishing"

PUBLOGS = """  publishing_logs:
    key: id
    category: logs
    links:
      - parent: channels
        column: channel_id
    erase: delete
    ttl: {column: created_at, after: 30d}
"""


def edit_map(demo, old, new):
    text = demo.datamap.read_text()
    assert text.count(old) == 1, "%r not once in the data map" % old
    demo.datamap.write_text(text.replace(old, new))


def table_block(name):
    """The demo map's lines of table @name up to its 'erase: delete' line."""
    return {"analytics": "  analytics:\n    key: id\n    category: analytics\n    links:\n"
                         "      - parent: channels\n        column: channel_id\n"
                         "    erase: delete\n",
            "media": "    media: [storage_key]\n    erase: delete\n"
                     "    ttl: {column: created_at, after: 30d, when: {cached: 1}}\n"}[name]


def lethe_at(demo, now, *args):
    code, out, err = run_lethe(args[0], "-c", demo.config, *args[1:],
                               env={"LETHE_TEST_NOW": str(now)})
    assert code == 0, "%s failed (%d): %s\n%s" % (args[0], code, err, out)
    return json.loads(out) if "--json" in args else out


def erase_at(demo, now, scope, *ids):
    args = ["erase", "--scope", scope, "--json", "--no-progress"]
    for k, v in ids:
        args += ["--id", "%s=%s" % (k, v)]
    return lethe_at(demo, now, *args)


def steps(summary, table):
    return [s for s in summary["steps"] if s["table"] == table]


def rows(db, sql, params=()):
    return {r[0]: r for r in query(db, sql, params)}


# ---- seed 001: a Meta request clears a row an account closure deletes -------------

def test_meta_scope_anonymizes_the_channel_account_scope_deletes_it(demo, snapshot):
    edit_map(demo, "      revoke_token: access_token    # the token sent upstream to revoke "
                   "the grant\n",
             "      revoke_token: access_token    # the token sent upstream to revoke "
             "the grant\n"
             "    erase_in:\n"
             "      meta:\n"
             "        action: anonymize\n"
             "        columns: {username: null, status: {set: erased}}\n")
    uid = ig_id(1)
    (chan,) = [r[0] for r in query(demo.db, "SELECT id FROM channels WHERE platform = "
                                            "'instagram' AND platform_user_id = ?", (uid,))]
    plan = lethe_at(demo, NOW, "plan", "--scope", "meta", "--id", "instagram_user_id=" + uid,
                    "--json")
    assert [s["action"] for s in plan["steps"] if s["table"] == "channels"] == ["anonymize"]
    before = snapshot(demo.db)
    summary = erase_at(demo, NOW, "meta", ("instagram_user_id", uid))
    assert [(s["action"], s["rows"]) for s in steps(summary, "channels")] == [("anonymize", 1)]
    after = snapshot(demo.db)
    # The connection row stays, its profile fields cleared and its tokens wiped...
    row = dict(zip([c[1] for c in query(demo.db, "PRAGMA table_info(channels)")],
                   after["channels"][chan]))
    assert row["username"] is None and row["status"] == "erased"
    assert row["access_token"] is None and row["refresh_token"] is None
    assert row["platform_user_id"] == uid and row["platform"] == "instagram"
    # ...its messages go as before.
    assert query(demo.db, "SELECT count(*) FROM messages WHERE channel_id = ?", (chan,)) == [(0,)]
    assert before["messages"] != after["messages"]

    # The account scope still deletes channels (the table's default).
    owner = query(demo.db, "SELECT p.user_id FROM channels c JOIN projects p ON "
                           "p.id = c.project_id WHERE c.id = ?", (chan,))[0][0]
    other = 2 if owner != 2 else 3
    n = query(demo.db, "SELECT count(*) FROM channels c JOIN projects p ON p.id = c.project_id "
                       "WHERE p.user_id = ?", (other,))[0][0]
    assert n > 0
    summary = erase_at(demo, NOW, "account", ("user_id", other))
    assert [(s["action"], s["rows"]) for s in steps(summary, "channels")] == [("delete", n)]


# ---- seed 004: one channel's deletion does not inherit the recovery hold ----------

def recovery_map(demo):
    """Account closure holds the channels and their analytics 30 days for recovery."""
    edit_map(demo, "    disconnect:\n      set: {status: revoked}\n    erase: delete\n",
             "    disconnect:\n      set: {status: revoked}\n    erase: delete\n"
             "    erase_in:\n"
             "      account: {action: retain, reason: \"%s\", for: 30d}\n" % RECOVERY)
    edit_map(demo, table_block("analytics"),
             table_block("analytics") +
             "    erase_in:\n"
             "      account: {action: retain, reason: \"%s\", for: 30d}\n" % RECOVERY)


def test_channel_scope_deletes_what_the_account_scope_holds(demo):
    recovery_map(demo)
    uid = 4
    chans = [r[0] for r in query(demo.db, "SELECT c.id FROM channels c JOIN projects p ON "
                                          "p.id = c.project_id WHERE p.user_id = ? AND "
                                          "EXISTS (SELECT 1 FROM analytics a WHERE "
                                          "a.channel_id = c.id) ORDER BY c.id", (uid,))]
    assert len(chans) >= 2
    first = query(demo.db, "SELECT count(*) FROM analytics WHERE channel_id = ?",
                  (chans[0],))[0][0]
    # Deleting one channel's data: its analytics are deleted, nothing is held.
    summary = erase_at(demo, NOW, "channel", ("channel_id", chans[0]))
    assert [(s["action"], s["rows"]) for s in steps(summary, "analytics")] == \
        [("delete", first)]
    assert summary["state"] == "completed"
    assert demo.state("SELECT count(*) FROM holds") == [(0,)]
    assert query(demo.db, "SELECT count(*) FROM analytics WHERE channel_id = ?",
                 (chans[0],)) == [(0,)]

    # Closing the account holds the rest for 30 days, with the reason.
    rest = {r[0] for r in query(demo.db, "SELECT a.id FROM analytics a JOIN channels c ON "
                                         "c.id = a.channel_id JOIN projects p ON "
                                         "p.id = c.project_id WHERE p.user_id = ?", (uid,))}
    assert rest
    summary = erase_at(demo, NOW, "account", ("user_id", uid))
    (st,) = steps(summary, "analytics")
    assert (st["action"], st["rows"], st["reason"]) == ("retain", len(rest), RECOVERY)
    assert summary["state"] == "completed_with_retention"
    holds = demo.state("SELECT row_key, until FROM holds WHERE table_name = 'analytics'")
    assert {int(k[2:]) for k, _ in holds} == rest
    assert {u for _, u in holds} == {NOW + 30 * DAY}
    assert {r[0] for r in query(demo.db, "SELECT id FROM analytics")} >= rest

    # Deleting one held channel's data now deletes it and ends its holds.
    held_chan = query(demo.db, "SELECT channel_id FROM analytics WHERE id = ?",
                      (min(rest),))[0][0]
    gone = {r[0] for r in query(demo.db, "SELECT id FROM analytics WHERE channel_id = ?",
                                (held_chan,))}
    summary = erase_at(demo, NOW + DAY, "channel", ("channel_id", held_chan))
    assert [(s["action"], s["rows"]) for s in steps(summary, "analytics")] == \
        [("delete", len(gone))]
    holds = demo.state("SELECT row_key FROM holds WHERE table_name = 'analytics'")
    assert {int(k[0][2:]) for k in holds} == rest - gone


# ---- seed 003: error logs kept with their reason, the rest deleted ----------------

def security_map(demo):
    """Error logs kept 30 days from the erasure (so without the logs' ttl, which would
    cut the hold short: the loader refuses both together, see test_datamap_errors)."""
    edit_map(demo, PUBLOGS, PUBLOGS.replace("    ttl: {column: created_at, after: 30d}\n", "").replace(
        "    erase: delete\n",
        "    erase:\n"
        "      action: delete\n"
        "      keep:\n"
        "        - when: {level: error}\n"
        "          reason: \"%s\"\n"
        "          for: 30d\n" % SECURITY))


def test_keep_rule_retains_error_logs_and_deletes_the_rest(demo, snapshot):
    security_map(demo)
    (chan,) = query(demo.db, "SELECT channel_id FROM publishing_logs GROUP BY channel_id "
                             "HAVING sum(level = 'error') > 0 AND sum(level <> 'error') > 0 "
                             "ORDER BY channel_id LIMIT 1")[0:1]
    chan = chan[0]
    errors = {r[0] for r in query(demo.db, "SELECT id FROM publishing_logs WHERE channel_id = ? "
                                           "AND level = 'error'", (chan,))}
    others = {r[0] for r in query(demo.db, "SELECT id FROM publishing_logs WHERE "
                                           "channel_id = ? AND level <> 'error'", (chan,))}
    plan = lethe_at(demo, NOW, "plan", "--scope", "channel", "--id", "channel_id=%d" % chan,
                    "--json")
    logs = [s for s in plan["steps"] if s["table"] == "publishing_logs"]
    assert [(s["action"], s["rows"], s.get("part")) for s in logs] == \
        [("retain", len(errors), "publishing_logs#1"), ("delete", len(others), None)]
    assert logs[0]["when"] == {"level": ["error"]} and logs[0]["reason"] == SECURITY

    before = snapshot(demo.db)
    summary = erase_at(demo, NOW, "channel", ("channel_id", chan))
    assert [(s["action"], s["rows"]) for s in steps(summary, "publishing_logs")] == \
        [("retain", len(errors)), ("delete", len(others))]
    assert summary["state"] == "completed_with_retention"
    after = snapshot(demo.db)
    for k in errors:
        assert after["publishing_logs"][k] == before["publishing_logs"][k]
    assert not set(after["publishing_logs"]) & others
    holds = demo.state("SELECT table_name, row_key, until FROM holds")
    assert sorted(holds) == sorted(("publishing_logs", "i:%d" % k, NOW + 30 * DAY)
                                   for k in errors)
    # The text summary names the reason.
    out = lethe_at(demo, NOW, "erase", "--scope", "channel", "--id", "channel_id=%d" % chan,
                   "--no-progress")
    assert SECURITY in out


def test_status_page_reports_kept_and_deleted_logs_of_one_table(demo, servers):
    security_map(demo)
    pick = None
    for i in range(1, 13):
        c = query(demo.db, "SELECT sum(l.level = 'error'), sum(l.level <> 'error') FROM "
                           "publishing_logs l JOIN channels c ON c.id = l.channel_id WHERE "
                           "c.platform = 'instagram' AND c.platform_user_id = ?", (ig_id(i),))
        if c[0][0] and c[0][1]:
            pick, (errors, others) = i, c[0]
            break
    assert pick is not None, "no demo user with both kinds of logs on Instagram"
    srv = servers(demo)
    status, hdrs, data = srv.post_sr("/api/meta/instagram/data-deletion",
                                     sign_py(IG_SECRET, ig_id(pick)))
    assert status == 200, data
    code = assert_code(json.loads(data), public_url(demo))
    st, _ = srv.wait_completed(code)
    assert st["state"] == "completed_with_retention", st
    (logs,) = [c for c in st["categories"] if c["category"] == "logs"]
    assert (logs["deleted"], logs["retained"]) == (others, errors), st
    assert logs["reason"] == SECURITY
    assert logs["retained_until"], logs
    status, hdrs, html = srv.get("/data-deletion/status?id=" + code)
    assert status == 200 and SECURITY.encode() in html
    stop_ok(srv)
    assert query(demo.db, "SELECT count(*) FROM publishing_logs l JOIN channels c ON "
                          "c.id = l.channel_id WHERE c.platform_user_id = ?",
                 (ig_id(pick),)) == [(0,)]  # the channel is gone; its error logs stay:
    assert query(demo.db, "SELECT count(*) FROM publishing_logs WHERE level = 'error' AND "
                          "channel_id NOT IN (SELECT id FROM channels)")[0][0] >= errors


# ---- media files follow their row's hold ----------------------------------------

def test_media_of_held_rows_stay_until_the_hold_ends(demo):
    edit_map(demo, table_block("media"),
             "    media: [storage_key]\n    erase: delete\n"
             "    erase_in:\n"
             "      account: {action: retain, reason: \"%s\", for: 30d}\n" % RECOVERY)
    uid = 3
    mine = rows(demo.db, "SELECT m.id, m.storage_key FROM media m JOIN projects p ON "
                         "p.id = m.project_id WHERE p.user_id = ?", (uid,))
    assert mine
    keys = {r[1] for r in mine.values()}
    files = demo.media_files()
    assert keys <= files
    summary = erase_at(demo, NOW, "account", ("user_id", uid))
    (st,) = steps(summary, "media")
    assert (st["action"], st["rows"], st["media_files"]) == ("retain", len(mine), 0)
    assert set(rows(demo.db, "SELECT id FROM media")) >= set(mine)
    assert demo.media_files() == files
    # A sweep before the hold ends keeps rows and files...
    lethe_at(demo, NOW + 29 * DAY, "sweep", "--once", "--json")
    assert set(rows(demo.db, "SELECT id FROM media")) >= set(mine)
    assert demo.media_files() == files
    # ...and once it ends, removes both.
    out = lethe_at(demo, NOW + 30 * DAY, "sweep", "--once", "--json")
    assert out["holds_released"] == len(mine)
    assert not set(rows(demo.db, "SELECT id FROM media")) & set(mine)
    assert demo.media_files() == files - keys

