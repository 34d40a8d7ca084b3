# SPDX-License-Identifier: MIT
"""API keys in the configuration, and the signals of `lethe serve`.

`lethe api-key` prints a key and then YAML only: an api: section that replaces the
demo's `keys: []` as printed, and (as a comment) the same entry in flow style.  SIGHUP
reloads api.keys from the file without stopping anything: callbacks in flight and the
background erasures go on; a file that does not load is refused with a log line and the
keys in force stay.  SIGUSR1 is logged and ignored (its default action used to kill the
server without a word).
"""
import re
import signal
import threading
import time

from lethe_e2e import query, run_lethe
from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    TSCALE,
    assert_code,
    assert_log_clean,
    ig_id,
    public_url,
    servers,
    sign_py,
    stop_ok,
)

DEMO_API = re.compile(r"^api:\n  keys: \[\].*\n", re.M)


def new_key(name="scheduler"):
    """(key, the YAML lines after it, the flow-style entry) from `lethe api-key`."""
    code, out, err = run_lethe("api-key", "--name", name)
    assert code == 0, err
    key, *rest = out.splitlines()
    assert re.fullmatch(r"lk_[0-9a-f]{64}", key), key
    flow = [m.group(1) for m in (re.search(r"(keys: \[\{.*\}\])$", x) for x in rest) if m]
    assert len(flow) == 1, rest
    return key, "\n".join(rest) + "\n", flow[0]


def a_channel(demo):
    # Not a Meta channel: the callbacks of these tests erase those.
    return query(demo.db, "SELECT id FROM channels WHERE platform = 'youtube' ORDER BY id "
                          "LIMIT 1")[0][0]


def get_channel(srv, cid, key):
    status, _, _ = srv.request("GET", "/v1/channels/%d" % cid,
                               headers={"Authorization": "Bearer " + key})
    return status


def wait_log(srv, needle, count=1, timeout=5):
    deadline = time.monotonic() + timeout * TSCALE
    while time.monotonic() < deadline:
        if srv.stderr().count(needle) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("no %r (x%d) in the log:\n%s" % (needle, count, srv.stderr()))


def test_api_key_output_pasted_over_the_demo_keys(demo, servers):
    text = demo.config.read_text()
    assert DEMO_API.search(text), "the demo's lethe.yaml has no 'api:' + 'keys: []'"
    key, block, flow = new_key()
    cid = a_channel(demo)

    # As printed: the api: section replaces the demo's.
    demo.config.write_text(DEMO_API.sub(lambda m: block, text))
    code, out, err = run_lethe("plan", "-c", demo.config, "--scope", "account", "--id",
                               "email=user1@example.com")
    assert code == 0, err
    srv = servers(demo)
    assert get_channel(srv, cid, key) == 200
    wrong = key[:-1] + ("1" if key.endswith("0") else "0")  # never the key itself
    assert get_channel(srv, cid, wrong) == 403
    assert key not in srv.stderr()
    stop_ok(srv)

    # The flow-style entry in place of "keys: []".
    demo.config.write_text(text.replace("keys: []", flow, 1))
    srv = servers(demo)
    assert get_channel(srv, cid, key) == 200
    stop_ok(srv)

    # Appended below the demo's own api: section: refused with a clear message, never
    # a configuration that silently admits nothing.
    demo.config.write_text(text + block)
    code, out, err = run_lethe("plan", "-c", demo.config, "--scope", "account", "--id",
                               "email=user1@example.com")
    assert code == 3, (code, err)
    assert "key 'api' appears twice" in err, err


def test_sighup_reloads_api_keys_without_dropping_work(demo, servers):
    srv = servers(demo)
    cid = a_channel(demo)
    key, block, _ = new_key()
    assert get_channel(srv, cid, key) == 403
    demo.config.write_text(DEMO_API.sub(lambda m: block, demo.config.read_text()))

    # Callbacks arrive (and their erasures run) while the server reloads four times.
    answers, errors, done = [], [], threading.Event()

    def callbacks():
        try:
            for i in range(1, 51):  # until the reloads are over, at least 20
                if i > 20 and done.is_set():
                    break
                answers.append(srv.deletion("instagram", sign_py(IG_SECRET, ig_id(i))))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    t = threading.Thread(target=callbacks)
    t.start()
    # (Signals sent together merge into one: each waits for the previous one's line.)
    for n in range(1, 5):
        srv.proc.send_signal(signal.SIGHUP)
        wait_log(srv, "SIGHUP: reloaded", count=n)
    done.set()
    t.join(timeout=60 * TSCALE)
    assert not t.is_alive() and not errors, errors
    assert srv.proc.poll() is None, "SIGHUP stopped the server:\n" + srv.stderr()
    assert "1 API key in force" in srv.stderr()
    assert get_channel(srv, cid, key) == 200
    codes = [assert_code(a, public_url(demo)) for a in answers]
    assert len(codes) >= 20 and len(set(codes)) == len(codes)
    for c in codes:
        srv.wait_completed(c, timeout=20)
    assert_log_clean(srv, key, *codes)
    stop_ok(srv)


def test_sighup_with_a_broken_config_keeps_the_keys_in_force(demo, servers):
    key, block, _ = new_key("first")
    good = DEMO_API.sub(lambda m: block, demo.config.read_text())
    demo.config.write_text(good)
    srv = servers(demo)
    cid = a_channel(demo)
    assert get_channel(srv, cid, key) == 200

    key2, block2, _ = new_key("second")
    item1 = [x for x in block.splitlines() if x.startswith("    - ")][0]
    item2 = [x for x in block2.splitlines() if x.startswith("    - ")][0]
    both = good.replace(item1, item1 + "\n" + item2)
    broken = [
        good + "  - [unclosed\n",                                        # YAML syntax
        good.replace(item1, item1 + "\n" + item2.replace("sha256: ", "sha256: zz")),
        both + "not_a_section: 1\n",                                     # unknown key
    ]
    for n, text in enumerate(broken, 1):
        demo.config.write_text(text)
        srv.proc.send_signal(signal.SIGHUP)
        wait_log(srv, "not reloaded, the API keys in force stay", count=n)
        assert srv.proc.poll() is None
        assert get_channel(srv, cid, key) == 200, text
        assert get_channel(srv, cid, key2) == 403, text
    log = srv.stderr()
    assert "lethe.yaml" in log and "sha256 must be 64 hex digits" in log, log
    assert "SIGHUP: reloaded" not in log

    # Fixed: the second key replaces the first, which stops working at once.
    demo.config.write_text(good.replace(item1, item2))
    srv.proc.send_signal(signal.SIGHUP)
    wait_log(srv, "SIGHUP: reloaded")
    assert get_channel(srv, cid, key2) == 200
    assert get_channel(srv, cid, key) == 403
    assert_log_clean(srv, key, key2)
    stop_ok(srv)


def test_sigusr1_does_not_stop_the_server(demo, servers):
    srv = servers(demo)
    for n in range(1, 4):
        srv.proc.send_signal(signal.SIGUSR1)
        wait_log(srv, "SIGUSR1 ignored", count=n)
    status, _, _ = srv.get("/healthz")
    assert status == 200 and srv.proc.poll() is None
    stop_ok(srv)
