#!/usr/bin/env python3
"""End to end against a real Paperclip (paperclipai 2026.916.1 from npm,
started on loopback with its embedded PostgreSQL): the keyhole sandbox
provider installed with paperclip-plugin/install.sh as the README says, a
company, environments using it, claude_local agents whose "claude" is
paperclip_stub_agent.sh, and issues assigned to them.

  main run   the agent, in its sandbox, reads /api/agents/me, comments on
             its issue, tries to patch another issue, drops a request into
             Paperclip's bridge queue, tries Paperclip's port directly, and
             reports what it can see.  Checked through Paperclip's API, the
             keyhole log, the agent's report and /proc: the comment is
             there, the other issue untouched, keyhole logged the three
             decisions, the port was unreachable, no credential reached the
             sandbox, and after the run nothing of the lease is left.
  failures   a policy that does not compile (the run fails and its log
             says why), an agent exiting 3 (the run fails with exit 3), a
             run cancelled mid-way (sandbox and keyhole gone).

Needs root (the plugin builds sandboxes as root), bubblewrap, npm and the
registry the first time (scripts/install-paperclip.sh caches Node 24 and
paperclipai in build/paperclip).  The main run's Paperclip run log and
keyhole log are written to $KEYHOLE_BUILD/paperclip-e2e-last-run.txt."""

import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import khtest
import paperclip_server

HERE = os.path.dirname(os.path.abspath(__file__))
UID_BASE = 1500100000
UID_COUNT = 64
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
RUN_DONE = ("succeeded", "failed", "cancelled", "timed_out", "error")


def uids_in_use():
    """Live processes whose uid is one of this test's sandbox uids."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            st = khtest.proc_status(int(pid))
        except OSError:
            continue
        if st.get("State", "").startswith(("Z", "X")):
            continue
        uids = [int(u) for u in st.get("Uid", "").split()]
        if any(UID_BASE <= u < UID_BASE + UID_COUNT for u in uids):
            out.append((int(pid), st.get("Name")))
    return out


def holders_of(ns_link):
    """Processes (or their fds) still referring to namespace 'net:[N]'."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for p in glob.glob("/proc/%s/ns/net" % pid) + glob.glob("/proc/%s/fd/*" % pid):
            try:
                if os.readlink(p) == ns_link:
                    found.append(p)
            except OSError:
                pass
    return found


class PaperclipE2E(khtest.KeyholeTestCase):

    @classmethod
    def setUpClass(cls):
        khtest.require_root("the keyhole Paperclip plugin (sandboxes are built as root)")
        if shutil.which("bwrap") is None:
            raise AssertionError("bubblewrap is missing: run scripts/deps.sh")
        cls.keyhole_bin = khtest.binary("keyhole")
        node_bin, pc_dir = paperclip_server.install()
        cls.work = tempfile.mkdtemp(prefix="keyhole-pc-")
        os.chmod(cls.work, 0o755)
        cls.pc = paperclip_server.Paperclip(os.path.join(cls.work, "pc"), node_bin, pc_dir)
        if not os.environ.get("KH_PAPERCLIP_KEEP"):     # keep it to look at a failure
            cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cls.addClassCleanup(cls.kill_leftovers)
        cls.addClassCleanup(cls.pc.stop)
        t = time.monotonic()
        cls.pc.start()
        cls.startup_s = time.monotonic() - t
        cls.api = cls.pc.api
        cls.setup_plugin(pc_dir)
        cls.setup_company()

    @classmethod
    def kill_leftovers(cls):
        """After Paperclip stopped: nothing of a failed test may outlive it
        (sandboxes by their uids, keyholes by this test's paths)."""
        pids = [p for p, _ in uids_in_use()]
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(p, "rb") as f:
                    if cls.work.encode() in f.read():
                        pids.append(int(p.split("/")[2]))
            except (OSError, ValueError):
                pass
        for pid in pids:
            if pid != os.getpid():
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass

    # ---- setup ---------------------------------------------------------------

    @classmethod
    def setup_plugin(cls, pc_dir):
        w = cls.work
        cls.policies = os.path.join(w, "policies")
        os.makedirs(cls.policies)
        shutil.copy(khtest.PAPERCLIP_POLICY, cls.policies)
        shutil.copy(khtest.PAPERCLIP_POLICY, os.path.join(cls.policies, "flaky.policy"))
        agent_dir = os.path.join(w, "agent")
        os.makedirs(agent_dir, mode=0o755)
        cls.stub = os.path.join(agent_dir, "stub-claude")
        shutil.copy(os.path.join(HERE, "paperclip_stub_agent.sh"), cls.stub)
        os.chmod(cls.stub, 0o755)
        cls.plugin_dir = os.path.join(w, "plugin")
        cls.root_dir = os.path.join(w, "leases")
        # The README's command (the SDK from npm), with the build tree's
        # keyhole, the test's directories, and the paperclipai it installed.
        p = subprocess.run(
            ["bash", os.path.join(khtest.SRC, "paperclip-plugin", "install.sh"),
             "--dest", cls.plugin_dir, "--keyhole", cls.keyhole_bin, "--policy-dir", cls.policies,
             "--root-dir", cls.root_dir, "--ro-bind", agent_dir, "--uid-base", str(UID_BASE),
             "--paperclipai", cls.pc.cli(), "--", "--api-base", cls.pc.url],
            capture_output=True, text=True, timeout=300,
            env=dict(os.environ, PATH=cls.pc.node_bin + ":" + os.environ.get("PATH", "/usr/bin:/bin")))
        if p.returncode != 0:
            raise AssertionError("install.sh failed:\n%s%s" % (p.stdout, p.stderr))
        plugins = cls.api.get("/plugins")
        mine = [x for x in plugins if x.get("pluginKey") == "keyhole.sandbox"]
        assert mine and mine[0]["status"] == "ready", plugins

    @classmethod
    def setup_company(cls):
        api = cls.api
        cls.company = api.post("/companies", {"name": "Keyhole E2E"})
        cid = cls.company["id"]
        cls.env_main = api.post("/companies/%s/environments" % cid, {
            "name": "keyhole sandbox", "driver": "sandbox",
            "config": {"provider": "keyhole", "policy": "paperclip", "passEnv": ["STUB_*"]}})
        cls.env_flaky = api.post("/companies/%s/environments" % cid, {
            "name": "keyhole sandbox (flaky policy)", "driver": "sandbox",
            "config": {"provider": "keyhole", "policy": "flaky", "passEnv": ["STUB_*"]}})
        cls.other = api.post("/companies/%s/issues" % cid, {
            "title": "Other issue (must stay untouched)", "status": "todo"})

    def agent(self, name, env_id, mode):
        return self.api.post("/companies/%s/agents" % self.company["id"], {
            "name": name, "role": "engineer", "adapterType": "claude_local",
            "defaultEnvironmentId": env_id,
            "adapterConfig": {"command": self.stub, "engine": "cli", "timeoutSec": 120,
                              "env": {"STUB_MODE": mode, "STUB_OTHER_ISSUE": self.other["id"],
                                      "STUB_PAPERCLIP_PORT": str(self.pc.port)}},
            "runtimeConfig": {"heartbeat": {"enabled": False}}})

    def assign(self, agent, title):
        return self.api.post("/companies/%s/issues" % self.company["id"], {
            "title": title, "status": "todo", "assigneeAgentId": agent["id"]})

    def runs_of(self, agent):
        return [r for r in self.api.get("/companies/%s/heartbeat-runs" % self.company["id"])
                if r["agentId"] == agent["id"]]

    def wait_run(self, agent, statuses=RUN_DONE, timeout=120):
        def done():
            runs = self.runs_of(agent)
            fin = [r for r in runs if r["status"] in statuses]
            return fin[-1] if fin else None
        return khtest.wait_until(done, timeout, "a run of %s" % agent["name"], interval=0.5)

    def run_log(self, run):
        content = self.api.get("/heartbeat-runs/%s/log" % run["id"]).get("content") or ""
        out = []
        for line in content.splitlines():
            try:
                out.append(json.loads(line).get("chunk", ""))
            except ValueError:
                out.append(line)
        return "".join(out)

    def lease_of(self, run, env):
        leases = self.api.get("/environments/%s/leases" % env["id"])
        mine = [x for x in leases if x.get("heartbeatRunId") == run["id"]]
        self.assertTrue(mine, leases)
        return mine[0]

    def keyhole_log(self, lease):
        path = os.path.join(self.root_dir, "logs", "%s.keyhole.log" % lease["providerLeaseId"])
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]

    def assert_lease_gone(self, lease, netns=None):
        pid = lease["providerLeaseId"]
        khtest.wait_until(lambda: not os.path.exists(os.path.join(self.root_dir, "leases", pid)),
                          20, "lease directory %s removed" % pid)
        self.assertEqual(uids_in_use(), [], "processes of the sandbox uids left")
        self.assertEqual(os.listdir(os.path.join(self.root_dir, "uids")), [])
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(p, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            self.assertNotIn(self.root_dir.encode(), cmd, "a process of the lease is left: %s" % p)
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.root_dir, f.read())
        if netns:
            self.assertEqual(holders_of(netns), [], "the sandbox's network namespace is still held")

    def report(self, agent, name):
        path = os.path.join(self.pc.data, "instances", "default", "workspaces", agent["id"],
                            "keyhole-stub-report", name)
        with open(path, "rb") as f:
            return f.read()

    # ---- the main run ----------------------------------------------------------------

    def test_1_agent_run_through_keyhole(self):
        api = self.api
        agent = self.agent("Stub Agent", self.env_main["id"], "ok")
        issue = self.assign(agent, "Say hello")
        run = self.wait_run(agent)
        log = self.run_log(run)
        lease = self.lease_of(run, self.env_main)
        kh = self.keyhole_log(lease)
        with open(os.path.join(khtest.BUILD, "paperclip-e2e-last-run.txt"), "w") as f:
            f.write("run %s: %s (exit %s)\n\n== Paperclip run log (GET /api/heartbeat-runs/:id/log)\n%s\n"
                    "== keyhole log (%s.keyhole.log)\n%s\n" % (
                        run["id"], run["status"], run.get("exitCode"), log,
                        lease["providerLeaseId"], "\n".join(json.dumps(x) for x in kh)))
        self.assertEqual(run["status"], "succeeded", (run.get("error"), log[-3000:]))

        # Paperclip's view: the comment is the agent's, of this run; its
        # issue is done; the other issue is untouched.
        comments = api.get("/issues/%s/comments" % issue["id"])
        mine = [c for c in comments if c.get("authorAgentId") == agent["id"]
                and c.get("createdByRunId") == run["id"] and "stub agent was here" in c["body"]]
        self.assertEqual(len(mine), 1, comments)
        self.assertEqual(api.get("/issues/%s" % issue["id"])["status"], "done")
        other = api.get("/issues/%s" % self.other["id"])
        self.assertEqual(other["title"], self.other["title"])
        self.assertEqual(other["updatedAt"], self.other["updatedAt"])
        self.assertEqual(len(self.runs_of(agent)), 1)

        # keyhole's decisions, in its access log.
        reqs = [(x["method"], x["path"], x["status"], x["proc"]) for x in kh if x.get("event") == "request"]
        self.assertIn(("GET", "/api/agents/me", 200, "keyhole"), reqs)
        self.assertIn(("POST", "/api/issues/%s/comments" % issue["id"], 201, "keyhole"), reqs)
        self.assertIn(("PATCH", "/api/issues/%s" % self.other["id"], 403, "keyhole-net"), reqs)
        self.assertIn(("PATCH", "/api/issues/%s" % issue["id"], 200, "keyhole"), reqs)
        denied = [x for x in kh if x.get("status") == 403][0]
        self.assertEqual(denied["rule"], "Route not allowed: PATCH /api/issues/%s" % self.other["id"])
        started = [x["msg"] for x in kh if "policy accepted" in x.get("msg", "")]
        self.assertTrue(started and "issue=%s" % issue["id"] in started[0], started)

        # ... and in Paperclip's run log.
        self.assertIn("[keyhole] PATCH /api/issues/%s -> 403 (Route not allowed" % self.other["id"], log)
        self.assertIn("[keyhole] GET /api/agents/me -> 200", log)

        # The agent's own view.
        http = self.report(agent, "http.txt").decode()
        self.assertIn("GET /api/agents/me 200", http)
        self.assertIn("PATCH /api/issues/%s 403" % self.other["id"], http)
        direct = self.report(agent, "direct.txt").decode()
        self.assertIn("code=000 rc=7", direct)          # connection refused: nothing there
        netdev = self.report(agent, "netdev.txt").decode()
        self.assertEqual([l.split(":")[0].strip() for l in netdev.splitlines()[2:]], ["lo"])
        queue = self.report(agent, "queue.txt").decode()
        self.assertTrue(queue.startswith("unanswered"), queue)
        env = dict(l.split("=", 1) for l in self.report(agent, "env.txt").decode().splitlines() if "=" in l)
        self.assertEqual(env["PAPERCLIP_API_URL"], "http://127.0.0.1:4180")
        self.assertEqual(env["PAPERCLIP_TASK_ID"], issue["id"])
        self.assertEqual(env["PAPERCLIP_RUN_ID"], run["id"])
        self.assertRegex(env["PAPERCLIP_API_KEY"], r"^[0-9a-f]{64}$")

        # No credential in the sandbox: environment, processes, files.
        environs = self.report(agent, "env.txt") + self.report(agent, "proc.txt")
        seen = environs + self.report(agent, "files.txt")
        self.assertGreater(len(self.report(agent, "files.txt")), 10000)   # it did read the workspace
        m = JWT.search(seen)
        self.assertIsNone(m, "a JWT inside the sandbox: %r" % (seen[max(0, m.start() - 200):m.end()] if m else b""))
        # Paperclip's MCP configuration came with the run's JWT: removed.
        self.assertIn(b"keyhole-removed-a-token", self.report(agent, "files.txt"))
        secrets = self.pc.secret_values()
        self.assertIn("PAPERCLIP_AGENT_JWT_SECRET", secrets)
        for name, value in secrets.items():
            self.assertFalse(value.encode() in seen, "%s inside the sandbox" % name)
        for name in (b"PAPERCLIP_AGENT_JWT_SECRET", b"PAPERCLIP_BRIDGE_TOKEN", b"PAPERCLIP_GITHUB_BROKER_TOKEN",
                     b"PAPERCLIP_SECRETS_MASTER_KEY_FILE", b"KEYHOLE_CREDENTIAL"):
            self.assertFalse(name in environs, "%s in an environment inside the sandbox" % name.decode())
        procs = self.report(agent, "proc.txt").decode()
        self.assertNotIn("keyhole serve", procs)
        self.assertNotIn("paperclipai", procs)

        # Nothing of the lease is left.
        self.assert_lease_gone(lease, self.report(agent, "netns.txt").decode().strip())

    # ---- failure paths ---------------------------------------------------------------

    def test_2_policy_that_does_not_compile_fails_the_run(self):
        with open(os.path.join(self.policies, "flaky.policy"), "w") as f:
            f.write("allow GET /api/agents/me\nallow FROB /x\n")
        try:
            agent = self.agent("Flaky Policy Agent", self.env_flaky["id"], "ok")
            self.assign(agent, "Never starts")
            run = self.wait_run(agent)
            log = self.run_log(run)
            with open(os.path.join(khtest.BUILD, "paperclip-e2e-bad-policy-run.txt"), "w") as f:
                f.write("run %s: %s (exit %s, error %r)\n\n== Paperclip run log\n%s\n" % (
                    run["id"], run["status"], run.get("exitCode"), run.get("error"), log))
            self.assertEqual(run["status"], "failed", run)
            self.assertIn("keyhole failed to start", log + str(run.get("error")))
            self.assertIn("flaky.policy", log + str(run.get("error")))
            self.assert_lease_gone(self.lease_of(run, self.env_flaky))
        finally:
            shutil.copy(khtest.PAPERCLIP_POLICY, os.path.join(self.policies, "flaky.policy"))

    def test_3_agent_exiting_nonzero_fails_the_run(self):
        agent = self.agent("Failing Agent", self.env_main["id"], "fail")
        self.assign(agent, "Fail on purpose")
        run = self.wait_run(agent)
        self.assertEqual(run["status"], "failed", run)
        self.assertEqual(run.get("exitCode"), 3, run)
        self.assertIn("failing on purpose", self.run_log(run))
        self.assert_lease_gone(self.lease_of(run, self.env_main))

    def test_4_cancelled_run_leaves_nothing(self):
        agent = self.agent("Hanging Agent", self.env_main["id"], "hang")
        self.assign(agent, "Hang until cancelled")
        run = self.wait_run(agent, statuses=("running",), timeout=60)
        lease = khtest.wait_until(lambda: [x for x in self.api.get("/environments/%s/leases" % self.env_main["id"])
                                           if x.get("heartbeatRunId") == run["id"]], 30, "the run's lease",
                                  interval=0.5)[0]
        # The agent is in its sandbox and has reached Paperclip through keyhole.
        khtest.wait_until(lambda: os.path.exists(os.path.join(
            self.root_dir, "logs", "%s.keyhole.log" % lease["providerLeaseId"])) and any(
            x.get("path") == "/api/agents/me" for x in self.keyhole_log(lease)), 60, "the agent's first call",
            interval=0.2)
        self.assertTrue(uids_in_use())
        self.api.post("/heartbeat-runs/%s/cancel" % run["id"], {})
        run = self.wait_run(agent, timeout=60)
        self.assertEqual(run["status"], "cancelled", run)
        self.assert_lease_gone(lease)


if __name__ == "__main__":
    khtest.main()
