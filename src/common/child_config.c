/* keyhole child configuration message: see child_config.h. */
#include <string.h>

#include "child_config.h"

void
child_config_encode(const struct child_config *c, struct wbuf *w)
{
	msg_put_u32(w, c->max_conns);
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
}

int
child_config_decode(struct msg_reader *r, struct child_config *c)
{
	uint8_t drop, chr;

	memset(c, 0, sizeof(*c));
	msg_get_u32(r, &c->max_conns);
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
	if (msg_end(r) < 0)
		return -1;
	c->token_len = strlen(c->token);
	c->drop_user = drop != 0;
	c->do_chroot = chr != 0;
	if (drop > 1 || chr > 1)
		return -1;
	if (c->max_conns == 0 || c->max_conns > KH_CONNS_MAX ||
	    c->max_inflight == 0 || c->max_inflight > KH_INFLIGHT_MAX ||
	    c->max_head < 256 || c->max_head > KH_HEAD_MAX ||
	    c->max_headers == 0 || c->max_headers > KH_HEADERS_MAX ||
	    c->max_body > KH_BODY_MAX ||
	    c->head_timeout_ms == 0 || c->head_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_timeout_ms == 0 || c->body_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->idle_timeout_ms == 0 || c->idle_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->write_timeout_ms == 0 || c->write_timeout_ms > KH_TIMEOUT_MAX_MS ||
	    c->body_min_rate > KH_BODY_MIN_RATE_MAX ||
	    c->nlisteners == 0 || c->nlisteners > KH_LISTENERS_MAX ||
	    c->token_len < KH_TOKEN_MIN ||
	    (c->do_chroot && c->chroot_dir[0] != '/') ||
	    (c->drop_user && (c->uid == 0 || c->gid == 0)))
		return -1;
	return 0;
}
