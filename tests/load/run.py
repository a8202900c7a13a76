#!/usr/bin/env python3
"""The load campaign (tests/load/README.md).

    python3 tests/load/run.py                  the fast scenarios
    python3 tests/load/run.py --long           every scenario, long variants
    python3 tests/load/run.py slowloris drain  the named ones
    python3 tests/load/run.py --list

Prints one table (sent / answered / lost / duplicated at the upstream,
p99 latency, the child's RSS and fds before/during/after, log lines) and
every failed check; exits 1 if a check failed.  KEYHOLE_BUILD names the
build directory (default: build/ of this tree)."""

import argparse
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def load_scenarios():
    out = []
    d = os.path.join(HERE, "scenarios")
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".py") or fn.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location("khload_" + fn[:-3], os.path.join(d, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out.append(mod)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="*", help="scenario names (default: the fast ones, "
                    "or all with --long)")
    ap.add_argument("--long", action="store_true", help="long variants (10,000 connections, "
                    "longer floods) and the on-demand scenarios")
    ap.add_argument("--quick", action="store_true", help="shorter floods (what ctest runs: "
                    "tests/integration/test_load.py)")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--build", help="build directory (default $KEYHOLE_BUILD or build/)")
    a = ap.parse_args(argv)
    if a.build:
        os.environ["KEYHOLE_BUILD"] = os.path.abspath(a.build)
    sys.path.insert(0, HERE)
    import loadlib
    scen = load_scenarios()
    if a.list:
        for m in scen:
            print("%-16s %-5s %s" % (m.NAME, "fast" if m.FAST else "long", m.ABOUT))
        return 0
    if a.scenario:
        names = {m.NAME: m for m in scen}
        unknown = [n for n in a.scenario if n not in names]
        if unknown:
            ap.error("unknown scenario(s): %s (see --list)" % ", ".join(unknown))
        todo = [names[n] for n in a.scenario]
    else:
        todo = [m for m in scen if m.FAST or a.long]
    loadlib.raise_nofile(32768)
    results = []
    for m in todo:
        t0 = time.monotonic()
        print("== %s: %s" % (m.NAME, m.ABOUT), flush=True)
        try:
            r = m.run(a)
        except Exception:   # noqa: BLE001 - a crashed scenario is a failed one
            r = loadlib.Result(m.NAME)
            r.check("scenario ran to the end:\n" + traceback.format_exc(), False)
        r.notes.append("%.1f s" % (time.monotonic() - t0))
        results.append(r)
        for what, ok in r.checks:
            print("   %s %s" % ("ok  " if ok else "FAIL", what), flush=True)
    print()
    print(loadlib.format_table(results))
    for r in results:
        if r.notes:
            print("%s: %s" % (r.name, "; ".join(r.notes)))
    failed = [r.name for r in results if not r.passed()]
    if failed:
        print("\nFAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
