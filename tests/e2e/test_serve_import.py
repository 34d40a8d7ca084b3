# SPDX-License-Identifier: MIT
"""`lethe import-meta-ids`: the bulk import of the id list Meta emails about runs the
same deletion as the callback, idempotently, and tolerates (and counts) ids that match
nobody; --out writes each id's code and status URL to a file, --json the summary."""
import csv
import json
import os
import re
import stat
import time

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    category_counts,
    expected_after,
    fb_id,
    ig_id,
    meta_requests,
    person_rows,
    public_url,
    reported_counts,
    servers,
    sign_py,
    state_store_bytes,
    stop_ok,
)

SUMMARY_RE = re.compile(r"(\d+) ids read \((\d+) lines skipped\): (\d+) new requests, "
                        r"(\d+) already requested; (\d+) requests processed")


def summary(out):
    m = SUMMARY_RE.search(out)
    assert m, "no summary in %r" % out
    return tuple(int(x) for x in m.groups())


def union(*removed):
    out = {}
    for r in removed:
        for t, ids in r.items():
            out[t] = out.get(t, set()) | ids
    return out


def test_serve_import_meta_ids_plain_list(demo, snapshot, tmp_path):
    ids = [fb_id(2), fb_id(3), "10229999999902"]
    removed = union(*(person_rows(demo.db, "facebook", i) for i in ids))
    assert len(removed["channels"]) == 2
    before = snapshot(demo.db)
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(ids) + "\n\n")
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", f)
    assert code == 0, err
    # ids read, lines skipped, new, repeats, processed
    assert summary(out) == (3, 1, 3, 0, 3), out
    after = snapshot(demo.db)
    assert after == expected_after(before, removed)
    # The same people's Instagram connections belong to the other app: still there.
    for i in (2, 3):
        assert person_rows(demo.db, "instagram", ig_id(i))["channels"]
    rows = meta_requests(demo)
    assert sorted((r[2], r[3], r[4]) for r in rows) == [
        ("facebook", "completed", 0), ("facebook", "completed", 0), ("facebook", "completed", 1)]
    for i in ids:
        assert i.encode() not in state_store_bytes(demo)
        assert i not in out and i not in err

    # Again: the same requests and codes, each run once more (data may have come back;
    # here none did, so nothing changes, and the pages still show what was erased).
    codes = sorted(r[1] for r in rows)
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", f)
    assert code == 0, err
    assert summary(out) == (3, 1, 0, 3, 3), out
    assert "already requested" in out
    assert snapshot(demo.db) == after
    rows = meta_requests(demo)
    assert sorted(r[1] for r in rows) == codes
    assert sorted((r[2], r[3], r[4]) for r in rows) == [
        ("facebook", "completed", 0), ("facebook", "completed", 0), ("facebook", "completed", 1)]


def test_serve_import_meta_ids_csv_and_callback_share_requests(demo, servers, snapshot, tmp_path):
    removed4 = person_rows(demo.db, "facebook", fb_id(4))
    removed = union(removed4,
                    person_rows(demo.db, "facebook", fb_id(5)))
    before = snapshot(demo.db)
    f = tmp_path / "meta.csv"
    f.write_text("ID,Type,Date\r\n"
                 "%s,ASID,2026-11-01\r\n"
                 "\"%s\",ASID,2026-11-01\r\n"
                 "10229999999802,ASID,2026-11-01\r\n" % (fb_id(4), fb_id(5)))
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", f)
    assert code == 0, err
    assert summary(out) == (3, 1, 3, 0, 3), out
    assert snapshot(demo.db) == expected_after(before, removed)

    # A callback for an imported id is a repeat: the server answers the import's code
    # and runs the erasure again; nothing was left, so the page still shows what the
    # import's run erased.
    srv = servers(demo)
    resp = srv.deletion("facebook", sign_py(FB_SECRET, fb_id(4)))
    codes = {r[1] for r in meta_requests(demo)}
    assert resp["confirmation_code"] in codes and len(codes) == 3
    deadline = time.monotonic() + 10
    while demo.state("SELECT runs, state FROM requests WHERE code = ?",
                     (resp["confirmation_code"],)) != [(2, "completed")]:
        assert time.monotonic() < deadline, meta_requests(demo)
        time.sleep(0.02)
    st = srv.status_json(resp["confirmation_code"])
    assert st["state"] == "completed" and st["no_data"] is False
    assert reported_counts(st) == category_counts(removed4), st
    assert snapshot(demo.db) == expected_after(before, removed)
    stop_ok(srv)

    # An unknown app is a usage error, and names the app.
    code, out, err = demo.lethe("import-meta-ids", "--app", "tiktok", f)
    assert code != 0 and "tiktok" in err
    assert len(meta_requests(demo)) == 3


def test_serve_import_meta_ids_out_file_json_and_nobody(demo, tmp_path):
    """--out writes every id's code and status URL to a new 0600 file (ids are personal
    data), --json gives the summary as JSON, and ids that matched nobody are counted."""
    ids = [fb_id(2), "10229999999902", fb_id(3), "10229999999802"]
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(ids) + "\n")
    out_csv = tmp_path / "codes.csv"
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", "--out", out_csv,
                                "--json", f)
    assert code == 0, err
    doc = json.loads(out)
    assert doc == {"ids": 4, "lines_skipped": 0, "new_requests": 4, "already_requested": 0,
                   "processed_here": 4, "processed_by_server": 0, "matched_nobody": 2,
                   "out": str(out_csv)}, doc
    assert stat.S_IMODE(os.stat(out_csv).st_mode) == 0o600
    rows = list(csv.reader(out_csv.read_text().splitlines()))
    assert rows[0] == ["id", "confirmation_code", "status_url"]
    codes = {r[1]: r for r in meta_requests(demo)}
    base = public_url(demo) + "/data-deletion/status?id="
    assert [r[0] for r in rows[1:]] == ids
    for r in rows[1:]:
        assert r[1] in codes and r[2] == base + r[1], r
    assert len({r[1] for r in rows[1:]}) == 4
    for i in ids:
        assert i not in out and i not in err

    # Again, as text: the same codes (repeats, each run once more: data may have come
    # back since), counted the same; the file is never overwritten.
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", "--out", out_csv, f)
    assert code == 2 and "--out never overwrites a file" in err, (code, err)
    again = tmp_path / "again.csv"
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", "--out", again, f)
    assert code == 0, err
    assert summary(out) == (4, 0, 0, 4, 4), out
    assert "2 matched nobody" in out
    assert again.read_text() == out_csv.read_text()

    # An error leaves no file behind, and --json reports it as JSON.
    gone = tmp_path / "gone.csv"
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", "--out", gone, "--json",
                                tmp_path / "missing.txt")
    assert code == 2 and json.loads(out)["error"]["code"] == "usage", (code, out)
    assert not gone.exists()
