# SPDX-License-Identifier: MIT
"""`lethe export` reads each media column's files through its media store
(media_open(), docs/export.md): a column the data map puts in another `type: local` store
is read from that store, never from app.media_root, byte for byte; a store that fails
to give an object (one over the 8 GiB an export takes of one object: a sparse file)
fails the export, which writes nothing (no archive, no .part), and its message names
the table, not the key.  The remote kinds have their own tests (S3, Cloudinary)."""
import hashlib
import io
import json
import os
import shutil
import zipfile

from lethe_e2e import query

DEMO_OPTIONS = ["--users", "6", "--seed", "5"]


def person_with_files(demo, least=3):
    """(email, {media id: key}) of the user with the most media files on disk."""
    rows = query(demo.db, "SELECT p.user_id, m.id, m.storage_key FROM media m "
                          "JOIN projects p ON p.id = m.project_id ORDER BY m.id")
    on_disk = demo.media_files()
    by_user = {}
    for uid, mid, key in rows:
        if key in on_disk:
            by_user.setdefault(uid, {})[mid] = key
    uid = max(by_user, key=lambda u: len(by_user[u]))
    assert len(by_user[uid]) >= least, "the demo should give someone %d media files" % least
    email = query(demo.db, "SELECT email FROM users WHERE id = ?", (uid,))[0][0]
    return email, by_user[uid]


def use_store(demo, name, root):
    """lethe.yaml defines local store @name at @root; the map puts media.storage_key in it."""
    demo.config.write_text(demo.config.read_text() +
                           "media_stores:\n  %s:\n    type: local\n    root: %s\n"
                           % (name, root))
    path = demo.dir / "datamap.yaml"
    text = path.read_text()
    assert text.count("    media: [storage_key]\n") == 1
    path.write_text(text.replace("    media: [storage_key]\n",
                                 "    media: {storage_key: %s}\n" % name))


def test_export_reads_the_columns_store(demo, tmp_path):
    email, files = person_with_files(demo)
    other = demo.dir / "other-media"
    want = {}
    for mid, key in files.items():
        # The store holds other bytes than app.media_root does at the same key.
        (other / key).parent.mkdir(parents=True, exist_ok=True)
        data = b"from the store 'other': " + key.encode()
        (other / key).write_bytes(data)
        want["media/media/%d/%s" % (mid, os.path.basename(key))] = hashlib.sha256(
            data).hexdigest()
    use_store(demo, "other", "other-media")
    out = tmp_path / "a.zip"
    code, stdout, err = demo.lethe("export", "--id", "email=" + email, "--out", str(out))
    assert code == 0, err
    z = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    got = {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()
           if n.startswith("media/")}
    assert got == want
    man = json.loads(z.read("manifest.json"))
    assert man["media"] == len(files)
    mt = {t["table"]: t for t in man["tables"]}
    assert mt["media"]["media"] == len(files) and mt["media"]["media_missing"] == 0
    # One file gone from the store: missing, even though app.media_root still has it.
    first = sorted(files.values())[0]
    (other / first).unlink()
    assert (demo.media / first).exists()
    code, stdout, err = demo.lethe("export", "--id", "email=" + email, "--out", str(out))
    assert code == 0, err
    man = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("manifest.json"))
    assert man["media"] == len(files) - 1
    assert [t for t in man["tables"] if t["table"] == "media"][0]["media_missing"] == 1
    shutil.rmtree(other)


def test_export_store_failure_writes_nothing(demo, tmp_path):
    email, files = person_with_files(demo)
    key = sorted(files.values())[0]
    # 9 GiB, sparse: more than an export takes of one object.
    with open(demo.media / key, "r+b") as f:
        f.truncate(9 << 30)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "a.zip"
    code, stdout, err = demo.lethe("export", "--id", "email=" + email, "--out", str(out))
    assert code != 0, (stdout, err)
    assert "a media file of 'media' cannot be read" in err, err
    assert key not in err and os.path.basename(key) not in err, err
    assert key not in stdout
    assert list(out_dir.iterdir()) == []
