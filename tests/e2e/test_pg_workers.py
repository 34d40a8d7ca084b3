# SPDX-License-Identifier: MIT
"""Two `lethe serve` workers on one PostgreSQL state store (and PostgreSQL app
database): one queue, nothing done twice, nothing lost when a worker dies.

  - many requests created through both workers at once: each is claimed by one
    worker, runs once (one job, one "running" and one final transition in its history
    and in the audit chain, each erasure step recorded once), each channel's token is
    revoked upstream once (the fake platform records every call), each completion mail
    goes out once (a real SMTP server on loopback), both workers did some of the work,
    and the audit chain verifies (`lethe audit verify`);
  - SIGKILL of the worker running a long erasure (the demo's heavy user, small
    batches) while the other runs: the other takes the job over and finishes it
    exactly once: one job, its steps' rows equal to the plan's (no batch counted
    twice), one completion, the revocations and the mail once, the chain verifies.

PostgreSQL only by nature: two processes never share a SQLite state store (the second
is refused at start: test_export_requests.py's second serve).  The test server is
tests/pg_server.py's (the pg_server fixture); each test has its own database, the app's
tables in schema public and the state store in schema lethe.
"""
import collections
import json
import re
import signal
import time

import pytest

from disconnect_helpers import serve_env
from fake_platform import fake_platform  # noqa: F401  (fixture)
from lethe_e2e import SANITIZED, query, run_lethe
from request_helpers import (
    FINAL,
    Clock,
    app_get,
    configure_requests,
    create,
    person_rows,
    policy,
    start,
    states_of,
    users,
    wait_state,
    wait_until,
)
from serve_helpers import TSCALE, servers  # noqa: F401  (fixture)
from smtp_helpers import smtp_sink  # noqa: F401  (fixture)

HEAVY_ROWS = 20000 if SANITIZED else 60000
DEMO_OPTIONS = ["--users", "30", "--seed", "7", "--heavy", str(HEAVY_ROWS)]
HEAVY = "heavy@example.com"
N_REQUESTS = 8 if SANITIZED else 16
DONE = "completed_with_retention"  # the demo's account scope keeps invoices
COMPLETED_RE = re.compile(r"request (\d+): (completed\w*) \(job (\d+)")

# Every test here runs on PostgreSQL (the backend fixture's postgresql case only).
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def configure(demo, fake, sink, batch_rows):
    """Requests of the account scope run at once; erasures in batches of @batch_rows;
    mail to @sink."""
    configure_requests(demo, fake, [policy("now", deadline="2d")])
    text = demo.config.read_text()
    assert "batch_rows: 0 " in text
    text = text.replace("batch_rows: 0 ", "batch_rows: %d " % batch_rows)
    text += ("mail:\n  url: smtp://127.0.0.1:%d\n  from: privacy@demo-social.example\n"
             "  starttls: off\n  backoff_base: 100ms\n  backoff_cap: 300ms\n" % sink.port)
    # One signing key for both workers' audit checkpoints.
    text += "proof:\n  signing_key_file: %s\n" % (demo.dir / "var" / "signing.key")
    demo.config.write_text(text)


def second_worker(demo, tmp_path):
    """The configuration of a second worker: its own directory (the files a serve keeps
    beside a PostgreSQL store, its intake log among them, are per process: var/ of the
    configuration's directory), the same databases, data map, media and keys (the
    anonymize, outbox and signing keys of the first: start the first before it)."""
    d = tmp_path / "worker2"
    (d / "var").mkdir(parents=True)
    text = demo.config.read_text()
    for line, path in (("datamap: datamap.yaml", "datamap.yaml"),
                       ("media_root: media", "media"),
                       ("key_file: var/anonymize.key", "var/anonymize.key"),
                       ("key_file: var/outbox.key", "var/outbox.key")):
        assert text.count(line) == 1, line
        text = text.replace(line, line.split(":")[0] + ": " + str(demo.dir / path))
    cfg = d / "lethe.yaml"
    cfg.write_text(text)
    return cfg


def tokens_of(demo, uid):
    """The access tokens of the person's channels (the erasure revokes them upstream)."""
    return [r[0] for r in query(
        demo.db, "SELECT c.access_token FROM channels c JOIN projects p ON "
                 "p.id = c.project_id WHERE p.user_id = ? AND c.access_token IS NOT NULL",
        (uid,))]


def upstream_calls(fake):
    """The fake's calls as a Counter of (platform, method, path, form): one call with the
    same form twice is a call made twice."""
    return collections.Counter((c.platform, c.method, c.path, tuple(sorted(c.form.items())))
                               for c in fake.calls())


def check_upstream_once(demo, fake):
    """Every upstream call made once, and one per outbox job that ended done (the fake
    answers every call with success): none lost, none twice."""
    calls = upstream_calls(fake)
    assert calls and all(n == 1 for n in calls.values()), calls
    code, out, err = run_lethe("jobs", "-c", demo.config, "--json", env=serve_env(fake))
    assert code == 0, err
    jobs = [json.loads(line) for line in out.splitlines() if line.strip()]
    upstream = [j for j in jobs if j.get("kind") in ("revoke", "unsubscribe")]
    assert upstream and all(j["state"] in ("done", "unsupported") for j in upstream), upstream
    assert sum(calls.values()) == sum(j["state"] == "done" for j in upstream), (calls, upstream)


def workers(servers, demo, fake, clock, tmp_path):
    """Two `lethe serve` on the demo's databases: the first in the demo's directory, the
    second in its own (second_worker)."""
    first = start(servers, demo, fake, clock)
    env = serve_env(fake)
    env.update(clock.env())
    return [first, servers(second_worker(demo, tmp_path), env=env)]


def request_id(demo, code):
    r = demo.state("SELECT id FROM requests WHERE code = ?", (code,))
    assert r, "no request %s in the state store" % code
    return r[0][0]


def completions(*workers):
    """{request id: [(worker index, final state, job)]} from the workers' logs."""
    out = collections.defaultdict(list)
    for i, w in enumerate(workers):
        for rid, state, job in COMPLETED_RE.findall(w.stderr()):
            out[int(rid)].append((i, state, int(job)))
    return out


def audit_of(demo, rid):
    """(request transitions, erase_step bodies) of request @rid in the audit chain."""
    states = [r[0] for r in demo.state("SELECT state FROM audit WHERE request_id = ? AND "
                                       "type = 'request' ORDER BY seq", (rid,))]
    steps = [json.loads(r[0]) for r in demo.state(
        "SELECT body FROM audit WHERE request_id = ? AND type = 'erase_step' ORDER BY seq",
        (rid,))]
    return states, steps


def check_ran_once(demo, srv, code):
    """Request @code ran exactly once: its history, its one job, its audit entries."""
    req = app_get(srv, code)
    assert req["state"] == DONE, req
    assert states_of(req) == ["received", "scheduled", "running", DONE], req
    rid = request_id(demo, code)
    states, steps = audit_of(demo, rid)
    assert states.count("running") == 1 and states.count(DONE) == 1, states
    parts = [s["part"] for s in steps]
    assert parts and len(parts) == len(set(parts)), "an erasure step recorded twice: %r" % parts
    assert len({s["job"] for s in steps}) == 1, steps
    return rid, steps


def complete_mails(sink, email):
    return [m for m in sink.messages if "complete" in m.subject and email in m.rcpt]


def wait_mail_idle(demo, srv):
    wait_until(lambda: demo.state("SELECT count(*) FROM mail WHERE state IN "
                                  "('pending', 'sending')")[0][0] == 0,
               "the mail outbox idle", timeout=30, srv=srv)


def wait_outbox_idle(demo, srv):
    wait_until(lambda: demo.state("SELECT count(*) FROM outbox WHERE state IN "
                                  "('pending', 'retrying', 'running')")[0][0] == 0,
               "the outbox idle", timeout=30, srv=srv)


def audit_verifies(demo):
    code, out, err = run_lethe("audit", "verify", "-c", demo.config, timeout=120)
    assert code == 0, "lethe audit verify failed (%d):\n%s\n%s" % (code, out, err)


def test_two_workers_share_the_queue_nothing_twice(backend, demo, fake_platform, servers,
                                                   smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    # Two rows per transaction: each erasure takes a while, so both workers have work
    # while requests are still queued.
    configure(demo, fake_platform, smtp_sink, batch_rows=2)
    people = [u for u in users(demo, N_REQUESTS + 1) if u[1] != HEAVY][:N_REQUESTS]
    assert all(tokens_of(demo, uid) for uid, _ in people)
    w = workers(servers, demo, fake_platform, clock, tmp_path)

    codes = {}
    for i, (uid, email) in enumerate(people):
        st, req = create(w[i % 2], {"email": email}, verified=True)
        assert st == 201, req
        codes[uid] = req["id"]
    for uid, code in codes.items():
        wait_state(w[0], code, FINAL, timeout=90)

    jobs = set()
    for uid, code in codes.items():
        rid, steps = check_ran_once(demo, w[1], code)
        jobs.add(steps[0]["job"])
        assert person_rows(demo, uid) == {"users": 0, "projects": 0, "channels": 0,
                                          "posts": 0, "invoices": 0}
    assert len(jobs) == N_REQUESTS
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == N_REQUESTS

    # Each request completed by one worker, once; both workers took some.
    done = completions(*w)
    ids = {request_id(demo, c): c for c in codes.values()}
    assert set(done) == set(ids), (done, ids)
    assert all(len(v) == 1 and v[0][1] == DONE for v in done.values()), done
    by_worker = collections.Counter(v[0][0] for v in done.values())
    assert by_worker[0] > 0 and by_worker[1] > 0, \
        "one worker did every request: %r" % dict(by_worker)

    # Upstream: every token revoked, each once.
    for s in w:
        wait_outbox_idle(demo, s)
    check_upstream_once(demo, fake_platform)

    # One completion mail per person.
    wait_mail_idle(demo, w[0])
    for uid, email in people:
        assert len(complete_mails(smtp_sink, email)) == 1, (email, [
            (m.subject, m.rcpt) for m in smtp_sink.messages])
    for s in w:
        s.stop(signal.SIGTERM)
    audit_verifies(demo)


def test_sigkill_of_a_worker_mid_job_other_finishes_once(backend, demo, fake_platform, servers,
                                                         smtp_sink, tmp_path):
    clock = Clock(tmp_path / "clock")
    # Small batches: the heavy user's erasure takes seconds.
    configure(demo, fake_platform, smtp_sink, batch_rows=50)
    heavy = query(demo.db, "SELECT id FROM users WHERE email = ?", (HEAVY,))[0][0]
    assert tokens_of(demo, heavy)
    planned = collections.Counter()
    for step in demo.plan("account", ("email", HEAVY))["steps"]:
        planned[step["table"]] += step["rows"]
    assert sum(planned.values()) >= HEAVY_ROWS * 0.9
    w = workers(servers, demo, fake_platform, clock, tmp_path)

    st, req = create(w[0], {"email": HEAVY}, verified=True)
    assert st == 201, req
    code = req["id"]
    # Under way: some batches committed, the job leased by one of the workers.
    wait_until(lambda: (demo.state("SELECT sum(done) FROM job_steps")[0][0] or 0) > 0,
               "the erasure under way", srv=w[0])
    owner = demo.state("SELECT lease_owner FROM jobs")
    assert len(owner) == 1 and owner[0][0], owner
    pids = [s.proc.pid for s in w]
    holder = [i for i, pid in enumerate(pids) if re.search(r":%d(:|$)" % pid, owner[0][0])]
    assert len(holder) == 1, (owner, pids)
    killed, other = w[holder[0]], w[1 - holder[0]]
    killed.stop(signal.SIGKILL)
    left = demo.state("SELECT state FROM requests WHERE code = ?", (code,))
    assert left == [("running",)], "the erasure ended before the kill: %r" % left
    assert person_rows(demo, heavy)["users"] == 1

    # The other worker takes the job over and finishes it.
    t0 = time.monotonic()
    req = wait_state(other, code, FINAL, timeout=90)
    print("\ntaken over and finished %.1f s after the kill" % (time.monotonic() - t0))
    rid, steps = check_ran_once(demo, other, code)
    assert person_rows(demo, heavy) == {"users": 0, "projects": 0, "channels": 0, "posts": 0,
                                        "invoices": 0}
    assert demo.state("SELECT count(*) FROM jobs")[0][0] == 1
    # Every row counted once across the two workers: the steps' rows are the plan's.
    rows = collections.Counter()
    for s in steps:
        rows[s["table"]] += s["rows"]
    assert {t: n for t, n in rows.items() if n} == {t: n for t, n in planned.items() if n}
    done = completions(*w)
    assert done.get(rid) == [(1 - holder[0], DONE, steps[0]["job"])], done

    wait_outbox_idle(demo, other)
    check_upstream_once(demo, fake_platform)
    wait_mail_idle(demo, other)
    assert len(complete_mails(smtp_sink, HEAVY)) == 1, [
        (m.subject, m.rcpt) for m in smtp_sink.messages]
    other.stop(signal.SIGTERM)
    audit_verifies(demo)
