# SPDX-License-Identifier: MIT
"""`lethe requests list|show|create|approve|refuse|cancel|retry|extend` on the demo.

Each subcommand has its own --help; --json prints the service's JSON (errors as
{"error": {"code", "message"}}); exit status 0 done, 1 no such request or a state that
does not allow the action, 2 a usage error (also: input the service refuses, such as an
unknown scope or a due date not later), and nothing changes on an error.  The operator's
requests are held for review by the test policy (requests_helpers.POLICIES), so they
stay where the command put them.
"""
import re

import pytest

from lethe_e2e import run_lethe
from requests_helpers import REQUEST_KEYS, cli_json, configure

SUBCOMMANDS = ("list", "show", "create", "approve", "refuse", "cancel", "retry", "extend")
UNKNOWN = "a" * 34


@pytest.fixture
def cfg(demo):
    configure(demo)
    return demo


def create(demo, *extra, user=1):
    code, out, err = cli_json(demo, "create", "--scope", "account", "--id",
                              "email=user%d@example.com" % user, *extra)
    assert code == 0, err
    assert REQUEST_KEYS <= set(out), out
    return out


def ids(demo, *args):
    code, out, err = cli_json(demo, "list", "--limit", "1000", *args)
    assert code == 0, err
    return [r["id"] for r in out["requests"]]


def assert_fails(result, want_exit, want_code):
    code, out, err = result
    assert code == want_exit, (code, out, err)
    assert out is not None and set(out) == {"error"}, out
    assert out["error"]["code"] == want_code, out
    assert err.startswith("lethe: error: "), err
    return out["error"]["message"]


def test_help_of_every_subcommand():
    code, out, err = run_lethe("requests", "--help")
    assert code == 0 and out.startswith("usage: lethe requests SUBCOMMAND"), out
    for sub in SUBCOMMANDS:
        assert re.search(r"^  %s +-c CONFIG" % sub, out, re.M), sub
        code, text, err = run_lethe("requests", sub, "--help")
        assert code == 0, err
        assert text.startswith("usage: lethe requests %s -c CONFIG" % sub), text
        assert "--json" in text and "Exit status" in text
    code, out, err = run_lethe("help", "requests")
    assert code == 0 and out.startswith("usage: lethe requests SUBCOMMAND")
    for args in ((), ("frob",), ("--json",)):
        code, out, err = run_lethe("requests", *args)
        assert code == 2, (args, err)
        assert "subcommand" in err and "usage: lethe requests" in err


def test_create_show_repeat_and_list(cfg):
    demo = cfg
    req = create(demo, "--notify", "person@example.com")
    code = req["id"]
    assert req["source"] == "operator" and req["policy"] == "operator-closure", req
    assert req["state"] == "awaiting_review" and req["kind"] == "erasure", req
    assert any(e["by"] == "cli" for e in req["events"]), req["events"]
    assert "user1@example.com" not in str(req) and "person@example.com" not in str(req)
    # A repeat resolves to the open request: same id, nothing new.
    again = create(demo)
    assert again["id"] == code
    assert ids(demo) == [code]
    rc, out, err = cli_json(demo, "show", code)
    assert rc == 0 and out["id"] == code and out["state"] == "awaiting_review", out
    # Human output: a block naming the code and state; the listing a table.
    rc, text, err = run_lethe("requests", "show", code, "-c", demo.config)
    assert rc == 0, err
    assert text.startswith("request " + code) and "awaiting_review" in text
    assert "user1@example.com" not in text
    rc, text, err = run_lethe("requests", "list", "-c", demo.config)
    assert rc == 0, err
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["ID", "KIND", "SCOPE", "SOURCE", "STATE"]
    assert len(lines) == 2 and lines[1].startswith(code) and "operator" in lines[1]

    for u in range(2, 6):
        create(demo, user=u)
    assert len(ids(demo)) == 5
    assert len(ids(demo, "--state", "awaiting_review", "--source", "operator")) == 5
    assert ids(demo, "--state", "completed") == []
    assert ids(demo, "--source", "app") == []
    assert len(ids(demo, "--due-within", "3650d")) == 5
    assert ids(demo, "--due-within", "1h") == []  # the policy's deadline is 30 days
    # Pages of two, by cursor, until "next" is null.
    seen, cursor = [], None
    for _ in range(4):
        extra = ("--cursor", cursor) if cursor else ()
        rc, page, err = cli_json(demo, "list", "--limit", "2", *extra)
        assert rc == 0, err
        seen += [r["id"] for r in page["requests"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert cursor is None and sorted(seen) == sorted(ids(demo)) and len(seen) == 5
    rc, text, err = run_lethe("requests", "list", "-c", demo.config, "--limit", "2")
    assert rc == 0 and text.splitlines()[-1].startswith("more: add --cursor "), text


@pytest.mark.parametrize("args,want_exit,want_code", [
    (("create", "--scope", "account"), 2, "usage"),
    (("create", "--id", "email=user1@example.com"), 2, "usage"),
    (("create", "--scope", "account", "--id", "email"), 2, "usage"),
    (("create", "--scope", "no_such_scope", "--id", "email=user1@example.com"), 2, "usage"),
    (("create", "--scope", "account", "--id", "no_such_kind=x"), 2, "usage"),
    (("create", "--scope", "account", "--id", "email=user1@example.com", "--kind", "nope"), 2,
     "usage"),
    (("list", "--limit", "0"), 2, "usage"),
    (("list", "--limit", "1001"), 2, "usage"),
    (("list", "--due-within", "soon"), 2, "usage"),
    (("list", "--state", "nope"), 2, "usage"),
    (("list", "--cursor", "garbage"), 2, "usage"),
    (("show",), 2, "usage"),
    (("show", "not-a-code"), 2, "usage"),
    (("show", UNKNOWN), 1, "not_found"),
    (("refuse", UNKNOWN), 2, "usage"),
    (("refuse", UNKNOWN, "--reason", "r"), 1, "not_found"),
    (("approve", UNKNOWN), 1, "not_found"),
    (("cancel", UNKNOWN), 1, "not_found"),
    (("retry", UNKNOWN), 1, "not_found"),
    (("extend", UNKNOWN, "--by", "14d"), 2, "usage"),
    (("extend", UNKNOWN, "--reason", "r"), 2, "usage"),
    (("extend", UNKNOWN, "--by", "14d", "--due", "2999-01-01", "--reason", "r"), 2, "usage"),
    (("extend", UNKNOWN, "--by", "fortnight", "--reason", "r"), 2, "usage"),
    (("extend", UNKNOWN, "--due", "someday", "--reason", "r"), 2, "usage"),
    (("extend", UNKNOWN, "--by", "14d", "--reason", "r"), 1, "not_found"),
])
def test_errors_exit_status_and_change_nothing(cfg, args, want_exit, want_code):
    demo = cfg
    msg = assert_fails(cli_json(demo, *args), want_exit, want_code)
    assert "user1@example.com" not in msg and UNKNOWN not in msg
    assert ids(demo) == []


def test_actions_and_the_states_that_refuse_them(cfg):
    demo = cfg
    a = create(demo, user=1)["id"]
    b = create(demo, user=2)["id"]
    due = create(demo, user=1)["due_at"]

    # refuse needs a reason; a reason over 500 bytes is refused by the service.
    assert_fails(cli_json(demo, "refuse", a), 2, "usage")
    assert_fails(cli_json(demo, "refuse", a, "--reason", "x" * 501), 2, "usage")
    # extend: a due date not later is refused; --by moves it on from the current one.
    assert_fails(cli_json(demo, "extend", a, "--due", "2001-01-01", "--reason", "r"), 2, "usage")
    rc, out, err = cli_json(demo, "extend", a, "--by", "14d", "--reason", "backlog")
    assert rc == 0, err
    assert out["due_at"] > due and out["events"][-1]["by"] == "cli", out
    assert out["events"][-1].get("reason") == "backlog"
    # retry is for failed requests only.
    msg = assert_fails(cli_json(demo, "retry", a), 1, "conflict")
    assert "awaiting_review" in msg

    rc, out, err = cli_json(demo, "refuse", a, "--reason", "open invoice dispute")
    assert rc == 0 and out["state"] == "refused" and out["reason"] == "open invoice dispute"
    for args in (("refuse", a, "--reason", "again"), ("approve", a), ("cancel", a),
                 ("retry", a), ("extend", a, "--by", "1d", "--reason", "r")):
        msg = assert_fails(cli_json(demo, *args), 1, "conflict")
        assert "refused" in msg
    rc, out, err = cli_json(demo, "show", a)
    assert out["state"] == "refused"

    rc, out, err = cli_json(demo, "approve", b)
    assert rc == 0 and out["state"] in ("received", "scheduled"), out
    assert_fails(cli_json(demo, "approve", b), 1, "conflict")
    rc, out, err = cli_json(demo, "cancel", b, "--reason", "asked by phone")
    assert rc == 0 and out["state"] == "cancelled", out
    # Human output of an action: the request's block.
    c = create(demo, user=3)["id"]
    rc, text, err = run_lethe("requests", "cancel", c, "-c", demo.config)
    assert rc == 0 and text.startswith("request " + c) and "cancelled" in text, text
