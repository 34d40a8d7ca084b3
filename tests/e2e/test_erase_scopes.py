# SPDX-License-Identifier: MIT
"""Erasing one person in each scope of the demo map, checked row by row.

What must go is computed here from the database (not from lethe's plan); every
other row of every table must be byte-identical afterwards, media files of
deleted media rows must be gone and every other file must stay.
"""
import calendar
import json
import os
import shutil
import time

import pytest

from lethe_e2e import (
    CHANNEL_CHILDREN,
    DEMO_PARENTS,
    HASH_RE,
    PROJECT_CHILDREN,
    TEN_YEARS,
    columns,
    query,
    rows_by_table,
)

DEMO_OPTIONS = ["--users", "12", "--seed", "7"]

BOTH = pytest.mark.usefixtures("backend")

ACCOUNT_TABLES = set(DEMO_PARENTS)
META_TABLES = {"channels", "messages", "comments", "analytics", "automation_rules",
               "webhook_subscriptions", "publishing_logs"}
CHANNEL_TABLES = {"messages", "comments", "analytics", "publishing_logs",
                  "webhook_subscriptions"}


class AnyHash:
    """Equal to any keyed hash 'anon:' + 32 hex digits."""

    def __eq__(self, other):
        return isinstance(other, str) and HASH_RE.match(other) is not None

    def __repr__(self):
        return "<anon:32 hex>"


class Expect:
    """What an erasure must do: rows deleted and rows rewritten (to exact values)."""

    def __init__(self, tables):
        self.tables = tables                  # tables of the scope
        self.deleted = {}                     # table -> set of ids
        self.changed = {}                     # table -> {id: expected row}

    def delete(self, table, ids):
        self.deleted.setdefault(table, set()).update(ids)

    def change(self, table, rows):
        self.changed.setdefault(table, {}).update(rows)

    def counts(self):
        return {t: len(self.deleted.get(t, ())) + len(self.changed.get(t, {}))
                for t in self.tables}


class Db:
    """A snapshot with column names, for computing expectations."""

    def __init__(self, demo):
        self.snap = demo.snapshot()
        self.cols = {t: columns(demo.db, t) for t in self.snap}

    def col(self, table, column):
        return self.cols[table].index(column)

    def ids(self, table, column, values):
        values = set(values)
        i = self.col(table, column)
        return {k for k, r in self.snap[table].items() if r[i] in values}

    def value(self, table, rid, column):
        return self.snap[table][rid][self.col(table, column)]


def expect_channels(db, exp, channels, children):
    for t in children:
        exp.delete(t, db.ids(t, "channel_id", channels))


def expect_account(db, uid):
    exp = Expect(ACCOUNT_TABLES)
    projects = db.ids("projects", "user_id", [uid])
    channels = db.ids("channels", "project_id", projects)
    exp.delete("users", {uid})
    exp.delete("projects", projects)
    for t in PROJECT_CHILDREN:
        exp.delete(t, db.ids(t, "project_id", projects))
    expect_channels(db, exp, channels, CHANNEL_CHILDREN)
    # request_logs: anonymized in place.
    rl = {}
    for k in db.ids("request_logs", "user_id", [uid]):
        row = list(db.snap["request_logs"][k])
        row[db.col("request_logs", "user_id")] = None
        row[db.col("request_logs", "ip")] = None
        row[db.col("request_logs", "user_agent")] = "[removed]"
        rl[k] = tuple(row)
    exp.change("request_logs", rl)
    # invoices: retained; user_id and name cleared, email hashed, the rest kept.
    inv = {}
    for k in db.ids("invoices", "user_id", [uid]):
        row = list(db.snap["invoices"][k])
        row[db.col("invoices", "user_id")] = None
        row[db.col("invoices", "email")] = AnyHash()
        row[db.col("invoices", "name")] = None
        inv[k] = tuple(row)
    exp.change("invoices", inv)
    return exp


def expect_meta(db, channel_ids):
    exp = Expect(META_TABLES)
    exp.delete("channels", channel_ids)
    expect_channels(db, exp, channel_ids, CHANNEL_CHILDREN)
    return exp


def expect_channel(db, channel_id):
    exp = Expect(CHANNEL_TABLES)
    expect_channels(db, exp, {channel_id}, sorted(CHANNEL_TABLES))
    return exp


def check_rows(before, after, exp):
    """Compare full snapshots: the expected rows went or changed, nothing else did."""
    for t, rows in before.items():
        now = after[t]
        extra = set(now) - set(rows)
        assert not extra, "%s: rows appeared: %s" % (t, sorted(extra)[:10])
        gone = exp.deleted.get(t, set())
        changed = exp.changed.get(t, {})
        for k, row in rows.items():
            if k in gone:
                assert k not in now, "%s id %s should be deleted: %r" % (t, k, row)
            elif k in changed:
                assert k in now, "%s id %s should be kept (rewritten), but is gone" % (t, k)
                assert changed[k] == now[k], "%s id %s: expected %r, got %r" % (
                    t, k, changed[k], now[k])
            else:
                assert now.get(k) == row, "%s id %s must not change: %r -> %r" % (
                    t, k, row, now.get(k))


def issued_epoch(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


def hold_id(row_key):
    """The invoice id of a holds.row_key (a plain or type-tagged key, e.g. 'i:42')."""
    return int(row_key.split(":", 1)[1] if ":" in row_key else row_key)


def run_and_check(demo, scope, ids, exp, db):
    """Plan, erase, check everything, erase again; returns the summary."""
    before = db.snap
    files = demo.media_files()
    gone_keys = {db.value("media", k, "storage_key") for k in exp.deleted.get("media", ())}
    assert gone_keys <= files

    plan = demo.plan(scope, *ids)
    assert plan["scope"] == scope
    assert set(rows_by_table(plan)) == exp.tables
    assert rows_by_table(plan) == exp.counts(), "plan counts differ from the data"
    check_order(plan)

    summary = demo.erase(scope, *ids)
    retained = len(exp.changed.get("invoices", {}))
    assert summary["state"] == ("completed_with_retention" if retained else "completed")
    assert summary["resumed"] is False
    assert [s["table"] for s in summary["steps"]] == [s["table"] for s in plan["steps"]]
    assert rows_by_table(summary) == rows_by_table(plan), "erase counts differ from plan"
    for s in summary["steps"]:
        if s["table"] == "media":
            assert s["media_files"] == len(gone_keys)
            assert s["media_failed"] == 0

    after = demo.snapshot()
    check_rows(before, after, exp)
    assert demo.media_files() == files - gone_keys
    check_invoices(demo, db, after, exp, summary["job"])

    # Again: nothing left to do, nothing changes.
    holds = demo.state("SELECT * FROM holds ORDER BY table_name, row_key")
    again = demo.erase(scope, *ids)
    assert again["state"] == "completed"
    assert all(s["rows"] == 0 for s in again["steps"]), again["steps"]
    assert demo.snapshot() == after
    assert demo.media_files() == files - gone_keys
    assert demo.state("SELECT * FROM holds ORDER BY table_name, row_key") == holds
    return summary


def check_order(plan):
    """Children before parents."""
    order = [s["table"] for s in plan["steps"]]
    for child in order:
        for parent in DEMO_PARENTS[child]:
            if parent in order:
                assert order.index(child) < order.index(parent), (child, parent, order)


def check_invoices(demo, db, after, exp, job):
    inv = exp.changed.get("invoices", {})
    holds = demo.state("SELECT table_name, row_key, job_id, until FROM holds")
    mine = [h for h in holds if h[2] == job]
    assert {hold_id(h[1]) for h in mine} == set(inv)
    assert all(h[0] == "invoices" for h in mine)
    for table, key, _, until in mine:
        k = hold_id(key)
        assert until == issued_epoch(db.value("invoices", k, "issued_at")) + TEN_YEARS
    hashes = set()
    email_col = db.col("invoices", "email")
    for k in inv:
        h = after["invoices"][k][email_col]
        assert db.value("invoices", k, "email") not in h
        hashes.add(h)
    # One person, one email, one hash.
    assert len(hashes) <= 1


def pick_user(db):
    """The ordinary user with the most projects, then channels, then invoices."""
    best = None
    for uid in db.snap["users"]:
        projects = db.ids("projects", "user_id", [uid])
        score = (len(projects), len(db.ids("channels", "project_id", projects)),
                 len(db.ids("invoices", "user_id", [uid])), -uid)
        if best is None or score > best[0]:
            best = (score, uid)
    return best[1]


def user_channels(db, uid, platform=None):
    chans = db.ids("channels", "project_id", db.ids("projects", "user_id", [uid]))
    if platform is not None:
        chans = {c for c in chans if db.value("channels", c, "platform") == platform}
    return sorted(chans)


# ---- account --------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("how", ["email", "user_id", "email+user_id"])
def test_erase_account(demo, how):
    db = Db(demo)
    uid = pick_user(db)
    email = db.value("users", uid, "email")
    ids = {"email": [("email", email)], "user_id": [("user_id", uid)],
           "email+user_id": [("email", email), ("user_id", uid)]}[how]
    exp = expect_account(db, uid)
    assert len(exp.deleted["projects"]) == 2 and exp.deleted.get("media")
    assert exp.changed["request_logs"] and exp.changed["invoices"]
    run_and_check(demo, "account", ids, exp, db)


@BOTH
def test_erase_account_every_user_in_turn(demo):
    """Erase users one after another in the same copy: each erasure touches only its user."""
    for uid in (1, 5, 12):
        db = Db(demo)
        email = db.value("users", uid, "email")
        run_and_check(demo, "account", [("email", email)], expect_account(db, uid), db)


@BOTH
def test_erase_account_unknown_person_changes_nothing(demo):
    before = demo.snapshot()
    files = demo.media_files()
    summary = demo.erase("account", ("email", "nobody@example.com"))
    assert summary["state"] == "completed"
    assert all(s["rows"] == 0 for s in summary["steps"])
    assert demo.snapshot() == before
    assert demo.media_files() == files


@BOTH
def test_user_id_does_not_match_prefixes(demo):
    """user_id=1 is user 1 only, not 10, 11 or 12."""
    db = Db(demo)
    run_and_check(demo, "account", [("user_id", "1")], expect_account(db, 1), db)
    for uid in (10, 11, 12):
        assert query(demo.db, "SELECT count(*) FROM users WHERE id = ?", (uid,)) == [(1,)]


@BOTH
def test_invoice_hash_uses_the_configured_key(demo, fresh_demo):
    """The email hash is keyed: another key file gives another hash, the env key wins."""
    other = fresh_demo("other")
    env_key = fresh_demo("envkey")
    key2 = "ab" * 32
    other.key_file.write_text(key2 + "\n")
    uid = pick_user(Db(demo))

    def hashes(d, env=None):
        code, out, err = d.lethe("erase", "--scope", "account", "--id", "user_id=%d" % uid,
                                 "--quiet", env=env)
        assert code == 0, err
        return sorted(r[0] for r in query(d.db, "SELECT email FROM invoices WHERE "
                                          "user_id IS NULL AND email LIKE 'anon:%'"))

    h1 = hashes(demo)
    h2 = hashes(other)
    h3 = hashes(env_key, env={"LETHE_ANONYMIZE_KEY": key2})
    assert h1 and all(HASH_RE.match(h) for h in h1)
    assert h1 != h2, "the hash does not depend on the key"
    assert h3 == h2, "LETHE_ANONYMIZE_KEY should override the key file"


# ---- meta -----------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("platform,kind", [("instagram", "instagram_user_id"),
                                           ("facebook", "meta_asid")])
def test_erase_meta(demo, platform, kind):
    db = Db(demo)
    uid = pick_user(db)
    target = user_channels(db, uid, platform)[0]
    puid = db.value("channels", target, "platform_user_id")
    others = [c for c in user_channels(db, uid) if c != target]
    assert others, "the person has other channels that must stay"
    exp = expect_meta(db, {target})
    assert exp.deleted["messages"] and exp.deleted["automation_rules"]
    run_and_check(demo, "meta", [(kind, puid)], exp, db)
    # The account, projects, posts, media and other channels are all still there
    # (check_rows compared everything; spelled out for the reader).
    after = demo.snapshot()
    assert uid in after["users"]
    for p in db.ids("projects", "user_id", [uid]):
        assert p in after["projects"]
    for c in others:
        assert c in after["channels"]
    for t in ("posts", "media"):
        for k in db.ids(t, "project_id", db.ids("projects", "user_id", [uid])):
            assert k in after[t]


@BOTH
def test_erase_meta_platform_condition(demo):
    """An instagram id only matches instagram channels, even if a facebook or youtube
    channel of someone else has the same platform_user_id."""
    db = Db(demo)
    uid = pick_user(db)
    target = user_channels(db, uid, "instagram")[0]
    puid = db.value("channels", target, "platform_user_id")
    other_uid = 1 if uid != 1 else 2
    decoy_fb = user_channels(db, other_uid, "facebook")[0]
    decoys = [decoy_fb]
    non_meta = [c for c in user_channels(db, other_uid)
                if db.value("channels", c, "platform") not in ("facebook", "instagram")]
    decoys += non_meta[:1]
    for c in decoys:
        demo.execute("UPDATE channels SET platform_user_id = ? WHERE id = ?", (puid, c))
    db = Db(demo)
    run_and_check(demo, "meta", [("instagram_user_id", puid)], expect_meta(db, {target}), db)
    for c in decoys:
        assert query(demo.db, "SELECT count(*) FROM channels WHERE id = ?", (c,)) == [(1,)]


@BOTH
def test_erase_meta_two_identities(demo):
    """Two meta identities (of two kinds) erase both channels and nothing else."""
    db = Db(demo)
    uid = pick_user(db)
    ig = user_channels(db, uid, "instagram")[0]
    fb = user_channels(db, uid, "facebook")[0]
    ids = [("instagram_user_id", db.value("channels", ig, "platform_user_id")),
           ("meta_asid", db.value("channels", fb, "platform_user_id"))]
    run_and_check(demo, "meta", ids, expect_meta(db, {ig, fb}), db)


@BOTH
def test_erase_meta_unknown_identity(demo):
    before = demo.snapshot()
    summary = demo.erase("meta", ("meta_asid", "999999999"))
    assert all(s["rows"] == 0 for s in summary["steps"])
    assert demo.snapshot() == before


# ---- channel ------------------------------------------------------------------------


@BOTH
def test_erase_channel(demo):
    db = Db(demo)
    uid = pick_user(db)
    chans = user_channels(db, uid)
    # The channel with the most rows in the scope's tables.
    target = max(chans, key=lambda c: sum(len(db.ids(t, "channel_id", [c]))
                                          for t in CHANNEL_TABLES))
    exp = expect_channel(db, target)
    assert exp.deleted["messages"] and exp.deleted["webhook_subscriptions"]
    rules = db.ids("automation_rules", "channel_id", [target])
    run_and_check(demo, "channel", [("channel_id", target)], exp, db)
    after = demo.snapshot()
    assert after["channels"][target] == db.snap["channels"][target], "the channel row stays"
    for r in rules:
        assert r in after["automation_rules"], "automation_rules are not in this scope"
    for c in chans:
        assert c in after["channels"]


@BOTH
def test_plan_order_all_scopes(demo):
    db = Db(demo)
    uid = pick_user(db)
    fb = user_channels(db, uid, "facebook")[0]
    for scope, ident in (("account", ("user_id", uid)),
                         ("meta", ("meta_asid", db.value("channels", fb, "platform_user_id"))),
                         ("channel", ("channel_id", fb))):
        check_order(demo.plan(scope, ident))


@BOTH
@pytest.mark.parametrize("batch", [1, 3])
def test_batch_limits_rows_per_transaction(demo, batch):
    """--batch N: at most N rows per transaction (erase --help: "rows per transaction")."""
    db = Db(demo)
    uid = pick_user(db)
    exp = expect_account(db, uid)
    summary = demo.erase("account", ("user_id", uid), batch=batch)
    rows = rows_by_table(summary)
    assert rows == exp.counts()
    need = sum(-(-n // batch) for n in rows.values())
    assert summary["transactions"] >= need, (
        "%d rows in %d transactions with --batch %d (at least %d needed)" % (
            sum(rows.values()), summary["transactions"], batch, need))
    check_rows(db.snap, demo.snapshot(), exp)


@BOTH
@pytest.mark.parametrize("value", ["x' OR '1'='1", "1 OR 1=1", "%", "user1@example.com'--",
                                   "user1@example.com\" OR \"\"=\""])
def test_identity_value_is_data_not_sql(demo, value):
    """Identity values are bound parameters: quotes and wildcards match nothing."""
    before = demo.snapshot()
    files = demo.media_files()
    kind = "user_id" if value.startswith("1") else "email"
    summary = demo.erase("account", (kind, value))
    assert all(s["rows"] == 0 for s in summary["steps"]), summary["steps"]
    assert demo.snapshot() == before
    assert demo.media_files() == files


def test_too_many_or_too_long_ids_exit_2(demo):
    before = demo.snapshot()
    code, out, err = demo.lethe("erase", "--scope", "account", "--id", "email=" + "a" * 5000)
    assert code == 2, err
    many = []
    for i in range(100):
        many += ["--id", "email=nobody%d@example.com" % i]
    code, out, err = demo.lethe("erase", "--scope", "account", *many)
    assert code == 2, err
    assert demo.snapshot() == before


# ---- media files ------------------------------------------------------------------


def person_media(db, uid):
    return sorted(db.ids("media", "project_id", db.ids("projects", "user_id", [uid])))


@BOTH
def test_media_keys_outside_the_media_root_are_not_followed(demo, tmp_path):
    """storage_key values that climb out of media_root (../, absolute paths) or are
    symlinks: lethe removes nothing outside media_root."""
    db = Db(demo)
    uid = pick_user(db)
    media = person_media(db, uid)
    assert len(media) >= 3
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / ("victim%d.txt" % i) for i in range(3)]
    for v in victims:
        v.write_text("not lethe's to delete\n")
    link_key = db.value("media", media[2], "storage_key")
    (demo.media / link_key).unlink()
    os.symlink(str(victims[2]), str(demo.media / link_key))
    demo.execute("UPDATE media SET storage_key = ? WHERE id = ?",
                 (os.path.relpath(str(victims[0]), str(demo.media)), media[0]))
    demo.execute("UPDATE media SET storage_key = ? WHERE id = ?", (str(victims[1]), media[1]))
    code, out, err = demo.lethe("erase", "--json", "--scope", "account", "--id",
                                "user_id=%d" % uid)
    assert code in (0, 1), err
    for v in victims:
        assert v.read_text() == "not lethe's to delete\n", v
    assert not os.path.lexists(str(demo.media / link_key)) or code != 0


@BOTH
def test_unremovable_media_file_is_not_forgotten(demo):
    """A media file that cannot be removed must not be silently left behind: either
    the erasure fails (exit 1, run again) or running it again removes the file."""
    db = Db(demo)
    uid = pick_user(db)
    key = db.value("media", person_media(db, uid)[0], "storage_key")
    path = demo.media / key
    content = path.read_bytes()
    path.unlink()
    (path / "blocker").mkdir(parents=True)       # unlink() of a non-empty directory fails
    code, out, err = demo.lethe("erase", "--json", "--scope", "account", "--id",
                                "user_id=%d" % uid)
    assert code in (0, 1), err
    if code == 0:
        summary = json.loads(out)
        media = [s for s in summary["steps"] if s["table"] == "media"][0]
        assert media["media_failed"] == 1, "a file that was not removed must be reported"
    first_code = code
    # The obstacle goes away (the file is back as a plain file); run the same erasure.
    shutil.rmtree(str(path))
    path.write_bytes(content)
    code, out, err = demo.lethe("erase", "--json", "--scope", "account", "--id",
                                "user_id=%d" % uid)
    assert code == 0, err
    assert not path.exists(), (
        "the person's media file %s is still on disk: the first run exited %d and the "
        "re-run did not retry the removal" % (key, first_code))
