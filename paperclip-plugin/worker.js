// Worker entry point: wires lib/hooks.js to Paperclip's plugin SDK.  The
// worker is forked by the Paperclip server; stdout is its JSON-RPC channel,
// so nothing here may write to stdout.
import { definePlugin, runWorker } from "@paperclipai/plugin-sdk";
import { createHooks } from "./lib/hooks.js";

// Leases past their deadline, or whose sandbox died, are ended this often
// even when Paperclip never releases them (ms).
const SWEEP_MS = 60000;

let logger = null;
const log = (level, msg, meta) => {
  if (logger && typeof logger[level] === "function") logger[level](msg, meta);
  else process.stderr.write(`keyhole-sandbox ${level}: ${msg} ${meta ? JSON.stringify(meta) : ""}\n`);
};
const hooks = createHooks({ log });

const plugin = definePlugin({
  async setup(ctx) {
    logger = ctx.logger;
    ctx.events.on("agent.run.cancelled", async (e) => {
      const runId = e?.payload?.runId ?? e?.entityId;
      await hooks.runCancelled(runId).catch((err) => log("warn", "ending a cancelled run failed", { runId, error: err.message }));
    });
    await hooks.sweep({ orphans: true }).catch((e) => log("warn", "sweep failed", { error: e.message }));
    setInterval(() => {
      hooks.sweep().catch((e) => log("warn", "sweep failed", { error: e.message }));
    }, SWEEP_MS).unref();
    log("info", "keyhole sandbox provider ready");
  },
  async onHealth() {
    return { status: "ok" };
  },
  onEnvironmentValidateConfig: (p) => hooks.validateConfig(p),
  onEnvironmentProbe: (p) => hooks.probe(p),
  onEnvironmentAcquireLease: (p) => hooks.acquire(p),
  onEnvironmentResumeLease: (p) => hooks.resume(p),
  onEnvironmentReleaseLease: (p) => hooks.release(p),
  onEnvironmentDestroyLease: (p) => hooks.destroy(p),
  onEnvironmentRealizeWorkspace: (p) => hooks.realize(p),
  onEnvironmentExecute: (p) => hooks.execute(p),
});

export default plugin;
runWorker(plugin, import.meta.url);
