/*
 * keyhole-net: the child's shared state.
 *
 *   main/net_main.c  start-up: fixed fds, config, policy text, confinement
 *   sandbox.c        chroot, setuid, capabilities, rlimits, seccomp
 *   link.c           frames to and from the parent
 *   conn.c           client connections: reading, deadlines, writing
 *   decide.c         the decision on one request, for every transport
 *                    (policy, body rules, budgets, headers) and its
 *                    MSG_REQUEST
 *   gate.c           the HTTP side of it: bridge token, HTTP answers
 *   body_check.c     `body json`, `keys` and JSON validity of a body
 *   media_type.c     the Content-Type, parsed strictly
 *   (src/common/budget.c  `rate` and `max` counters, the parent keeps its own)
 *   policy_explain.c `keyhole explain`
 *   respond.c        HTTP responses and JSON error bodies
 *   http_parse.c     the strict HTTP/1.1 parser
 *   queue.c          the queue_v1 transport: request files in, response
 *                    files out (queue_file.c reads one file safely,
 *                    queue_envelope.c parses it, queue_answer.c writes
 *                    the answer)
 *   policy_compile.c the policy text compiler (with policy_rule.c and
 *                    policy_lint.c)
 */
#ifndef KH_NET_H
#define KH_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "budget.h"
#include "child_config.h"
#include "log.h"
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

struct pending;

struct conn {
	struct net *net;
	struct bufferevent *bev;
	struct event *timer;		/* the phase's deadline */
	struct event *rate_timer;	/* PH_BODY: minimum-rate windows */
	enum conn_phase phase;
	char peer[64];
	uint32_t nrequests;		/* heads parsed on this connection */
	size_t head_scanned;		/* input bytes already scanned */
	uint8_t *head;			/* copy of the current head */
	size_t head_len;
	struct http_req req;
	uint8_t *body;			/* the body, contiguous (malloc) */
	size_t body_len;
	size_t body_cap;
	uint64_t body_left;		/* HTTP_BODY_LENGTH */
	struct http_chunked chunk;
	uint64_t rate_got;		/* body bytes in this rate window */
	uint64_t rate_need;		/* ... that it must reach */
	size_t linger_left;		/* PH_CLOSING: bytes still discarded */
	struct pending *pending;	/* while PH_UPSTREAM */
	bool close_after;		/* close once the response is written */
	int rule;			/* matched policy rule, -1 before */
	uint64_t body_limit;		/* that rule's body limit, bytes */
	struct conn *prev, *next;	/* net->conns */
};

/* A request with the parent.  Outlives its connection if the client goes
 * away, so the parent's answer still finds (and drops) it. */
struct qitem;
struct queue;

struct pending {
	uint64_t id;
	struct conn *conn;		/* NULL once the client is gone */
	struct qitem *qitem;		/* queue_v1 request, or NULL */
	struct pending *next;
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
	size_t nconns;
	struct conn *conns;
	struct pending *pending;
	size_t npending;		/* + queue answers kept for a full
					   disk (queue_answer.c) */
	uint64_t next_id;
	struct queue *queue;		/* queue_v1 transport, or NULL */
};

extern struct net *kh_net;

/* link.c */
void link_log_sink(enum log_level level, const char *line);
int link_send_blocking(struct wbuf *w);
int link_read_frame_blocking(uint8_t *buf, size_t cap, struct msg_hdr *h);
void link_attach(struct net *n);
void link_send(struct net *n, struct wbuf *w);
void link_send_access(struct net *n, const char *peer, const char *method,
    const char *path, int status, const char *reason, uint64_t bytes_in,
    uint64_t bytes_out);
int link_send_owned(struct net *n, struct wbuf *w, uint8_t *blob,
    size_t len);
/* Decode and act on every complete frame in `in` (draining each).
 * Returns 0 when it needs more bytes, or -1 with *why set at the first
 * frame the child must not accept, left in `in`: the caller ends the
 * child (link_read_cb) or, in tests/fuzz/fuzz_child_msgs.c, records it. */
int link_feed(struct net *n, struct evbuffer *in, const char **why);

/* conn.c: connection lifecycle, deadlines, writing, closing */
void conn_listen_enable(struct net *n);
void conn_listen_disable(struct net *n);
/* MSG_RESPONSE: 0, or -1 with *why set, nothing changed, for a frame the
 * child must not accept (unknown id, malformed, a header it would not
 * write to a client). */
int conn_deliver(struct net *n, uint64_t id, struct msg_reader *r,
    const char **why);
void conn_shutdown(struct net *n);
void conn_process(struct conn *c);
void conn_free(struct conn *c);
void conn_maybe_exit(struct net *n);
void conn_arm(struct conn *c, uint32_t ms);
void conn_fail(struct conn *c, int status, const char *message);
const char *conn_status_message(int status);
void conn_send_request(struct conn *c);
void conn_writing(struct conn *c);

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
void queue_deliver(struct net *n, struct qitem *q, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t nh, const uint8_t *body, size_t blen);

/* respond.c */
void respond_error(struct conn *c, int status, const char *message);
/* A JSON answer the child decided itself; `reason` goes to the parent's
 * access log. */
void respond_json(struct conn *c, int status, const char *json,
    const char *reason, const char *extra_name, const char *extra_value);
void respond_write(struct conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen);
const char *respond_reason(int status);

#endif
