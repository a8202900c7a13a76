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
        seconds = 6
    r = loadlib.Result(NAME + ("_10k" if opts.long else ""))
    b = loadlib.Bench(nofile=nofile)
    try:
        flood = loadlib.Flood(b.port, n, mode="idle")
        loadlib.flood_with_client(r, b, flood, seconds)
        r.check("well-behaved client >= 99 %% answered 200 (%d of %d)" % (r.ok, r.sent),
                r.sent > 0 and r.ok * 100 >= 99 * r.sent)
        r.check("nothing duplicated at the upstream", r.dup == 0)
        r.check("log lines bounded (%d in %d s; not one per connection)" % (r.logs, seconds),
                r.logs <= 10 + seconds)
        if r.fds[0] is not None:
            r.check("fds back after the flood (%s -> %s)" % (r.fds[0], r.fds[2]),
                    r.fds[2] <= r.fds[0] + 2)
    finally:
        b.close()
    return r
