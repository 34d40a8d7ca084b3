# SPDX-License-Identifier: MIT
"""scripts/examples.py - the worked examples of examples/<company>/ laid over the demo.

An example is a directory of examples/ holding lethe.yaml, datamap.yaml, README.md and,
optionally, schema.sql (SQL run on the demo's app.db after `lethe demo`: columns and
rows the page needs that the demo lacks) and templates/ (its mail and page wording,
server.templates).  install() makes a runnable copy in a directory of its own:

    install("social-coworker", Path("var/examples/social-coworker"), "build/lethe")

  1. once, when the directory has no app.db: `lethe demo --dir DIR --users N` into
     DIR.new, the example's schema.sql applied to DIR.new/app.db in one transaction
     (sqlite3), then DIR.new renamed to DIR (a failure leaves no half-made DIR);
  2. then lethe.yaml, datamap.yaml and templates/ copied over the demo's, and again
     at each later run whose example file is newer than the copy (an edited copy in
     DIR is kept until the example itself changes); the Maildir the example's
     mailbox reads (DIR/inbox/{tmp,new,cur}) made.  An example whose lethe.yaml
     names a store off this machine (S3, Cloudinary) ships run.yaml: its top-level
     sections replace lethe.yaml's in the copy (media_stores on the demo's media/),
     so nothing a run does reaches the internet.

`make run EXAMPLE=<company>` (scripts/run-demo --example) and the example tests
(tests/e2e/example_helpers.py) both use it, so what the tests run is what an operator
runs.  Nothing here touches the network.
"""
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
COPIED = ("lethe.yaml", "datamap.yaml")
OVERRIDES = "run.yaml"


class ExampleError(Exception):
    pass


def names():
    """The examples there are: the directories of examples/ with a lethe.yaml, sorted."""
    if not EXAMPLES.is_dir():
        return []
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "lethe.yaml").is_file())


def example_dir(name):
    """examples/@name; ExampleError naming the known examples when there is no such one."""
    known = names()
    if name not in known:
        raise ExampleError("no example %r; the examples are: %s" % (name, ", ".join(known)))
    return EXAMPLES / name


def apply_schema(db, sql_file):
    """Run @sql_file on the SQLite database @db in one transaction."""
    sql = Path(sql_file).read_text()
    con = sqlite3.connect(str(db), isolation_level=None)
    try:
        con.execute("BEGIN")
        try:
            # executescript() would COMMIT first; run statement by statement instead.
            for stmt in _statements(sql):
                con.execute(stmt)
            con.execute("COMMIT")
        except sqlite3.Error as e:
            con.execute("ROLLBACK")
            raise ExampleError("%s: %s" % (sql_file, e)) from None
    finally:
        con.close()


def _statements(sql):
    buf = ""
    for line in sql.splitlines(keepends=True):
        if not buf and (line.strip() == "" or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if buf.strip():
        raise ExampleError("an SQL statement without its final ';': %s" % buf.strip()[:60])


def _newer(src, dst):
    return not dst.exists() or src.stat().st_mtime > dst.stat().st_mtime


def _copy_tree(src, dst, force):
    for f in sorted(src.rglob("*")):
        if f.is_file():
            to = dst / f.relative_to(src)
            to.parent.mkdir(parents=True, exist_ok=True)
            if force or _newer(f, to):
                shutil.copy2(f, to)


def _sections(text):
    """[(name or None, text)] of @text's top-level YAML sections, comments above a
    section kept with the one before it."""
    out = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if m or not out:
            out.append([m.group(1) if m else None, ""])
        out[-1][1] += line
    return out


def override(config, run_yaml):
    """Replace the top-level sections of @config (a lethe.yaml) that @run_yaml holds with
    run.yaml's (those lethe.yaml lacks are added at its end)."""
    ours = _sections(Path(run_yaml).read_text())
    repl = {n: s for n, s in ours if n is not None}
    text = Path(config).read_text()
    out, done = [], set()
    for n, s in _sections(text):
        if n in repl:
            out.append("# (from %s, for make run)\n" % Path(run_yaml).name + repl[n])
            done.add(n)
        else:
            out.append(s)
    for n, s in ours:
        if n is not None and n not in done:
            out.append(s)
    Path(config).write_text("".join(out))


def install(name, directory, lethe, users=50, say=print):
    """Make (or bring up to date) the runnable copy of example @name in @directory, with
    the demo built by @lethe; returns its lethe.yaml."""
    src = example_dir(name)
    directory = Path(directory)
    fresh = not (directory / "app.db").exists()
    if fresh:
        if directory.exists() and any(directory.iterdir()):
            raise ExampleError("%s exists without app.db: remove it to start over" % directory)
        tmp = directory.with_name(directory.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        say("== building the demo for example %s in %s" % (name, directory))
        r = subprocess.run([str(lethe), "demo", "--dir", str(tmp), "--users", str(users),
                            "--quiet"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ExampleError("lethe demo failed: %s" % r.stderr.strip())
        if (src / "schema.sql").is_file():
            say("== applying %s" % (src / "schema.sql").relative_to(ROOT))
            try:
                apply_schema(tmp / "app.db", src / "schema.sql")
            except ExampleError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        if directory.exists():
            directory.rmdir()
        tmp.rename(directory)
    run_yaml = src / OVERRIDES
    for f in COPIED:
        if fresh or _newer(src / f, directory / f) or \
                (f == "lethe.yaml" and run_yaml.is_file() and _newer(run_yaml, directory / f)):
            shutil.copy2(src / f, directory / f)
            if f == "lethe.yaml" and run_yaml.is_file():
                override(directory / f, run_yaml)
    if (src / "templates").is_dir():
        _copy_tree(src / "templates", directory / "templates", fresh)
    for sub in ("tmp", "new", "cur"):
        (directory / "inbox" / sub).mkdir(parents=True, exist_ok=True)
    return directory / "lethe.yaml"
