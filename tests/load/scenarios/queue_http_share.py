"""HTTP clients beside a burst of 5,000 queue request files: are they
still served?

The queue_flood run (loadqueue.burst: 5,000 files renamed into requests/
at once, two HTTP clients on the same keyhole) with one check: >= 99 %
of the HTTP requests made while the files are served answered 200.  The
row counts those HTTP requests only (the files are in the notes).

It failed before the queue kept a quarter of --max-inflight for HTTP
clients (queue.c queue_slots, KH_QUEUE_HTTP_SHARE): the queue claimed a
file whenever a slot was free, and HTTP requests finding every slot
taken were answered 503 "Bridge request queue is full." for as long as
the backlog lasted (56 of 113 answered 200 at 1e563ab)."""

import loadlib
import loadqueue

NAME = "queue_http_share"
FAST = True
ABOUT = "HTTP clients >= 99 % served beside 5,000 queue files at once"


def run(opts):
    r = loadlib.Result(NAME)
    b = loadlib.Bench(nofile=1024, queue=True)
    try:
        loadlib.warm_up(b)
        res = loadqueue.burst(r, b, 5000, 100, tag="qs", files_in_row=False)
        loadqueue.check_http_beside(r, res)
        r.check("every file answered exactly once (%d unanswered, %d twice, %d wrong)"
                % (res["q"]["unanswered"], res["q"]["twice"], res["q"]["wrong"]),
                not (res["q"]["unanswered"] or res["q"]["twice"] or res["q"]["wrong"]))
    finally:
        b.close()
    return r
