/* keyhole http2_v1: the READY line (h2_ready.h). */
#include <string.h>

#include "h2_ready.h"
#include "util.h"

enum h2_ready_line
h2_ready_line(const uint8_t *line, size_t len, const char *nonce,
    size_t nonce_len)
{
	static const char pfx[] = H2_READY_PREFIX;
	const size_t plen = sizeof(pfx) - 1;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < plen || memcmp(line, pfx, plen) != 0)
		return H2R_LINE_NOISE;
	/* READY-shaped: from here on it is this nonce and `"}`, or refused. */
	line += plen;
	len -= plen;
	if (len != nonce_len + 2 || line[nonce_len] != '"' ||
	    line[nonce_len + 1] != '}')
		return H2R_LINE_BAD;
	return util_ct_equal(line, nonce_len, (const uint8_t *)nonce,
	    nonce_len) ? H2R_LINE_READY : H2R_LINE_BAD;
}

void
h2_ready_init(struct h2_ready *r)
{
	memset(r, 0, sizeof(*r));
}

enum h2_ready_status
h2_ready_feed(struct h2_ready *r, const uint8_t *buf, size_t len,
    const char *nonce, size_t nonce_len, size_t *used)
{
	size_t i = 0;

	*used = 0;
	while (i < len) {
		const uint8_t *lf = memchr(buf + i, '\n', len - i);
		size_t n = lf ? (size_t)(lf - (buf + i)) : len - i;
		size_t take = lf ? n + 1 : n;

		if (take > KH_H2_PRE_READY_MAX - r->total) {
			*used = i;
			return H2R_TOO_MUCH;
		}
		r->total += take;
		if (!r->overlong) {
			size_t room = sizeof(r->line) - r->len;
			memcpy(r->line + r->len, buf + i, n < room ? n : room);
			r->len += n < room ? n : room;
			r->overlong = n > room;
		}
		i += take;
		if (lf == NULL)
			break;
		/* A complete line. */
		enum h2_ready_line k = h2_ready_line(r->line, r->len, nonce,
		    nonce_len);
		/* Too long for READY: noise, unless it is READY-shaped. */
		if (r->overlong && k == H2R_LINE_READY)
			k = H2R_LINE_BAD;
		r->len = 0;
		r->overlong = false;
		if (k == H2R_LINE_READY) {
			*used = i;
			return H2R_READY;
		}
		if (k == H2R_LINE_BAD) {
			*used = i;
			return H2R_BAD_NONCE;
		}
		r->noise++;
	}
	*used = i;
	return H2R_MORE;
}
