/*
 * keyhole logging.  Only the parent writes logs (stderr, or syslog/journald
 * with --log syslog); the child's log_msg() hands each line to a sink that
 * frames it as MSG_LOG, and the child reports each request it answers
 * itself as MSG_ACCESS.  Lines are text (`keyhole[PID]: level: message`) or
 * JSON (one object per line; the default when stderr is not a terminal).
 * Nothing secret is ever passed to these functions.
 */
#ifndef KH_LOG_H
#define KH_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
	LOG_LEVEL_COUNT
};

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON = 1,
};

typedef void (*log_sink_fn)(enum log_level level, const char *line);

/* One answered request, as the access log records it. */
struct log_access {
	uint64_t id;		/* parent's request id; 0 = answered by the child */
	const char *peer;	/* client address or "unix" */
	const char *method;	/* "" when the request line did not parse */
	const char *path;	/* canonical path, "" when unknown */
	const char *rule;	/* "policy:LINE", or the denial reason */
	int status;
	uint64_t bytes_in;	/* request body bytes */
	uint64_t bytes_out;	/* response body bytes */
	long long upstream_ms;	/* -1 when the upstream was not asked */
	uint64_t gen;		/* configuration generation whose policy
				   decided (src/priv/gen.h; 0 before any
				   reload) */
};

/* prog: "keyhole" or "keyhole-net"; sink NULL = write it ourselves. */
void log_init(const char *prog, log_sink_fn sink);
void log_set_verbosity(enum log_level max);
void log_set_format(enum log_format fmt);
/* Where lines are written (default STDERR_FILENO); for tests. */
void log_set_fd(int fd);
/* Send lines to syslog (journald reads it) instead of stderr; opens the
 * socket now, before any sandbox forbids it.  Returns 0, or -1 after a
 * fatal line on stderr when the socket cannot be reached. */
int log_use_syslog(void);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An error that ends the process (the caller exits, or returns its
 * failure up to main): written through the log once log_init() has run
 * (the configured format, syslog, the child's sink), and to stderr as
 * "prog: message" before it, so one call serves both.  keyhole-net ends
 * through link_fatal (net.h), which flushes its link first. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vfatal(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
/* Parent only: write a line relayed from process `prog`[pid]; the line
 * is made printable first (it came from the less trusted side). */
void log_relay(const char *prog, long pid, enum log_level level,
    const char *line, size_t len);
/* Parent only: one access-log line; `prog`/`pid` name who answered. */
void log_access(const char *prog, long pid, const struct log_access *a);
/*
 * Parent only, while its event loop runs: access lines are gathered and
 * written together, one write(2) of whole lines of at most LOG_BATCH_MAX
 * bytes (PIPE_BUF: a write that size to a pipe is never mixed with
 * another writer's).  `arm` is called when the first line of a batch
 * waits; the parent's makes the loop call log_batch_flush() at the end
 * of the turn, before any answer of the turn is written (evloop.h,
 * evloop_before_write), so no answer leaves before its line.  Any other
 * line, a full batch and log_batch_end() write what waits first.
 * With --log syslog there is no batching; a forked process starts with
 * none (its copy of what waits is dropped).
 */
#define LOG_BATCH_MAX	4096
void log_batch_begin(void (*arm)(void));
void log_batch_flush(void);
void log_batch_end(void);
/* Never let these bytes reach a log line, whatever a request contains (a
 * sandbox may put the bridge token in a path): not as they are, not
 * JSON-escaped, not the first bytes of one cut by a line's length limit.
 * The parent registers the credential and the token, the child its token.
 * The pointer must stay valid (the secret's own locked page, the child's
 * configuration); nothing is copied.  At most eight (-1: not
 * registered; the parent holds at most KH_CRED_LIVE_MAX credentials and
 * two tokens at once). */
int log_redact(const char *secret, size_t len);
/* Forget one registered secret (its page is about to be wiped). */
void log_unredact(const char *secret);
void log_redact_clear(void);
/* Replace every byte outside 0x20..0x7e with '?', in place. */
void log_sanitize(char *s, size_t len);
/* Overwrite every occurrence of a log_redact()ed secret in buf[0..len)
 * with '*', in place; truncated: buf was cut from a longer text, so a
 * tail that begins a secret goes too.  (The audit log's strings go
 * through this as log lines do: src/priv/audit_record.c.) */
void log_scrub(char *buf, size_t len, bool truncated);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
