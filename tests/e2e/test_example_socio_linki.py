# SPDX-License-Identifier: MIT
"""examples/socio-linki/: every promise of Socio Linki's privacy policy (seed 004), end
to end, on the example's own files (examples/socio-linki/README.md maps each promise to
its test here).

One `lethe serve` for the module (example_helpers.Example) on the example's lethe.yaml,
with its media store `cdn` kept as the example writes it (kind cloudinary, cloud
socio-linki, credentials from CLOUDINARY_URL) and pointed at the Cloudinary fake
(tests/e2e/fake_cloudinary.py) instead of Cloudinary.  Every media row's file is
uploaded to the fake first (videos as resource type video, images as image) and its
storage key becomes the asset's delivery URL, as Socio Linki stores "media URLs"; the
demo's local files are removed, so only the fake can satisfy what is checked.  Mails go
through LMTP and are answered through the real SMTP sink; confirmation links are
pressed; rows and assets of each demo user are checked one by one.  The tests share the
server and run in order, each with its own demo user; the sweep uses a clock of its own,
and the last test moves the server's clock past the 30-day recovery period.
"""
import hashlib
import io
import json
import shutil
import sqlite3
import time
import zipfile
from urllib.parse import urlencode

import pytest
import yaml

from example_helpers import (channel, codes, epoch, example, ids, owned,  # noqa: F401
                             present, states)
from fake_cloudinary import FakeCloudinary
from lethe_e2e import HASH_RE, ROOT, run_lethe, without_section
from mailin_e2e_helpers import CSRF_RE, LINK_RE, SAME
from serve_helpers import FORM

NAME = "socio-linki"
DAY = 86400
DEMO_NOW = 1792627200  # 2026-10-22 00:00:00 UTC, the demo's "now"
VIDEO = ("mp4",)



@pytest.fixture(scope="module")
def sl(example):
    """The example served with its Cloudinary store on the fake."""
    ex = example(NAME)
    cld = FakeCloudinary().__enter__()
    ours = yaml.safe_load((ROOT / "examples" / NAME / "lethe.yaml").read_text())
    store = dict(ours["media_stores"]["cdn"])
    assert store["type"] == "cloudinary" and store["credentials_env"] == "CLOUDINARY_URL"
    assert store["cloud_name"] == cld.cloud == "socio-linki"
    # Upload every media file, and store its delivery URL as the app does.
    ex.assets = {}
    con = sqlite3.connect(str(ex.demo.db))
    try:
        for mid, key in con.execute("SELECT id, storage_key FROM media").fetchall():
            stem, ext = key.rsplit(".", 1)
            rt = "video" if ext in VIDEO else "image"
            res = cld.put(stem, (ex.demo.media / key).read_bytes(), rt=rt, fmt=ext)
            assert res["secure_url"].startswith(cld.delivery_url + "/socio-linki/")
            con.execute("UPDATE media SET storage_key = ? WHERE id = ?",
                        (res["secure_url"], mid))
            ex.assets[mid] = (stem, rt)
        con.commit()
    finally:
        con.close()
    assert {rt for _, rt in ex.assets.values()} == {"image", "video"}
    shutil.rmtree(ex.demo.media)  # only the fake holds the media now
    # The example's own store, moved from Cloudinary to the fake: its two URLs.
    store.update(api_url=cld.api_url, delivery_url=cld.delivery_url)
    text = without_section(ex.demo.config.read_text(), "media_stores")
    text += "media_stores: %s\n" % json.dumps({"cdn": store})
    ex.demo.config.write_text(text)
    ex.cld_env = ex.restart("serve-cld.stderr", cld.env(var="CLOUDINARY_URL"))
    ex.cld = cld
    yield ex
    cld.__exit__(None, None, None)


# ---- what the databases and the CDN hold -------------------------------------------------

def on_cdn(ex, media_ids):
    """The media ids of @media_ids whose asset the Cloudinary fake still holds."""
    return [m for m in media_ids if ex.cld.has(ex.assets[m][0], rt=ex.assets[m][1])]


def new_request(ex, before):
    got = [r for r in ex.requests(limit=1000) if r["id"] not in before]
    assert len(got) == 1, got
    return got[0]


def mail_with(ex, addr, subject, timeout=20):
    """The one mail to @addr whose subject starts with @subject (waiting for it)."""
    ex.wait(lambda: [m for m in ex.mails_to(addr) if m.subject.startswith(subject)],
            "a mail %r to %s" % (subject, addr), timeout)
    [m] = [m for m in ex.mails_to(addr) if m.subject.startswith(subject)]
    return m


def link_of(msg):
    tokens = LINK_RE.findall(msg.text)
    assert len(set(tokens)) == 1, msg.text
    return "/privacy/l/" + tokens[0]


def press(ex, path):
    """GET the link's page, then POST its form: (status, headers, body bytes)."""
    status, _, page = ex.server.request("GET", path)
    assert status == 200, (status, page)
    m = CSRF_RE.search(page.decode())
    assert m, page
    h = {"Content-Type": FORM}
    h.update(SAME)
    return ex.server.request("POST", path, body=urlencode({"csrf": m.group(1)}).encode(),
                             headers=h, timeout=30)


def ask_by_mail(ex, uid, corpus_name):
    """User @uid mails the privacy address and follows the confirmation link: the
    request (after the link) and the person."""
    p = ex.user(uid)
    old = codes(ex)
    ex.lmtp(ex.mail(corpus_name, p))
    req = new_request(ex, old)
    assert (req["source"], req["state"]) == ("email", "awaiting_verification"), req
    msgs = ex.wait_mails(p.email, 1)  # the link is the only answer
    ex.follow(msgs[0])
    return ex.request(req["id"]), p


def db_exec(ex, sql, params=()):
    con = sqlite3.connect(str(ex.demo.db))
    try:
        con.execute(sql, params)
        con.commit()
    finally:
        con.close()


# ---- Disconnect a channel ------------------------------------------------------------------

def test_disconnect_a_channel(sl):
    """From the Channels page: the OAuth token is invalidated at once and the grant
    revoked upstream; syncing stops (the channel's scheduled posts and rules too)."""
    ex, cid, asid = sl, 19, "10229000000602"  # user 6's Facebook account
    assert channel(ex, cid)[1] is not None
    sched = ids(ex, "SELECT id FROM posts WHERE channel_id = ? AND status = 'scheduled'",
                (cid,))
    rules = ids(ex, "SELECT id FROM automation_rules WHERE channel_id = ? AND enabled = 1",
                (cid,))
    assert sched and rules
    status, state = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, state
    assert channel(ex, cid) == ("revoked", None, None)
    assert ex.count("posts", "id IN (%s) AND status = 'cancelled'"
                    % ",".join(map(str, sched))) == len(sched)
    assert ex.count("automation_rules", "id IN (%s) AND enabled = 0"
                    % ",".join(map(str, rules))) == len(rules)

    def revoked():
        return [c for c in ex.fake.calls("facebook") if c.method == "DELETE" and
                c.path.endswith("/%s/permissions" % asid)]

    ex.wait(revoked, "the Facebook grant of channel %d revoked" % cid, timeout=20)
    assert len(revoked()) == 1
    assert channel(ex, 18)[1] is not None, "the person's other channels keep their tokens"


# ---- Delete your account: cancelled during the recovery period ------------------------------

def test_data_deletion_cancelled_during_recovery(sl):
    """"plus 30 days after deletion request for recovery purposes": the accepted mail's
    link cancels the request in that period; sign-in comes back, nothing is deleted."""
    ex, uid = sl, 4
    before = owned(ex, uid)
    media = before["media"]
    assert media and on_cdn(ex, media) == media
    req, p = ask_by_mail(ex, uid, "seed004-data-deletion.eml")
    assert (req["state"], req["policy"]) == ("scheduled", "email-data-deletion"), req
    ex.wait(lambda: ex.rows("SELECT status FROM users WHERE id = ?", (uid,))[0][0] ==
            "closing", "sign-in of user %d closed" % uid, timeout=10)
    accepted = mail_with(ex, p.email, "Socio Linki: your request is accepted")
    assert "30 days for recovery" in accepted.text and "Cloudinary" in accepted.text
    status, _, page = press(ex, link_of(accepted))
    assert status == 200, page
    done = ex.wait_request(req["id"], ("cancelled",), timeout=15)
    assert states(done)[-1] == "cancelled"
    ex.wait(lambda: ex.rows("SELECT status FROM users WHERE id = ?", (uid,))[0][0] == "active",
            "sign-in enabled again", timeout=10)
    assert owned(ex, uid) == before
    assert on_cdn(ex, media) == media


# ---- Export your data ---------------------------------------------------------------------

def test_export_by_mail_within_48_hours(sl):
    """"Export your data - available on request via the same email address"; "We aim to
    respond within 48 hours": due in 48 hours, the archive holds the person's rows and
    the bytes of their media, fetched from Cloudinary's delivery URL."""
    ex, uid = sl, 5
    media = owned(ex, uid)["media"]
    assert media
    req, p = ask_by_mail(ex, uid, "seed004-export.eml")
    assert (req["kind"], req["policy"]) == ("export", "email-data-export"), req
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 2 * DAY, req
    done = ex.wait_request(req["id"], ("completed", "failed"), timeout=30)
    assert done["state"] == "completed", done
    ready = mail_with(ex, p.email, "Your data from Socio Linki is ready to download")
    status, hdrs, data = press(ex, link_of(ready))
    assert status == 200, data[:300]
    z = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(z.read("manifest.json"))
    for f in manifest["files"]:
        assert hashlib.sha256(z.read(f["path"])).hexdigest() == f["sha256"], f
    users = [n for n in z.namelist() if n.startswith("tables/users.")]
    assert users and p.email.encode() in z.read(users[0])
    files = sorted(n for n in z.namelist() if n.startswith("media/"))
    assert len(files) == len(media), (files, media)
    got = sorted(hashlib.sha256(z.read(n)).hexdigest() for n in files)
    want = sorted(hashlib.sha256(ex.cld.get(ex.assets[m][0], rt=ex.assets[m][1])).hexdigest()
                  for m in media)
    assert got == want, "the archive holds each asset's bytes"
    assert on_cdn(ex, media) == media, "an export deletes nothing"


# ---- Retention periods ---------------------------------------------------------------------

def test_retention_periods(sl):
    """Client preview links are purged 24 hours after creation, request logs after 30
    days, and a published post's media leave the CDN a day after publishing (drafts' and
    scheduled posts' stay): one second past each limit, not at it."""
    ex = sl
    now = DEMO_NOW

    def at(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    # Rows exactly at each limit and one second past it.
    l_at, l_old = ids(ex, "SELECT id FROM preview_links ORDER BY id LIMIT 2")
    db_exec(ex, "UPDATE preview_links SET created_at = ? WHERE id = ?", (at(now - DAY), l_at))
    db_exec(ex, "UPDATE preview_links SET created_at = ? WHERE id = ?",
            (at(now - DAY - 1), l_old))
    pub = ids(ex, "SELECT id FROM media WHERE published_at IS NOT NULL ORDER BY id")
    assert len(pub) >= 2, pub
    db_exec(ex, "UPDATE media SET published_at = ? WHERE id = ?", (at(now - DAY), pub[0]))
    db_exec(ex, "UPDATE media SET published_at = ? WHERE id = ?", (at(now - DAY - 1), pub[1]))
    limits = {
        "preview_links": ("created_at", DAY),
        "request_logs": ("created_at", 30 * DAY),
        "media": ("published_at", DAY),
    }
    gone, stay = {}, {}
    for t, (col, after) in limits.items():
        gone[t] = ids(ex, "SELECT id FROM %s WHERE %s < ? ORDER BY id" % (t, col),
                      (at(now - after),))
        stay[t] = ids(ex, "SELECT id FROM %s WHERE %s IS NULL OR %s >= ? ORDER BY id"
                      % (t, col, col), (at(now - after),))
        assert gone[t] and stay[t], t
    assert l_old in gone["preview_links"] and l_at in stay["preview_links"]
    assert pub[1] in gone["media"] and pub[0] in stay["media"]
    assert on_cdn(ex, gone["media"]) == gone["media"] and on_cdn(ex, stay["media"]) == stay["media"]
    env = dict(ex.cld_env)
    env["LETHE_TEST_NOW"] = str(now)
    rc, out, err = run_lethe("sweep", "-c", ex.demo.config, "--once", "--json", env=env,
                             timeout=60)
    assert rc == 0, err
    for t in limits:
        assert present(ex, t, gone[t]) == [], t
        assert present(ex, t, stay[t]) == stay[t], t
    assert on_cdn(ex, gone["media"]) == [], "published assets left the CDN"
    assert on_cdn(ex, stay["media"]) == stay["media"]
    dels = [c for c in ex.cld.calls(method="DELETE", kind="admin")]
    assert dels and all(c.user == "%s:%s" % (ex.cld.api_key, ex.cld.api_secret)
                        for c in dels), dels
    [media] = [s for s in json.loads(out)["tables"] if s["table"] == "media"]
    assert (media["media_files"], media["media_missing"], media["media_failed"]) == \
        (len(gone["media"]), 0, 0), media


# ---- Delete your account: the recovery period, then everything but the invoices -----------

def test_data_deletion_by_mail_recovery_then_erased(sl):
    """"Data Deletion Request" from the address on the account: once the link is
    followed, sign-in is closed and stored OAuth tokens revoked at once; the data stays 30
    days for recovery, then is permanently removed, the Cloudinary assets included;
    billing records are kept for tax law, without name and email."""
    ex, uid = sl, 3
    before = owned(ex, uid)
    media = before["media"]
    assert media and before["invoices"] and on_cdn(ex, media) == media
    # A video among them: its delivery URL names resource type video, which the store's
    # resource_type (image) would not find.
    assert {ex.assets[m][1] for m in media} == {"image", "video"}, media
    others = owned(ex, 1)["media"]
    assert others and on_cdn(ex, others) == others
    chans = ex.rows("SELECT c.id, c.platform, c.platform_user_id FROM channels c JOIN "
                    "projects p ON p.id = c.project_id WHERE p.user_id = ?", (uid,))
    fb = [acct for _, plat, acct in chans if plat == "facebook"]
    assert fb
    req, p = ask_by_mail(ex, uid, "seed004-data-deletion.eml")
    assert (req["state"], req["policy"]) == ("scheduled", "email-data-deletion"), req
    grace = epoch(req["grace_until"])
    assert grace - epoch(req["received_at"]) == 30 * DAY, req  # the test clock stands still
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == 31 * DAY, req
    # At once: sign-in closed, every stored token gone, the grants revoked upstream.
    ex.wait(lambda: ex.rows("SELECT status FROM users WHERE id = ?", (uid,))[0][0] ==
            "closing", "sign-in of user %d closed" % uid, timeout=10)
    ex.wait(lambda: ex.rows("SELECT count(*) FROM channels c JOIN projects p ON "
                            "p.id = c.project_id WHERE p.user_id = ? AND "
                            "c.access_token IS NOT NULL", (uid,))[0][0] == 0,
            "every token of user %d wiped" % uid, timeout=10)
    for acct in fb:
        ex.wait(lambda: [c for c in ex.fake.calls("facebook") if c.method == "DELETE" and
                         c.path.endswith("/%s/permissions" % acct)],
                "the grant of Facebook account %s revoked" % acct, timeout=20)
    accepted = mail_with(ex, p.email, "Socio Linki: your request is accepted")
    assert "Your account is closed for sign-in" in accepted.text
    # Within the recovery period nothing is deleted.
    time.sleep(0.5)
    assert present(ex, "users", [uid]) == [uid] and on_cdn(ex, media) == media
    # One second past it, the erasure runs.
    ex.clock.set(int(grace) + 1)
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"),
                           timeout=30)
    assert done["state"] == "completed_with_retention", done
    for t, wanted in before.items():
        if t not in ("invoices", "request_logs"):
            assert present(ex, t, wanted) == [], t
    # Request logs: "deleted or aggregated": the erasure leaves them without the person
    # (no user, IP address or user agent), the 30-day ttl deletes them.
    logs = ex.rows("SELECT user_id, ip, user_agent FROM request_logs WHERE id IN (%s)"
                   % ",".join(map(str, before["request_logs"])))
    assert len(logs) == len(before["request_logs"]) > 0
    assert all(r == (None, None, "[removed]") for r in logs), logs
    assert on_cdn(ex, media) == [], "the person's assets are deleted from Cloudinary"
    assert on_cdn(ex, others) == others, "another person's assets stay"
    admin = ex.cld.calls(kind="admin")
    assert admin and all(c.user == "%s:%s" % (ex.cld.api_key, ex.cld.api_secret)
                         for c in admin), "every call with CLOUDINARY_URL's key and secret"
    # Billing records: kept, without the person's name and email.
    rows = ex.rows("SELECT id, user_id, email, name, tax_id FROM invoices WHERE id IN (%s) "
                   "ORDER BY id" % ",".join(map(str, before["invoices"])))
    assert [r[0] for r in rows] == before["invoices"]
    for _, user_id, email, name, tax_id in rows:
        assert user_id is None and name is None and HASH_RE.match(email) and tax_id
    done_mail = mail_with(ex, p.email, "Your request to Socio Linki is complete")
    assert "tax" in done_mail.text and p.email not in done_mail.text


def test_no_personal_data_in_the_log(sl):
    """Nothing the tests above handled reaches lethe's log in the clear: no address,
    name, username, platform id or media URL of the people they acted for."""
    ex = sl
    log = ex.server.stderr()
    assert "TEST clock" in log, "the log of this server"
    for uid in (3, 4, 5, 6):
        for s in ["user%d@example.com" % uid, "Demo User %d" % uid, "demouser%d." % uid,
                  "17841%07d01" % uid, "10229%07d02" % uid, "/u%d/p" % uid]:
            assert s not in log, s
