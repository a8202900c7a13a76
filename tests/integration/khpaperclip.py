"""khpaperclip: Paperclip's own code from npm, for the interop tests.

The package @paperclipai/adapter-utils is installed once into the build
directory (a cache: CI stays fast); the version is pinned so the tests are
reproducible -- bump PAPERCLIP_VERSION to follow Paperclip.  node and npm
come from scripts/deps.sh; a missing one is a failure, not a skip.

  paperclip_prefix()           the npm prefix holding the package
  paperclip_gateway_source()   Paperclip's in-sandbox gateway, generated
                               by getSandboxCallbackBridgeServerSource()
"""

import json
import os
import shutil
import subprocess

import khtest

PAPERCLIP_PACKAGE = "@paperclipai/adapter-utils"
PAPERCLIP_VERSION = "2026.916.1"
HERE = os.path.dirname(os.path.abspath(__file__))


def paperclip_prefix():
    """The npm prefix holding this version of the package (installed on
    first use)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AssertionError("%s is missing: run scripts/deps.sh" % tool)
    prefix = os.path.join(khtest.BUILD, "paperclip-npm", PAPERCLIP_VERSION)
    pkg = os.path.join(prefix, "node_modules", "@paperclipai", "adapter-utils", "package.json")
    if not os.path.exists(pkg):
        os.makedirs(prefix, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
                            "--no-save", "--prefix", prefix,
                            "%s@%s" % (PAPERCLIP_PACKAGE, PAPERCLIP_VERSION)],
                           capture_output=True, timeout=300, cwd=prefix)
        if p.returncode != 0:
            raise AssertionError("npm install failed:\n%s" % (p.stdout + p.stderr).decode(
                "utf-8", "replace"))
    with open(pkg) as f:
        assert json.load(f)["version"] == PAPERCLIP_VERSION
    return prefix


def paperclip_gateway_source():
    """Path of Paperclip's gateway source (the file its host uploads)."""
    prefix = paperclip_prefix()
    out = os.path.join(prefix, "paperclip-bridge-server.mjs")
    if not os.path.exists(out):
        subprocess.run(["node", os.path.join(HERE, "paperclip_gateway.mjs"), prefix, out + ".tmp"],
                       check=True, timeout=60)
        os.rename(out + ".tmp", out)
    return out
