/* keyhole queue_v1 codec helpers: see qcodec.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "kh_limits.h"
#include "qcodec.h"
#include "utf8.h"

void
sbuf_init(struct sbuf *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void
sbuf_free(struct sbuf *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static bool
sbuf_reserve(struct sbuf *s, size_t n)
{
	if (s->failed)
		return false;
	if (n > s->max - s->len || s->len + n + 1 < s->len) {
		s->failed = true;
		return false;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (nb == NULL) {
			s->failed = true;
			return false;
		}
		s->buf = nb;
		s->cap = cap;
	}
	return true;
}

void
sbuf_add(struct sbuf *s, const void *p, size_t n)
{
	if (!sbuf_reserve(s, n) || n == 0)
		return;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

void
sbuf_adds(struct sbuf *s, const char *str)
{
	sbuf_add(s, str, strlen(str));
}

void
sbuf_addf(struct sbuf *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		s->failed = true;
		return;
	}
	sbuf_add(s, tmp, (size_t)n);
}

void
sbuf_add_jstr(struct sbuf *s, const uint8_t *p, size_t n)
{
	size_t need = 0;

	json_put_str(NULL, 0, &need, (const char *)p, n);
	if (!sbuf_reserve(s, need))
		return;
	json_put_str(s->buf, s->cap, &s->len, (const char *)p, n);
	s->buf[s->len] = '\0';
}

static const char qc_b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
qc_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
sbuf_add_b64(struct sbuf *s, const uint8_t *p, size_t n)
{
	size_t out = qc_b64_len(n), i, o = 0;

	if (!sbuf_reserve(s, out))
		return;
	char *d = s->buf + s->len;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];
		d[o++] = qc_b64_alpha[v >> 18];
		d[o++] = qc_b64_alpha[(v >> 12) & 63];
		d[o++] = qc_b64_alpha[(v >> 6) & 63];
		d[o++] = qc_b64_alpha[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		d[o++] = qc_b64_alpha[v >> 18];
		d[o++] = qc_b64_alpha[(v >> 12) & 63];
		d[o++] = i + 1 < n ? qc_b64_alpha[(v >> 6) & 63] : '=';
		d[o++] = '=';
	}
	s->len += o;
	s->buf[s->len] = '\0';
}

static int
qc_b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long long
qc_b64_decode(const char *in, size_t n, uint8_t *out, size_t max)
{
	size_t o = 0, pad = 0;

	if (n % 4 != 0)
		return -1;
	if (n > 0 && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	if (n / 4 * 3 - pad > max)
		return -2;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;
		for (int k = 0; k < 4; k++) {
			v[k] = qc_b64_val(in[i + (size_t)k]);
			/* '=' only in the final quantum's pad positions */
			if (v[k] < 0 && !(last && in[i + (size_t)k] == '=' &&
			    (size_t)k >= 4 - pad))
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (last && pad == 2) {
			if ((v[1] & 15) != 0)
				return -1;	/* unused bits must be zero */
			out[o++] = (uint8_t)(w >> 16);
			break;
		}
		w |= (uint32_t)v[2] << 6;
		if (last && pad == 1) {
			if ((v[2] & 3) != 0)
				return -1;
			out[o++] = (uint8_t)(w >> 16);
			out[o++] = (uint8_t)(w >> 8);
			break;
		}
		w |= (uint32_t)v[3];
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	return (long long)o;
}

bool
qc_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if (p[i] < 0x80)
			i++;
		else if ((l = utf8_seq_len(p, n, i)) == 0)
			return false;
		else
			i += l;
	}
	return true;
}

bool
qc_text_plain(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r') || p[i] == 0x7f)
			return false;
	return qc_utf8_valid(p, n);
}

bool
qc_id_valid(const char *s, size_t n)
{
	if (n == 0 || n > KH_QUEUE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}
