# SPDX-License-Identifier: MIT
"""Signed receipts of finished requests (docs/proof.md "Receipts") with the real
`lethe serve` on the demo:

  - completed, completed_with_retention (the demo keeps invoices), refused and
    cancelled requests each have a receipt, from the API (GET
    /v1/requests/{id}/receipt, a download) and from the status page's "Download
    your receipt" link; the same bytes both ways and from `lethe receipt show`;
  - a request not finished: 409 (JSON on the API, a readable page on the status
    page); an unknown code: the status page's own 404;
  - every receipt verifies with `lethe receipt verify` and independently with
    Python's `cryptography` (Ed25519 over the canonical JSON bytes), against a keys
    document built from the signing key file;
  - a count, a date or the scan's result edited: both verifiers refuse it; a real
    number, an unknown key, a file that is not a receipt: the CLI says which;
  - key rotation: a receipt signed before still verifies once the old key moved to
    proof.previous_keys and a new key signs;
  - no personal data of the person in any receipt;
  - the completion mail links to the receipt, and the link works.
"""
import base64
import copy
import hashlib
import json
import re
import sqlite3
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lethe_e2e import run_lethe, without_section
from requests_helpers import ADMIN_KEY, APP_KEY, api_section, call, create_body
from serve_helpers import TSCALE, servers, stop_ok  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401

FINISHED = ("completed", "completed_with_retention", "refused", "cancelled")
RECEIPT_KEYS = {"lethe_receipt", "issuer", "request", "counts", "kept", "scan"}

AT_ONCE = """requests:
  policies:
    - name: app-now
      kind: erasure
      scope: account
      sources: [app]
      deadline: 30d
"""
REVIEW = """requests:
  policies:
    - name: app-review
      kind: erasure
      scope: account
      sources: [app]
      review: true
      deadline: 30d
"""


def configure(demo, policies, sink=None, proof=None):
    """The demo's lethe.yaml with the API keys, @policies, a mail: section to @sink and
    a proof: section @proof (text), if given."""
    text = without_section(demo.config_without("api"), "requests")
    text = without_section(text, "proof")
    text = text.rstrip("\n") + "\n" + api_section() + policies
    if sink is not None:
        text += ("mail:\n  url: smtp://127.0.0.1:%d\n  from: privacy@demo-social.example\n"
                 "  starttls: off\n  backoff_base: 100ms\n  backoff_cap: 300ms\n"
                 % sink.port)
    if proof is not None:
        text += proof
    demo.config.write_text(text)


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def show(srv, code):
    status, _, out = call(srv, "GET", "/v1/admin/requests/" + code, key=ADMIN_KEY)
    assert status == 200, out
    return out


def finished(srv, code):
    return wait_for(lambda: (lambda r: r if r["state"] in FINISHED else None)(show(srv, code)),
                    "request %s to finish" % code)


def create(srv, user=None, email=None):
    body = create_body(user=user or 1)
    if email is not None:
        body["identities"] = {"email": email}
    status, _, out = call(srv, "POST", "/v1/requests", body=body)
    assert status in (200, 201), out
    return out["id"]


def api_receipt(srv, code):
    """GET /v1/requests/{code}/receipt: (bytes, parsed), asserting a 200 download."""
    status, hdrs, data = srv.request("GET", "/v1/requests/%s/receipt" % code,
                                     headers={"Authorization": "Bearer " + APP_KEY})
    assert status == 200, data
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    env = json.loads(data)
    assert hdrs.get("content-disposition") == (
        'attachment; filename="lethe-receipt-%d.json"' % env["receipt"]["request"]["id"]), hdrs
    return data, env


def page_receipt(srv, code):
    """The status page's "Download your receipt" link, followed: the receipt."""
    status, _, page = srv.get("/data-deletion/status?id=" + code)
    assert status == 200
    page = page.decode()
    assert "Download your receipt" in page, page
    m = re.search(r'href="(/data-deletion/status/receipt\?id=[a-z2-7]+)"', page)
    assert m, page
    status, hdrs, data = srv.get(m.group(1))
    assert status == 200, data
    assert hdrs.get("content-disposition", "").startswith("attachment;"), hdrs
    return json.loads(data)


# ---- verifying as a stranger would ---------------------------------------------

def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(pk):
    return hashlib.blake2b(pk, digest_size=32).digest()[:8].hex()


def public_of(path):
    """The raw public key of a secret key file (64 hex digits of the seed)."""
    seed = bytes.fromhex(path.read_text().strip())
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def keys_doc(*paths):
    """The published keys document of these secret key files (the first current)."""
    keys = []
    for i, p in enumerate(paths):
        pk = public_of(p)
        keys.append({"id": key_id(pk), "alg": "Ed25519",
                     "public": base64.b64encode(pk).decode(), "current": i == 0})
    return {"keys": keys}


def py_verify(env, doc):
    """Verify envelope @env against keys document @doc with `cryptography`: True/False."""
    sig = env["signature"]
    assert sig["alg"] == "Ed25519"
    for k in doc["keys"]:
        if k["id"] == sig["key"]:
            pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public"]))
            try:
                pub.verify(base64.b64decode(sig["value"]), canonical(env["receipt"]))
                return True
            except InvalidSignature:
                return False
    return False


def signing_key(demo):
    return demo.dir / "var" / "signing.key"


def cli_verify(tmp_path, env, *keys_args, raw=None):
    f = tmp_path / ("receipt-%d.json" % time.monotonic_ns())
    f.write_text(raw if raw is not None else json.dumps(env, indent=2))
    return run_lethe("receipt", "verify", str(f), *keys_args)


def assert_valid(tmp_path, demo, env, doc=None):
    doc = doc or keys_doc(signing_key(demo))
    assert py_verify(env, doc), env
    kf = tmp_path / "keys.json"
    kf.write_text(json.dumps(doc))
    code, out, err = cli_verify(tmp_path, env, "--keys", str(kf))
    assert code == 0, err
    assert "signature: valid (key %s)" % env["signature"]["key"] in out, out
    return out


def assert_receipt_shape(env, code_state):
    r = env["receipt"]
    assert set(env) == {"receipt", "signature"}
    assert RECEIPT_KEYS <= set(r), r
    assert r["lethe_receipt"] == 1
    assert r["issuer"] == "http://127.0.0.1:8080"
    assert r["request"]["state"] == code_state
    for t in ("received_at", "completed_at", "due_at"):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["request"][t]), r["request"]
    assert "result" in r["scan"]
    # Integers and strings only: no real anywhere.
    assert "." not in re.sub(r'"(?:[^"\\]|\\.)*"', "", json.dumps(r)), r


def person_values(demo, email):
    """Every text value of the person's users row (before erasure), 4 chars or more."""
    con = sqlite3.connect(str(demo.db))
    try:
        con.row_factory = sqlite3.Row
        row = con.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    finally:
        con.close()
    assert row is not None
    vals = {str(row[k]) for k in row.keys() if isinstance(row[k], str) and len(row[k]) >= 4}
    return vals | {email}


def assert_no_personal_data(data, values):
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    for v in values:
        assert v not in text, "%r in the receipt" % v




# ---- the tests -------------------------------------------------------------------


def test_receipt_completed_with_retention_api_page_cli(demo, servers, tmp_path):
    """The demo keeps invoices: completed_with_retention; the receipt lists them with
    the data map's reason, verifies both ways, is the same from the API, the status
    page and `lethe receipt show`, and names nobody."""
    configure(demo, AT_ONCE)
    values = person_values(demo, "user3@example.com")
    s = servers(demo)
    code = create(s, 3)
    req = finished(s, code)
    assert req["state"] == "completed_with_retention", req
    data, env = api_receipt(s, code)
    assert_receipt_shape(env, "completed_with_retention")
    r = env["receipt"]
    kept = [k for k in r["kept"] if k["table"] == "invoices"]
    assert kept and kept[0]["rows"] > 0, r["kept"]
    assert "tax" in kept[0]["reason"].lower(), kept
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", kept[0]["until"]), kept
    assert sum(r["counts"]["categories"].values()) == sum(
        t["rows"] for t in r["counts"]["tables"])
    assert any(t["action"] == "delete" and t["rows"] > 0 for t in r["counts"]["tables"])
    assert r["counts"]["no_data"] is False
    out = assert_valid(tmp_path, demo, env)
    assert "Receipt of request %d" % r["request"]["id"] in out, out
    assert "completed_with_retention" in out and "invoices" in out, out
    # The status page's link gives the same receipt (Ed25519 is deterministic).
    assert page_receipt(s, code) == env
    code2, out2, err2 = run_lethe("receipt", "verify", str(tmp_path / "none.json"),
                                  "-c", str(demo.config))
    assert code2 == 1 and "none.json" in err2
    stop_ok(s)
    # `lethe receipt show` by number and by code; verify -c with the configuration.
    for ref in (str(r["request"]["id"]), code):
        rc, shown, err = run_lethe("receipt", "show", ref, "-c", str(demo.config))
        assert rc == 0, err
        assert json.loads(shown) == env
    f = tmp_path / "shown.json"
    rc, _, err = run_lethe("receipt", "show", code, "-c", str(demo.config), "--out", str(f))
    assert rc == 0, err
    rc, out, err = run_lethe("receipt", "verify", str(f), "-c", str(demo.config))
    assert rc == 0 and "signature: valid" in out, err
    rc, out, err = run_lethe("receipt", "verify", str(f), "-c", str(demo.config), "--json")
    assert rc == 0, err
    j = json.loads(out)
    assert j["valid"] is True and j["key"] == env["signature"]["key"] and j["receipt"] == r
    assert_no_personal_data(data.decode(), values)
    assert_no_personal_data(out, values)


def test_receipt_completed_without_retention(demo, servers, tmp_path):
    """A person without invoices: completed, nothing kept; a person unknown: completed,
    no data found."""
    configure(demo, AT_ONCE)
    email = "user11@example.com"
    con = sqlite3.connect(str(demo.db))
    try:  # the demo keeps invoices: this person has none
        con.execute("DELETE FROM invoices WHERE user_id = (SELECT id FROM users WHERE "
                    "email = ?)", (email,))
        con.commit()
    finally:
        con.close()
    values = person_values(demo, email)
    s = servers(demo)
    code = create(s, email=email)
    assert finished(s, code)["state"] == "completed"
    data, env = api_receipt(s, code)
    assert_receipt_shape(env, "completed")
    assert env["receipt"]["kept"] == []
    assert_valid(tmp_path, demo, env)
    assert page_receipt(s, code) == env
    assert_no_personal_data(data.decode(), values)
    nobody = create(s, email="nobody-at-all@example.com")
    assert finished(s, nobody)["state"] == "completed"
    _, env2 = api_receipt(s, nobody)
    assert env2["receipt"]["counts"]["no_data"] is True
    assert env2["receipt"]["counts"]["tables"] == []
    assert_valid(tmp_path, demo, env2)
    stop_ok(s)


def test_receipt_refused_and_cancelled(demo, servers, tmp_path):
    """Refused and cancelled requests have receipts with lethe's fixed sentence as the
    reason, never the text the operator typed."""
    configure(demo, REVIEW)
    s = servers(demo)
    refused = create(s, 4)
    cancelled = create(s, 5)
    typed = {"refused": "Unpaid invoice 4471 of Alice Example",
             "cancelled": "Called to say she keeps the account"}
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/refuse" % refused, key=ADMIN_KEY,
                          body={"reason": typed["refused"]})
    assert status == 200, out
    status, _, out = call(s, "POST", "/v1/admin/requests/%s/cancel" % cancelled,
                          key=ADMIN_KEY, body={"reason": typed["cancelled"]})
    assert status == 200, out
    for code, state in ((refused, "refused"), (cancelled, "cancelled")):
        data, env = api_receipt(s, code)
        assert_receipt_shape(env, state)
        r = env["receipt"]
        assert r["reason"] and state.rstrip("d") in r["reason"], r
        assert r["counts"]["tables"] == [] and r["kept"] == []
        assert_no_personal_data(data.decode(), set(typed.values()) | {"user4@example.com",
                                                                       "user5@example.com"})
        assert_valid(tmp_path, demo, env)
        assert page_receipt(s, code) == env
    stop_ok(s)


def test_receipt_not_finished_409_and_unknown_404(demo, servers):
    """Awaiting review: 409 JSON on the API, a readable 409 page from the status page's
    link (which the page does not show yet); an unknown code: the status page's 404."""
    configure(demo, REVIEW)
    s = servers(demo)
    code = create(s, 6)
    status, hdrs, out = call(s, "GET", "/v1/requests/%s/receipt" % code)
    assert status == 409, out
    assert set(out) == {"error"} and out["error"]["code"] == "conflict", out
    assert "not finished" in out["error"]["message"]
    status, _, out = call(s, "GET", "/v1/admin/requests/%s/receipt" % code, key=ADMIN_KEY)
    assert status == 409, out
    status, _, page = s.get("/data-deletion/status?id=" + code)
    assert status == 200 and b"Download your receipt" not in page
    status, hdrs, page = s.get("/data-deletion/status/receipt?id=" + code)
    assert status == 409
    assert hdrs["content-type"].startswith("text/html"), hdrs
    assert b"not finished" in page and b"<h1>" in page
    # Unknown: exactly what the status page says of it.
    unknown = "a" * len(code)
    st1, _, p1 = s.get("/data-deletion/status?id=" + unknown)
    st2, h2, p2 = s.get("/data-deletion/status/receipt?id=" + unknown)
    assert st1 == st2 == 404 and p1 == p2 and h2["content-type"].startswith("text/html")
    st3, _, p3 = s.get("/data-deletion/status/receipt")
    assert st3 == 404 and p3 == p1
    status, _, out = call(s, "GET", "/v1/requests/%s/receipt" % unknown)
    assert status == 404 and out["error"]["code"] == "not_found", out
    # Without a key: as GET /v1/requests/{id}.
    status, _, out = call(s, "GET", "/v1/requests/%s/receipt" % code, key=None)
    assert status == 401, out
    status, _, out = call(s, "POST", "/v1/requests/%s/receipt" % code)
    assert status == 405, out
    stop_ok(s)
    rc, _, err = run_lethe("receipt", "show", code, "-c", str(demo.config))
    assert rc == 1 and "not finished" in err


def test_receipt_edits_detected(demo, servers, tmp_path):
    """A count, a date, the scan's result, a kept reason edited: neither `lethe receipt
    verify` nor cryptography accepts it; a real number, an unknown key and a file that
    is not a receipt are told apart."""
    configure(demo, AT_ONCE)
    s = servers(demo)
    code = create(s, 7)
    finished(s, code)
    _, env = api_receipt(s, code)
    stop_ok(s)
    doc = keys_doc(signing_key(demo))
    kf = tmp_path / "keys.json"
    kf.write_text(json.dumps(doc))
    assert py_verify(env, doc)

    def edited(fn):
        e = copy.deepcopy(env)
        fn(e["receipt"])
        return e

    cases = {
        "count": lambda r: r["counts"]["tables"][0].__setitem__(
            "rows", r["counts"]["tables"][0]["rows"] + 1),
        "category": lambda r: r["counts"]["categories"].__setitem__(
            next(iter(r["counts"]["categories"])), 0),
        "date": lambda r: r["request"].__setitem__("completed_at", "2020-01-01T00:00:00Z"),
        "scan": lambda r: r["scan"].__setitem__("result", "clean" if r["scan"]["result"]
                                                != "clean" else "residual"),
        "kept": lambda r: r["kept"][0].__setitem__("reason", "no reason"),
        "state": lambda r: r["request"].__setitem__("state", "completed"),
    }
    for name, fn in cases.items():
        e = edited(fn)
        assert not py_verify(e, doc), name
        rc, out, err = cli_verify(tmp_path, e, "--keys", str(kf))
        assert rc == 1, (name, out, err)
        assert "signature does not verify" in err, (name, err)
        assert "valid" not in out
    # A real number where lethe writes integers.
    raw = json.dumps(env).replace('"rows": %d' % env["receipt"]["counts"]["tables"][0]["rows"],
                                  '"rows": %d.0' % env["receipt"]["counts"]["tables"][0]["rows"],
                                  1)
    assert raw != json.dumps(env)
    rc, _, err = cli_verify(tmp_path, None, "--keys", str(kf), raw=raw)
    assert rc == 1 and "real number" in err, err
    # Signed by a key that is not published.
    other = tmp_path / "other.key"
    other.write_text("11" * 32 + "\n")
    kf2 = tmp_path / "other-keys.json"
    kf2.write_text(json.dumps(keys_doc(other)))
    rc, _, err = cli_verify(tmp_path, env, "--keys", str(kf2))
    assert rc == 1, err
    assert "signed by key %s, which is not among the published keys" % env["signature"]["key"] \
        in err, err
    # Not a receipt: exit 2.
    for raw in ("not json", json.dumps({"head": {}}), json.dumps(doc)):
        rc, _, err = cli_verify(tmp_path, None, "--keys", str(kf), raw=raw)
        assert rc == 2 and "not a receipt" in err, (raw, err)
    rc, out, err = cli_verify(tmp_path, None, "--keys", str(kf), "--json", raw="[]")
    assert rc == 2 and json.loads(out)["error"]["code"] == "usage", out
    # No keys named: a usage error.
    rc, _, err = cli_verify(tmp_path, env)
    assert rc == 2 and "--keys" in err


def test_receipt_key_rotation(demo, servers, tmp_path):
    """A receipt signed before a rotation still verifies against the keys document
    once the old key moved to proof.previous_keys; a new receipt is signed by the new
    key."""
    configure(demo, AT_ONCE)
    s = servers(demo)
    code = create(s, 8)
    finished(s, code)
    _, before = api_receipt(s, code)
    stop_ok(s)
    old = demo.dir / "var" / "old-signing.key"
    signing_key(demo).rename(old)
    configure(demo, AT_ONCE, proof="proof:\n  signing_key_file: var/new-signing.key\n"
              "  previous_keys: [var/old-signing.key]\n")
    s = servers(demo)
    _, after = api_receipt(s, code)
    stop_ok(s)
    new = demo.dir / "var" / "new-signing.key"
    assert new.exists()
    assert after["signature"]["key"] != before["signature"]["key"]
    assert after["receipt"] == before["receipt"]
    doc = keys_doc(new, old)
    for env in (before, after):
        assert_valid(tmp_path, demo, env, doc)
        rc, out, err = cli_verify(tmp_path, env, "-c", str(demo.config))
        assert rc == 0 and "signature: valid (key %s)" % env["signature"]["key"] in out, err
    # Without the old key published, the old receipt's key is unknown.
    only_new = tmp_path / "new-only.json"
    only_new.write_text(json.dumps(keys_doc(new)))
    rc, _, err = cli_verify(tmp_path, before, "--keys", str(only_new))
    assert rc == 1 and "not among the published keys" in err, err


def test_receipt_linked_from_completion_mail(demo, servers, tmp_path, smtp_sink):
    """The completed mail (text and HTML) links to the receipt; the link gives the
    receipt, which verifies; the refused mail links to its own."""
    configure(demo, AT_ONCE, sink=smtp_sink)
    s = servers(demo)
    code = create(s, 10)
    state = finished(s, code)["state"]
    msg = wait_for(lambda: [m for m in smtp_sink.messages if "complete" in m.subject],
                   "the completed mail")[0]
    url = "http://127.0.0.1:8080/data-deletion/status/receipt?id=" + code
    assert url in msg.text, msg.text
    assert 'href="%s"' % url in msg.html, msg.html
    status, hdrs, data = s.get(url[len("http://127.0.0.1:8080"):])
    assert status == 200, data
    env = json.loads(data)
    assert env["receipt"]["request"]["state"] == state
    assert_valid(tmp_path, demo, env)
    stop_ok(s)


# Bytes a terminal acts on: C0 controls (ESC, BEL, CR...), DEL, C1 controls (CSI as
# U+009B), and the Unicode bidi overrides that reorder what is shown.
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f"
                               "\u202a-\u202e\u2066-\u2069]")


def signed_by(seed_hex, receipt, key=None):
    """An envelope of @receipt signed (Ed25519) by the seed @seed_hex; signature.key
    is the key's id unless @key says otherwise."""
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"receipt": receipt,
            "signature": {"alg": "Ed25519", "key": key or key_id(pk),
                          "value": base64.b64encode(sk.sign(canonical(receipt))).decode()}}


def test_receipt_verify_never_prints_file_bytes_raw(tmp_path):
    """`lethe receipt verify` reads a file anyone may have made: a receipt validly
    signed but holding terminal escape sequences in its strings and keys, a key id
    that is an escape sequence, a bad algorithm or bad JSON with one: nothing of the
    file reaches stdout or stderr raw; controls are shown escaped, a key id only in
    its 16-hex-digit form."""
    seed = "22" * 32
    kf = tmp_path / "keys.json"
    key = tmp_path / "signer.key"
    key.write_text(seed + "\n")
    kf.write_text(json.dumps(keys_doc(key)))
    esc = "\x1b]0;owned\x07\x1b[2J"
    r = {"lethe_receipt": 1, "issuer": "https://x.example" + esc,
         "request": {"id": 7, "kind": "erasure\x1b[31m", "scope": "account\u009b31m",
                     "source": "app\u202e", "state": "refused\r",
                     "received_at": "2026-12-01T00:00:00Z\x7f",
                     "completed_at": "2026-12-01T00:00:01Z\x08",
                     "due_at": "2026-12-31T00:00:00Z\x00"[:-1] + "\x1b[K"},
         "counts": {"no_data": False, "categories": {"acc\x1b[5mount": 1},
                    "tables": [{"table": "users\x1b", "part": "users\x1b[1A", "category":
                                "account", "action": "delete\x1b[0m", "rows": 1,
                                "media": 0}]},
         "kept": [{"table": "invoices", "category": "billing\x1b", "rows": 1,
                   "reason": "tax\\law" + esc, "until": "2036-01-01T00:00:00Z\x1b"}],
         "scan": {"result": "clean\x1b", "rows": 0, "tables": 3, "wal": "truncated\x1b",
                  "secure_delete": "on\x1b"},
         "audit": {"seq": 3, "hash": "ab\x1b[8m"},
         "reason": "refused\x1b]8;;https://evil.example\x07link"}
    env = signed_by(seed, r)
    code, out, err = cli_verify(tmp_path, env, "--keys", str(kf))
    assert code == 0, err
    assert not TERMINAL_CONTROLS.search(out + err), repr(out + err)
    assert "signature: valid (key %s)" % env["signature"]["key"] in out, out
    # What was there is still told, escaped (a backslash doubled so "\x1b" is not ESC).
    assert "https://x.example\\x1b]0;owned\\x07\\x1b[2J" in out, out
    assert "account\\u{009b}31m" in out and "app\\u{202e}" in out, out
    assert "acc\\x1b[5mount 1" in out and "tax\\\\law" in out, out
    # --json: ASCII only, so no control can be in it raw; the values are the file's.
    code, jout, err = cli_verify(tmp_path, env, "--keys", str(kf), "--json")
    assert code == 0, err
    assert jout.isascii() and not TERMINAL_CONTROLS.search(jout + err), repr(jout)
    assert json.loads(jout)["receipt"] == r
    # An unknown key whose id is an escape sequence: "(not a key id)", in both forms.
    for bad in ("\x1b[2J\x1b[H", "C5E21AB1C9F6022D", "c5e21ab1c9f6022", "c5e21ab1c9f6022d0"):
        e = signed_by(seed, r, key=bad)
        for extra in ((), ("--json",)):
            code, out2, err = cli_verify(tmp_path, e, "--keys", str(kf), *extra)
            assert code == 1, (bad, out2, err)
            assert "signed by key (not a key id), which is not among" in err, (bad, err)
            assert not TERMINAL_CONTROLS.search(out2 + err), repr(out2 + err)
    # A key id of the right form that is not published is named.
    e = signed_by("33" * 32, r)
    code, _, err = cli_verify(tmp_path, e, "--keys", str(kf))
    assert code == 1 and "signed by key %s," % e["signature"]["key"] in err, err
    # Another algorithm named by an escape sequence, and JSON broken at one.
    e = signed_by(seed, r)
    e["signature"]["alg"] = "Ed\x1b[31m448"
    code, out2, err = cli_verify(tmp_path, e, "--keys", str(kf))
    assert code == 2 and "is not Ed25519" in err, err
    assert not TERMINAL_CONTROLS.search(out2 + err), repr(err)
    for raw in ('{"receipt": \x1b[31m}', '{"receipt": {"a\x1b[31m": 1}\x1b[2J',
                '{"receipt\x1b[2J": 1}'):
        code, out2, err = cli_verify(tmp_path, None, "--keys", str(kf), raw=raw)
        assert code == 2, (raw, err)
        assert not TERMINAL_CONTROLS.search(out2 + err), repr(err)
