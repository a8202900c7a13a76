"""khssh: a throwaway OpenSSH server on 127.0.0.1 for the http2_v1 tests
(and bench/latency.py): its own host key, one user key, its own config
(no system configuration read), stopped by PID.  Root only (it logs in
as root with the key)."""

import os
import shlex
import signal
import subprocess
import time

import khtest


class Sshd:
    def __init__(self, tc, d):
        self.tc = tc
        self.dir = d
        self.port = khtest.free_port()
        self.proc = None
        self.hostkey = os.path.join(d, "host_ed25519")
        self.userkey = os.path.join(d, "user_ed25519")
        for k in (self.hostkey, self.userkey):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k],
                           check=True, timeout=30)
        self.authkeys = os.path.join(d, "authorized_keys")
        with open(self.userkey + ".pub") as f, open(self.authkeys, "w") as g:
            g.write(f.read())
        os.chmod(self.authkeys, 0o600)
        self.known = os.path.join(d, "known_hosts")
        with open(self.hostkey + ".pub") as f, open(self.known, "w") as g:
            g.write("[127.0.0.1]:%d %s" % (self.port, f.read()))
        self.config = os.path.join(d, "sshd_config")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1", "Port %d" % self.port,
                "HostKey %s" % self.hostkey, "AuthorizedKeysFile %s" % self.authkeys,
                "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "PidFile %s" % os.path.join(d, "sshd.pid"), "LogLevel ERROR",
                "AcceptEnv PAPERCLIP_*", "Subsystem sftp internal-sftp", ""]))
        os.makedirs("/run/sshd", exist_ok=True)       # privilege separation dir
        self.start()
        tc.addCleanup(self.stop)

    def start(self):
        with open(os.path.join(self.dir, "sshd.log"), "ab") as log:
            self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", self.config],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                khtest.Conn(self.port, timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("sshd did not start: %s" % self.log())
                time.sleep(0.05)

    def log(self):
        try:
            with open(os.path.join(self.dir, "sshd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def kill_all(self):
        """The listener and every per-connection sshd under it, by PID."""
        if self.proc is None:
            return
        kids = [k for k in khtest.proc_children(self.proc.pid)
                if khtest.proc_comm(k) == "sshd"]
        self.proc.kill()
        self.proc.wait(5)
        for k in kids:
            khtest.kill_pid_if(k, "sshd")
        self.proc = None

    def descendants(self):
        out, todo = [], [self.proc.pid] if self.proc is not None else []
        while todo:
            for k in khtest.proc_children(todo.pop()):
                if k not in out:
                    out.append(k)
                    todo.append(k)
        return out

    def stop(self):
        # Everything the sessions started (a gateway outlives its channel:
        # Paperclip's does not exit on EOF), by PID, then the listener.
        if self.proc is not None and self.proc.poll() is None:
            for k in self.descendants():
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def ssh_cmd(self, remote):
        """The ssh command line (a shell string) running `remote`."""
        return " ".join(["ssh", "-T", "-q", "-p", str(self.port), "-i", shlex.quote(self.userkey),
                         "-o", "UserKnownHostsFile=" + shlex.quote(self.known),
                         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                         "-o", "ConnectTimeout=5", "-F", "/dev/null", "root@127.0.0.1",
                         remote])
