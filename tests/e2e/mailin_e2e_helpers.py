# SPDX-License-Identifier: MIT
"""Helpers of the end-to-end tests of requests by email (tests/e2e/test_mailin_*.py;
docs/mail-intake.md is the contract).

  corpus(name, **values)   a mail of tests/e2e/mail_corpus/ with its placeholders filled
                           (bytes, CRLF; {{NONCE}} and {{DATE}} fresh unless given)
  envelope(raw)            (Return-Path address, the message without that line): what an
                           MTA hands to LMTP as MAIL FROM and DATA
  seed_block(n)            the `mailbox:` block of docs/mail-intake.md "What each seed's
                           mailbox needs" for seed-00N, loaded verbatim (a dict)
  seed_policies(n)         the seed's `requests:` policies block of the same section
                           (`<!-- policies: seed-00N -->`), verbatim: its policies (a list)
  policy_for(pols, kind, scope)   the first of @pols a request by email of @kind and
                           @scope follows (a dict); seconds(d) a duration ("48h") in s
  rule_for(mb, subject, text)   the first rule of @mb the subject or text matches (a dict)
  Person                   a demo user: email, name, ig (username), fb (Page name), ig_id
  Mailbox                  one demo + SMTP sink + `lethe serve` with a `mailbox:` section
                           (plus the address MAILBOX_ADDR the corpus writes to, LMTP on a
                           free loopback port, a Maildir polled every second): .lmtp(raw),
                           .maildir(raw), .requests(), .mailbox_list(), .mails_to(addr),
                           .verify(msg), the CLIs; .close() stops everything
  mailbox_env              module fixture: mailbox_env(seed, **kw) -> a started Mailbox,
                           one per (seed, kw) per module, stopped at the module's end

Every wait is bounded and scaled by TSCALE under a sanitized build.
"""
import email.utils
import json
import os
import re
import secrets
import signal
import smtplib
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import yaml

from fake_platform import FakePlatform
from lethe_e2e import ROOT, copy_demo, query, run_lethe
from request_helpers import (ADMIN_KEY, Clock, admin_get, configure_requests, policy,
                             wait_until)
from serve_helpers import FORM, TSCALE, Server
from smtp_helpers import SmtpSink, free_port

CORPUS = Path(__file__).resolve().parent / "mail_corpus"
SEEDS_DOC = ROOT / "docs" / "mail-intake.md"
MAILBOX_ADDR = "privacy@lethe.test"
PUBLIC = "http://127.0.0.1:8080"  # the demo's server.public_url
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
SAME = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}
LINK_RE = re.compile(r"/privacy/l/([a-z2-7]{32})")

DURATION_RE = re.compile(r"^([0-9]+)([smhdw])$")


# ---- the corpus ---------------------------------------------------------------------

def corpus(name, **values):
    """Corpus file @name with {{KEY}} replaced by values[KEY.lower()] (str, UTF-8 encoded);
    NONCE and DATE default to fresh values.  Fails on a placeholder left unfilled."""
    raw = (CORPUS / name).read_bytes()
    values = {k.upper(): v for k, v in values.items()}
    values.setdefault("NONCE", secrets.token_hex(8))
    values.setdefault("DATE", email.utils.formatdate(localtime=False))
    for k, v in values.items():
        raw = raw.replace(("{{%s}}" % k).encode(), str(v).encode("utf-8"))
    left = re.findall(rb"\{\{[A-Z_]+\}\}", raw)
    assert not left, "%s: placeholders not filled: %r" % (name, sorted(set(left)))
    return raw


def person_values(p, **over):
    """The placeholders of a mail @p sends from their registered address."""
    v = {"from": p.email, "from_name": p.name, "return_path": p.email, "to": MAILBOX_ADDR,
         "account_name": p.name, "ig_username": p.ig, "fb_page": p.fb, "ig_user_id": p.ig_id,
         "confirm": p.email, "code": "a" * 34, "marker": "none"}
    v.update(over)
    return v


def envelope(raw):
    """(envelope sender, message without its leading Return-Path line): a null sender is
    ""; no Return-Path line: (None, raw)."""
    m = re.match(rb"Return-Path:[ \t]*<([^>]*)>\r\n", raw, re.I)
    if not m:
        return None, raw
    return m.group(1).decode(), raw[m.end():]


def header_of(raw, name):
    """The first header @name of raw message @raw (unfolded), or None."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    m = re.search(r"^%s:[ \t]*(.*(?:\r\n[ \t].*)*)" % re.escape(name), head, re.M | re.I)
    return re.sub(r"\r\n[ \t]+", " ", m.group(1)).strip() if m else None


def big_mail(p, size):
    """A seed-000 mail of about @size bytes (a base64 attachment of random bytes)."""
    head = corpus("seed000-account-deletion.eml", **person_values(p))
    hdr, body = head.split(b"\r\n\r\n", 1)
    hdr = re.sub(rb"Content-Type: [^\r]*\r\nContent-Transfer-Encoding: [^\r]*",
                 b"Content-Type: multipart/mixed; boundary=\"big_1\"", hdr)
    line = (secrets.token_hex(38)[:76] + "\r\n").encode()
    n = max(1, size // len(line))
    return (hdr + b"\r\n\r\n--big_1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body +
            b"\r\n--big_1\r\nContent-Type: application/octet-stream; name=\"video.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + line * n + b"--big_1--\r\n")


def many_parts_mail(p, parts):
    """A seed-000 mail with @parts small text attachments."""
    head = corpus("seed000-account-deletion.eml", **person_values(p))
    hdr, body = head.split(b"\r\n\r\n", 1)
    hdr = re.sub(rb"Content-Type: [^\r]*\r\nContent-Transfer-Encoding: [^\r]*",
                 b"Content-Type: multipart/mixed; boundary=\"many_1\"", hdr)
    out = [hdr, b"\r\n\r\n--many_1\r\nContent-Type: text/plain\r\n\r\n", body]
    for i in range(parts):
        out.append(b"\r\n--many_1\r\nContent-Type: text/plain; name=\"n%d.txt\"\r\n"
                   b"Content-Disposition: attachment\r\n\r\nnote %d\r\n" % (i, i))
    out.append(b"\r\n--many_1--\r\n")
    return b"".join(out)


# ---- the seed blocks of the docs ---------------------------------------------------------

def _marked_block(marker):
    """The ```yaml block right after @marker in docs/mail-intake.md, parsed."""
    text = SEEDS_DOC.read_text()
    at = text.find(marker)
    assert at >= 0, "docs/mail-intake.md has no %s block" % marker
    m = re.compile(r"```yaml\n(.*?)```", re.S).search(text, at)
    assert m and m.start() == at + len(marker) + 1, "no ```yaml block right after %s" % marker
    return yaml.safe_load(m.group(1))


def seed_block(n):
    """The YAML block after `<!-- mailbox: seed-00N -->` in docs/mail-intake.md, parsed."""
    marker = "<!-- mailbox: seed-%03d -->" % n
    doc = _marked_block(marker)
    assert isinstance(doc, dict) and isinstance(doc.get("mailbox"), dict), \
        "the %s block is not a mailbox: section" % marker
    return doc


def seed_policies(n):
    """The policies of the `requests:` block after `<!-- policies: seed-00N -->` in
    docs/mail-intake.md (a list of dicts): what the seed's page promises about time and
    confirmation."""
    marker = "<!-- policies: seed-%03d -->" % n
    doc = _marked_block(marker)
    assert isinstance(doc, dict) and set(doc) == {"requests"} and \
        set(doc["requests"]) == {"policies"}, "the %s block is not requests.policies" % marker
    pols = doc["requests"]["policies"]
    for p in pols:
        assert p.get("sources") == ["email"], (marker, p)
    return pols


def seconds(d):
    """A duration of lethe.yaml ("30d", "48h") in seconds."""
    m = DURATION_RE.match(str(d))
    assert m, d
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def policy_for(pols, kind, scope):
    """The first of @pols a request by email of @kind and @scope follows."""
    for p in pols:
        if p["kind"] == kind and p.get("scope") in (None, scope) and \
                "email" in (p.get("sources") or ["email"]):
            return p
    pytest.fail("no policy for a request by email (%s, %s) in %r" % (kind, scope, pols))


PREFIX_RE = re.compile(r"^\s*((re|fwd?|aw|wg|sv|tr)\s*:\s*)+", re.I)


def rule_for(mb, subject, text=""):
    """The first rule of mailbox section @mb (a dict) whose subjects the subject (after
    Re:/Fwd:/... prefixes) contains or whose phrases subject or text contains."""
    subj = PREFIX_RE.sub("", subject).lower()
    both = (subject + "\n" + text).lower()
    for r in mb["rules"]:
        if any(s.lower() in subj for s in r.get("subjects") or []):
            return r
        if any(ph.lower() in both for ph in r.get("phrases") or []):
            return r
    return None


def decide(block, subject, kinds, text=""):
    """What the seed block's configuration makes of a mail with @subject (and @text) that
    names the identity kinds @kinds (a set; the sender's address is always given):
    (rule, identity name, path) with path "sender", "on_file" or "review" (the design's
    three request paths); the rule is asserted to exist."""
    mb = block["mailbox"]
    rule = rule_for(mb, subject, text)
    assert rule is not None, "no rule of the seed block matches %r" % subject
    claims = mb.get("claims") or {}
    for ident in rule["identities"]:
        if ident == "sender":
            return rule, ident, "sender"
        c = claims[ident]
        if c["identity"] in kinds:
            return rule, ident, "on_file" if c.get("proof") == "address_on_file" else "review"
    pytest.fail("rule %s names none of %s" % (rule["name"], sorted(kinds)))


# ---- the demo's people --------------------------------------------------------------------

class Person:
    def __init__(self, uid, email, name, ig, fb, ig_id):
        self.uid, self.email, self.name, self.ig, self.fb, self.ig_id = \
            uid, email, name, ig, fb, ig_id

    def __repr__(self):
        return "Person(%d)" % self.uid


def people(db):
    """Active demo users with an Instagram and a Facebook channel, by id."""
    rows = query(db, "SELECT u.id, u.email, u.name, "
                     "(SELECT c.username FROM channels c JOIN projects p ON p.id = c.project_id"
                     " WHERE p.user_id = u.id AND c.platform = 'instagram' ORDER BY c.id),"
                     "(SELECT c.username FROM channels c JOIN projects p ON p.id = c.project_id"
                     " WHERE p.user_id = u.id AND c.platform = 'facebook' ORDER BY c.id),"
                     "(SELECT c.platform_user_id FROM channels c JOIN projects p ON "
                     " p.id = c.project_id WHERE p.user_id = u.id AND c.platform = 'instagram'"
                     " ORDER BY c.id) FROM users u WHERE u.status = 'active' ORDER BY u.id")
    return [Person(*r) for r in rows if r[3] and r[4] and re.match(r"user\d+@", r[1])]


# ---- one mailbox --------------------------------------------------------------------------

class Served:
    """What a test's own `lethe serve` offers (Mailbox here, example_helpers.Example):
    lethe on .demo's config and .clock, served as .server with LMTP on .lmtp_port."""

    def wait_lmtp(self, timeout=10):
        deadline = time.monotonic() + timeout * TSCALE
        while time.monotonic() < deadline:
            try:
                with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=5) as c:
                    c.noop()
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail("no LMTP listener on 127.0.0.1:%d\n%s" % (self.lmtp_port,
                                                             self.server.stderr()))

    def wait(self, pred, what, timeout=15):
        wait_until(pred, what, timeout, self.server)

    def cli(self, *args, timeout=30):
        return run_lethe(*args, "-c", self.demo.config, env=self.clock.env(),
                         timeout=timeout)

    def cli_json(self, *args):
        rc, out, err = self.cli(*args, "--json")
        assert rc == 0, (args, rc, err)
        return json.loads(out)


class Mailbox(Served):
    """A private copy of the module's demo, an SMTP sink, a fake platform and `lethe serve`
    with mail: to the sink and the mailbox: section of seed @seed (plus the mailbox's
    address, LMTP on a free loopback port and a Maildir; @extra keys override)."""

    def __init__(self, template, base, seed, extra=None, selfservice=True):
        self.base = Path(base)
        self.demo = copy_demo(template.dir, self.base / "demo")
        self.fake = FakePlatform().__enter__()
        self.sink = SmtpSink().__enter__()
        self.clock = Clock(self.base / "now")
        self.server = None
        self.pool = people(self.demo.db)
        self.next_person = 0
        # The seed's own policies (docs/mail-intake.md), then one for the app's requests.
        self.policies = seed_policies(seed)
        configure_requests(self.demo, self.fake, self.policies + [policy("app-closure")])
        block = seed_block(seed)
        self.block = block
        mb = dict(block["mailbox"])
        self.lmtp_port = free_port()
        self.maildir_path = self.base / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (self.maildir_path / sub).mkdir(parents=True, exist_ok=True)
        mb["addresses"] = list(mb.get("addresses") or []) + [MAILBOX_ADDR]
        mb["lmtp"] = "127.0.0.1:%d" % self.lmtp_port
        mb["maildir"] = str(self.maildir_path)
        mb["poll"] = "1s"
        mb.update(extra or {})
        self.mb = mb
        text = self.demo.config.read_text()
        text += ("mail: {url: \"smtp://127.0.0.1:%d\", from: privacy@demo-social.example, "
                 "starttls: off}\n" % self.sink.port)
        if selfservice:
            text += ("selfservice: {path: /privacy, offers: [{id: close-account, kind: "
                     "erasure, scope: account, label: \"Close my account\"}]}\n")
        for k, v in block.items():
            if k != "mailbox":  # a seed's block may bring the policies it needs
                text = _without(text, k)
                text += "%s: %s\n" % (k, json.dumps(v))
        text += "mailbox: %s\n" % json.dumps(mb)
        self.demo.config.write_text(text)
        self.start()

    def start(self):
        env = dict(self.fake.env())
        env.update(self.clock.env())
        self.server = Server(self.demo.config, self.base / "serve.stderr", env=env)
        self.wait_lmtp()

    def close(self):
        if self.server is not None:
            self.server.kill()
        self.sink.__exit__(None, None, None)
        self.fake.__exit__(None, None, None)

    def person(self):
        """A demo user no other test of this mailbox has used."""
        assert self.next_person < len(self.pool), "the demo has too few users"
        p = self.pool[self.next_person]
        self.next_person += 1
        return p

    # -- delivering --

    def lmtp(self, raw, mail_from=None, rcpt=MAILBOX_ADDR, timeout=30):
        """Deliver @raw (its Return-Path line is the envelope sender unless @mail_from is
        given) through LMTP: the (code, text) of DATA's reply for the one recipient, or of
        the MAIL command when it is refused."""
        env_from, body = envelope(raw)
        if mail_from is None:
            mail_from = env_from or ""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=timeout * TSCALE) as c:
            code, _ = c.ehlo()
            assert code == 250
            code, text = c.mail(mail_from)
            if code != 250:
                return code, text.decode()
            code, text = c.rcpt(rcpt)
            assert code == 250, (code, text)
            code, text = c.data(body)
            return code, text.decode()

    def maildir(self, raw, name=None, wait=True, timeout=15):
        """Write @raw into the Maildir as an MDA does (tmp/ then rename into new/) and wait
        (bounded) until lethe consumed it; returns its path in new/."""
        name = name or "%d.M%dP%d.lethe-test" % (time.time(), secrets.randbelow(10**6),
                                                 os.getpid())
        tmp = self.maildir_path / "tmp" / name
        tmp.write_bytes(raw)
        dst = self.maildir_path / "new" / name
        os.rename(tmp, dst)
        if wait:
            self.wait(lambda: not dst.exists(), "Maildir file %s consumed" % name, timeout)
        return dst

    def deliver(self, via, raw):
        """@via "lmtp" (asserts a 250) or "maildir"."""
        if via == "lmtp":
            code, text = self.lmtp(raw)
            assert code == 250, (code, text, self.server.stderr())
        else:
            self.maildir(raw)

    # -- what lethe holds --

    def requests(self, **filters):
        """`lethe requests list --source email --json` (plus --state etc.), oldest first."""
        args = ["requests", "list", "--source", "email"]
        for k, v in filters.items():
            args += ["--" + k.replace("_", "-"), v]
        doc = self.cli_json(*args)
        return sorted(doc["requests"], key=lambda r: r["number"])

    def request(self, code):
        return self.cli_json("requests", "show", code)

    def mailbox_list(self, state="all", outcome=None):
        """`lethe mailbox list --json` rows, oldest first."""
        args = ["mailbox", "list", "--state", state]
        if outcome:
            args += ["--outcome", outcome]
        doc = self.cli_json(*args)
        rows = doc["mails"] if isinstance(doc, dict) else doc
        return sorted(rows, key=lambda r: r["id"])

    def mailbox_show(self, n):
        return self.cli_json("mailbox", "show", str(n))

    def api_mailbox(self, state="all"):
        return admin_get(self.server, "/v1/mailbox?state=" + state)

    def rows(self):
        """(id, via, outcome, rule, request_id, replied, state, raw kept) of every mail_in
        row of the state store."""
        return self.demo.state("SELECT id, via, outcome, rule, request_id, replied, state, "
                               "raw_box IS NOT NULL FROM mail_in ORDER BY id")

    def mails_to(self, addr):
        return [m for m in self.sink.messages if addr.lower() in [r.lower() for r in m.rcpt]]

    def wait_mails(self, addr, n, timeout=15):
        """Exactly @n mails to @addr within @timeout (and none more after a short pause)."""
        self.wait(lambda: len(self.mails_to(addr)) >= n, "%d mails to %s" % (n, addr),
                  timeout)
        time.sleep(0.3)
        got = self.mails_to(addr)
        assert len(got) == n, [(m.rcpt, m.subject) for m in got]
        return got

    # -- following a link --

    def verify(self, msg):
        """Open the one /privacy/l/ link of mail @msg and press its button (the form's CSRF
        token); returns the page after the POST."""
        tokens = LINK_RE.findall(msg.text)
        assert len(set(tokens)) == 1, msg.text
        path = "/privacy/l/" + tokens[0]
        status, _, page = self.server.request("GET", path)
        assert status == 200, (status, page)
        m = CSRF_RE.search(page.decode())
        assert m, page
        body = urlencode({"csrf": m.group(1)}).encode()
        h = {"Content-Type": FORM}
        h.update(SAME)
        status, _, page = self.server.request("POST", path, body=body, headers=h)
        assert status == 200, (status, page)
        return page.decode()

    def kill_server(self):
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.kill()


def _without(text, name):
    from lethe_e2e import without_section
    return without_section(text, name)


@pytest.fixture(scope="module")
def mailbox_env(demo_template, tmp_path_factory):
    """mailbox_env(seed, **extra) -> a started Mailbox (one per arguments per module)."""
    made = {}

    def get(seed, selfservice=True, **extra):
        key = (seed, selfservice, json.dumps(extra, sort_keys=True))
        if key not in made:
            made[key] = Mailbox(demo_template, tmp_path_factory.mktemp("mailbox"), seed,
                                extra=extra, selfservice=selfservice)
        return made[key]

    yield get
    for m in made.values():
        m.close()


def reply_headers_ok(msg, original_raw):
    """A reply of lethe's: Auto-Submitted: auto-replied, In-Reply-To and References the
    original's Message-ID."""
    mid = header_of(original_raw, "Message-ID")
    assert msg.header("Auto-Submitted") == "auto-replied", msg.raw[:600]
    assert msg.header("In-Reply-To") == mid, (msg.header("In-Reply-To"), mid)
    assert mid in (msg.header("References") or ""), msg.header("References")


def without_code(text, code):
    """@text with confirmation code @code (as written, or in groups of four as mails show
    it) replaced by CODE."""
    grouped = " ".join(code[i:i + 4] for i in range(0, len(code), 4))
    return text.replace(code, "CODE").replace(grouped, "CODE")


def admin_key():
    return ADMIN_KEY


def link_token_of(msg):
    t = LINK_RE.findall(msg.text)
    return t[0] if t else None


def path_of(url):
    return urlsplit(url).path
