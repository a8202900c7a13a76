/* keyhole's JSON output: see json_out.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json_out.h"

void
json_put(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
	/* n == 0: s may be NULL (an empty body), and memcpy may not get it. */
	if (n > 0 && out != NULL && *off < cap && n < cap - *off)
		memcpy(out + *off, s, n);
	*off += n;
}

void
json_put_str(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
	size_t run = 0;

	json_put(out, cap, off, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t el = 2;

		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c >= 0x20)
				continue;
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			el = 6;
		}
		json_put(out, cap, off, s + run, i - run);
		json_put(out, cap, off, esc, el);
		run = i + 1;
	}
	if (n > run)
		json_put(out, cap, off, s + run, n - run);
	json_put(out, cap, off, "\"", 1);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void
json_civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
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
json_iso8601(int64_t sec, long nsec, char out[JSON_ISO_LEN])
{
	int64_t days = sec / 86400, rem = sec % 86400, y;
	unsigned m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	json_civil(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;		/* not a clock this code will see */
	snprintf(out, JSON_ISO_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	    (unsigned)y % 10000, m % 100, d % 100, (unsigned)(rem / 3600) % 100,
	    (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
	    (unsigned)(nsec / 1000000) % 1000);
}

void
json_iso8601_now(char out[JSON_ISO_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	json_iso8601((int64_t)ts.tv_sec, ts.tv_nsec, out);
}

