/*
 * keyhole wire format: frame builder and typed reader.  The format itself
 * is documented in wire.h.  Both ends call these; neither trusts the other
 * to have done so.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "kh_limits.h"
#include "wire.h"

void
wbuf_init(struct wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

void
wbuf_free(struct wbuf *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void
wbuf_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->failed)
		return;
	if (w->deferred != 0) {
		w->failed = true;	/* the deferred blob must be last */
		return;
	}
	if (n > KH_MSG_MAX || w->len + n > KH_MSG_MAX) {
		w->failed = true;
		return;
	}
	if (w->len + n > w->cap) {
		size_t ncap = w->cap ? w->cap : 256;
		while (ncap < w->len + n)
			ncap *= 2;
		uint8_t *nb = realloc(w->buf, ncap);
		if (nb == NULL) {
			w->failed = true;
			return;
		}
		w->buf = nb;
		w->cap = ncap;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
msg_begin(struct wbuf *w, enum msg_type type, uint64_t id)
{
	w->len = 0;
	w->deferred = 0;
	w->failed = false;
	msg_put_u8(w, KH_WIRE_VERSION);
	msg_put_u8(w, (uint8_t)type);
	msg_put_u16(w, 0);
	msg_put_u32(w, 0);	/* patched by msg_finish */
	msg_put_u64(w, id);
}

void
msg_put_u8(struct wbuf *w, uint8_t v)
{
	wbuf_put(w, &v, 1);
}

void
msg_put_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wbuf_put(w, b, 2);
}

void
msg_put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };
	wbuf_put(w, b, 4);
}

void
msg_put_u64(struct wbuf *w, uint64_t v)
{
	msg_put_u32(w, (uint32_t)(v >> 32));
	msg_put_u32(w, (uint32_t)v);
}

void
msg_put_str(struct wbuf *w, const char *s, size_t len)
{
	if (len > UINT32_MAX || (len && memchr(s, '\0', len) != NULL)) {
		w->failed = true;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	wbuf_put(w, s, len);
}

void
msg_put_cstr(struct wbuf *w, const char *s)
{
	msg_put_str(w, s, strlen(s));
}

void
msg_put_blob(struct wbuf *w, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	wbuf_put(w, p, len);
}

void
msg_put_blob_deferred(struct wbuf *w, size_t len)
{
	if (w->deferred != 0 || len > KH_MSG_MAX) {
		w->failed = true;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	w->deferred = len;
}

int
msg_finish(struct wbuf *w)
{
	if (w->failed || w->len < KH_WIRE_HDR ||
	    w->deferred > KH_MSG_MAX - w->len)
		return -1;
	uint32_t plen = (uint32_t)(w->len - KH_WIRE_HDR + w->deferred);
	w->buf[4] = (uint8_t)(plen >> 24);
	w->buf[5] = (uint8_t)(plen >> 16);
	w->buf[6] = (uint8_t)(plen >> 8);
	w->buf[7] = (uint8_t)plen;
	return 0;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
msg_hdr_decode(const uint8_t *p, struct msg_hdr *h)
{
	h->version = p[0];
	h->type = p[1];
	h->length = be32(p + 4);
	h->id = (uint64_t)be32(p + 8) << 32 | be32(p + 12);
	if (h->version != KH_WIRE_VERSION)
		return -1;
	if (p[2] != 0 || p[3] != 0)
		return -1;
	if (h->length > KH_MSG_MAX - KH_WIRE_HDR)
		return -1;
	return 0;
}

void
msg_reader_init(struct msg_reader *r, const uint8_t *payload, size_t len)
{
	r->p = payload;
	r->len = len;
	r->off = 0;
	r->failed = false;
}

static const uint8_t *
msg_take(struct msg_reader *r, size_t n)
{
	if (r->failed || n > r->len - r->off) {
		r->failed = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

int
msg_get_u8(struct msg_reader *r, uint8_t *v)
{
	const uint8_t *p = msg_take(r, 1);
	if (p == NULL)
		return -1;
	*v = p[0];
	return 0;
}

int
msg_get_u16(struct msg_reader *r, uint16_t *v)
{
	const uint8_t *p = msg_take(r, 2);
	if (p == NULL)
		return -1;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int
msg_get_u32(struct msg_reader *r, uint32_t *v)
{
	const uint8_t *p = msg_take(r, 4);
	if (p == NULL)
		return -1;
	*v = be32(p);
	return 0;
}

int
msg_get_u64(struct msg_reader *r, uint64_t *v)
{
	const uint8_t *p = msg_take(r, 8);
	if (p == NULL)
		return -1;
	*v = (uint64_t)be32(p) << 32 | be32(p + 4);
	return 0;
}

int
msg_get_blob(struct msg_reader *r, const uint8_t **p, size_t *len, size_t max)
{
	uint32_t n;
	if (msg_get_u32(r, &n) < 0)
		return -1;
	if (n > max) {
		r->failed = true;
		return -1;
	}
	const uint8_t *q = msg_take(r, n);
	if (q == NULL)
		return -1;
	*p = q;
	*len = n;
	return 0;
}

int
msg_get_str(struct msg_reader *r, const char **s, size_t *len, size_t max)
{
	const uint8_t *p;
	if (msg_get_blob(r, &p, len, max) < 0)
		return -1;
	if (*len && memchr(p, '\0', *len) != NULL) {
		r->failed = true;
		return -1;
	}
	*s = (const char *)p;
	return 0;
}

int
msg_get_strbuf(struct msg_reader *r, char *dst, size_t cap)
{
	const char *s;
	size_t len;
	if (cap == 0 || msg_get_str(r, &s, &len, cap - 1) < 0) {
		r->failed = true;
		if (cap)
			dst[0] = '\0';
		return -1;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

int
msg_end(struct msg_reader *r)
{
	if (r->failed || r->off != r->len) {
		r->failed = true;
		return -1;
	}
	return 0;
}

int
wire_pump(struct evbuffer *in, wire_frame_fn frame, bool (*hold)(void *arg),
    void *arg, const char **why)
{
	for (;;) {
		uint8_t hb[KH_WIRE_HDR];
		struct msg_hdr h;
		size_t have = evbuffer_get_length(in);
		const uint8_t *f;

		if (have < KH_WIRE_HDR || (hold != NULL && hold(arg)))
			return 0;
		evbuffer_copyout(in, hb, KH_WIRE_HDR);
		if (msg_hdr_decode(hb, &h) < 0) {
			*why = "bad frame header (version, reserved bits or "
			    "length over the maximum)";
			return -1;
		}
		if (have < KH_WIRE_HDR + (size_t)h.length)
			return 0;
		if ((f = evbuffer_pullup(in, KH_WIRE_HDR + h.length)) == NULL) {
			*why = "cannot buffer frame";
			return -1;
		}
		if (frame(arg, &h, f + KH_WIRE_HDR, why) < 0)
			return -1;
		evbuffer_drain(in, KH_WIRE_HDR + h.length);
	}
}

static void
wire_blob_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

int
wire_send(struct bufferevent *bev, struct wbuf *w, uint8_t *blob, size_t len,
    bool give)
{
	return wire_send_buf(bev != NULL ? bufferevent_get_output(bev) : NULL,
	    w, blob, len, give);
}

int
wire_send_buf(struct evbuffer *dst, struct wbuf *w, uint8_t *blob, size_t len,
    bool give)
{
	struct evbuffer *frame = evbuffer_new();
	int rc = -1;

	if (frame == NULL || dst == NULL || msg_finish(w) < 0 ||
	    w->deferred != len || evbuffer_add(frame, w->buf, w->len) < 0)
		goto out;
	if (len > 0 && give) {
		if (evbuffer_add_reference(frame, blob, len, wire_blob_free,
		    NULL) < 0)
			goto out;
		give = false;		/* the evbuffer frees it now */
	} else if (len > 0 && evbuffer_add(frame, blob, len) < 0) {
		goto out;
	}
	if (evbuffer_add_buffer(dst, frame) == 0)
		rc = 0;
out:
	if (give)
		free(blob);
	if (frame != NULL)
		evbuffer_free(frame);
	wbuf_free(w);
	return rc;
}
