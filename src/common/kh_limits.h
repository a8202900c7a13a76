/*
 * keyhole — every limit in one place.
 *
 * Hard maxima (KH_*_MAX) are compiled in and checked on both sides of the
 * socketpair; defaults (KH_DEF_*) are what an operator gets without options
 * and must stay at or below the matching maximum.
 */
#ifndef KH_KH_LIMITS_H
#define KH_KH_LIMITS_H

/* Wire: largest message on the socketpair, in bytes, header included.
 * Must hold the largest body (KH_BODY_MAX) or response (KH_RESPONSE_MAX)
 * plus headers and framing. */
#define KH_MSG_MAX            (17u * 1024 * 1024)

/* Request body, bytes.  Paperclip's bridge defaults to 1 MiB; 8 MiB is the
 * most an operator may configure (attachments are small JSON/multipart). */
#define KH_DEF_BODY           (1024u * 1024)
#define KH_BODY_MAX           (8u * 1024 * 1024)

/* Upstream response body, bytes: default and hard maximum. */
#define KH_DEF_RESPONSE       (8u * 1024 * 1024)
#define KH_RESPONSE_MAX       (16u * 1024 * 1024)

/* Request head (request line + fields + final CRLF), bytes. */
#define KH_DEF_HEAD           (16u * 1024)
#define KH_HEAD_MAX           (64u * 1024)

/* Header fields per request (and trailer fields per chunked body). */
#define KH_DEF_HEADERS        64u
#define KH_HEADERS_MAX        128u

/* Method token, bytes (longest standard method is 7; leave room). */
#define KH_METHOD_MAX         16u
/* Canonical path and query, bytes each. */
#define KH_PATH_MAX           4096u
#define KH_QUERY_MAX          4096u
/* One header name / value, bytes. */
#define KH_HNAME_MAX          64u
#define KH_HVALUE_MAX         8192u
/* Headers forwarded upstream / returned to the client per message. */
#define KH_FWD_HEADERS_MAX    32u
/* Chunk-size line including extensions, bytes. */
#define KH_CHUNK_LINE_MAX     1024u
/* Nesting of a JSON request body (arrays and objects), levels.  cJSON's
 * limit, which the gate used before its own check; Paperclip's bodies
 * nest a few levels.  The check keeps one bit per level. */
#define KH_JSON_DEPTH_MAX     1000u

/* Route policy: source text bytes, rules, segments per pattern, allowlist
 * entries per direction.  An auditor reads it in one sitting. */
#define KH_POLICY_TEXT_MAX    (256u * 1024)
#define KH_POLICY_RULES_MAX   512u
#define KH_POLICY_SEGS_MAX    32u
#define KH_POLICY_SEG_MAX     256u
#define KH_POLICY_HDRS_MAX    32u

/* Connections the child accepts at once; beyond it: 503 and close. */
#define KH_DEF_CONNS          256u
#define KH_CONNS_MAX          16384u
/* Requests in flight to the upstream (Paperclip: MAX_QUEUE_DEPTH). */
#define KH_DEF_INFLIGHT       64u
#define KH_INFLIGHT_MAX       4096u
/* Pipelined requests parsed ahead per connection. */
#define KH_PIPELINE_MAX       8u

/* Deadlines, milliseconds. */
#define KH_DEF_HEAD_TIMEOUT_MS      10000u  /* whole head must arrive */
#define KH_DEF_BODY_TIMEOUT_MS      30000u  /* whole body must arrive */
#define KH_DEF_IDLE_TIMEOUT_MS      60000u  /* keep-alive idle */
#define KH_DEF_UPSTREAM_TIMEOUT_MS  30000u  /* Paperclip RESPONSE_TIMEOUT_MS */
#define KH_DEF_DRAIN_MS             10000u  /* SIGTERM: finish in-flight */
#define KH_TIMEOUT_MAX_MS           3600000u

/* Bridge token and credential, bytes. */
#define KH_TOKEN_MIN          16u
#define KH_TOKEN_MAX          512u
#define KH_CRED_MAX           4096u

/* One log line from the child, bytes. */
#define KH_LOG_MAX            2048u

/* Child restart back-off, milliseconds: doubles from MIN to MAX. */
#define KH_RESTART_MIN_MS     100u
#define KH_RESTART_MAX_MS     30000u

#endif
