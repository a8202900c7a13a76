#!/usr/bin/env python3
"""The shipped systemd unit starts keyhole (issue 16 §5).

systemd is not PID 1 here, so the test rebuilds, from the text of
systemd/keyhole@.service (and the drop-ins in systemd/examples/ a mode
needs), what systemd would put around ExecStart, and starts keyhole in it:

  SystemCallFilter=         every line, in order, expanded with
                            `systemd-analyze syscall-filter` (nested groups
                            too; @default is always allowed, as systemd
                            adds it to an allow list), loaded as a libseccomp
                            filter whose default action kills the process
                            (tests/progs/unit_filter.c)
  RestrictAddressFamilies=, RestrictNamespaces=, MemoryDenyWriteExecute=
                            as separate filters (unit_filter)
  CapabilityBoundingSet=, NoNewPrivileges=, AmbientCapabilities=
                            setpriv --bounding-set, --no-new-privs,
                            --inh-caps/--ambient-caps -all
  ProtectSystem=strict, ReadWritePaths=, RuntimeDirectory=, PrivateTmp=,
  ProtectHome=, ProtectProc=invisible, ProtectKernelTunables=
                            a private mount namespace (unshare -m): every
                            mount read-only, a fresh /run holding only the
                            runtime directory, tmpfs on /tmp and /var/tmp,
                            /home and /root empty, /proc with hidepid
  UMask=, LimitCORE=        umask, ulimit -c
  EnvironmentFile=, ExecStart=, LoadCredential=, the .socket's listener
                            the instance's environment file is read, the
                            ExecStart line expanded as systemd does ($VAR
                            split, ${VAR} whole, %i), the credential handed
                            over in $CREDENTIALS_DIRECTORY, the listening
                            socket in LISTEN_FDS (LISTEN_PID = keyhole's pid:
                            every wrapper execs in place)

Not reproduced (they need systemd as PID 1 or change nothing keyhole
does): PrivateDevices=, ProtectClock=, ProtectHostname=,
ProtectKernelModules=, ProtectKernelLogs=, ProtectControlGroups=,
RestrictRealtime=, RestrictSUIDSGID=, LockPersonality=,
SystemCallArchitectures= (the filter is native only anyway),
Type=notify/WatchdogSec= (it.test_liveness covers the protocol).

Serve (HTTP on the socket), queue (the queue drop-in) and netns (the
netns drop-in) each answer a request through keyhole under all of it;
serve is then reloaded by the unit's ExecReload= line (`keyhole reload`,
run in keyhole's mount namespace under the same bounding set,
no_new_privs and filter, as systemd runs it), which must report success
through the ready file the ExecStart= line writes; the audit drop-in's log
(LogsDirectory=, the key by LoadCredential=) is written, synced, rotated
and verified.
The unit before this change: the parent died of SIGSYS at `seccomp`
(and `landlock_*`), and the child at `chroot`.
"""

import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khqueue import QueueDir, new_id, response_body  # noqa: E402

UNIT_DIR = os.path.join(khtest.SRC, "systemd")
INSTANCE = "ci%d" % os.getpid()


@functools.lru_cache(None)
def expand_group(name):
    """A group's (or a single call's) system calls, nested groups included."""
    if not name.startswith("@"):
        return frozenset([name])
    p = subprocess.run(["systemd-analyze", "syscall-filter", name],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("systemd-analyze syscall-filter %s: %s" % (name, p.stderr))
    calls = set()
    for line in p.stdout.splitlines()[1:]:
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        calls |= expand_group(t)
    return frozenset(calls)


def unit_settings(text):
    """[Service]/[Socket] settings as {key: [values in order]}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def merged_settings(dropins=()):
    with open(os.path.join(UNIT_DIR, "keyhole@.service")) as f:
        s = unit_settings(f.read())
    for d in dropins:
        with open(os.path.join(UNIT_DIR, "examples", d)) as f:
            for k, vs in unit_settings(f.read()).items():
                for v in vs:
                    if v == "":
                        s[k] = []       # an empty assignment resets
                    else:
                        s.setdefault(k, []).append(v)
    return s


def syscall_allow_list(values):
    """systemd's reading of SystemCallFilter= lines: the first decides
    allow-list mode (and adds @default), later plain lines add, ~ lines
    remove."""
    allowed = None
    for v in values:
        inv = v.startswith("~")
        names = v[1:].split() if inv else v.split()
        calls = set()
        for n in names:
            calls |= expand_group(n)
        if allowed is None:
            if inv:
                raise AssertionError("the unit must use an allow list")
            allowed = set(expand_group("@default"))
        if inv:
            allowed -= calls
        else:
            allowed |= calls
    return allowed


CREDS = {}
CAP_BITS = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7,
            "CAP_SETPCAP": 8, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21}


def instance(text):
    """The specifiers the unit uses: %i the instance, %d its credentials
    directory (LoadCredential=)."""
    return text.replace("%i", INSTANCE).replace("%d", CREDS.get("dir", "%d"))


def expand_exec(line, env):
    """ExecStart= as systemd splits it: ${VAR} is one word, $VAR is split
    on whitespace, %i the instance."""
    words = []
    for w in shlex.split(instance(line)):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            words += env.get(m.group(1), "").split()
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                            lambda m: env.get(m.group(1), ""), w))
    return words


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    return env


# The mount namespace: ProtectSystem=strict and friends.  Runs as root in
# `unshare -m`, then execs "$@" (setpriv ... unit_filter ... keyhole).
MOUNTS = r'''
set -e
mount --make-rprivate /
# ProtectSystem=strict: every mount read-only, but /dev, /proc and /sys
# (which systemd handles with the Protect* options).
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do
  case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue;; esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
# ReadWritePaths= (a path that does not exist here is skipped) and
# RuntimeDirectory= (made by the test, as systemd makes it): writable.
for p in $KH_RW_PATHS $KH_RUNTIME_PATHS; do
  [ -e "$p" ] || continue
  mount --bind "$p" "$p"; mount -o remount,bind,rw "$p"
done
# PrivateTmp=, ProtectHome=
mount -t tmpfs -o mode=1777 none /tmp
mount -t tmpfs -o mode=1777 none /var/tmp
mount -t tmpfs -o ro,mode=0755 none /home
mount -t tmpfs -o ro,mode=0700 none /root
# ProtectKernelTunables=: /proc/sys read-only; ProtectProc=invisible
mount -t proc -o hidepid=invisible proc /proc
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
# the proof that the file system is what the unit says
for p in /etc/.kh-probe /run/.kh-probe; do
  if touch "$p" 2>/dev/null; then echo "$p is writable" >&2; exit 99; fi
done
umask "$KH_UMASK"
ulimit -c 0
exec "$@"
'''


def hidden_by_unit(path):
    """Whether the unit's PrivateTmp=/ProtectHome= hide `path`."""
    real = os.path.realpath(path)
    return any(real == d or real.startswith(d + "/")
               for d in ("/tmp", "/var/tmp", "/home", "/root"))


class UnitSandbox:
    """keyhole@ci started as systemd would start it, without systemd."""

    def __init__(self, tc, dropins=(), conf=None, extra_opts="", rw_paths=(),
                 listen_socket=None):
        self.tc = tc
        self.s = merged_settings(dropins)
        # Outside what the unit hides (PrivateTmp=, ProtectHome=) and
        # read-only inside: the build tree, unless it is itself under one
        # of those (CI clones into /tmp); then a directory in /run, with
        # copies of the programs the test runs there.
        base = khtest.BUILD
        if hidden_by_unit(base):
            base = "/run"
        self.dir = tempfile.mkdtemp(prefix="kh-unit-sandbox-", dir=base)
        os.chmod(self.dir, 0o755)
        tc.addCleanup(shutil.rmtree, self.dir, True)
        self.bin = {}
        for name in ("keyhole", "keyhole-net", "unit_filter"):
            path = khtest.binary(name)
            if base != khtest.BUILD:
                bindir = os.path.join(self.dir, "bin")
                os.makedirs(bindir, 0o755, exist_ok=True)
                shutil.copy2(path, os.path.join(bindir, name))
                path = os.path.join(bindir, name)
            self.bin[name] = path
        self.allow_file = os.path.join(self.dir, "syscalls")
        with open(self.allow_file, "w") as f:
            f.write("\n".join(sorted(syscall_allow_list(self.s["SystemCallFilter"]))) + "\n")
        # /etc/keyhole/ci.conf and ci.credential, in a directory of ours.
        self.credential = khtest.new_credential()
        self.token = khtest.new_token()
        creddir = os.path.join(self.dir, "credentials")
        os.mkdir(creddir, 0o700)
        CREDS["dir"] = creddir
        # LoadCredential=ID:PATH: each file copied in, mode 0400.
        files = {"credential": self.credential, "token": self.token}
        if any(v.endswith(".key") for v in self.s.get("LoadCredential", [])):
            # the audit drop-in's signing key, made as its comment says
            self.audit_key = os.path.join(self.dir, "audit.key")
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519",
                            "-out", self.audit_key], check=True, capture_output=True)
            self.audit_pub = self.audit_key + ".pub"
            subprocess.run(["openssl", "pkey", "-in", self.audit_key, "-pubout",
                            "-out", self.audit_pub], check=True, capture_output=True)
            with open(self.audit_key) as f:
                files["key"] = f.read()
        for v in self.s.get("LoadCredential", []):
            cid, _, src = v.partition(":")
            kind = src.rsplit(".", 1)[-1]
            with open(os.path.join(creddir, cid), "w") as f:
                f.write(files[kind])
            os.chmod(os.path.join(creddir, cid), 0o400)
        self.policy = os.path.join(self.dir, "test.policy")
        with open(self.policy, "w") as f:
            f.write(khtest.TEST_POLICY)
        conf_path = os.path.join(self.dir, "ci.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        self.env = read_env_file(conf_path)
        self.env["KEYHOLE_OPTS"] = (self.env.get("KEYHOLE_OPTS", "") + " " + extra_opts).strip()
        self.creddir = creddir
        self.rw_paths = list(rw_paths) + [
            p for v in self.s.get("ReadWritePaths", []) for p in v.split()]
        self.listen_socket = listen_socket
        self.proc = None

    def argv(self):
        exec_start = self.s["ExecStart"][-1]
        words = expand_exec(exec_start, self.env)
        words[0] = self.bin["keyhole"] if words[0].endswith("/keyhole") else words[0]
        return words

    def confinement(self):
        """setpriv and unit_filter as the unit's settings ask: the words
        to put before a command."""
        s = self.s
        caps = []
        for v in s.get("CapabilityBoundingSet", []):
            caps += [c.lower().replace("cap_", "+") for c in v.split()]
        families = ",".join(a.lower().replace("af_", "")
                            for v in s.get("RestrictAddressFamilies", []) for a in v.split())
        ns = s.get("RestrictNamespaces", ["no"])[-1]
        nslist = "none" if ns == "yes" else ("all" if ns == "no" else ns.replace(" ", ","))
        filt = [self.bin["unit_filter"], "--allow", self.allow_file]
        if families:
            filt += ["--families", families]
        if nslist != "all":
            filt += ["--namespaces", nslist]
        if s.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
            filt.append("--mdwe")
        setpriv = ["setpriv", "--bounding-set", ",".join(["-all"] + caps),
                   "--inh-caps=-all", "--ambient-caps=-all"]
        if s.get("NoNewPrivileges", ["no"])[-1] == "yes":
            setpriv.append("--no-new-privs")
        return setpriv + filt + ["--"]

    def start(self):
        s = self.s
        runtime = ["/run/" + instance(d) for v in s.get("RuntimeDirectory", [])
                   for d in v.split()]
        for d in runtime:
            os.makedirs(d, exist_ok=True)
            os.chmod(d, int(s.get("RuntimeDirectoryMode", ["0755"])[-1], 8))
            self.tc.addCleanup(shutil.rmtree, d, True)
        # LogsDirectory= (the audit drop-in): made as systemd makes it,
        # writable inside like the runtime directory.
        self.logs = ["/var/log/" + instance(d) for v in s.get("LogsDirectory", [])
                     for d in v.split()]
        for d in self.logs:
            os.makedirs(d)
            os.chmod(d, int(s.get("LogsDirectoryMode", ["0755"])[-1], 8))
            self.tc.addCleanup(shutil.rmtree, d, True)
        runtime += self.logs
        inner = self.confinement() + self.argv()
        # LISTEN_PID is keyhole's pid: unshare, sh, setpriv and unit_filter
        # all exec in place.  The socket arrives as stdin and moves to fd 3.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PAPERCLIP_", "LISTEN_", "KEYHOLE_"))}
        env.update(self.env)
        env.update({
            "CREDENTIALS_DIRECTORY": self.creddir,
            "KH_RW_PATHS": " ".join(self.rw_paths),
            "KH_RUNTIME_PATHS": " ".join(runtime),
            "KH_UMASK": s.get("UMask", ["0022"])[-1],
        })
        script = MOUNTS
        if self.listen_socket is not None:
            script = script.replace('exec "$@"', 'export LISTEN_PID=$$ LISTEN_FDS=1 '
                                    'LISTEN_FDNAMES=http; exec 3<&0 0</dev/null; exec "$@"')
        self.stderr_path = os.path.join(self.dir, "stderr")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + inner,
                stdin=self.listen_socket if self.listen_socket is not None else subprocess.DEVNULL,
                stdout=err, stderr=err, env=env)
        self.tc.addCleanup(self.stop)

    def exec_reload(self):
        """ExecReload= as systemd runs it: expanded ($MAINPID is keyhole),
        in the service's mount namespace, under the same capability
        bounding set, no_new_privs and system call filter.  Returns the
        CompletedProcess."""
        env = dict(self.env, MAINPID=str(self.proc.pid))
        words = expand_exec(self.s["ExecReload"][-1], env)
        words[0] = self.bin["keyhole"] if words[0].endswith("/keyhole") else words[0]
        penv = {k: v for k, v in os.environ.items()
                if not k.startswith(("PAPERCLIP_", "LISTEN_", "KEYHOLE_"))}
        penv.update(self.env)
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--"] +
                              self.confinement() + words, env=penv,
                              capture_output=True, timeout=60)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def root_path(self, path):
        """A path inside keyhole's mount namespace, from outside."""
        return "/proc/%d/root%s" % (self.proc.pid, path)

    def wait_ready(self, path, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("keyhole under the unit's sandbox exited with %s "
                                     "(-31 is SIGSYS):\n%s" % (self.proc.returncode, self.stderr()))
            if "exited (signal 31" in self.stderr():
                raise AssertionError("keyhole's child died of SIGSYS under the unit's "
                                     "sandbox:\n" + self.stderr())
            try:
                with open(self.root_path(path)) as f:
                    return json.load(f)
            except (OSError, ValueError):
                time.sleep(0.05)
        raise AssertionError("no ready file under the unit's sandbox:\n" + self.stderr())

    def assert_child_serving(self):
        """The child started and stayed up: no 'child ... exited' or
        'killed by signal' in the log."""
        err = self.stderr()
        self.tc.assertNotRegex(err, r"child pid=\d+ (exited|killed)|signal 31|SIGSYS", err)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def conf_text(policy, upstream, opts=""):
    return ("KEYHOLE_POLICY=%s\nKEYHOLE_UPSTREAM=%s\nKEYHOLE_OPTS=%s\n"
            % (policy, upstream, opts))


class UnitSandboxTest(khtest.KeyholeTestCase):

    def setUp(self):
        khtest.require_root("the unit's capability bounding set and mount namespace")
        for tool in ("systemd-analyze", "setpriv", "unshare"):
            if shutil.which(tool) is None:
                self.fail("%s is needed: scripts/deps.sh installs it" % tool)
        self.up = self.upstream()

    def socket_unit_listener(self):
        """What keyhole@ci.socket's first ListenStream= makes: a Unix
        socket (its path moved into our directory: /run is the sandbox's)."""
        with open(os.path.join(UNIT_DIR, "keyhole@.socket")) as f:
            sock = unit_settings(f.read())
        addr = sock["ListenStream"][0]
        d = tempfile.mkdtemp(prefix="kh-unit-sock-")
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        if addr.startswith("/"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = os.path.join(d, os.path.basename(instance(addr)))
            s.bind(path)
            os.chmod(path, int(sock.get("SocketMode", ["0666"])[-1], 8))
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            path = None
        s.listen(64)
        self.addCleanup(s.close)
        return s, path

    def request_unix(self, path, token, target="/api/agents/me", method="GET", body=None):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(10)
        c.connect(path)
        c.sendall(khtest.build_request(method, target, token=token, body=body))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        return data

    def test_unit_filter_expands_and_names_what_keyhole_needs(self):
        allowed = syscall_allow_list(merged_settings()["SystemCallFilter"])
        for call in ("seccomp", "chroot", "landlock_create_ruleset", "landlock_add_rule",
                     "landlock_restrict_self", "execveat", "setresuid", "capset"):
            self.assertIn(call, allowed, "the unit's SystemCallFilter= forbids %s" % call)
        for call in ("mount", "ptrace", "reboot", "init_module", "swapon"):
            self.assertNotIn(call, allowed)

    def test_serve_under_the_unit(self):
        sock, path = self.socket_unit_listener()
        u = UnitSandbox(self, conf=conf_text(os.path.join(UNIT_DIR, "..", "policy",
                                                          "paperclip.policy"), self.up.url),
                        listen_socket=sock)
        # The shipped policy file itself (read-only inside).
        u.env["KEYHOLE_POLICY"] = u.policy
        u.start()
        ready = u.wait_ready("/run/keyhole/%s/ready.json" % INSTANCE)
        self.assertEqual(ready.get("socketPath"), path, ready)
        data = self.request_unix(path, u.token)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:300] + u.stderr().encode())
        rec = self.up.wait_requests(1)[0]
        self.assertEqual(rec.header("authorization"), "Bearer " + u.credential)
        u.assert_child_serving()
        # systemctl reload: the unit's ExecReload= (keyhole reload, waiting
        # on the ready file) under the same sandbox, and the parent's
        # reload under its filter: a new child, the new policy.
        with open(u.policy, "a") as f:
            f.write("allow GET /api/extra\n")
        p = u.exec_reload()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + u.stderr().encode())
        ready = u.wait_ready("/run/keyhole/%s/ready.json" % INSTANCE)
        self.assertEqual((ready.get("generation"), ready.get("reloadOk")), (1, True), ready)
        self.assertTrue(self.request_unix(path, u.token, "/api/extra").startswith(
            b"HTTP/1.1 200"), u.stderr())
        self.assertNotRegex(u.stderr(), r"signal 31|SIGSYS|protocol violation")
        # What setpriv reproduced is what keyhole runs under.
        st = khtest.proc_status(u.proc.pid)
        self.assertEqual(st["NoNewPrivs"], "1")
        allowed = 0
        for v in u.s["CapabilityBoundingSet"]:
            for c in v.split():
                allowed |= 1 << CAP_BITS[c]
        self.assertEqual(int(st["CapBnd"], 16) & ~allowed, 0, st["CapBnd"])

    def test_audit_log_under_the_unit(self):
        """systemd/examples/audit.conf: the log in LogsDirectory=, the
        signing key by LoadCredential= (no --audit-key), a mutation's
        fdatasync, a rotation by SIGUSR1 (rename, a new file, the directory
        synced) and the final checkpoint, all under the unit's filter; the
        files verify with the public key."""
        sock, path = self.socket_unit_listener()
        log = "/var/log/keyhole/%s/audit.log" % INSTANCE
        u = UnitSandbox(self, dropins=("audit.conf",),
                        conf=conf_text("", self.up.url), extra_opts="--audit-log " + log,
                        listen_socket=sock)
        u.env["KEYHOLE_POLICY"] = u.policy
        u.start()
        self.assertEqual(u.logs, ["/var/log/keyhole/" + INSTANCE])
        u.wait_ready("/run/keyhole/%s/ready.json" % INSTANCE)
        self.assertTrue(self.request_unix(path, u.token).startswith(b"HTTP/1.1 200"),
                        u.stderr())
        data = self.request_unix(path, u.token, "/api/issues/i1/comments", method="POST",
                                 body=b'{"body":"x"}')
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:300] + u.stderr().encode())
        # The operator's rotation: move the file, SIGUSR1 (logrotate's way).
        os.rename(log, log + ".1")
        os.kill(u.proc.pid, signal.SIGUSR1)
        khtest.wait_until(lambda: os.path.exists(log), 10, "the new audit file")
        self.assertTrue(self.request_unix(path, u.token).startswith(b"HTTP/1.1 200"))
        u.assert_child_serving()
        u.stop()
        self.assertEqual(u.proc.returncode, 0, u.stderr())
        self.assertEqual(khtest.file_mode(log), 0o600)
        p = subprocess.run([khtest.binary("keyhole-audit"), "verify", "--pubkey", u.audit_pub,
                            log + ".1", log], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + u.stderr())
        self.assertIn("intact", p.stdout)
        recs = [json.loads(ln) for f in (log + ".1", log) for ln in open(f)]
        self.assertEqual([(r["method"], r["status"]) for r in recs if r["type"] == "request"],
                         [("GET", 200), ("POST", 200), ("GET", 200)])

    def test_queue_under_the_unit(self):
        sock, path = self.socket_unit_listener()
        q = QueueDir(self, path=tempfile.mkdtemp(
            prefix="kh-unit-queue-", dir="/run" if hidden_by_unit(khtest.BUILD) else khtest.BUILD))
        self.addCleanup(shutil.rmtree, q.path, True)
        # Who owns the queue: keyhole gives root-owned directories to the
        # child's user (docs); the unit's drop-in makes it writable.
        u = UnitSandbox(self, dropins=("queue.conf",),
                        conf=conf_text("", self.up.url), extra_opts="--queue-dir " + q.path,
                        rw_paths=[q.path], listen_socket=sock)
        u.env["KEYHOLE_POLICY"] = u.policy
        u.start()
        u.wait_ready("/run/keyhole/%s/ready.json" % INSTANCE)
        rid = new_id()
        q.put(q.envelope(rid))
        resp = q.wait_response(rid, timeout=10)
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(response_body(resp), b'{"ok":true}')
        u.assert_child_serving()

    def test_netns_under_the_unit(self):
        sock, path = self.socket_unit_listener()
        name = "kh-unit-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", name])
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        nspath = "/run/netns/" + name
        u = UnitSandbox(self, dropins=("netns.conf",),
                        conf=conf_text("", self.up.url),
                        extra_opts="--netns %s --listen tcp:127.0.0.1:0" % nspath,
                        listen_socket=sock)
        u.env["KEYHOLE_POLICY"] = u.policy
        u.start()
        u.wait_ready("/run/keyhole/%s/ready.json" % INSTANCE)
        # The first listener is the socket unit's; the netns one is logged.
        m = khtest.wait_until(lambda: re.search(r"serving on http://127\.0\.0\.1:(\d+)",
                                                u.stderr()), 10, "the netns listener")
        port = int(m.group(1))
        client = ("import socket,sys;c=socket.create_connection(('127.0.0.1',%d),10);"
                  "c.sendall(sys.stdin.buffer.read());sys.stdout.buffer.write(c.recv(65536))"
                  % port)
        p = subprocess.run(["nsenter", "--net=" + nspath, sys.executable, "-c", client],
                           input=khtest.build_request("GET", "/api/agents/me", token=u.token),
                           capture_output=True, timeout=20)
        self.assertTrue(p.stdout.startswith(b"HTTP/1.1 200"), p.stdout[:300] + p.stderr +
                        u.stderr().encode())
        u.assert_child_serving()


if __name__ == "__main__":
    khtest.main()
