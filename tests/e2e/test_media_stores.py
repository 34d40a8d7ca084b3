# SPDX-License-Identifier: MIT
"""Media stores by name (issue 19): a data map whose media columns name two local
stores -- app.media_root ("local") and a `type: local` store of lethe.yaml's
media_stores -- has its files removed from both by an erasure, a TTL sweep and a channel
purge; a data map naming a store lethe.yaml does not define is a configuration error at
start that changes nothing.  Every test runs on both backends (the backend fixture).
"""
import json

import pytest

from disconnect_helpers import configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import media_files, query, run_lethe
from sweep_helpers import DAY, DEMO_NOW, edit, fmt, sweep

pytestmark = pytest.mark.usefixtures("backend")

DEMO_OPTIONS = ["--users", "6", "--seed", "5"]

ARCHIVE_STORE = """
media_stores:
  archive:
    type: local
    root: archive
    retries: 1
"""


def add_archive(demo, table, column, where, params=()):
    """Give @table a media column @column in the store "archive" (the directory
    archive/ beside lethe.yaml), filled for the rows matching @where with a file each;
    the {id: key} of those rows."""
    archive = demo.dir / "archive"
    archive.mkdir(exist_ok=True)
    demo.execute('ALTER TABLE "%s" ADD COLUMN "%s" TEXT' % (table, column))
    ids = [r[0] for r in query(demo.db, 'SELECT id FROM "%s" WHERE %s ORDER BY id'
                               % (table, where), params)]
    keys = {}
    for i in ids:
        key = "a%d/%s-%d.bin" % (i % 7, table, i)
        (archive / key).parent.mkdir(parents=True, exist_ok=True)
        (archive / key).write_bytes(b"archived %d\n" % i)
        demo.execute('UPDATE "%s" SET "%s" = ? WHERE id = ?' % (table, column), (key, i))
        keys[i] = key
    if "media_stores:" not in demo.config.read_text():
        demo.config.write_text(demo.config.read_text() + ARCHIVE_STORE)
    return keys


def person_with_media(demo):
    rows = query(demo.db, "SELECT p.user_id, m.id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    by_user = {}
    for uid, mid, key in rows:
        by_user.setdefault(uid, {})[mid] = key
    uid = max(by_user, key=lambda u: len(by_user[u]))
    assert len(by_user[uid]) >= 3
    return uid, by_user[uid]


def test_erase_removes_files_in_two_local_stores(demo):
    uid, local = person_with_media(demo)
    archived = add_archive(demo, "media", "thumb", "id IN (%s)" % ",".join(map(str, local)))
    # Someone else's archived file stays.
    other = add_archive_other(demo)
    edit(demo.datamap, r"^    media: \[storage_key\]$",
         "    media: {storage_key: local, thumb: archive}")
    summary = demo.erase("account", ("user_id", uid))
    media = [s for s in summary["steps"] if s["table"] == "media"][0]
    assert media["media_files"] == len(local) + len(archived)
    assert media["media_missing"] == 0 and media["media_failed"] == 0
    assert not set(local.values()) & demo.media_files()
    left = media_files(demo.dir / "archive")
    assert not set(archived.values()) & left
    assert other in left
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]


def add_archive_other(demo):
    """A file in the archive store that no erased row names."""
    key = "keep/other.bin"
    (demo.dir / "archive" / "keep").mkdir(parents=True, exist_ok=True)
    (demo.dir / "archive" / key).write_bytes(b"not this person's\n")
    return key


def test_unknown_store_is_a_configuration_error_that_changes_nothing(demo):
    uid, local = person_with_media(demo)
    edit(demo.datamap, r"^    media: \[storage_key\]$", "    media: {storage_key: cdn}")
    before = demo.snapshot()
    files = demo.media_files()
    for command, args in (("erase", ["--scope", "account", "--id", "user_id=%d" % uid,
                                     "--no-progress"]),
                          ("sweep", ["--once"]),
                          ("serve", [])):
        code, out, err = demo.lethe(command, *args)
        assert code == 3, "%s exited %d, not 3: %s\n%s" % (command, code, err, out)
        assert ("table 'media' column 'storage_key' names media store 'cdn', which "
                "lethe.yaml's media_stores does not define") in err, err
        assert demo.snapshot() == before
        assert demo.media_files() == files


def test_bad_media_stores_entry_names_the_line(demo):
    demo.config.write_text(demo.config.read_text() +
                           "media_stores:\n  archive:\n    type: ftp\n")
    code, out, err = demo.lethe("erase", "--scope", "account", "--id", "user_id=1",
                                "--no-progress")
    assert code == 3, err
    assert "lethe.yaml:" in err and "unknown type 'ftp'" in err, err


def test_sweep_removes_files_in_both_stores(demo):
    now = DEMO_NOW
    cutoff = fmt(now - 30 * DAY)
    old = {r[0]: r[1] for r in query(demo.db, "SELECT id, storage_key FROM media WHERE "
                                              "created_at < ? AND cached = 1", (cutoff,))}
    assert old
    archived = add_archive(demo, "media", "thumb", "id IN (%s)" % ",".join(map(str, old)))
    edit(demo.datamap, r"^    media: \[storage_key\]$",
         "    media: {storage_key: local, thumb: archive}")
    summary, _ = sweep(demo, now)
    media = [t for t in summary["tables"] if t["table"] == "media"][0]
    assert media["rows"] == len(old)
    assert media["media_files"] == len(old) + len(archived)
    assert not set(old.values()) & demo.media_files()
    assert not set(archived.values()) & media_files(demo.dir / "archive")
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]


def test_channel_purge_removes_the_channels_media(demo, fake_platform):
    """A channel purge runs through the erase engine's delete steps: the media of the
    rows it deletes go from their store."""
    fake = fake_platform
    configure(demo, fake)
    cid = query(demo.db, "SELECT c.id FROM channels c WHERE c.access_token IS NOT NULL AND "
                         "c.platform = 'youtube' AND EXISTS (SELECT 1 FROM messages m "
                         "WHERE m.channel_id = c.id) ORDER BY c.id LIMIT 1")[0][0]
    attached = add_archive(demo, "messages", "attachment", "channel_id = ?", (cid,))
    kept = add_archive_other(demo)
    assert attached
    edit(demo.datamap, r"^(  messages:\n    key: id\n)",
         r"\1    media: {attachment: archive}\n")
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(cid),
                               "--json", env=serve_env(fake))
    assert code == 0, err
    st = json.loads(out)
    assert st["purge"]["state"] == "done", st
    assert query(demo.db, "SELECT count(*) FROM messages WHERE channel_id = ?",
                 (cid,))[0][0] == 0
    left = media_files(demo.dir / "archive")
    assert not set(attached.values()) & left
    assert kept in left
    assert demo.state("SELECT count(*) FROM media_pending") == [(0,)]
