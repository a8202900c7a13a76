"""Slowloris flood beside a well-behaved client, DEFAULT settings.

2,000 connections each send a request line, then one header byte per
second and never finish the head; whatever keyhole closes is reopened at
once.  Beside them a client sends one GET per fresh connection every
50 ms.  keyhole runs with no limit options at all and RLIMIT_NOFILE
1024 (a common service default), so the table is smaller than the flood.
Pass: >= 99 % of the client's requests answered 200, none duplicated
upstream, a bounded number of log lines, fds back to the start."""

import loadlib

NAME = "slowloris"
FAST = True
ABOUT = "2,000 slowloris connections + a well-behaved client (defaults)"


def run(opts):
    seconds = 40 if opts.long else 8 if getattr(opts, "quick", False) else 12
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024)
    try:
        flood = loadlib.Flood(b.port, 2000, mode="slowloris", trickle=1.0)
        loadlib.flood_with_client(r, b, flood, seconds)
        loadlib.check_flood(r, seconds)
        r.check("the flood was larger than what keyhole holds (%d reopened)" % flood.closed,
                flood.closed > 0)
    finally:
        b.close()
    return r
