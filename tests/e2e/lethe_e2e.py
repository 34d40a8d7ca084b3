# SPDX-License-Identifier: MIT
"""Helpers shared by lethe's black-box end-to-end tests (fixtures: conftest.py).

The binary is LETHE_BIN, or build/lethe relative to the repository root (found
from this file's location).  LETHE_SANITIZED=1 (an ASan+UBSan build) makes
timeouts longer and lets the tests scale their data down.
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANITIZED = os.environ.get("LETHE_SANITIZED", "") not in ("", "0")
# A sanitized binary is several times slower; every timeout is scaled by this.
SLOW = 6 if SANITIZED else 1
DEFAULT_TIMEOUT = 60

DEFAULT_DEMO_OPTIONS = ["--users", "12", "--seed", "7"]

# Things a sanitizer prints when it finds a problem.
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")

HASH_RE = re.compile(r"^anon:[0-9a-f]{32}$")
TEN_YEARS = 10 * 365 * 86400

# The demo data map's parent links (child -> parents), for ordering checks.
DEMO_PARENTS = {
    "projects": ["users"],
    "channels": ["projects"],
    "posts": ["projects"],
    "media": ["projects"],
    "messages": ["channels"],
    "comments": ["channels"],
    "analytics": ["channels"],
    "automation_rules": ["channels"],
    "webhook_subscriptions": ["channels"],
    "publishing_logs": ["channels"],
    "preview_links": ["projects"],
    "request_logs": ["users"],
    "contacts": ["projects"],
    "campaigns": ["projects"],
    "invoices": ["users"],
    "users": [],
}
CHANNEL_CHILDREN = ["messages", "comments", "analytics", "automation_rules",
                    "webhook_subscriptions", "publishing_logs"]
PROJECT_CHILDREN = ["channels", "posts", "media", "preview_links", "contacts", "campaigns"]


def lethe_path():
    """The lethe binary under test (absolute)."""
    p = os.environ.get("LETHE_BIN") or str(ROOT / "build" / "lethe")
    return str(Path(p).resolve())


def lethe_env(extra=None):
    """The environment lethe runs with: no anonymize key from the caller's shell."""
    env = dict(os.environ)
    env.pop("LETHE_ANONYMIZE_KEY", None)
    if extra:
        env.update(extra)
    return env


def check_sanitizer(stderr):
    for mark in SANITIZER_MARKS:
        if mark in stderr:
            pytest.fail("sanitizer report from lethe:\n" + stderr)


def run_lethe(*args, timeout=DEFAULT_TIMEOUT, env=None, cwd=None):
    """Run lethe with @args; returns (exit code, stdout, stderr)."""
    cmd = [lethe_path()] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout * SLOW,
                           env=lethe_env(env), cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail("lethe timed out after %ss: %s" % (timeout * SLOW, " ".join(cmd)))
        raise e
    check_sanitizer(p.stderr)
    return p.returncode, p.stdout, p.stderr


def popen_lethe(*args, env=None):
    """Start lethe in the background (stdout/stderr piped)."""
    cmd = [lethe_path()] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=lethe_env(env))


def snapshot(db_path):
    """Every row of every table: {table: {id: row_tuple}} (id = the 'id' column).
    lethe's own restore marker (lethe_restore_marker) is not the app's data: left out."""
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        out = {}
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'lethe_restore_marker' "
            "ORDER BY name")]
        for t in tables:
            cols = [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (t,))]
            key = cols.index("id") if "id" in cols else None
            rows = {}
            if key is None:
                for r in con.execute('SELECT rowid, * FROM "%s"' % t):
                    rows[r[0]] = tuple(r[1:])
            else:
                for r in con.execute('SELECT * FROM "%s"' % t):
                    rows[r[key]] = tuple(r)
            out[t] = rows
        return out
    finally:
        con.close()


def sorted_rows(db_path):
    """Every table's rows, sorted: {table: [row, ...]} (for comparing two databases)."""
    return {t: sorted(rows.values(), key=repr) for t, rows in snapshot(db_path).items()}


def columns(db_path, table):
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        return [r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (table,))]
    finally:
        con.close()


def query(db_path, sql, params=()):
    con = sqlite3.connect(str(db_path), timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def media_files(media_dir):
    """Relative paths of every file under @media_dir."""
    media_dir = Path(media_dir)
    return {str(p.relative_to(media_dir)) for p in media_dir.rglob("*") if p.is_file()}


class Demo:
    """One demo directory written by `lethe demo`."""

    def __init__(self, path):
        self.dir = Path(path)
        self.config = self.dir / "lethe.yaml"
        self.db = self.dir / "app.db"
        self.media = self.dir / "media"
        self.datamap = self.dir / "datamap.yaml"
        self.state_db = self.dir / "var" / "state.db"
        self.key_file = self.dir / "var" / "anonymize.key"

    def lethe(self, command, *args, **kw):
        """Run `lethe COMMAND -c DIR/lethe.yaml ARGS...`."""
        return run_lethe(command, "-c", self.config, *args, **kw)

    def plan(self, scope, *ids):
        """`lethe plan --json`: the parsed plan (fails the test on an error)."""
        code, out, err = self.lethe("plan", "--scope", scope, *id_args(ids), "--json")
        assert code == 0, "plan failed (%d): %s" % (code, err)
        return json.loads(out)

    def erase(self, scope, *ids, batch=None, extra=()):
        """`lethe erase --json`: the parsed summary (fails the test on an error)."""
        args = ["--scope", scope, *id_args(ids), "--json", "--no-progress", *extra]
        if batch is not None:
            args += ["--batch", batch]
        code, out, err = self.lethe("erase", *args)
        assert code == 0, "erase failed (%d): %s\n%s" % (code, err, out)
        return json.loads(out)

    def erase_cmd(self, scope, *ids, batch=None):
        """The argument list of an erase (for popen_lethe)."""
        args = ["erase", "-c", str(self.config), "--scope", scope, *id_args(ids), "--json",
                "--no-progress"]
        if batch is not None:
            args += ["--batch", str(batch)]
        return args

    def snapshot(self):
        return snapshot(self.db)

    def media_files(self):
        return media_files(self.media)

    def key(self):
        return bytes.fromhex(self.key_file.read_text().strip())

    def config_without(self, section):
        """lethe.yaml's text without its top-level @section (e.g. "platforms", before a
        test appends its own: a key may appear only once)."""
        return without_section(self.config.read_text(), section)

    def state(self, sql, params=()):
        """Query the state store (empty list if it does not exist yet)."""
        if not self.state_db.exists():
            return []
        return query(self.state_db, sql, params)


def without_section(text, name):
    """YAML @text without its top-level section @name (its key line and everything
    indented under it, comments included); @text unchanged if there is none."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(name + ":"):
            skipping = True
            continue
        if skipping and (line[:1] in (" ", "\t", "#", "\n") or line == ""):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def id_args(ids):
    """[("email", "a@b"), ...] or ["email=a@b", ...] -> ["--id", "email=a@b", ...]."""
    out = []
    for i in ids:
        if isinstance(i, (tuple, list)):
            i = "%s=%s" % (i[0], i[1])
        out += ["--id", i]
    return out


def rows_by_table(summary):
    """{table: rows} of a plan or erase summary."""
    return {s["table"]: s["rows"] for s in summary["steps"]}


def copy_demo(src, dst):
    shutil.copytree(str(src), str(dst), symlinks=True)
    return Demo(dst)


def make_demo(path, options):
    code, out, err = run_lethe("demo", "--dir", path, "--quiet", *options, timeout=120)
    assert code == 0, "lethe demo failed (%d): %s" % (code, err)
    return Demo(path)
