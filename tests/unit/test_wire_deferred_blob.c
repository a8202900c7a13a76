/*
 * A deferred blob (msg_put_blob_deferred: the child hands a request body
 * to the parent by reference, not copied into the frame) gives exactly
 * the bytes msg_put_blob would, is counted in the frame length, must be
 * the last field, and respects KH_MSG_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kh_test.h"
#include "kh_limits.h"
#include "wire.h"

static void
deferred_blob_frame_equals_copied_blob_frame(void)
{
	static const uint8_t body[] = "{\"body\":\"hello\"}";
	size_t blen = sizeof(body) - 1;
	struct wbuf a, b;
	uint8_t *joined;
	struct msg_hdr h;
	struct msg_reader r;
	const char *s;
	const uint8_t *p;
	size_t slen, plen;

	wbuf_init(&a);
	msg_begin(&a, MSG_REQUEST, 7);
	msg_put_cstr(&a, "POST");
	msg_put_blob(&a, body, blen);
	CHECK_EQ_INT(msg_finish(&a), 0);

	wbuf_init(&b);
	msg_begin(&b, MSG_REQUEST, 7);
	msg_put_cstr(&b, "POST");
	msg_put_blob_deferred(&b, blen);
	CHECK_EQ_INT(msg_finish(&b), 0);
	CHECK_EQ_INT(b.len + blen, a.len);
	CHECK_EQ_INT(b.deferred, blen);

	joined = malloc(b.len + blen);
	memcpy(joined, b.buf, b.len);
	memcpy(joined + b.len, body, blen);
	CHECK(memcmp(joined, a.buf, a.len) == 0);

	CHECK_EQ_INT(msg_hdr_decode(joined, &h), 0);
	CHECK_EQ_INT(h.length, a.len - KH_WIRE_HDR);
	msg_reader_init(&r, joined + KH_WIRE_HDR, h.length);
	msg_get_str(&r, &s, &slen, 16);
	msg_get_blob(&r, &p, &plen, 1024);
	CHECK_EQ_INT(msg_end(&r), 0);
	CHECK_EQ_INT(plen, blen);
	CHECK(memcmp(p, body, blen) == 0);
	free(joined);
	wbuf_free(&a);
	wbuf_free(&b);
}

static void
deferred_blob_must_be_last(void)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_blob_deferred(&w, 3);
	msg_put_u8(&w, 0);
	CHECK_EQ_INT(msg_finish(&w), -1);
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_blob_deferred(&w, 3);
	msg_put_blob_deferred(&w, 3);
	CHECK_EQ_INT(msg_finish(&w), -1);
	/* msg_begin starts over. */
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_u8(&w, 1);
	CHECK_EQ_INT(msg_finish(&w), 0);
	CHECK_EQ_INT(w.deferred, 0);
	wbuf_free(&w);
}

static void
deferred_blob_respects_the_frame_maximum(void)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_blob_deferred(&w, KH_MSG_MAX - KH_WIRE_HDR - 4);
	CHECK_EQ_INT(msg_finish(&w), 0);		/* exactly the maximum */
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_blob_deferred(&w, KH_MSG_MAX - KH_WIRE_HDR - 3);
	CHECK_EQ_INT(msg_finish(&w), -1);		/* one byte over */
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_blob_deferred(&w, (size_t)KH_MSG_MAX + 1);
	CHECK_EQ_INT(msg_finish(&w), -1);
	wbuf_free(&w);
}

int
main(void)
{
	deferred_blob_frame_equals_copied_blob_frame();
	deferred_blob_must_be_last();
	deferred_blob_respects_the_frame_maximum();
	TEST_DONE();
}
