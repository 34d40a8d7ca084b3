# SPDX-License-Identifier: MIT
"""A Meta repeat of a finished request runs the erasure again.

A person's deletion completes (or finds no data), the person reconnects the same
account (a new channel row with a token, new messages), and Meta sends the request
again within meta.repeat_window: the answer keeps the first code, the new rows are
erased, and the status page shows the latest run (its receipt time, state and counts).
`lethe import-meta-ids` does the same for an imported id."""
import sqlite3
import time

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    FB_SECRET,
    IG_SECRET,
    TSCALE,
    assert_log_clean,
    fb_id,
    ig_id,
    meta_requests,
    person_rows,
    query,
    reported_counts,
    servers,
    sign_py,
    stop_ok,
)

NEW_TOKEN = "IGQVJnew-token-after-reconnect-5eb1"


def reconnect(db, platform, uid, project):
    """The person connects account @uid again: a channel with a token, three messages.
    Returns {table: ids} of the new rows."""
    con = sqlite3.connect(str(db), timeout=10)
    try:
        cur = con.execute(
            "INSERT INTO channels (project_id, platform, platform_user_id, username, "
            "access_token, refresh_token, status, connected_at) VALUES "
            "(?, ?, ?, 'back_again', ?, 'refresh-after-reconnect', 'active', "
            "'2026-12-01 00:00:00')", (project, platform, uid, NEW_TOKEN))
        chan = cur.lastrowid
        msgs = set()
        for i in range(3):
            cur = con.execute(
                "INSERT INTO messages (channel_id, sender_platform_id, sender_name, body, "
                "received_at) VALUES (?, 'x', 'Someone', ?, '2026-12-01 00:00:00')",
                (chan, "hello again %d" % i))
            msgs.add(cur.lastrowid)
        con.commit()
    finally:
        con.close()
    return {"channels": {chan}, "messages": msgs}


def project_of(db, platform, uid):
    return query(db, "SELECT project_id FROM channels WHERE platform = ? AND "
                     "platform_user_id = ?", (platform, uid))[0][0]


def wait_rerun(srv, code, first, timeout=10):
    """Poll the status JSON until it shows a finished run received after @first's."""
    deadline = time.monotonic() + timeout * TSCALE
    last = None
    while time.monotonic() < deadline:
        last = srv.status_json(code)
        if last["received_at"] != first["received_at"] and \
                last["state"] in ("completed", "completed_with_retention"):
            return last
        time.sleep(0.02)
    raise AssertionError("no second run of %s: %r\n%s" % (code, last, srv.stderr()))


def gone(db, platform, uid, new):
    """True if the rows of @new are all gone and @uid has no channel left."""
    left = person_rows(db, platform, uid)
    if any(left.values()):
        return False
    for t, ids in new.items():
        for i in ids:
            if query(db, 'SELECT count(*) FROM "%s" WHERE id = ?' % t, (i,))[0][0]:
                return False
    return True


def test_serve_repeat_after_completed_erases_again(demo, servers):
    uid = ig_id(1)
    project = project_of(demo.db, "instagram", uid)
    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    first, _ = srv.wait_completed(code)
    assert first["no_data"] is False and reported_counts(first), first
    assert not any(person_rows(demo.db, "instagram", uid).values())

    time.sleep(1.1)  # the second run's receipt time differs from the first's
    new = reconnect(demo.db, "instagram", uid, project)
    resp = srv.deletion("instagram", sign_py(IG_SECRET, uid))
    assert resp["confirmation_code"] == code
    second = wait_rerun(srv, code, first)
    assert gone(demo.db, "instagram", uid, new)
    assert query(demo.db, "SELECT count(*) FROM channels WHERE access_token = ?",
                 (NEW_TOKEN,))[0][0] == 0
    # The page shows the second run: its receipt time, state and counts.
    assert second["received_at"] > first["received_at"], (first, second)
    assert second["no_data"] is False
    assert reported_counts(second) == {"meta-sourced": 1, "messages": 3}, second
    rows = meta_requests(demo)
    assert len(rows) == 1 and rows[0][1] == code and rows[0][3] == "completed", rows
    assert demo.state("SELECT runs, length(identity_box) FROM requests") == [(2, 0)]
    stop_ok(srv)
    assert_log_clean(srv, uid, code)


def test_serve_repeat_after_no_data_erases_again(demo, servers):
    uid = "17841499999990017"  # matches nobody at first
    project = project_of(demo.db, "instagram", ig_id(2))
    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    first, _ = srv.wait_completed(code)
    assert first["no_data"] is True, first

    time.sleep(1.1)
    new = reconnect(demo.db, "instagram", uid, project)
    assert person_rows(demo.db, "instagram", uid)["channels"]
    resp = srv.deletion("instagram", sign_py(IG_SECRET, uid))
    assert resp["confirmation_code"] == code
    second = wait_rerun(srv, code, first)
    assert gone(demo.db, "instagram", uid, new)
    assert second["no_data"] is False, second
    assert reported_counts(second) == {"meta-sourced": 1, "messages": 3}, second
    assert len(meta_requests(demo)) == 1
    stop_ok(srv)


def test_serve_repeat_after_failed_erases_again(demo, servers):
    """A failed request (here: marked failed while lethe was stopped) runs again too."""
    uid = ig_id(3)
    project = project_of(demo.db, "instagram", uid)
    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    first, _ = srv.wait_completed(code)
    stop_ok(srv)
    con = sqlite3.connect(str(demo.state_db), timeout=10)
    con.execute("UPDATE requests SET state = 'failed'")
    con.commit()
    con.close()
    new = reconnect(demo.db, "instagram", uid, project)
    time.sleep(1.1)
    srv = servers(demo)
    assert srv.status_json(code)["state"] == "failed"
    resp = srv.deletion("instagram", sign_py(IG_SECRET, uid))
    assert resp["confirmation_code"] == code
    second = wait_rerun(srv, code, first)
    assert gone(demo.db, "instagram", uid, new)
    assert reported_counts(second) == {"meta-sourced": 1, "messages": 3}, second
    stop_ok(srv)


def test_serve_import_repeat_erases_again(demo, tmp_path):
    uid = fb_id(6)
    project = project_of(demo.db, "facebook", uid)
    f = tmp_path / "ids.txt"
    f.write_text(uid + "\n")
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", f)
    assert code == 0, err
    assert not any(person_rows(demo.db, "facebook", uid).values())
    assert demo.state("SELECT state, no_data FROM requests") == [("completed", 0)]

    new = reconnect(demo.db, "facebook", uid, project)
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", f)
    assert code == 0, err
    assert gone(demo.db, "facebook", uid, new)
    assert "0 new requests, 1 already requested; 1 requests processed" in out, out
    rows = demo.state("SELECT state, no_data, runs, job_id FROM requests")
    assert len(rows) == 1 and rows[0][:3] == ("completed", 0, 2) and rows[0][3], rows
    assert FB_SECRET not in out + err and uid not in out + err


def test_serve_repeat_page_shows_the_waiting_run(demo, servers):
    """While the rerun cannot write (the app database is locked), the page shows it:
    the repeat's receipt time, not finished, and none of the first run's counts."""
    uid = ig_id(4)
    project = project_of(demo.db, "instagram", uid)
    srv = servers(demo)
    code = srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"]
    first, _ = srv.wait_completed(code)
    assert reported_counts(first)
    time.sleep(1.1)
    new = reconnect(demo.db, "instagram", uid, project)
    con = sqlite3.connect(str(demo.db), timeout=10)
    con.execute("BEGIN IMMEDIATE")
    try:
        assert srv.deletion("instagram", sign_py(IG_SECRET, uid))["confirmation_code"] == code
        deadline = time.monotonic() + 10 * TSCALE
        while True:
            st = srv.status_json(code)
            if st["received_at"] != first["received_at"]:
                break
            assert time.monotonic() < deadline, st
            time.sleep(0.02)
        assert st["state"] in ("received", "running"), st
        assert st["categories"] == [] and st["completed_at"] is None, st
    finally:
        con.rollback()
        con.close()
    second = wait_rerun(srv, code, first, timeout=20)
    assert gone(demo.db, "instagram", uid, new)
    assert reported_counts(second) == {"meta-sourced": 1, "messages": 3}, second
    stop_ok(srv)
