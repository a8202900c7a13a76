#!/usr/bin/env python3
"""Every command the docs mark as runnable runs (issue 16 §7).

The README marks a code block with an HTML comment on the line before
it, keyhole(8) an EXAMPLES block (.nf ... .fi) with a roff comment:

    <!-- doc-test serve -->        .\\" doc-test serve
    <!-- doc-test run -->          .\\" doc-test run
    <!-- doc-test deploy -->       (README's deployment steps)

The block's text is run by bash exactly as written, from the source tree
with the built binaries first on PATH, after these substitutions of what
only exists on a real host (and nothing else):

    https://paperclip.example.com, https://api.github.com,
    http://127.0.0.1:3100                      a local recording upstream
    /etc/keyhole/credential, /etc/keyhole/github.token
                                               a credential file (0600)
    /etc/keyhole/audit.key, .pub, /var/log/keyhole/audit.log
                                               files in a scratch directory
    /run/keyhole/ready.json, /run/keyhole/metrics.sock, /srv/bridge/run-42
                                               paths in a scratch directory
    /usr/local/share/keyhole/policy/           the tree's policy/
    agent1 (a network namespace's name)        a unique name
    /etc/keyhole, /usr/local (deploy)          a scratch root

and $RUN_ID, $PAPERCLIP_TASK_ID (BRI-7), $PAPERCLIP_BRIDGE_TOKEN and
$PAPERCLIP_API_KEY (the credential) set.

  run     must exit 0;
  serve   must start serving (the log's "serving on" line), answer a
          request (HTTP: GET /api/agents/me with the token; queue: one
          request file), and exit 0 on SIGTERM;
  deploy  the README's service steps, in order, against a scratch root:
          the build's own `cmake --install` into it (configuring and
          building again would only repeat what built this test), the
          configuration, credential and token files; the resulting
          instance is then checked as the unit reads it.  Steps that need
          systemd as PID 1 (systemctl) are only checked by `bash -n`.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import KeyholeTestCase  # noqa: E402
from khqueue import QueueDir, new_id, response_body  # noqa: E402

SRC = khtest.SRC


def readme_blocks():
    """[(kind, text, where)] of README.md's marked blocks."""
    with open(os.path.join(SRC, "README.md")) as f:
        lines = f.read().split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.fullmatch(r"(\s*)<!-- doc-test (\w+) -->", line)
        if not m:
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() == "":
            j += 1
        indent = len(lines[j]) - len(lines[j].lstrip())
        block = []
        while j < len(lines) and (lines[j].strip() == "" or
                                  len(lines[j]) - len(lines[j].lstrip()) >= indent):
            block.append(lines[j][indent:])
            j += 1
        while block and block[-1].strip() == "":
            block.pop()
        out.append((m.group(2), "\n".join(block) + "\n", "README.md:%d" % (i + 1)))
    return out


def man_blocks(page):
    with open(os.path.join(SRC, "docs", page)) as f:
        lines = f.read().split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.fullmatch(r'\.\\" doc-test (\w+)', line)
        if not m:
            continue
        assert lines[i + 1] == ".nf", "%s:%d: doc-test before a .nf block" % (page, i + 1)
        j = i + 2
        block = []
        while lines[j] != ".fi":
            block.append(lines[j].replace("\\-", "-").replace("\\e", "\\"))
            j += 1
        out.append((m.group(1), "\n".join(block) + "\n", "%s:%d" % (page, i + 1)))
    return out


class DocumentedCommandsTest(KeyholeTestCase):

    def setUp(self):
        self.up = self.upstream()
        self.dir = khtest.make_tempdir(self)
        os.chmod(self.dir, 0o755)
        self.cred = khtest.new_credential()
        self.token = khtest.new_token()
        self.credfile = os.path.join(self.dir, "credential")
        with open(os.path.join(self.dir, "credential"), "w") as f:
            f.write(self.cred)
        os.chmod(self.credfile, 0o600)
        self.queue = QueueDir(self, path=os.path.join(self.dir, "run-42"))
        self.netns = "kh-doc-%d" % os.getpid()

    def substitute(self, text):
        d = self.dir
        for a, b in (("https://paperclip.example.com", self.up.url),
                     ("https://api.github.com", self.up.url),
                     ("http://127.0.0.1:3100", self.up.url),
                     ("/etc/keyhole/credential", self.credfile),
                     ("/etc/keyhole/github.token", self.credfile),
                     ("/etc/keyhole/audit.", os.path.join(d, "audit.")),
                     ("/var/log/keyhole/audit.log", os.path.join(d, "audit.log")),
                     ("/run/keyhole/ready.json", os.path.join(d, "ready.json")),
                     ("/run/keyhole/metrics.sock", os.path.join(d, "metrics.sock")),
                     ("/srv/bridge/run-42", self.queue.path),
                     ("/usr/local/share/keyhole/policy/", os.path.join(SRC, "policy") + "/"),
                     ("agent1", self.netns)):
            text = text.replace(a, b)
        return text

    def env(self):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("PAPERCLIP_", "KEYHOLE_", "LISTEN_"))}
        e.update({"PATH": khtest.BUILD + ":" + os.environ.get("PATH", ""),
                  "RUN_ID": "run-doc", "PAPERCLIP_TASK_ID": "BRI-7",
                  "PAPERCLIP_BRIDGE_TOKEN": self.token,
                  "PAPERCLIP_API_KEY": self.cred})
        return e

    def run_block(self, text, where):
        if " netns " in text or "ip netns" in text:
            khtest.require_root("a network namespace")
            self.addCleanup(subprocess.run, ["ip", "netns", "del", self.netns],
                            capture_output=True)
        p = subprocess.run(["bash", "-c", "set -e\n" + self.substitute(text)], cwd=SRC,
                           env=self.env(), capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, "%s:\n%s\n%s%s" % (where, text, p.stdout.decode(),
                                                             p.stderr.decode()))
        return p

    def serve_block(self, text, where):
        err = os.path.join(self.dir, "serve.err")
        env = self.env()
        if "--queue-dir" in text and "--listen" not in text:
            # The queue alone, as the README says: no token anywhere.
            del env["PAPERCLIP_BRIDGE_TOKEN"]
        with open(err, "wb") as f:
            p = subprocess.Popen(["bash", "-c", "exec " + self.substitute(text).strip()],
                                 cwd=SRC, env=env, stdout=f, stderr=f,
                                 stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def log():
            with open(err, "rb") as f:
                return f.read().decode("utf-8", "replace")

        def serving():
            if p.poll() is not None:
                raise AssertionError("%s exited %s:\n%s\n%s" % (where, p.returncode, text, log()))
            return re.search(r"serving (on http://127\.0\.0\.1:(\d+)|queue_v1)", log())
        m = khtest.wait_until(serving, 15, "%s to serve" % where)
        if m.group(2):
            r = khtest.request(int(m.group(2)), "GET", "/api/agents/me", token=self.token)
            self.assertIn(r.status, (200, 403), "%s: %r\n%s" % (where, r, log()))
            self.assertTrue(r.status == 200 or "github" in text, r)
        else:
            rid = new_id()
            self.queue.put(self.queue.envelope(rid))
            resp = self.queue.wait_response(rid)
            self.assertEqual(resp["status"], 200, resp)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(20), 0, "%s did not stop cleanly:\n%s" % (where, log()))

    def test_readme_and_man_page_commands(self):
        blocks = [b for b in readme_blocks() if b[0] != "deploy"] + man_blocks("keyhole.8")
        kinds = [b[0] for b in blocks]
        self.assertGreaterEqual(kinds.count("serve"), 4, blocks)
        self.assertGreaterEqual(kinds.count("run"), 4, blocks)
        ran = []
        for kind, text, where in blocks:
            with self.subTest(where=where):
                self.assertNotRegex(text, r"\S\s+#", "%s: a comment inside a command "
                                    "ends it when pasted" % where)
                ran.append(where)
                if kind == "run":
                    self.run_block(text, where)
                elif kind == "serve":
                    self.serve_block(text, where)
                    self.up.requests.clear()
                else:
                    self.fail("%s: unknown doc-test kind %s" % (where, kind))
        if os.environ.get("KH_DOC_VERBOSE"):
            print("ran:", ran)

    def test_deployment_steps(self):
        """README's "Deploying it as a service", steps in order, against a
        scratch root; then the instance they made is what the unit reads."""
        root = os.path.join(self.dir, "root")
        os.makedirs(root)
        steps = [b for b in readme_blocks() if b[0] == "deploy"]
        self.assertEqual(len(steps), 5, steps)
        prefix = os.path.join(root, "usr", "local")
        for _, text, where in steps:
            with self.subTest(where=where):
                if "systemctl" in text:
                    p = subprocess.run(["bash", "-n", "-c", text], capture_output=True)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    continue
                lines = []
                for line in text.splitlines():
                    # The build that runs this test is step 1's configure
                    # and build; its install goes into the scratch root.
                    if line.startswith("cmake -S") or line.startswith("cmake --build"):
                        continue
                    lines.append(line.replace("cmake --install build",
                                              "cmake --install %s" % khtest.BUILD))
                script = "\n".join(lines).replace("/etc/keyhole", root + "/etc/keyhole") \
                    .replace("--prefix /usr/local", "--prefix " + prefix)
                p = subprocess.run(["bash", "-c", "set -e\n" + script], cwd=SRC,
                                   env=self.env(), capture_output=True, timeout=120)
                self.assertEqual(p.returncode, 0, "%s:\n%s\n%s" % (where, script,
                                                                 p.stderr.decode()))
        etc = os.path.join(root, "etc", "keyhole")
        for name in ("agent1.credential", "agent1.token"):
            st = os.stat(os.path.join(etc, name))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, name)
        with open(os.path.join(etc, "agent1.credential")) as f:
            self.assertEqual(f.read(), self.cred)
        with open(os.path.join(etc, "agent1.token")) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}$")
        conf = {}
        with open(os.path.join(etc, "agent1.conf")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                conf[k] = v
        self.assertEqual(set(conf), {"KEYHOLE_POLICY", "KEYHOLE_UPSTREAM", "KEYHOLE_OPTS"})
        policy = conf["KEYHOLE_POLICY"].replace("/usr/local", prefix)
        self.assertTrue(os.path.isfile(policy), policy)
        for unit in ("keyhole@.service", "keyhole@.socket"):
            self.assertTrue(os.path.isfile(os.path.join(prefix, "lib", "systemd", "system",
                                                        unit)), unit)
        # The installed keyhole checks the installed policy with the
        # instance's bindings, as the service will start it.
        rc, out, err = khtest.run_keyhole(["check-policy", policy, "--var", "issue=BRI-7"])
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    khtest.main()
