// Write Paperclip's own in-sandbox gateway (the exact source its host
// uploads into a sandbox) to a file:
//   node paperclip_gateway.mjs NODE_PREFIX OUT
// NODE_PREFIX holds node_modules/@paperclipai/adapter-utils.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [, , prefix, out] = process.argv;
const mod = await import(pathToFileURL(path.join(prefix, "node_modules",
  "@paperclipai", "adapter-utils", "dist", "sandbox-callback-bridge.js")).href);
writeFileSync(out, mod.getSandboxCallbackBridgeServerSource(), "utf8");
