#!/usr/bin/env python3
"""The load campaign's fast scenarios (tests/load/, `run.py --quick`) as a
test: each scenario's checks must hold (a well-behaved client answered
>= 99 % during a slowloris and an idle flood with default settings; a
SIGTERM drain answers its backlog and resets nothing; idle connections
are small and their memory comes back; the child killed under load, a
misbehaving or killed upstream, SIGTERM and SIGHUP under load, 2,000
queue files at once and a full disk in queue mode lose nothing and
duplicate no mutation).  The campaign's table is printed at the end.  The
long variants (10,000 connections, 20,000 queue files, the 5-minute soak)
run on demand: python3 tests/load/run.py --long."""

import importlib.util
import os
import sys
import unittest

LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "load")
sys.path.insert(0, LOAD)
import loadlib  # noqa: E402

_spec = importlib.util.spec_from_file_location("khload_run", os.path.join(LOAD, "run.py"))
_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_run)


class _Opts:
    long = False
    quick = True


class LoadCampaignTest(unittest.TestCase):
    results = []

    @classmethod
    def setUpClass(cls):
        loadlib.raise_nofile(32768)

    @classmethod
    def tearDownClass(cls):
        if cls.results:
            print("\n" + loadlib.format_table(cls.results))
            for r in cls.results:
                if r.notes:
                    print("%s: %s" % (r.name, "; ".join(r.notes)))


def _scenario_test(mod):
    def test(self):
        r = mod.run(_Opts())
        self.results.append(r)
        if r.skipped:
            self.skipTest(r.skipped)
        failed = [what for what, ok in r.checks if not ok]
        self.assertEqual(failed, [], "%s: %s" % (mod.NAME, "; ".join(r.notes)))
    test.__doc__ = mod.ABOUT
    return test


for _m in _run.load_scenarios():
    if _m.FAST:
        setattr(LoadCampaignTest, "test_" + _m.NAME, _scenario_test(_m))


if __name__ == "__main__":
    unittest.main(verbosity=2)
