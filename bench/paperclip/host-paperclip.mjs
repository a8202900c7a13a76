#!/usr/bin/env node
// Copied from the research notes of issue 15 (a Paperclip host driven through
// its production entry point), for scripts/h2_latency.py only.
// Paperclip's host side of the http2_v1 bridge, driven from a small script
// through its real production entry point, startAdapterExecutionTargetPaperclipBridge()
// (execution-target.js), with a "sandbox" that is a local directory and a
// runner that executes commands locally:
//   runner.execute()           runs the host's shell scripts (entrypoint upload with sha256 skip, ...)
//   runner.openDuplexChannel() spawns the launch argv with stdin/stdout as the channel
// So everything between the agent-facing gateway and the upstream is
// Paperclip's own code: READY gate, preface scan, http2 server, token/route/
// header checks, and the forward (fetch) that adds the real credential.
//
// CLI:
//   node host-paperclip.mjs --upstream http://127.0.0.1:3100 --credential SECRET [--run-id RUN]
//        [--gateway-cmd 'CMD ARGS']     replace "'node' '<entrypoint>'" in the launch script (e.g. keyhole-gateway)
//        [--gateway-node /path/to/node] run Paperclip's gateway with this node binary
//        [--sandbox-dir DIR] [--max-body-bytes N] [--forward-timeout-ms N] [--readiness-timeout-ms N]
//        [--trace]                     print every HTTP/2 frame header (both directions) on stderr
//        [--log-exec]                  print every runner.execute() script and the launch argv on stderr
// Prints one JSON line on stdout once the bridge is up:
//   {"event":"ready","PAPERCLIP_API_BRIDGE_MODE":"http2_v1","PAPERCLIP_API_URL":"http://127.0.0.1:P","PAPERCLIP_API_KEY":"<bridge token>"}
// then serves until SIGINT/SIGTERM (bridge.stop(): GOAWAY, close channel).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { importPaperclip, createFrameTracer } from "./lib.mjs";

function runLocal(input, execLog) {
  // RunProcessResult shape the package reads: exitCode, timedOut, stdout, stderr.
  return new Promise((resolve) => {
    const command = input.command === "bash" ? "/bin/bash" : input.command;
    execLog?.({ kind: "execute", command, args: input.args, env: input.env, cwd: input.cwd, stdinBytes: input.stdin?.length ?? 0 });
    const child = spawn(command, input.args ?? [], {
      cwd: input.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? "/root", ...(input.env ?? {}) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "", timedOut = false;
    const t = input.timeoutMs ? setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, input.timeoutMs) : null;
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("close", (code, signal) => { if (t) clearTimeout(t); resolve({ exitCode: code, signal, timedOut, stdout, stderr }); });
    if (input.stdin !== undefined) child.stdin.end(input.stdin); else child.stdin.end();
  });
}

export async function startPaperclipHost(opts) {
  const { startAdapterExecutionTargetPaperclipBridge } = await importPaperclip("execution-target.js");
  const sandboxDir = opts.sandboxDir ?? mkdtempSync(path.join(os.tmpdir(), "pc-sandbox-"));
  mkdirSync(sandboxDir, { recursive: true });
  const note = opts.note ?? ((s) => process.stderr.write(s));
  const execLog = opts.logExec ? (e) => note(`[exec] ${JSON.stringify(e)}\n`) : null;
  const control = { child: null, launchArgv: null, gatewayStderr: "", lostPipe: false };

  const runner = {
    execute: (input) => runLocal(input, execLog),
    openDuplexChannel: async ({ command }) => {
      let argv = [...command];
      control.launchArgv = [...command];
      if (opts.gatewayNode) argv[2] = argv[2].replace(/'node' '/, `'${opts.gatewayNode}' '`);
      if (opts.gatewayCmd) argv[2] = argv[2].replace(/'node' '[^']*'$/, opts.gatewayCmd);
      execLog?.({ kind: "openDuplexChannel", command, spawned: argv });
      const child = spawn(argv[0], argv.slice(1), {
        cwd: sandboxDir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME ?? "/root" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      control.child = child;
      // stderr is NOT part of the channel here (a PTY-based provider would merge it).
      child.stderr.on("data", (c) => { control.gatewayStderr += c; note(`[gateway stderr] ${c}`); });
      child.stdin.on("error", () => {});
      const toHost = opts.trace ? createFrameTracer("gateway->host", (s) => note(s + "\n"), { expectPreface: true }) : null;
      const toGw = opts.trace ? createFrameTracer("host->gateway", (s) => note(s + "\n")) : null;
      return {
        write(data) { if (control.lostPipe) return; toGw?.(data); child.stdin.write(Buffer.from(data)); },
        onData(listener) { child.stdout.on("data", (c) => { if (control.lostPipe) return; toHost?.(c); listener(c); }); },
        onExit(listener) { child.once("exit", (code) => listener({ exitCode: code })); },
        stop() { if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM"); },
        // Like a provider's close(): end the input, then tear the process down.
        // (Paperclip's gateway does NOT exit on stdin EOF, and Paperclip's
        // http2Server.close() waits for the channel to end, so a close() that
        // only ended stdin would make bridge.stop() hang forever.)
        close() {
          return new Promise((resolve) => {
            child.stdin.end();
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const t = setTimeout(() => { child.kill("SIGTERM"); }, 1000);
            child.once("exit", () => { clearTimeout(t); resolve(); });
          });
        },
      };
    },
  };
  const target = {
    kind: "remote", transport: "sandbox", providerKey: "daytona",
    environmentId: "env-interop", leaseId: "lease-interop",
    remoteCwd: sandboxDir, timeoutMs: 30_000, runner, shellCommand: "sh",
    streamRunLogs: false,
    effectiveCapabilities: { duplexCommandStream: true },
  };
  const bridge = await startAdapterExecutionTargetPaperclipBridge({
    runId: opts.runId ?? "run-interop-1",
    target,
    adapterKey: "interop",
    hostApiToken: opts.credential,
    hostApiUrl: opts.upstream,
    enableSandboxDuplexBridge: true,
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.forwardTimeoutMs ? { forwardTimeoutMs: opts.forwardTimeoutMs } : {}),
    ...(opts.readinessTimeoutMs ? { duplexReadinessTimeoutMs: opts.readinessTimeoutMs } : {}),
    onLog: async (stream, text) => note(`[host ${stream}] ${text}`),
  });
  return {
    bridge, sandboxDir, control,
    // Make the pipe die without killing the gateway: the gateway's stdin
    // reaches EOF and nothing more flows in either direction.
    simulatePipeLoss() { control.lostPipe = true; control.child?.stdin.end(); },
    stop: () => bridge.stop(),
  };
}

function arg(name, dflt) { const i = process.argv.indexOf(name); return i === -1 ? dflt : process.argv[i + 1]; }
if (import.meta.url === `file://${process.argv[1]}`) {
  const upstream = arg("--upstream"), credential = arg("--credential");
  if (!upstream || !credential) { process.stderr.write("usage: host-paperclip.mjs --upstream URL --credential TOKEN [...]\n"); process.exit(2); }
  const h = await startPaperclipHost({
    upstream, credential, runId: arg("--run-id"),
    gatewayCmd: arg("--gateway-cmd"), gatewayNode: arg("--gateway-node"), sandboxDir: arg("--sandbox-dir"),
    maxBodyBytes: Number(arg("--max-body-bytes", 0)) || undefined,
    forwardTimeoutMs: Number(arg("--forward-timeout-ms", 0)) || undefined,
    readinessTimeoutMs: Number(arg("--readiness-timeout-ms", 0)) || undefined,
    trace: process.argv.includes("--trace"), logExec: process.argv.includes("--log-exec"),
  });
  console.log(JSON.stringify({ event: "ready", ...h.bridge.env }));
  const shutdown = async () => { await h.stop().catch(() => {}); process.exit(0); };
  process.on("SIGINT", shutdown); process.on("SIGTERM", shutdown);
}
