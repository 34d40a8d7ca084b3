# SPDX-License-Identifier: MIT
"""`lethe serve`: many data-deletion callbacks at once.

A thread pool sends N callbacks at the same time (distinct people of both families,
ids matching nobody, and repeats): every one answers 200 with a well-formed code,
repeats share their code, distinct requests get distinct codes, and all of them
complete, with exactly the right rows gone from app.db.
"""
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from lethe_e2e import SANITIZED
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    SECRET_OF,
    TSCALE,
    assert_code,
    expected_after,
    fb_id,
    ig_id,
    person_rows,
    public_url,
    recorded,
    servers,
    sign_py,
    stop_ok,
)

USERS = 40
DEMO_OPTIONS = ["--users", str(USERS), "--seed", "5"]
TOTAL = 100 if SANITIZED else 200
WORKERS = 32


def workload(rng):
    """[(app, id)] of TOTAL requests: known ids of both families, unknown ids, repeats."""
    distinct = [("instagram", ig_id(i)) for i in range(1, USERS + 1)]
    distinct += [("facebook", fb_id(i)) for i in range(1, USERS + 1)]
    distinct += [("instagram", "17841%09d" % (900000000 + i)) for i in range(20)]
    distinct += [("facebook", "10229%09d" % (900000000 + i)) for i in range(20)]
    # The same id under the other family is a separate request.
    distinct += [("facebook", ig_id(1)), ("instagram", fb_id(1))]
    rng.shuffle(distinct)
    n_distinct = min(len(distinct), TOTAL * 3 // 4)
    distinct = distinct[:n_distinct]
    reqs = list(distinct) + [rng.choice(distinct) for _ in range(TOTAL - n_distinct)]
    rng.shuffle(reqs)
    return reqs


def test_serve_concurrent_callbacks(demo, servers, snapshot):
    rng = random.Random(20261122)
    reqs = workload(rng)
    assert len(reqs) == TOTAL
    keys = set(reqs)
    removed = {}
    for app, uid in keys:
        for t, ids in person_rows(demo.db, app, uid).items():
            removed[t] = removed.get(t, set()) | ids
    assert removed["channels"], "the workload must erase some channels"
    before = snapshot(demo.db)
    pub = public_url(demo)
    # Sign before the burst so that the requests really arrive together.
    bodies = [(app, uid, sign_py(SECRET_OF[app], uid)) for app, uid in reqs]
    srv = servers(demo)
    go = threading.Event()

    def send(item):
        app, uid, sr = item
        go.wait(10 * TSCALE)
        return srv.post_sr("/api/meta/%s/data-deletion" % app, sr, timeout=30)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(send, b) for b in bodies]
        time.sleep(0.2)   # let the workers start and wait
        t0 = time.monotonic()
        go.set()
        results = [f.result(timeout=60 * TSCALE) for f in futures]
    burst = time.monotonic() - t0

    code_of = {}
    for (app, uid, _), (status, hdrs, data) in zip(bodies, results):
        assert status == 200, (app, status, data)
        assert hdrs["content-type"] == "application/json"
        code = assert_code(json.loads(data), pub)
        assert code_of.setdefault((app, uid), code) == code, "a repeat got another code"
    assert len(set(code_of.values())) == len(keys), "two requests share a code"
    rows = recorded(demo)
    assert sorted(r[0] for r in rows) == sorted(code_of.values())

    t1 = time.monotonic()
    for (app, uid), code in code_of.items():
        st, _ = srv.wait_completed(code, timeout=20)
        known = any(row[2] == app and row[3] == uid for row in before["channels"].values())
        assert st["no_data"] is (not known), (app, uid, st)
    print("\n%d callbacks (%d distinct) answered in %.2f s; all completed %.2f s later"
          % (TOTAL, len(keys), burst, time.monotonic() - t1))
    assert snapshot(demo.db) == expected_after(before, removed)
    stop_ok(srv)
