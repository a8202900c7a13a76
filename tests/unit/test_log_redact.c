/*
 * Log redaction (src/common/log.c): a registered secret (the credential,
 * the bridge token) never reaches a log line in any form a reader could
 * use — not as written, not JSON-escaped (a secret may hold '"' and '\',
 * which are visible ASCII), not as the first bytes of a secret cut by a
 * line's length limit — in text and JSON format, whichever entry point
 * wrote the line (log_msg, log_relay from the child, log_access).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kh_limits.h"
#include "kh_test.h"
#include "log.h"

static int rd;

/* What the last calls wrote. */
static char *
drain(void)
{
	static char out[1 << 16];
	ssize_t n = read(rd, out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

/* No form of secret s in out: as is, JSON-escaped, its first 6 bytes
 * (each test secret starts with a prefix found nowhere else), or its
 * first byte right after the run of 'x' the cut tests put before it. */
static void
check_clean(const char *out, const char *s, const char *what)
{
	char esc[256], head[7], xs[3] = { 'x', s[0], '\0' };
	size_t k = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			esc[k++] = '\\';
		esc[k++] = *p;
	}
	esc[k] = '\0';
	memcpy(head, s, 6);
	head[6] = '\0';
	kh_test_checks++;
	if (strstr(out, s) != NULL || strstr(out, esc) != NULL ||
	    strstr(out, head) != NULL || strstr(out, xs) != NULL) {
		kh_test_failures++;
		fprintf(stderr, "secret leaked (%s): %.300s\n", what, out);
	}
}

int
main(void)
{
	static const char *const secrets[] = {
		"S3CR3T-plain-token-0123456789",
		"S3CR3T\"quoted\\back\\slash\"end",
	};
	int p[2];
	char line[KH_LOG_MAX * 2];

	if (pipe2(p, O_NONBLOCK) != 0)
		return 1;
	rd = p[0];
	log_init("keyhole", NULL);
	log_set_fd(p[1]);
	for (size_t si = 0; si < 2; si++) {
		const char *s = secrets[si];
		size_t sl = strlen(s);
		log_redact_clear();
		log_redact(s, sl);
		for (int fmt = 0; fmt < 2; fmt++) {
			log_set_format(fmt ? LOG_FMT_JSON : LOG_FMT_TEXT);
			/* whole, in the middle of a line */
			snprintf(line, sizeof(line), "path=/api/x/%s/y", s);
			log_info("%s", line);
			check_clean(drain(), s, "log_msg");
			log_relay("keyhole-net", 7, LOG_INFO, line, strlen(line));
			check_clean(drain(), s, "log_relay");
			struct log_access a = { 1, s, "GET", line, line, 200, 0,
			    0, -1, 0 };
			log_access("keyhole", 1, &a);
			check_clean(drain(), s, "log_access");
			/* cut by the line limit right inside the secret, at
			 * every offset */
			for (size_t cut = 1; cut < sl; cut++) {
				size_t pre = KH_LOG_MAX - 1 - cut;
				memset(line, 'x', pre);
				memcpy(line + pre, s, sl);
				line[pre + sl] = '\0';
				log_info("%s", line);
				check_clean(drain(), s, "log_msg cut");
				log_relay("keyhole-net", 7, LOG_INFO, line,
				    pre + sl);
				check_clean(drain(), s, "log_relay cut");
				struct log_access b = { 1, "p", "GET", line, "r",
				    200, 0, 0, -1, 0 };
				log_access("keyhole", 1, &b);
				check_clean(drain(), s, "log_access cut");
			}
		}
	}
	/* The masking is not vacuous: the lines still say what they said. */
	log_redact_clear();
	log_redact(secrets[0], strlen(secrets[0]));
	log_set_format(LOG_FMT_TEXT);
	log_info("before %s after", secrets[0]);
	CHECK(strstr(drain(), "before ***************************** after") !=
	    NULL);
	TEST_DONE();
}
