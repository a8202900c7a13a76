/*
 * keyhole secrets in the parent: the upstream credential and the bridge
 * token.  Each lives in its own mmap'd page, locked (never swapped) and
 * excluded from core dumps.  Neither is ever logged.
 */
#ifndef KH_SECRET_H
#define KH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct secret {
	char *buf;		/* NUL-terminated, len bytes, inside page */
	size_t len;
	void *page;		/* the locked mapping */
	size_t maplen;
};

/* Each returns 0, or -1 after printing an error that names the source. */
int secret_load_credential(const struct kh_config *cfg, struct secret *s);
int secret_load_token(const struct kh_config *cfg, struct secret *s);
void secret_free(struct secret *s);
/* A private file read whole, as it is (no trimming, any bytes: a PEM
 * key), into a page like the credential's: the same rules (a regular
 * file, not accessible by group or others, at most cap - 1 bytes).
 * Returns 0, or -1 after printing an error that names the file. */
int secret_load_file(const char *path, const char *what, size_t cap,
    struct secret *s);
/* A copy of src in a page of its own.  Returns 0 or -1 (memory). */
int secret_dup(struct secret *dst, const struct secret *src);
bool secret_equal(const struct secret *a, const struct secret *b);
/* The message of the last load that failed (a reload reports it). */
const char *secret_error(void);
/* Write prefix into the room kept in front of the secret in its page, so
 * that prefix and secret are one NUL-terminated string there (the
 * upstream's "authorization: Bearer <credential>" line) and the secret is
 * never copied out of its locked page to make it.  s->buf does not move
 * (log_redact keeps pointing at it).  NULL when prefix is longer than
 * the room (64 bytes). */
const char *secret_prefixed(struct secret *s, const char *prefix);
/* Write prefix and the secret's base64 (RFC 4648, padded) into the room
 * kept behind the secret in its page: "authorization: Basic <base64 of
 * user:password>", built where the secret lives, never in ordinary heap.
 * NULL when it does not fit (it always does for a secret read here). */
const char *secret_base64_line(struct secret *s, const char *prefix);

#endif
