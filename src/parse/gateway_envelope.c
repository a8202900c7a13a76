/*
 * keyhole-gateway: the request file's text (see gateway_envelope.h).
 */
#include <string.h>
#include <strings.h>

#include "gateway_envelope.h"
#include "json_out.h"
#include "kh_limits.h"

const char *const gw_fwd_headers[] = {
	"accept", "content-type", "if-match", "if-none-match", NULL,
};

/* Paperclip's normalizeHeaders: the allowlist, names lower-cased,
 * repeated fields joined with ", ". */
static void
gw_put_headers(struct sbuf *s, const struct http_req *r)
{
	bool first = true;

	sbuf_adds(s, "{");
	for (const char *const *h = gw_fwd_headers; *h != NULL; h++) {
		struct sbuf v;
		size_t hl = strlen(*h), count = 0;
		sbuf_init(&v, KH_HEAD_MAX);
		for (size_t i = 0; i < r->nfields; i++) {
			const struct http_field *f = &r->fields[i];
			if (f->nlen != hl ||
			    strncasecmp((const char *)f->name, *h, hl) != 0)
				continue;
			if (count++ > 0)
				sbuf_adds(&v, ", ");
			sbuf_add(&v, f->value, f->vlen);
		}
		if (count > 0) {
			if (!first)
				sbuf_adds(s, ",");
			first = false;
			sbuf_add_jstr(s, (const uint8_t *)*h, hl);
			sbuf_adds(s, ":");
			/* the parser allows only visible bytes, SP and HTAB, plus
			 * obs-text; keep the file valid JSON either way */
			if (qc_utf8_valid((const uint8_t *)v.buf, v.len))
				sbuf_add_jstr(s, (const uint8_t *)v.buf, v.len);
			else
				sbuf_add_jstr(s, (const uint8_t *)"", 0);
		}
		sbuf_free(&v);
	}
	sbuf_adds(s, "}");
}

void
gw_envelope_build(struct sbuf *s, const char *id, const struct http_req *r,
    const uint8_t *body, size_t blen, bool base64, const char *created_at)
{
	if (!base64 && !qc_text_plain(body, blen))
		base64 = true;	/* NUL or non-UTF-8: exact bytes, not U+FFFD */
	sbuf_adds(s, "{\"id\":");
	sbuf_add_jstr(s, (const uint8_t *)id, strlen(id));
	sbuf_adds(s, ",\"method\":");
	sbuf_add_jstr(s, (const uint8_t *)r->method, strlen(r->method));
	sbuf_adds(s, ",\"path\":");
	sbuf_add_jstr(s, (const uint8_t *)r->path, r->path_len);
	sbuf_adds(s, ",\"query\":\"");
	if (r->has_query && r->query_len > 0) {
		sbuf_adds(s, "?");
		sbuf_add(s, r->query, r->query_len);	/* query_is_valid: no '"' */
	}
	sbuf_adds(s, "\",\"headers\":");
	gw_put_headers(s, r);
	sbuf_adds(s, ",\"body\":");
	if (base64) {
		sbuf_adds(s, "\"");
		sbuf_add_b64(s, body, blen);
		sbuf_adds(s, "\",\"bodyEncoding\":\"base64\"");
	} else {
		sbuf_add_jstr(s, body, blen);
	}
	sbuf_adds(s, ",\"createdAt\":");
	sbuf_add_jstr(s, (const uint8_t *)created_at, strlen(created_at));
	sbuf_adds(s, "}\n");
}
