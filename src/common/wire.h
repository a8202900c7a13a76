/*
 * keyhole wire format: the only bytes that cross the socketpair between
 * keyhole (parent, trusted, holds the credential) and keyhole-net (child,
 * faces the sandbox).  Both directions use the same framing.
 *
 *   Frame = header (16 bytes) || payload (length bytes)
 *
 *   offset size field
 *   0      1    version   KH_WIRE_VERSION; anything else is fatal
 *   1      1    type      enum msg_type below; unknown is fatal
 *   2      2    reserved  must be zero
 *   4      4    length    payload bytes, big-endian; header+length must be
 *                         <= KH_MSG_MAX, checked before any byte of the
 *                         payload is buffered
 *   8      8    id        request id (MSG_REQUEST, MSG_RESPONSE) or ping
 *                         nonce (MSG_PING, MSG_PONG), big-endian; 0 for
 *                         every other frame
 *
 * Payload fields, in the order the type's description lists them, with no
 * padding and all integers big-endian:
 *   u8 / u16 / u32 / u64   fixed-width unsigned integers
 *   str                    u32 length || bytes; no NUL byte; the reader
 *                          caps the length by its caller's maximum
 *   blob                   u32 length || bytes; any byte (bodies)
 * A reader that runs short, meets a NUL in a str, a length over its cap,
 * or finds bytes left after the last field (msg_end) rejects the frame.
 *
 * Child -> parent
 *   MSG_LOG       u8 level, str line                   any state
 *   MSG_FATAL     str reason                           any state; child exits
 *   MSG_POLICY    policy table (policy_table.h)        once, before serving
 *   MSG_ACCESS    str peer, str method, str path, u16 status, str reason,
 *                 u64 bytes_in, u64 bytes_out: a request the child answered
 *                 itself (denied, malformed, overload), for the parent's
 *                 access log only                    serving only
 *   MSG_REQUEST   id=request id; str method, str path (canonical),
 *                 u8 has_query, str query, str peer, u16 nheaders,
 *                 nheaders * (str name, str value), u8 media,
 *                 u8 media_flags, str boundary, blob body
 *                                                       serving only
 *   MSG_PONG      id=the nonce of the MSG_PING it answers; (empty)
 *                 permitted only while that ping is outstanding: a pong
 *                 nobody asked for, or with another id, is a violation
 *                                                       serving only
 *                 The headers never hold content-type: the body's media
 *                 type travels as media (0 none, 1 application/json,
 *                 2+i the matched rule's i-th `content-type`),
 *                 media_flags (bit 0: charset=utf-8; no other bit) and
 *                 boundary (empty, or 1..70 RFC 2046 bcharsnospace on a
 *                 multipart type), and the parent writes the header
 *                 from them (media.h): no parameter it did not check
 *                 reaches the upstream.
 *   MSG_METRICS   id=scrape id (not 0); u8 n (= KH_METRICS_CHILD_N),
 *                 n * u64: the child's own counters (metrics_wire.h).  An
 *                 operator's GET /metrics on the metrics listener (fd 18,
 *                 never the sandbox's), which the child parsed; the parent
 *                 answers with the text, at most KH_METRICS_RATE a second
 *                 (more get a one-line text saying so)
 *                                     serving, or retired (a scrape taken
 *                                     before MSG_RETIRE closed its listener)
 *   MSG_RETIRED   (empty): the answer to MSG_RETIRE, sent once its
 *                 listeners are closed and its queue claims stopped: from
 *                 now on every new connection is the new child's (the
 *                 parent reports the reload done only then)
 *                                                       retired only, once
 * Parent -> child
 *   MSG_CONFIG    see child_config.h; first frame a child receives
 *   MSG_POLICY_OK (empty)                              after MSG_POLICY
 *   MSG_RESPONSE  id=request id; u16 status, u16 nheaders,
 *                 nheaders * (str name, str value), blob body
 *   MSG_SHUTDOWN  (empty): answer new connections 503, finish in-flight,
 *                 then answer the listen backlog, close the listeners,
 *                 exit (the parent has closed its copies)
 *   MSG_METRICS_TEXT id=the scrape's id; blob text: the Prometheus text
 *                 exposition (0.0.4) the parent rendered, written to the
 *                 operator as it is                  for an open scrape
 *   MSG_PING      id=nonce (random, never 0); (empty): answer MSG_PONG
 *                 with the same id from the event loop.  The parent's
 *                 liveness check (src/priv/liveness.c): one ping at a
 *                 time, every quarter of --child-timeout-ms; a child
 *                 that has answered nothing for that long is killed and
 *                 restarted.                           after MSG_POLICY_OK
 *   MSG_RETIRE    str token (KH_TOKEN_MIN..KH_TOKEN_MAX visible ASCII
 *                 bytes; empty only for a child without listeners, as in
 *                 MSG_CONFIG): a reload replaced this child
 *                 (src/priv/reload.c).  Under http2_v1 it also ends the
 *                 session: GOAWAY, the open streams finish.
 *                 Stop accepting (close its copies of the listeners: the
 *                 new child holds them too), stop claiming queue files,
 *                 finish every request in progress; a kept-alive
 *                 connection serves the one request that begins within
 *                 KH_RETIRE_IDLE_MS (capped by the idle timeout), every
 *                 answer from now on says `connection: close`; then exit.
 *                 Every request whose head is read from now on must
 *                 carry `token` (the rotated bridge token); it is still
 *                 checked against this child's own policy, as the parent
 *                 re-checks it.        serving, once, never after SHUTDOWN
 *   MSG_QUEUE_START (empty): start the queue_v1 transport (recover
 *                 processing/, then claim request files).  Sent once the
 *                 child serves and no other child holds the queue: after
 *                 a reload, only when the retired child has exited, so
 *                 two children never claim files at once.
 *                                    serving, queue on, once, not retired
 */
#ifndef KH_WIRE_H
#define KH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: policy v2 (policy_table.h) and MSG_CONFIG with variable bindings and
 * the mutation count.  3: MSG_PING / MSG_PONG (liveness), MSG_REQUEST's
 * media fields and MSG_CONFIG's max_conns_per_peer.  4: MSG_CONFIG's
 * forbidden header names and metrics flag, MSG_METRICS / MSG_METRICS_TEXT
 * (the operator's scrape, src/unpriv/metrics_serve.c), and its http2_v1
 * fields (connect, h2_max_streams, h2_nonce: child_config.h).  5: MSG_RETIRE,
 * MSG_RETIRED and MSG_QUEUE_START (reload; the queue no longer starts with
 * POLICY_OK).  A parent and a child from different builds refuse each other
 * at the first frame header. */
#define KH_WIRE_VERSION 5
#define KH_WIRE_HDR     16u

enum msg_type {
	MSG_NONE = 0,
	/* child -> parent */
	MSG_LOG = 1,
	MSG_FATAL = 2,
	MSG_POLICY = 3,
	MSG_REQUEST = 4,
	MSG_ACCESS = 5,
	MSG_PONG = 6,
	MSG_METRICS = 7,
	MSG_RETIRED = 8,
	/* parent -> child */
	MSG_CONFIG = 64,
	MSG_POLICY_OK = 65,
	MSG_RESPONSE = 66,
	MSG_SHUTDOWN = 67,
	MSG_PING = 68,
	MSG_METRICS_TEXT = 69,
	MSG_RETIRE = 70,
	MSG_QUEUE_START = 71,
};

struct msg_hdr {
	uint8_t version;
	uint8_t type;
	uint32_t length;	/* payload bytes */
	uint64_t id;
};

/* Growable output buffer for building one frame. */
struct wbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t deferred;	/* payload bytes the caller sends after buf */
	bool failed;		/* allocation failed or frame too large */
};

void wbuf_init(struct wbuf *w);
void wbuf_free(struct wbuf *w);
/* Start a frame: writes the header with a placeholder length. */
void msg_begin(struct wbuf *w, enum msg_type type, uint64_t id);
void msg_put_u8(struct wbuf *w, uint8_t v);
void msg_put_u16(struct wbuf *w, uint16_t v);
void msg_put_u32(struct wbuf *w, uint32_t v);
void msg_put_u64(struct wbuf *w, uint64_t v);
/* str: the caller's bytes must not hold NUL (it is checked: failed=true). */
void msg_put_str(struct wbuf *w, const char *s, size_t len);
void msg_put_cstr(struct wbuf *w, const char *s);
void msg_put_blob(struct wbuf *w, const void *p, size_t len);
/* The last field: a blob's length only.  Its len bytes are not copied
 * into the wbuf; the caller sends them right after buf[0..len) (the
 * child hands a request body to its output buffer by reference this
 * way).  msg_finish counts them in the frame's length. */
void msg_put_blob_deferred(struct wbuf *w, size_t len);
/* Finish the frame: patch the length. Returns 0, or -1 if anything failed. */
int msg_finish(struct wbuf *w);

/* Decode and check a 16-byte header.  Returns 0 or -1 (bad version,
 * reserved bits, length over KH_MSG_MAX). */
int msg_hdr_decode(const uint8_t *p, struct msg_hdr *h);

/* Typed reader over one payload.  Every getter returns 0 or -1; after the
 * first failure every later call fails too, so a handler may read all
 * fields and check once with msg_end(). */
struct msg_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool failed;
};

void msg_reader_init(struct msg_reader *r, const uint8_t *payload, size_t len);
int msg_get_u8(struct msg_reader *r, uint8_t *v);
int msg_get_u16(struct msg_reader *r, uint16_t *v);
int msg_get_u32(struct msg_reader *r, uint32_t *v);
int msg_get_u64(struct msg_reader *r, uint64_t *v);
/* str: points into the payload (not NUL-terminated); rejects NUL bytes and
 * length > max. */
int msg_get_str(struct msg_reader *r, const char **s, size_t *len, size_t max);
/* str copied into dst[cap] and NUL-terminated; rejects len >= cap. */
int msg_get_strbuf(struct msg_reader *r, char *dst, size_t cap);
int msg_get_blob(struct msg_reader *r, const uint8_t **p, size_t *len, size_t max);
/* Returns 0 only if nothing failed and every byte was consumed. */
int msg_end(struct msg_reader *r);

/*
 * The frame pump, the one read loop of both ends (tmux's proc.c: read →
 * frames → dispatch, in one short callback).  For every frame in `in`:
 * its 16-byte header is decoded (msg_hdr_decode) as soon as it is there,
 * before any of the payload is waited for; once the frame is complete it
 * is handed to `frame` (payload contiguous, h->length bytes) and drained.
 * `hold` (may be NULL) is asked before each frame whose header is in:
 * true leaves it for a later call (the parent's back-pressure, monitor.c).
 *
 * Returns 0 when it needs more bytes (or was held), or -1 with *why (a
 * static string) at the first frame with a bad header or that `frame`
 * refuses, which is left in `in`: the caller ends the other side.
 */
struct evbuffer;
struct bufferevent;
typedef int (*wire_frame_fn)(void *arg, const struct msg_hdr *h,
    const uint8_t *payload, const char **why);
int wire_pump(struct evbuffer *in, wire_frame_fn frame,
    bool (*hold)(void *arg), void *arg, const char **why);

/*
 * Queue one frame on bev, whole or not at all: w's frame (finished here),
 * whose last field is a deferred blob of len bytes, then blob[0..len).
 * It is put together in its own evbuffer and moved into bev's output in
 * one step, so a failure (memory) never leaves half a frame there.  With
 * give, blob is the caller's malloc'd buffer, handed over in every case:
 * it follows by reference, not copied (a body or an upstream response
 * costs one buffer), and is freed once written; without, it is copied.
 * w is freed.  Returns 0, or -1 with nothing queued.
 */
int wire_send(struct bufferevent *bev, struct wbuf *w, uint8_t *blob,
    size_t len, bool give);
/* The same into dst, an evbuffer (the parent holds an answer there until
 * the audit record that describes it is on disk: src/priv/audit.c). */
int wire_send_buf(struct evbuffer *dst, struct wbuf *w, uint8_t *blob,
    size_t len, bool give);

#endif
