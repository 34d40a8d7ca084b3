# SPDX-License-Identifier: MIT
"""An export's download links, status page, "ready" mail and self-service offer, end to
end (docs/export.md "Downloads", docs/selfservice.md).

The real `lethe serve` runs on the demo with a `mail:` section pointing at the real SMTP
server of the tests (scripts/smtp_sink.py, aiosmtpd on loopback) and the test clock
LETHE_TEST_NOW=file:PATH:

  - an app's export request: the "ready" mail arrives with a download link; GET of the link
    shows "Your data is ready" and never uses it; a POST without or with a wrong CSRF
    token is refused; the POST from the page streams the zip (its manifest's checksums
    verify, the person's row is in it); the link used: one refusal page for used, unknown
    and malformed links; concurrent POSTs of one link: exactly one gets the zip;
  - the status page (HTML and JSON) of the ready export: size, rows, expiry and a "Send
    me a new download link" button, which never answers with a link: it mails a fresh
    single-use link to the request's address, at most once a minute; its CSRF token is
    checked;
  - past the archive's expiry: the link page and the status page say it was deleted;
  - cancelled (withdrawn) after completion: the link's page says withdrawn;
  - the self-service page offers the export: ask -> verify mail -> confirm -> "ready"
    mail -> download; the links' pages work with the page itself turned off.
No token or address reaches the log.
"""
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from urllib.parse import urlencode, urlsplit

from fake_platform import fake_platform  # noqa: F401
from request_helpers import HOUR, Clock, app_act, configure_requests, start, users, wait_state
from disconnect_helpers import api
from serve_helpers import FORM, TSCALE, servers  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401

PUBLIC = "http://127.0.0.1:8080"  # the demo's server.public_url
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN_RE = re.compile(r"^[a-z2-7]{32}$")
SAME = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}
DAY = 24 * HOUR

POLICIES = [
    {"name": "export", "kind": "export", "scope": "account", "sources": ["app", "operator"],
     "deadline": "30d"},
    {"name": "self-service-export", "kind": "export", "scope": "account",
     "sources": ["self-service"], "verify": True, "deadline": "30d"},
    {"name": "self-service-closure", "kind": "erasure", "scope": "account",
     "sources": ["self-service"], "verify": True, "grace": "7d", "deadline": "30d"},
]


# The demo's offers (tests/e2e/conftest.py drops the demo's selfservice: section).
OFFERS = {"offers": [
    {"id": "close-account", "kind": "erasure", "scope": "account",
     "label": "Close my account and delete my data"},
    {"id": "export", "kind": "export", "scope": "account", "label": "Send me a copy of my data"},
]}


def serve(servers, demo, fake, sink, clock, selfservice=OFFERS):
    configure_requests(demo, fake, POLICIES)
    text = demo.config.read_text()
    text += ("mail: {url: \"smtp://127.0.0.1:%d\", from: privacy@demo.example, "
             "starttls: off}\n" % sink.port)
    if selfservice is not None:
        text += "selfservice: %s\n" % json.dumps(selfservice)
    demo.config.write_text(text)
    return start(servers, demo, fake, clock)


def export_create(srv, email):
    body = {"kind": "export", "scope": "account", "identities": {"email": email},
            "verified": True}
    status, _, doc = api(srv, "POST", "/v1/requests", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    assert status in (200, 201, 202), (status, doc)
    return doc["id"]


def link_token(msg):
    """The token of the one /privacy/l/ link of mail @msg."""
    links = [u for u in msg.links if "/privacy/l/" in u]
    assert len(links) == 1, msg.text
    assert links[0].startswith(PUBLIC + "/privacy/l/"), links
    token = urlsplit(links[0]).path.rsplit("/", 1)[1]
    assert TOKEN_RE.match(token), token
    return token


def link_get(srv, token):
    status, hdrs, data = srv.request("GET", "/privacy/l/" + token)
    return status, hdrs, data


def form_post(srv, path, fields, headers=None):
    h = {"Content-Type": FORM}
    h.update(SAME)
    h.update(headers or {})
    return srv.request("POST", path, body=urlencode(fields).encode(), headers=h, timeout=30)


def page_csrf(body):
    m = CSRF_RE.search(body.decode())
    assert m, body
    return m.group(1)


def download(srv, token):
    """GET the link's page, then POST its form: (status, headers, body bytes)."""
    status, _, page = link_get(srv, token)
    assert status == 200, page
    return form_post(srv, "/privacy/l/" + token, {"csrf": page_csrf(page)})


def check_zip(data, email):
    """The zip's manifest checksums verify and the person's row is in it: the manifest."""
    z = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["files"], manifest
    for f in manifest["files"]:
        blob = z.read(f["path"])
        assert len(blob) == f["bytes"], f
        assert hashlib.sha256(blob).hexdigest() == f["sha256"], f
    users_file = [n for n in z.namelist() if n.startswith("tables/users.")]
    assert users_file and email.encode() in z.read(users_file[0]), z.namelist()
    return manifest


def status_page(srv, code, json_=False):
    hdrs = {"Accept": "application/json"} if json_ else {}
    status, _, body = srv.request("GET", "/data-deletion/status?id=" + code, headers=hdrs)
    assert status == 200, body
    return json.loads(body) if json_ else body.decode()


def press_download(srv, code, csrf):
    return form_post(srv, "/data-deletion/status/download", {"id": code, "csrf": csrf})


def mail_about(sink, subject_word, timeout=15):
    """The one mail received whose subject holds @subject_word (waits for it)."""
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        got = [m for m in sink.messages if subject_word in m.subject]
        if got:
            assert len(got) == 1, [m.subject for m in sink.messages]
            return got[0]
        time.sleep(0.05)
    raise AssertionError("no mail about %r: %r" % (subject_word,
                                                   [m.subject for m in sink.messages]))


def ready(srv, smtp_sink, demo):
    """The app's export of one demo user, completed, and its "ready" mail."""
    (uid, email), = users(demo, 1)
    code = export_create(srv, email)
    wait_state(srv, code, ("completed",), timeout=30)
    return code, email, mail_about(smtp_sink, "ready")


# ---- the mailed link ------------------------------------------------------------------

def test_export_ready_mail_link_downloads_once(servers, demo, fake_platform, smtp_sink,
                                               tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    code, email, msg = ready(srv, smtp_sink, demo)
    assert msg.rcpt == [email]
    assert "ready" in msg.subject, msg.subject
    assert "records" in msg.text and "deleted on" in msg.text, msg.text
    assert "Account" in msg.text or "account" in msg.text, msg.text  # counts per category
    token = link_token(msg)
    # GET (a mail scanner, twice): the page, its button; the link is not used.
    for _ in range(2):
        status, hdrs, page = link_get(srv, token)
        assert status == 200, page
        assert b"Your data is ready" in page and b'type="submit"' in page
        assert hdrs["cache-control"] == "no-store"
        assert email.encode() not in page
    # POST without the CSRF token, with another form's, from another site: refused.
    assert form_post(srv, "/privacy/l/" + token, {})[0] == 403
    _, _, other = srv.request("GET", "/privacy")
    assert form_post(srv, "/privacy/l/" + token, {"csrf": page_csrf(other)})[0] == 403
    csrf = page_csrf(link_get(srv, token)[2])
    assert form_post(srv, "/privacy/l/" + token, {"csrf": csrf},
                     headers={"Origin": "https://evil.example",
                              "Sec-Fetch-Site": "cross-site"})[0] == 403
    # The POST from the page: the zip, whole, its checksums verify.
    status, hdrs, data = form_post(srv, "/privacy/l/" + token, {"csrf": csrf})
    assert status == 200, data[:300]
    assert hdrs["content-type"] == "application/zip", hdrs
    assert "attachment" in hdrs["content-disposition"], hdrs
    assert int(hdrs["content-length"]) == len(data)
    check_zip(data, email)
    # Used: one refusal page, the same as an unknown or a malformed link's.
    status, _, again = form_post(srv, "/privacy/l/" + token, {"csrf": csrf})
    assert status == 404 and b"no longer valid" in again, again
    status, _, got = link_get(srv, token)
    assert status == 404 and got == again
    status, _, unknown = link_get(srv, "a" * 32)
    assert status == 404 and unknown == again
    status, _, bad = link_get(srv, "not-a-token")
    assert status == 404 and bad == again
    log = srv.stderr()
    assert token not in log and email not in log


def test_export_link_concurrent_posts_one_download(servers, demo, fake_platform, smtp_sink,
                                                   tmp_path):
    """Eight POSTs of one link at once (the page's form pressed in eight tabs): exactly one
    gets the whole zip, the other seven the refusal page; the link is then used."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    code, email, msg = ready(srv, smtp_sink, demo)
    token = link_token(msg)
    csrf = page_csrf(link_get(srv, token)[2])
    n = 8
    gate = threading.Barrier(n)
    got = [None] * n

    def press(i):
        gate.wait(timeout=10 * TSCALE)
        got[i] = form_post(srv, "/privacy/l/" + token, {"csrf": csrf})

    threads = [threading.Thread(target=press, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60 * TSCALE)
    assert all(g is not None for g in got), got
    wins = [g for g in got if g[0] == 200]
    assert len(wins) == 1, [g[0] for g in got]
    check_zip(wins[0][2], email)
    assert sorted(g[0] for g in got) == [200] + [404] * (n - 1), [g[0] for g in got]
    assert all(b"no longer valid" in g[2] for g in got if g[0] == 404)
    assert link_get(srv, token)[0] == 404
    assert demo.state("SELECT downloads FROM exports") == [(1,)]


# ---- the status page ------------------------------------------------------------------

def test_export_status_page_download_button(servers, demo, fake_platform, smtp_sink,
                                            tmp_path):
    """The status page's button never hands out a link (its code is no secret): it mails a
    fresh single-use link to the request's address, at most once a minute."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    code, email, msg = ready(srv, smtp_sink, demo)
    page = status_page(srv, code)
    assert "Your request for a copy of your data" in page, page
    assert "Your data is ready" in page and "Send me a new download link" in page, page
    assert "Download my data" not in page
    assert 'action="/data-deletion/status/download"' in page
    # Its CSP lets the button post here (form-action 'self'), as the link pages do.
    _, hdrs, _ = srv.request("GET", "/data-deletion/status?id=" + code)
    assert "form-action 'self'" in hdrs["content-security-policy"], hdrs
    assert email not in page
    doc = status_page(srv, code, json_=True)
    assert doc["kind"] == "export"
    assert doc["export"]["ready"] is True and doc["export"]["deleted"] is False, doc
    assert doc["export"]["rows"] > 0 and doc["export"]["bytes"] > 0, doc
    assert doc["export"]["expires_at"], doc
    csrf = page_csrf(page.encode())
    # Without a token, with a wrong one, one bound to another code: refused, no link.
    assert press_download(srv, code, "")[0] == 403
    assert press_download(srv, code, "1.abc")[0] == 403
    status, _, body = form_post(srv, "/data-deletion/status/download",
                                {"id": "zzzz" + code[4:], "csrf": csrf})
    assert status == 403, body
    before = demo.state("SELECT count(*) FROM links WHERE purpose = 'download'")[0][0]
    sent = len(smtp_sink.messages)
    # The code and its CSRF token alone: a page, no link, nothing to follow.
    status, hdrs, body = press_download(srv, code, csrf)
    assert status == 200 and b"We are sending you a new link" in body, body
    assert "location" not in hdrs, hdrs
    assert b"/privacy/l/" not in body and not re.search(rb"[a-z2-7]{32}", body), body
    assert email.encode() not in body
    # The link went by mail, to the request's address: fresh, single use.
    again = smtp_sink.wait_for(sent + 1)[sent]
    assert again.rcpt == [email] and "ready" in again.subject, again.subject
    token = link_token(again)
    assert token != link_token(msg)
    assert demo.state("SELECT count(*) FROM links WHERE purpose = 'download'")[0][0] == \
        before + 1
    status, _, data = download(srv, token)
    assert status == 200, data[:300]
    check_zip(data, email)
    assert link_get(srv, token)[0] == 404
    # Pressed again within the minute: a clear page, no mail.
    status, hdrs, body = press_download(srv, code, csrf)
    assert status == 429 and b"less than a minute ago" in body, body
    assert "location" not in hdrs and b"/privacy/l/" not in body
    time.sleep(0.5)
    assert len(smtp_sink.messages) == sent + 1, [m.subject for m in smtp_sink.messages]
    # A minute later: another mail, another link; the first mail's link still works, once.
    clock.advance(61)
    status, _, body = press_download(srv, code, csrf)
    assert status == 200 and b"We are sending you a new link" in body, body
    third = smtp_sink.wait_for(sent + 2)[sent + 1]
    assert third.rcpt == [email] and link_token(third) not in (token, link_token(msg))
    status, _, data = download(srv, link_token(msg))
    assert status == 200
    check_zip(data, email)
    assert status_page(srv, code, json_=True)["export"]["ready"] is True
    # Not an export / unknown code: no link.
    status, _, body = form_post(srv, "/data-deletion/status/download",
                                {"id": "nosuchcode", "csrf": csrf})
    assert status == 403, body  # the token is bound to the code it was made for
    assert srv.request("GET", "/data-deletion/status/download")[0] == 405
    log = srv.stderr()
    assert token not in log and email not in log


# ---- expiry and withdrawal --------------------------------------------------------------

def test_export_expired_link_and_status_say_deleted(servers, demo, fake_platform, smtp_sink,
                                                    tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    code, email, msg = ready(srv, smtp_sink, demo)
    token = link_token(msg)
    csrf = page_csrf(status_page(srv, code).encode())
    assert link_get(srv, token)[0] == 200
    clock.advance(7 * DAY + HOUR)  # export.link_ttl: 7d
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if status_page(srv, code, json_=True)["export"]["deleted"]:
            break
        time.sleep(0.1)
    doc = status_page(srv, code, json_=True)
    assert doc["export"]["deleted"] is True and doc["export"]["ready"] is False, doc
    page = status_page(srv, code)
    assert "The copy of your data was deleted" in page and "new download link" not in page
    # The exporter's tick deletes it: the address goes with the archive's key.
    deadline = time.monotonic() + 15 * TSCALE
    while time.monotonic() < deadline and not demo.state(
            "SELECT 1 FROM exports WHERE deleted_at IS NOT NULL"):
        time.sleep(0.1)
    assert demo.state("SELECT notify_box IS NULL FROM requests WHERE code = '%s'" % code) == \
        [(1,)]
    status, _, body = link_get(srv, token)
    assert status == 410 and b"was deleted" in body and b"time" in body, body
    # The button's token made before has expired with the archive (2 h): refused.
    assert press_download(srv, code, csrf)[0] == 403
    assert not demo.state("SELECT 1 FROM links WHERE purpose = 'download' "
                          "AND created_at > %d" % (clock.now - HOUR))


def test_export_withdrawn_link_says_so(servers, demo, fake_platform, smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    code, email, msg = ready(srv, smtp_sink, demo)
    token = link_token(msg)
    csrf = page_csrf(status_page(srv, code).encode())
    # The address is kept while the archive is there (the button mails new links to it).
    assert demo.state("SELECT length(notify_box) > 0, length(identity_box) FROM requests "
                      "WHERE code = '%s'" % code) == [(1, 0)]
    status, doc = app_act(srv, code, "cancel", {"reason": "asked by mistake"})
    assert status == 200, doc
    assert demo.state("SELECT notify_box IS NULL FROM requests WHERE code = '%s'" % code) == \
        [(1,)]
    status, _, body = press_download(srv, code, csrf)
    assert status == 410 and b"withdrawn" in body, body
    status, _, body = link_get(srv, token)
    assert status == 410 and b"withdrawn" in body, body
    page = status_page(srv, code)
    assert "The copy of your data was deleted" in page and "withdrawn" in page, page


# ---- the self-service page ---------------------------------------------------------------

def test_export_selfservice_ask_verify_ready_download(servers, demo, fake_platform,
                                                      smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    status, _, form = srv.request("GET", "/privacy")
    assert status == 200 and b"Send me a copy of my data" in form and b'value="export"' in form
    status, _, page = form_post(srv, "/privacy", {"csrf": page_csrf(form), "offer": "export",
                                                  "email": email})
    assert status == 200 and b"Check your mailbox" in page, page
    verify = smtp_sink.wait_for(1)[0]
    assert "copy of your data" in verify.text, verify.text
    assert "close your account" not in verify.text and "delete your data" not in verify.text
    token = link_token(verify)
    status, _, page = link_get(srv, token)
    assert status == 200 and b"Send me a copy of my data" in page
    status, _, page = form_post(srv, "/privacy/l/" + token, {"csrf": page_csrf(page)})
    assert status == 200 and b"Request confirmed" in page, page
    (code, kind, state), = demo.state("SELECT code, kind, state FROM requests "
                                      "WHERE source = 'self-service'")
    assert kind == "export"
    wait_state(srv, code, ("completed",), timeout=30)
    ready_mail = mail_about(smtp_sink, "ready")
    status, _, data = download(srv, link_token(ready_mail))
    assert status == 200
    check_zip(data, email)
    # Asked again (an unknown address too): the same page as always, the rate limit silent.
    for addr in (email, "nobody-%s@example.org" % code):
        _, _, form = srv.request("GET", "/privacy")
        status, _, again = form_post(srv, "/privacy", {"csrf": page_csrf(form),
                                                       "offer": "export", "email": addr})
        assert status == 200 and b"Check your mailbox" in again, again
    # The known address is over export.rate_limit: nothing made for it; the other's made.
    assert demo.state("SELECT count(*) FROM requests WHERE source = 'self-service'")[0][0] == 2
    log = srv.stderr()
    assert email not in log and token not in log


def test_export_links_work_with_page_off(servers, demo, fake_platform, smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock, selfservice={"enabled": False})
    code, email, msg = ready(srv, smtp_sink, demo)
    assert srv.request("GET", "/privacy")[0] == 404  # the form is off
    status, _, data = download(srv, link_token(msg))
    assert status == 200
    check_zip(data, email)
    sent = len(smtp_sink.messages)
    status, _, _ = press_download(srv, code, page_csrf(status_page(srv, code).encode()))
    assert status == 200
    status, _, data = download(srv, link_token(smtp_sink.wait_for(sent + 1)[sent]))
    assert status == 200
