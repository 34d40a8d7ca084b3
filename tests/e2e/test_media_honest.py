# SPDX-License-Identifier: MIT
"""Media files, honestly (issue 13 item 6): an app.media_root lethe cannot use is a
configuration error (exit 3) that changes nothing, and a media file already gone when
lethe goes to remove it is counted as missing, never as removed.
"""
import json

from lethe_e2e import query
from sweep_helpers import DAY, DEMO_NOW, edit, fmt, sweep

DEMO_OPTIONS = ["--users", "6", "--seed", "5"]


def person_with_media(demo, least=3):
    """(user id, storage keys of the user's media) for a user with at least @least files."""
    rows = query(demo.db, "SELECT p.user_id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    by_user = {}
    for uid, key in rows:
        by_user.setdefault(uid, []).append(key)
    uid = max(by_user, key=lambda u: len(by_user[u]))
    assert len(by_user[uid]) >= least, "the demo should give someone %d media files" % least
    return uid, by_user[uid]


def assert_refused(demo, command, args, words):
    before = demo.snapshot()
    files = demo.media_files()
    code, out, err = demo.lethe(command, *args)
    assert code == 3, "%s exited %d, not 3 (configuration): %s\n%s" % (command, code, err, out)
    for w in words:
        assert w in err, "%r not in the message: %s" % (w, err)
    assert demo.snapshot() == before
    assert demo.media_files() == files
    return err


def test_media_root_that_does_not_exist_is_a_configuration_error(demo):
    uid, _ = person_with_media(demo)
    edit(demo.config, r"^  media_root: media", "  media_root: no-such-media")
    assert_refused(demo, "erase", ["--scope", "account", "--id", "user_id=%d" % uid,
                                   "--no-progress"], ["media_root", "no-such-media"])
    assert_refused(demo, "sweep", ["--once"], ["media_root", "no-such-media"])


def test_media_root_url_is_a_configuration_error(demo):
    uid, _ = person_with_media(demo)
    edit(demo.config, r"^  media_root: media", "  media_root: s3://AKIDKEY:s3cr3t@bucket/prefix")
    err = assert_refused(demo, "erase", ["--scope", "account", "--id", "user_id=%d" % uid,
                                         "--no-progress"],
                         ["s3://...", "object storage is not supported"])
    # A URL may carry credentials: only its scheme is named.
    assert "s3cr3t" not in err and "AKIDKEY" not in err, err
    assert_refused(demo, "sweep", ["--once"], ["object storage is not supported"])
    assert_refused(demo, "serve", [], ["object storage is not supported"])


def test_erase_counts_files_already_gone_as_missing(demo):
    uid, keys = person_with_media(demo)
    gone = keys[:2]
    for k in gone:
        (demo.media / k).unlink()
    summary = demo.erase("account", ("user_id", uid))
    media = [s for s in summary["steps"] if s["table"] == "media"][0]
    assert media["media_files"] == len(keys) - len(gone)
    assert media["media_missing"] == len(gone)
    assert media["media_failed"] == 0
    assert not set(keys) & demo.media_files()
    code, out, err = demo.lethe("erase", "--scope", "account", "--id", "user_id=%d" % uid,
                                "--no-progress")
    assert code == 0, err


def test_erase_human_summary_says_missing(demo):
    uid, keys = person_with_media(demo)
    (demo.media / keys[0]).unlink()
    code, out, err = demo.lethe("erase", "--scope", "account", "--id", "user_id=%d" % uid,
                                "--no-progress")
    assert code == 0, err
    assert "%d media files removed, 1 missing" % (len(keys) - 1) in out, out


def test_sweep_counts_files_already_gone_as_missing(demo):
    cutoff = fmt(DEMO_NOW - 30 * DAY)
    cached = [r[0] for r in query(demo.db, "SELECT storage_key FROM media WHERE "
                                           "created_at < ? AND cached = 1 ORDER BY id",
                                  (cutoff,))]
    assert len(cached) >= 2, "the demo should have old cached media"
    (demo.media / cached[0]).unlink()
    summary, _ = sweep(demo, DEMO_NOW)
    media = [t for t in summary["tables"] if t["table"] == "media"][0]
    assert media["rows"] == len(cached)
    assert media["media_files"] == len(cached) - 1
    assert media["media_missing"] == 1
    assert media["media_failed"] == 0
    assert not set(cached) & demo.media_files()
