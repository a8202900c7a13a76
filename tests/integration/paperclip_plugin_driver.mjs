// Test driver for the keyhole Paperclip plugin's hooks, without Paperclip:
// one JSON request per stdin line {id, hook, params}, one JSON answer per
// stdout line {id, ok, result | error}.  Calls run concurrently, as
// Paperclip's do.  argv: PLUGIN_DIR HOST_JSON
import { createInterface } from "node:readline";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pluginDir, hostJson] = process.argv.slice(2);
const { createHooks } = await import(pathToFileURL(path.join(pluginDir, "lib", "hooks.js")).href);
const hooks = createHooks({
  hostConfigFile: hostJson,
  log: (level, msg, meta) => process.stderr.write(`[plugin ${level}] ${msg} ${JSON.stringify(meta ?? {})}\n`),
});
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
createInterface({ input: process.stdin }).on("line", async (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  try {
    out({ id: req.id, ok: true, result: (await hooks[req.hook](req.params)) ?? null });
  } catch (e) {
    out({ id: req.id, ok: false, error: e.message });
  }
});
out({ id: 0, ok: true, result: "ready" });
