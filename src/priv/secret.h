/*
 * keyhole secrets in the parent: the upstream credential and the bridge
 * token.  Each lives in its own mmap'd page, locked (never swapped) and
 * excluded from core dumps.  Neither is ever logged.
 */
#ifndef KH_SECRET_H
#define KH_SECRET_H

#include <stddef.h>

#include "config.h"

struct secret {
	char *buf;		/* NUL-terminated, len bytes */
	size_t len;
	size_t maplen;
};

/* Each returns 0, or -1 after printing an error that names the source. */
int secret_load_credential(const struct kh_config *cfg, struct secret *s);
int secret_load_token(const struct kh_config *cfg, struct secret *s);
void secret_free(struct secret *s);

#endif
