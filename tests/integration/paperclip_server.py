"""A real Paperclip server for end-to-end tests: installed from the npm
registry into the build tree by scripts/install-paperclip.sh (Node.js 24 and
paperclipai, cached there across runs), started on 127.0.0.1 with its
embedded PostgreSQL in a fresh data directory (onboard --yes: local_trusted,
loopback), stopped by PID.

In local_trusted mode every request without a token is the instance's
administrator, so the test drives the API with plain HTTP."""

import json
import os
import pwd
import signal
import subprocess
import time
import urllib.error
import urllib.request

import khtest

PAPERCLIP_VERSION = "2026.916.1"
CACHE = os.environ.get("KH_PAPERCLIP_DIR") or os.path.join(khtest.SRC, "build", "paperclip")


def install():
    """(node bin dir, paperclipai prefix), installing them if needed."""
    p = subprocess.run(["bash", os.path.join(khtest.SRC, "scripts", "install-paperclip.sh"), CACHE],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise AssertionError("scripts/install-paperclip.sh failed:\n%s%s" % (p.stdout, p.stderr))
    node_dir, pc_dir = p.stdout.split()[-2:]
    return os.path.join(node_dir, "node_modules", ".bin"), pc_dir


class Api:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def call(self, method, path, body=None, ok=(200, 201, 202)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        if ok and status not in ok:
            raise AssertionError("%s %s -> %d: %s" % (method, path, status, str(payload)[:800]))
        return status, payload

    def get(self, path):
        return self.call("GET", path)[1]

    def post(self, path, body):
        return self.call("POST", path, body)[1]

    def patch(self, path, body):
        return self.call("PATCH", path, body)[1]


def _postgres_user():
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", "postgres"], check=True)
        return pwd.getpwnam("postgres")


class Paperclip:
    def __init__(self, work, node_bin, pc_dir):
        self.work = work
        self.node_bin = node_bin
        self.node = os.path.join(node_bin, "node")
        self.cli_js = os.path.join(pc_dir, "node_modules", "paperclipai", "dist", "index.js")
        self.data = os.path.join(work, "data")
        self.home = os.path.join(work, "home")   # empty: no ~/.claude seed
        self.log_path = os.path.join(work, "server.log")
        self.proc = None
        self.port = khtest.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.api = Api(self.url + "/api")

    def env(self):
        return {
            "PATH": self.node_bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.home, "LANG": "C.UTF-8", "PORT": str(self.port),
            "PAPERCLIP_TELEMETRY_DISABLED": "1", "PAPERCLIP_NO_BROWSER": "1",
        }

    def start(self, timeout=240):
        for d in (self.work, self.data, self.home):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        if os.geteuid() == 0:
            # embedded-postgres runs initdb as "postgres" when root, in a
            # directory Paperclip would create as root: give it one.
            pg = _postgres_user()
            db = os.path.join(self.data, "instances", "default", "db")
            os.makedirs(db, exist_ok=True)
            os.chmod(os.path.dirname(db), 0o755)
            os.chmod(os.path.dirname(os.path.dirname(db)), 0o755)
            os.chown(db, pg.pw_uid, pg.pw_gid)
            os.chmod(db, 0o700)
        self.proc = subprocess.Popen(
            ["nice", "-n", "5", self.node, self.cli_js, "onboard", "--yes", "--no-install-service",
             "-d", self.data],
            env=self.env(), cwd=self.work, stdin=subprocess.DEVNULL,
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("Paperclip exited (%s):\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                h = self.api.call("GET", "/health", ok=None)[1]
                if isinstance(h, dict) and h.get("status") == "ok":
                    self.health = h
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("Paperclip not healthy after %d s:\n%s" % (timeout, self.log_tail()))
            time.sleep(0.5)

    def cli(self):
        return "%s %s" % (self.node, self.cli_js)

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def secret_values(self):
        """The server's own secrets (its .env and master key): none of them
        may ever be seen in a sandbox."""
        out = {}
        inst = os.path.join(self.data, "instances", "default")
        try:
            with open(os.path.join(inst, ".env")) as f:
                for line in f:
                    k, sep, v = line.strip().partition("=")
                    if sep and v and ("SECRET" in k or "KEY" in k):
                        out[k] = v.strip().strip('"')
        except OSError:
            pass
        try:
            with open(os.path.join(inst, "secrets", "master.key")) as f:
                out["master.key"] = f.read().strip()
        except OSError:
            pass
        return out

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
