// The sandbox-provider hooks, free of the plugin SDK (worker.js wires them
// to it; tests call them directly).
//
// A lease is a sandbox (lib/sandbox.js) started on acquire and ended on
// release/destroy or at its deadline.  keyhole is per run: it starts at the
// first exec that is meant to reach Paperclip's API (the agent command),
// with the credential Paperclip handed the plugin earlier in the same run,
// and stops on release, or when a reused lease serves another run.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { classifyBridgeExec, LAUNCH_STANDIN, readyJson } from "./bridge.js";
import { loadHostConfig, parseEnvConfig, policyFile } from "./config.js";
import { jwtClaims, runTokenMismatch, safeId, sandboxEnv } from "./env.js";
import { checkPolicy, keyholeAlive, startKeyhole, stopKeyhole } from "./keyhole.js";
import { createLease, dirs, leaseAlive, listLeases, loadState, saveState, teardown } from "./lease.js";
import { bwrapAvailable, execInSandbox, HOME, WORKSPACE } from "./sandbox.js";
import { finalizeSource, scrubBuffer, UploadScrubber, uploadTarget } from "./scrub.js";

// A lease shorter than this (s) is refused: a run could not even start.
const MIN_LEASE_SECONDS = 30;
// A lease directory without a sandbox younger than this (ms) is being
// created; the sweeper leaves it alone.
const CREATING_GRACE_MS = 60000;

// keyhole's access lines from byte `from` of its log, one per request, for
// the run log: "[keyhole] METHOD PATH -> STATUS (rule)".  At most
// DECISIONS_MAX lines (the rest counted).
const DECISIONS_MAX = 200;
function fileSize(f) {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}
function decisions(file, from) {
  let text = "";
  try {
    const fd = openSync(file, "r");
    try {
      const n = Math.max(0, Math.min(fileSize(file) - from, 4 * 1024 * 1024));
      const buf = Buffer.alloc(n);
      readSync(fd, buf, 0, n, from);
      text = buf.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
  const out = [];
  let more = 0;
  for (const line of text.split("\n")) {
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if (o.event !== "request") continue;
    if (out.length >= DECISIONS_MAX) {
      more++;
      continue;
    }
    out.push(`[keyhole] ${o.method || "-"} ${o.path || "-"} -> ${o.status} (${o.rule || ""})`);
  }
  if (more) out.push(`[keyhole] ... and ${more} more requests (see the keyhole log)`);
  return out.length ? `${out.join("\n")}\n` : "";
}

const fail = (msg, code = 1) => ({ exitCode: code, signal: null, timedOut: false, stdout: "", stderr: `keyhole-sandbox: ${msg}\n` });

function baseEnv(host) {
  return { PATH: host.path, HOME, USER: "agent", LOGNAME: "agent", SHELL: "/bin/sh", LANG: "C.UTF-8", TMPDIR: "/tmp" };
}

function leaseMetadata(st) {
  // Visible through Paperclip's API: nothing secret.
  return {
    remoteCwd: WORKSPACE, keyholeSandbox: true, sandboxUid: st.uid, keyholePort: st.env.port,
    keyholePolicy: st.env.policy, leaseExpiresAt: st.expiresAt,
  };
}

export function createHooks({ log = () => {}, hostConfigFile } = {}) {
  // In memory only: the run credentials Paperclip handed over (lease id ->
  // {runId, token, url, issueId}) and the keyhole starts in progress.
  const creds = new Map();
  const starting = new Map();
  // Values that must never enter a lease's sandbox, whatever their name.
  const secrets = new Map();
  // Upload tails held back while tokens are removed (lib/scrub.js).
  const scrubbers = new Map();
  const host = () => loadHostConfig(hostConfigFile);
  const secretOf = (id) => secrets.get(id) ?? [];
  const remember = (id, v) => {
    if (!v) return;
    const l = secretOf(id);
    if (!l.includes(v)) secrets.set(id, [...l, v]);
  };
  const forget = (id) => {
    creds.delete(id);
    secrets.delete(id);
    scrubbers.delete(id);
  };
  const scrubberOf = (id) => {
    if (!scrubbers.has(id)) scrubbers.set(id, new UploadScrubber());
    return scrubbers.get(id);
  };

  async function ensureKeyhole(h, id, runId, env) {
    while (starting.has(id)) await starting.get(id).catch(() => {});
    const st = loadState(h, id);
    if (!st) throw new Error("the lease is gone");
    if (st.keyhole && st.keyhole.runId === runId && keyholeAlive(st.keyhole)) return st.keyhole;
    const p = (async () => {
      if (st.keyhole) {
        await stopKeyhole(st.keyhole);
        st.keyhole = null;
        saveState(h, st);
      }
      const cred = creds.get(id);
      if (!cred || cred.runId !== runId) {
        throw new Error(`Paperclip did not hand the plugin run ${runId}'s credential before this exec; ` +
          "the agent is not started without its keyhole");
      }
      const upstream = h.paperclipUrl ?? cred.url;
      if (typeof upstream !== "string" || !/^https?:\/\/[^/?#@\s]+\/?$/.test(upstream)) {
        throw new Error("no Paperclip URL to forward to (set paperclipUrl in host.json)");
      }
      const task = env.PAPERCLIP_TASK_ID === undefined ? null : safeId(env.PAPERCLIP_TASK_ID);
      if (env.PAPERCLIP_TASK_ID !== undefined && task === null) throw new Error("PAPERCLIP_TASK_ID is not an id");
      const acquired = st.runId === runId ? st.issueId : null;
      if (task && acquired && task !== acquired) {
        throw new Error(`the run's task ${task} is not the issue ${acquired} the lease was acquired for`);
      }
      const issueId = task ?? cred.issueId ?? acquired;
      const left = Math.floor((Date.parse(st.expiresAt) - Date.now()) / 1000);
      if (left < 5) throw new Error("the lease has reached its deadline");
      const d = dirs(h, id);
      const kh = await startKeyhole({
        host: h, policy: policyFile(h, st.env.policy), upstream: upstream.replace(/\/$/, ""),
        runId, issueId, credential: cred.token, sandboxPid: st.sandbox.pid, port: st.env.port,
        seconds: left, logFile: d.keyholeLog, readyFile: d.keyholeReady,
      });
      st.keyhole = kh;
      saveState(h, st);
      log("info", "keyhole started", { lease: id, runId, issueId, pid: kh.keyholePid, policy: st.env.policy });
      return kh;
    })();
    starting.set(id, p);
    try {
      return await p;
    } finally {
      starting.delete(id);
    }
  }

  const hooks = {
    async validateConfig(params) {
      let h;
      try {
        h = host();
      } catch (e) {
        return { ok: false, errors: [e.message] };
      }
      const { errors, config } = parseEnvConfig(params.config, h);
      if (errors.length === 0) {
        const bad = await checkPolicy(h, policyFile(h, config.policy));
        if (bad) errors.push(`policy '${config.policy}' does not compile: ${bad}`);
      }
      if (errors.length) return { ok: false, errors };
      return { ok: true, normalizedConfig: { ...params.config, ...config } };
    },

    async probe(params) {
      const diagnostics = [];
      let h;
      try {
        h = host();
      } catch (e) {
        return { ok: false, summary: e.message, diagnostics };
      }
      if (process.geteuid() !== 0) diagnostics.push({ severity: "error", message: "the plugin worker must run as root (Paperclip runs as uid " + process.geteuid() + ")" });
      if (!bwrapAvailable()) diagnostics.push({ severity: "error", message: "bubblewrap, nsenter or setpriv is missing (apt-get install bubblewrap util-linux)" });
      const { errors, config } = parseEnvConfig(params.config, h);
      for (const e of errors) diagnostics.push({ severity: "error", message: e });
      if (!errors.length) {
        const bad = await checkPolicy(h, policyFile(h, config.policy));
        if (bad) diagnostics.push({ severity: "error", message: `policy does not compile: ${bad}` });
      }
      const ok = !diagnostics.some((x) => x.severity === "error");
      return { ok, summary: ok ? "keyhole sandbox ready" : diagnostics.map((x) => x.message).join("; "), diagnostics };
    },

    async acquire(params) {
      const h = host();
      const { errors, config } = parseEnvConfig(params.config, h);
      if (errors.length) throw new Error(`keyhole sandbox: ${errors.join("; ")}`);
      if (process.geteuid() !== 0) throw new Error("keyhole sandbox: the plugin worker must run as root");
      if (!bwrapAvailable()) throw new Error("keyhole sandbox: bubblewrap, nsenter or setpriv is missing");
      let seconds = h.maxLeaseSeconds;
      if (params.requestedExpiresAt) {
        const until = Math.floor((Date.parse(params.requestedExpiresAt) - Date.now()) / 1000);
        if (Number.isFinite(until)) seconds = Math.min(seconds, until);
      }
      if (seconds < MIN_LEASE_SECONDS) throw new Error(`keyhole sandbox: a lease of ${seconds} s is too short`);
      const runId = params.runId == null ? null : safeId(params.runId);
      const issueId = params.issueId == null ? null : safeId(params.issueId);
      if ((params.runId != null && !runId) || (params.issueId != null && !issueId)) {
        throw new Error("keyhole sandbox: the run or issue id is not an id");
      }
      // Paperclip resumes a reusable lease only for a run in an execution
      // workspace: without one the sandbox would wait, unused, for its
      // deadline, so it ends with its run like any other.
      const reusable = config.reuseLease && params.executionWorkspaceId != null;
      const st = await createLease(h, {
        env: config, runId, issueId, agentId: params.agentId ?? null, companyId: params.companyId ?? null,
        environmentId: params.environmentId ?? null, seconds, reusable,
      });
      log("info", "sandbox started", { lease: st.id, uid: st.uid, runId, issueId, expiresAt: st.expiresAt });
      return { providerLeaseId: st.id, expiresAt: st.expiresAt, metadata: leaseMetadata(st) };
    },

    async resume(params) {
      const h = host();
      const st = loadState(h, params.providerLeaseId);
      if (leaseAlive(st)) {
        return { providerLeaseId: st.id, expiresAt: st.expiresAt, metadata: { ...leaseMetadata(st), resumedLease: true } };
      }
      if (st) await teardown(h, st);
      forget(params.providerLeaseId);
      return { providerLeaseId: null, metadata: { expired: true } };
    },

    async release(params) {
      if (!params.providerLeaseId) return undefined;
      const h = host();
      const st = loadState(h, params.providerLeaseId);
      if (st && st.reusable && !params.cancelActiveWork && leaseAlive(st)) {
        // Kept for the next run of this agent; its run's keyhole and
        // credential are not.
        await stopKeyhole(st.keyhole);
        st.keyhole = null;
        saveState(h, st);
        forget(st.id);
        return { providerLeaseId: st.id, state: "stopped" };
      }
      return hooks.destroy(params);
    },

    async destroy(params) {
      if (!params.providerLeaseId) return undefined;
      const h = host();
      const st = loadState(h, params.providerLeaseId);
      forget(params.providerLeaseId);
      if (st && !(await teardown(h, st))) {
        throw new Error(`keyhole sandbox ${st.id}: processes of uid ${st.uid} survived teardown`);
      }
      if (st) log("info", "sandbox destroyed", { lease: st.id, uid: st.uid, cancel: !!params.cancelActiveWork });
      return { providerLeaseId: params.providerLeaseId, state: "destroyed" };
    },

    async realize(params) {
      const st = loadState(host(), params.lease?.providerLeaseId);
      if (!leaseAlive(st)) throw new Error("keyhole sandbox: the lease has ended");
      return { cwd: WORKSPACE, metadata: { remoteCwd: WORKSPACE } };
    },

    async execute(params) {
      const h = host();
      const id = params.lease?.providerLeaseId;
      const st = loadState(h, id);
      if (!st) return fail("no such lease (destroyed, or never acquired)");
      if (!leaseAlive(st)) return fail(`lease ${id} has ended (sandbox gone, or deadline ${st.expiresAt} passed)`);
      const env = params.env && typeof params.env === "object" ? params.env : {};
      const base = baseEnv(h);

      if (env.PAPERCLIP_SANDBOX_EXEC_CHANNEL === "bridge") {
        const c = classifyBridgeExec(params);
        if (c.kind === "launch") {
          remember(id, env.PAPERCLIP_BRIDGE_TOKEN);
          const r = await execInSandbox(st.sandbox, {
            argv: ["/bin/sh", "-c", LAUNCH_STANDIN, "sh", c.queueDir, readyJson(st.env.port)],
            cwd: WORKSPACE, env: base, stdin: null, timeoutMs: 15000,
          });
          if (r.exitCode !== 0) return r;
          log("info", "Paperclip's bridge server not started; ready.json names keyhole", { lease: id });
          return { exitCode: 0, signal: null, timedOut: false, stdout: '{"pid":0}\n', stderr: "" };
        }
        if (c.kind === "empty") return { exitCode: 0, signal: null, timedOut: false, stdout: "", stderr: "" };
        if (c.kind === "refuse") {
          log("warn", "bridge exec refused", { lease: id, why: c.why });
          return fail(`Paperclip's in-sandbox bridge is disabled here (agents reach Paperclip through keyhole); refused: ${c.why}`);
        }
      }

      const runId = env.PAPERCLIP_RUN_ID === undefined ? st.runId : safeId(env.PAPERCLIP_RUN_ID);
      const key = env.PAPERCLIP_API_KEY;
      const claims = jwtClaims(key);
      let kh = null;
      let started = false;
      if (claims) {
        // The run's own token, handed over by Paperclip: kept for keyhole,
        // never passed into the sandbox.
        const why = runTokenMismatch(claims, { runId, agentId: st.agentId, companyId: st.companyId });
        if (why) {
          log("warn", "exec with a foreign credential refused", { lease: id, why });
          return fail(`refusing an exec that carries a credential not of this run (${why})`);
        }
        remember(id, key);
        creds.set(id, { runId, token: key, url: env.PAPERCLIP_API_URL, issueId: safeId(env.PAPERCLIP_TASK_ID ?? "") });
      } else if ("PAPERCLIP_API_URL" in env || "PAPERCLIP_API_KEY" in env) {
        // Paperclip means this exec to reach its API: through keyhole only.
        remember(id, key);
        if (!runId) return fail("an exec meant to reach Paperclip's API without a run id");
        try {
          kh = await ensureKeyhole(h, id, runId, env);
          started = true;
        } catch (e) {
          log("error", "keyhole did not start", { lease: id, runId, error: e.message });
          return fail(e.message);
        }
      }
      if (!kh) {
        const cur = loadState(h, id);
        if (cur?.keyhole && cur.keyhole.runId === runId && keyholeAlive(cur.keyhole)) kh = cur.keyhole;
      }
      const { env: senv, dropped } = sandboxEnv(env, { base, passEnv: st.env.passEnv, secrets: secretOf(id), keyhole: kh });
      const secretish = dropped.filter((k) => /SECRET|TOKEN|KEY|JWT/i.test(k));
      if (secretish.length) log("debug", "kept out of the sandbox", { lease: id, names: secretish });
      const argv = [String(params.command), ...(Array.isArray(params.args) ? params.args.map(String) : [])];
      const timeoutMs = Number.isInteger(params.timeoutMs) && params.timeoutMs > 0 ? params.timeoutMs : st.env.timeoutMs;
      const script = /(^|\/)(sh|bash|dash)$/.test(argv[0]) && argv[1] === "-c" ? argv[2] : null;
      let stdin = typeof params.stdin === "string" ? params.stdin : null;
      let removed = 0;
      if (env.PAPERCLIP_SANDBOX_EXEC_CHANNEL !== "bridge" && script !== null) {
        // No token enters the sandbox on stdin either (lib/scrub.js).
        const target = stdin !== null ? uploadTarget(script) : null;
        const source = finalizeSource(script);
        if (target) {
          const c = scrubberOf(id).chunk(target, stdin);
          removed = c.removed;
          if (c.stdin === null) return { exitCode: 0, signal: null, timedOut: false, stdout: "", stderr: "" };
          stdin = c.stdin;
        } else if (source) {
          const tail = scrubberOf(id).flush(source);
          removed = tail.removed;
          if (tail.stdin !== null) {
            const r = await execInSandbox(st.sandbox, {
              argv: ["/bin/sh", "-c", 'base64 -d >> "$1"', "sh", source], cwd: "/", env: base,
              stdin: tail.stdin, timeoutMs,
            });
            if (r.exitCode !== 0) return r;
          }
        }
      }
      if (stdin !== null && env.PAPERCLIP_SANDBOX_EXEC_CHANNEL !== "bridge" && !uploadTarget(script ?? "")) {
        const c = scrubBuffer(Buffer.from(stdin, "utf8"));
        removed += c.removed;
        stdin = c.buf;
      }
      if (removed) log("warn", "removed tokens from what Paperclip sent into the sandbox", { lease: id, removed, script: (script ?? "").slice(0, 120) });
      if (!started) return execInSandbox(st.sandbox, { argv, cwd: params.cwd, env: senv, stdin, timeoutMs });
      // The exec keyhole was started for (the agent command): what keyhole
      // decided meanwhile goes to its stderr, so Paperclip's run log shows it.
      const logFile = dirs(h, id).keyholeLog;
      const from = fileSize(logFile);
      const r = await execInSandbox(st.sandbox, { argv, cwd: params.cwd, env: senv, stdin, timeoutMs });
      return { ...r, stderr: r.stderr + decisions(logFile, from) };
    },

    // Paperclip cancelled a run (event agent.run.cancelled).  It does not
    // stop the agent command a plugin is executing, and releases the lease
    // only once that returns (at its timeout): so the plugin ends the run's
    // sandbox and keyhole itself, at once; the exec in flight returns, the
    // release that follows finds nothing left.
    async runCancelled(runId) {
      if (!safeId(runId)) return 0;
      const h = host();
      let n = 0;
      for (const id of listLeases(h)) {
        const st = loadState(h, id);
        if (!st || (st.runId !== runId && st.keyhole?.runId !== runId)) continue;
        forget(id);
        if (await teardown(h, st)) n++;
        log("info", "run cancelled: sandbox and keyhole ended", { lease: id, runId });
      }
      return n;
    },

    // Ends leases past their deadline, or whose sandbox died, that nobody
    // released (Paperclip down, a lost release).  At the worker's start
    // (orphans: true) also every lease that is not reusable: its run did not
    // survive the restart (Paperclip rejects the calls in flight and reaps
    // the run; the run's credential was only in the old worker's memory),
    // and nothing would release it.
    async sweep({ orphans = false } = {}) {
      let h;
      try {
        h = host();
      } catch {
        return 0;
      }
      let n = 0;
      for (const id of listLeases(h)) {
        if (starting.has(id)) continue;
        const st = loadState(h, id);
        if (!st) continue;
        if (!st.sandbox && Date.now() - Date.parse(st.createdAt) < CREATING_GRACE_MS) continue;
        if (leaseAlive(st) && !(orphans && !st.reusable)) continue;
        if (await teardown(h, st)) {
          forget(id);
          n++;
          log("info", "ended lease swept", { lease: id, expiresAt: st.expiresAt });
        }
      }
      return n;
    },
  };
  return hooks;
}
