"""`lethe export`: the operator's archive of one person, written plain to a
file (atomically, mode 0600) or stdout; the same checks on scope and
identities as `lethe erase`; no token or secret of the demo in the bytes."""
import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import zipfile

from lethe_e2e import lethe_env, lethe_path


def export(demo, *args, cwd=None):
    return demo.lethe("export", *args, cwd=cwd)


def out_dir(tmp_path):
    """An empty directory for archives (the demo is in tmp_path/demo)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def secret_values(db):
    """Every token and password hash of the whole demo (non-empty)."""
    con = sqlite3.connect(str(db))
    out = []
    for sql in ("SELECT access_token FROM channels", "SELECT refresh_token FROM channels",
                "SELECT password_hash FROM users", "SELECT token_hash FROM preview_links",
                "SELECT password_hash FROM preview_links"):
        out += [r[0] for r in con.execute(sql) if r[0]]
    con.close()
    assert len(out) > 10
    return out


def test_export_writes_a_zip_atomically_with_mode_0600(demo, tmp_path):
    tmp_path = out_dir(tmp_path)
    out = tmp_path / "u3.zip"
    code, stdout, err = export(demo, "--scope", "account", "--id", "email=user3@example.com",
                               "--out", out, "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["file"] == str(out)
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["u3.zip"]  # no .part left
    data = out.read_bytes()
    assert summary["bytes"] == len(data)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    z = zipfile.ZipFile(io.BytesIO(data))
    names = z.namelist()
    assert names[0] == "tables/users.json" and names[-2:] == ["index.html", "manifest.json"]
    man = json.loads(z.read("manifest.json"))
    assert man["rows"] == summary["rows"] > 0 and man["code"] is None
    plan = demo.plan("account", "email=user3@example.com")
    assert summary["rows"] == sum(s["rows"] for s in plan["steps"])
    users = json.loads(z.read("tables/users.json"))
    assert users[0]["email"] == "user3@example.com" and "password_hash" not in users[0]
    for s in secret_values(demo.db):
        assert s.encode() not in data
        for n in names:
            assert s.encode() not in z.read(n), n


def test_export_default_name_stdout_and_nobody(demo, tmp_path):
    tmp_path = out_dir(tmp_path)
    code, stdout, err = export(demo, "--scope", "account", "--id", "user_id=2", cwd=tmp_path)
    assert code == 0, err
    files = os.listdir(tmp_path)
    assert len(files) == 1 and re.fullmatch(r"lethe-export-\d{8}-\d{6}\.zip", files[0]), files
    assert "Export written to %s" % files[0] in stdout
    assert re.search(r"rows +\d+", stdout)
    # --out -: the zip on stdout, the summary on stderr.
    p = subprocess.run([lethe_path(), "export", "-c", str(demo.config), "--scope", "account",
                        "--id", "user_id=2", "--out", "-"], capture_output=True,
                       env=lethe_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    z = zipfile.ZipFile(io.BytesIO(p.stdout))
    assert z.testzip() is None and "manifest.json" in z.namelist()
    assert b"Export written to stdout" in p.stderr
    # Nobody: an archive without rows, exit 0, and a message saying so.
    out = tmp_path / "nobody.zip"
    code, stdout, err = export(demo, "--scope", "account", "--id",
                               "email=nobody@example.com", "--out", out)
    assert code == 0, err
    assert "No data of this person was found" in stdout
    assert json.loads(zipfile.ZipFile(out).read("manifest.json"))["rows"] == 0


def test_export_refuses_what_erase_refuses_and_writes_nothing(demo, tmp_path):
    tmp_path = out_dir(tmp_path)
    out = tmp_path / "x.zip"
    # Identities of two different people: a usage error naming kinds, never values.
    code, stdout, err = export(demo, "--scope", "account", "--id", "email=user3@example.com",
                               "--id", "user_id=4", "--out", out, "--json")
    assert code == 2
    assert json.loads(stdout)["error"]["code"] == "usage"
    assert "user3@example.com" not in stdout + err
    # An unknown scope, an identity kind the scope does not take, no --id.
    assert export(demo, "--scope", "nope", "--id", "user_id=3", "--out", out)[0] == 2
    assert export(demo, "--scope", "channel", "--id", "user_id=3", "--out", out)[0] == 2
    assert export(demo, "--scope", "account", "--out", out)[0] == 2
    assert export(demo, "--scope", "account", "--id", "user_id=3", "--out", "")[0] == 2
    assert not out.exists() and os.listdir(tmp_path) == []
    # A directory that does not exist: exit 1, nothing left behind.
    code, stdout, err = export(demo, "--scope", "account", "--id", "user_id=3", "--out",
                               tmp_path / "missing" / "x.zip")
    assert code == 1 and "cannot create" in err, err
    assert os.listdir(tmp_path) == []


def test_export_scope_defaults_to_account(demo, tmp_path):
    """Without --scope the archive is the account scope's: the same entries as with it."""
    tmp_path = out_dir(tmp_path)
    a, b = str(tmp_path / "a.zip"), str(tmp_path / "b.zip")
    code, stdout, err = export(demo, "--id", "user_id=3", "--out", a, "--json")
    assert code == 0, err
    assert json.loads(stdout)["scope"] == "account"
    assert export(demo, "--scope", "account", "--id", "user_id=3", "--out", b)[0] == 0
    za, zb = zipfile.ZipFile(a), zipfile.ZipFile(b)
    names = [n for n in za.namelist() if n != "manifest.json" and n != "index.html"]
    assert names == [n for n in zb.namelist() if n != "manifest.json" and n != "index.html"]
    for n in names:
        assert za.read(n) == zb.read(n), n
    m = json.loads(za.read("manifest.json"))
    assert m["scope"] == "account" and m["rows"] > 0
