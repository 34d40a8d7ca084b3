# SPDX-License-Identifier: MIT
"""Notices to recipients (GDPR Art. 19): signed webhooks through the outbox.

The real `lethe serve` runs on the demo with `proof.recipients` pointing at small
recipients on loopback (a Python http.server started by each test, recording every
request and answering a scripted sequence of statuses):

  - an erasure completes: each recipient gets exactly one POST, its body carries only
    the identity kinds it is configured for, the receipt inside verifies, and the
    Lethe-Signature verifies (Python `cryptography`, Ed25519) against lethe's keys; a
    tampered body or time does not;
  - a hanging recipient (timeout), then 500, then 429, then 200: retried, then delivered;
  - 410: a dead letter at once, in `lethe jobs --dead` and /metrics, logged by job and
    recipient, never with an identity;
  - `events: [completed_with_retention]` gets nothing for a plain `completed` request
    (a Meta deletion, whose scope is its app's);
  - the sealed payload is not readable in the state store file (nor its WAL);
  - a data map without a channel table still seals notices (the outbox key is loaded);
  - configuration errors are clear at start.
"""
import base64
import hashlib
import http.server
import json
import re
import signal
import threading
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from disconnect_helpers import metric, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import run_lethe
from request_helpers import (
    FINAL,
    Clock,
    configure_requests,
    create,
    policy,
    start,
    users,
    wait_state,
    wait_until,
)
from serve_helpers import FB_SECRET, TSCALE, fb_id, servers, sign_py, stop_ok  # noqa: F401

DEMO_OPTIONS = ["--users", "30", "--seed", "7"]


# ---- a recipient on loopback ----------------------------------------------------------

class Recipient:
    """An HTTP server on 127.0.0.1 recording each request (method, path, headers, body)
    and answering the statuses of @script in turn ("hang": no answer for @hang_s
    seconds), then @then."""

    def __init__(self, script=(), then=200, hang_s=3.0):
        self.calls = []
        self.script = list(script)
        self.then = then
        self.hang_s = hang_s
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's name)
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n > 0 else b""
                with rec.lock:
                    rec.calls.append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in
                                                  self.headers.items()},
                                      "body": body, "at": time.monotonic()})
                    status = rec.script.pop(0) if rec.script else rec.then
                if status == "hang":
                    time.sleep(rec.hang_s)
                    return
                out = b'{"ok":true}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hooks/lethe"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def posts(self):
        with self.lock:
            return list(self.calls)

    def wait(self, n, timeout=10, srv=None):
        """Wait until @n requests arrived; returns them."""
        wait_until(lambda: len(self.posts()) >= n, "%d notice(s) received" % n,
                   timeout=timeout, srv=srv)
        return self.posts()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recipients():
    """recipients(script=..., then=...) -> a started Recipient; all stopped at teardown."""
    started = []

    def make(*args, **kw):
        r = Recipient(*args, **kw)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


# ---- configuration -----------------------------------------------------------------

def recipient_yaml(name, url, identities=None, events=None):
    item = {"name": name, "url": url}
    if identities is not None:
        item["identities"] = identities
    if events is not None:
        item["events"] = events
    return item


def configure_notify(demo, fake, items, extra_proof=""):
    """The demo with the fake platform, an app key, a policy that erases at once, short
    outbox backoffs (50 ms .. 200 ms, 6 tries) and proof.recipients @items."""
    configure_requests(demo, fake, [policy("now", deadline="2d")])
    text = demo.config.read_text()
    text += "proof:\n  notify_timeout: 1s\n%s  recipients: %s\n" % (extra_proof,
                                                                   json.dumps(items))
    demo.config.write_text(text)


def set_backoff(demo, base, cap, attempts=6):
    text = demo.config.read_text()
    text = re.sub(r"backoff_base: \S+", "backoff_base: " + base, text)
    text = re.sub(r"backoff_cap: \S+", "backoff_cap: " + cap, text)
    text = re.sub(r"max_attempts: \d+", "max_attempts: %d" % attempts, text)
    demo.config.write_text(text)


# ---- keys and signatures -------------------------------------------------------------

def key_id(raw_public):
    return hashlib.blake2b(raw_public, digest_size=32).digest()[:8].hex()


def public_keys(srv, demo):
    """{key id: Ed25519PublicKey}: the published keys document when the server has one,
    else the current key derived from the signing key file (its seed in hex)."""
    seed = bytes.fromhex((demo.dir / "var" / "signing.key").read_text().strip())
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
    keys = {key_id(raw): pub}
    status, _, data = srv.get("/.well-known/lethe/keys.json")
    if status == 200:
        doc = json.loads(data)
        published = {k["id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public"]))
                     for k in doc["keys"]}
        assert key_id(raw) in published, doc
        keys = published
    return keys


def parse_signature(header):
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert set(parts) == {"t", "key", "ed25519"}, header
    return int(parts["t"]), parts["key"], base64.b64decode(parts["ed25519"])


def verify_notice(keys, header, body):
    """Raise InvalidSignature (or KeyError: unknown key) unless @header signs @body."""
    t, kid, sig = parse_signature(header)
    keys[kid].verify(sig, b"%d." % t + body)
    return t, kid


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def verify_receipt(keys, envelope):
    assert set(envelope) == {"receipt", "signature"}, envelope
    sig = envelope["signature"]
    assert sig["alg"] == "Ed25519"
    keys[sig["key"]].verify(base64.b64decode(sig["value"]), canonical(envelope["receipt"]))
    return envelope["receipt"]


def jobs(demo, *args):
    code, out, err = run_lethe("jobs", "-c", demo.config, "--json", *args)
    assert code == 0, err
    return [j for j in (json.loads(line) for line in out.splitlines() if line.strip())
            if j["kind"] == "notify"]


def notify_metric(srv, state):
    status, _, text = srv.get("/metrics")
    assert status == 200
    return metric(text.decode(), "lethe_outbox_jobs", {"kind": "notify", "state": state})


def wait_jobs(demo, pred, what, timeout=10, srv=None):
    last = []

    def ok():
        last[:] = jobs(demo)
        return pred(last)

    wait_until(ok, "%s (jobs: %r)" % (what, last), timeout=timeout, srv=srv)
    return last


# ---- the tests -------------------------------------------------------------------------

def test_notify_delivered_signed_with_configured_identities(demo, fake_platform, servers,
                                                            recipients, tmp_path):
    app, sub = recipients(), recipients()
    configure_notify(demo, fake_platform, [
        recipient_yaml("app", app.url("/hooks/erased"), identities=["email"]),
        recipient_yaml("mailer-co", sub.url("/in?k=1"), identities=["user_id", "meta_asid"],
                       events=["completed", "completed_with_retention"]),
    ])
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email, "user_id": str(uid)})
    assert st == 201, req
    done = wait_state(srv, req["id"], FINAL, timeout=10)
    assert done["state"] in ("completed", "completed_with_retention"), done

    got_app = app.wait(1, srv=srv)
    got_sub = sub.wait(1, srv=srv)
    wait_jobs(demo, lambda js: len(js) == 2 and all(j["state"] == "done" for j in js),
              "both notices delivered", srv=srv)
    time.sleep(0.3 * TSCALE)  # nothing more comes
    assert len(app.posts()) == 1 and len(sub.posts()) == 1
    keys = public_keys(srv, demo)
    number = demo.state("SELECT id FROM requests WHERE code = ?", (done["id"],))[0][0]

    for got, path, ids in ((got_app[0], "/hooks/erased", [{"kind": "email", "value": email}]),
                           (got_sub[0], "/in?k=1",
                            [{"kind": "user_id", "value": str(uid)}])):
        assert got["method"] == "POST" and got["path"] == path
        assert got["headers"]["content-type"] == "application/json"
        body = json.loads(got["body"])
        assert set(body) == {"event", "request", "identities", "receipt"}, body
        assert body["event"] == "erasure.completed"
        # The request's number in the state store (as in its receipt and the audit
        # chain), not the API's code: a code opens the status page, a recipient gets none.
        assert body["request"] == {"id": number, "kind": "erasure", "scope": "account",
                                   "state": done["state"],
                                   "completed_at": body["request"]["completed_at"]}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                            body["request"]["completed_at"])
        assert body["request"]["completed_at"] == done["completed_at"]
        assert done["id"] not in got["body"].decode()
        assert body["identities"] == ids
        receipt = verify_receipt(keys, body["receipt"])
        assert receipt["request"]["id"] == number
        assert receipt["request"]["state"] == done["state"]
        assert receipt["request"]["completed_at"] == body["request"]["completed_at"]
        # The receipt holds no identity value.
        assert email not in json.dumps(receipt)
        t, kid = verify_notice(keys, got["headers"]["lethe-signature"], got["body"])
        assert abs(t - time.time()) < 120 and kid in keys
        # Tampering with the body, or the time, breaks the signature.
        forged = got["body"].replace(b'"erasure.completed"', b'"erasure.complete_"')
        assert forged != got["body"]
        with pytest.raises(InvalidSignature):
            verify_notice(keys, got["headers"]["lethe-signature"], forged)
        t0, k0, s0 = parse_signature(got["headers"]["lethe-signature"])
        with pytest.raises(InvalidSignature):
            keys[k0].verify(s0, b"%d." % (t0 + 1) + got["body"])
    # Only the configured kinds: the app never sees the user id, the sub-processor never
    # the address.
    assert email.encode() not in got_sub[0]["body"]
    assert b'"user_id"' not in got_app[0]["body"]

    js = jobs(demo)
    assert sorted(j["platform"] for j in js) == ["app", "mailer-co"]
    for j in js:
        assert j["disconnect"] is None and j["outcome"] == "delivered", j
        assert j["attempts"] == 1 and j["http_status"] == 200 and not j["sealed_payload"], j
    assert notify_metric(srv, "done") == 2
    code, out, err = run_lethe("jobs", "-c", demo.config)
    assert code == 0, err
    line = [ln for ln in out.splitlines() if " notify " in ln][0]
    assert re.match(r"^\d+\s+-\s+notify\s+app\s+done\s+delivered\s+1\s", line), line
    assert email not in srv.stderr()


def test_notify_retried_after_timeout_and_errors_then_delivered(demo, fake_platform, servers,
                                                                recipients, tmp_path):
    rec = recipients(script=["hang", 500, 429], then=200, hang_s=3.0)
    configure_notify(demo, fake_platform, [recipient_yaml("app", rec.url(), identities=["email"])])
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=10)
    got = rec.wait(4, timeout=20, srv=srv)
    js = wait_jobs(demo, lambda js: js and js[0]["state"] == "done", "notice delivered",
                   srv=srv)
    time.sleep(0.3 * TSCALE)
    assert len(rec.posts()) == 4
    assert js[0]["attempts"] == 4 and js[0]["outcome"] == "delivered", js
    # The same body each time, signed afresh; every signature verifies.
    keys = public_keys(srv, demo)
    assert len({c["body"] for c in got}) == 1
    for c in got:
        verify_notice(keys, c["headers"]["lethe-signature"], c["body"])
    # The hang was cut at proof.notify_timeout (1 s), not waited out (3 s).
    assert got[1]["at"] - got[0]["at"] < 2.5 * TSCALE


def test_notify_410_is_a_dead_letter(demo, fake_platform, servers, recipients, tmp_path):
    rec = recipients(then=410)
    configure_notify(demo, fake_platform, [recipient_yaml("gone-co", rec.url(), identities=["email"])])
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=10)
    rec.wait(1, srv=srv)
    wait_jobs(demo, lambda js: js and js[0]["state"] == "dead", "notice dead", srv=srv)
    time.sleep(0.5 * TSCALE)  # backoffs are 50..200 ms: a retry would have come
    assert len(rec.posts()) == 1
    dead = jobs(demo, "--dead")
    assert len(dead) == 1, dead
    d = dead[0]
    assert d["platform"] == "gone-co" and d["http_status"] == 410 and d["attempts"] == 1, d
    assert "HTTP 410" in d["reason"] and not d["sealed_payload"], d
    assert notify_metric(srv, "dead") == 1
    status, _, text = srv.get("/metrics")
    assert metric(text.decode(), "lethe_outbox_dead_letters") >= 1
    log = srv.stderr()
    assert re.search(r"outbox job %d \(notify gone-co\) is a dead letter: .*HTTP 410" % d["id"],
                     log), log
    assert email not in log


def test_notify_events_filter_and_meta_request(demo, fake_platform, servers, recipients,
                                               tmp_path):
    late, now = recipients(), recipients()
    configure_notify(demo, fake_platform, [
        recipient_yaml("late", late.url(), identities=["meta_asid"],
                       events=["completed_with_retention"]),
        recipient_yaml("now", now.url(), identities=["meta_asid", "email"],
                       events=["completed"]),
    ])
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    asid = fb_id(2)
    code = srv.deletion("facebook", sign_py(FB_SECRET, asid))["confirmation_code"]
    done, _ = srv.wait_completed(code, timeout=10)
    assert done["state"] == "completed", done
    got = now.wait(1, srv=srv)
    body = json.loads(got[0]["body"])
    assert body["request"]["scope"] == "meta" and body["request"]["state"] == "completed"
    assert body["identities"] == [{"kind": "meta_asid", "value": asid}]
    verify_receipt(public_keys(srv, demo), body["receipt"])
    # Both notices would have been queued in one transaction: only one was.
    js = wait_jobs(demo, lambda js: js and js[0]["state"] == "done", "notice delivered",
                   srv=srv)
    assert [j["platform"] for j in js] == ["now"], js
    time.sleep(0.3 * TSCALE)
    assert late.posts() == []


def state_files(demo):
    out = b""
    for p in demo.state_db.parent.glob(demo.state_db.name + "*"):
        out += p.read_bytes()
    return out


def test_notify_payload_sealed_in_state_store(demo, fake_platform, servers, recipients,
                                              tmp_path):
    rec = recipients(then=503)
    configure_notify(demo, fake_platform, [recipient_yaml("app", rec.url(), identities=["email"])])
    set_backoff(demo, "1h", "1h", attempts=50)
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=10)
    got = rec.wait(1, srv=srv)
    assert email.encode() in got[0]["body"]  # what the payload holds
    js = wait_jobs(demo, lambda js: js and js[0]["state"] == "retrying", "notice retrying",
                   srv=srv)
    assert js[0]["sealed_payload"] and js[0]["http_status"] == 503, js
    assert "HTTP 503" in js[0]["reason"], js
    data = state_files(demo)
    assert len(data) > 0
    assert email.encode() not in data
    assert got[0]["body"][-200:] not in data


def test_notify_without_channel_table(demo, fake_platform, servers, recipients, tmp_path):
    """The outbox key seals notices even when no channel table needs it."""
    dm = demo.datamap.read_text()
    dm = re.sub(r"    # This is the channel table.*?\n    connection:\n(      .*\n)+"
                r"    disconnect:\n(      .*\n)+", "", dm)
    dm = dm.replace("    revoke: true                    # also revoke every connected "
                    "channel's grant\n", "")
    dm = re.sub(r"    # Posts link to projects, but name their channel.*\n    disconnect:\n"
                r"(      .*\n)+", "", dm)
    dm = re.sub(r"    disconnect:\n      set: \{enabled: 0\}\n", "", dm)
    dm = re.sub(r"    # Active subscriptions are removed upstream.*\n    unsubscribe:\n"
                r"(      .*\n)+", "", dm)
    dm = dm.replace("    tokens: [access_token, refresh_token]\n", "")
    assert "connection:" not in dm and "disconnect:" not in dm and "unsubscribe:" not in dm
    demo.datamap.write_text(dm)
    rec = recipients()
    configure_notify(demo, fake_platform, [recipient_yaml("app", rec.url(), identities=["email"])])
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=10)
    got = rec.wait(1, srv=srv)
    assert json.loads(got[0]["body"])["identities"] == [{"kind": "email", "value": email}]


PLAIN = "its url is plain http:// to another host"


@pytest.mark.parametrize("item, words", [
    ({"name": "app", "url": "ftp://hooks.example/in?token=s3cret"}, "needs a url"),
    ({"name": "app", "url": "http:///in?token=s3cret"}, "needs a url"),
    ({"name": "app", "url": "https://hooks.example/in?token=s3cret", "identities": ["phone"]},
     "identity kind 'phone' is not declared in the data map"),
    ({"name": "app", "url": "https://hooks.example/in?token=s3cret", "events": ["deleted"]},
     "unknown event 'deleted'"),
    ({"name": "app", "url": "https://hooks.example/in?token=s3cret", "events": []},
     "events must name at least one"),
    ({"name": "a" * 40, "url": "https://hooks.example/in?token=s3cret"}, "needs a name"),
    # Plain http carries the identities in the clear: only to this machine, or knowingly.
    ({"name": "app", "url": "http://hooks.example/in?token=s3cret"}, PLAIN),
    ({"name": "app", "url": "http://10.0.0.7:8080/in?token=s3cret", "insecure": False}, PLAIN),
    ({"name": "app", "url": "http://127.0.0.1@hooks.example/in?token=s3cret"}, PLAIN),
    ({"name": "app", "url": "http://localhost.hooks.example/in?token=s3cret"}, PLAIN),
    ({"name": "app", "url": "http://128.0.0.1/in?token=s3cret"}, PLAIN),
    ({"name": "app", "url": "http://[::2]/in?token=s3cret"}, PLAIN),
    ({"name": "app", "url": "http://hooks.example/in?token=s3cret", "insecure": "yes"},
     "insecure must be true or false"),
], ids=["scheme", "no-host", "identity", "event", "no-events", "long-name", "http",
        "http-insecure-false", "http-userinfo", "http-localhost-prefix", "http-128",
        "http-v6", "insecure-not-bool"])
def test_notify_config_errors_are_clear_at_start(demo, fake_platform, item, words):
    configure_notify(demo, fake_platform, [item])
    code, out, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                               env=serve_env(fake_platform), timeout=30)
    assert code == 3, (code, out, err)
    assert words in err, err
    assert re.search(r"lethe\.yaml:\d+: ", err), err
    assert "s3cret" not in err
    assert "serving on port" not in out


def test_notify_plain_http_to_loopback_or_insecure_starts(demo, fake_platform, servers):
    """http:// to this machine (127.0.0.0/8, ::1, localhost) starts quietly; to another
    host only with insecure: true, and then with a warning that names the recipient,
    never the URL's credentials, host or path."""
    configure_notify(demo, fake_platform, [
        {"name": "local4", "url": "http://127.3.2.1:9/in"},
        {"name": "local6", "url": "http://[::1]:9/in"},
        {"name": "localname", "url": "http://LocalHost:9/in"},
        {"name": "tls", "url": "https://hooks.example/in", "insecure": True},
        {"name": "lan", "url": "http://bob:pa55word@hooks.example:8080/se/cret?token=s3cret",
         "insecure": True},
    ])
    srv = servers(demo, env=serve_env(fake_platform))
    wait_until(lambda: "proof recipient 'lan'" in srv.stderr(), "the warning about 'lan'",
               timeout=10, srv=srv)
    err = srv.stderr()
    warn = [ln for ln in err.splitlines() if "plain http" in ln]
    assert len(warn) == 1, err
    assert re.search(r"lethe\.yaml:\d+: proof recipient 'lan' gets its notices over plain "
                     r"http \(insecure: true\)", warn[0]), warn
    for secret in ("bob", "pa55word", "hooks.example", "/se/cret", "s3cret"):
        assert secret not in err, (secret, err)
    stop_ok(srv)


def test_notify_delivered_again_after_a_crash_before_its_update(demo, fake_platform, servers,
                                                               recipients, tmp_path):
    """At least once: lethe killed (SIGKILL) while a notice is being delivered, after the
    recipient received it but before the outbox recorded the outcome, delivers it again
    at the next start: the same body (same request), signed afresh.

    There is no fault-injection hook to make the job's final update itself fail, so the
    crash stands in for it: in both cases the recipient has the notice and the state
    store says the job is not done."""
    rec = recipients(script=["hang"], then=200, hang_s=3.0)
    configure_notify(demo, fake_platform, [recipient_yaml("app", rec.url(), identities=["email"])])
    # The first try hangs (the recipient holds the answer): notify_timeout must outlast
    # the kill below, so that lethe is inside the call when it dies.
    text = demo.config.read_text().replace("notify_timeout: 1s", "notify_timeout: 30s")
    demo.config.write_text(text)
    clock = Clock(tmp_path / "clock")
    srv = start(servers, demo, fake_platform, clock)
    (uid, email), = users(demo, 1)
    st, req = create(srv, {"email": email})
    assert st == 201, req
    wait_state(srv, req["id"], ("completed", "completed_with_retention"), timeout=10)
    first = rec.wait(1, srv=srv)
    js = jobs(demo)
    assert len(js) == 1 and js[0]["state"] == "running", js
    srv.stop(signal.SIGKILL)
    js = jobs(demo)
    assert len(js) == 1 and js[0]["state"] == "running", js  # not recorded as delivered

    srv2 = start(servers, demo, fake_platform, clock)
    got = rec.wait(2, timeout=20, srv=srv2)
    wait_jobs(demo, lambda js: js and js[0]["state"] == "done", "notice delivered", srv=srv2)
    time.sleep(0.3 * TSCALE)
    assert len(rec.posts()) == 2
    assert got[0]["body"] == first[0]["body"] == got[1]["body"]
    body = json.loads(got[1]["body"])
    number = demo.state("SELECT id FROM requests WHERE code = ?", (req["id"],))[0][0]
    assert body["request"]["id"] == number
    assert body["identities"] == [{"kind": "email", "value": email}]
    keys = public_keys(srv2, demo)
    for c in got:
        verify_notice(keys, c["headers"]["lethe-signature"], c["body"])
    stop_ok(srv2)
