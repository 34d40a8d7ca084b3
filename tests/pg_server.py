# SPDX-License-Identifier: MIT
"""A throwaway PostgreSQL 15 server for lethe's tests and benchmarks.

Debian's PostgreSQL 15 (`scripts/deps test` or `scripts/deps bench` installs
it) is started for one session: initdb into a fresh directory of its own,
trust authentication, the Unix socket in that directory and no TCP unless
asked (tcp=True: 127.0.0.1 on a free port), max_connections 200.  It is
stopped (pg_ctl stop -m immediate, then SIGKILL if it lingers) and its
directory removed by stop(), which also runs at interpreter exit (atexit); a
watchdog process does the same if this process dies without either (SIGKILL,
an unhandled SIGTERM), so nothing is left running.  Every wait is bounded.

The server never runs as root: when this process is root, initdb, pg_ctl and
the postmaster run as nobody:nogroup (PostgreSQL refuses root); otherwise as
the current user.  The directory is created under @tmpdir when every parent of
it is searchable by that user (and the socket's path fits in sun_path), else
under the system's temp directory (/tmp): pytest's own basetemp is 0700 root.

fast=True turns off fsync, full_page_writes and synchronous_commit: for tests
only (a crash of the machine may lose or corrupt the cluster, which a test's
throwaway cluster does not mind).  The default (fast=False) keeps the server's
own defaults, which is what benchmarks must measure.

    from pg_server import PgServer
    srv = PgServer(tmpdir).start()
    srv.create_db("app")
    srv.psql("app", "CREATE TABLE t(id int); INSERT INTO t VALUES (1)")
    srv.psql("app", "SELECT count(*) FROM t")   # -> "1\\n"
    url = srv.url("app")   # postgresql://postgres@/app?host=/tmp/lethe-pg-...
    srv.stop()

psql runs as `psql -X -A -t -q -v ON_ERROR_STOP=1` with the SQL on stdin; a
failure raises PgError with psql's message.  No Python driver is needed.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BINDIR = os.environ.get("LETHE_PG_BINDIR", "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
START_TIMEOUT = 60      # seconds pg_ctl waits for the server to accept connections
STOP_TIMEOUT = 20
PSQL_TIMEOUT = 120
SOCKET_PORT = 5432      # names the socket file only (.s.PGSQL.5432) when there is no TCP
SUN_PATH_MAX = 100      # sun_path is 108 bytes; the socket file's name takes 13 of them
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$")

# The watchdog: waits (in a session of its own, so the terminal's Ctrl-C does not
# reach it) until its parent is gone, then stops the server and removes its directory.
_WATCHDOG = r"""
import os, shutil, subprocess, sys, time
parent, pg_ctl, datadir, top, as_nobody = sys.argv[1:6]
while os.getppid() == int(parent):
    time.sleep(0.5)
if os.path.exists(os.path.join(datadir, "postmaster.pid")):
    kw = dict(user="nobody", group="nogroup", extra_groups=[]) if as_nobody == "1" else {}
    try:
        subprocess.run([pg_ctl, "-D", datadir, "-m", "immediate", "-w", "-t", "20", "stop"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd="/", timeout=40, **kw)
    except Exception:
        pass
shutil.rmtree(top, ignore_errors=True)
"""


class PgError(RuntimeError):
    """psql or a server command failed (message: what ran and what it said)."""


class PgMissing(PgError):
    """PostgreSQL 15's binaries are not installed."""


def pg_missing_message():
    """Why the server cannot start when the binaries are missing, and the fix."""
    return ("PostgreSQL 15 is not installed (no %s/initdb, pg_ctl or postgres, or no psql "
            "on PATH): install the test tools with `scripts/deps test` (or `make deps`)"
            % PG_BINDIR)


def pg_available():
    """True when initdb, pg_ctl, postgres and psql are all there."""
    return (all(os.access(os.path.join(PG_BINDIR, b), os.X_OK)
                for b in ("initdb", "pg_ctl", "postgres"))
            and shutil.which("psql") is not None)


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def _searchable_by_others(path):
    """True when every directory from / down to @path has o+x (nobody can reach it)."""
    p = os.path.abspath(path)
    while True:
        try:
            if not os.stat(p).st_mode & 0o001:
                return False
        except OSError:
            return False
        parent = os.path.dirname(p)
        if parent == p:
            return True
        p = parent


class PgServer:
    """One PostgreSQL cluster in a directory of its own (see the module's docstring)."""

    def __init__(self, tmpdir=None, fast=False, tcp=False, max_connections=200,
                 settings=None, path=None, keep=False):
        """@tmpdir: where the cluster's directory goes (default: the system temp dir);
        @fast: fsync/full_page_writes/synchronous_commit off (tests only);
        @tcp: also listen on 127.0.0.1 on a free port; @settings: extra
        postgresql.conf lines {name: value} (value written as given);
        @path: this exact directory instead (created; must not exist yet);
        @keep: not stopped at exit (scripts/pg-dev: stop() it, or attach() later)."""
        self.tmpdir = tmpdir
        self.path = path
        self.keep = keep
        self.fast = fast
        self.tcp = tcp
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.dir = None        # the cluster's directory: the socket, data/, log
        self.datadir = None
        self.logfile = None
        self.port = SOCKET_PORT
        self.host = None       # the socket directory, or 127.0.0.1 with tcp
        self._as_nobody = os.geteuid() == 0
        self._started = False
        self._watchdog = None

    # -- running the server's programs ------------------------------------------------

    def _server_env(self):
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        if not self._as_nobody:
            env["HOME"] = os.environ.get("HOME", "/")
        return env

    def _run_server_cmd(self, args, timeout):
        kw = {}
        if self._as_nobody:
            kw = dict(user="nobody", group="nogroup", extra_groups=[])
        try:
            r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=timeout,
                               cwd=self.dir, env=self._server_env(), **kw)
        except subprocess.TimeoutExpired as e:
            raise PgError("%s did not finish within %ds: %s"
                          % (os.path.basename(args[0]), timeout, e.output or "")) from None
        return r

    def _pick_dir(self):
        if self.path is not None:
            os.mkdir(self.path, 0o755)
            return os.path.abspath(self.path)
        base = self.tmpdir or tempfile.gettempdir()
        base = os.path.abspath(str(base))
        probe = os.path.join(base, "lethe-pg-XXXXXXXX", ".s.PGSQL.%d" % SOCKET_PORT)
        if (self._as_nobody and not _searchable_by_others(base)) or \
                len(probe) > SUN_PATH_MAX:
            base = "/tmp"
        return tempfile.mkdtemp(prefix="lethe-pg-", dir=base)

    # -- life cycle ---------------------------------------------------------------------

    def start(self):
        """initdb and start the server; returns self.  Raises PgMissing when PostgreSQL
        is not installed, PgError (with the server's log) when it does not start."""
        if self._started:
            return self
        if not pg_available():
            raise PgMissing(pg_missing_message())
        self.dir = self._pick_dir()
        self.datadir = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "log")
        if not self.keep:
            atexit.register(self.stop)
            self._watchdog = subprocess.Popen(
                ["/usr/bin/python3", "-c", _WATCHDOG, str(os.getpid()),
                 os.path.join(PG_BINDIR, "pg_ctl"), self.datadir, self.dir,
                 "1" if self._as_nobody else "0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
        self._started = True
        try:
            os.chmod(self.dir, 0o755)
            if self._as_nobody:
                os.chown(self.dir, _uid("nobody"), _gid("nogroup"))
            r = self._run_server_cmd(
                [os.path.join(PG_BINDIR, "initdb"), "-D", self.datadir, "-U", SUPERUSER,
                 "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                timeout=START_TIMEOUT)
            if r.returncode != 0:
                raise PgError("initdb failed (%d): %s" % (r.returncode, r.stdout))
            self._write_conf()
            r = self._run_server_cmd(
                [os.path.join(PG_BINDIR, "pg_ctl"), "-D", self.datadir, "-l", self.logfile,
                 "-w", "-t", str(START_TIMEOUT), "start"], timeout=START_TIMEOUT + 10)
            if r.returncode != 0:
                raise PgError("pg_ctl start failed (%d): %s\n--- server log:\n%s"
                              % (r.returncode, r.stdout, self.log_text()))
        except BaseException:
            self.stop()
            raise
        return self

    def _write_conf(self):
        if self.tcp:
            self.port = _free_port()
            self.host = "127.0.0.1"
            listen = "127.0.0.1"
        else:
            self.host = self.dir
            listen = ""
        conf = {
            "listen_addresses": "'%s'" % listen,
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.dir,
            "max_connections": str(self.max_connections),
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
        }
        if self.fast:
            conf.update(fsync="off", full_page_writes="off", synchronous_commit="off")
        conf.update(self.settings)
        path = os.path.join(self.datadir, "postgresql.conf")
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n# tests/pg_server.py\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    def log_text(self):
        """The server's log so far ('' when there is none)."""
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def postmaster_pid(self):
        """The postmaster's pid from postmaster.pid, or None."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid"), encoding="ascii") as f:
                return int(f.readline().strip())
        except (OSError, ValueError, TypeError):
            return None

    def stop(self):
        """Stop the server (immediate mode; SIGKILL if it lingers) and remove its
        directory.  Idempotent; safe when start() failed half-way."""
        if not self._started:
            return
        self._started = False
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self._run_server_cmd(
                    [os.path.join(PG_BINDIR, "pg_ctl"), "-D", self.datadir, "-m",
                     "immediate", "-w", "-t", str(STOP_TIMEOUT), "stop"],
                    timeout=STOP_TIMEOUT + 10)
            except PgError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                for p in [pid] + _children(pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                deadline = time.monotonic() + 5
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    @classmethod
    def attach(cls, path):
        """The server a PgServer(path=@path, keep=True) started, maybe in another
        process (Unix socket only): url(), psql() and stop() work on it."""
        srv = cls(path=path)
        srv.dir = os.path.abspath(path)
        srv.datadir = os.path.join(srv.dir, "data")
        srv.logfile = os.path.join(srv.dir, "log")
        srv.host = srv.dir
        srv._started = os.path.isdir(srv.datadir)
        return srv

    # -- using it -----------------------------------------------------------------------

    def url(self, db="postgres"):
        """A libpq URL of @db as the superuser (no password: trust)."""
        if self.tcp:
            return "postgresql://%s@127.0.0.1:%d/%s" % (SUPERUSER, self.port, db)
        return "postgresql://%s@/%s?host=%s" % (SUPERUSER, db, self.dir)

    def psql(self, db, sql, timeout=PSQL_TIMEOUT):
        """Run @sql (one or more statements) in @db; returns psql's stdout (unaligned,
        tuples only: one row a line, columns separated by '|').  Raises PgError."""
        cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.host,
               "-p", str(self.port), "-U", SUPERUSER, "-d", db, "-f", "-"]
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        env.update(PGCONNECT_TIMEOUT="10", LC_ALL="C", PGTZ="UTC")
        try:
            r = subprocess.run(cmd, input=sql, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise PgError("psql on %s did not finish within %ds" % (db, timeout)) from None
        if r.returncode != 0:
            raise PgError("psql on %s failed (%d): %s" % (db, r.returncode, r.stderr.strip()))
        return r.stdout

    def create_db(self, name, template=None):
        """CREATE DATABASE @name (optionally from @template); returns its URL."""
        if not _NAME_RE.match(name) or (template and not _NAME_RE.match(template)):
            raise ValueError("bad database name %r" % name)
        sql = "CREATE DATABASE %s" % _quote_ident(name)
        if template:
            sql += " TEMPLATE %s" % _quote_ident(template)
        self.psql("postgres", sql)
        return self.url(name)

    def drop_db(self, name):
        """DROP DATABASE IF EXISTS @name, disconnecting whoever is still in it."""
        if not _NAME_RE.match(name):
            raise ValueError("bad database name %r" % name)
        self.psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % _quote_ident(name))


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def _gid(name):
    import grp
    return grp.getgrnam(name).gr_gid


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def _children(pid):
    """Pids whose parent is @pid (the postmaster's backends)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def processes_of(datadir):
    """Pids of live postgres processes whose command line names @datadir (the
    postmaster: for checks that a stopped server left nothing behind)."""
    out = []
    needle = os.fsencode(datadir)
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        argv0 = os.path.basename(cmdline.split(b"\0", 1)[0])
        if argv0 in (b"postgres", b"postmaster") and needle in cmdline and _alive(int(d)):
            out.append(int(d))
    return out
