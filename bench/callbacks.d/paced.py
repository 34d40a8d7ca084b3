#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/callbacks.d/paced.py - open-loop load at a fixed rate (wrk has none).

usage: paced.py HOST PORT FILE RATE SECONDS CONNS OUT.json

Sends request i of FILE (lines "PATH<TAB>FORM-BODY", POSTed as
application/x-www-form-urlencoded) at t0 + i/RATE, for SECONDS, over a pool
of CONNS keep-alive connections (asyncio, raw sockets).  A request whose
time has come goes out on an idle connection; if none is idle it waits for
one, and the schedule waits with it.  Latency is measured from the
scheduled send time to the end of the response, so a server that falls
behind is charged for the requests queued behind the slow ones (no
coordinated omission).  The client's own lag (actual send - scheduled) is
reported apart.

Writes OUT.json: per request [scheduled_ms, send_lag_ms, latency_ms, status,
confirmation_code]; status 0 means no answer (connection error or the
deadline).  Bounded: the run stops SECONDS + 15 s after it started, whatever
is outstanding.
"""
import asyncio
import gc
import json
import re
import sys

CODE_RE = re.compile(rb'"confirmation_code":"([a-z2-7]+)"')


async def one(loop, idle, host, port, i, sched, req, res):
    conn = await idle.get()
    try:
        if conn is None:
            conn = await asyncio.open_connection(host, port)
        reader, writer = conn
        t_send = loop.time()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
        body = await reader.readexactly(int(m.group(1))) if m else b""
        t_done = loop.time()
        code = CODE_RE.search(body)
        res[i] = [0.0, (t_send - sched) * 1e3, (t_done - sched) * 1e3, status,
                  code.group(1).decode() if code else ""]
        if re.search(rb"\r\nconnection:\s*close", head, re.I):
            writer.close()
            conn = None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            IndexError) as e:
        res[i] = [0.0, 0.0, (loop.time() - sched) * 1e3, 0, "error: %s" % type(e).__name__]
        if conn is not None:
            conn[1].close()
        conn = None
    finally:
        idle.put_nowait(conn)


async def run(host, port, reqs, rate, conns_n):
    loop = asyncio.get_running_loop()
    idle = asyncio.Queue()
    conns = []
    for _ in range(conns_n):
        c = await asyncio.open_connection(host, port)
        conns.append(c)
        idle.put_nowait(c)
    res = [None] * len(reqs)
    tasks = []
    t0 = loop.time() + 0.1
    for i, req in enumerate(reqs):
        sched = t0 + i / rate
        delay = sched - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(loop, idle, host, port, i, sched, req, res)))
        # Let the task take its connection now, before the next one is scheduled.
        await asyncio.sleep(0)
    return t0, tasks, res


async def main_async(host, port, reqs, rate, seconds, conns_n):
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    deadline = seconds + 15.0
    try:
        t0, tasks, res = await asyncio.wait_for(run(host, port, reqs, rate, conns_n), deadline)
    except asyncio.TimeoutError:
        sys.exit("paced.py: the schedule did not finish in %.0f s" % deadline)
    left = max(1.0, deadline - (loop.time() - t_start))
    done, pending = await asyncio.wait(tasks, timeout=left)
    for t in pending:
        t.cancel()
    for i, r in enumerate(res):
        sched_ms = i / rate * 1e3
        if r is None:
            res[i] = [sched_ms, 0.0, float("nan"), 0, "error: deadline"]
        else:
            r[0] = sched_ms
    return res, len(pending)


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    host, port, path, rate, seconds, conns_n, out = sys.argv[1:]
    port, rate, seconds, conns_n = int(port), float(rate), float(seconds), int(conns_n)
    n = int(rate * seconds)
    reqs = []
    with open(path, "rb") as f:
        for line in f:
            if len(reqs) == n:
                break
            p, body = line.rstrip(b"\n").split(b"\t", 1)
            reqs.append(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        b"Content-Length: %d\r\n\r\n%s"
                        % (p, host.encode(), port, len(body), body))
    if len(reqs) < n:
        sys.exit("paced.py: %s has %d requests, %d needed" % (path, len(reqs), n))
    gc.disable()
    res, pending = asyncio.run(main_async(host, port, reqs, rate, seconds, conns_n))
    gc.enable()
    with open(out, "w") as f:
        json.dump({"rate": rate, "seconds": seconds, "conns": conns_n, "pending": pending,
                   "results": res}, f)


if __name__ == "__main__":
    main()
