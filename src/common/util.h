/* keyhole small shared predicates. */
#ifndef KH_UTIL_H
#define KH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

/* Constant-time comparison: time depends only on expected_len. */
bool util_ct_equal(const uint8_t *given, size_t given_len,
    const uint8_t *expected, size_t expected_len);
/* Methods whose outcome is harmless when unknown (retry-safe to report
 * 504 instead of the indeterminate-outcome 409). */
bool util_method_safe(const char *method);
/* write(2) all of p[0..n) to a blocking fd, retrying on EINTR and short
 * writes.  Returns 0, or -1 (errno set) when the fd fails. */
int util_write_all(int fd, const void *p, size_t n);
/* read(2) into buf until end of file or cap bytes, retrying on EINTR and
 * short reads.  Returns the bytes read, or -1 (errno set) when the fd
 * fails.  To see whether a file holds exactly N bytes, ask for N + 1. */
ssize_t util_read_upto(int fd, void *buf, size_t cap);
/* The path of the program `name` in the directory of the running binary
 * (keyhole runs keyhole-net and keyhole-gateway from beside itself), into
 * out[cap].  Returns 0, or -1 when /proc/self/exe cannot be read or the
 * path does not fit. */
int util_sibling_path(const char *name, char *out, size_t cap);
/* CLOCK_MONOTONIC in milliseconds: the one clock of deadlines, budgets
 * and ticks in every process. */
int64_t util_now_ms(void);
/* Parse a non-negative decimal within [min,max]; returns 0 or -1. */
int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
