#!/usr/bin/env python3
"""keyhole-gateway among other users of the sandbox.

The gateway holds the bridge token and writes every request body to a
file.  Another user in the same sandbox must not read the token (from
/proc/PID/environ, or by attaching to a dumpable process), read a body
(files 0600 in 0700 directories), or prepare the queue directory for the
gateway to use (it must be the gateway's own, or root's); and nothing
planted at a name the gateway writes (ready.json's temporary file) may be
followed or truncated."""

import os
import shutil
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
import khuser  # noqa: E402
from khqueue import Gateway, QueueDir  # noqa: E402

PRECIOUS = b"precious root-owned content\n"
OTHER_UID = 12345


def gateway_argv():
    return [khtest.binary("keyhole-gateway")]


class GatewayHardeningTest(khtest.KeyholeTestCase):

    def fresh_queue(self, parent_mode=0o755):
        """A QueueDir whose directory does not exist yet."""
        parent = khtest.make_tempdir(self)
        os.chmod(parent, parent_mode)
        q = QueueDir(self, path=os.path.join(parent, "q"))
        os.rmdir(q.path)
        return q

    def test_gateway_token_not_in_its_environ_or_cmdline(self):
        q = self.fresh_queue()
        token = khtest.new_token()
        gw = Gateway(self, gateway_argv(), q, token)
        for name in ("environ", "cmdline"):
            with open("/proc/%d/%s" % (gw.proc.pid, name), "rb") as f:
                data = f.read()
            self.assertNotIn(token.encode(), data, "token in /proc/PID/%s" % name)
        # it still checks the token
        self.assertEqual(gw.request("GET", "/x", token="wrong" * 8).status, 401)

    def test_gateway_is_not_dumpable(self):
        # A non-dumpable process's /proc/PID files (all but the directory
        # itself) belong to root whatever its uid: other processes of its
        # uid cannot ptrace it or read its memory or environment.  Run the
        # gateway as nobody to see the difference.
        khtest.require_root("running the gateway as another user")
        q = QueueDir(self, path=os.path.join(khuser.user_dir(self, mode=0o755), "q"))
        khuser.chown_tree(q.path)
        gw = Gateway(self, khuser.as_user(gateway_argv()), q, khtest.new_token())
        st = khtest.proc_status(gw.proc.pid)
        self.assertEqual(st["Uid"].split()[0], str(khuser.NOBODY))
        for name in ("environ", "mem", "status"):
            self.assertEqual(os.stat("/proc/%d/%s" % (gw.proc.pid, name)).st_uid, 0,
                             "keyhole-gateway is dumpable (/proc/PID/%s belongs to its "
                             "uid)" % name)

    def test_gateway_creates_private_directories_and_request_files(self):
        q = self.fresh_queue()
        gw = Gateway(self, gateway_argv(), q, khtest.new_token(),
                     env={"PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "3000"})
        for sub in ("", "requests", "responses", "logs"):
            self.assertEqual(khtest.file_mode(q.sub(sub)), 0o700, "%s/ mode" % (sub or "queue"))
        got = {}

        def send():
            got["r"] = gw.request("POST", "/api/issues/1/comments", body=b'{"body":"secret"}')
        t = threading.Thread(target=send, daemon=True)
        t.start()

        def request_file():
            names = [n for n in os.listdir(q.sub("requests")) if n.endswith(".json")]
            return names[0] if names else None
        name = khtest.wait_until(request_file, 5, "the gateway's request file")
        self.assertEqual(khtest.file_mode(q.sub("requests", name)), 0o600)
        t.join(10)
        self.assertEqual(got["r"].status, 409)      # nobody answered a POST

    def test_root_gateway_gives_request_files_to_the_owner_of_requests(self):
        # The host side (keyhole's child, a different uid) must read what
        # a root gateway writes, 0600: the file belongs to requests/'s owner.
        khtest.require_root("a root gateway")
        q = QueueDir(self)
        for sub in ("requests", "responses"):
            os.mkdir(q.sub(sub), 0o700)
            os.chown(q.sub(sub), khuser.NOBODY, khuser.NOGROUP)
        gw = Gateway(self, gateway_argv(), q, khtest.new_token(),
                     env={"PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS": "2000"})
        t = threading.Thread(target=lambda: gw.request("GET", "/api/agents/me"), daemon=True)
        t.start()

        def request_file():
            names = [n for n in os.listdir(q.sub("requests")) if n.endswith(".json")]
            return names[0] if names else None
        name = khtest.wait_until(request_file, 5, "the gateway's request file")
        st = os.stat(q.sub("requests", name))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (khuser.NOBODY, 0o600))
        t.join(10)

    def test_gateway_refuses_a_queue_directory_someone_else_controls(self):
        khtest.require_root("directories owned by another user")
        cases = [("owned by another user", OTHER_UID, 0o755, ""),
                 ("writable by everyone", 0, 0o777, ""),
                 ("requests/ writable by everyone", 0, 0o777, "requests")]
        for what, owner, mode, sub in cases:
            with self.subTest(what=what):
                q = QueueDir(self)
                target = q.sub(sub) if sub else q.path
                if sub:
                    os.mkdir(target)
                os.chown(target, owner, owner)
                os.chmod(target, mode)
                gw = Gateway(self, gateway_argv(), q, khtest.new_token(), wait=False)
                try:
                    rc = gw.proc.wait(10)
                except Exception:
                    rc = None
                self.assertNotIn(rc, (None, 0), "gateway accepted a queue directory %s:\n%s"
                                 % (what, gw.log()))
                self.assertIn(q.path, gw.log())
                self.assertFalse(os.path.exists(q.sub("ready.json")))

    def test_gateway_ready_file_never_written_through_a_planted_name(self):
        for kind in ("hardlink", "symlink"):
            with self.subTest(kind=kind):
                q = QueueDir(self)
                os.chmod(q.path, 0o700)
                precious = os.path.join(khtest.make_tempdir(self), "precious")
                with open(precious, "wb") as f:
                    f.write(PRECIOUS)
                planted = q.sub("ready.json.tmp")
                if kind == "hardlink":
                    os.link(precious, planted)
                else:
                    os.symlink(precious, planted)
                gw = Gateway(self, gateway_argv(), q, khtest.new_token())
                self.assertTrue(gw.port)
                with open(precious, "rb") as f:
                    self.assertEqual(f.read(), PRECIOUS)
                self.assertTrue(stat.S_ISREG(os.lstat(q.sub("ready.json")).st_mode))


if __name__ == "__main__":
    khtest.main()
