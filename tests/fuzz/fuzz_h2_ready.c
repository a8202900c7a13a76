/*
 * libFuzzer harness for the READY line of http2_v1 (src/parse/h2_ready.c):
 * the first bytes keyhole-net reads from the --connect command, every one
 * of them the sandbox's.
 *
 * Input: one byte (where to split the rest in two feeds), then the bytes
 * the command writes.
 *
 * Properties (abort() when broken):
 *  - H2R_READY only when the line just taken, without its LF (and one
 *    CR), is exactly {"version":2,"type":"ready","nonce":"<nonce>"};
 *  - H2R_BAD_NONCE only for a line that starts like READY (its prefix up
 *    to the nonce) and is not exactly it;
 *  - *used never exceeds the input; H2R_MORE takes everything;
 *  - nothing is taken beyond KH_H2_PRE_READY_MAX bytes before READY;
 *  - feeding the bytes in two pieces gives the same result and the same
 *    split point as feeding them at once.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_ready.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char nonce[] = "0123456789abcdef0123456789abcdef";

static enum h2_ready_status
fuzz_feed(const uint8_t *p, size_t n, size_t split, size_t *used,
    struct h2_ready *r)
{
	enum h2_ready_status st;
	size_t u;

	h2_ready_init(r);
	if (split > n)
		split = n;
	st = h2_ready_feed(r, p, split, nonce, sizeof(nonce) - 1, &u);
	if (u > split || (st == H2R_MORE && u != split))
		abort();
	if (st != H2R_MORE) {
		*used = u;
		return st;
	}
	st = h2_ready_feed(r, p + split, n - split, nonce, sizeof(nonce) - 1,
	    used);
	if (*used > n - split || (st == H2R_MORE && *used != n - split))
		abort();
	*used += split;
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h2_ready r1, r2;
	char ready[128];
	size_t u1, u2, rl;
	enum h2_ready_status s1, s2;

	if (size < 1)
		return 0;
	size_t split = data[0];
	data++;
	size--;
	s1 = fuzz_feed(data, size, size, &u1, &r1);	/* at once */
	s2 = fuzz_feed(data, size, split, &u2, &r2);
	if (s1 != s2 || u1 != u2)
		abort();
	if (u1 > KH_H2_PRE_READY_MAX || r1.total > KH_H2_PRE_READY_MAX)
		abort();
	rl = (size_t)snprintf(ready, sizeof(ready), "%s%s\"}", H2_READY_PREFIX,
	    nonce);
	if (s1 == H2R_READY || s1 == H2R_BAD_NONCE) {
		/* The line just taken: from the previous LF to used - 1. */
		size_t end = u1 - 1, start = end;
		if (data[end] != '\n')
			abort();
		while (start > 0 && data[start - 1] != '\n')
			start--;
		size_t len = end - start;
		if (len > 0 && data[start + len - 1] == '\r')
			len--;
		bool exact = len == rl && memcmp(data + start, ready, rl) == 0;
		bool shaped = len >= sizeof(H2_READY_PREFIX) - 1 &&
		    memcmp(data + start, H2_READY_PREFIX,
		    sizeof(H2_READY_PREFIX) - 1) == 0;
		if ((s1 == H2R_READY) != exact || (s1 == H2R_BAD_NONCE && !shaped))
			abort();
	}
	return 0;
}
