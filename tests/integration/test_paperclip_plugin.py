#!/usr/bin/env python3
"""The keyhole Paperclip plugin's hooks (paperclip-plugin/lib/hooks.js),
driven directly as Paperclip's server drives them, without Paperclip
(paperclip_plugin_driver.mjs), against the real keyhole and a recording
upstream: the sandbox's isolation, what enters it, the credential and the
run binding, Paperclip's bridge execs, and the lease lifecycle (release,
cancel, resume after a worker restart, expiry).  test_paperclip_e2e.py
runs the same plugin under a real Paperclip.

Needs root and bubblewrap; node from scripts/deps.sh (the hooks do not
import Paperclip's SDK)."""

import base64
import glob
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import khtest

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(khtest.SRC, "paperclip-plugin")
UID_BASE = 1500200000
UID_COUNT = 32
PORT = 4180


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def run_jwt(run="run-1", agent="agent-1", company="co-1", exp=None):
    claims = {"sub": agent, "company_id": company, "run_id": run, "iss": "paperclip",
              "aud": "paperclip-api", "exp": exp if exp is not None else int(time.time()) + 3600}
    return b64url({"alg": "HS256", "typ": "JWT"}) + "." + b64url(claims) + ".c2lnbmF0dXJlLW9mLXRoZS1ydW4"


def uid_procs():
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
        if any(UID_BASE <= int(u) < UID_BASE + UID_COUNT for u in st.get("Uid", "").split()):
            out.append(int(pid))
    return out


def own_procs(path):
    """keyhole processes whose command line names path (this test's)."""
    out = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if path.encode() in cmd and b"serve\0" in cmd:
            out.append(int(p.split("/")[2]))
    return out


class Driver:
    """One plugin worker: the hooks in a node process."""

    def __init__(self, tc, host_json):
        node = shutil.which("node")
        if node is None:
            raise AssertionError("node is missing: run scripts/deps.sh")
        self.errlog = tempfile.TemporaryFile()
        self.p = subprocess.Popen([node, os.path.join(HERE, "paperclip_plugin_driver.mjs"), PLUGIN, host_json],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        self.lock = threading.Lock()
        self.answers = {}
        self.cv = threading.Condition()
        self.n = 0
        threading.Thread(target=self._reader, daemon=True).start()
        tc.addCleanup(self.close)
        self.wait(0, 20)

    def _reader(self):
        for line in self.p.stdout:
            try:
                a = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.answers[a["id"]] = a
                self.cv.notify_all()

    def send(self, hook, params):
        with self.lock:
            self.n += 1
            n = self.n
            self.p.stdin.write(json.dumps({"id": n, "hook": hook, "params": params}) + "\n")
            self.p.stdin.flush()
        return n

    def wait(self, n, timeout=30):
        with self.cv:
            ok = self.cv.wait_for(lambda: n in self.answers, timeout)
            if not ok:
                raise AssertionError("no answer to call %d in %d s; plugin log:\n%s" % (n, timeout, self.stderr()))
            return self.answers.pop(n)

    def call(self, hook, params, timeout=30):
        a = self.wait(self.send(hook, params), timeout)
        if not a["ok"]:
            raise AssertionError("%s failed: %s" % (hook, a["error"]))
        return a["result"]

    def error(self, hook, params):
        a = self.wait(self.send(hook, params))
        if a["ok"]:
            raise AssertionError("%s succeeded: %r" % (hook, a["result"]))
        return a["error"]

    def stderr(self):
        self.errlog.seek(0)
        return self.errlog.read().decode("utf-8", "replace")

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        self.errlog.close()


class PluginTest(khtest.KeyholeTestCase):

    def setUp(self):
        khtest.require_root("the keyhole Paperclip plugin")
        if shutil.which("bwrap") is None:
            raise AssertionError("bubblewrap is missing: run scripts/deps.sh")
        self.dir = khtest.make_tempdir(self)
        os.chmod(self.dir, 0o755)
        self.root = os.path.join(self.dir, "root")
        self.policies = os.path.join(self.dir, "policies")
        os.makedirs(self.policies)
        shutil.copy(khtest.PAPERCLIP_POLICY, self.policies)
        self.host_json = os.path.join(self.dir, "cfg", "host.json")
        self.write_host()
        self.up = self.upstream()
        self.d = Driver(self, self.host_json)
        self.addCleanup(self.cleanup_leases)

    def write_host(self, **kw):
        os.makedirs(os.path.dirname(self.host_json), mode=0o755, exist_ok=True)
        cfg = {"keyhole": khtest.binary("keyhole"), "policyDir": self.policies, "rootDir": self.root,
               "uidBase": UID_BASE, "uidCount": UID_COUNT}
        cfg.update(kw)
        with open(self.host_json, "w") as f:
            json.dump(cfg, f)
        os.chmod(self.host_json, 0o644)

    def cleanup_leases(self):
        # A worker of its own: the test's may be closed by now.
        d = Driver(self, self.host_json)
        for st in glob.glob(os.path.join(self.root, "leases", "*", "host", "state.json")):
            d.call("destroy", {"providerLeaseId": st.split("/")[-3]})
        d.close()
        try:
            khtest.wait_until(lambda: not uid_procs() and not own_procs(self.dir), 10, "sandbox processes gone")
        finally:
            # Whatever a failed test left (sandboxes, keyholes) must not
            # outlive it: killed by pid, found by uid or by this test's paths.
            for pid in uid_procs() + own_procs(self.dir):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass

    # ---- helpers ------------------------------------------------------------------

    def acquire(self, run="run-1", issue="issue-1", config=None, d=None, workspace=None):
        lease = (d or self.d).call("acquire", {
            "driverKey": "keyhole", "companyId": "co-1", "environmentId": "env-1", "issueId": issue,
            "config": config or {"passEnv": ["STUB_*"]}, "runId": run, "agentId": "agent-1",
            "adapterType": "claude_local", "executionWorkspaceId": workspace})
        self.assertRegex(lease["providerLeaseId"], r"^[0-9a-f-]{36}$")
        return lease

    def sh(self, lease, script, env=None, stdin=None, timeout_ms=20000, d=None, cwd="/workspace"):
        params = {"driverKey": "keyhole", "companyId": "co-1", "environmentId": "env-1",
                  "lease": {"providerLeaseId": lease["providerLeaseId"], "metadata": lease.get("metadata", {})},
                  "config": {}, "command": "sh", "args": ["-c", script], "cwd": cwd,
                  "env": env or {}, "timeoutMs": timeout_ms}
        if stdin is not None:
            params["stdin"] = stdin
        return (d or self.d).call("execute", params, timeout=timeout_ms / 1000 + 30)

    def state(self, lease):
        with open(os.path.join(self.root, "leases", lease["providerLeaseId"], "host", "state.json")) as f:
            return json.load(f)

    def keyhole_log(self, lease):
        path = os.path.join(self.root, "logs", "%s.keyhole.log" % lease["providerLeaseId"])
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]

    def start_run(self, lease, run="run-1", issue="issue-1", jwt=None):
        """What Paperclip does before the agent command: the command -v
        probe with the server's environment and the run's JWT, then the
        bridge launch.  Returns the JWT."""
        jwt = jwt or run_jwt(run)
        r = self.sh(lease, "command -v sh", env={
            "PAPERCLIP_API_KEY": jwt, "PAPERCLIP_API_URL": self.up.url, "PAPERCLIP_RUN_ID": run,
            "PAPERCLIP_TASK_ID": issue, "PAPERCLIP_AGENT_JWT_SECRET": "jwt-signing-secret-" + "x" * 40,
            "PAPERCLIP_GITHUB_BROKER_TOKEN": run_jwt(run), "HOSTILE_PASSWORD": "hunter2"})
        self.assertEqual(r["exitCode"], 0, r)
        r = self.sh(lease, "nohup node bridge.mjs &", env={
            "PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge", "PAPERCLIP_API_BRIDGE_MODE": "queue_v1",
            "PAPERCLIP_BRIDGE_QUEUE_DIR": "/workspace/.paperclip-runtime/claude/paperclip-bridge/queue",
            "PAPERCLIP_BRIDGE_TOKEN": "paperclips-own-bridge-token-0123"})
        self.assertEqual((r["exitCode"], r["stdout"]), (0, '{"pid":0}\n'), r)
        return jwt

    def agent_env(self, run="run-1", issue="issue-1", **extra):
        env = {"PAPERCLIP_API_URL": "http://127.0.0.1:%d" % PORT,
               "PAPERCLIP_API_KEY": "paperclips-own-bridge-token-0123", "PAPERCLIP_RUN_ID": run,
               "PAPERCLIP_TASK_ID": issue, "PAPERCLIP_AGENT_ID": "agent-1",
               "PAPERCLIP_GITHUB_BROKER_URL": self.up.url, "PAPERCLIP_GITHUB_BROKER_TOKEN": run_jwt(run),
               "STUB_MODE": "ok", "OTHER_VAR": "not passed"}
        env.update(extra)
        return env

    def curl(self, method, path, body=None):
        cmd = 'curl -s -o /dev/null -w "%%{http_code}" -X %s -H "Authorization: Bearer $PAPERCLIP_API_KEY" ' % method
        if body is not None:
            cmd += "-H 'Content-Type: application/json' --data-binary '%s' " % body
        return cmd + '"$PAPERCLIP_API_URL%s"; echo' % path

    def assert_nothing_left(self, lease, netns=None):
        lid = lease["providerLeaseId"]
        self.assertFalse(os.path.exists(os.path.join(self.root, "leases", lid)))
        self.assertEqual(uid_procs(), [])
        self.assertEqual(os.listdir(os.path.join(self.root, "uids")), [])
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.root, f.read())
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(p, "rb") as f:
                    self.assertNotIn(self.root.encode(), f.read(), p)
            except OSError:
                pass
        if netns:
            held = []
            for p in glob.glob("/proc/[0-9]*/ns/net") + glob.glob("/proc/[0-9]*/fd/*"):
                try:
                    if os.readlink(p) == netns:
                        held.append(p)
                except OSError:
                    pass
            self.assertEqual(held, [])

    # ---- the sandbox -------------------------------------------------------------------

    def test_sandbox_is_isolated(self):
        lease = self.acquire()
        self.assertEqual(lease["metadata"]["remoteCwd"], "/workspace")
        r = self.sh(lease, "id -u; id -G; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status; "
                           "sed -n '3,$p' /proc/net/dev | cut -d: -f1; ls /proc | grep -c '^[0-9]'; pwd; "
                           "echo w > /workspace/f && echo written; ls /root /etc/shadow " + self.root + " 2>&1; "
                           "unshare -U true 2>&1 || echo no-userns; curl -sS -m 3 " + self.up.url + " 2>&1; "
                           "echo rc=$?")
        out = r["stdout"].split("\n")
        uid = int(out[0])
        self.assertTrue(UID_BASE <= uid < UID_BASE + UID_COUNT, out)
        self.assertEqual(out[1], str(uid))                       # no supplementary group
        self.assertIn("CapPrm:\t0000000000000000", out)
        self.assertIn("CapEff:\t0000000000000000", out)
        self.assertIn("NoNewPrivs:\t1", out)
        self.assertEqual(out[5].strip(), "lo")                   # loopback only
        self.assertLessEqual(int(out[6]), 6, out)                # its own pid namespace
        self.assertEqual(out[7], "/workspace")
        self.assertEqual(out[8], "written")
        text = r["stdout"]
        self.assertIn("/root': No such file", text)
        self.assertIn("/etc/shadow': No such file", text)
        self.assertIn("%s': No such file" % self.root, text)
        self.assertIn("no-userns", text)
        self.assertIn("rc=7", text)                               # the host's upstream is unreachable
        self.up.assert_nothing(self)
        # the workspace is the lease's own, owned by its uid
        st = os.stat(os.path.join(self.root, "leases", lease["providerLeaseId"], "workspace", "f"))
        self.assertEqual(st.st_uid, uid)

    def test_two_leases_cannot_see_each_other(self):
        a = self.acquire(run="run-a")
        b = self.acquire(run="run-b")
        ra = self.sh(a, "id -u; readlink /proc/self/ns/net; sleep 30 & echo $!")
        rb = self.sh(b, "id -u; readlink /proc/self/ns/net; ls /proc | grep -c '^[0-9]'; kill -0 %s 2>&1; echo rc=$?"
                     % ra["stdout"].split()[2])
        self.assertNotEqual(ra["stdout"].split()[0], rb["stdout"].split()[0])   # uids
        self.assertNotEqual(ra["stdout"].split()[1], rb["stdout"].split()[1])   # network namespaces
        self.assertIn("rc=1", rb["stdout"])

    # ---- what enters the sandbox, the credential, keyhole ---------------------------------

    def test_agent_reaches_paperclip_only_through_its_keyhole(self):
        lease = self.acquire()
        jwt = self.start_run(lease)
        ready = self.sh(lease, "cat /workspace/.paperclip-runtime/claude/paperclip-bridge/queue/ready.json")
        self.assertEqual(json.loads(ready["stdout"])["baseUrl"], "http://127.0.0.1:%d" % PORT)
        script = "; ".join([
            "env | sort > /tmp/env", "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline > /tmp/proc 2>/dev/null",
            self.curl("GET", "/api/agents/me"),
            self.curl("POST", "/api/issues/issue-1/comments", '{"body":"hi"}'),
            self.curl("PATCH", "/api/issues/issue-2", '{"title":"x"}'),
            "curl -sS -m 3 %s/api/agents/me >/dev/null 2>&1; echo direct=$?" % self.up.url,
            "cat /tmp/env; grep -c . /tmp/proc"])
        r = self.sh(lease, script, env=self.agent_env())
        out = r["stdout"].split("\n")
        self.assertEqual(out[:4], ["200", "200", "403", "direct=7"], r)
        env = dict(x.split("=", 1) for x in out[4:] if "=" in x)
        self.assertEqual(env["PAPERCLIP_API_URL"], "http://127.0.0.1:%d" % PORT)
        self.assertRegex(env["PAPERCLIP_API_KEY"], "^[0-9a-f]{64}$")   # keyhole's token, not Paperclip's
        self.assertEqual((env["PAPERCLIP_RUN_ID"], env["PAPERCLIP_TASK_ID"], env["STUB_MODE"]),
                         ("run-1", "issue-1", "ok"))
        for gone in ("OTHER_VAR", "PAPERCLIP_GITHUB_BROKER_URL", "PAPERCLIP_GITHUB_BROKER_TOKEN",
                     "PAPERCLIP_BRIDGE_TOKEN", "PAPERCLIP_AGENT_JWT_SECRET"):
            self.assertNotIn(gone, env)
        self.assertNotIn(jwt, r["stdout"])
        self.assertNotIn("paperclips-own-bridge-token", r["stdout"])
        # Upstream: the run's JWT and run id, the issue's comment, and not
        # the other issue's patch.
        recs = self.up.wait_requests(2)
        self.assertEqual([(x.method, x.path) for x in recs],
                         [("GET", "/api/agents/me"), ("POST", "/api/issues/issue-1/comments")])
        for x in recs:
            self.assertEqual(x.all("authorization"), ["Bearer " + jwt])
            self.assertEqual(x.header("x-paperclip-run-id"), "run-1")
        time.sleep(0.3)
        self.assertEqual(len(self.up.snapshot()), 2)
        log = self.keyhole_log(lease)
        denied = [x for x in log if x.get("status") == 403]
        self.assertEqual(denied[0]["path"], "/api/issues/issue-2")
        # The whole sandbox, files included, holds neither secret.
        r = self.sh(lease, "grep -rl -e '%s' -e jwt-signing-secret -e hunter2 -e paperclips-own "
                           "/workspace /tmp /home /etc /run 2>/dev/null; echo done" % jwt[:40])
        self.assertEqual(r["stdout"], "done\n")

    def test_exec_with_another_runs_token_is_refused(self):
        lease = self.acquire()
        r = self.sh(lease, "echo ran", env={"PAPERCLIP_API_KEY": run_jwt("run-2"), "PAPERCLIP_RUN_ID": "run-1"})
        self.assertEqual((r["exitCode"], r["stdout"]), (1, ""))
        self.assertIn("credential not of this run", r["stderr"])
        r = self.sh(lease, "echo ran", env={"PAPERCLIP_API_KEY": run_jwt(agent="agent-9"), "PAPERCLIP_RUN_ID": "run-1"})
        self.assertIn("issued to agent agent-9", r["stderr"])
        r = self.sh(lease, "echo ran", env={"PAPERCLIP_API_KEY": run_jwt(exp=int(time.time()) - 5)})
        self.assertIn("expired", r["stderr"])

    def test_agent_is_not_started_without_its_keyhole(self):
        lease = self.acquire()
        r = self.sh(lease, "echo agent ran", env=self.agent_env())
        self.assertEqual((r["exitCode"], r["stdout"]), (1, ""), r)
        self.assertIn("did not hand the plugin run run-1's credential", r["stderr"])
        self.start_run(lease, issue="issue-1")
        r = self.sh(lease, "echo agent ran", env=self.agent_env(issue="issue-9"))
        self.assertEqual(r["exitCode"], 1, r)
        self.assertIn("not the issue issue-1 the lease was acquired for", r["stderr"])

    def test_policy_that_does_not_compile(self):
        shutil.copy(khtest.PAPERCLIP_POLICY, os.path.join(self.policies, "flaky.policy"))
        self.assertTrue(self.d.call("validateConfig", {"driverKey": "keyhole", "config": {"policy": "flaky"}})["ok"])
        with open(os.path.join(self.policies, "flaky.policy"), "w") as f:
            f.write("allow FROB /x\n")
        v = self.d.call("validateConfig", {"driverKey": "keyhole", "config": {"policy": "flaky"}})
        self.assertFalse(v["ok"])
        self.assertIn("does not compile", v["errors"][0])
        for bad in ("../paperclip", "nope", "Paperclip", ""):
            v = self.d.call("validateConfig", {"driverKey": "keyhole", "config": {"policy": bad}})
            self.assertFalse(v["ok"], bad)
        lease = self.acquire(config={"policy": "flaky"})
        self.start_run(lease)
        r = self.sh(lease, "echo agent ran", env=self.agent_env())
        self.assertEqual((r["exitCode"], r["stdout"]), (1, ""), r)
        self.assertIn("keyhole failed to start", r["stderr"])
        self.assertIn("flaky.policy", r["stderr"])
        self.up.assert_nothing(self)

    # ---- Paperclip's bridge ------------------------------------------------------------

    def test_paperclips_bridge_is_neutralised(self):
        lease = self.acquire()
        self.start_run(lease)
        q = "/workspace/.paperclip-runtime/claude/paperclip-bridge/queue"
        bridge = {"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge"}
        # a request file the agent dropped in Paperclip's queue
        self.sh(lease, "echo '{\"id\":\"x\",\"method\":\"PATCH\",\"path\":\"/api/issues/issue-2\"}' > %s/requests/x.json" % q)
        poll = ("if [ -d '%s/requests' ]; then\n  for file in '%s/requests'/*.json; do\n"
                "    [ -f \"$file\" ] || continue\n    basename \"$file\"\n  done\nfi" % (q, q))
        r = self.sh(lease, poll, env=bridge)
        self.assertEqual((r["exitCode"], r["stdout"]), (0, ""))          # "no request"
        self.assertEqual(self.sh(lease, poll)["stdout"], "x.json\n")      # (it is there)
        for script in ("wc -c < '%s/requests/x.json'" % q, "head -c 10 '%s/requests/x.json' | base64" % q,
                       "rm -f '%s/requests/x.json'" % q, "printf '%%s' \"$(cat)\" > '%s/responses/x.json'" % q,
                       "id; env"):
            r = self.sh(lease, script, env=bridge)
            self.assertEqual(r["exitCode"], 1, (script, r))
            self.assertIn("in-sandbox bridge is disabled", r["stderr"])
            self.assertEqual(r["stdout"], "")
        # Paperclip's own file plumbing runs (in the sandbox)
        r = self.sh(lease, "mkdir -p '%s/logs' '%s/x'" % (q, q), env=bridge)
        self.assertEqual(r["exitCode"], 0, r)
        r = self.sh(lease, "printf '%s\\n' '__PAPERCLIP_RUN_LOG_STDOUT__'\necho tail; id -u", env=bridge)
        self.assertEqual(r["exitCode"], 0, r)
        self.assertTrue(UID_BASE <= int(r["stdout"].split()[-1]) < UID_BASE + UID_COUNT)
        r = self.sh(lease, "if [ -s '%s/server.pid' ]; then\n  pid=x\n  kill \"$pid\"\nfi" % q, env=bridge)
        self.assertEqual(r["exitCode"], 0, r)
        self.up.assert_nothing(self)

    def test_tokens_never_enter_on_stdin(self):
        # claude_local uploads its MCP configuration, holding the run's JWT,
        # as base64 chunks appended to a staging file, then moves it into
        # place.  Here the token is cut by the chunk boundary.
        lease = self.acquire()
        jwt = run_jwt()
        doc = ('{"mcpServers":{"paperclip":{"headers":{"Authorization":"Bearer %s"}}}}\n' % jwt).encode()
        cut = doc.index(b"eyJ") + 40
        staging = "/workspace/.paperclip-runtime/claude/mcp.json.paperclip-upload.1234"
        self.assertEqual(self.sh(lease, "mkdir -p /workspace/.paperclip-runtime/claude && : > '%s'" % staging,
                                 cwd="/")["exitCode"], 0)
        for part in (doc[:cut], doc[cut:]):
            r = self.sh(lease, "base64 -d >> '%s'" % staging, stdin=base64.b64encode(part).decode(), cwd="/")
            self.assertEqual(r["exitCode"], 0, r)
        r = self.sh(lease, "mv -f '%s' /workspace/mcp.json && cat /workspace/mcp.json" % staging, cwd="/")
        self.assertEqual(r["exitCode"], 0, r)
        got = r["stdout"].encode()
        self.assertEqual(len(got), len(doc))                 # same size: archives stay valid
        self.assertNotIn(jwt[:40].encode(), got)
        self.assertIn(b"keyhole-removed-a-token", got)
        self.assertEqual(json.loads(got)["mcpServers"]["paperclip"]["headers"]["Authorization"][:7], "Bearer ")
        # and on any other exec's stdin (the agent's prompt)
        r = self.sh(lease, "cat", stdin="prompt with a token %s in it" % jwt)
        self.assertNotIn(jwt[:40], r["stdout"])
        self.assertIn("prompt with a token keyhole-removed-a-token", r["stdout"])

    # ---- lifecycle ------------------------------------------------------------------

    def test_cancelled_run_ends_its_sandbox(self):
        # Paperclip's agent.run.cancelled event: it does not stop the exec in
        # flight itself, and releases only after that returns.
        lease = self.acquire()
        other = self.acquire(run="run-9")
        self.start_run(lease)
        n = self.d.send("execute", {"lease": {"providerLeaseId": lease["providerLeaseId"]}, "command": "sh",
                                    "args": ["-c", self.curl("GET", "/api/agents/me") + "; sleep 300"],
                                    "env": self.agent_env(), "timeoutMs": 300000})
        khtest.wait_until(lambda: self.up.count() == 1, 10, "the agent's request")
        kh = self.state(lease)["keyhole"]
        self.assertEqual(self.d.call("runCancelled", "run-1"), 1)
        a = self.d.wait(n, 10)
        self.assertNotEqual(a["result"]["exitCode"], 0)
        self.assertFalse(khtest.pid_alive(kh["keyholePid"]))
        self.assertFalse(os.path.exists(os.path.join(self.root, "leases", lease["providerLeaseId"])))
        self.assertEqual(self.sh(other, "echo alive")["stdout"], "alive\n")   # another run's lease lives
        self.assertEqual(self.d.call("release", {"providerLeaseId": lease["providerLeaseId"],
                                                 "cancelActiveWork": True})["state"], "destroyed")

    def test_worker_start_ends_orphaned_leases(self):
        once = self.acquire(run="run-1")
        kept = self.acquire(run="run-2", config={"reuseLease": True}, workspace="ews-1")
        # reusable in name only: Paperclip never resumes a lease without an
        # execution workspace
        idle = self.acquire(run="run-3", config={"reuseLease": True})
        self.d.close()                      # Paperclip (and the worker) restart
        self.d = Driver(self, self.host_json)
        self.assertEqual(self.d.call("sweep", {"orphans": True}), 2)
        for gone in (once, idle):
            self.assertFalse(os.path.exists(os.path.join(self.root, "leases", gone["providerLeaseId"])))
        self.assertEqual(self.sh(kept, "echo alive")["stdout"], "alive\n")


    def test_release_leaves_nothing(self):
        lease = self.acquire()
        self.start_run(lease)
        r = self.sh(lease, "(sleep 300 &) ; nohup sleep 301 >/dev/null 2>&1 & readlink /proc/self/ns/net; "
                           + self.curl("GET", "/api/agents/me"), env=self.agent_env())
        netns, code = r["stdout"].split()
        self.assertEqual(code, "200")
        st = self.state(lease)
        kh = st["keyhole"]
        self.assertTrue(khtest.pid_alive(kh["keyholePid"]))
        self.assertTrue(uid_procs())
        receipt = self.d.call("release", {"providerLeaseId": lease["providerLeaseId"]})
        self.assertEqual(receipt, {"providerLeaseId": lease["providerLeaseId"], "state": "destroyed"})
        self.assertFalse(khtest.pid_alive(kh["keyholePid"]))
        self.assert_nothing_left(lease, netns)
        # keyhole's log stays, with the run's requests
        self.assertTrue(any(x.get("path") == "/api/agents/me" for x in self.keyhole_log(lease)))
        # a second release is answered the same
        receipt = self.d.call("release", {"providerLeaseId": lease["providerLeaseId"]})
        self.assertEqual(receipt["state"], "destroyed")
        r = self.sh(lease, "echo x")
        self.assertIn("no such lease", r["stderr"])

    def test_cancel_kills_running_work(self):
        lease = self.acquire()
        self.start_run(lease)
        n = self.d.send("execute", {"lease": {"providerLeaseId": lease["providerLeaseId"]}, "command": "sh",
                                    "args": ["-c", self.curl("GET", "/api/agents/me") + "; sleep 300"],
                                    "env": self.agent_env(), "timeoutMs": 300000})
        khtest.wait_until(lambda: self.up.count() == 1, 10, "the agent's request")
        t = time.monotonic()
        receipt = self.d.call("release", {"providerLeaseId": lease["providerLeaseId"], "cancelActiveWork": True})
        self.assertEqual(receipt["state"], "destroyed")
        a = self.d.wait(n, 10)
        self.assertTrue(a["ok"])
        self.assertNotEqual(a["result"]["exitCode"], 0)
        self.assertLess(time.monotonic() - t, 10)
        self.assert_nothing_left(lease)

    def test_exec_timeout(self):
        lease = self.acquire()
        idle = set(uid_procs())         # bubblewrap, its pid 1, the sandbox's sleep
        t = time.monotonic()
        r = self.sh(lease, "sleep 30; echo late", timeout_ms=500)
        self.assertLess(time.monotonic() - t, 10)
        self.assertEqual((r["timedOut"], r["exitCode"], r["stdout"]), (True, None, ""))
        khtest.wait_until(lambda: set(uid_procs()) == idle, 5, "the timed-out exec killed")
        self.assertEqual(self.sh(lease, "echo alive")["stdout"], "alive\n")

    def test_resume_after_worker_restart_or_expired(self):
        lease = self.acquire(config={"reuseLease": True}, workspace="ews-1")
        self.start_run(lease)
        r = self.sh(lease, "echo keep > /workspace/kept; " + self.curl("GET", "/api/agents/me"), env=self.agent_env())
        self.assertEqual(r["stdout"], "200\n")
        old_keyhole = self.state(lease)["keyhole"]
        # The worker dies (Paperclip restarts); the sandbox and keyhole live on.
        self.d.close()
        d2 = Driver(self, self.host_json)
        self.d = d2
        res = d2.call("resume", {"providerLeaseId": lease["providerLeaseId"], "config": {}})
        self.assertEqual(res["providerLeaseId"], lease["providerLeaseId"])
        self.assertTrue(res["metadata"]["resumedLease"])
        r = self.sh(lease, "cat /workspace/kept; " + self.curl("GET", "/api/agents/me"), env=self.agent_env())
        self.assertEqual(r["stdout"], "keep\n200\n")                 # same keyhole, state on disk
        self.assertEqual(self.state(lease)["keyhole"]["keyholePid"], old_keyhole["keyholePid"])
        # End of the run of a reusable lease: keyhole goes, the sandbox stays.
        receipt = d2.call("release", {"providerLeaseId": lease["providerLeaseId"]})
        self.assertEqual(receipt["state"], "stopped")
        self.assertFalse(khtest.pid_alive(old_keyhole["keyholePid"]))
        # The next run: another issue, its own credential and keyhole.
        jwt2 = self.start_run(lease, run="run-2", issue="issue-2")
        r = self.sh(lease, "cat /workspace/kept; " + self.curl("PATCH", "/api/issues/issue-2", '{"status":"done"}')
                    + "; " + self.curl("PATCH", "/api/issues/issue-1", '{"status":"done"}'),
                    env=self.agent_env(run="run-2", issue="issue-2"))
        self.assertEqual(r["stdout"], "keep\n200\n403\n")
        last = self.up.snapshot()[-1]
        self.assertEqual((last.path, last.all("authorization"), last.header("x-paperclip-run-id")),
                         ("/api/issues/issue-2", ["Bearer " + jwt2], "run-2"))
        # The sandbox dies behind the plugin's back: resume says so, honestly.
        init = self.state(lease)["sandbox"]["initPid"]
        os.kill(init, 9)
        khtest.wait_until(lambda: not khtest.pid_alive(init), 5, "the sandbox killed")
        res = d2.call("resume", {"providerLeaseId": lease["providerLeaseId"], "config": {}})
        self.assertEqual(res, {"providerLeaseId": None, "metadata": {"expired": True}})
        self.assert_nothing_left(lease)

    def test_deadline_ends_the_lease(self):
        lease = self.acquire(config={"reuseLease": True})
        self.start_run(lease)
        self.sh(lease, self.curl("GET", "/api/agents/me"), env=self.agent_env())
        kh = self.state(lease)["keyhole"]
        # The lease's deadline passes while nobody releases it (here: by
        # moving it back in the state file; keyhole and the sandbox's pid 1
        # carry the same deadline themselves, as timeout(1) and sleep(1)).
        path = os.path.join(self.root, "leases", lease["providerLeaseId"], "host", "state.json")
        st = self.state(lease)
        st["expiresAt"] = "2000-01-01T00:00:00.000Z"
        with open(path, "w") as f:
            json.dump(st, f)
        r = self.sh(lease, "echo x")
        self.assertIn("has ended", r["stderr"])
        self.assertEqual(self.d.call("sweep", {}), 1)
        self.assertFalse(khtest.pid_alive(kh["keyholePid"]))
        self.assert_nothing_left(lease)

    def test_host_config_must_be_the_operators(self):
        os.chmod(self.host_json, 0o666)
        err = self.d.error("acquire", {"config": {}, "runId": "run-1"})
        self.assertIn("must not be writable by group or others", err)
        os.chmod(self.host_json, 0o644)
        os.chmod(os.path.dirname(self.host_json), 0o777)
        err = self.d.error("acquire", {"config": {}, "runId": "run-1"})
        self.assertIn("must not be writable by group or others", err)
        os.chmod(os.path.dirname(self.host_json), 0o755)
        self.write_host(keyholeArgs=["--credential-file", "/etc/shadow"])
        err = self.d.error("acquire", {"config": {}, "runId": "run-1"})
        self.assertIn("keyholeArgs", err)


if __name__ == "__main__":
    khtest.main()
