/*
 * keyhole-net HTTP responses: the parent's answers and the child's own.
 * Every error is JSON with content-type application/json, from the
 * contract (src/common/paperclip.h, README.md "Errors the sandbox sees");
 * the bytes are written by http_write.c, as keyhole-gateway's are.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_write.h"
#include "net.h"

void
respond_write(struct conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen)
{
	unsigned flags = 0;

	/* A HEAD answer from the upstream arrives without its body, so its
	 * length is unknown here: say nothing rather than 0.  keyhole's own
	 * errors to a HEAD give the length the GET answer would have. */
	if (strcmp(c->req->method, "HEAD") == 0)
		flags |= HTTP_W_HEAD | HTTP_W_HEAD_UNKNOWN;
	if (c->close_after || c->net->shutting_down)
		flags |= HTTP_W_CLOSE;
	else if (c->req->minor == 0)
		flags |= HTTP_W_KEEP_ALIVE;
	http_write_response(bufferevent_get_output(c->bev), status, names,
	    values, vlens, n, body, blen, flags);
	/* One request at a time: nothing more is read until this is out. */
	conn_writing(c);
}

void
respond_json(struct conn *c, int status, const char *json,
    const char *reason, const char *extra_name, const char *extra_value)
{
	const char *names[2] = { "content-type", extra_name };
	const char *values[2] = { "application/json", extra_value };
	size_t vlens[2] = { 16, extra_value ? strlen(extra_value) : 0 };

	/* Every answer the child makes itself is logged by the parent. */
	link_send_access(c->net, c->peer, c->req->method, c->req->path, status,
	    reason, c->body_len, strlen(json));

	respond_write(c, status, names, values, vlens, extra_name ? 2 : 1,
	    (const uint8_t *)json, strlen(json));
}

/* An answer of the contract without template fields (paperclip.h). */
void
respond_answer(struct conn *c, enum pc_id id)
{
	char json[PC_FIXED_BODY_MAX];

	pc_fixed_body(id, json, sizeof(json));
	respond_json(c, pc_table[id].status, json, pc_table[id].text, NULL,
	    NULL);
}
