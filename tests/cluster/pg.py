"""A private PostgreSQL 15 for the cluster tests, and tweedle nodes on it.

``PgServer`` runs Debian's initdb and postgres from /usr/lib/postgresql/15/bin
in a temporary directory (as the ``postgres`` user when the tests run as root:
PostgreSQL refuses to run as root), on a free TCP port of 127.0.0.1 with
trust authentication, its socket in the same directory, and creates a
database.  ``stop()`` (also registered with atexit) stops it with bounded
waits and removes the directory.

``Cluster`` starts N tweedle nodes (tests/integration/harness.Server) on N
ports with ``--store postgres://...`` and one shared ``--blobs`` directory.

Environment:
  PG_BIN     directory of initdb/postgres (default /usr/lib/postgresql/15/bin)
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def pg_missing():
    """Why PostgreSQL cannot run here, or None."""
    for tool in ("initdb", "postgres", "createdb", "pg_isready"):
        if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
            return "PostgreSQL 15 binaries not found in %s (apt-get install postgresql)" % PG_BIN
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgServer:
    def __init__(self, dbname="tweedle", conf=()):
        self.dbname = dbname
        self.conf = list(conf)  # extra "name=value" settings (bench/cluster.py)
        self.dir = tempfile.mkdtemp(prefix="tweedle-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = _free_port()
        self.proc = None
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        atexit.register(self.stop)

    @property
    def url(self):
        return "postgres://%s@127.0.0.1:%d/%s" % (self.user, self.port, self.dbname)

    def _as_user(self):
        """As root, PostgreSQL runs as the unprivileged postgres user (it refuses
        root); the process is then postgres itself, so signals reach it."""
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam("postgres")
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
                "env": dict(os.environ, HOME=self.dir, USER="postgres", LOGNAME="postgres")}

    def _run(self, argv, timeout=60):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout, cwd=self.dir,
                           **self._as_user())
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv[0], r.returncode,
                                                       r.stdout.decode(errors="replace")[-2000:]))
        return r.stdout.decode(errors="replace")

    def start(self):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", self.user,
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], timeout=120)
        self._start_postgres()
        self._run([os.path.join(PG_BIN, "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", self.user, self.dbname])
        return self

    def _start_postgres(self):
        logf = open(self.log, "ab")
        args = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + self.dir,
                "-c", "fsync=on", "-c", "max_connections=200", "-c", "shared_buffers=32MB"]
        for c in self.conf:
            args += ["-c", c]
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     start_new_session=True, **self._as_user())
        logf.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited (%s): %s" % (self.proc.returncode,
                                                                 self.log_tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                # accepting TCP is not accepting queries: pg_isready knows
                r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h", "127.0.0.1",
                                    "-p", str(self.port), "-U", self.user, "-t", "1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if r.returncode == 0:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not start within %.0fs: %s" % (START_TIMEOUT,
                                                                         self.log_tail()))

    def restart(self, down_seconds=0.0):
        """Fast shutdown, an optional pause, and start again on the same port."""
        self._stop_postgres()
        time.sleep(down_seconds)
        self._start_postgres()

    def _stop_postgres(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # SIGINT: fast shutdown (disconnects clients, no wait for them)
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        self.proc = None

    def stop(self):
        try:
            self._stop_postgres()
        finally:
            if self.dir and os.path.isdir(self.dir):
                if os.environ.get("TWEEDLE_KEEP_DATA"):
                    sys.stderr.write("[pg] kept %s\n" % self.dir)
                else:
                    shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except (OSError, TypeError):
            return "(no postgres log)"


class Cluster:
    """N tweedle nodes on one PostgreSQL and one blob directory."""

    def __init__(self, pg, n=3, env=None):
        self.pg = pg
        self.blobs = tempfile.mkdtemp(prefix="tweedle-blobs-")
        self.nodes = [harness.Server(extra_args=["--store", pg.url, "--blobs", self.blobs],
                                     env=env) for _ in range(n)]

    def start(self):
        for s in self.nodes:
            s.start(timeout=30)
        return self

    def stop(self):
        for s in self.nodes:
            s.cleanup()
        shutil.rmtree(self.blobs, ignore_errors=True)


# -- what every cluster test module shares ------------------------------------

def start_module(n=3, env=None, args=(), conf=()):
    """A test module's private PostgreSQL and its n nodes (each with extra
    command-line args); unittest.SkipTest when PostgreSQL cannot run here.
    Returns (server, cluster); stop them with stop_module."""
    import unittest
    why = pg_missing()
    if why:
        raise unittest.SkipTest(why)
    srv = PgServer(conf=conf).start()
    cl = Cluster(srv, n, env=env)
    for node in cl.nodes:
        node.extra_args += list(args)
    try:
        cl.start()
    except BaseException:
        stop_module(srv, cl)
        raise
    return srv, cl


def stop_module(srv, cl):
    if cl:
        cl.stop()
    if srv:
        srv.stop()


def psql(srv, sql):
    """One statement on srv's database; rows as lists of strings."""
    out = subprocess.run([os.path.join(PG_BIN, "psql"), "-h", "127.0.0.1", "-p", str(srv.port),
                          "-U", srv.user, "-d", srv.dbname, "-At", "-F", "|", "-c", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True)
    return [line.split("|") for line in out.stdout.decode().splitlines() if line]


def log_of(node):
    """What node has logged so far."""
    with open(node.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def client(node, service, **cfg):
    """boto3 `service` on node with the harness's credentials: one attempt (no
    retry hides an error), S3 path-style."""
    import boto3
    from botocore.config import Config
    if service == "s3":
        cfg.setdefault("s3", {"addressing_style": "path"})
    cfg.setdefault("connect_timeout", 5)
    cfg.setdefault("read_timeout", 30)
    return boto3.client(service, endpoint_url=node.endpoint, region_name=harness.REGION,
                        aws_access_key_id=harness.ACCESS_KEY,
                        aws_secret_access_key=harness.SECRET_KEY,
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                      **cfg))


def s3_client(node, **cfg):
    return client(node, "s3", **cfg)


def wait_for(fn, timeout, what, interval=0.2):
    """Polls fn() until it is true (bounded); returns its last value, or
    raises AssertionError naming what did not happen."""
    deadline = time.monotonic() + timeout
    v = fn()
    while not v and time.monotonic() < deadline:
        time.sleep(interval)
        v = fn()
    if not v:
        raise AssertionError("%s: not within %.0fs" % (what, timeout))
    return v


def unique(tag):
    """A name no other test (or run) uses."""
    return "%s-%d-%d" % (tag, os.getpid(), int(time.time() * 1000) % 10**8)


def code_of(e):
    """The AWS error code of a botocore ClientError."""
    return e.response["Error"]["Code"]
