# SPDX-License-Identifier: MIT
"""Exports across two `lethe serve` workers on one PostgreSQL state store.

  - the workers share one export.dir (its lock is shared between the lethes of one
    store): an export built by either downloads through both, whole (the bytes are
    equal and the zip opens); neither worker's sweep takes the other's archive;
  - a download reaching a worker whose export.dir lacks the file answers 503 with a
    clear error and leaves the row alone (on a shared store a missing file may be on
    another worker's disk: no "marked deleted"); once the file is back it downloads.

PostgreSQL only by nature (two serves never share a SQLite state store).
"""
import io
import zipfile

import pytest

from serve_helpers import servers, stop_ok  # noqa: F401  (fixture)
from test_export_requests import (
    archives,
    configure,
    create,
    download,
    export_dir,
    wait_state,
)
from test_pg_workers import second_worker

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def two_workers(demo, servers, tmp_path):
    """Two serves on the demo's databases sharing the demo's export.dir (by absolute path)."""
    configure(demo, export="export:\n  dir: %s\n" % export_dir(demo))
    first = servers(demo)
    cfg = second_worker(demo, tmp_path)
    cfg.write_text(cfg.read_text().replace("_file: secrets/",
                                           "_file: %s/" % (demo.dir / "secrets")))
    return first, servers(cfg)


def test_export_built_by_one_worker_downloads_through_the_other(backend, demo, servers,
                                                               tmp_path):
    a, b = two_workers(demo, servers, tmp_path)
    reqs = [create(a, user=1), create(b, user=2), create(a, user=3)]
    done = [wait_state(a, r["id"], ("completed", "failed"), timeout=60) for r in reqs]
    assert [d["state"] for d in done] == ["completed"] * 3, done
    files = archives(demo)
    assert len(files) == 3 and all(f.endswith(".lx") for f in files), files
    for r, d in zip(reqs, done):
        got = []
        for w in (a, b):
            status, _, data = download(w, r["id"])
            assert status == 200, (status, data[:200])
            assert len(data) == d["export"]["bytes"]
            assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
            got.append(data)
        assert got[0] == got[1]
    # Neither worker's sweep (run at its start, and now and again) took an archive.
    assert archives(demo) == files
    for w in (a, b):
        assert "removed" not in w.stderr(), w.stderr()
    stop_ok(b)
    stop_ok(a)
    assert archives(demo) == files


def test_missing_file_on_a_shared_store_is_503_not_deleted(backend, demo, servers, tmp_path):
    a, b = two_workers(demo, servers, tmp_path)
    req = create(a)
    done = wait_state(a, req["id"], ("completed",), timeout=60)
    (name,) = archives(demo)
    path = export_dir(demo) / name
    aside = tmp_path / name
    path.rename(aside)
    status, _, data = download(b, req["id"])
    assert status == 503, (status, data[:200])
    assert b"not on this worker" in data, data
    assert "marked deleted" not in b.stderr(), b.stderr()
    assert demo.state("SELECT count(*) FROM exports WHERE deleted_at IS NOT NULL") == [(0,)]
    again = wait_state(a, req["id"], ("completed",))
    assert again["export"]["deleted"] is False, again
    aside.rename(path)
    status, _, data = download(b, req["id"])
    assert status == 200 and len(data) == done["export"]["bytes"]
    stop_ok(b)
    stop_ok(a)
