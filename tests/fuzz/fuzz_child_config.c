/*
 * libFuzzer harness for child_config_decode() (src/common/child_config.c):
 * the child reads MSG_CONFIG, its only source of settings (empty
 * environment, fixed argv), before it confines itself.
 *
 * Input: the MSG_CONFIG payload.
 *
 * Properties (abort() when broken):
 *  - an accepted config is within every limit, re-checked here from
 *    kh_limits.h: counts, sizes and deadlines non-zero and bounded, a
 *    token of KH_TOKEN_MIN..KH_TOKEN_MAX bytes without NUL (empty only
 *    when there is no listener: the queue alone checks none), an absolute
 *    chroot directory when chroot is asked for, a non-root uid/gid when
 *    dropping privileges, NUL-terminated strings, forbidden header names
 *    that are distinct lower-case tokens;
 *  - it re-encodes to exactly the input bytes (one spelling per config:
 *    nothing the decoder ignored or normalized);
 *  - a strict prefix of an accepted input is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "child_config.h"
#include "hdr.h"

static void
fuzz_check(const struct child_config *c)
{
	if (c->max_conns == 0 || c->max_conns > KH_CONNS_MAX ||
	    c->max_conns_per_peer > c->max_conns ||
	    c->max_inflight == 0 || c->max_inflight > KH_INFLIGHT_MAX ||
	    c->max_head < 256 || c->max_head > KH_HEAD_MAX ||
	    c->max_headers == 0 || c->max_headers > KH_HEADERS_MAX ||
	    c->max_body > KH_BODY_MAX)
		abort();
	if (c->head_timeout_ms == 0 || c->head_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_timeout_ms == 0 || c->body_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->idle_timeout_ms == 0 || c->idle_timeout_ms > KH_TIMEOUT_MAX_MS)
		abort();
	if (c->write_timeout_ms == 0 || c->write_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_min_rate > KH_BODY_MIN_RATE_MAX)
		abort();
	/* No listener only for a queue or http2_v1 child. */
	if ((c->nlisteners == 0 && !c->queue && !c->connect) ||
	    c->nlisteners > KH_LISTENERS_MAX)
		abort();
	if (c->queue && (c->queue_poll_ms == 0 ||
	    c->queue_poll_ms > KH_QUEUE_POLL_MAX_MS))
		abort();
	if (c->vars.n > KH_POLICY_VARS_MAX)
		abort();
	/* http2_v1: 1..KH_H2_STREAMS_MAX streams and a 32-hex nonce, or
	 * nothing of it. */
	if (c->connect ? c->h2_max_streams == 0 ||
	    c->h2_max_streams > KH_H2_STREAMS_MAX ||
	    strlen(c->h2_nonce) != KH_H2_NONCE_LEN ||
	    strspn(c->h2_nonce, "0123456789abcdef") != KH_H2_NONCE_LEN :
	    c->h2_max_streams != 0 || c->h2_nonce[0] != '\0')
		abort();
	if (memchr(c->token, '\0', sizeof(c->token)) == NULL ||
	    strlen(c->token) != c->token_len || c->token_len > KH_TOKEN_MAX ||
	    (c->token_len < KH_TOKEN_MIN && (c->token_len != 0 ||
	    c->nlisteners != 0)))
		abort();
	if (c->nforbid > KH_FORBID_EXTRA_MAX)
		abort();
	for (size_t i = 0; i < c->nforbid; i++) {
		size_t n = strnlen(c->forbid[i], sizeof(c->forbid[i]));
		if (n == 0 || n == sizeof(c->forbid[i]) ||
		    !hdr_lower_token(c->forbid[i], n))
			abort();
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->forbid[k], c->forbid[i]) == 0)
				abort();
	}
	if (memchr(c->chroot_dir, '\0', sizeof(c->chroot_dir)) == NULL ||
	    memchr(c->policy_name, '\0', sizeof(c->policy_name)) == NULL)
		abort();
	if (c->do_chroot && c->chroot_dir[0] != '/')
		abort();
	if (c->drop_user && (c->uid == 0 || c->gid == 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct child_config c, again;
	struct msg_reader r;
	struct wbuf w;

	msg_reader_init(&r, data, size);
	if (child_config_decode(&r, &c) < 0)
		return 0;
	fuzz_check(&c);

	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&c, &w);
	if (msg_finish(&w) < 0 || w.len - KH_WIRE_HDR != size ||
	    memcmp(w.buf + KH_WIRE_HDR, data, size) != 0)
		abort();
	wbuf_free(&w);

	/* Every field is needed: cut the input anywhere and it fails. */
	size_t cut = size > 0 ? (size_t)data[size - 1] % size : 0;
	msg_reader_init(&r, data, cut);
	if (child_config_decode(&r, &again) == 0)
		abort();
	msg_reader_init(&r, data, size - 1);
	if (size > 0 && child_config_decode(&r, &again) == 0)
		abort();
	return 0;
}
