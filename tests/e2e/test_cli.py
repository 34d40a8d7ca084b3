# SPDX-License-Identifier: MIT
"""The command line: help, usage errors and their exit codes, JSON errors, `lethe demo`."""
import json
import sqlite3

import pytest

from lethe_e2e import (
    file_sha256,
    id_args,
    make_demo,
    media_files,
    query,
    rows_by_table,
    snapshot,
)

DEMO_OPTIONS = ["--users", "6", "--seed", "3"]
COMMANDS = ["demo", "plan", "erase"]


def error_message(stderr):
    """The text after 'lethe: error: ' on stderr."""
    for line in stderr.splitlines():
        if line.startswith("lethe: error: "):
            return line[len("lethe: error: "):]
    raise AssertionError("no 'lethe: error:' line on stderr: %r" % stderr)


# ---- help and usage -------------------------------------------------------


@pytest.mark.parametrize("arg", ["--help", "-h", "help"])
def test_help_top_level(run_lethe, arg):
    code, out, err = run_lethe(arg)
    assert code == 0
    assert out.startswith("usage: lethe COMMAND")
    for cmd in COMMANDS:
        assert "\n  %s " % cmd in out
    assert err == ""


def test_no_command_prints_usage_exit_2(run_lethe):
    code, out, err = run_lethe()
    assert code == 2
    assert out == ""
    assert err.startswith("usage: lethe COMMAND")


@pytest.mark.parametrize("arg", ["version", "--version"])
def test_version(run_lethe, arg):
    code, out, err = run_lethe(arg)
    assert code == 0
    assert out.startswith("lethe ")
    assert out.strip().split()[1][0].isdigit()


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_command_help(run_lethe, cmd, flag):
    code, out, err = run_lethe(cmd, flag)
    assert code == 0, err
    assert out.startswith("usage: lethe %s " % cmd)
    assert "--help" in out
    assert err == ""


def test_erase_help_documents_exit_codes(run_lethe):
    code, out, _ = run_lethe("erase", "--help")
    assert code == 0
    for word in ("--scope", "--id", "--batch", "--json", "--quiet", "--no-progress"):
        assert word in out


def test_unknown_command_exit_2(run_lethe):
    code, out, err = run_lethe("frobnicate", "--json")
    assert code == 2
    assert out == ""
    assert "unknown command 'frobnicate'" in err
    assert "usage: lethe COMMAND" in err


@pytest.mark.parametrize("cmd", COMMANDS)
def test_unknown_option_exit_2(run_lethe, cmd):
    code, out, err = run_lethe(cmd, "--no-such-option")
    assert code == 2
    assert "usage: lethe %s" % cmd in err


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_missing_scope_exit_2(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "-c", demo.config, "--id", "email=user1@example.com")
    assert code == 2
    assert "--scope" in error_message(err)


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_missing_id_exit_2(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "-c", demo.config, "--scope", "account")
    assert code == 2
    assert "--id" in error_message(err)


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_missing_config_option_exit_2(run_lethe, cmd):
    code, out, err = run_lethe(cmd, "--scope", "account", "--id", "email=user1@example.com")
    assert code == 2
    assert "-c" in error_message(err)


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_unexpected_argument_exit_2(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "-c", demo.config, "--scope", "account", "--id",
                               "email=user1@example.com", "stray")
    assert code == 2
    assert "stray" in error_message(err)


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_unknown_scope_exit_2(run_lethe, demo, cmd):
    before = file_sha256(demo.db)
    code, out, err = run_lethe(cmd, "-c", demo.config, "--scope", "everything", "--id",
                               "email=user1@example.com")
    assert code == 2
    msg = error_message(err)
    assert "unknown scope 'everything'" in msg
    assert file_sha256(demo.db) == before
    assert not demo.state_db.exists(), "a usage error must not start a job"


@pytest.mark.parametrize("cmd", ["plan", "erase"])
@pytest.mark.parametrize("scope,kind,accepted", [
    ("meta", "email", ["meta_asid", "instagram_user_id"]),
    ("meta", "user_id", ["meta_asid", "instagram_user_id"]),
    ("account", "meta_asid", ["email", "user_id"]),
    ("channel", "email", ["channel_id"]),
])
def test_identity_kind_not_accepted_exit_2(run_lethe, demo, cmd, scope, kind, accepted):
    before = file_sha256(demo.db)
    code, out, err = run_lethe(cmd, "-c", demo.config, "--scope", scope, "--id",
                               "%s=1" % kind)
    assert code == 2
    msg = error_message(err)
    assert "'%s'" % kind in msg
    assert scope in msg
    for a in accepted:
        assert a in msg, "the message should name the accepted kind %s: %s" % (a, msg)
    assert file_sha256(demo.db) == before
    assert not demo.state_db.exists()


@pytest.mark.parametrize("cmd", ["plan", "erase"])
@pytest.mark.parametrize("args,says", [
    (["--id", "email=user1@example.com"], "--scope is required"),
    (["--scope", "account"], "at least one --id KIND=VALUE is required"),
    (["--scope", "account", "--id", "email=user1@example.com", "extra"],
     "unexpected argument 'extra'"),
])
def test_missing_target_or_extra_operand_exit_2(run_lethe, demo, cmd, args, says):
    before = file_sha256(demo.db)
    code, out, err = run_lethe(cmd, "-c", demo.config, *args)
    assert code == 2
    assert error_message(err) == says
    assert file_sha256(demo.db) == before
    assert not demo.state_db.exists()


@pytest.mark.parametrize("cmd", ["plan", "erase"])
@pytest.mark.parametrize("bad", ["email", "=user1@example.com", "email=", "e mail=x",
                                 "1email=x"])
def test_bad_id_exit_2(run_lethe, demo, cmd, bad):
    code, out, err = run_lethe(cmd, "-c", demo.config, "--scope", "account", "--id", bad)
    assert code == 2
    assert "--id" in error_message(err)


def test_id_without_equals_names_the_form(run_lethe, demo):
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "user1@example.com")
    assert code == 2
    assert "KIND=VALUE" in error_message(err)


@pytest.mark.parametrize("batch", ["0", "-1", "abc", "10x", "1000001", ""])
def test_erase_bad_batch_exit_2(run_lethe, demo, batch):
    before = file_sha256(demo.db)
    code, out, err = run_lethe("erase", "-c", demo.config, "--scope", "account", "--id",
                               "email=user1@example.com", "--batch", batch)
    assert code == 2
    assert "--batch" in error_message(err)
    assert file_sha256(demo.db) == before


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_missing_config_file_exit_3(run_lethe, tmp_path, cmd):
    missing = tmp_path / "nowhere" / "lethe.yaml"
    code, out, err = run_lethe(cmd, "-c", missing, "--scope", "account", "--id",
                               "email=user1@example.com")
    assert code == 3
    assert str(missing) in error_message(err)
    assert out == ""


def test_config_pointing_to_missing_datamap_exit_3(run_lethe, demo):
    demo.datamap.unlink()
    code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 3
    assert "datamap.yaml" in error_message(err)


def test_config_unknown_key_exit_3(run_lethe, demo):
    text = demo.config.read_text()
    demo.config.write_text(text.replace("datamap: datamap.yaml", "datamapp: datamap.yaml"))
    code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 3
    assert "datamapp" in error_message(err)


# ---- JSON errors --------------------------------------------------------------


def check_json_error(out, err, code_name):
    doc = json.loads(out)
    assert set(doc) == {"error"}
    assert set(doc["error"]) == {"code", "message"}
    assert doc["error"]["code"] == code_name
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    assert doc["error"]["message"] == error_message(err)
    return doc["error"]


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_json_error_usage(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "--json", "-c", demo.config, "--scope", "meta", "--id",
                               "email=user1@example.com")
    assert code == 2
    e = check_json_error(out, err, "usage")
    assert "meta_asid" in e["message"] and "instagram_user_id" in e["message"]


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_json_error_unknown_scope(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "--json", "-c", demo.config, "--scope", "nope", "--id",
                               "email=user1@example.com")
    assert code == 2
    check_json_error(out, err, "usage")


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_json_error_missing_scope(run_lethe, demo, cmd):
    code, out, err = run_lethe(cmd, "--json", "-c", demo.config, "--id",
                               "email=user1@example.com")
    assert code == 2
    check_json_error(out, err, "usage")


@pytest.mark.parametrize("cmd", ["plan", "erase"])
def test_json_error_missing_config(run_lethe, tmp_path, cmd):
    code, out, err = run_lethe(cmd, "--json", "-c", tmp_path / "missing.yaml", "--scope",
                               "account", "--id", "email=user1@example.com")
    assert code == 3
    check_json_error(out, err, "config")


def test_json_error_bad_datamap(run_lethe, demo):
    text = demo.datamap.read_text()
    demo.datamap.write_text(text.replace("    erase: delete\n", "    eras: delete\n", 1))
    code, out, err = demo.lethe("erase", "--json", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 3
    check_json_error(out, err, "datamap")


@pytest.mark.parametrize("args", [
    ["import-meta-ids", "--json", "-c", "x.yaml", "ids.txt"],
    ["import-meta-ids", "-c", "x.yaml", "--app", "facebook", "--json"],
    ["plan", "--bogus", "--json"],
    ["plan", "-c", "x.yaml", "--scope", "account", "--id", "bad", "--json"],
    ["erase", "-c", "x.yaml", "--scope", "account", "--id", "email=a@b.c", "--batch", "0",
     "--json"],
    ["sweep", "-c", "x.yaml", "--json"],
    ["disconnect", "-c", "x.yaml", "--channel", "abc", "--json"],
    ["jobs", "-c", "x.yaml", "--state", "bogus", "--json"],
])
def test_json_usage_error_wherever_json_is(run_lethe, args):
    """Command-line errors are JSON with --json, even when --json comes after them."""
    code, out, err = run_lethe(*args)
    assert code == 2, err
    check_json_error(out, err, "usage")


def test_no_json_no_stdout_on_error(run_lethe, demo):
    code, out, err = demo.lethe("erase", "--scope", "nope", "--id", "email=user1@example.com")
    assert code == 2
    assert out == ""


# ---- plan and erase outputs -------------------------------------------------------


def test_plan_changes_nothing(run_lethe, demo):
    before = file_sha256(demo.db)
    files = media_files(demo.media)
    for fmt in ([], ["--json"]):
        code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                    "email=user1@example.com", *fmt)
        assert code == 0, err
    assert file_sha256(demo.db) == before
    assert media_files(demo.media) == files
    assert not demo.state_db.exists(), "plan must not write the state store"


def test_plan_text_lists_every_table(run_lethe, demo):
    code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 0, err
    assert "account" in out
    for t in ("users", "projects", "invoices", "request_logs", "media"):
        assert t in out


def test_erase_quiet_prints_nothing(run_lethe, demo):
    code, out, err = demo.lethe("erase", "--quiet", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 0, err
    assert out == ""
    assert query(demo.db, "SELECT count(*) FROM users WHERE email = 'user1@example.com'") \
        == [(0,)]


def test_erase_text_summary(run_lethe, demo):
    code, out, err = demo.lethe("erase", "--no-progress", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 0, err
    assert "completed" in out
    assert "invoices" in out and "users" in out


def test_erase_json_summary_shape(run_lethe, demo):
    code, out, err = demo.lethe("erase", "--json", "--scope", "account", "--id",
                                "email=user1@example.com")
    assert code == 0, err
    doc = json.loads(out)
    for k in ("job", "state", "resumed", "elapsed_ms", "max_transaction_ms", "transactions",
              "steps"):
        assert k in doc
    assert isinstance(doc["job"], int) and doc["job"] > 0
    assert doc["state"] in ("completed", "completed_with_retention")
    assert doc["resumed"] is False
    assert doc["transactions"] > 0
    for s in doc["steps"]:
        assert {"table", "category", "action", "rows"} <= set(s)
        assert s["action"] in ("delete", "anonymize", "retain")
        if s["action"] == "retain":
            assert s["reason"]
        if s["table"] == "media":
            assert "media_files" in s


# ---- several --id --------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["plan", "erase"])
@pytest.mark.parametrize("ids,first,second", [
    (["email=user1@example.com", "email=user2@example.com"], "1 (email)", "2 (email)"),
    (["email=user1@example.com", "user_id=2"], "1 (email)", "2 (user_id)"),
    (["user_id=1", "email=user1@example.com", "email=user3@example.com"], "1 (user_id)",
     "3 (email)"),
])
def test_ids_of_different_people_are_refused(run_lethe, demo, cmd, ids, first, second):
    """Two people in one command used to be planned and erased together."""
    before = snapshot(demo.db)
    for fmt in ([], ["--json"]):
        code, out, err = demo.lethe(cmd, "--scope", "account", *id_args(ids), *fmt)
        assert code == 2, (code, out, err)
        msg = error_message(err)
        assert msg == ("--id %s and --id %s name different people; give the identities of "
                       "one person, or run one command per person" % (first, second)), msg
        for i in ids:  # (user ids are digits the message has anyway)
            v = i.split("=", 1)[1]
            assert len(v) < 3 or v not in err + out, "the message names an identifier"
        if fmt:
            assert json.loads(out)["error"]["code"] == "usage"
    assert snapshot(demo.db) == before
    assert not demo.state_db.exists() or demo.state("SELECT count(*) FROM jobs") == [(0,)]
    # A usage error, found before anything is opened: no state store, no key.
    assert not demo.state_db.exists()


def test_meta_ids_of_two_accounts_are_refused(run_lethe, demo):
    """An Instagram id and a Facebook id meet at their account's users row (through
    channels and projects): one account's go together, two accounts' are refused."""
    def meta_id(platform, uid):
        return query(demo.db, "SELECT c.platform_user_id FROM channels c JOIN projects p "
                              "ON p.id = c.project_id WHERE p.user_id = ? AND c.platform = ? "
                              "ORDER BY c.id LIMIT 1", (uid, platform))[0][0]

    ig1, fb1, fb2 = meta_id("instagram", 1), meta_id("facebook", 1), meta_id("facebook", 2)
    before = snapshot(demo.db)
    code, out, err = demo.lethe("erase", "--scope", "meta", "--id", "instagram_user_id=" + ig1,
                                "--id", "meta_asid=" + fb2)
    assert code == 2, err
    assert error_message(err).startswith("--id 1 (instagram_user_id) and --id 2 (meta_asid) "
                                         "name different people")
    assert ig1 not in err and fb2 not in err
    assert snapshot(demo.db) == before
    plan = demo.plan("meta", ("instagram_user_id", ig1), ("meta_asid", fb1))
    assert rows_by_table(plan)["channels"] == 2


def test_ids_of_one_person_are_accepted(run_lethe, demo):
    """An email and the user id of the same account; an id that matches nobody adds
    nothing; run again once everything is gone, they still go together."""
    ids = ["email=user1@example.com", "user_id=1", "email=nobody@example.com"]
    plan = demo.plan("account", *ids)
    assert rows_by_table(plan)["users"] == 1
    assert plan == demo.plan("account", "email=user1@example.com")
    for _ in range(2):
        code, out, err = demo.lethe("erase", "--quiet", "--scope", "account", *id_args(ids))
        assert code == 0, err
    assert query(demo.db, "SELECT count(*) FROM users WHERE id IN (1, 2)") == [(1,)]


# ---- lethe demo ---------------------------------------------------------------


def test_demo_writes_everything(demo_template):
    d = demo_template
    for p in (d.db, d.datamap, d.config, d.key_file, d.media):
        assert p.exists(), p
    assert len(d.key_file.read_text().strip()) == 64
    emails = [r[0] for r in query(d.db, "SELECT email FROM users ORDER BY id")]
    assert emails == ["user%d@example.com" % i for i in range(1, 7)]
    keys = {r[0] for r in query(d.db, "SELECT storage_key FROM media")}
    assert keys, "the demo has media rows"
    assert media_files(d.media) == keys, "exactly one file per media row"


def test_demo_refuses_existing_app_db(run_lethe, demo):
    before = file_sha256(demo.db)
    files = media_files(demo.media)
    code, out, err = run_lethe("demo", "--dir", demo.dir, "--quiet")
    assert code == 2
    assert "already exists" in error_message(err)
    assert file_sha256(demo.db) == before
    assert media_files(demo.media) == files


@pytest.mark.parametrize("args", [["--users", "0"], ["--users", "x"], ["--seed", "-1"],
                                  ["--heavy", "0"], ["--heavy", "many"]])
def test_demo_bad_numbers_exit_2(run_lethe, tmp_path, args):
    code, out, err = run_lethe("demo", "--dir", tmp_path / "d", "--quiet", *args)
    assert code == 2
    assert not (tmp_path / "d" / "app.db").exists()


def test_demo_missing_dir_exit_2(run_lethe):
    code, out, err = run_lethe("demo", "--quiet")
    assert code == 2
    assert "--dir" in err


def dump(db):
    con = sqlite3.connect(str(db))
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_demo_determinism(run_lethe, tmp_path):
    opts = ["--users", "8", "--heavy", "300"]
    a = make_demo(tmp_path / "a", opts + ["--seed", "42"])
    b = make_demo(tmp_path / "b", opts + ["--seed", "42"])
    c = make_demo(tmp_path / "c", opts + ["--seed", "43"])
    da, db_, dc = dump(a.db), dump(b.db), dump(c.db)
    assert da == db_, "same seed, different databases"
    assert da != dc, "a different seed gives the same database"
    # The files and the key are deterministic too.
    fa = media_files(a.media)
    assert fa == media_files(b.media)
    for f in fa:
        assert file_sha256(a.media / f) == file_sha256(b.media / f)
    assert a.key_file.read_bytes() == b.key_file.read_bytes()
    assert a.key_file.read_bytes() != c.key_file.read_bytes()


def test_demo_heavy_keeps_ordinary_users(run_lethe, tmp_path):
    """The heavy user is generated last: ordinary users' rows do not depend on it."""
    a = make_demo(tmp_path / "a", ["--users", "4"])
    b = make_demo(tmp_path / "b", ["--users", "4", "--heavy", "500"])
    sa, sb = snapshot(a.db), snapshot(b.db)
    for t, rows in sa.items():
        for k, row in rows.items():
            assert sb[t].get(k) == row, (t, k)
    heavy = query(b.db, "SELECT id FROM users WHERE email = 'heavy@example.com'")
    assert len(heavy) == 1
