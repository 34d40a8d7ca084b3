# SPDX-License-Identifier: MIT
"""Files lethe reads and writes: a configuration over the size cap and a second
YAML document are refused (exit 3); the state files it creates are 0600; a
secret or key file every user can read gets a warning at start;
`import-meta-ids` on a directory is an error (exit 2)."""
import os
import stat

from serve_helpers import (  # noqa: F401  (servers is a fixture)
    IG_SECRET,
    ig_id,
    servers,
    set_config,
    sign_py,
    stop_ok,
)


def error_message(stderr):
    """The text after 'lethe: error: ' on stderr."""
    for line in stderr.splitlines():
        if line.startswith("lethe: error: "):
            return line[len("lethe: error: "):]
    raise AssertionError("no 'lethe: error:' line on stderr: %r" % stderr)


def plan(demo):
    return demo.lethe("plan", "--scope", "account", "--id", "email=user1@example.com")


def test_config_over_the_size_cap_exit_3(demo):
    with open(demo.config, "a") as f:
        f.write(("# " + "x" * 1000 + "\n") * 4300)  # over 4 MiB
    code, out, err = plan(demo)
    assert code == 3, (code, err)
    assert "larger than 4194304 bytes" in error_message(err)
    assert out == ""


def test_config_second_yaml_document_exit_3(demo):
    with open(demo.config, "a") as f:
        f.write("---\nserver:\n  listen: 127.0.0.1:9\n")
    code, out, err = plan(demo)
    assert code == 3, (code, err)
    msg = error_message(err)
    assert "second YAML document" in msg and "lethe.yaml" in msg, msg


def test_datamap_second_yaml_document_exit_3(demo):
    with open(demo.datamap, "a") as f:
        f.write("---\nversion: 1\n")
    code, out, err = plan(demo)
    assert code == 3, (code, err)
    msg = error_message(err)
    assert "second YAML document" in msg and "datamap.yaml" in msg, msg


def test_serve_creates_state_files_0600(demo, servers):
    fresh = demo.dir / "fresh"
    fresh.mkdir()
    set_config(demo, r"^(\s*)database: var/state.db.*$", r"\1database: fresh/state.db")
    set_config(demo, r"^(\s*)key_file: var/anonymize.key.*$", r"\1key_file: fresh/anonymize.key")
    set_config(demo, r"^(\s*)key_file: var/outbox.key.*$", r"\1key_file: fresh/outbox.key")
    old = os.umask(0o022)
    try:
        srv = servers(demo)
    finally:
        os.umask(old)
    srv.deletion("instagram", sign_py(IG_SECRET, ig_id(1)))
    names = ["state.db", "state.db-wal", "state.db-shm", "state.db-intake0",
             "state.db-intake1", "anonymize.key", "outbox.key"]
    modes = {}
    for n in names:
        p = fresh / n
        if p.exists():
            modes[n] = stat.S_IMODE(os.stat(p).st_mode)
    stop_ok(srv)
    assert {"state.db", "state.db-wal", "state.db-intake0", "anonymize.key"} <= set(modes), modes
    assert all(m == 0o600 for m in modes.values()), {n: oct(m) for n, m in modes.items()}


def test_serve_warns_about_world_readable_secret_and_key_files(demo, servers):
    secret = demo.dir / "instagram.secret"
    secret.write_text(IG_SECRET + "\n")
    os.chmod(secret, 0o644)
    set_config(demo, r"^(\s*)secret_env: LETHE_INSTAGRAM_APP_SECRET.*$",
               r"\1secret_file: instagram.secret")
    key = demo.dir / "var" / "anonymize.key"
    os.chmod(key, 0o644)
    srv = servers(demo)
    stop_ok(srv)
    log = srv.stderr()
    assert "secret file %s can be read by every user" % secret in log, log
    assert "anonymize key file %s can be read by every user" % key in log, log
    assert IG_SECRET not in log
    # Private again: no warning.
    os.chmod(secret, 0o600)
    os.chmod(key, 0o600)
    srv = servers(demo)
    stop_ok(srv)
    assert "can be read by every user" not in srv.stderr()


def test_import_meta_ids_on_a_directory_exit_2(demo, tmp_path):
    d = tmp_path / "ids"
    d.mkdir()
    code, out, err = demo.lethe("import-meta-ids", "--app", "facebook", str(d))
    assert code == 2, (code, out, err)
    assert "is a directory" in error_message(err)
