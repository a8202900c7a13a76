#!/usr/bin/env python3
"""Where sandbox requests arrive: Unix sockets, a network namespace, systemd
socket activation, and systemd readiness notification."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import unittest

import khtest


def curl(args, timeout=10):
    return subprocess.run(["curl", "-sS", "-m", "5"] + args, capture_output=True,
                          timeout=timeout)


class UnixSocketTest(khtest.KeyholeTestCase):
    def setUp(self):
        if shutil.which("curl") is None:
            self.fail("curl is needed (scripts/deps.sh installs it)")
        self.up = self.upstream()
        self.dir = khtest.make_tempdir(self)
        self.sock = os.path.join(self.dir, "kh.sock")

    def start(self, *extra):
        return self.keyhole(self.up.url, listen="unix:" + self.sock, args=list(extra))

    def test_unix_socket_serves_curl(self):
        kh = self.start()
        p = curl(["--unix-socket", self.sock, "-H", "Authorization: Bearer " + kh.token,
                  "-o", "/dev/null", "-w", "%{http_code}", "http://localhost/api/agents/me"])
        self.assertEqual(p.stdout, b"200", p.stderr)
        self.assertEqual(self.up.count(), 1)
        self.assertEqual(kh.ready.get("socketPath"), self.sock)

    def test_unix_socket_mode_default_and_configured(self):
        kh = self.start()
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode))
        self.assertEqual(khtest.file_mode(self.sock), 0o660)
        kh.stop()
        kh2 = self.start("--unix-mode", "0600")
        self.assertEqual(khtest.file_mode(self.sock), 0o600)
        kh2.stop()

    def test_unix_socket_removed_on_exit(self):
        kh = self.start()
        self.assertTrue(os.path.exists(self.sock))
        self.assertEqual(kh.stop(), 0)
        self.assertFalse(os.path.exists(self.sock), "socket file left behind")

    def test_stale_socket_replaced(self):
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.sock)
        s.close()       # a socket file with no listener: stale
        kh = self.start()
        p = curl(["--unix-socket", self.sock, "-H", "Authorization: Bearer " + kh.token,
                  "-o", "/dev/null", "-w", "%{http_code}", "http://localhost/api/agents/me"])
        self.assertEqual(p.stdout, b"200", p.stderr)

    def test_other_file_at_socket_path_refused_and_kept(self):
        with open(self.sock, "w") as f:
            f.write("precious")
        kh = self.keyhole(self.up.url, listen="unix:" + self.sock, start=False)
        kh.start()
        self.assertEqual(kh.wait_exit(10), 1)
        self.assertIn("is not a socket", kh.output_text())
        with open(self.sock) as f:
            self.assertEqual(f.read(), "precious")


class NetnsTest(khtest.KeyholeTestCase):
    """A process in a namespace with only loopback reaches the upstream
    through keyhole, and nothing else."""

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("network namespace test needs root (ip netns add): run the "
                      "suite as root, as CI does")
        if shutil.which("ip") is None:
            self.fail("the ip command (iproute2) is needed: scripts/deps.sh installs it")
        self.ns = "kh-it-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=10)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.ns], timeout=10)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=10)
        self.up = self.upstream()

    def in_ns(self, args):
        return subprocess.run(["ip", "netns", "exec", self.ns] + args, capture_output=True,
                              timeout=20)

    def test_sandbox_in_netns_reaches_upstream_only_through_keyhole(self):
        kh = self.keyhole(self.up.url, args=["--netns", "/var/run/netns/" + self.ns])
        port = kh.ready["port"]
        p = self.in_ns(["curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Authorization: Bearer " + kh.token,
                        "http://127.0.0.1:%d/api/agents/me" % port])
        self.assertEqual(p.stdout, b"200", p.stderr)
        self.assertEqual(self.up.count(), 1)
        self.assertEqual(self.up.snapshot()[0].header("authorization"), "Bearer " + kh.credential)
        # The upstream itself is not reachable from inside.
        p = self.in_ns(["curl", "-sS", "-m", "3", self.up.url + "/api/agents/me"])
        self.assertNotEqual(p.returncode, 0, "the upstream was reachable from the namespace")
        self.assertEqual(self.up.count(), 1)
        # And keyhole's port is not open in the host namespace.
        s = socket.socket()
        s.settimeout(2)
        try:
            with self.assertRaises(OSError):
                s.connect(("127.0.0.1", port))
        finally:
            s.close()


class SystemdTest(khtest.KeyholeTestCase):
    def setUp(self):
        self.up = self.upstream()
        self.dir = khtest.make_tempdir(self)

    def test_socket_activation_with_inherited_fd(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        port = ls.getsockname()[1]
        kh = self.keyhole(self.up.url, listen=None, start=False)
        fd = ls.fileno()

        def child_setup():
            os.dup2(fd, 3)
            os.set_inheritable(3, True)
        argv = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http exec "$@"', "sh"] + kh.argv
        out = open(kh.stdout_path, "wb")
        err = open(kh.stderr_path, "wb")
        kh.proc = subprocess.Popen(argv, env=kh.env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, close_fds=False,
                                   preexec_fn=child_setup)
        out.close()
        err.close()
        kh.pid = kh.proc.pid
        ls.close()
        kh.wait_ready()
        self.assertEqual(kh.ready["port"], port)
        r = kh.request("GET", "/api/agents/me")
        self.assertEqual(r.status, 200, r)

    def _notify_socket(self, abstract):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "kh-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            s.bind("\0" + name)
            addr = "@" + name
        else:
            addr = os.path.join(self.dir, "notify.sock")
            s.bind(addr)
        s.settimeout(10)
        self.addCleanup(s.close)
        return s, addr

    def _recv_until(self, s, key):
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = s.recv(4096).decode()
            got.append(msg)
            if key in msg.split("\n"):
                return got
        self.fail("no %s in %r" % (key, got))

    def test_sd_notify_ready_status_and_stopping(self):
        for abstract in (False, True):
            s, addr = self._notify_socket(abstract)
            kh = self.keyhole(self.up.url, env={"NOTIFY_SOCKET": addr})
            got = self._recv_until(s, "READY=1")
            self.assertTrue(any(ln.startswith("STATUS=") for m in got for ln in m.split("\n")))
            kh.signal(signal.SIGTERM)
            self._recv_until(s, "STOPPING=1")
            self.assertEqual(kh.wait_exit(15), 0)


if __name__ == "__main__":
    khtest.main()
