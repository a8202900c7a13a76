"""Idle flood beside a well-behaved client, DEFAULT settings.

Fast: 3,000 connections that send nothing (RLIMIT_NOFILE 1024, so three
times what keyhole can hold); --long: 10,000 with this machine's
RLIMIT_NOFILE.  Closed ones are reopened at once.  Pass: >= 99 % of the
client's requests answered 200, nothing duplicated, bounded log lines,
fds back to the start."""

import loadlib

NAME = "idle_flood"
FAST = True
ABOUT = "3,000 idle connections (10,000 with --long) + a well-behaved client (defaults)"


def run(opts):
    n, seconds, nofile = (10000, 30, None) if opts.long else (3000, 12, 1024)
    if getattr(opts, "quick", False):
        seconds = 8
    r = loadlib.Result(NAME + ("_10k" if opts.long else ""))
    b = loadlib.Bench(nofile=nofile)
    try:
        flood = loadlib.Flood(b.port, n, mode="idle")
        loadlib.flood_with_client(r, b, flood, seconds)
        loadlib.check_flood(r, seconds)
    finally:
        b.close()
    return r
