# SPDX-License-Identifier: MIT
"""examples/soundops/: every promise of SoundOps' page (seed 002), end to end, on the
example's own files (examples/soundops/README.md maps each promise to its test here).

One `lethe serve` for the module (example_helpers.Example) on the example's lethe.yaml,
with its media store `media` kept as the example writes it (kind s3, credentials from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and pointed at the tests' S3-compatible
server instead of AWS: s3rver behind the front that verifies every request's SigV4
signature (tests/s3_front.py).  Every media row's object is uploaded into a bucket of
this module first, and the demo's local media files are removed, so only the bucket can
satisfy what is checked.  Mails go through LMTP and are answered through the real SMTP
sink; confirmation links are pressed; the rows of each demo user and each object of the
bucket are checked one by one.  The tests share the server and run in order, each with
its own demo user; the last one sweeps with `lethe sweep --once` on a clock of its own.
"""
import json
import shutil
import time

import pytest
import yaml

from example_helpers import (BY_CHANNEL, BY_PROJECT, channel, codes, epoch, example,  # noqa: F401
                             ids, owned, present, states)
from lethe_e2e import ROOT, run_lethe, without_section
from s3_server import ACCESS_KEY, SECRET

NAME = "soundops"
MAILBOX = "privacy@soundops.io"
DAY = 86400
DEMO_NOW = 1792627200  # 2026-10-22 00:00:00 UTC, the demo's "now"
AWS_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}

ALL_TABLES = ["users", "projects", "channels", "request_logs", "invoices"] + BY_PROJECT + \
    BY_CHANNEL


@pytest.fixture(scope="module")
def so(example, s3_session):
    """The example served with its S3 store on the loopback S3 server."""
    ex = example(NAME)
    s3 = s3_session
    bucket = s3.bucket("soundops")
    for (key,) in ex.rows("SELECT storage_key FROM media"):
        s3.put(bucket, key, (ex.demo.media / key).read_bytes())
    shutil.rmtree(ex.demo.media)  # only the bucket holds the media now
    # The example's own store, as examples/soundops/lethe.yaml writes it, moved from AWS
    # to the loopback server: bucket, region (the front signs for its own), endpoint.
    ours = yaml.safe_load((ROOT / "examples" / NAME / "lethe.yaml").read_text())
    store = dict(ours["media_stores"]["media"])
    assert store["type"] == "s3" and store["credentials_env"] == "AWS", store
    store.update(bucket=bucket, region=s3.region, endpoint=s3.endpoint, path_style=True)
    text = without_section(ex.demo.config.read_text(), "media_stores")
    text += "media_stores: %s\n" % json.dumps({"media": store})
    ex.demo.config.write_text(text)
    ex.restart("serve-s3.stderr", AWS_ENV)
    ex.s3, ex.bucket = s3, bucket
    return ex


# ---- what the databases and the bucket hold ---------------------------------------------

def keys_of(ex, media_ids):
    if not media_ids:
        return []
    return [r[0] for r in ex.rows("SELECT storage_key FROM media WHERE id IN (%s) ORDER BY id"
                                  % ",".join(str(i) for i in media_ids))]


def in_bucket(ex, keys):
    """The keys of @keys whose object is in the module's bucket."""
    return [k for k in keys if ex.s3.exists(ex.bucket, k)]


def new_requests(ex, before):
    """Requests made since @before (a set of codes), oldest first."""
    got = [r for r in ex.requests(limit=1000) if r["id"] not in before]
    return sorted(got, key=lambda r: r["received_at"])


def link_mail(ex, addr, n):
    """The @n-th mail to @addr (waiting for it), which must hold a confirmation link."""
    msgs = ex.wait_mails(addr, n)
    msg = msgs[n - 1]
    assert "/privacy/l/" in msg.text, (msg.subject, msg.text)
    return msg


def mail_with(ex, addr, subject, timeout=20):
    """The one mail to @addr whose subject is @subject (waiting for it)."""
    ex.wait(lambda: [m for m in ex.mails_to(addr) if m.subject == subject],
            "a mail %r to %s" % (subject, addr), timeout)
    [m] = [m for m in ex.mails_to(addr) if m.subject == subject]
    return m


def due_after(req, seconds):
    assert epoch(req["due_at"]) - epoch(req["received_at"]) == seconds, req


def erased(ex, uid, before):
    """Every row of @before (owned() of user @uid) is gone, and the user's media objects
    with them."""
    for t, wanted in before.items():
        assert present(ex, t, wanted) == [], (t, wanted)


# ---- 1. Deleting your SoundOps account ---------------------------------------------------

def test_account_deletion_by_mail_site_name(so):
    """"Account Deletion Request" naming the tenant/site name: the link goes to the
    address on file (not the writer), and once followed, within 30 days, everything is
    permanently removed: account, sites, content, uploaded media (the bucket's objects),
    contacts, campaigns, analytics, connected accounts' tokens; then the confirmation
    mail to the address on file."""
    ex, uid = so, 3
    p = ex.user(uid)
    site = ex.rows("SELECT site_name FROM users WHERE id = ?", (uid,))[0][0]
    assert site == "site-3.soundops.io"
    before = owned(ex, uid)
    assert all(before[t] for t in ("media", "contacts", "campaigns", "analytics", "channels",
                                   "invoices")), before
    keys = keys_of(ex, before["media"])
    assert in_bucket(ex, keys) == keys
    others = {u: keys_of(ex, owned(ex, u)["media"]) for u in (1, 4)}
    fb = [r[0] for r in ex.rows("SELECT platform_user_id FROM channels WHERE platform = "
                                "'facebook' AND id IN (%s)" % ",".join(map(str, before["channels"])))]
    assert len(fb) == 2, fb
    old = codes(ex)
    stranger = "tenant-admin@elsewhere.example"
    raw = ex.mail("seed002-account-deletion-request.eml", p, **{"from": stranger,
                                                                "return_path": stranger})
    raw = raw.replace(b"Account name: " + p.name.encode(), b"Tenant/site name: " + site.encode())
    assert b"Tenant/site name: site-3.soundops.io" in raw
    ex.lmtp(raw)
    # The writer gets the same words whether or not the site exists; the link goes to the
    # address on file.
    reply = ex.wait_mails(stranger, 1)[0]
    assert "address on file" in reply.text and "/privacy/l/" not in reply.text
    [req] = new_requests(ex, old)
    assert (req["kind"], req["scope"], req["source"], req["policy"]) == \
        ("erasure", "account", "email", "email-account-deletion")
    assert req["state"] == "awaiting_verification"
    due_after(req, 30 * DAY)  # "We will process your request within 30 days"
    ex.follow(link_mail(ex, p.email, 1))
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"),
                           timeout=30)
    assert done["state"] == "completed", done  # nothing is kept back (invoices included)
    assert states(done)[-3:] == ["scheduled", "running", "completed"], states(done)
    erased(ex, uid, before)
    assert in_bucket(ex, keys) == [], "the user's objects are gone from the bucket"
    # "All connected third-party account tokens": each Facebook grant revoked upstream
    # before the tokens went (Instagram Login documents no revoke endpoint).
    for acct in fb:
        ex.wait(lambda: [c for c in ex.fake.calls("facebook") if c.method == "DELETE" and
                         c.path.endswith("/%s/permissions" % acct)],
                "the grant of Facebook account %s revoked" % acct, timeout=20)
    for u, k in others.items():
        assert k and in_bucket(ex, k) == k, "user %d's objects stay" % u
    # The objects went by DeleteObjects through the front, every request signed (SigV4).
    deleted = {k for r in ex.s3.front.requests(op="delete") if r["verified"] and
               r["status"] == 200 for k in r["keys"]}
    assert set(keys) <= deleted, (keys, ex.s3.front.requests(op="delete"))
    # "a confirmation email to the address on file", in SoundOps' words.
    conf = mail_with(ex, p.email, "SoundOps: your data has been deleted")
    assert len(ex.mails_to(p.email)) == 3, "the link, the accepted mail, the confirmation"
    assert "This is the confirmation we promised" in conf.text, conf.text
    assert "delete your SoundOps account and all associated data" in conf.text
    assert p.email not in conf.text and site not in conf.text


def test_account_deletion_by_mail_from_the_registered_address(so):
    """"Send an email ... from the email address associated with your account" without a
    name: the From: address is the identity, and the link goes to it."""
    ex, uid = so, 2
    p = ex.user(uid)
    before = owned(ex, uid)
    keys = keys_of(ex, before["media"])
    assert keys and in_bucket(ex, keys) == keys
    old = codes(ex)
    raw = ex.mail("seed002-account-deletion-request.eml", p)
    raw = raw.replace(b"Account name: " + p.name.encode(), b"Thanks in advance.")
    ex.lmtp(raw)
    [req] = new_requests(ex, old)
    assert req["state"] == "awaiting_verification" and req["scope"] == "account"
    ex.follow(link_mail(ex, p.email, 1))  # the link is the only answer
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"),
                           timeout=30)
    assert done["state"] == "completed", done
    erased(ex, uid, before)
    assert in_bucket(ex, keys) == []


# ---- 2. Disconnecting Instagram / Facebook ------------------------------------------------

def test_disconnect_from_the_admin_panel(so):
    """The admin panel's disconnect button: at once the stored access token is deleted,
    scheduled posts and automation rules stopped; then the webhook subscriptions are
    removed and the account's messages and comments purged."""
    ex, cid, ig_id = so, 13, "17841000000401"  # user 4's Instagram account
    sched = ids(ex, "SELECT id FROM posts WHERE channel_id = ? AND status = 'scheduled'",
                (cid,))
    rules = ids(ex, "SELECT id FROM automation_rules WHERE channel_id = ? AND enabled = 1",
                (cid,))
    msgs = ids(ex, "SELECT id FROM messages WHERE channel_id = ?", (cid,))
    coms = ids(ex, "SELECT id FROM comments WHERE channel_id = ?", (cid,))
    hooks = ids(ex, "SELECT id FROM webhook_subscriptions WHERE channel_id = ? AND "
                    "status = 'active'", (cid,))
    assert sched and rules and msgs and coms and hooks
    other_msgs = ids(ex, "SELECT id FROM messages WHERE channel_id = 14")
    status, state = ex.app("POST", "/v1/channels/%d/disconnect" % cid)
    assert status == 200, state
    # "This will immediately": in the answer's own transaction.
    assert channel(ex, cid) == ("revoked", None, None)
    assert ids(ex, "SELECT id FROM posts WHERE id IN (%s) AND status = 'cancelled'"
               % ",".join(map(str, sched))) == sched
    assert ids(ex, "SELECT id FROM automation_rules WHERE id IN (%s) AND enabled = 0"
               % ",".join(map(str, rules))) == rules

    def settled():
        s, st = ex.app("GET", "/v1/channels/%d" % cid)
        assert s == 200, st
        jobs = [st.get("revoke"), st.get("purge")] + list(st.get("unsubscribe") or [])
        return all(j is None or j["state"] not in ("pending", "running", "retrying", "staged")
                   for j in jobs)

    ex.wait(settled, "channel %d's jobs settled" % cid, timeout=20)
    _, st = ex.app("GET", "/v1/channels/%d" % cid)
    # "Remove webhook subscriptions": the app's subscription at Instagram is removed.
    unsub = [c for c in ex.fake.calls("instagram") if c.method == "DELETE" and
             ig_id in c.path and c.path.endswith("/subscribed_apps")]
    assert len(unsub) == 1, ex.fake.calls("instagram")
    assert st["purge"]["state"] == "done", st
    # "Remove all Instagram messages and comments associated with that account".
    assert present(ex, "messages", msgs) == [] and present(ex, "comments", coms) == []
    assert present(ex, "webhook_subscriptions", hooks) == []
    assert present(ex, "messages", other_msgs) == other_msgs, "the Facebook account's stay"
    assert ex.count("channels", "id = ?", (cid,)) == 1, "the connection record stays"


def test_revoke_from_meta(so):
    """Removing SoundOps in Facebook's settings: Meta's deauthorize callback wipes the
    token and stops the account's scheduled posts and automation rules at once."""
    ex, cid, asid = so, 19, "10229000000602"  # user 6's Facebook account
    sched = ids(ex, "SELECT id FROM posts WHERE channel_id = ? AND status = 'scheduled'",
                (cid,))
    rules = ids(ex, "SELECT id FROM automation_rules WHERE channel_id = ? AND enabled = 1",
                (cid,))
    assert sched and rules and channel(ex, cid)[1] is not None
    n = len(ex.fake.calls())
    status, _ = ex.callback("facebook", "deauthorize", asid)
    assert status == 200
    assert channel(ex, cid) == ("revoked", None, None)
    assert ex.count("posts", "id IN (%s) AND status = 'cancelled'" %
                    ",".join(map(str, sched))) == len(sched)
    assert ex.count("automation_rules", "id IN (%s) AND enabled = 0" %
                    ",".join(map(str, rules))) == len(rules)
    time.sleep(0.3)
    assert ex.fake.calls()[n:] == [], "Meta's tokens are dead already: no upstream call"
    assert channel(ex, 18)[1] is not None, "the Instagram account keeps its token"


# ---- 3. Deleting data obtained from Meta --------------------------------------------------

def test_meta_deletion_by_mail(so):
    """"Meta Data Deletion Request" naming the Instagram username: an operator checks it,
    then within 30 days the connection and its tokens, messages, comments, scheduled and
    published posts, automation rules, analytics and the cached media of its posts are
    deleted; the SoundOps account, its other accounts and its uploads stay."""
    ex, uid, cid = so, 11, 33
    p = ex.user(uid)
    assert p.ig == "demouser11.ig"
    before = owned(ex, uid)
    posts = ids(ex, "SELECT id FROM posts WHERE channel_id = ?", (cid,))
    statuses = {r[0] for r in ex.rows("SELECT status FROM posts WHERE channel_id = ?", (cid,))}
    cached = ids(ex, "SELECT id FROM media WHERE cached = 1 AND post_id IN (%s)"
                 % ",".join(map(str, posts)))
    kept_media = [m for m in before["media"] if m not in cached]
    assert len(cached) == 2 and kept_media and statuses, (cached, kept_media)
    ckeys, kkeys = keys_of(ex, cached), keys_of(ex, kept_media)
    assert in_bucket(ex, ckeys + kkeys) == ckeys + kkeys
    meta = {t: ids(ex, "SELECT id FROM %s WHERE channel_id = ?" % t, (cid,))
            for t in BY_CHANNEL}
    assert all(meta[t] for t in ("messages", "comments", "analytics", "automation_rules"))
    old = codes(ex)
    ex.lmtp(ex.mail("seed002-meta-instagram.eml", p))
    [req] = new_requests(ex, old)
    assert (req["scope"], req["policy"], req["state"]) == \
        ("meta", "email-meta-deletion", "awaiting_review")
    due_after(req, 30 * DAY)  # "We will delete all Meta-sourced data within 30 days"
    # The writer hears that a person will check; an Instagram username proves nothing, so
    # nothing happens before the operator approves.
    ex.wait(lambda: [m for m in ex.mails_to(p.email) if "will check" in m.text],
            "the review reply to the writer", timeout=15)
    time.sleep(0.3)
    assert present(ex, "channels", [cid]) == [cid]
    status, _ = ex.admin("POST", "/v1/admin/requests/%s/approve" % req["id"], body={})
    assert status == 200
    done = ex.wait_request(req["id"], ("completed", "completed_with_retention", "failed"),
                           timeout=30)
    assert done["state"] == "completed", done
    assert present(ex, "channels", [cid]) == []
    assert present(ex, "posts", posts) == []
    for t, wanted in meta.items():
        assert present(ex, t, wanted) == [], t
    assert present(ex, "media", cached) == [] and in_bucket(ex, ckeys) == []
    # Kept: the account, its sites, its Facebook account, its own uploads.
    for t in ("users", "projects", "invoices", "contacts", "campaigns"):
        assert present(ex, t, before[t]) == before[t], t
    assert present(ex, "channels", [34]) == [34]
    assert present(ex, "media", kept_media) == kept_media and in_bucket(ex, kkeys) == kkeys
    ex.meta_code = req["id"]


def test_meta_callback(so):
    """Meta's own data-deletion callback runs the same Meta scope, due within 30 days."""
    ex, cid, ig_id = so, 28, "17841000000901"  # user 9's Instagram account
    msgs = ids(ex, "SELECT id FROM messages WHERE channel_id = ?", (cid,))
    assert msgs
    status, body = ex.callback("instagram", "data-deletion", ig_id)
    assert status == 200, body
    code = body["confirmation_code"]
    # The callback is answered once in the intake log; the request enters the store next.
    ex.wait(lambda: ex.admin("GET", "/v1/admin/requests/" + code)[0] == 200,
            "request %s recorded" % code, timeout=10)
    req = ex.wait_request(code, ("completed",), timeout=30)
    assert req["source"] == "meta", req
    due_after(req, 30 * DAY)
    assert present(ex, "channels", [cid]) == [] and present(ex, "messages", msgs) == []
    assert present(ex, "users", [9]) == [9]


# ---- 5. Confirmation ------------------------------------------------------------------------

def test_status_question_by_mail(so):
    """"If you do not receive confirmation within 30 days, please contact us again": a
    mail quoting the confirmation code gets that request's status page."""
    ex = so
    code = getattr(ex, "meta_code", None)
    assert code, "runs after test_meta_deletion_by_mail"
    p = ex.user(10)
    ex.lmtp(ex.mail("status-code.eml", p, code=code))
    reply = ex.wait_mails(p.email, 1)[0]
    assert "/data-deletion/status?id=" + code in reply.text, reply.text
    assert reply.header("Auto-Submitted") == "auto-replied"


# ---- 4. Automatic data deletion -------------------------------------------------------------

def test_automatic_deletion_after_30_days(so):
    """Instagram messages and comments, and cached Instagram media with their objects in
    the bucket, are deleted 30 days after their time: one second past it, not at it."""
    ex = so
    now = DEMO_NOW
    cut = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 30 * DAY))
    older = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 30 * DAY - 1))
    # Two messages and two comments on either side of the cutoff, exactly.
    m_at, m_old = ids(ex, "SELECT id FROM messages ORDER BY id LIMIT 2")
    ex_db(ex, "UPDATE messages SET received_at = ? WHERE id = ?", (cut, m_at))
    ex_db(ex, "UPDATE messages SET received_at = ? WHERE id = ?", (older, m_old))
    expect = {
        "messages": ("received_at", "1 = 1"),
        "comments": ("created_at", "1 = 1"),
        "media": ("created_at", "cached = 1"),
    }
    gone, stay = {}, {}
    for t, (col, cond) in expect.items():
        gone[t] = ids(ex, "SELECT id FROM %s WHERE %s < ? AND %s ORDER BY id" % (t, col, cond),
                      (cut,))
        stay[t] = ids(ex, "SELECT id FROM %s WHERE NOT (%s < ? AND %s) ORDER BY id"
                      % (t, col, cond), (cut,))
        assert gone[t] and stay[t], t
    assert m_old in gone["messages"] and m_at in stay["messages"]
    gkeys, skeys = keys_of(ex, gone["media"]), keys_of(ex, stay["media"])
    assert ids(ex, "SELECT count(*) FROM media WHERE id IN (%s) AND cached = 0"
               % ",".join(map(str, stay["media"])))[0] > 0, "uploads are among the kept"
    assert in_bucket(ex, gkeys) == gkeys and in_bucket(ex, skeys) == skeys
    env = {"LETHE_TEST_NOW": str(now)}
    env.update(AWS_ENV)
    rc, out, err = run_lethe("sweep", "-c", ex.demo.config, "--once", "--json", env=env,
                             timeout=60)
    assert rc == 0, err
    summary = json.loads(out)
    for t in expect:
        assert present(ex, t, gone[t]) == [], t
        assert present(ex, t, stay[t]) == stay[t], t
    assert in_bucket(ex, gkeys) == [], "the expired cached objects are gone from the bucket"
    assert in_bucket(ex, skeys) == skeys, "uploads and fresh cached copies stay"
    [media] = [s for s in summary["tables"] if s["table"] == "media"]
    assert (media["rows"], media["media_files"], media["media_missing"],
            media["media_failed"]) == (len(gone["media"]), len(gkeys), 0, 0), media


def ex_db(ex, sql, params):
    import sqlite3
    con = sqlite3.connect(str(ex.demo.db))
    try:
        con.execute(sql, params)
        con.commit()
    finally:
        con.close()


def test_no_personal_data_in_the_log(so):
    """Nothing the tests above handled reaches lethe's log in the clear: no address,
    account or site name, username or platform id of the people they erased."""
    ex = so
    log = ex.server.stderr()
    assert "TEST clock" in log, "the log of this server"
    for uid in (2, 3, 4, 6, 9, 11):
        p = ex.user(uid) if ex.count("users", "id = ?", (uid,)) else None
        for s in ["user%d@example.com" % uid, "Demo User %d" % uid,
                  "site-%d.soundops.io" % uid, "demouser%d." % uid,
                  "17841%07d01" % uid, "10229%07d02" % uid] + ([p.email] if p else []):
            assert s not in log, s
