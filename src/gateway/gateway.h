/*
 * keyhole-gateway: the sandbox side of Paperclip's bridge, in C, so a
 * sandbox needs no Node.js.  It does what Paperclip's gateway
 * (getSandboxCallbackBridgeServerSource() in @paperclipai/adapter-utils)
 * does, with keyhole's strict HTTP parser and constant-time token check,
 * over either of Paperclip's transports (PAPERCLIP_API_BRIDGE_MODE):
 *
 *   queue_v1   request and response files in PAPERCLIP_BRIDGE_QUEUE_DIR
 *   http2_v1   one HTTP/2 session over stdin/stdout, opened with a READY
 *              line, one stream per agent request (the host runs this
 *              gateway as a command: ssh, docker exec -i, kubectl exec -i)
 *
 *   gateway_main.c    environment, start-up
 *   gateway.c         listener, connections, HTTP answers
 *   gateway_confine.c its seccomp filter, installed once set up
 *   gateway_dirs.c    queue_v1: the queue directory, walked by fd, owner
 *                     and modes checked, created 0700
 *   gateway_queue.c   queue_v1: request files out, response files in,
 *                     queue depth, stale-request sweep
 *   gateway_stdio.c   http2_v1: the session on stdin/stdout, one request
 *                     per stream, deadlines, the end of the session
 *   src/parse/gateway_envelope.c  queue_v1: the request file (pure; fuzzed)
 *   src/parse/gateway_response.c  queue_v1: the response file (pure; fuzzed)
 *   src/parse/gateway_h2.c        http2_v1: the HTTP/2 client (pure; fuzzed)
 *   src/parse/gateway_ready.c     http2_v1: the READY line
 *
 * Of keyhole's code it links src/common, src/check and src/parse only,
 * never src/unpriv or src/priv (CMakeLists.txt, ctest `boundary`).
 * keyhole-gateway-static is the same program linked statically, http2_v1
 * only (queue_v1 needs cJSON, which Debian ships only as a shared
 * library): it runs in a sandbox image without any of keyhole's libraries.
 *
 * It holds no credential (only the bridge token the sandbox has anyway)
 * and opens no network connection: one listening socket on
 * PAPERCLIP_BRIDGE_HOST (127.0.0.1), and files in PAPERCLIP_BRIDGE_QUEUE_DIR
 * or its stdin/stdout.
 */
#ifndef KH_GATEWAY_H
#define KH_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "http_parse.h"
#include "kh_limits.h"
#include "paperclip.h"

struct gw_req;
struct gw_h2req;
struct gw_stdio;
struct gw_conn;
struct gw;

/* What a transport does with a request the listener has read. */
struct gw_ops {
	/* After the bridge token: the answer that refuses the request
	 * before its body is read (a pc_id), or -1 */
	int (*gate)(struct gw_conn *c);
	/* The request is complete (body in c->body): answer c, now or
	 * later, through gw_answer* */
	void (*submit)(struct gw_conn *c);
	/* c is being freed: drop every reference to it */
	void (*conn_gone)(struct gw_conn *c);
	/* Nothing in flight: a stopping gateway may end */
	bool (*idle)(struct gw *g);
	/* Stopping and idle: end (event_base_loopbreak, now or later) */
	void (*finish)(struct gw *g);
};

extern const struct gw_ops gw_queue_ops;
extern const struct gw_ops gw_stdio_ops;

enum gw_phase { GW_IDLE, GW_HEAD, GW_BODY, GW_WAIT, GW_WRITING };

struct gw_conn {
	struct gw *gw;
	struct bufferevent *bev;
	struct event *timer;
	enum gw_phase phase;
	size_t head_scanned;
	uint8_t *head;
	struct http_req req;
	struct evbuffer *body;
	uint64_t body_left;
	struct http_chunked chunk;
	struct gw_req *wait;		/* queue_v1, while GW_WAIT */
	struct gw_h2req *h2req;		/* http2_v1, while GW_WAIT */
	bool close_after;
	uint64_t held;			/* body bytes reserved in the ledger */
	struct gw_conn *prev, *next;
};

/* One request whose file was written; outlives its connection. */
struct gw_req {
	struct gw *gw;
	char id[40];			/* UUID */
	char method[KH_METHOD_MAX + 1];
	bool dispatched;		/* the request file exists (or may) */
	int64_t deadline_ms;
	struct event *poll;
	struct gw_conn *conn;		/* NULL once the client left */
	struct gw_req *prev, *next;
};

struct gw {
	struct event_base *base;
	const struct gw_ops *ops;
	const char *nonce;		/* http2_v1: PAPERCLIP_BRIDGE_NONCE */
	size_t nonce_len;
	struct gw_stdio *h2;		/* http2_v1: the session */
	int exit_code;
	const char *qdir;
	int qfd, reqfd, respfd;		/* queue dir, requests/, responses/ */
	char *token;
	size_t token_len;
	const char *host;
	uint16_t port;
	uint32_t poll_ms;
	uint32_t timeout_ms;
	uint32_t max_depth;
	uint64_t max_body;
	uint64_t body_ceiling;		/* the body ledger (gateway.c) */
	uint64_t body_held;
	struct http_limits lim;
	struct evconnlistener *listener;
	int notify_fd;			/* inotify on responses/, or -1 */
	struct event *notify_ev;
	struct gw_conn *conns;
	size_t nconns;
	struct gw_req *waiting;
	bool stopping;
};

/* gateway.c: the listener on g->host:g->port (the port chosen is
 * written back); -1 with errno, -2 when host is not a numeric address */
int gw_listen(struct gw *g);
/* SIGTERM/SIGINT: stop accepting, finish what is in flight, then exit */
void gw_signal_cb(evutil_socket_t sig, short what, void *arg);
/* Stop accepting; idle connections are closed, busy ones finish. */
void gw_stop(struct gw *g);
/* A stopping gateway with nothing left to do ends (ops->finish). */
void gw_maybe_done(struct gw *g);
/* gateway.c: answers (the request's connection, if any) */
void gw_answer(struct gw_conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen);
void gw_answer_error(struct gw_conn *c, int status, const char *message,
    bool indeterminate);
void gw_answer_id(struct gw_conn *c, enum pc_id id);
void gw_conn_resume(struct gw_conn *c);
/* Give n bytes of body back to the ledger (a transport that kept a
 * connection's reservation). */
void gw_ledger_release(struct gw *g, uint64_t n);

/* gateway_dirs.c: open (mkdir -p) the queue directory and its
 * subdirectories, refusing any another user could change; 0 or -1 after
 * printing why */
int gw_queue_open(struct gw *g);

/* gateway_queue.c (gw_queue_ops) */
void gw_queue_watch(struct gw *g);
int gw_write_ready(struct gw *g);

/* gateway_stdio.c (gw_stdio_ops): the session on stdin/stdout set up,
 * not started; 0, or -1 after printing why */
int gw_stdio_open(struct gw *g);
/* READY, the preface and SETTINGS written: the session starts */
void gw_stdio_start(struct gw *g);

/* gateway_confine.c: PR_SET_NO_NEW_PRIVS and the seccomp filter of the
 * mode (queue_v1 adds file calls on the queue directories' fds); 0 or -1 */
int gw_confine(const struct gw *g, bool queue);

#endif
