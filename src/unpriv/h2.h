/*
 * keyhole-net http2_v1: the host side of Paperclip's HTTP/2 bridge over a
 * command's stdio (`keyhole serve --connect CMD`).
 *
 * The parent's launcher ran CMD (ssh, docker exec -i, kubectl exec -i,
 * ...); its stdout, stdin and stderr are this child's fds 19, 20 and 21.
 * Every byte that comes out of CMD is the sandbox's: only this process
 * reads it, under its full confinement.
 *
 *   h2.c         the channel: READY (src/parse/h2_ready.c), then one
 *                nghttp2 server session; SETTINGS, flood limits,
 *                nghttp2's memory, PING liveness, GOAWAY on shutdown, the
 *                session's end (the child exits; the parent restarts CMD
 *                and the child with back-off), CMD's stderr to the log
 *   h2_stream.c  one stream = one request: its headers and body become a
 *                struct decide_req, decide.c decides exactly as for
 *                HTTP/1.1 (gate.c) and queue_v1 (queue.c), MSG_REQUEST
 *                goes to the parent, its answer back on the stream
 */
#ifndef KH_H2_H
#define KH_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "decide.h"
#include "h2_ready.h"
#include "kh_limits.h"

struct net;
struct pending;
struct link_answer;

enum h2_state {
	H2_WAIT_READY,		/* CMD started; READY line expected */
	H2_SESSION,		/* READY seen: nghttp2 owns the bytes */
	H2_DEAD,		/* ended; the child is leaving */
};

struct h2_stream {
	struct h2 *h;
	int32_t id;
	char peer[24];			/* "connect:<stream id>" */
	/* Request headers as nghttp2 delivered them (HPACK-decoded; names
	 * lower-case, pseudo-headers first, each checked by nghttp2's HTTP
	 * messaging rules). */
	char method[KH_METHOD_MAX + 1];
	bool have_method, have_path;
	int path_status;		/* 0, or 400/414 for :path */
	char path[KH_PATH_MAX + 1];	/* canonical (path.h) */
	size_t path_len;
	bool has_query;
	char query[KH_QUERY_MAX + 1];
	size_t query_len;
	struct decide_hdr hdrs[KH_HEADERS_MAX];
	size_t nhdrs;
	char *arena;			/* names and values, KH_H2_HEADER_LIST_MAX */
	size_t arena_len;
	size_t list_size;		/* RFC 9113 6.5.2 size so far */
	bool too_big;			/* over the list size or the pair count */
	bool len_known;			/* content-length given */
	uint64_t len;
	bool head_done;			/* decide_head has run */
	bool refused;			/* answered by the child: body discarded */
	int rule;
	uint64_t body_limit;
	uint8_t *body;
	size_t body_len, body_cap;
	uint64_t discarded;		/* body bytes of a refused request */
	struct pending *pending;	/* with the parent */
	/* The answer, until nghttp2 has sent it. */
	bool answered;
	uint8_t *resp;
	size_t resp_len, resp_off;
	int64_t started_ms, answered_ms;
	struct h2_stream *prev, *next;
};

struct h2 {
	struct net *net;
	enum h2_state state;
	struct event *in_ev, *out_ev, *err_ev, *tick_ev;
	struct evbuffer *out;		/* for CMD's stdin */
	struct h2_ready ready;
	nghttp2_session *s;
	nghttp2_mem mem;
	size_t mem_used;		/* nghttp2's bytes (KH_H2_SESSION_MEM_MAX) */
	int64_t started_ms;		/* CMD started (this child) */
	int64_t ready_ms;		/* READY seen */
	bool preface_seen;		/* first frame (the client's SETTINGS) */
	int64_t ping_sent_ms, last_ack_ms;
	bool ping_out;
	int64_t window_ms;		/* frame-rate window start */
	uint32_t frames;		/* frames in it */
	int64_t out_stuck_ms;		/* output waiting since (0: none) */
	bool goaway;			/* shutdown: GOAWAY sent */
	int64_t goaway_ms;
	size_t nstreams;
	struct h2_stream *streams;
	uint64_t nrequests;		/* streams decided */
	uint64_t nresets, ninvalid, ntimeouts;	/* counted, logged once */
	const char *why;		/* a callback's reason to end it */
	char whybuf[96];
	char errline[KH_H2_STDERR_LINE_MAX + 1];	/* CMD's stderr */
	size_t errlen;
	bool errcut;
};

/* h2.c */
void h2_start(struct net *n);
void h2_shutdown(struct net *n);
/* True when nothing is owed on the channel any more (conn_maybe_exit
 * waits for it while draining). */
bool h2_idle(const struct net *n);
/* The session must end now (a peer's violation, a deadline): logged,
 * GOAWAY flushed best-effort, the child leaves. */
void h2_lost(struct h2 *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Let nghttp2 produce output, and write it. */
void h2_pump(struct h2 *h);
/* A session for h (settings, options, callbacks); 0 or -1. */
int h2_session_new(struct h2 *h);
/* Feed HTTP/2 bytes; -1 when the session must end (logged). */
int h2_session_feed(struct h2 *h, const uint8_t *buf, size_t len);

/* h2_stream.c: the callbacks nghttp2 calls for streams */
void h2_stream_callbacks(nghttp2_session_callbacks *cb);
/* The per-second check of every stream: body and answer deadlines. */
void h2_stream_tick(struct h2 *h, int64_t now);
void h2_stream_free_all(struct h2 *h);

#endif
