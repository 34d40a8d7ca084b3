# SPDX-License-Identifier: MIT
"""A channel disconnect while `lethe erase` erases the channel's owner.

The erasure of the heavy demo user runs in one-row batches; once it has started, and
while the channel still exists, `lethe disconnect` of one of that user's channels
runs beside it.  Both finish without an error; in the end the person is gone (channel
included), the token was revoked upstream exactly once, and every outbox job ended
(the erasure disconnects the person's other channels too).  Runs on both backends (the
backend fixture: app database and state store on SQLite, then on PostgreSQL).
"""
import json
import subprocess
import time

from disconnect_helpers import channel_row, configure, serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import has_table, lethe_env, lethe_path, query, run_lethe
from serve_helpers import TSCALE

DEMO_OPTIONS = ["--users", "4", "--seed", "7", "--heavy", "40000"]
# A transaction costs a round trip on PostgreSQL: fewer rows keep the erasure long enough
# (seconds at one row a batch) without taking a minute.
PG_DEMO_OPTIONS = ["--users", "4", "--seed", "7", "--heavy", "4000"]
EMAIL = "heavy@example.com"


def test_disconnect_while_erasing_the_same_person(demo, fake_platform, backend):
    fake = fake_platform
    configure(demo, fake)
    cid, token = query(demo.db, "SELECT c.id, c.access_token FROM channels c JOIN projects p "
                                "ON c.project_id = p.id JOIN users u ON p.user_id = u.id "
                                "WHERE u.email = ? AND c.platform = 'youtube' AND "
                                "c.access_token IS NOT NULL ORDER BY c.id LIMIT 1",
                       (EMAIL,))[0]
    erase = subprocess.Popen([lethe_path(), "erase", "-c", str(demo.config), "--scope",
                              "account", "--id", "email=" + EMAIL, "--batch", "1", "--quiet"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=lethe_env(serve_env(fake)))
    try:
        # Wait until the erasure has committed some batches (bounded).
        deadline = time.monotonic() + 30 * TSCALE
        while time.monotonic() < deadline and erase.poll() is None:
            if has_table(demo.state_db, "job_steps") and query(
                    demo.state_db, "SELECT coalesce(sum(done), 0) FROM job_steps")[0][0] > 0:
                break
            time.sleep(0.02)
        assert erase.poll() is None, "the erasure ended before the disconnect could start"
        assert channel_row(demo, cid) is not None
        code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(cid),
                                   "--json", env=serve_env(fake))
        e_out, e_err = erase.communicate(timeout=300 * TSCALE)
    finally:
        if erase.poll() is None:
            erase.kill()
            erase.wait(timeout=10)
    assert erase.returncode == 0, e_err
    assert code == 0, err
    st = json.loads(out)
    assert st["state"] == "disconnected", st
    assert st["revoke"]["state"] == "done" and st["purge"]["state"] == "done", st
    calls = fake.calls("google")
    assert len(calls) == 1 and calls[0].form == {"token": token}
    # Consistent in the end: the person is gone, the channel with them.
    assert query(demo.db, "SELECT count(*) FROM users WHERE email = ?", (EMAIL,))[0][0] == 0
    assert channel_row(demo, cid) is None
    code, out, err = run_lethe("plan", "-c", demo.config, "--scope", "account", "--id",
                               "email=" + EMAIL, "--json")
    assert code == 0, err
    assert sum(s["rows"] for s in json.loads(out)["steps"]) == 0
    code, out, err = run_lethe("jobs", "-c", demo.config, "--json")
    assert code == 0, err
    # Every job ended: the erasure disconnected the person's other channels too, and
    # the only jobs not "done" are the calls their platforms document none of.
    jobs = [json.loads(line) for line in out.splitlines()]
    assert jobs and all(j["state"] == "done" or (
        j["state"] == "unsupported" and "documents no" in j["reason"]) for j in jobs), jobs
    assert any(j["state"] == "done" and j["kind"] == "purge" for j in jobs), jobs
    code, out, err = run_lethe("disconnect", "-c", demo.config, "--channel", str(cid), "--json",
                               env=serve_env(fake))
    assert code == 0 and json.loads(out)["state"] == "disconnected", (code, out, err)
