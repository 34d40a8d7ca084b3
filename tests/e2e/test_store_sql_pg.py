# SPDX-License-Identifier: MIT
"""The state store's SQL runs on PostgreSQL as written (docs/internals/store.md,
"One text for both engines").

Every file of src/store/ that runs statements is put through the C
preprocessor with the command meson compiles it with (the build directory's
compile_commands.json), so that each statement is the text the code passes,
its macros expanded; of an SQ2(c, sqlite, postgresql) the PostgreSQL text is
taken, the SQLite one left to the SQLite tests.  Each statement is PREPAREd,
with its parameters' types from the type string that follows it ('i'
bigint, 't' text, 'b' bytea, as the PostgreSQL backend binds them), in a
state store that lethe created in the session's PostgreSQL: PostgreSQL
checks its syntax, functions, names, types and GROUP BY without running it.
INSERT OR IGNORE is rewritten as the backend rewrites it.
"""
import json
import re
import shlex
import subprocess
from pathlib import Path

from lethe_e2e import lethe_path
from pg_server import PgError

ROOT = Path(__file__).resolve().parents[2]
# The backends and the migrations are each engine's own.
NOT_SHARED = {"sq_sqlite.c", "sq_pg.c", "schema.c", "schema_pg.c"}
LIT = r'"(?:[^"\\]|\\.)*"'
PG_TYPES = {"i": "bigint", "t": "text", "b": "bytea"}


def use_pg_state(demo, url):
    """Point the demo's lethe.yaml at the PostgreSQL state store @url."""
    text = demo.config.read_text()
    text = re.sub(r"(?m)^state:\n(  .*\n)*", "", text)
    demo.config.write_text(text + "state:\n  database: %s\n" % url)


def unquote(lit):
    return bytes(lit[1:-1], "utf-8").decode("unicode_escape")


def preprocessed(path):
    """@path after the C preprocessor, as meson compiles it."""
    build = Path(lethe_path()).parent
    commands = json.loads((build / "compile_commands.json").read_text())
    for c in commands:
        if Path(build, c["file"]).resolve() == path.resolve():
            args = shlex.split(c["command"])
            break
    else:
        raise AssertionError("%s is not in compile_commands.json" % path)
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in ("-o", "-MF", "-MQ"):
            skip = True
        elif a not in ("-c", "-MD") and not a.endswith(".c"):
            out.append(a)
    p = subprocess.run(out + ["-E", "-P", str(path.resolve())], cwd=build, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def statements():
    """(file, SQL text, parameter types or None) of every statement of src/store/."""
    found = []
    for path in sorted((ROOT / "src" / "store").glob("*.c")):
        if path.name in NOT_SHARED:
            continue
        s = preprocessed(path)
        for m in re.finditer(r"%s(?:\s*%s)*" % (LIT, LIT), s):
            text = "".join(unquote(t) for t in re.findall(LIT, m.group(0)))
            if not re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", text):
                continue
            before = s[max(0, m.start() - 40):m.start()]
            if re.search(r"\)\s*:\s*\(\s*$", before):
                continue  # the SQLite text of an SQ2()
            after = s[m.end():m.end() + 10000]
            if re.search(r"SQ_PG\s*\?\s*\(\s*$", before):
                lite = re.match(r"\s*\)\s*:\s*\(\s*(?:%s\s*)+\)\s*\)" % LIT, after)
                assert lite, "an SQ2 in %s: %s" % (path.name, text[:80])
                after = after[lite.end():]
            types = re.match(r'\s*,\s*"([itb]*)"', after)
            found.append((path.name, text, types.group(1) if types else None))
    return found


def test_store_statements_prepare_on_pg(demo, pg, pg_db):
    use_pg_state(demo, pg_db)
    code, _, err = demo.lethe("jobs", "--json")  # creates the store's schema
    assert code == 0, err
    db = pg_db.split("/")[3].split("?")[0]
    found = statements()
    # Every family's statements, not a handful: the extraction found them.
    assert len(found) > 120, len(found)
    assert {f for f, _, _ in found} >= {"audit.c", "jobs.c", "mail.c", "meta.c", "outbox.c",
                                        "requests.c", "exports.c", "holds.c", "rate.c"}
    script = ["SET search_path = lethe;"]
    for i, (_, text, types) in enumerate(found):
        sql = re.sub(r"\?(\d+)", r"$\1", text)
        sql = re.sub(r"^(\s*)INSERT OR IGNORE INTO (.*)$", r"\1INSERT INTO \2 ON CONFLICT DO NOTHING",
                     sql, flags=re.S)
        decl = "(%s)" % ", ".join(PG_TYPES[t] for t in types) if types else ""
        script.append("PREPARE s%d%s AS %s;" % (i, decl, sql))
    failed = []
    # One psql for all; on a failure, the statement alone tells which and why.
    try:
        pg.psql(db, "\n".join(script))
    except PgError:
        for i, (f, text, types) in enumerate(found):
            try:
                pg.psql(db, script[0] + "\n" + script[i + 1])
            except PgError as e:
                failed.append("%s [%s] %s\n  -> %s" % (f, types, text[:160], str(e)[-300:]))
    assert failed == [], "\n".join(failed)
