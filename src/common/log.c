/* keyhole logging: see log.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kh_limits.h"
#include "log.h"

static const char *log_prog = "keyhole";
static log_sink_fn log_sink;
static enum log_level log_max = LOG_INFO;

static const char *const log_names[LOG_LEVEL_COUNT] = {
	"error", "warn", "info", "debug",
};

void
log_init(const char *prog, log_sink_fn sink)
{
	log_prog = prog;
	log_sink = sink;
}

void
log_set_verbosity(enum log_level max)
{
	log_max = max;
}

const char *
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

static void
log_write(const char *prog, long pid, enum log_level level, const char *line)
{
	/* One write(2) per line so lines from concurrent writers never mix. */
	char buf[KH_LOG_MAX + 128];
	int n = snprintf(buf, sizeof(buf), "%s[%ld]: %s: %s\n", prog, pid,
	    log_level_name(level), line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
	(void)w;
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
	if (log_sink != NULL)
		log_sink(level, line);
	else
		log_write(log_prog, (long)getpid(), level, line);
}

void
log_relay(const char *prog, long pid, enum log_level level, const char *line,
    size_t len)
{
	char buf[KH_LOG_MAX];

	if (level > log_max)
		return;
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	log_sanitize(buf, len);
	log_write(prog, pid, level, buf);
}
