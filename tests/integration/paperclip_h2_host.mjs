// Paperclip's own host side of the http2_v1 bridge, driven through its
// production entry point startAdapterExecutionTargetPaperclipBridge()
// (@paperclipai/adapter-utils, execution-target.js) with a "sandbox" that
// is a local directory and a runner that runs its commands here: the
// host uploads its gateway source (the sha256-skip script), launches
//   sh -c "exec env PAPERCLIP_...='...' <gateway>"
// runs its READY gate, its preface scan, its HTTP/2 server (token, path,
// route, header and body checks) and its forward (fetch with the real
// credential and x-paperclip-run-id).  Only <gateway> is ours: the
// launch script's "'node' '<entrypoint>'" is replaced by PC_GATEWAY_CMD
// (keyhole-gateway), the env assignments stay as Paperclip writes them.
//
//   node paperclip_h2_host.mjs NODE_PREFIX
//   env: PC_UPSTREAM, PC_CREDENTIAL, PC_GATEWAY_CMD, PC_SANDBOX_DIR,
//        PC_RUN_ID, PC_MAX_BODY_BYTES, PC_FORWARD_TIMEOUT_MS
// stdout, one JSON object a line:
//   {"event":"ready","env":{PAPERCLIP_API_URL, PAPERCLIP_API_KEY,
//     PAPERCLIP_API_BRIDGE_MODE},"pid":<gateway pid>,"argv":[launch argv]}
//   {"event":"gateway-stderr","text":...}  {"event":"host-log","text":...}
//   {"event":"gateway-exit","code":N,"signal":S}  {"event":"stopped"}
// SIGTERM: bridge.stop() (GOAWAY, then the channel closed), then exit 0.
// Adapted from the spec's h2-interop/host-paperclip.mjs.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
const dist = path.join(prefix, "node_modules", "@paperclipai", "adapter-utils", "dist");
const { startAdapterExecutionTargetPaperclipBridge } =
  await import(pathToFileURL(path.join(dist, "execution-target.js")).href);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const env = process.env;
const sandboxDir = env.PC_SANDBOX_DIR;
mkdirSync(sandboxDir, { recursive: true });
const base = { PATH: env.PATH, HOME: env.HOME ?? "/root" };
let gatewayPid = null;

function runLocal(input) {
  return new Promise((resolve) => {
    const child = spawn(input.command, input.args ?? [], {
      cwd: input.cwd, env: { ...base, ...(input.env ?? {}) }, stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "", timedOut = false;
    const t = input.timeoutMs ? setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, input.timeoutMs) : null;
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("close", (code, signal) => { if (t) clearTimeout(t); resolve({ exitCode: code, signal, timedOut, stdout, stderr }); });
    child.stdin.end(input.stdin ?? "");
  });
}

const runner = {
  execute: (input) => runLocal(input),
  openDuplexChannel: async ({ command }) => {
    const argv = [...command];
    // Paperclip's launch: [sh, -c, "exec env A='..' ... 'node' '<entrypoint>'"]
    argv[2] = argv[2].replace(/'node' '[^']*'$/, env.PC_GATEWAY_CMD);
    const child = spawn(argv[0], argv.slice(1), { cwd: sandboxDir, env: base,
      stdio: ["pipe", "pipe", "pipe"] });
    gatewayPid = child.pid;
    // stderr stays off the channel (a provider without a PTY)
    child.stderr.on("data", (c) => out({ event: "gateway-stderr", text: String(c) }));
    child.stdin.on("error", () => {});
    child.once("exit", (code, signal) => out({ event: "gateway-exit", code, signal }));
    return {
      write(data) { child.stdin.write(Buffer.from(data)); },
      onData(listener) { child.stdout.on("data", listener); },
      onExit(listener) { child.once("exit", (code) => listener({ exitCode: code })); },
      stop() { if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM"); },
      // A provider's close(): end the input, then stop the process.
      close() {
        return new Promise((resolve) => {
          child.stdin.end();
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const t = setTimeout(() => child.kill("SIGTERM"), 1000);
          child.once("exit", () => { clearTimeout(t); resolve(); });
        });
      },
    };
  },
};

const bridge = await startAdapterExecutionTargetPaperclipBridge({
  runId: env.PC_RUN_ID || "run-keyhole-interop",
  target: {
    kind: "remote", transport: "sandbox", providerKey: "daytona",
    environmentId: "env-interop", leaseId: "lease-interop",
    remoteCwd: sandboxDir, timeoutMs: 30_000, runner, shellCommand: "sh",
    streamRunLogs: false, effectiveCapabilities: { duplexCommandStream: true },
  },
  adapterKey: "interop",
  hostApiToken: env.PC_CREDENTIAL,
  hostApiUrl: env.PC_UPSTREAM,
  enableSandboxDuplexBridge: true,
  ...(env.PC_MAX_BODY_BYTES ? { maxBodyBytes: Number(env.PC_MAX_BODY_BYTES) } : {}),
  ...(env.PC_FORWARD_TIMEOUT_MS ? { forwardTimeoutMs: Number(env.PC_FORWARD_TIMEOUT_MS) } : {}),
  onLog: async (stream, text) => out({ event: "host-log", stream, text }),
});
out({ event: "ready", env: bridge.env, pid: gatewayPid });
let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await bridge.stop().catch((e) => out({ event: "host-log", text: String(e) }));
  out({ event: "stopped" });
  process.exit(0);
});
// Paperclip unref()s its timers: keep the process alive until SIGTERM.
setInterval(() => {}, 1 << 30);
