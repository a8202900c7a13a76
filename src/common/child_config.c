/* keyhole child configuration message: see child_config.h. */
#include <stdio.h>
#include <string.h>

#include "child_config.h"

void
child_config_encode(const struct child_config *c, struct wbuf *w)
{
	msg_put_u32(w, c->max_conns);
	msg_put_u32(w, c->max_conns_per_peer);
	msg_put_u32(w, c->max_inflight);
	msg_put_u32(w, c->max_head);
	msg_put_u32(w, c->max_headers);
	msg_put_u64(w, c->max_body);
	msg_put_u32(w, c->head_timeout_ms);
	msg_put_u32(w, c->body_timeout_ms);
	msg_put_u32(w, c->idle_timeout_ms);
	msg_put_u32(w, c->write_timeout_ms);
	msg_put_u32(w, c->body_min_rate);
	msg_put_u8(w, c->nlisteners);
	msg_put_u8(w, c->drop_user);
	msg_put_u32(w, c->uid);
	msg_put_u32(w, c->gid);
	msg_put_u8(w, c->do_chroot);
	msg_put_cstr(w, c->chroot_dir);
	msg_put_str(w, c->token, c->token_len);
	msg_put_cstr(w, c->policy_name);
	msg_put_u8(w, c->queue);
	msg_put_u8(w, c->queue_inotify);
	msg_put_u32(w, c->queue_poll_ms);
	msg_put_u8(w, c->queue_chroot);
	if (c->vars.n > KH_POLICY_VARS_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u8(w, (uint8_t)c->vars.n);
	for (size_t i = 0; i < c->vars.n; i++) {
		msg_put_cstr(w, c->vars.b[i].name);
		msg_put_str(w, c->vars.b[i].value, c->vars.b[i].vlen);
	}
	msg_put_u32(w, c->mutations_used);
	if (c->nforbid > KH_FORBID_EXTRA_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u8(w, c->nforbid);
	for (size_t i = 0; i < c->nforbid; i++)
		msg_put_cstr(w, c->forbid[i]);
	msg_put_u8(w, c->metrics);
	msg_put_u8(w, c->connect);
	msg_put_u32(w, c->h2_max_streams);
	msg_put_cstr(w, c->h2_nonce);
}

/* The forbidden names: lower-case tokens, distinct, at most the limit. */
static int
child_config_decode_forbid(struct msg_reader *r, struct child_config *c)
{
	if (msg_get_u8(r, &c->nforbid) < 0 || c->nforbid > KH_FORBID_EXTRA_MAX)
		return -1;
	for (size_t i = 0; i < c->nforbid; i++) {
		size_t n;
		if (msg_get_strbuf(r, c->forbid[i], sizeof(c->forbid[i])) < 0)
			return -1;
		n = strlen(c->forbid[i]);
		if (n == 0 || !policy_hname_valid(c->forbid[i], n))
			return -1;
		for (size_t k = 0; k < n; k++)
			if (c->forbid[i][k] >= 'A' && c->forbid[i][k] <= 'Z')
				return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->forbid[k], c->forbid[i]) == 0)
				return -1;
	}
	return 0;
}

/* The bindings, re-checked as policy_binding_add() checks an option. */
static int
child_config_decode_vars(struct msg_reader *r, struct pol_bindings *b)
{
	uint8_t n;
	char arg[KH_POLICY_VAR_MAX + KH_POLICY_SEG_MAX + 2], why[8];

	if (msg_get_u8(r, &n) < 0 || n > KH_POLICY_VARS_MAX)
		return -1;
	for (uint8_t i = 0; i < n; i++) {
		const char *name, *value;
		size_t nl, vl;
		if (msg_get_str(r, &name, &nl, KH_POLICY_VAR_MAX) < 0 ||
		    msg_get_str(r, &value, &vl, KH_POLICY_SEG_MAX) < 0)
			return -1;
		snprintf(arg, sizeof(arg), "%.*s=%.*s", (int)nl, name, (int)vl,
		    value);
		if (memchr(name, '=', nl) != NULL ||
		    policy_binding_add(b, arg, why, sizeof(why)) < 0)
			return -1;
	}
	return 0;
}

int
child_config_decode(struct msg_reader *r, struct child_config *c)
{
	uint8_t drop, chr, q, qi, qc, cn, met = 0;

	memset(c, 0, sizeof(*c));
	msg_get_u32(r, &c->max_conns);
	msg_get_u32(r, &c->max_conns_per_peer);
	msg_get_u32(r, &c->max_inflight);
	msg_get_u32(r, &c->max_head);
	msg_get_u32(r, &c->max_headers);
	msg_get_u64(r, &c->max_body);
	msg_get_u32(r, &c->head_timeout_ms);
	msg_get_u32(r, &c->body_timeout_ms);
	msg_get_u32(r, &c->idle_timeout_ms);
	msg_get_u32(r, &c->write_timeout_ms);
	msg_get_u32(r, &c->body_min_rate);
	msg_get_u8(r, &c->nlisteners);
	msg_get_u8(r, &drop);
	msg_get_u32(r, &c->uid);
	msg_get_u32(r, &c->gid);
	msg_get_u8(r, &chr);
	msg_get_strbuf(r, c->chroot_dir, sizeof(c->chroot_dir));
	msg_get_strbuf(r, c->token, sizeof(c->token));
	msg_get_strbuf(r, c->policy_name, sizeof(c->policy_name));
	msg_get_u8(r, &q);
	msg_get_u8(r, &qi);
	msg_get_u32(r, &c->queue_poll_ms);
	msg_get_u8(r, &qc);
	if (child_config_decode_vars(r, &c->vars) < 0)
		return -1;
	msg_get_u32(r, &c->mutations_used);
	if (child_config_decode_forbid(r, c) < 0)
		return -1;
	msg_get_u8(r, &met);
	msg_get_u8(r, &cn);
	msg_get_u32(r, &c->h2_max_streams);
	msg_get_strbuf(r, c->h2_nonce, sizeof(c->h2_nonce));
	if (msg_end(r) < 0 || met > 1)
		return -1;
	c->metrics = met != 0;
	/* http2_v1 over fds 19-21: a nonce of KH_H2_NONCE_LEN lower-case hex
	 * digits and 1..KH_H2_STREAMS_MAX streams; nothing of it otherwise. */
	if (cn > 1 || (cn && (c->h2_max_streams == 0 ||
	    c->h2_max_streams > KH_H2_STREAMS_MAX ||
	    strlen(c->h2_nonce) != KH_H2_NONCE_LEN ||
	    strspn(c->h2_nonce, "0123456789abcdef") != KH_H2_NONCE_LEN)) ||
	    (!cn && (c->h2_max_streams != 0 || c->h2_nonce[0] != '\0')))
		return -1;
	c->connect = cn != 0;
	if (q > 1 || qi > 1 || qc > 1 || (!q && (qi || qc)))
		return -1;
	c->queue = q != 0;
	c->queue_inotify = qi != 0;
	c->queue_chroot = qc != 0;
	c->token_len = strlen(c->token);
	c->drop_user = drop != 0;
	c->do_chroot = chr != 0;
	if (drop > 1 || chr > 1)
		return -1;
	if (c->max_conns == 0 || c->max_conns > KH_CONNS_MAX ||
	    c->max_conns_per_peer > c->max_conns ||
	    c->max_inflight == 0 || c->max_inflight > KH_INFLIGHT_MAX ||
	    c->max_head < 256 || c->max_head > KH_HEAD_MAX ||
	    c->max_headers == 0 || c->max_headers > KH_HEADERS_MAX ||
	    c->max_body > KH_BODY_MAX ||
	    c->head_timeout_ms == 0 || c->head_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_timeout_ms == 0 || c->body_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->idle_timeout_ms == 0 || c->idle_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->write_timeout_ms == 0 || c->write_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_min_rate > KH_BODY_MIN_RATE_MAX ||
	    (c->nlisteners == 0 && !c->queue && !c->connect) ||
	    c->nlisteners > KH_LISTENERS_MAX ||
	    (c->queue && (c->queue_poll_ms == 0 ||
	    c->queue_poll_ms > KH_QUEUE_POLL_MAX_MS)) ||
	    (c->queue_chroot && c->do_chroot) ||
	    (c->token_len < KH_TOKEN_MIN && (c->nlisteners > 0 ||
	    c->token_len > 0)) ||
	    (c->do_chroot && c->chroot_dir[0] != '/') ||
	    (c->drop_user && (c->uid == 0 || c->gid == 0)))
		return -1;
	return 0;
}
