/*
 * keyhole-net: the child's shared state.
 *
 *   main/net_main.c  start-up: fixed fds, config, policy text, confinement
 *   sandbox.c        chroot, setuid, capabilities, rlimits, seccomp
 *   link.c           the protocol endpoint: every frame to and from the
 *                    parent (a {type, states, handler} table, as the
 *                    parent's monitor.c), answers handed to their owner
 *   conn.c           client connections: accepting, deadlines, writing,
 *                    draining (conn_read.c reads one request)
 *   conn_admit.c     who gets a connection slot: per-peer cap, eviction of
 *                    idle connections when full, counted refusals
 *   conn_drain.c     MSG_SHUTDOWN: answering, the listen backlog, exit;
 *                    MSG_RETIRE (a reload): finishing, then exit
 *   conn_mem.c       memory of connections given back after a flood
 *   decide.c         the decision on one request, for every transport
 *                    (policy, body rules, budgets, headers)
 *   gate.c           the HTTP side of it: bridge token, HTTP answers
 *   (src/common/budget.c  `rate` and `max` counters, the parent keeps its own)
 *   policy_explain.c `keyhole explain`
 *   respond.c        HTTP answers: the parent's and the child's own
 *                    (src/common/paperclip.h)
 *   queue.c          the queue_v1 transport: request files in, response
 *                    files out (queue_file.c reads one file safely,
 *                    queue_answer.c writes the answer)
 *   policy_compile.c the policy text compiler (with policy_rule.c and
 *                    policy_lint.c)
 *
 * The parsers it runs on sandbox bytes are in src/parse/ (shared with
 * keyhole-gateway, never linked by the parent): http_parse.c (HTTP/1.1),
 * media_type.c (Content-Type), body_check.c (`body json`, `keys`, with
 * cJSON), queue_envelope.c (a request file); http_write.c writes its
 * HTTP answers.
 */
#ifndef KH_NET_H
#define KH_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "budget.h"
#include "child_config.h"
#include "log.h"
#include "paperclip.h"
#include "http_parse.h"
#include "policy_table.h"
#include "wire.h"

enum conn_phase {
	PH_IDLE,	/* between requests: idle deadline (head deadline on a
			   new connection), closed silently when it passes */
	PH_HEAD,	/* reading a head: head deadline */
	PH_BODY,	/* reading a body: body deadline and minimum rate */
	PH_UPSTREAM,	/* request with the parent; reading paused */
	PH_WRITING,	/* response queued; reading paused; write deadline */
	PH_CLOSING,	/* answered, write side shut: discarding input for a
			   bounded time so close() does not reset the answer */
};

/* Eviction tiers (conn_admit.c), in the order a full table takes a
 * connection's place: one still waiting for its head (new, or partly
 * received), then one lingering after its answer, then one kept alive
 * between requests.  A connection with a request in progress (body,
 * upstream, writing) is never evicted. */
enum conn_tier {
	CT_NONE = 0,
	CT_HEAD,
	CT_CLOSING,
	CT_IDLE,
	CT_END
};

struct conn_q {
	struct conn *head, *tail;	/* oldest first */
};

struct pending;
struct conn_peer;
struct queue;

struct conn {
	struct net *net;
	struct bufferevent *bev;
	struct event *timer;		/* the phase's deadline */
	struct event *rate_timer;	/* PH_BODY: minimum-rate windows */
	enum conn_phase phase;		/* set by conn_set_phase() only */
	char peer[KH_PEER_MAX + 1];
	uint32_t nrequests;		/* heads parsed on this connection */
	size_t head_scanned;		/* input bytes already scanned */
	uint8_t *head;			/* copy of the current head */
	size_t head_len;
	/* The request being served, allocated when its head is complete
	 * (about 12 KiB: an idle connection does not carry one); points at
	 * the empty conn_no_req when there is none. */
	struct http_req *req;
	uint8_t *body;			/* the body, contiguous (malloc) */
	size_t body_len;
	size_t body_cap;
	uint64_t body_left;		/* HTTP_BODY_LENGTH */
	struct http_chunked *chunk;	/* HTTP_BODY_CHUNKED, while read */
	uint64_t rate_got;		/* body bytes in this rate window */
	uint64_t rate_need;		/* ... that it must reach */
	size_t linger_left;		/* PH_CLOSING: bytes still discarded */
	struct pending *pending;	/* while PH_UPSTREAM */
	bool close_after;		/* close once the response is written */
	int rule;			/* matched policy rule, -1 before */
	uint64_t body_limit;		/* that rule's body limit, bytes */
	struct conn *prev, *next;	/* net->conns */
	/* conn_admit.c: the peer's entry (NULL: a Unix socket, no per-peer
	 * cap), the eviction tier and the places in net's and the peer's
	 * queue of that tier. */
	struct conn_peer *peer_ent;
	enum conn_tier tier;
	struct conn *tprev, *tnext;
	struct conn *pprev, *pnext;
};

/* Why a connection was not given a slot (counted, not logged each). */
enum conn_refusal {
	CR_FULL,	/* every slot busy with a request */
	CR_PEER,	/* the peer's cap reached, all of them busy */
	CR_SHUTDOWN,	/* draining: answered 503 at once */
	CR_END
};

/* conn_admit.c's state (zero = nothing yet; set up on first use). */
struct conn_admit {
	struct conn_q q[CT_END];	/* every evictable connection */
	struct conn_peer **peers;	/* hash of TCP peers */
	size_t nbuckets;		/* a power of two, or 0 */
	uint64_t key[2];		/* the hash's random key */
	unsigned batch;			/* accepts in this turn of the loop */
	struct event *resume_ev;	/* accept again at the next turn */
	struct event *report_ev;	/* the counters' next summary */
	struct event *trim_ev;		/* malloc_trim after many closed */
	size_t trim_peak;		/* most connections since the last */
	uint64_t refused[CR_END];	/* since the last summary */
	uint64_t evicted[CT_END];
	uint64_t refused_total[CR_END];
	uint64_t evicted_total[CT_END];
};

/* A MSG_RESPONSE as link.c decoded and checked it (a final status
 * 200..599, header names lower-case tokens, values forwardable, the body
 * within KH_RESPONSE_MAX).  Points into the frame and link.c's stack:
 * valid during the completion callback only. */
struct link_answer {
	int status;
	size_t nh;
	const char *names[KH_FWD_HEADERS_MAX];	/* NUL-terminated */
	const char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX];
	const uint8_t *body;
	size_t blen;
};

/* A request with the parent.  Outlives its connection if the client goes
 * away (owner NULL), so the parent's answer still finds (and drops) it. */
struct pending;
struct net;
/* The completion callback: the parent's answer, for p's owner (conn.c's
 * conn_deliver, queue.c's queue_deliver).  link.c frees p after it. */
typedef void (*pending_done_fn)(struct net *n, struct pending *p,
    const struct link_answer *a);

struct pending {
	uint64_t id;
	pending_done_fn done;
	void *owner;			/* struct conn or queue item; NULL once
					   the client is gone */
	struct pending *next;
};

/* MSG_REQUEST's fields (wire.h), as decide_forward lets them through. */
struct link_request {
	const char *method;		/* NUL-terminated */
	const char *path;		/* canonical */
	size_t path_len;
	bool has_query;
	const char *query;
	size_t query_len;
	const char *peer;		/* NUL-terminated, < KH_PEER_MAX */
	size_t nh;			/* allowlisted headers */
	const char (*names)[KH_HNAME_MAX + 1];	/* lower-case */
	const char *const *values;
	const size_t *vlens;
	uint8_t media, media_flags;	/* media.h */
	const char *boundary;
	size_t blen;
	size_t body_len;
};

struct net {
	struct event_base *base;
	struct child_config cfg;
	struct policy policy;
	uint64_t max_body;		/* largest body any rule accepts */
	struct budget budget;		/* rate and `max` counters */
	struct http_limits lim;
	struct evconnlistener *listeners[KH_LISTENERS_MAX];
	size_t nlisteners;
	struct bufferevent *parent;
	bool serving;
	bool shutting_down;
	bool listeners_closed;		/* shutdown: no new connection can
					   complete any more */
	bool retiring;			/* MSG_RETIRE: a reload replaced it */
	bool queue_started;		/* MSG_QUEUE_START received */
	size_t nconns;
	struct conn *conns;
	struct conn_admit admit;
	struct pending *pending;
	size_t npending;		/* + queue answers kept for a full
					   disk (queue_answer.c) */
	uint64_t next_id;
	struct queue *queue;		/* queue_v1 transport, or NULL */
	uint64_t accepted_total;	/* client connections, for metrics */
	struct metrics_srv *metrics;	/* the operator's listener, or NULL */
	struct h2 *h2;			/* http2_v1 over a command (h2.h), or NULL */
};

extern struct net *kh_net;

/* metrics_serve.c: GET /metrics on the operator's listener (fd 18) */
void metrics_serve_start(struct net *n);
void metrics_serve_stop(struct net *n);
/* The parent's MSG_METRICS_TEXT for scrape id; 0, or -1 with *why. */
int metrics_serve_answer(struct net *n, uint64_t id, const uint8_t *text,
    size_t len, const char **why);

/* link.c: the child's protocol endpoint (frames both ways) */
void link_log_sink(enum log_level level, const char *line);
int link_send_blocking(struct wbuf *w);
int link_read_frame_blocking(uint8_t *buf, size_t cap, struct msg_hdr *h);
void link_attach(struct net *n);
void link_send_access(struct net *n, const char *peer, const char *method,
    const char *path, int status, const char *reason, uint64_t bytes_in,
    uint64_t bytes_out);
/* One MSG_REQUEST; body (heap, q->body_len bytes, or NULL) is taken over
 * in every case.  Returns the pending request, linked into n->pending
 * (the caller sets its done and owner before returning to the event
 * loop), or NULL when nothing was sent. */
struct pending *link_send_request(struct net *n, const struct link_request *q,
    uint8_t *body);
/* MSG_RETIRED: the listeners are closed (conn_retire). */
void link_send_retired(struct net *n);
/* The child's one fatal-error path, before and after its event loop
 * exists: flush what is queued for the parent, send MSG_FATAL (the
 * reason), _exit(1). */
void link_fatal(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
/* Decode and act on every complete frame in `in` (draining each).
 * Returns 0 when it needs more bytes, or -1 with *why set at the first
 * frame the child must not accept, left in `in`: the caller ends the
 * child (link_read_cb) or, in tests/fuzz/fuzz_child_msgs.c, records it. */
int link_feed(struct net *n, struct evbuffer *in, const char **why);

/* conn.c: connection lifecycle, deadlines, writing, closing */
extern struct http_req conn_no_req;	/* "no request yet": never written */
void conn_listen_enable(struct net *n);
void conn_listen_disable(struct net *n);
void conn_set_phase(struct conn *c, enum conn_phase phase);
/* The completion callback of an HTTP request (pending_done_fn): the
 * parent's answer written to the client, or dropped if it left. */
void conn_deliver(struct net *n, struct pending *p,
    const struct link_answer *a);
void conn_shutdown(struct net *n);
void conn_process(struct conn *c);
void conn_free(struct conn *c);
void conn_maybe_exit(struct net *n);
void conn_arm(struct conn *c, uint32_t ms);
void conn_fail(struct conn *c, enum pc_id id);
void conn_send_request(struct conn *c);
void conn_writing(struct conn *c);

/* conn_admit.c */
/* Make room for a new connection from sa (evicting as needed) and attach
 * c to its peer.  Returns 0, or -1 with *why set: c was not attached. */
int conn_admit(struct net *n, struct conn *c, const struct sockaddr *sa,
    enum conn_refusal *why);
/* c leaves: its queues and its peer. */
void conn_admit_release(struct conn *c);
/* c's phase changed: move it to its tier's queue (or out of them). */
void conn_admit_tier(struct conn *c);
/* Count (and report, one line per KH_CONN_REPORT_MS) a refusal. */
void conn_admit_refused(struct net *n, enum conn_refusal why);
/* Log what is counted and not yet reported (at exit). */
void conn_admit_report_now(struct net *n);
/* One more connection accepted in this turn; false when the listeners
 * should pause until the next turn. */
bool conn_admit_batch_ok(struct net *n);
/* Accepting resumed: a new turn. */
void conn_admit_batch_reset(struct net *n);
/* Free what conn_admit.c and conn_mem.c hold (no connection is left). */
void conn_admit_free(struct net *n);
/* The 503 the child writes for a refusal, and its length. */
const char *conn_503_text(enum conn_refusal why, size_t *len);
/* Answer 503 on fd, a connection that gets no slot, and close it. */
void conn_refuse_fd(struct net *n, int fd, enum conn_refusal why);

/* conn_drain.c */
/* Read and discard up to max bytes the client sent, without waiting. */
void conn_drain_input(int fd, size_t max);
/* MSG_RETIRE (wire.h): stop accepting, finish, exit; tok[0..len) is the
 * bridge token from now on. */
void conn_retire(struct net *n, const char *tok, size_t len);
/* How long a retired child keeps a connection idle: KH_RETIRE_IDLE_MS,
 * at most the idle timeout. */
uint32_t conn_retire_idle_ms(const struct net *n);

/* conn_mem.c */
/* At start: glibc keeps freed memory for reuse under load. */
void conn_mem_tune(void);
/* Before the first connection: libevent's per-fd records, all at once. */
void conn_mem_prewarm(struct net *n);
/* A connection has closed: malloc_trim after many. */
void conn_mem_closed(struct net *n);

/* conn_read.c: reading one request (head, body, minimum body rate) */
void conn_rate_cb(evutil_socket_t fd, short what, void *arg);
/* Shutdown is complete: flush what is queued for the parent and _exit(0).
 * Weak, so tests/fuzz/fuzz_child_msgs.c can observe the exit instead. */
void conn_exit(struct net *n) __attribute__((noreturn));

/* gate.c: decide on a complete head (before the body) and a complete
 * request.  Each returns 0 to go on, or an HTTP status already answered. */
int gate_head(struct conn *c);
int gate_request(struct conn *c);
/* The HTTP request as the decision sees it (h holds KH_HEADERS_MAX; q
 * points into r, h and body). */
struct decide_req;
struct decide_hdr;
void gate_describe(const struct http_req *r, const char *peer,
    const uint8_t *body, size_t blen, struct decide_req *q,
    struct decide_hdr *h);
/* The body checks, apart for tests/fuzz/fuzz_json_body.c: a content-type
 * field naming JSON, and a body that is one JSON text. */
bool gate_is_json(const struct http_field *ct);
bool gate_json_valid(const uint8_t *body, size_t len);

/* queue.c */
/* A request file's envelope as the decision sees it (h holds
 * KH_HEADERS_MAX; r points into e and h). */
struct qenv;
void queue_describe(const struct qenv *e, const char *peer,
    struct decide_req *r, struct decide_hdr *h);
void queue_start(struct net *n);
void queue_shutdown(struct net *n);
/* Capacity freed (an answer written): claim what waited for it. */
void queue_kick(struct net *n);

/* respond.c */
/* An answer of the contract without template fields (paperclip.h). */
void respond_answer(struct conn *c, enum pc_id id);
/* A JSON answer the child decided itself; `reason` goes to the parent's
 * access log. */
void respond_json(struct conn *c, int status, const char *json,
    const char *reason, const char *extra_name, const char *extra_value);
void respond_write(struct conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen);

#endif
