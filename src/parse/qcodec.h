/*
 * keyhole queue_v1 codec helpers shared by the child (host side of the
 * queue) and keyhole-gateway (sandbox side): strict base64, JSON string
 * output, UTF-8 check and a growable text buffer (timestamps:
 * json_out.h).  Pure functions: no I/O, no locale.
 */
#ifndef KH_QCODEC_H
#define KH_QCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable byte buffer; failed is sticky (allocation or limit). */
struct sbuf {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;		/* hard limit on len */
	bool failed;
};

void sbuf_init(struct sbuf *s, size_t max);
void sbuf_free(struct sbuf *s);
void sbuf_add(struct sbuf *s, const void *p, size_t n);
void sbuf_adds(struct sbuf *s, const char *str);
void sbuf_addf(struct sbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal with quotes (json_out.h's escaping); the bytes
 * must be valid UTF-8 (the caller checks with qc_utf8_valid). */
void sbuf_add_jstr(struct sbuf *s, const uint8_t *p, size_t n);

/* Base64 (RFC 4648, '+/', '=' padding) of n bytes: 4*ceil(n/3) chars. */
size_t qc_b64_len(size_t n);
void sbuf_add_b64(struct sbuf *s, const uint8_t *p, size_t n);
/* Strict decode, the rules of Paperclip's decodeSandboxBridgeBody: length
 * a multiple of 4, alphabet only, '=' only as 1-2 final pad characters,
 * unused bits zero (so re-encoding gives the same text).  Writes at most
 * max bytes to out (which holds max bytes).  Returns the decoded length,
 * -1 when malformed, -2 when longer than max. */
long long qc_b64_decode(const char *in, size_t n, uint8_t *out, size_t max);

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool qc_utf8_valid(const uint8_t *p, size_t n);
/* True when the bytes may be written as a plain JSON string at no more
 * than twice their size: valid UTF-8, no NUL and no control character but
 * TAB, LF and CR. */
bool qc_text_plain(const uint8_t *p, size_t n);

/* A request id or file stem keyhole accepts: 1..KH_QUEUE_ID_MAX bytes of
 * [A-Za-z0-9_-] (Paperclip's gateway uses a UUID). */
bool qc_id_valid(const char *s, size_t n);

#endif
