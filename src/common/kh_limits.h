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

/* Empty lines (CRLF) ignored before a request line, RFC 9112 2.2 ("a
 * server ... SHOULD ignore at least one"): an old client's extra CRLF
 * after a POST body.  Their bytes count in the head limit; one more is
 * 400, so a client cannot idle in front of a request line. */
#define KH_HEAD_EMPTY_LINES_MAX 1u

/* Header fields per request (and trailer fields per chunked body). */
#define KH_DEF_HEADERS        64u
#define KH_HEADERS_MAX        128u

/* Method token, bytes (longest standard method is 7; leave room). */
#define KH_METHOD_MAX         16u
/* Canonical path and query, bytes each. */
#define KH_PATH_MAX           4096u
#define KH_QUERY_MAX          4096u
/* A peer as the child names it in MSG_REQUEST and MSG_ACCESS, bytes: a
 * TCP client "[IPv6]:port" (at most 53), "unix", or "queue:<id>" (at
 * most 6 + KH_QUEUE_ID_MAX = 62). */
#define KH_PEER_MAX           63u
/* The reason of an access-log record the child sends (MSG_ACCESS), bytes:
 * a refusal's message or a short cause. */
#define KH_REASON_MAX         255u
/* One header name / value, bytes. */
#define KH_HNAME_MAX          64u
#define KH_HVALUE_MAX         8192u
/* Headers forwarded upstream / returned to the client per message. */
#define KH_FWD_HEADERS_MAX    32u
/* Chunk-size line including extensions, bytes. */
#define KH_CHUNK_LINE_MAX     1024u
/* Route policy: source text bytes, rules, segments per pattern, allowlist
 * entries per direction.  An auditor reads it in one sitting. */
#define KH_POLICY_TEXT_MAX    (256u * 1024)
#define KH_POLICY_RULES_MAX   512u
#define KH_POLICY_SEGS_MAX    32u
#define KH_POLICY_SEG_MAX     256u
#define KH_POLICY_HDRS_MAX    32u
/* Policy v2, per rule: top-level JSON keys named by `keys`, bytes per key
 * name; media types named by `content-type`, bytes each; extra request
 * headers named by a route's `request-header`.  Each is a short list an
 * auditor reads on one line. */
#define KH_POLICY_KEYS_MAX    32u
#define KH_POLICY_KEY_MAX     64u
#define KH_POLICY_CTYPES_MAX  8u
#define KH_POLICY_CTYPE_MAX   127u
#define KH_POLICY_RHDRS_MAX   8u
/* Variables ({name} segments): distinct names per policy and per run, and
 * bytes per name.  A bound value is one path segment (KH_POLICY_SEG_MAX). */
#define KH_POLICY_VARS_MAX    16u
#define KH_POLICY_VAR_MAX     32u
/* `rate N/s|N/min`: most requests per period a rule may allow. */
#define KH_POLICY_RATE_MAX    1000000u
/* `max N`: largest mutation budget per run. */
#define KH_POLICY_BUDGET_MAX  100000000u
/* Segments a request path may have to match any rule (a '**' rule matches
 * deep paths; a path of more segments is simply denied).  Bounds the
 * matcher's per-request work and its stack array in both processes. */
#define KH_PATH_SEGS_MAX      256u
/* JSON nesting depth ([ and {) a request body may have.  cJSON's own limit
 * is 1000; real API bodies nest a handful of levels, and the shallow bound
 * keeps cJSON's recursion and a later consumer's well away from trouble.
 * json_check.c keeps one bit per level. */
#define KH_JSON_DEPTH_MAX     32u
/* A multipart boundary, bytes: RFC 2046 section 5.1.1 allows 1..70. */
#define KH_BOUNDARY_MAX       70u

/* Connections the child holds at once (--max-conns).  The default is
 * sized from the hard RLIMIT_NOFILE keyhole starts with (config.c): that
 * limit less KH_CONNS_FD_RESERVE, at most KH_DEF_CONNS_AUTO_MAX.  When the
 * table is full, a new connection takes the place of the oldest one still
 * waiting for its head, else of the oldest lingering one, else of the
 * oldest kept-alive idle one (conn_admit.c); only when every connection is
 * busy with a request is it refused (503, then closed).  Each connection
 * is one fd; memory per connection: SECURITY.md, "Memory". */
#define KH_DEF_CONNS_AUTO_MAX 1024u
#define KH_CONNS_MAX          16384u
/* File descriptors the child needs besides its clients: the link, the
 * listeners (KH_LISTENERS_MAX), the queue's five, epoll, stdio, with
 * room to spare.  The child's own RLIMIT_NOFILE (sandbox.c) stays below
 * max_conns + this, so --max-conns N needs a hard limit of N + this. */
#define KH_CONNS_FD_RESERVE   64u
/* The least hard RLIMIT_NOFILE keyhole starts with: the parent keeps its
 * child binary at fd 99 (priv.h) and builds the child's fds from 64 up. */
#define KH_NOFILE_MIN         128u
/* Per peer (a TCP client's IP address; see SECURITY.md for Unix sockets
 * and network namespaces): by default a peer may hold max_conns /
 * KH_DEF_PEER_SHARE_DIV connections, so one peer never fills the table
 * with connections that cannot be evicted.  A peer at its cap makes room
 * among its own connections, as the table does (--max-conns-per-peer). */
#define KH_DEF_PEER_SHARE_DIV 2u
/* Connections accepted in one turn of the event loop before the child
 * reads the ones it has (then it accepts again at the next turn), at most
 * this and max_conns / 8: a connection is never evicted by a burst of
 * accepts before its first bytes have been read. */
#define KH_ACCEPT_BATCH       64u
/* Refused and evicted connections are counted, not logged one by one:
 * the first of a burst is reported at once, the rest in one line per
 * this many milliseconds. */
#define KH_CONN_REPORT_MS     10000u
/* Memory back to the system: once this many connections have closed since
 * the last peak, the child calls malloc_trim(0) after KH_TRIM_DELAY_MS
 * (one call per delay, however many close). */
#define KH_TRIM_CONNS         128u
#define KH_TRIM_DELAY_MS      1000u
/* Connections the kernel completes and queues for a listener before
 * keyhole accepts them (listen(2)'s backlog; Linux caps it at somaxconn). */
#define KH_LISTEN_BACKLOG     511
/* Requests in flight to the upstream (Paperclip: MAX_QUEUE_DEPTH). */
#define KH_DEF_INFLIGHT       64u
#define KH_INFLIGHT_MAX       4096u
/* Pipelining: the child parses ONE request per connection at a time and
 * stops reading while it is upstream or its response is being written, so
 * at most one request is buffered per connection; further pipelined bytes
 * wait in the kernel (TCP back-pressure).  Beyond a head's worth
 * (max_head), at most KH_READ_AHEAD more input bytes are buffered, bytes. */
#define KH_READ_AHEAD         (64u * 1024)

/* Deadlines, milliseconds. */
#define KH_DEF_HEAD_TIMEOUT_MS      10000u  /* whole head must arrive */
#define KH_DEF_BODY_TIMEOUT_MS      30000u  /* whole body must arrive */
#define KH_DEF_IDLE_TIMEOUT_MS      60000u  /* keep-alive idle */
#define KH_DEF_WRITE_TIMEOUT_MS     30000u  /* whole response must be
                                               taken by the client */
#define KH_DEF_UPSTREAM_TIMEOUT_MS  30000u  /* Paperclip RESPONSE_TIMEOUT_MS */
#define KH_DEF_DRAIN_MS             10000u  /* SIGTERM: finish in-flight */
#define KH_TIMEOUT_MAX_MS           3600000u

/* Minimum request body rate, bytes per second (0 = off): in every window
 * of KH_BODY_RATE_WINDOW_MS the client must send this rate's worth of
 * body bytes (or the rest of its body), else 408.  A client trickling one
 * byte per second is cut off after one window instead of holding a
 * connection and a body buffer for the whole body deadline. */
#define KH_DEF_BODY_MIN_RATE        1024u
#define KH_BODY_MIN_RATE_MAX        (64u * 1024 * 1024)
#define KH_BODY_RATE_WINDOW_MS      2000u

/* After an answer that closes the connection, keep reading (and
 * discarding) for at most this long / this many bytes before close():
 * closing with unread input makes the kernel send RST, which can destroy
 * the answer before the client reads it (the "lingering close" of
 * Apache and nginx). */
#define KH_LINGER_MS          2000u
#define KH_LINGER_BYTES       (256u * 1024)

/* Bridge token and credential, bytes. */
#define KH_TOKEN_MIN          16u
#define KH_TOKEN_MAX          512u
#define KH_CRED_MAX           4096u

/* Headers the parent writes on every upstream request besides the
 * credential's (--upstream-header NAME: VALUE, e.g. an API version), and
 * the header names the sandbox may therefore never supply (those, the
 * credential's header, --run-id-header): few, as an operator writes them.
 * The credential's header name is at most KH_AUTH_HNAME_MAX bytes: its
 * line is built in the credential's locked page, in front of the secret,
 * where 64 bytes are kept for "NAME: Bearer " (secret.c). */
#define KH_UPSTREAM_HDRS_MAX  8u
#define KH_FORBID_EXTRA_MAX   (KH_UPSTREAM_HDRS_MAX + 2u)
#define KH_AUTH_HNAME_MAX     48u
/* One --upstream-header line, "name: value", bytes: an API version or a
 * tenant id, not a document. */
#define KH_UPSTREAM_HDR_MAX   512u

/* The operator's metrics listener (--metrics), served by the child
 * (src/unpriv/metrics_serve.c): scrapers at once (more are closed at
 * accept), the request head's bytes and deadline, and the scrapes a
 * second the parent renders (a child asking more often gets a one-line
 * text: rendering is the parent's CPU). */
#define KH_METRICS_CONNS_MAX  4u
#define KH_METRICS_HEAD_MAX   4096u
#define KH_METRICS_TIMEOUT_MS 5000u
#define KH_METRICS_RATE       20u

/* MSG_CONFIG's payload, bytes: what the child reads before its event loop
 * (the token, two names, the variable bindings: at most about 6.5 KiB). */
#define KH_CONFIG_MAX         (16u * 1024)

/* One log line from the child, bytes. */
#define KH_LOG_MAX            2048u

/* queue_v1 transport (Paperclip's file queue).  A request id is the file
 * name's stem: Paperclip's gateway uses a UUID (36 bytes); 56 leaves room
 * and keeps "queue:<id>" within the parent's 64-byte peer field. */
#define KH_QUEUE_ID_MAX        56u
/* A request file may hold the body JSON-escaped (up to 6 bytes per body
 * byte) plus metadata: Paperclip's own envelope bound
 * (sandboxBridgeEnvelopeLimit), checked with fstat before any byte is read. */
#define KH_QUEUE_ENVELOPE_SLACK (64u * 1024)
#define KH_QUEUE_ENVELOPE_MAX(body) (6ull * (body) + KH_QUEUE_ENVELOPE_SLACK)
/* A response file: the body is written as a plain JSON string only when
 * that costs at most 2 bytes per byte (valid UTF-8, no control but
 * TAB/LF/CR), else base64; so this bounds it, and the child's
 * RLIMIT_FSIZE is set to it. */
#define KH_QUEUE_RESPONSE_FILE_MAX (2ull * KH_RESPONSE_MAX + KH_QUEUE_ENVELOPE_SLACK)
/* Polling interval when inotify is not used (Paperclip:
 * PAPERCLIP_BRIDGE_POLL_INTERVAL_MS, default 100), milliseconds. */
#define KH_DEF_QUEUE_POLL_MS   100u
#define KH_QUEUE_POLL_MAX_MS   60000u
/* With inotify, a full rescan this often anyway (files made by link(),
 * events lost to a full inotify queue), milliseconds. */
#define KH_QUEUE_RESCAN_MS     2000u
/* When the child serves HTTP listeners too, request files take at most
 * max_inflight - max_inflight / KH_QUEUE_HTTP_SHARE of the slots (with
 * max_inflight >= 2): a backlog of files must not answer every HTTP
 * client 503 for as long as it lasts (files wait in requests/; nothing
 * is lost), tests/load queue_http_share. */
#define KH_QUEUE_HTTP_SHARE    4u
/* Directory entries looked at per scan: a sandbox that floods requests/
 * costs bounded work per pass (the next pass continues). */
#define KH_QUEUE_SCAN_MAX      1024u
/* Time one scan (or one batch of inotify events, or the recovery of
 * processing/ at start) may run before it yields to the event loop,
 * milliseconds: a request file can cost ~0.3 s (a 48 MiB envelope, an
 * 8 MiB body to check), and the loop must still answer the parent's
 * liveness pings and its clients between files. */
#define KH_QUEUE_SLICE_MS      200u
/* An answer that cannot be written (responses/ full: ENOSPC, EDQUOT, or
 * any other error) is kept in memory and written again this often,
 * milliseconds; meanwhile no new request file is claimed, so what is kept
 * is bounded by the requests already in flight (--max-inflight). */
#define KH_QUEUE_ANSWER_RETRY_MS 500u

/* keyhole-gateway (in the sandbox).  Defaults mirror Paperclip's gateway
 * (sandbox-callback-bridge.ts); maxima bound what an environment can ask. */
#define KH_GW_DEF_BODY         (10u * 1024 * 1024 + 64u * 1024)
#define KH_GW_BODY_MAX         (64u * 1024 * 1024)
#define KH_GW_DEF_QUEUE_DEPTH  64u
#define KH_GW_QUEUE_DEPTH_MAX  4096u
#define KH_GW_DEF_TIMEOUT_MS   30000u
#define KH_GW_DEF_POLL_MS      100u
/* A request file older than the response deadline plus this is an orphan
 * (Paperclip's stale sweep), milliseconds. */
#define KH_GW_STALE_SLACK_MS   2000u
/* Request bodies keyhole-gateway holds at once (read from agents, or
 * waiting for their answer), in PAPERCLIP_BRIDGE_MAX_BODY_BYTES: the
 * ceiling of its body ledger, as Paperclip's gateway (8 × the limit:
 * 84 MB by default); beyond it a request is answered 503 before its body
 * is read. */
#define KH_GW_LEDGER_BODIES    8u
/* Client connections the gateway serves at once; beyond it: 503. */
#define KH_GW_CONNS_MAX        256u
/* The gateway's deadlines per connection, milliseconds: a whole head,
 * a whole body, and idle between requests (also the time a client has to
 * take an answer), as keyhole's own defaults. */
#define KH_GW_HEAD_TIMEOUT_MS  KH_DEF_HEAD_TIMEOUT_MS
#define KH_GW_BODY_TIMEOUT_MS  KH_DEF_BODY_TIMEOUT_MS
#define KH_GW_IDLE_TIMEOUT_MS  KH_DEF_IDLE_TIMEOUT_MS

/* keyhole-gateway in http2_v1 mode (src/parse/gateway_h2.c,
 * src/gateway/gateway_stdio.c). */
/* PAPERCLIP_BRIDGE_NONCE, bytes: echoed in the READY line (Paperclip's is
 * 32 hex digits); printable ASCII only, so the line is exactly what
 * Paperclip's JSON.stringify would write. */
#define KH_GW_NONCE_MAX        256u
/* The deadline of one request in http2_v1, milliseconds
 * (PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS overrides it): longer than the
 * host's own forward timeout (Paperclip's 30 s) so that the host's answer,
 * which knows more, normally wins; then the stream is cancelled and the
 * agent gets 502, or 409 indeterminate for a mutation that was sent. */
#define KH_GW_H2_DEF_TIMEOUT_MS 60000u
/* Response header list from the host, bytes (RFC 9113 6.5.2 counting:
 * name + value + 32 per field): advertised as SETTINGS_MAX_HEADER_LIST_SIZE
 * and enforced per stream (over it: the stream is cancelled, 502).
 * keyhole's own host sends at most KH_FWD_HEADERS_MAX short fields. */
#define KH_GW_H2_HEADER_LIST_MAX (64u * 1024)
/* HPACK dynamic table the gateway's encoder uses at most, bytes. */
#define KH_GW_H2_HPACK_TABLE_MAX 4096u
/* nghttp2 abuse bounds: SETTINGS entries in one frame, ACKs (PING,
 * SETTINGS) queued while the host does not read the gateway's output,
 * CONTINUATION frames after one HEADERS; beyond each the session ends. */
#define KH_GW_H2_MAX_SETTINGS  32u
#define KH_GW_H2_MAX_OUTBOUND_ACK 1000u
#define KH_GW_H2_MAX_CONTINUATIONS 8u
/* Session output waiting for stdout, bytes: the session is asked for more
 * only below it, so a host that does not read costs at most this (plus
 * the bounded ACK queue above). */
#define KH_GW_H2_OUT_MAX       (64u * 1024)
/* Session input taken from stdin per turn of the event loop, bytes. */
#define KH_GW_H2_IN_MAX        (64u * 1024)
/* After the session ends: how long the gateway keeps writing the answers
 * it owes agents before it exits, milliseconds. */
#define KH_GW_H2_DRAIN_MS      2000u
/* PAPERCLIP_BRIDGE_PORT in use at start (the previous gateway of a
 * reconnecting host still exiting): bind retried for this long before the
 * gateway gives up, milliseconds; the host's readiness timeout is 10 s. */
#define KH_GW_BIND_RETRY_MS    5000u

/* The parent's output to its child, bytes.  Over HIGH the parent stops
 * reading the child's frames (no new request is taken, so no new answer
 * is queued) until the child has read it down to LOW: a child that never
 * reads costs the parent at most HIGH plus the answers of the requests
 * already upstream (--max-inflight of them).  An honest child reads all
 * the time; a 16 MiB upstream answer only pauses it briefly. */
#define KH_CHILD_OUT_HIGH     (4u * 1024 * 1024)
#define KH_CHILD_OUT_LOW      (1u * 1024 * 1024)

/* The parent's own `rate` buckets hold this much time's worth of tokens
 * more than the child's (N * (period + slack) / period tokens instead of
 * N), milliseconds.  A request the child let through reaches the parent
 * later than the child took its token; the slack covers up to this much
 * delay, so the parent never refuses what an honest child allowed
 * (tests/unit/test_rate_agreement.c), while a child that ignores `rate`
 * gets at most that fraction of a period more. */
#define KH_RATE_SLACK_MS      1000u

/* Lines the parent writes for its child, per second and in a burst: log
 * lines (MSG_LOG) and access records of requests the child answered
 * itself (MSG_ACCESS), each with its own bucket.  A sandbox that makes
 * the child log (or a compromised child) cannot flood the parent's log;
 * what is dropped is counted and reported once per
 * KH_RELAY_SUMMARY_MS, milliseconds. */
#define KH_RELAY_LOG_PER_S        50u
#define KH_RELAY_LOG_BURST        200u
#define KH_RELAY_ACCESS_PER_S     200u
#define KH_RELAY_ACCESS_BURST     1000u
#define KH_RELAY_SUMMARY_MS       1000u

/* Child restart back-off, milliseconds: doubles from MIN to MAX. */
#define KH_RESTART_MIN_MS     100u
#define KH_RESTART_MAX_MS     30000u
/* A child that served at least this long before it ended restarts after
 * KH_RESTART_MIN_MS again, milliseconds. */
#define KH_RESTART_RESET_MS   10000u

/* Child liveness (src/priv/liveness.c), milliseconds: --child-timeout-ms.
 * A starting child must send its policy table, and a serving child must
 * send the parent something (a frame, or the MSG_PONG answering its
 * MSG_PING, sent every quarter of it), within it; otherwise it is killed
 * and restarted like a dead one (the first child: keyhole exits).  The
 * longest a healthy child's event loop is busy with one request is the
 * JSON check of an 8 MiB body: 13-250 ms of CPU by shape in a normal
 * build (one long string .. an array of 1-digit numbers; bench/
 * body_bench), ~1-1.6 s under ASan, more on a loaded machine; a queue
 * request file adds up to ~0.07 s of envelope parsing (a 48 MiB
 * envelope), and the queue transport yields every KH_QUEUE_SLICE_MS.
 * 10 s leaves room for a burst of such requests finishing in one turn of
 * the loop.  Below 1 s a loaded machine would look like a stuck child. */
#define KH_DEF_CHILD_TIMEOUT_MS 10000u
#define KH_CHILD_TIMEOUT_MIN_MS 1000u

/* The audit log (--audit-log; src/priv/audit*.c, keyhole-audit(5)).
 * One record, bytes: the longest a request record can be (a path of
 * KH_PATH_MAX, each byte escaped as at most 2, a reason of
 * KH_REASON_MAX likewise, the fixed fields and digests) with room to
 * spare; the verifier refuses a longer line, and keyhole refuses to
 * resume a file whose last line is longer. */
#define KH_AUDIT_LINE_MAX          (16u * 1024)
/* A signed checkpoint every N records (--audit-checkpoint-records) and
 * every T seconds when a record was written since the last one
 * (--audit-checkpoint-secs).  Records after the last checkpoint are not
 * yet signed: these bound how many a crash can leave so, at the cost of
 * one Ed25519 signature (~60 us of CPU) per checkpoint. */
#define KH_DEF_AUDIT_CKPT_RECORDS  1000u
#define KH_AUDIT_CKPT_RECORDS_MAX  1000000u
#define KH_DEF_AUDIT_CKPT_SECS     10u
#define KH_AUDIT_CKPT_SECS_MAX     86400u
/* --audit-max-bytes: the file is rotated (renamed FILE.<first seq>, the
 * chain continued in a new FILE) once it reaches this size, bytes; 0 =
 * never by size (SIGUSR1 still rotates).  The least is a few records. */
#define KH_AUDIT_MAX_BYTES_MIN     (64u * 1024)
/* Records waiting to be written while the file cannot be written (a full
 * disk, an I/O error), bytes: beyond this, records of requests nothing
 * forwarded (the child's refusals, the parent's 503s) are counted and the
 * count written as one record once writing works again; records of
 * forwarded requests are never dropped (no request is forwarded while the
 * audit log fails, so at most --max-inflight of them wait). */
#define KH_AUDIT_PENDING_MAX       (4u * 1024 * 1024)
/* While the file cannot be written, writing is tried again this often,
 * milliseconds. */
#define KH_AUDIT_RETRY_MS          500u
/* Records of requests the child answered itself (MSG_ACCESS), per second
 * and in a burst: a sandbox (or a compromised child) cannot fill the disk
 * with claims about requests that never left keyhole; what is over is
 * counted and written as one record per KH_RELAY_SUMMARY_MS.  Forwarded
 * requests and the parent's own refusals are always recorded. */
#define KH_AUDIT_CHILD_PER_S       2000u
#define KH_AUDIT_CHILD_BURST       10000u
/* Group commit: the fdatasync that a mutation's answer waits for is put
 * off while other requests are in flight upstream (their answers, due
 * any moment, then share it), by at most KH_AUDIT_SYNC_DELAY_US
 * microseconds and until at most KH_AUDIT_SYNC_BATCH records wait for
 * it.  One fdatasync costs ~50-150 us of CPU on the machines measured
 * (SECURITY.md, "The audit log"), more than a forwarded request costs
 * keyhole: under load it is shared by many answers, at the price of at
 * most this much latency on a mutation; a lone request (nothing else in
 * flight) is synced at once. */
#define KH_AUDIT_SYNC_DELAY_US     1000u
#define KH_AUDIT_SYNC_BATCH        64u
/* The verifier: records it looks ahead (and back) from the first broken
 * one to tell a removal from a reordering or an insertion. */
#define KH_AUDIT_LOOKAROUND        4096u
/* The verifier: files per run. */
#define KH_AUDIT_FILES_MAX         4096u
/* http2_v1 over a command's stdio (`keyhole serve --connect CMD`,
 * src/unpriv/h2*.c, src/priv/connect*.c).  Every byte out of CMD is the
 * sandbox's; these bound what it can make the child hold. */
/* Bytes before the READY line (noise lines a login shell may print),
 * and one line: beyond either the session is refused.  Paperclip's host
 * takes 266,240; nothing honest prints more than a few lines. */
#define KH_H2_PRE_READY_MAX    (64u * 1024)
#define KH_H2_READY_LINE_MAX   512u
/* The nonce keyhole puts in PAPERCLIP_BRIDGE_NONCE: 16 random bytes as
 * hex (Paperclip's shape). */
#define KH_H2_NONCE_LEN        32u
/* READY (and the preface after it) must arrive within this, ms
 * (Paperclip: 10 s, readinessTimeoutMs). */
#define KH_H2_READY_TIMEOUT_MS 10000u
/* Streams open at once (SETTINGS_MAX_CONCURRENT_STREAMS): Paperclip's 4
 * by default (--h2-max-streams), at most 64. */
#define KH_H2_DEF_STREAMS      4u
#define KH_H2_STREAMS_MAX      64u
/* SETTINGS the child sends: header list 16 KiB and HPACK table 4 KiB
 * (Paperclip's), frames of 16 KiB, a 64 KiB window per stream: at most
 * streams * 64 KiB of DATA in flight towards the child. */
#define KH_H2_HEADER_LIST_MAX  (16u * 1024)
#define KH_H2_HEADER_TABLE     4096u
#define KH_H2_FRAME_MAX        16384u
#define KH_H2_WINDOW           65535u
/* Header fields per stream (Paperclip: maxHeaderListPairs 128). */
#define KH_H2_HEADER_PAIRS_MAX KH_HEADERS_MAX
/* nghttp2's own allocations for one session (its streams, HPACK tables,
 * frames being built), bytes: past it an allocation fails and the
 * session is dropped.  Bodies and answers are the child's, bounded by
 * the body and response limits. */
#define KH_H2_SESSION_MEM_MAX  (4u * 1024 * 1024)
/* Flood limits besides nghttp2's own (max SETTINGS entries 32,
 * CONTINUATION frames 8, queued ACKs 1000): RST_STREAMs the peer may send
 * (rapid reset, CVE-2023-44487; nghttp2_option_set_stream_reset_rate_limit:
 * a burst of 100, then 10 per second, Paperclip's), and frames of any
 * kind per second (empty DATA, PING, SETTINGS, WINDOW_UPDATE floods). */
#define KH_H2_RST_BURST        100u
#define KH_H2_RST_RATE         10u
#define KH_H2_FRAMES_PER_S     4000u
/* Liveness: a PING every interval, its ACK due within the timeout, ms
 * (Paperclip: 5 s and 20 s). */
#define KH_H2_PING_MS          5000u
#define KH_H2_PING_TIMEOUT_MS  20000u
/* Output the child keeps for CMD's stdin before it stops producing more
 * (CMD not reading), bytes; a response not taken within
 * --write-timeout-ms resets its stream. */
#define KH_H2_OUT_HIGH         (256u * 1024)
/* A line of CMD's stderr relayed to the log, bytes (longer ones are cut). */
#define KH_H2_STDERR_LINE_MAX  512u
/* GOAWAY on shutdown: the gateway may finish what it sent for this
 * long before the channel is closed, ms (Paperclip: 5 s close grace). */
#define KH_H2_GOAWAY_GRACE_MS  5000u
/* The command's stop: SIGTERM, then SIGKILL after this, ms. */
#define KH_CONNECT_KILL_GRACE_MS 2000u
/* The command line and one environment value the launcher accepts. */
#define KH_CONNECT_CMD_MAX     4096u
#define KH_CONNECT_ENV_MAX     32u

/* Reload (SIGHUP; src/priv/reload.c, src/unpriv/conn_drain.c).
 *
 * KH_RETIRE_IDLE_MS, milliseconds: how long a retired child keeps a
 * kept-alive connection that has no request in progress, waiting for the
 * one request a client may already be sending on it (answered with
 * `connection: close`), before it closes it (capped by --idle-timeout-ms).
 * Closing such a connection at once would cross that request on the wire
 * (RFC 9112 9.3.1), and a client may not re-send a POST it lost that way;
 * HAProxy's `idle-close-on-response` and Envoy's drain do the same.  Long
 * enough for a client's turn-around between two requests, short because
 * that one request is still checked against the retired policy.
 * KH_RETIRING_MAX: children from earlier reloads still finishing their
 * requests; a reload beyond it is refused (try again) rather than hold
 * more processes and policies.
 * KH_CRED_LIVE_MAX: credentials in the parent at once, the current one
 * and earlier ones still used by requests in flight upstream; a reload
 * that would rotate it once more is refused until those requests end
 * (each one is also a secret the log must redact: log.c's slots).
 * KH_VAR_FILE_MAX, bytes: a --var-file. */
#define KH_RETIRE_IDLE_MS     1000u
#define KH_RETIRING_MAX       8u
#define KH_CRED_LIVE_MAX      4u
#define KH_VAR_FILE_MAX       (64u * 1024)
/* Bytes the parent reads from an exited child's socket for its last log
 * and access frames (monitor_final_read): what a socketpair buffers. */
#define KH_CHILD_FINAL_READ_MAX (4u * 1024 * 1024)

#endif
