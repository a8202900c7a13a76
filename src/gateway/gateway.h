/*
 * keyhole-gateway: the sandbox side of Paperclip's queue_v1 transport, in
 * C, so a sandbox needs no Node.js.  It does what Paperclip's gateway
 * (getSandboxCallbackBridgeServerSource() in @paperclipai/adapter-utils)
 * does, with keyhole's strict HTTP parser and constant-time token check:
 *
 *   gateway_main.c   environment, start-up
 *   gateway.c        listener, connections, HTTP answers
 *   gateway_dirs.c   the queue directory: walked by fd, owner and modes
 *                    checked, created 0700
 *   gateway_queue.c  request files out, response files in, queue depth,
 *                    stale-request sweep
 *   src/parse/gateway_envelope.c  the request file written (pure; fuzzed)
 *   src/parse/gateway_response.c  the response file parsed (pure; fuzzed)
 *
 * Of keyhole's code it links src/common, src/check and src/parse only,
 * never src/unpriv or src/priv (CMakeLists.txt, ctest `boundary`).
 *
 * It holds no credential (only the bridge token the sandbox has anyway)
 * and opens no network connection: one listening socket on
 * PAPERCLIP_BRIDGE_HOST (127.0.0.1) and files in PAPERCLIP_BRIDGE_QUEUE_DIR.
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
	struct gw_req *wait;		/* while GW_WAIT */
	bool close_after;
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
/* gateway.c: answers (the request's connection, if any) */
void gw_answer(struct gw_conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen);
void gw_answer_error(struct gw_conn *c, int status, const char *message,
    bool indeterminate);
void gw_answer_id(struct gw_conn *c, enum pc_id id);
void gw_conn_resume(struct gw_conn *c);

/* gateway_dirs.c: open (mkdir -p) the queue directory and its
 * subdirectories, refusing any another user could change; 0 or -1 after
 * printing why */
int gw_queue_open(struct gw *g);

/* gateway_queue.c */
void gw_queue_watch(struct gw *g);
/* requests/ holds at least max_depth *.json files even after the stale
 * sweep: true means answer 503. */
bool gw_queue_full(struct gw *g);
/* Write requests/<id>.json and wait for responses/<id>.json; answers c
 * (through gw_answer*) when the response, an error or the deadline comes. */
void gw_queue_submit(struct gw_conn *c, const uint8_t *body, size_t blen,
    bool base64);
void gw_queue_conn_gone(struct gw_conn *c);
int gw_write_ready(struct gw *g);

#endif
