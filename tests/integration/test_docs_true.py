#!/usr/bin/env python3
"""What the documentation says keyhole does, it does (issue 16 §7).

Each test is one defect a new operator met by following the docs:

  - the queue-only example (`keyhole serve ... --queue-dir DIR`, no
    token) exited with "no bridge token", although the queue transport
    never checks one;
  - `keyhole explain` and `keyhole check-policy` ignored KEYHOLE_VAR_*,
    which `keyhole serve` honours (README, keyhole(8));
  - `--log syslog` with no syslog socket lost every line, the fatal ones
    included, without a word;
  - keyhole(8) rendered its JSON error bodies without their spaces
    ("Invalidbridgetoken.");
  - keyhole.policy(5) pointed to keyhole(1), which does not exist;
  - the ready file of a queue-only keyhole differed from what keyhole(8)
    documented.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, keyhole_queue, new_id, response_body  # noqa: E402

DOCS = os.path.join(khtest.SRC, "docs")

VAR_POLICY = """\
allow GET /api/agents/me
allow PATCH /api/issues/{issue}
"""


def render_man(page):
    """The page as man(1) shows it, one long line per paragraph (no
    hyphenation, no justification) so a test can search its text."""
    p = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=2000n", "-rHY=0",
         os.path.join(DOCS, page)],
        capture_output=True, check=True)
    text = p.stdout.decode("utf-8", "replace")
    # groff's typographic quotes and the break-point hyphen, as ASCII.
    return text.replace("\u2010", "-").replace("\u2212", "-")


def readme_messages():
    """Every message of README.md's "Errors the sandbox sees" table."""
    with open(os.path.join(khtest.SRC, "README.md")) as f:
        readme = f.read()
    return re.findall(r"^\| \d{3}[^|]*\| `([^`]*)` \|", readme, re.M)


class QueueOnlyTokenTest(KeyholeTestCase):
    """README's queue example, as written: no token anywhere."""

    def test_queue_only_serves_without_a_bridge_token(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, token_via=None, listen=None)
        rid = new_id()
        q.put(q.envelope(rid))
        resp = q.wait_response(rid)
        self.assertEqual(resp["status"], 200, resp)
        self.assertEqual(response_body(resp), b'{"ok":true}')
        self.assertNotIn("no bridge token", kh.output_text())

    def test_http_listener_still_needs_a_token(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, token_via=None,
                           listen="tcp:127.0.0.1:0", wait_ready=False)
        self.assertEqual(kh.wait_exit(10), 1, kh.output_text())
        self.assertIn("no bridge token", kh.output_text())


class ExplainVarsTest(KeyholeTestCase):
    """`keyhole serve` binds {issue} from KEYHOLE_VAR_issue; explain and
    check-policy must read the policy the same way."""

    def setUp(self):
        self.dir = khtest.make_tempdir(self)
        self.policy = os.path.join(self.dir, "p.policy")
        with open(self.policy, "w") as f:
            f.write(VAR_POLICY)

    def test_explain_honours_keyhole_var(self):
        rc, out, err = khtest.run_keyhole(
            ["explain", self.policy, "PATCH", "/api/issues/BRI-7"],
            env={"KEYHOLE_VAR_issue": "BRI-7"})
        self.assertEqual(rc, 0, out + err)
        self.assertIn("allowed", out)
        rc, out, err = khtest.run_keyhole(
            ["explain", self.policy, "PATCH", "/api/issues/BRI-8"],
            env={"KEYHOLE_VAR_issue": "BRI-7"})
        self.assertEqual(rc, 1, out + err)

    def test_option_wins_over_environment(self):
        rc, out, err = khtest.run_keyhole(
            ["explain", self.policy, "PATCH", "/api/issues/BRI-9",
             "--var", "issue=BRI-9"], env={"KEYHOLE_VAR_issue": "BRI-7"})
        self.assertEqual(rc, 0, out + err)

    def test_bad_environment_value_is_refused(self):
        rc, out, err = khtest.run_keyhole(
            ["explain", self.policy, "GET", "/api/agents/me"],
            env={"KEYHOLE_VAR_issue": "a/b"})
        self.assertEqual(rc, 2, out + err)
        self.assertIn("KEYHOLE_VAR_issue", err)

    def test_check_policy_binds_from_environment(self):
        """With a binding, check-policy compiles as serve does: every
        variable must then be bound.  Without one it audits leniently."""
        with open(self.policy, "a") as f:
            f.write("allow GET /api/agents/{agent}\n")
        rc, out, err = khtest.run_keyhole(["check-policy", self.policy])
        self.assertEqual(rc, 0, out + err)
        rc, out, err = khtest.run_keyhole(
            ["check-policy", self.policy], env={"KEYHOLE_VAR_issue": "BRI-7"})
        self.assertEqual(rc, 1, out + err)
        self.assertIn("variable 'agent' is not bound", err)
        self.assertNotIn("variable 'issue'", err)


class SyslogTest(KeyholeTestCase):

    def test_syslog_without_a_socket_is_a_start_up_error(self):
        """No /dev/log: keyhole says so on stderr and exits 1, instead of
        serving with every line lost.  The test hides /dev/log in a
        private mount namespace when the host has one."""
        khtest.require_root("a private mount namespace")
        up = self.upstream()
        kh = self.keyhole(up.url, start=False, args=["--log", "syslog"])
        script = ('[ -e /dev/log ] && mount --bind /dev/null /dev/log; '
                  'exec "$@"')
        kh.argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   script, "sh"] + kh.argv
        kh.start()
        self.assertEqual(kh.wait_exit(10), 1, kh.output_text())
        err = kh.stderr().decode()
        self.assertIn("--log syslog: cannot reach the syslog socket /dev/log", err)

    def test_syslog_socket_gets_the_lines(self):
        """With a syslog socket (a datagram socket bound at /dev/log in a
        private mount namespace), the lines arrive there."""
        khtest.require_root("a private mount namespace")
        up = self.upstream()
        d = khtest.make_tempdir(self)
        sock = os.path.join(d, "log")
        import socket
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind(sock)
        self.addCleanup(srv.close)
        srv.settimeout(10)
        kh = self.keyhole(up.url, start=False, args=["--log", "syslog"])
        # /dev is a devtmpfs or tmpfs: a file to mount over is made in a
        # tmpfs laid over /dev in the namespace, with /dev/null kept.
        script = ('set -e; [ -e /dev/log ] || { '
                  'mkdir -p "$KH_D/dev"; mount --rbind /dev "$KH_D/dev"; '
                  'mount -t tmpfs none /dev; '
                  'for n in null zero urandom random full; do '
                  'touch /dev/$n; mount --bind "$KH_D/dev/$n" /dev/$n; done; '
                  'touch /dev/log; }; '
                  'mount --bind "$KH_SOCK" /dev/log; exec "$@"')
        kh.argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   script, "sh"] + kh.argv
        kh.env["KH_SOCK"] = sock
        kh.env["KH_D"] = d
        kh.start()
        kh.wait_ready()
        lines = []
        while not any("serving on" in x for x in lines):
            lines.append(srv.recv(65536).decode("utf-8", "replace"))
        self.assertTrue(any("keyhole" in x for x in lines), lines)
        self.assertNotIn("serving on", kh.stderr().decode())


class ManPagesTest(KeyholeTestCase):

    def test_error_bodies_render_with_their_spaces(self):
        known = set(readme_messages())
        self.assertGreater(len(known), 40)
        templates = [re.compile("^" + re.sub(r"\\\{[a-z]+\\\}", ".+", re.escape(m)) + "$")
                     for m in known]
        for page in ("keyhole.8", "keyhole.policy.5"):
            text = render_man(page)
            bodies = re.findall(r'\{"error":"([^"]*)"', text)
            self.assertTrue(bodies, page)
            for msg in bodies:
                if msg.startswith("..."):
                    continue        # an elided family of messages
                self.assertTrue(msg in known or any(t.match(msg) for t in templates),
                                "%s renders an error body the contract does not "
                                "have: %r" % (page, msg))

    def test_see_also_names_pages_that_exist(self):
        pages = {f for f in os.listdir(DOCS) if re.match(r".*\.\d$", f)}
        for page in pages:
            text = render_man(page)
            for name, sec in re.findall(r"\b(keyhole[\w.-]*)\((\d)\)", text):
                want = "%s.%s" % (name, sec)
                self.assertIn(want, pages, "%s refers to %s(%s), which is not "
                              "in docs/" % (page, name, sec))


class ReadyFileTest(KeyholeTestCase):
    """keyhole(8) lists the ready file's keys for each kind of listener;
    the file keyhole writes has exactly those."""

    def documented(self):
        text = " ".join(render_man("keyhole.8").split())
        m = re.search(r"--ready-file FILE (.*?)--user NAME", text)
        self.assertIsNotNone(m, "keyhole(8) has no --ready-file entry")
        shapes = {}
        for kind, keys in re.findall(r"(TCP|Unix socket|queue only)(?: \([^)]*\))?: \{([^}]*)\}", m.group(1)):
            shapes[kind] = set(k.strip() for k in keys.split(","))
        self.assertEqual(set(shapes), {"TCP", "Unix socket", "queue only"}, m.group(1))
        return shapes

    def test_tcp_ready_file(self):
        up = self.upstream()
        kh = self.keyhole(up.url)
        self.assertEqual(set(kh.ready), self.documented()["TCP"], kh.ready)

    def test_queue_only_ready_file(self):
        up = self.upstream()
        q = QueueDir(self)
        kh = keyhole_queue(self, up.url, q, listen=None)
        self.assertEqual(set(kh.ready), self.documented()["queue only"], kh.ready)
        self.assertEqual(kh.ready["queueDir"], q.path)

    def test_unix_ready_file(self):
        up = self.upstream()
        d = tempfile.mkdtemp(prefix="kh-sock-")
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        kh = self.keyhole(up.url, listen="unix:" + os.path.join(d, "s.sock"))
        self.assertEqual(set(kh.ready), self.documented()["Unix socket"], kh.ready)


if __name__ == "__main__":
    khtest.main()
