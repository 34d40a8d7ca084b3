# SPDX-License-Identifier: MIT
"""`lethe export`: the archive of one demo person, checked entry by entry.

What must be in the archive is computed here from the app database with
Python's sqlite3, following the demo data map's links by hand (as
bench/erase does), never from lethe's plan: for every table the scope acts
on, the rows of the archive are exactly the person's rows with exactly the
exportable columns (not the map's `tokens`, not its `secrets`), invoices
(retained by an erasure) carry the map's reason; no token or password hash
of the WHOLE demo database appears anywhere in the zip, raw or
decompressed; media files are there with the SHA-256 of the file on disk;
manifest.json's counts and checksums hold; index.html is self-contained and
links every data file.  Bad input writes no file.  The layout is
docs/export.md's.
"""
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import zipfile

import pytest
import yaml

from lethe_e2e import (
    CHANNEL_CHILDREN,
    DEFAULT_TIMEOUT,
    PROJECT_CHILDREN,
    SLOW,
    columns,
    file_sha256,
    lethe_env,
    lethe_path,
    query,
)

DEMO_OPTIONS = ["--users", "12", "--seed", "7"]

ACCOUNT_TABLES = {"users", "projects", "request_logs", "invoices"} | set(PROJECT_CHILDREN) \
    | set(CHANNEL_CHILDREN)
META_TABLES = {"channels"} | set(CHANNEL_CHILDREN)
CHANNEL_TABLES = {"messages", "comments", "analytics", "publishing_logs",
                  "webhook_subscriptions"}

# Columns never exported: the demo map's `tokens` and `secrets` (checked
# against datamap.yaml by check_map_constants).
NOT_EXPORTABLE = {
    "users": {"password_hash"},
    "channels": {"access_token", "refresh_token"},
    "preview_links": {"token_hash", "password_hash"},
}
# Every secret value of the whole demo database must stay out of every archive.
SECRET_COLUMNS = [("channels", "access_token"), ("channels", "refresh_token"),
                  ("users", "password_hash"), ("preview_links", "token_hash"),
                  ("preview_links", "password_hash")]
# The media columns of the demo map.
MEDIA_COLUMNS = {"media": "storage_key"}


# ---- running lethe export -------------------------------------------------------


def export_raw(demo, *args, config=None):
    """`lethe export -c CONFIG ARGS...` with bytes output: (code, stdout, stderr)."""
    cmd = [lethe_path(), "export", "-c", str(config or demo.config)] + [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=DEFAULT_TIMEOUT * SLOW,
                       env=lethe_env())
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def id_args(ids):
    out = []
    for kind, value in ids:
        out += ["--id", "%s=%s" % (kind, value)]
    return out


def export_file(demo, tmp_path, scope, ids, name="export.zip", config=None):
    """Export to a file under @tmp_path; checks the file's mode and leftovers."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    path = out / name
    code, stdout, stderr = export_raw(demo, "--scope", scope, *id_args(ids), "--out", path,
                                      config=config)
    assert code == 0, "lethe export failed (%d): %s\n%s" % (code, stderr, stdout[:2000])
    assert path.is_file()
    assert os.stat(path).st_mode & 0o777 == 0o600, oct(os.stat(path).st_mode)
    assert not (out / (name + ".part")).exists()
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    return path


# ---- what the archive must hold --------------------------------------------------


def ids_where(db, table, column, values):
    values = sorted(set(values))
    if not values:
        return set()
    marks = ",".join("?" * len(values))
    return {r[0] for r in query(db, 'SELECT id FROM "%s" WHERE "%s" IN (%s)'
                                % (table, column, marks), values)}


def expect_account(db, uid):
    """{table: set of ids} of user @uid in scope account, by the map's links."""
    exp = {t: set() for t in ACCOUNT_TABLES}
    exp["users"] = ids_where(db, "users", "id", [uid])
    exp["projects"] = ids_where(db, "projects", "user_id", [uid])
    for t in PROJECT_CHILDREN:
        exp[t] = ids_where(db, t, "project_id", exp["projects"])
    for t in CHANNEL_CHILDREN:
        exp[t] = ids_where(db, t, "channel_id", exp["channels"])
    exp["request_logs"] = ids_where(db, "request_logs", "user_id", [uid])
    exp["invoices"] = ids_where(db, "invoices", "user_id", [uid])
    return exp


def expect_meta(db, platform, account):
    """Scope meta: the channels of @platform whose platform_user_id is @account."""
    exp = {t: set() for t in META_TABLES}
    exp["channels"] = {r[0] for r in query(
        db, "SELECT id FROM channels WHERE platform = ? AND platform_user_id = ?",
        (platform, account))}
    for t in CHANNEL_CHILDREN:
        exp[t] = ids_where(db, t, "channel_id", exp["channels"])
    return exp


def expect_channel(db, channel_id):
    exp = {t: set() for t in CHANNEL_TABLES}
    for t in CHANNEL_TABLES:
        exp[t] = ids_where(db, t, "channel_id", [channel_id])
    return exp


def exportable(db, table):
    return [c for c in columns(db, table) if c not in NOT_EXPORTABLE.get(table, set())]


def json_value(v):
    if isinstance(v, bytes):
        return {"base64": base64.b64encode(v).decode()}
    return v


def kept_marks(demo):
    """{table: the "lethe:kept" object} of the map's retained tables (account scope)."""
    dm = yaml.safe_load(demo.datamap.read_text())
    out = {}
    for name, t in dm["tables"].items():
        erase = t.get("erase")
        if isinstance(erase, dict) and erase.get("action") == "retain":
            out[name] = {"reason": erase["reason"], "for": erase["for"], "from": erase["from"]}
    return out


def expected_rows(demo, exp, kept):
    """{table: {id: row object}} as the archive must hold them."""
    out = {}
    for t, ids in exp.items():
        cols = exportable(demo.db, t)
        rows = {}
        if ids:
            marks = ",".join("?" * len(ids))
            sql = 'SELECT %s FROM "%s" WHERE id IN (%s)' % (
                ", ".join('"%s"' % c for c in cols), t, marks)
            for r in query(demo.db, sql, sorted(ids)):
                obj = {c: json_value(v) for c, v in zip(cols, r)}
                if t in kept:
                    obj["lethe:kept"] = kept[t]
                rows[obj["id"]] = obj
        assert set(rows) == ids
        out[t] = rows
    return out


def demo_secrets(demo):
    vals = set()
    for t, c in SECRET_COLUMNS:
        for (v,) in query(demo.db, 'SELECT "%s" FROM "%s" WHERE "%s" IS NOT NULL' % (c, t, c)):
            if isinstance(v, str) and len(v) >= 8:
                vals.add(v)
    return vals


# ---- reading the archive ---------------------------------------------------------


class Archive:
    def __init__(self, data):
        self.data = data
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.infos = self.zip.infolist()
        self.names = [i.filename for i in self.infos]
        assert len(self.names) == len(set(self.names)), "duplicate entries: %r" % self.names
        self.entries = {n: self.zip.read(n) for n in self.names}
        self.manifest = json.loads(self.entries["manifest.json"])

    def table_file(self, table):
        for ext in ("json", "jsonl"):
            n = "tables/%s.%s" % (table, ext)
            if n in self.entries:
                return n
        return None

    def rows(self, table):
        """(file name, list of row objects as parsed, key order kept)."""
        n = self.table_file(table)
        if n is None:
            return None, None
        text = self.entries[n].decode("utf-8")
        hook = dict  # Python dicts keep key order
        if n.endswith(".jsonl"):
            rows = [json.loads(line, object_pairs_hook=hook)
                    for line in text.split("\n") if line.strip()]
            assert text == "" or text.endswith("\n"), "%s: last line unterminated" % n
        else:
            rows = json.loads(text, object_pairs_hook=hook)
            assert isinstance(rows, list), n
        return n, rows


def check_archive(demo, archive, scope, exp, kept=None):
    """Everything this module asserts of an archive of scope @scope whose
    rows are @exp ({table: ids})."""
    kept = kept or {}
    want = expected_rows(demo, exp, kept)
    man = archive.manifest

    # Order: tables/, then media/, then index.html, manifest.json last.
    assert archive.names[-1] == "manifest.json", archive.names
    assert archive.names[-2] == "index.html", archive.names
    kinds = [n.split("/", 1)[0] if "/" in n else n for n in archive.names[:-2]]
    assert kinds == sorted(kinds, key=lambda k: {"tables": 0, "media": 1}.get(k, 9)), kinds
    assert set(kinds) <= {"tables", "media"}, archive.names

    # Every table the scope acts on: exactly the person's rows, exportable columns only.
    assert man["format"] == "lethe-export/1"
    assert man["scope"] == scope
    assert man["code"] is None  # lethe export: no request
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", man["created_at"]), man
    mt = {t["table"]: t for t in man["tables"]}
    assert len(mt) == len(man["tables"])
    assert set(mt) == set(exp), "manifest tables %s, scope %s" % (sorted(mt), sorted(exp))
    table_files = {n for n in archive.names if n.startswith("tables/")}
    seen_files = set()
    for t, rows in want.items():
        n, got = archive.rows(t)
        assert mt[t]["rows"] == len(rows), (t, mt[t], len(rows))
        assert mt[t]["kept"] == (len(rows) if t in kept else 0), (t, mt[t])
        if n is None:
            assert not rows, "%s: %d rows but no tables/ file" % (t, len(rows))
            continue
        seen_files.add(n)
        assert mt[t]["file"] == n, (t, mt[t])
        cols = exportable(demo.db, t)
        for obj in got:
            keys = [k for k in obj if k != "lethe:kept"]
            assert keys == cols, "%s: keys %r, exportable columns %r" % (t, keys, cols)
        ids = [obj["id"] for obj in got]
        assert len(ids) == len(set(ids)), "%s: a row twice" % t
        assert ids == sorted(ids), "%s: rows not in key order" % t
        assert {obj["id"]: obj for obj in got} == rows, "%s: rows differ" % t
    assert table_files == seen_files, "unexpected table files: %s" % (table_files - seen_files)
    assert man["rows"] == sum(len(r) for r in want.values())

    # Media: every media file the person's rows name, bytes as on disk, stored.
    media_want = {}
    for t, col in MEDIA_COLUMNS.items():
        for rid, obj in want.get(t, {}).items():
            key = obj[col]
            if key:
                media_want["media/%s/%s/%s" % (t, rid, os.path.basename(key))] = \
                    file_sha256(demo.media / key)
    media_got = {n for n in archive.names if n.startswith("media/")}
    assert media_got == set(media_want), (sorted(media_got)[:5], sorted(media_want)[:5])
    for n, digest in media_want.items():
        assert hashlib.sha256(archive.entries[n]).hexdigest() == digest, n
        info = archive.zip.getinfo(n)
        assert info.compress_type == zipfile.ZIP_STORED, "%s compressed" % n
    assert man["media"] == len(media_want)
    for t in want:
        n_media = sum(1 for n in media_want if n.startswith("media/%s/" % t))
        assert mt[t]["media"] == n_media, (t, mt[t])
        assert mt[t]["media_missing"] == 0, (t, mt[t])

    # manifest.json: every other entry once, with its size and SHA-256.
    files = {f["path"]: f for f in man["files"]}
    assert len(files) == len(man["files"])
    assert set(files) == set(archive.names) - {"manifest.json"}
    for path, f in files.items():
        body = archive.entries[path]
        assert f["bytes"] == len(body), path
        assert f["sha256"] == hashlib.sha256(body).hexdigest(), path

    # index.html: offline, no script, links every data file.
    html = archive.entries["index.html"].decode("utf-8")
    low = html.lower()
    assert "http://" not in low and "https://" not in low, "external URL in index.html"
    assert "<script" not in low, "script in index.html"
    assert "Demo Social" in html, "index.html does not name the app"
    hrefs = set(re.findall(r'href\s*=\s*["\']?(?:\./)?([^"\'\s>]+)', html))
    for n in table_files:
        assert n in hrefs, "index.html does not link %s (links: %s)" % (n, sorted(hrefs))
    for t, mark in kept.items():
        if want.get(t):
            assert " ".join(mark["reason"].split()) in " ".join(html.split()), \
                "index.html does not say why %s is kept" % t

    # No secret of the whole demo database, raw or decompressed.
    secrets = demo_secrets(demo)
    assert secrets
    for s in secrets:
        b = s.encode()
        assert b not in archive.data, "a secret in the zip's bytes"
        for n, body in archive.entries.items():
            assert b not in body, "a secret in %s" % n
    return want


def pick_user(demo):
    """The ordinary demo user with the most media rows, then invoices."""
    best = None
    for (uid,) in query(demo.db, "SELECT id FROM users ORDER BY id"):
        exp = expect_account(demo.db, uid)
        score = (len(exp["media"]), len(exp["invoices"]), len(exp["channels"]))
        if best is None or score > best[0]:
            best = (score, uid)
    assert best[0][0] > 0 and best[0][1] > 0, "no demo user with media and invoices"
    return best[1]


def user_email(demo, uid):
    return query(demo.db, "SELECT email FROM users WHERE id = ?", (uid,))[0][0]


# ---- the scopes ------------------------------------------------------------------


def check_map_constants(demo):
    """This module's hand-written NOT_EXPORTABLE and MEDIA_COLUMNS are the map's."""
    dm = yaml.safe_load(demo.datamap.read_text())
    got = {}
    for name, t in dm["tables"].items():
        cols = set(t.get("tokens", [])) | set(t.get("secrets", []))
        if cols:
            got[name] = cols
    assert got == NOT_EXPORTABLE
    assert {t: c for t, c in MEDIA_COLUMNS.items()} == {
        name: t["media"][0] for name, t in dm["tables"].items() if t.get("media")}


@pytest.mark.parametrize("kind", ["email", "user_id"])
def test_export_account(demo, tmp_path, kind):
    check_map_constants(demo)
    uid = pick_user(demo)
    value = user_email(demo, uid) if kind == "email" else uid
    path = export_file(demo, tmp_path, "account", [(kind, value)])
    archive = Archive(path.read_bytes())
    exp = expect_account(demo.db, uid)
    assert exp["invoices"] and exp["media"] and exp["messages"]
    kept = kept_marks(demo)
    assert set(kept) == {"invoices"}
    want = check_archive(demo, archive, "account", exp, kept)
    for obj in want["invoices"].values():
        assert obj["lethe:kept"]["for"] == "10y"
    # The person's own rows are their data: the email is in users.
    _, users = archive.rows("users")
    assert [u["email"] for u in users] == [user_email(demo, uid)]


@pytest.mark.parametrize("platform,kind", [("facebook", "meta_asid"),
                                           ("instagram", "instagram_user_id")])
def test_export_meta(demo, tmp_path, platform, kind):
    uid = pick_user(demo)
    rows = query(demo.db,
                 "SELECT c.platform_user_id FROM channels c JOIN projects p "
                 "ON c.project_id = p.id WHERE p.user_id = ? AND c.platform = ? "
                 "ORDER BY c.id LIMIT 1", (uid, platform))
    assert rows, "user %d has no %s channel" % (uid, platform)
    account = rows[0][0]
    path = export_file(demo, tmp_path, "meta", [(kind, account)])
    exp = expect_meta(demo.db, platform, account)
    assert exp["channels"] and exp["messages"]
    check_archive(demo, Archive(path.read_bytes()), "meta", exp)


def test_export_channel(demo, tmp_path):
    uid = pick_user(demo)
    chans = sorted(expect_account(demo.db, uid)["channels"])
    # The channel with the most rows under it.
    cid = max(chans, key=lambda c: (sum(len(v) for v in expect_channel(demo.db, c).values()),
                                    -c))
    path = export_file(demo, tmp_path, "channel", [("channel_id", cid)])
    exp = expect_channel(demo.db, cid)
    assert sum(len(v) for v in exp.values()) > 0
    check_archive(demo, Archive(path.read_bytes()), "channel", exp)


def test_export_jsonl_above_jsonl_from(demo, tmp_path):
    """A table of more than export.jsonl_from rows is JSON Lines; the others JSON."""
    limit = 2
    text, n = re.subn(r"^export:.*$", "export:\n  jsonl_from: %d" % limit,
                      demo.config.read_text(), count=1, flags=re.M)
    assert n == 1 and "jsonl_from" not in demo.config.read_text()
    config = demo.dir / "lethe-jsonl.yaml"
    config.write_text(text)
    uid = pick_user(demo)
    path = export_file(demo, tmp_path, "account", [("user_id", uid)], config=config)
    archive = Archive(path.read_bytes())
    exp = expect_account(demo.db, uid)
    check_archive(demo, archive, "account", exp, kept_marks(demo))
    big = {t for t, ids in exp.items() if len(ids) > limit}
    small = {t for t, ids in exp.items() if 0 < len(ids) <= limit}
    assert big and "users" in small
    for t in big:
        assert archive.table_file(t) == "tables/%s.jsonl" % t, t
    for t in small:
        assert archive.table_file(t) == "tables/%s.json" % t, t


def test_export_to_stdout(demo, tmp_path):
    uid = pick_user(demo)
    email = user_email(demo, uid)
    code, stdout, stderr = export_raw(demo, "--scope", "account", "--id", "email=" + email,
                                      "--out", "-")
    assert code == 0, stderr
    archive = Archive(stdout)
    check_archive(demo, archive, "account", expect_account(demo.db, uid), kept_marks(demo))
    # The same tables as the same export to a file.
    path = export_file(demo, tmp_path, "account", [("email", email)])
    other = Archive(path.read_bytes())
    assert other.names == archive.names
    for n in archive.names:
        if n.startswith("tables/") or n.startswith("media/"):
            assert other.entries[n] == archive.entries[n], n


# ---- bad input -------------------------------------------------------------------


def other_user(demo, uid):
    return query(demo.db, "SELECT id FROM users WHERE id != ? ORDER BY id LIMIT 1", (uid,))[0][0]


@pytest.mark.parametrize("case", ["unknown-scope", "kind-not-in-scope", "two-people",
                                  "no-out-dir", "unknown-kind"])
def test_export_bad_input(demo, tmp_path, case):
    uid = pick_user(demo)
    email = user_email(demo, uid)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "export.zip"
    args, want = {
        "unknown-scope": (["--scope", "nosuch", "--id", "email=" + email], "nosuch"),
        "kind-not-in-scope": (["--scope", "channel", "--id", "email=" + email], "email"),
        "two-people": (["--scope", "account", "--id", "email=" + email,
                        "--id", "user_id=%d" % other_user(demo, uid)], "different people"),
        "no-out-dir": (["--scope", "account", "--id", "email=" + email], None),
        "unknown-kind": (["--scope", "account", "--id", "nosuch=1"], "nosuch"),
    }[case]
    if case == "no-out-dir":
        target = out / "missing" / "export.zip"
    code, stdout, stderr = export_raw(demo, *args, "--out", target)
    assert code != 0
    assert stdout == b""
    msg = stderr.strip()
    assert msg, "no error message"
    assert len(msg.splitlines()) <= 5, msg
    if want:
        assert want in msg, msg
    else:
        assert "missing" in msg or "No such file" in msg or "directory" in msg, msg
    assert email not in msg, "personal data in the error message"
    assert list(out.rglob("*")) == [], "files written: %s" % list(out.rglob("*"))
    assert not (out / "missing").exists()
