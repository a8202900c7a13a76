/* keyhole queue_v1 codec helpers: see qcodec.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kh_limits.h"
#include "qcodec.h"

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
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	sbuf_add(s, "\"", 1);
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		char esc[7];
		size_t el = 0;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			el = 2;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
			el = 2;
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2);
			el = 2;
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
			el = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		if (el == 0)
			continue;
		sbuf_add(s, p + run, i - run);
		sbuf_add(s, esc, el);
		run = i + 1;
	}
	sbuf_add(s, p + run, n - run);
	sbuf_add(s, "\"", 1);
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
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
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

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void
qc_civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void
qc_iso8601(int64_t sec, long nsec, char out[QC_ISO_LEN])
{
	int64_t days = sec / 86400, rem = sec % 86400, y;
	unsigned m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	qc_civil(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;		/* not a clock this code will see */
	snprintf(out, QC_ISO_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	    (unsigned)y % 10000, m % 100, d % 100, (unsigned)(rem / 3600) % 100,
	    (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
	    (unsigned)(nsec / 1000000) % 1000);
}

void
qc_iso8601_now(char out[QC_ISO_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	qc_iso8601((int64_t)ts.tv_sec, ts.tv_nsec, out);
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
