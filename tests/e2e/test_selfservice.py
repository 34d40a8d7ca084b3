# SPDX-License-Identifier: MIT
"""The self-service page and its mailed links, end to end (docs/selfservice.md).

The real `lethe serve` runs on the demo with a `mail:` section pointing at the real SMTP
server of the tests (scripts/smtp_sink.py, aiosmtpd on loopback) and the test clock
LETHE_TEST_NOW=file:PATH.  A person asks on GET/POST /privacy, the mail's link opens a
page that changes nothing until its button is pressed (a POST with a CSRF token), and
each case checks the page, the mail, the request's state (the app API, `lethe requests`)
and the app database.  Also: no account enumeration (same bytes, same timing), CSRF and
origin checks, header injection, HTML escaping, rate limits, body caps, and that no
address or token reaches the log.
"""
import json
import re
import statistics
import time
from urllib.parse import urlencode, urlsplit

from fake_platform import fake_platform  # noqa: F401
from request_helpers import (
    HOUR,
    Clock,
    app_act,
    app_get,
    cli,
    configure_requests,
    create,
    policy,
    start,
    user_status,
    users,
    wait_until,
)
from disconnect_helpers import api, serve_env
from lethe_e2e import run_lethe
from serve_helpers import FORM, servers, stop_ok  # noqa: F401
from smtp_helpers import smtp_sink  # noqa: F401

DEMO_OPTIONS = ["--users", "14", "--seed", "7"]
PUBLIC = "http://127.0.0.1:8080"  # the demo's server.public_url
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN_RE = re.compile(r"^[a-z2-7]{32}$")
SAME = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}

# Requests made on the page: a grace period with the close-account effect, as the app's.
SS_POLICY = {"name": "self-service-closure", "kind": "erasure", "scope": "account",
             "sources": ["self-service"], "grace": "7d", "deadline": "30d",
             "effects": ["close-account"]}
APP_POLICY = policy("app-closure", grace="7d", deadline="30d", effects=["close-account"])


def write_config(demo, fake, sink, selfservice=None, policies=None, link_ttl="24h"):
    """The demo's lethe.yaml with the fake platform, the policies, mail to @sink."""
    configure_requests(demo, fake, policies or [SS_POLICY, APP_POLICY])
    text = demo.config.read_text()
    text += ("mail: {url: \"smtp://127.0.0.1:%d\", from: privacy@demo.example, "
             "starttls: off, link_ttl: %s}\n" % (sink.port, link_ttl))
    if selfservice is not None:
        text += "selfservice: %s\n" % json.dumps(selfservice)
    demo.config.write_text(text)


def serve(servers, demo, fake, sink, clock, **kw):
    write_config(demo, fake, sink, **kw)
    return start(servers, demo, fake, clock)


def page_csrf(srv, path="/privacy"):
    status, hdrs, body = srv.request("GET", path)
    assert status == 200, (status, body)
    m = CSRF_RE.search(body.decode())
    assert m, body
    return m.group(1)


def ask(srv, email, offer="close-account", csrf="fresh", headers=None, raw=None):
    """POST /privacy as the form does (@csrf "fresh": the token of a form just fetched,
    None: no token): (status, headers, body text)."""
    if csrf == "fresh":
        csrf = page_csrf(srv)
    fields = {"csrf": csrf, "offer": offer, "email": email}
    body = raw if raw is not None else urlencode({k: v for k, v in fields.items()
                                                  if v is not None}).encode()
    h = {"Content-Type": FORM}
    h.update(SAME)
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    status, hdrs, data = srv.request("POST", "/privacy", body=body, headers=h)
    return status, hdrs, data.decode()


def link_token(msg):
    """The token of the one self-service link of mail @msg."""
    links = [u for u in msg.links if "/privacy/l/" in u]
    assert len(links) == 1, msg.text
    assert links[0].startswith(PUBLIC + "/privacy/l/"), links
    token = urlsplit(links[0]).path.rsplit("/", 1)[1]
    assert TOKEN_RE.match(token), token
    return token


def link_get(srv, token):
    status, hdrs, data = srv.request("GET", "/privacy/l/" + token)
    return status, hdrs, data.decode()


def link_post(srv, token, csrf="from-page", headers=None):
    if csrf == "from-page":
        _, _, page = link_get(srv, token)
        m = CSRF_RE.search(page)
        assert m, page
        csrf = m.group(1)
    body = urlencode({"csrf": csrf} if csrf is not None else {}).encode()
    h = {"Content-Type": FORM}
    h.update(SAME)
    h.update(headers or {})
    status, hdrs, data = srv.request("POST", "/privacy/l/" + token, body=body, headers=h)
    return status, hdrs, data.decode()


def ss_requests(demo):
    """(id, code, state, expires_at) of every self-service request, oldest first."""
    return demo.state("SELECT id, code, state, expires_at FROM requests "
                      "WHERE source = 'self-service' ORDER BY id")


def assert_page_headers(hdrs):
    assert hdrs["content-type"].startswith("text/html"), hdrs
    assert hdrs["cache-control"] == "no-store", hdrs
    assert hdrs["referrer-policy"] == "no-referrer", hdrs
    csp = hdrs["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp, csp
    assert "script-src" not in csp, csp
    assert "set-cookie" not in hdrs, hdrs


def no_more_mail(sink, n, wait=1.5):
    """Still exactly @n messages after @wait seconds."""
    time.sleep(wait)
    assert len(sink.messages) == n, [(m.rcpt, m.subject) for m in sink.messages]


# ---- the page and the confirmation link ---------------------------------------------

def test_selfservice_form_page(servers, demo, fake_platform, smtp_sink, tmp_path):
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    status, hdrs, body = srv.request("GET", "/privacy")
    page = body.decode()
    assert status == 200
    assert_page_headers(hdrs)
    assert '<html lang="en">' in page
    assert '<label class="field" for="email">' in page and 'id="email"' in page
    assert 'for="offer-close-account"' in page and 'id="offer-close-account"' in page
    assert 'method="post" action="/privacy"' in page
    assert "<script" not in page
    assert CSRF_RE.search(page)
    # Other methods: 405 with Allow; an unknown path under it: 404 page.
    status, hdrs, body = srv.request("PUT", "/privacy", body=b"x", headers={"Content-Type": FORM})
    assert status == 405 and hdrs["allow"] == "GET, HEAD, POST", (status, hdrs)
    assert b"<h1>" in body
    status, hdrs, body = srv.request("DELETE", "/privacy/l/" + "a" * 32)
    assert status == 405
    status, _, body = srv.request("GET", "/privacy/other")
    assert status == 404 and b"<h1>" in body


def test_selfservice_errors_as_pages_only_under_its_path(servers, demo, fake_platform,
                                                         smtp_sink, tmp_path):
    """The page's path and what is under it answer errors as pages whatever the client
    asks; a path that merely starts with the same letters (/privacyx) is not the page's."""
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    for path in ("/privacy/nosuch", "/privacy/l/short"):
        status, hdrs, body = srv.request("GET", path)
        assert status == 404 and hdrs["content-type"].startswith("text/html"), (path, hdrs)
    for path in ("/privacyx", "/privacy-policy", "/privacyx/l/" + "a" * 32):
        status, hdrs, body = srv.request("GET", path)
        assert status == 404, (path, status)
        assert hdrs["content-type"].startswith("application/json"), (path, hdrs)
        assert json.loads(body)["error"]["code"], body


def test_selfservice_ask_confirm_schedules(servers, demo, fake_platform, smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    local, domain = email.split("@")
    status, hdrs, page = ask(srv, " %s@%s " % (local, domain.upper()))  # the domain's case
    assert status == 200, page
    assert_page_headers(hdrs)
    assert "Check your mailbox" in page
    msgs = smtp_sink.wait_for(1)
    assert msgs[0].rcpt == [email]
    token = link_token(msgs[0])
    (rid, code, state, expires), = ss_requests(demo)
    assert state == "awaiting_verification"
    assert abs(expires - (clock.now + 24 * HOUR)) <= 5, (expires, clock.now)
    # GET the link (a mail scanner): the page and its button, nothing changes.
    for _ in range(2):
        status, hdrs, page = link_get(srv, token)
        assert status == 200, page
        assert_page_headers(hdrs)
        assert "Confirm your request" in page and 'type="submit"' in page
        assert "Close my account and delete my data" in page
    assert ss_requests(demo)[0][2] == "awaiting_verification"
    assert user_status(demo, uid) == "active"
    # POST without its CSRF token, or with another's: refused, nothing changes.
    status, _, page = link_post(srv, token, csrf=None)
    assert status == 403, page
    status, _, page = link_post(srv, token, csrf=page_csrf(srv))
    assert status == 403, page
    assert ss_requests(demo)[0][2] == "awaiting_verification"
    # POST from the page: confirmed, scheduled with its grace, the effect applied.
    csrf = CSRF_RE.search(link_get(srv, token)[2]).group(1)
    status, hdrs, page = link_post(srv, token, csrf=csrf)
    assert status == 200, page
    assert_page_headers(hdrs)
    assert "Request confirmed" in page
    assert 'href="%s/data-deletion/status?id=%s"' % (PUBLIC, code) in page
    assert ss_requests(demo)[0][2] == "scheduled"
    wait_until(lambda: user_status(demo, uid) == "closing", "the effect applied", srv=srv)
    # Used: refused, one page for all.
    status, _, page = link_post(srv, token, csrf=csrf)
    assert status == 404 and "no longer valid" in page, page
    status, _, page2 = link_get(srv, token)
    assert status == 404 and page2 == page
    # Its news: the "scheduled" mail, with a cancel link; the status page points to it.
    msgs = smtp_sink.wait_for(2)
    assert link_token(msgs[1]) != token
    status, _, body = srv.request("GET", "/data-deletion/status?id=" + code)
    assert status == 200 and b"use the cancel link in the email we sent you" in body
    log = srv.stderr()
    assert email.lower() not in log.lower() and token not in log


def test_selfservice_cancel_link_during_grace(servers, demo, fake_platform, smtp_sink,
                                              tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    assert ask(srv, email)[0] == 200
    assert link_post(srv, link_token(smtp_sink.wait_for(1)[0]))[0] == 200
    wait_until(lambda: user_status(demo, uid) == "closing", "the effect applied", srv=srv)
    cancel = link_token(smtp_sink.wait_for(2)[1])
    status, _, page = link_get(srv, cancel)
    assert status == 200 and "Cancel your request" in page, page
    assert ss_requests(demo)[0][2] == "scheduled"
    csrf = CSRF_RE.search(page).group(1)
    status, _, page = link_post(srv, cancel, csrf=csrf)
    assert status == 200 and "Request cancelled" in page, page
    assert ss_requests(demo)[0][2] == "cancelled"
    wait_until(lambda: user_status(demo, uid) == "active", "the effect undone", srv=srv)
    assert link_post(srv, cancel, csrf=csrf)[0] == 404


def test_selfservice_link_expires_with_request(servers, demo, fake_platform, smtp_sink,
                                               tmp_path):
    """Verification wired into the policies: whatever the policy says (here: review, no
    verification), a request from the page awaits its link, is listed and shown as
    expiring, never waits for review, and expires with its link."""
    clock = Clock(tmp_path / "clock")
    reviewed = dict(SS_POLICY, review=True)
    srv = serve(servers, demo, fake_platform, smtp_sink, clock, link_ttl="2h",
                policies=[reviewed, APP_POLICY])
    (uid, email), = users(demo, 1)
    assert ask(srv, email)[0] == 200
    token = link_token(smtp_sink.wait_for(1)[0])
    (rid, code, state, expires), = ss_requests(demo)
    assert state == "awaiting_verification" and expires == clock.now + 2 * HOUR
    rc, out, err = cli(demo, clock, "list", "--state", "awaiting_verification", "--json")
    assert rc == 0, err
    listed = [r for r in json.loads(out)["requests"] if r["id"] == code]
    assert len(listed) == 1 and listed[0]["expires_at"], out
    rc, out, err = cli(demo, clock, "list", "--state", "awaiting_review", "--json")
    assert rc == 0 and code not in out
    status, _, body = srv.request("GET", "/data-deletion/status?id=" + code)
    assert status == 200 and b"the request expires" in body
    # The link's life ends: refused, and the request expires.
    clock.advance(2 * HOUR + 1)
    status, _, page = link_get(srv, token)
    assert status == 404 and "no longer valid" in page
    assert link_post(srv, token, csrf=page_csrf(srv))[0] in (403, 404)
    wait_until(lambda: ss_requests(demo)[0][2] == "expired", "the request expired", srv=srv)
    assert user_status(demo, uid) == "active"
    rc, out, err = cli(demo, clock, "list", "--state", "awaiting_review", "--json")
    assert rc == 0 and code not in out


def test_selfservice_expired_link_post(servers, demo, fake_platform, smtp_sink, tmp_path):
    """A link page opened in time but sent after the link expired: refused."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock, link_ttl="1h")
    (uid, email), = users(demo, 1)
    assert ask(srv, email)[0] == 200
    token = link_token(smtp_sink.wait_for(1)[0])
    _, _, page = link_get(srv, token)
    csrf = CSRF_RE.search(page).group(1)
    clock.advance(HOUR + 1)
    status, _, page = link_post(srv, token, csrf=csrf)
    assert status == 404 and "no longer valid" in page
    assert ss_requests(demo)[0][2] in ("awaiting_verification", "expired")
    assert user_status(demo, uid) == "active"


def test_selfservice_repeat_mails_link_again(servers, demo, fake_platform, smtp_sink,
                                             tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    assert ask(srv, email)[0] == 200
    first = link_token(smtp_sink.wait_for(1)[0])
    clock.advance(HOUR)
    assert ask(srv, email)[0] == 200
    second = link_token(smtp_sink.wait_for(2)[1])
    assert first != second
    (rid, code, state, expires), = ss_requests(demo)  # the same request
    assert state == "awaiting_verification" and expires == clock.now + 24 * HOUR
    assert link_post(srv, second)[0] == 200
    assert ss_requests(demo)[0][2] == "scheduled"


def test_selfservice_repeat_never_shortens_expiry(servers, demo, fake_platform, smtp_sink,
                                                  tmp_path):
    """Anyone can ask with anyone's address: a repeat may push a pending request's expiry
    later, never sooner (here mail.link_ttl was cut from 24 h to 1 h meanwhile)."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    assert ask(srv, email)[0] == 200
    smtp_sink.wait_for(1)
    (rid, code, state, expires), = ss_requests(demo)
    assert expires == clock.now + 24 * HOUR
    stop_ok(srv)
    srv = serve(servers, demo, fake_platform, smtp_sink, clock, link_ttl="1h")
    clock.advance(HOUR)
    assert ask(srv, email)[0] == 200
    second = link_token(smtp_sink.wait_for(2)[1])           # its news, mailed again
    assert ss_requests(demo) == [(rid, code, "awaiting_verification", expires)]
    assert link_post(srv, second)[0] == 200


def test_selfservice_repeat_of_request_without_address(servers, demo, fake_platform,
                                                       smtp_sink, tmp_path):
    """A request made while mail was off has no address (notify_kind 0) and awaits
    verification for requests.verify_ttl: an ask with its address leaves it as it is
    (same expiry, no mail), and the page answers as always."""
    clock = Clock(tmp_path / "clock")
    (uid, email), = users(demo, 1)
    configure_requests(demo, fake_platform, [SS_POLICY, dict(APP_POLICY, verify=True)])
    srv = start(servers, demo, fake_platform, clock)
    status, doc = create(srv, {"email": email}, verified=False)
    assert status in (200, 201, 202) and doc["state"] == "awaiting_verification", doc
    rows = demo.state("SELECT id, state, expires_at, notify_kind FROM requests")
    assert rows == [(rows[0][0], "awaiting_verification", clock.now + 7 * 24 * HOUR, 0)]
    stop_ok(srv)
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    clock.advance(HOUR)
    status, _, page = ask(srv, email)
    assert status == 200 and "Check your mailbox" in page, page
    assert demo.state("SELECT id, state, expires_at, notify_kind FROM requests") == rows
    no_more_mail(smtp_sink, 0)
    assert demo.state("SELECT count(*) FROM mail") == [(0,)]


# ---- a notification address given with an app's request ------------------------------

def test_selfservice_notify_address_confirmed_first(servers, demo, fake_platform, smtp_sink,
                                                    tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    notify = "news-for-%d@elsewhere.example" % uid
    body = {"kind": "erasure", "scope": "account", "identities": {"user_id": str(uid)},
            "verified": True, "notify": notify}
    status, _, doc = api(srv, "POST", "/v1/requests", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    assert status in (200, 201, 202), doc
    code = doc["id"]
    assert doc["state"] == "scheduled", doc
    # Only the "confirm this address" mail, nothing else before its link is followed.
    msg = smtp_sink.wait_for(1)[0]
    assert msg.rcpt == [notify]
    token = link_token(msg)
    no_more_mail(smtp_sink, 1)
    status, _, page = link_get(srv, token)
    assert status == 200 and "Confirm your email address" in page, page
    no_more_mail(smtp_sink, 1, wait=0.5)
    csrf = CSRF_RE.search(page).group(1)
    status, _, page = link_post(srv, token, csrf=csrf)
    assert status == 200 and "Address confirmed" in page, page
    assert 'href="%s/data-deletion/status?id=%s"' % (PUBLIC, code) in page
    # Now the request's news: where it stands (scheduled, with its cancel link).
    msgs = smtp_sink.wait_for(2)
    assert msgs[1].rcpt == [notify]
    assert link_post(srv, token, csrf=csrf)[0] == 404
    assert app_get(srv, code)["state"] == "scheduled"
    log = srv.stderr()
    assert notify not in log and token not in log


def test_selfservice_address_link_dies_with_the_request(servers, demo, fake_platform,
                                                        smtp_sink, tmp_path):
    """An address link is for a request that is not finished: once it ended (its address
    wiped), the link is no longer valid rather than "confirming" an address nothing will
    ever be mailed to."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    notify = "late-%d@elsewhere.example" % uid
    body = {"kind": "erasure", "scope": "account", "identities": {"user_id": str(uid)},
            "verified": True, "notify": notify}
    status, _, doc = api(srv, "POST", "/v1/requests", body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    assert status in (200, 201, 202) and doc["state"] == "scheduled", doc
    code = doc["id"]
    token = link_token(smtp_sink.wait_for(1)[0])
    _, _, page = link_get(srv, token)
    csrf = CSRF_RE.search(page).group(1)
    status, doc = app_act(srv, code, "cancel", {"reason": "changed my mind"})
    assert status == 200 and doc["state"] == "cancelled", doc
    status, _, page = link_get(srv, token)
    assert status == 404 and "no longer valid" in page, page
    status, _, page = link_post(srv, token, csrf=csrf)
    assert status == 404 and "no longer valid" in page, page
    assert demo.state("SELECT notify_ok FROM requests WHERE code = ?", (code,)) == [(0,)]
    no_more_mail(smtp_sink, 1)


# ---- no account enumeration ----------------------------------------------------------

def test_selfservice_same_answer_known_or_not(servers, demo, fake_platform, smtp_sink,
                                              tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock,
                selfservice={"limits": {"per_address": 1000, "per_client": 1000}})
    (uid, email), = users(demo, 1)
    unknown = "nobody-%d@nowhere.example" % uid
    answers = []
    for addr in (email, unknown):
        status, hdrs, page = ask(srv, addr)
        hdrs.pop("date", None)
        answers.append((status, hdrs, page))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
    # Both get their link; both requests await it.
    msgs = smtp_sink.wait_for(2)
    assert sorted(m.rcpt[0] for m in msgs) == sorted([email, unknown])
    assert [r[2] for r in ss_requests(demo)] == ["awaiting_verification"] * 2
    # The form itself differs only by its CSRF token.
    a = srv.request("GET", "/privacy")[2].decode()
    time.sleep(1.1)
    b = srv.request("GET", "/privacy")[2].decode()
    assert CSRF_RE.sub("", a) == CSRF_RE.sub("", b)


def test_selfservice_timing_known_or_not(servers, demo, fake_platform, smtp_sink, tmp_path):
    """40 asks each for known and unknown addresses, alternating (both cycling through 10
    addresses, so each side makes 10 requests and repeats them 3 times): the medians are
    within 25% or 5 ms of each other, whichever is larger."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock,
                selfservice={"limits": {"per_address": 1000, "per_client": 1000}})
    known = [e for _, e in users(demo, 10, with_channels=False)]
    unknown = ["nobody%d@nowhere.example" % i for i in range(10)]
    csrf = page_csrf(srv)
    times = {"known": [], "unknown": []}
    for i in range(40):
        for side, addrs in (("known", known), ("unknown", unknown)):
            t0 = time.perf_counter()
            status, _, _ = ask(srv, addrs[i % 10], csrf=csrf)
            times[side].append(time.perf_counter() - t0)
            assert status == 200
    mk, mu = statistics.median(times["known"]), statistics.median(times["unknown"])
    assert abs(mk - mu) <= max(0.25 * max(mk, mu), 0.005), (mk, mu)


# ---- CSRF, origin, bad input -----------------------------------------------------------

def test_selfservice_csrf_and_origin(servers, demo, fake_platform, smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock)
    (uid, email), = users(demo, 1)
    good = page_csrf(srv)
    forged = good.split(".")[0] + "." + "a" * 32
    cases = [
        dict(csrf=None),                                      # missing
        dict(csrf=forged),                                    # forged
        dict(csrf=str(int(good.split(".")[0]) + 5) + "." + good.split(".")[1]),  # moved
        dict(csrf=good, headers={"Sec-Fetch-Site": "cross-site"}),
        dict(csrf=good, headers={"Origin": "https://evil.example"}),
        dict(csrf=good, headers={"Origin": "null", "Sec-Fetch-Site": None}),
        dict(csrf=good, headers={"Origin": "null", "Sec-Fetch-Site": "same-site"}),
    ]
    for c in cases:
        status, hdrs, page = ask(srv, email, **c)
        assert status == 403, (c, page)
        assert hdrs["content-type"].startswith("text/html") and "<h1>" in page
    # An old token: refused once 2 h have passed.
    clock.advance(2 * HOUR + 1)
    assert ask(srv, email, csrf=good)[0] == 403
    no_more_mail(smtp_sink, 0, wait=0.5)
    assert ss_requests(demo) == []
    # A fresh one without Origin and Fetch headers (an old browser) is taken.
    status, _, page = ask(srv, email, headers={"Origin": None, "Sec-Fetch-Site": None})
    assert status == 200, page
    # What Chromium sends from our page (Referrer-Policy: no-referrer) is taken.
    status, _, page = ask(srv, email, headers={"Origin": "null",
                                               "Sec-Fetch-Site": "same-origin"})
    assert status == 200, page


def test_selfservice_origin_default_port(servers, demo, fake_platform, smtp_sink, tmp_path):
    """A public_url with its scheme's default port written out (http://host:80) matches
    the Origin a browser sends (never with that port), and the port written out too."""
    write_config(demo, fake_platform, smtp_sink)
    text = demo.config.read_text()
    text, n = re.subn(r"^(\s*public_url:\s*)\S+", r"\g<1>http://127.0.0.1:80/", text,
                      flags=re.M)
    assert n == 1
    demo.config.write_text(text)
    srv = start(servers, demo, fake_platform, Clock(tmp_path / "clock"))
    for origin in ("http://127.0.0.1", "http://127.0.0.1:80", "HTTP://127.0.0.1"):
        status, _, page = ask(srv, "port@origin.example", headers={"Origin": origin})
        assert status == 200, (origin, page)
    for origin in ("http://127.0.0.1:8080", "https://127.0.0.1", "http://127.0.0.1:800",
                   "http://127.0.0.1.evil.example", "http://127.0.0.1:80:80"):
        status, _, page = ask(srv, "port@origin.example", headers={"Origin": origin})
        assert status == 403, (origin, page)


def test_selfservice_header_injection_refused(servers, demo, fake_platform, smtp_sink,
                                              tmp_path):
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    bad = ["victim@example.com\r\nBcc: evil@example.com",
           "victim@example.com\nBcc: evil@example.com",
           "victim@example.com,evil@example.com",
           "victim@example.com, evil@example.com",
           "<victim@example.com>",
           "victim@example.com\r\n",
           "no-at-sign.example.com",
           "x" * 300 + "@example.com",
           ""]
    for addr in bad:
        status, hdrs, page = ask(srv, addr)
        assert status == 400, (addr, page)
        assert 'id="email-error"' in page and 'aria-invalid="true"' in page, page
        assert CSRF_RE.search(page)  # the form again, ready to send
    no_more_mail(smtp_sink, 0)
    assert ss_requests(demo) == []


def test_selfservice_dotless_address_refused(servers, demo, fake_platform, smtp_sink,
                                             tmp_path):
    """An address lethe would never mail a request's news to (no dot in its domain) is
    refused on the form, not taken to sit unmailed awaiting verification."""
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    for addr in ("bob@localhost", "root@intranet"):
        status, _, page = ask(srv, addr)
        assert status == 400, (addr, page)
        assert 'id="email-error"' in page and CSRF_RE.search(page), page
    assert ss_requests(demo) == []
    assert ask(srv, "bob@localhost.example")[0] == 200   # with a dot: taken and mailed
    assert smtp_sink.wait_for(1)[0].rcpt == ["bob@localhost.example"]
    (rid, code, state, expires), = ss_requests(demo)
    assert state == "awaiting_verification"
    assert demo.state("SELECT notify_kind FROM requests WHERE id = ?", (rid,)) == [(1,)]


def test_selfservice_html_escaped(servers, demo, fake_platform, smtp_sink, tmp_path):
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>@x.example'
    status, _, page = ask(srv, evil)
    assert status == 400
    assert "<script>" not in page and "<img src=x" not in page, page
    assert "&lt;script&gt;" in page and "&quot;&gt;" in page
    status, _, page = ask(srv, "ok@x.example", offer='<b onmouseover="x">bold</b>')
    assert status == 400 and 'id="offer-error"' in page
    assert "<b onmouseover" not in page and "bold</b>" not in page
    # The error pages echo nothing of the path.
    status, _, body = srv.request("GET", "/privacy/l/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert status == 404 and b"<script" not in body
    no_more_mail(smtp_sink, 0, wait=0.5)


def test_selfservice_rate_limits(servers, demo, fake_platform, smtp_sink, tmp_path):
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"),
                selfservice={"limits": {"per_address": 2, "per_client": 3, "window": "1h"}})
    a, b, c = "a@limits.example", "b@limits.example", "c@limits.example"
    assert ask(srv, a)[0] == 200
    assert ask(srv, a)[0] == 200
    status, hdrs, page = ask(srv, a)                      # the address's third
    assert status == 429, page
    assert hdrs["retry-after"] == "3600"
    assert "Too many requests" in page and "1 hour" in page
    assert_page_headers(hdrs)
    assert ask(srv, b)[0] == 200                          # the client's third
    status, hdrs, page = ask(srv, c)                      # the client's fourth
    assert status == 429 and hdrs["retry-after"] == "3600", page
    codes = ss_requests(demo)
    assert len(codes) == 2                                # a's and b's; none for c
    assert srv.request("GET", "/privacy")[0] == 200       # the page itself still answers


def test_selfservice_rate_limit_ignores_plus_tags(servers, demo, fake_platform, smtp_sink,
                                                  tmp_path):
    """name+1@, name+2@ ... are one mailbox at most providers: one quota.  The mail still
    goes to the address as typed."""
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"),
                selfservice={"limits": {"per_address": 2, "per_client": 1000}})
    assert ask(srv, "victim+1@limits.example")[0] == 200
    assert ask(srv, "Victim+2@limits.example")[0] == 200
    status, hdrs, page = ask(srv, "victim+3@limits.example")
    assert status == 429 and hdrs["retry-after"] == "3600", page
    assert ask(srv, "victim@limits.example")[0] == 429
    assert ask(srv, "other+1@limits.example")[0] == 200      # another mailbox
    msgs = smtp_sink.wait_for(3)
    assert sorted(m.rcpt[0] for m in msgs) == ["Victim+2@limits.example",
                                               "other+1@limits.example",
                                               "victim+1@limits.example"]
    no_more_mail(smtp_sink, 3, wait=0.5)


def test_selfservice_rate_limit_total(servers, demo, fake_platform, smtp_sink, tmp_path):
    """selfservice.limits.total caps all asks together, whatever their address or client."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock,
                selfservice={"limits": {"per_address": 1000, "per_client": 1000,
                                        "total": 3, "window": "1h"}})
    for i in range(3):
        assert ask(srv, "t%d@limits.example" % i)[0] == 200
    status, hdrs, page = ask(srv, "t3@limits.example")
    assert status == 429 and hdrs["retry-after"] == "3600", page
    assert "or in all" in page, page  # not blamed on this address or network alone
    assert len(ss_requests(demo)) == 3
    clock.advance(HOUR)                                     # a new window
    assert ask(srv, "t3@limits.example")[0] == 200


def test_selfservice_rate_purge_survives_refused_ask(servers, demo, fake_platform,
                                                     smtp_sink, tmp_path):
    """Ended rate windows are purged now and then as asks come: a purge that falls on an
    ask refused by a limit stays done (the refusal rolls back only the ask's hits)."""
    clock = Clock(tmp_path / "clock")
    srv = serve(servers, demo, fake_platform, smtp_sink, clock,
                selfservice={"limits": {"per_address": 1, "per_client": 1000,
                                        "window": "1h"}})
    assert ask(srv, "x@purge.example")[0] == 200            # windows from t0
    clock.advance(HOUR // 2)
    assert ask(srv, "a@purge.example")[0] == 200            # a's window from t0 + 30 min
    clock.advance(35 * 60)                                  # t0's windows ended
    assert ask(srv, "a@purge.example")[0] == 429            # refused; the purge falls here
    ended = demo.state("SELECT count(*) FROM rate_hits WHERE window_start <= ?",
                       (clock.now - HOUR,))
    assert ended == [(0,)], ended
    assert demo.state("SELECT count(*) FROM rate_hits") == [(1,)]   # a's window only


def test_selfservice_bodies_too_big(servers, demo, fake_platform, smtp_sink, tmp_path):
    srv = serve(servers, demo, fake_platform, smtp_sink, Clock(tmp_path / "clock"))
    csrf = page_csrf(srv)
    raw = urlencode({"csrf": csrf, "offer": "close-account",
                     "email": "big@example.com", "pad": "x" * 5000}).encode()
    status, hdrs, page = ask(srv, None, raw=raw)
    assert status == 413, page
    assert hdrs["content-type"].startswith("text/html") and "<h1>" in page
    # Over the server's own cap: refused before the body is read, still a page.
    status, hdrs, body = srv.request("POST", "/privacy", body=b"x" * (70 * 1024),
                                     headers={"Content-Type": FORM})
    assert status == 413 and hdrs["content-type"].startswith("text/html"), (status, hdrs)
    status, hdrs, page = link_post(srv, "a" * 32, csrf="x" * 5000)
    assert status == 413, page
    no_more_mail(smtp_sink, 0, wait=0.5)
    assert ss_requests(demo) == []


def test_selfservice_off_without_mail(servers, demo, fake_platform, tmp_path):
    configure_requests(demo, fake_platform, [SS_POLICY, APP_POLICY])
    srv = start(servers, demo, fake_platform, Clock(tmp_path / "clock"))
    status, _, _ = srv.request("GET", "/privacy")
    assert status == 404


def test_selfservice_offer_checked_at_start(demo, fake_platform, smtp_sink):
    """An offer whose scope the data map lacks, or that does not name people by the mail
    identity, stops `lethe serve` at start, naming the line."""
    bad = {"offers": [{"id": "wipe", "kind": "erasure", "scope": "nosuch", "label": "Wipe"}]}
    write_config(demo, fake_platform, smtp_sink, selfservice=bad)
    code, _, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                             env=serve_env(fake_platform), timeout=30)
    assert code != 0 and "selfservice offer 'wipe'" in err and "nosuch" in err, err
    meta = {"offers": [{"id": "meta", "kind": "erasure", "scope": "meta", "label": "Meta"}]}
    write_config(demo, fake_platform, smtp_sink, selfservice=meta)
    code, _, err = run_lethe("serve", "-c", demo.config, "--listen", "127.0.0.1:0",
                             env=serve_env(fake_platform), timeout=30)
    assert code != 0 and "does not name a person by identity 'email'" in err, err
