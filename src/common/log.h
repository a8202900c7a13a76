/*
 * keyhole logging.  Only the parent writes logs (to stderr); the child's
 * log_msg() hands each line to a sink that frames it as MSG_LOG.
 */
#ifndef KH_LOG_H
#define KH_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
	LOG_LEVEL_COUNT
};

typedef void (*log_sink_fn)(enum log_level level, const char *line);

/* prog: "keyhole" or "keyhole-net"; sink NULL = write to stderr. */
void log_init(const char *prog, log_sink_fn sink);
void log_set_verbosity(enum log_level max);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parent only: write a line relayed from process `prog`[pid]; the line
 * is made printable first (it came from the less trusted side). */
void log_relay(const char *prog, long pid, enum log_level level,
    const char *line, size_t len);
const char *log_level_name(enum log_level level);
/* Replace every byte outside 0x20..0x7e with '?', in place. */
void log_sanitize(char *s, size_t len);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
