/* keyhole logging: see log.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kh_limits.h"
#include "log.h"
#include "log_syslog.h"

static const char *log_prog = "keyhole";
static bool log_started;		/* log_init() has run */
static log_sink_fn log_sink;
static enum log_level log_max = LOG_INFO;
static enum log_format log_fmt = LOG_FMT_TEXT;
static bool log_syslog;
static int log_fd = STDERR_FILENO;

/* The parent's access lines of one loop turn (log_batch_begin). */
static struct {
	bool on;
	void (*arm)(void);
	size_t len;
	char b[LOG_BATCH_MAX];
} log_batch;

static struct {
	const char *p;
	size_t len;
} log_secrets[8];
static size_t log_nsecrets;

static const char *const log_names[LOG_LEVEL_COUNT] = {
	"error", "warn", "info", "debug",
};

void
log_init(const char *prog, log_sink_fn sink)
{
	log_prog = prog;
	log_sink = sink;
	log_started = true;
}

void
log_set_verbosity(enum log_level max)
{
	log_max = max;
}

void
log_set_format(enum log_format fmt)
{
	log_fmt = fmt;
}

void
log_set_fd(int fd)
{
	log_fd = fd;
}

int
log_use_syslog(void)
{
	if (logsys_open(log_prog) < 0) {
		log_fatal("--log syslog: cannot reach the syslog socket %s: %s "
		    "(start a syslog daemon or journald, or use --log stderr)",
		    logsys_path(), strerror(errno));
		return -1;
	}
	log_syslog = true;
	return 0;
}

int
log_redact(const char *secret, size_t len)
{
	if (len == 0)
		return 0;
	if (log_nsecrets == sizeof(log_secrets) / sizeof(log_secrets[0]))
		return -1;
	log_secrets[log_nsecrets].p = secret;
	log_secrets[log_nsecrets].len = len;
	log_nsecrets++;
	return 0;
}

void
log_unredact(const char *secret)
{
	for (size_t i = 0; i < log_nsecrets; i++)
		if (log_secrets[i].p == secret) {
			log_secrets[i] = log_secrets[--log_nsecrets];
			return;
		}
}

void
log_redact_clear(void)
{
	log_nsecrets = 0;
}

/*
 * Overwrite every occurrence of a registered secret in buf[0..len) with
 * '*'.  When the text was cut short (truncated), also its longest tail
 * that is the start of a secret: a line cut inside a secret must not show
 * its first bytes.  Called on each piece of text as it enters (before
 * JSON escaping, which would hide a secret holding '"' or '\\' from a
 * search, and before any later cut), and on the finished line.
 */
void
log_scrub(char *buf, size_t len, bool truncated)
{
	for (size_t i = 0; i < log_nsecrets; i++) {
		const char *sec = log_secrets[i].p;
		size_t sl = log_secrets[i].len;
		char *at = buf;
		while ((at = memmem(at, len - (size_t)(at - buf), sec, sl)) !=
		    NULL) {
			memset(at, '*', sl);
			at += sl;
		}
		if (!truncated)
			continue;
		for (size_t k = sl - 1 < len ? sl - 1 : len; k > 0; k--)
			if (memcmp(buf + len - k, sec, k) == 0) {
				memset(buf + len - k, '*', k);
				break;
			}
	}
}

/* dst = src made printable and scrubbed, cut to cap - 1 bytes. */
static const char *
log_clean(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	bool cut = n >= cap;

	if (cut)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	log_sanitize(dst, n);
	log_scrub(dst, n, cut);
	return dst;
}

static const char *
log_level_name(enum log_level level)
{
	return (unsigned)level < LOG_LEVEL_COUNT ? log_names[level] : "?";
}

void
log_sanitize(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?';
}

/* Append s to buf as a JSON string body (no quotes); input is already
 * printable ASCII, so only '"' and '\\' need escaping. */
static size_t
log_json_escape(char *buf, size_t cap, size_t off, const char *s)
{
	for (; *s != '\0' && off + 2 < cap; s++) {
		if (*s == '"' || *s == '\\')
			buf[off++] = '\\';
		buf[off++] = *s;
	}
	buf[off] = '\0';
	return off;
}

static size_t
log_puts(char *buf, size_t cap, size_t off, const char *s)
{
	size_t n = strlen(s);

	if (off + n >= cap)
		n = off < cap ? cap - off - 1 : 0;
	memcpy(buf + off, s, n);
	off += n;
	buf[off] = '\0';
	return off;
}

/* "key":"value" with escaping, preceded by a comma. */
static size_t
log_json_field(char *buf, size_t cap, size_t off, const char *key,
    const char *value)
{
	off = log_puts(buf, cap, off, ",\"");
	off = log_puts(buf, cap, off, key);
	off = log_puts(buf, cap, off, "\":\"");
	off = log_json_escape(buf, cap, off, value);
	return log_puts(buf, cap, off, "\"");
}

static void
log_now(char *out, size_t cap)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static void
log_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(log_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;		/* as before batching: the line is lost */
		p += w;
		n -= (size_t)w;
	}
}

/* A process forked from the parent starts with no batch: lines that
 * wait are the parent's to write, never the child's too. */
static void
log_batch_forget(void)
{
	log_batch.on = false;
	log_batch.arm = NULL;
	log_batch.len = 0;
}

void
log_batch_begin(void (*arm)(void))
{
	static bool registered;

	if (!registered && pthread_atfork(NULL, NULL, log_batch_forget) == 0)
		registered = true;
	log_batch.arm = arm;
	log_batch.on = !log_syslog && registered;
}

void
log_batch_flush(void)
{
	size_t n = log_batch.len;

	log_batch.len = 0;
	log_write(log_batch.b, n);
}

void
log_batch_end(void)
{
	log_batch_flush();
	log_batch.on = false;
}

/* One write(2) per line, or per batch of whole lines of at most
 * LOG_BATCH_MAX (PIPE_BUF) bytes, so lines from concurrent writers never
 * mix.  `extra` is a pre-built run of JSON fields (",\"k\":..."), JSON
 * only.  `batch`: an access line, which may wait for the end of the turn;
 * any other line writes what waits first, so the order stays. */
static void
log_emit(const char *prog, long pid, enum log_level level, const char *msg,
    const char *extra, const char *text_tail, bool batch)
{
	char buf[KH_LOG_MAX * 2 + 512], when[40];
	size_t off = 0;

	if (log_syslog) {
		char line[KH_LOG_MAX * 2];
		if (strcmp(prog, log_prog) == 0)
			snprintf(line, sizeof(line), "%s%s", msg, text_tail);
		else
			snprintf(line, sizeof(line), "%s[%ld]: %s%s", prog, pid,
			    msg, text_tail);
		log_scrub(line, strlen(line), false);
		logsys_write(level, line);
		return;
	}
	if (log_fmt == LOG_FMT_JSON) {
		char num[64];
		log_now(when, sizeof(when));
		off = log_puts(buf, sizeof(buf), off, "{\"time\":\"");
		off = log_puts(buf, sizeof(buf), off, when);
		off = log_puts(buf, sizeof(buf), off, "\"");
		off = log_json_field(buf, sizeof(buf), off, "level",
		    log_level_name(level));
		off = log_json_field(buf, sizeof(buf), off, "proc", prog);
		snprintf(num, sizeof(num), ",\"pid\":%ld", pid);
		off = log_puts(buf, sizeof(buf), off, num);
		off = log_json_field(buf, sizeof(buf), off, "msg", msg);
		off = log_puts(buf, sizeof(buf), off, extra);
		off = log_puts(buf, sizeof(buf) - 1, off, "}");
	} else {
		int n = snprintf(buf, sizeof(buf) - 1, "%s[%ld]: %s: %s%s", prog,
		    pid, log_level_name(level), msg, text_tail);
		off = n < 0 ? 0 : (size_t)n;
		if (off > sizeof(buf) - 2)
			off = sizeof(buf) - 2;
	}
	log_scrub(buf, off, false);
	buf[off++] = '\n';
	if (batch && log_batch.on && off <= sizeof(log_batch.b)) {
		if (log_batch.len + off > sizeof(log_batch.b))
			log_batch_flush();
		memcpy(log_batch.b + log_batch.len, buf, off);
		if ((log_batch.len += off) == off && log_batch.arm != NULL)
			log_batch.arm();
		return;
	}
	if (log_batch.len > 0)
		log_batch_flush();
	log_write(buf, off);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[KH_LOG_MAX];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_sanitize(line, strlen(line));
	log_scrub(line, strlen(line), (size_t)n >= sizeof(line));
	if (log_sink != NULL)
		log_sink(level, line);
	else
		log_emit(log_prog, (long)getpid(), level, line, "", "", false);
}

void
log_vfatal(const char *fmt, va_list ap)
{
	char line[KH_LOG_MAX];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_started) {
		log_msg(LOG_ERROR, "%s", line);
		return;
	}
	log_sanitize(line, strlen(line));
	log_scrub(line, strlen(line), false);
	fprintf(stderr, "%s: %s\n", log_prog, line);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(fmt, ap);
	va_end(ap);
}

void
log_relay(const char *prog, long pid, enum log_level level, const char *line,
    size_t len)
{
	char buf[KH_LOG_MAX];

	if (level > log_max)
		return;
	bool cut = len >= sizeof(buf);

	if (cut)
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	log_sanitize(buf, len);
	log_scrub(buf, len, cut);
	log_emit(prog, pid, level, buf, "", "", false);
}

void
log_access(const char *prog, long pid, const struct log_access *a)
{
	char peer[128], method[32], path[KH_LOG_MAX], rule[KH_LOG_MAX];
	/* Room for every field at its longest plus the fixed text and five
	 * numbers: the text line is never cut here (log_emit bounds it). */
	char extra[KH_LOG_MAX + 256], num[160];
	char tail[sizeof(peer) + sizeof(method) + sizeof(path) + sizeof(rule) +
	    256];
	size_t off = 0;
	struct log_access c = *a;

	if (LOG_INFO > log_max)
		return;
	/* Each field printable and scrubbed before it is escaped or cut. */
	c.peer = log_clean(peer, sizeof(peer), a->peer);
	c.method = log_clean(method, sizeof(method), a->method);
	c.path = log_clean(path, sizeof(path), a->path);
	c.rule = log_clean(rule, sizeof(rule), a->rule);
	a = &c;
	if (log_fmt == LOG_FMT_JSON && !log_syslog) {
		snprintf(num, sizeof(num), ",\"event\":\"request\",\"id\":%llu",
		    (unsigned long long)a->id);
		off = log_puts(extra, sizeof(extra), off, num);
		off = log_json_field(extra, sizeof(extra), off, "peer", a->peer);
		off = log_json_field(extra, sizeof(extra), off, "method",
		    a->method);
		off = log_json_field(extra, sizeof(extra), off, "path", a->path);
		off = log_json_field(extra, sizeof(extra), off, "rule", a->rule);
		snprintf(num, sizeof(num), ",\"status\":%d,\"bytesIn\":%llu,"
		    "\"bytesOut\":%llu", a->status,
		    (unsigned long long)a->bytes_in,
		    (unsigned long long)a->bytes_out);
		off = log_puts(extra, sizeof(extra), off, num);
		if (a->upstream_ms >= 0) {
			snprintf(num, sizeof(num), ",\"upstreamMs\":%lld",
			    a->upstream_ms);
			off = log_puts(extra, sizeof(extra), off, num);
		}
		snprintf(num, sizeof(num), ",\"gen\":%llu",
		    (unsigned long long)a->gen);
		off = log_puts(extra, sizeof(extra), off, num);
		log_emit(prog, pid, LOG_INFO, "request", extra, "", true);
		return;
	}
	snprintf(tail, sizeof(tail), " id=%llu peer=%s method=%s path=%s "
	    "rule=%s status=%d bytes_in=%llu bytes_out=%llu upstream_ms=%lld "
	    "gen=%llu", (unsigned long long)a->id, a->peer,
	    *a->method ? a->method : "-", *a->path ? a->path : "-", a->rule,
	    a->status, (unsigned long long)a->bytes_in,
	    (unsigned long long)a->bytes_out, a->upstream_ms,
	    (unsigned long long)a->gen);
	log_emit(prog, pid, LOG_INFO, "request", "", tail, true);
}
