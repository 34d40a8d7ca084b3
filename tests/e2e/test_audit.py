# SPDX-License-Identifier: MIT
"""The audit chain through the real binary: `lethe serve` records every request
transition and erasure step in it, signs checkpoints of its head and publishes the
latest at /.well-known/lethe/audit-head.json with its keys at keys.json; `lethe audit
verify` finds every kind of tampering with the state store's file (an edited entry, a
deleted tail, two swapped entries, a missing entry, a forged checkpoint signature, a
chain rewritten under a checkpoint, a tail deleted with its checkpoints when a head
published earlier is given) and names the entry.  The published head verifies with
Python's `cryptography` (an Ed25519 implementation other than lethe's); the chain's
hashes are recomputed in Python; no entry holds the test people's e-mail addresses,
names, Meta ids or the reason typed by the operator; rotated keys keep old checkpoints
verifiable.  An edited column of an entry (state, request_id) is named, a checkpoint
is not signed over entries that do not chain, entries no checkpoint covered in time are
warnings (exit 0), and a Meta request run again shows its second run in the chain.
"""
import base64
import hashlib
import json
import re
import shutil
import sqlite3
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lethe_e2e import copy_demo, query, run_lethe
from requests_helpers import ADMIN_KEY, APP_KEY, call, configure, create_body
from serve_helpers import (IG_SECRET, TSCALE, Server, ig_id, servers, sign_py,  # noqa: F401
                           stop_ok)
from test_serve_rerun import project_of, reconnect, wait_rerun

# An app's erasure runs at once; an operator's waits for review (and is refused).
POLICIES = """requests:
  policies:
    - name: app-now
      kind: erasure
      scope: account
      sources: [app]
      deadline: 30d
    - name: operator-review
      kind: erasure
      scope: account
      sources: [operator]
      review: true
      deadline: 30d
"""
PROOF = "proof:\n  checkpoint_interval: 1s\n"
REASON = "user3@example.com phoned: Demo User 3 keeps the account"
EDIT_LINE = "entry %d: its hash does not match its contents (edited, or entries reordered)"


def configure_audit(demo, proof=PROOF):
    configure(demo, policies=POLICIES)
    demo.config.write_text(demo.config.read_text().rstrip("\n") + "\n" + proof)


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def app_state(s, code):
    status, _, body = call(s, "GET", "/v1/requests/" + code)
    assert status == 200, body
    return body["state"]


def get_json(s, path):
    status, hdrs, data = s.get(path)
    return status, hdrs, json.loads(data) if data else None


def entries(demo):
    return query(demo.state_db, "SELECT seq, request_id, type, state, body, hash FROM audit "
                                "ORDER BY seq")


def verify(demo, *extra):
    return run_lethe("audit", "verify", "-c", demo.config, *extra)


@pytest.fixture(scope="module")
def chain(demo_template, tmp_path_factory, lethe_bin):
    """A demo whose chain holds an app's erasure (user 1), a Meta erasure (user 2) and
    a refused operator request (user 3), with the head published while serving."""
    demo = copy_demo(demo_template.dir, tmp_path_factory.mktemp("chain") / "demo")
    configure_audit(demo)
    people = {i: query(demo.db, "SELECT email, name FROM users WHERE id = ?", (i,))[0]
              for i in (1, 2, 3)}
    s = Server(demo.config, demo.dir / "serve.stderr")
    try:
        status, _, body = call(s, "POST", "/v1/requests", body=create_body(user=1))
        assert status == 201, body
        app_code = body["id"]
        wait_for(lambda: app_state(s, app_code) in ("completed", "completed_with_retention"),
                 "the app's erasure")
        meta = s.deletion("instagram", sign_py(IG_SECRET, ig_id(2)))
        s.wait_completed(meta["confirmation_code"], timeout=10)
        code, out, err = run_lethe("requests", "create", "-c", demo.config, "--scope",
                                   "account", "--id", "email=user3@example.com", "--json")
        assert code == 0, err
        op_code = json.loads(out)["id"]
        status, _, body = call(s, "POST", "/v1/admin/requests/%s/refuse" % op_code,
                               key=ADMIN_KEY, body={"reason": REASON})
        assert status == 200, body
        last = demo.state("SELECT max(seq) FROM audit")[0][0]
        head = wait_for(lambda: (lambda r: r[2] if r[0] == 200 and r[2]["head"]["seq"] >= last
                                 else None)(get_json(s, "/.well-known/lethe/audit-head.json")),
                        "a checkpoint of entry %d" % last)
        status, _, keys = get_json(s, "/.well-known/lethe/keys.json")
        assert status == 200, keys
        stop_ok(s)
    finally:
        s.kill()
    return {"demo": demo, "head": head, "keys": keys, "people": people,
            "ig_id": ig_id(2), "codes": (app_code, meta["confirmation_code"], op_code)}


@pytest.fixture
def copy(chain, tmp_path):
    """A private copy of the chain's demo, to tamper with."""
    return copy_demo(chain["demo"].dir, tmp_path / "demo")


def sql(demo, text):
    con = sqlite3.connect(str(demo.state_db))
    try:
        con.executescript(text)
        con.commit()
    finally:
        con.close()


def broken(demo, *extra):
    """`lethe audit verify` of a tampered store: exit 1; its break lines."""
    code, out, err = verify(demo, *extra)
    assert code == 1, (code, out, err)
    assert "the audit chain is broken" in err, err
    return out.strip().splitlines()


# ---- what serving records ----------------------------------------------------------

def test_serve_records_transitions_and_erase_steps(chain):
    demo = chain["demo"]
    rows = entries(demo)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    states = {}
    steps = {}
    for seq, rid, typ, state, body, _ in rows:
        b = json.loads(body)
        assert b["seq"] == seq and b["type"] == typ, body
        assert body == json.dumps(b, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False), "not canonical: " + body
        if typ == "request":
            states.setdefault(rid, []).append(state)
            assert b["state"] == state and b["request"] == rid
        elif typ == "erase_step":
            steps.setdefault(rid, {})[b["table"]] = b
    app_id, meta_id, op_id = sorted(states)
    # The app's request from its first state to completed; Meta's from running.
    assert states[app_id][-1] in ("completed", "completed_with_retention"), states
    assert "running" in states[app_id], states
    assert states[meta_id][0] == "running", states
    assert states[meta_id][-1] in ("completed", "completed_with_retention"), states
    assert states[op_id] == ["awaiting_review", "refused"], states
    # Each erasure's steps, with the rows they removed.
    assert steps[app_id]["users"]["rows"] == 1 and steps[app_id]["users"]["action"] in (
        "delete", "anonymize"), steps[app_id]
    assert sum(s["rows"] for s in steps[meta_id].values()) > 0, steps[meta_id]
    assert "channels" in steps[meta_id], steps[meta_id]
    # The refusal's reason is only a keyed hash.
    refused = [json.loads(r[4]) for r in rows if r[3] == "refused"][0]
    assert re.match(r"^anon:[0-9a-f]{32}$", refused["reason_mac"]), refused
    assert "reason" not in refused
    # lethe serve signed a last checkpoint of the head as it stopped; the chain is whole.
    cps = query(demo.state_db, "SELECT seq FROM audit_checkpoints ORDER BY seq")
    assert cps and cps[-1][0] == rows[-1][0], cps
    code, out, err = verify(demo)
    assert code == 0, (out, err)
    assert out.startswith("the audit chain is whole: %d entries" % len(rows)), out
    code, out, err = verify(demo, "--json")
    assert code == 0 and json.loads(out)["ok"] is True and json.loads(out)["breaks"] == []


def test_no_personal_data_in_the_chain(chain):
    demo = chain["demo"]
    raw = b"".join(bytes(r[0], "utf-8") for r in query(demo.state_db, "SELECT body FROM audit"))
    secrets = [REASON, "phoned", chain["ig_id"]]
    for email, name in chain["people"].values():
        secrets += [email, name]
    for s in secrets:
        assert s.encode() not in raw, "%r is in the audit chain" % s
    # The request's own codes are not in it either (they open its status page).
    for code in chain["codes"]:
        assert code.encode() not in raw


def test_published_head_verifies_with_cryptography(chain):
    demo, head, keys = chain["demo"], chain["head"], chain["keys"]
    assert set(head) == {"head", "signature"}
    assert set(head["head"]) == {"at", "hash", "seq", "type"}
    assert head["head"]["type"] == "lethe-audit-head"
    assert head["signature"]["alg"] == "Ed25519"
    by_id = {k["id"]: k for k in keys["keys"]}
    key = by_id[head["signature"]["key"]]
    assert key["current"] is True and key["alg"] == "Ed25519"
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public"]))
    msg = json.dumps(head["head"], sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False).encode()
    pub.verify(base64.b64decode(head["signature"]["value"]), msg)  # raises if bad
    # The chain recomputed here: BLAKE2b-256(previous || body), 32 zero bytes first.
    prev = bytes(32)
    hashes = {}
    for seq, _, _, _, body, h in entries(demo):
        prev = hashlib.blake2b(prev + body.encode(), digest_size=32).digest()
        assert prev == h, "entry %d" % seq
        hashes[seq] = prev.hex()
    assert hashes[head["head"]["seq"]] == head["head"]["hash"]
    # `lethe keys` prints the same document; the key id is BLAKE2b-256(pk)[:8].
    code, out, err = run_lethe("keys", "-c", demo.config)
    assert code == 0, err
    assert json.loads(out) == keys
    assert key["id"] == hashlib.blake2b(base64.b64decode(key["public"]),
                                        digest_size=32).digest()[:8].hex()


def test_head_is_404_before_the_first_checkpoint(demo, servers):
    configure_audit(demo)
    s = servers(demo)
    status, hdrs, body = get_json(s, "/.well-known/lethe/audit-head.json")
    assert status == 404, body
    assert hdrs["content-type"].startswith("application/json")
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    # The keys are public: no API key asked.
    status, _, keys = get_json(s, "/.well-known/lethe/keys.json")
    assert status == 200 and len(keys["keys"]) == 1, keys
    status, _, _ = s.request("POST", "/.well-known/lethe/keys.json", body=b"")
    assert status == 405
    stop_ok(s)
    # Nothing happened: nothing to sign at stop.
    assert demo.state("SELECT count(*) FROM audit_checkpoints")[0][0] == 0


def test_cli_erasure_is_in_the_chain(demo):
    """`lethe erase` (no request) records its steps as entries of no request."""
    summary = demo.erase("account", ("email", "user5@example.com"))
    rows = query(demo.state_db, "SELECT request_id, body FROM audit WHERE type = 'erase_step' "
                                "ORDER BY seq")
    assert len(rows) == len(summary["steps"]), (rows, summary)
    assert all(r[0] is None and json.loads(r[1])["request"] == 0 for r in rows), rows
    assert {json.loads(r[1])["table"]: json.loads(r[1])["rows"] for r in rows} == {
        s["table"]: s["rows"] for s in summary["steps"]}
    assert b"user5@example.com" not in b"".join(r[1].encode() for r in rows)
    code, out, err = run_lethe("keys", "generate", demo.dir / "var" / "signing.key")
    assert code == 0, err
    code, out, err = verify(demo)
    assert code == 0 and "%d entries" % len(rows) in out, (out, err)


def test_meta_repeat_shows_its_second_run(demo, servers):
    """A repeated finished Meta request goes received -> running -> completed again."""
    configure_audit(demo)
    uid = ig_id(1)
    project = project_of(demo.db, "instagram", uid)
    s = servers(demo)
    code = s.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    first, _ = s.wait_completed(code)
    time.sleep(1.1)  # the second run's receipt time differs from the first's
    reconnect(demo.db, "instagram", uid, project)
    assert s.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"] == code
    wait_rerun(s, code, first)
    stop_ok(s)
    rid = demo.state("SELECT id FROM requests WHERE code = ?", (code,))[0][0]
    rows = query(demo.state_db, "SELECT seq, state, body FROM audit WHERE request_id = ? AND "
                                "type = 'request' ORDER BY seq", (rid,))
    done = ("completed", "completed_with_retention")
    states = [r[1] for r in rows]
    assert len(states) == 5 and states[0] == "running" and states[1] in done, states
    assert states[2:4] == ["received", "running"] and states[4] in done, states
    assert [json.loads(r[2])["state"] for r in rows] == states
    # The steps of both runs are in it, and the chain is whole.
    steps = query(demo.state_db, "SELECT count(DISTINCT json_extract(body, '$.job')) FROM audit "
                                 "WHERE request_id = ? AND type = 'erase_step'", (rid,))[0][0]
    assert steps == 2, steps
    code_, out, err = verify(demo)
    assert code_ == 0, (out, err)


# ---- tampering, each named ---------------------------------------------------------

def test_edited_entry(copy):
    sql(copy, "UPDATE audit SET body = replace(body, '\"rows\":', '\"rows\":1') "
              "WHERE seq = (SELECT min(seq) FROM audit WHERE type = 'erase_step')")
    seq = query(copy.state_db, "SELECT min(seq) FROM audit WHERE type = 'erase_step'")[0][0]
    assert broken(copy) == [EDIT_LINE % seq]


def test_tail_deleted_below_a_checkpoint(copy):
    last = query(copy.state_db, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    sql(copy, "DELETE FROM audit WHERE seq > %d" % (last - 2))
    lines = broken(copy)
    assert len(lines) == 1, lines
    assert re.match(r"^checkpoint of entry %d \(signed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): "
                    r"the chain ends at entry %d: entries %d\.\.%d were deleted$"
                    % (last, last - 2, last - 1, last), lines[0]), lines


def test_swapped_entries(copy):
    sql(copy, "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4;"
              "UPDATE audit SET seq = 4 WHERE seq = -1")
    lines = broken(copy)
    assert lines[:2] == [EDIT_LINE % 3, EDIT_LINE % 4], lines


def test_missing_middle_entry(copy):
    sql(copy, "DELETE FROM audit WHERE seq = 5")
    assert broken(copy) == ["entry 5 is missing"]


def test_forged_checkpoint_signature(copy):
    last = query(copy.state_db, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    sig = query(copy.state_db, "SELECT sig FROM audit_checkpoints WHERE seq = ?", (last,))[0][0]
    forged = bytes([sig[0] ^ 1]) + sig[1:]
    con = sqlite3.connect(str(copy.state_db))
    con.execute("UPDATE audit_checkpoints SET sig = ? WHERE seq = ?", (forged, last))
    con.commit()
    con.close()
    assert broken(copy) == ["checkpoint of entry %d: signature does not verify" % last]


def test_chain_rewritten_under_a_checkpoint(copy):
    """Edit an entry and recompute every later hash: only the signed checkpoint tells."""
    last = query(copy.state_db, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    con = sqlite3.connect(str(copy.state_db))
    con.execute("UPDATE audit SET body = replace(body, '\"refused\"', '\"completed\"') "
                "WHERE state = 'refused'")
    con.execute("UPDATE audit SET state = 'completed' WHERE state = 'refused'")
    prev = bytes(32)
    for seq, body in con.execute("SELECT seq, body FROM audit ORDER BY seq").fetchall():
        prev = hashlib.blake2b(prev + body.encode(), digest_size=32).digest()
        con.execute("UPDATE audit SET hash = ? WHERE seq = ?", (prev, seq))
    con.commit()
    con.close()
    assert broken(copy) == ["checkpoint of entry %d: the chain's hash there is not the one "
                            "signed (entries up to %d were rewritten)" % (last, last)]


def test_tail_and_checkpoints_deleted_caught_by_a_published_head(chain, copy, tmp_path):
    seq = chain["head"]["head"]["seq"]
    sql(copy, "DELETE FROM audit WHERE seq > %d; DELETE FROM audit_checkpoints" % (seq - 3))
    code, out, err = verify(copy)
    assert code == 0, (out, err)  # nothing in the store tells any more
    path = tmp_path / "head.json"
    path.write_text(json.dumps(chain["head"]))
    lines = broken(copy, "--head", str(path))
    assert len(lines) == 1 and lines[0].startswith("published head of entry %d (signed " % seq)
    assert lines[0].endswith("the chain ends at entry %d: entries %d..%d were deleted"
                             % (seq - 3, seq - 2, seq)), lines
    # A head whose signature was tampered with is said to be one.
    bad = dict(chain["head"], head=dict(chain["head"]["head"], seq=seq + 1))
    path.write_text(json.dumps(bad))
    lines = broken(copy, "--head", str(path))
    assert "published head of entry %d: signature does not verify" % (seq + 1) in lines
    path.write_text("not json")
    code, out, err = verify(copy, "--head", str(path))
    assert code == 2, (code, out, err)


def test_edited_state_column(copy):
    """Only the column (body and hash kept): a receipt would point at another entry."""
    seq = query(copy.state_db, "SELECT seq FROM audit WHERE state = 'refused'")[0][0]
    sql(copy, "UPDATE audit SET state = 'completed' WHERE seq = %d" % seq)
    assert broken(copy) == ["entry %d: its columns do not match its body (state edited)"
                            % seq]


def test_edited_request_id_column(copy):
    seq, rid = query(copy.state_db, "SELECT seq, request_id FROM audit WHERE state = "
                                    "'refused'")[0]
    sql(copy, "UPDATE audit SET request_id = %d WHERE seq = %d" % (rid - 1, seq))
    assert broken(copy) == ["entry %d: its columns do not match its body (request_id edited)"
                            % seq]


def test_edited_checkpoint_time(copy):
    last = query(copy.state_db, "SELECT max(seq) FROM audit_checkpoints")[0][0]
    sql(copy, "UPDATE audit_checkpoints SET at = at - 3600 WHERE seq = %d" % last)
    assert broken(copy) == ["checkpoint of entry %d: signature does not verify" % last]


def test_checkpoint_not_signed_over_an_edited_entry(copy):
    code, out, err = run_lethe("requests", "create", "-c", copy.config, "--scope", "account",
                               "--id", "email=user4@example.com")
    assert code == 0, err
    last = query(copy.state_db, "SELECT max(seq) FROM audit")[0][0]
    before = query(copy.state_db, "SELECT count(*) FROM audit_checkpoints")[0][0]
    sql(copy, "UPDATE audit SET body = replace(body, '\"kind\":', '\"kind\":1') "
              "WHERE seq = %d" % last)
    code, out, err = run_lethe("audit", "checkpoint", "-c", copy.config)
    assert code == 1, (code, out, err)
    assert ("not signing a checkpoint: " + EDIT_LINE % last) in err, err
    assert query(copy.state_db, "SELECT count(*) FROM audit_checkpoints")[0][0] == before


def test_entries_no_checkpoint_covered_in_time_are_a_warning(copy):
    """Entries appended while nothing signed checkpoints (1s interval here), then a
    checkpoint much later: a warning, not a break."""
    code, out, err = run_lethe("requests", "create", "-c", copy.config, "--scope", "account",
                               "--id", "email=user4@example.com")
    assert code == 0, err
    seq = query(copy.state_db, "SELECT max(seq) FROM audit")[0][0]
    time.sleep(3.2)  # whole seconds: more than twice the 1s interval after it
    code, out, err = run_lethe("audit", "checkpoint", "-c", copy.config)
    assert code == 0, (out, err)
    code, out, err = verify(copy)
    assert code == 0, (out, err)
    assert out.startswith("the audit chain is whole: "), out
    assert re.search(r"^lethe: warning: entry %d \(of \d{4}-[^)]*\) was covered by no "
                     r"checkpoint within twice the checkpoint interval, though one was "
                     r"signed " % seq, err, re.M), err
    code, out, err = verify(copy, "--json")
    rep = json.loads(out)
    assert code == 0 and rep["ok"] is True and rep["breaks"] == [], rep
    assert [w for w in rep["warnings"] if w["seq"] == seq], rep


# ---- keys ---------------------------------------------------------------------------

def test_rotated_key_keeps_old_checkpoints_verifiable(copy):
    new_key = copy.dir / "var" / "new.key"
    code, out, err = run_lethe("keys", "generate", new_key)
    assert code == 0, err
    assert (new_key.stat().st_mode & 0o777) == 0o600
    code, out, err = run_lethe("keys", "generate", new_key)
    assert code == 3 and "new.key" in err, (code, err)
    text = copy.config.read_text().replace(
        PROOF, PROOF + "  signing_key_file: var/new.key\n  previous_keys: [var/signing.key]\n")
    copy.config.write_text(text)
    code, out, err = run_lethe("keys", "-c", copy.config)
    assert code == 0, err
    keys = json.loads(out)["keys"]
    assert [k["current"] for k in keys] == [True, False], keys
    # A new entry, signed with the new key; the old checkpoints still verify.
    code, out, err = run_lethe("requests", "create", "-c", copy.config, "--scope", "account",
                               "--id", "email=user4@example.com")
    assert code == 0, err
    code, out, err = run_lethe("audit", "checkpoint", "-c", copy.config)
    assert code == 0 and out.startswith("checkpoint of entry ") and keys[0]["id"] in out, out
    ids = {r[0] for r in query(copy.state_db, "SELECT key_id FROM audit_checkpoints")}
    assert ids == {keys[0]["id"], keys[1]["id"]}, ids
    code, out, err = verify(copy)
    assert code == 0, (out, err)
    # Forget the previous key: its checkpoints are signed by an unknown key.
    copy.config.write_text(text.replace("  previous_keys: [var/signing.key]\n", ""))
    lines = broken(copy)
    assert lines and all(re.match(r"^checkpoint of entry \d+: signed by an unknown key "
                                  r"\(%s\)$" % keys[1]["id"], ln) for ln in lines), lines


def test_commands_say_when_the_signing_key_is_missing(copy):
    shutil.move(str(copy.dir / "var" / "signing.key"), str(copy.dir / "signing.key.bak"))
    for args in (("audit", "verify"), ("audit", "checkpoint"), ("audit", "head"), ("keys",)):
        code, out, err = run_lethe(*args, "-c", copy.config)
        assert code == 3, (args, code, err)
        assert "signing key file" in err and "does not exist" in err, err
    # Nothing was created in its place.
    assert not (copy.dir / "var" / "signing.key").exists()
    code, out, err = run_lethe("audit", "nonsense", "-c", copy.config)
    assert code == 2, err
