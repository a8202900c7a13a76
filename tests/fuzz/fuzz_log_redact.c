/*
 * libFuzzer harness for log redaction (src/common/log.c): whatever a
 * request or the child puts into a log line, a registered secret (the
 * credential, the bridge token: visible ASCII, so possibly '"' and '\')
 * never comes out, in text or JSON format, from any entry point.
 *
 * Input:
 *   byte 0     bit 0: JSON (else text); bits 1-2: entry point
 *              { log_msg, log_relay (a child's line), log_access (fields
 *              split at 0xFE), log_msg through a sink (the child) }
 *   byte 1     secret length 16..64
 *   then       the secret's bytes after its fixed first one, '~' (each
 *              mapped into 0x21..0x7e), then the payload, in which each
 *              0xFF byte stands for the secret itself.
 * Inputs whose payload holds a '~' by itself are skipped; no fixed text of
 * a log line has one and the sanitizer makes none, so any '~' in the
 * output is (the start of) the secret.
 *
 * Property (abort() when broken): no '~' in what is written — neither the
 * secret as it is, nor JSON-escaped (escaping leaves '~' alone), nor even
 * its first byte left by a cut at a length limit.  (The syslog branch of
 * log_emit, which scrubs the same way, is not reached here: it needs a
 * socket.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kh_limits.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_rd = -1, fuzz_wr = -1;
static char fuzz_sunk[KH_LOG_MAX * 8];
static size_t fuzz_sunk_len;

static void
fuzz_sink(enum log_level level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	if (n > sizeof(fuzz_sunk) - fuzz_sunk_len)
		abort();
	memcpy(fuzz_sunk + fuzz_sunk_len, line, n);
	fuzz_sunk_len += n;
}

static void
fuzz_check(const char *out, size_t n)
{
	if (memchr(out, '~', n) != NULL) {
		fprintf(stderr, "secret in a log line: %.*s\n", (int)n, out);
		abort();
	}
}

/* Everything written since the last call. */
static void
fuzz_check_written(void)
{
	static char buf[1 << 17];
	ssize_t n;

	while ((n = read(fuzz_rd, buf, sizeof(buf))) > 0)
		fuzz_check(buf, (size_t)n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char secret[65];
	char *payload, *fields[4];
	size_t sl, plen = 0, nf = 1;
	int mode;
	bool json;

	if (fuzz_rd < 0) {
		int p[2];
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0 ||
		    fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < 0)
			abort();
		fuzz_rd = p[0];
		fuzz_wr = p[1];
		log_set_verbosity(LOG_DEBUG);
	}
	if (size < 2)
		return 0;
	json = data[0] & 1;
	mode = (data[0] >> 1) & 3;
	sl = 16 + data[1] % 49;
	if (size < 2 + (sl - 1))
		return 0;
	secret[0] = '~';
	for (size_t i = 1; i < sl; i++)
		secret[i] = (char)(0x21 + data[2 + i - 1] % 94);
	secret[sl] = '\0';
	data += 2 + (sl - 1);
	size -= 2 + (sl - 1);
	if (memchr(data, '~', size) != NULL)
		return 0;
	payload = malloc(size * sl + 1);
	if (payload == NULL)
		abort();
	fields[0] = payload;
	for (size_t i = 0; i < size; i++) {
		if (data[i] == 0xff) {
			memcpy(payload + plen, secret, sl);
			plen += sl;
		} else if (data[i] == 0xfe && mode == 2 && nf < 4) {
			payload[plen++] = '\0';
			fields[nf++] = payload + plen;
		} else {
			payload[plen++] = (char)data[i];
		}
	}
	payload[plen] = '\0';
	for (size_t i = nf; i < 4; i++)
		fields[i] = payload + plen;

	log_init(mode == 3 ? "keyhole-net" : "keyhole",
	    mode == 3 ? fuzz_sink : NULL);
	log_set_fd(fuzz_wr);
	log_set_format(json ? LOG_FMT_JSON : LOG_FMT_TEXT);
	log_redact_clear();
	log_redact(secret, sl);
	fuzz_sunk_len = 0;
	switch (mode) {
	case 0:
	case 3:
		log_msg(LOG_INFO, "%s", payload);
		break;
	case 1:
		log_relay("keyhole-net", 42, LOG_WARN, payload, plen);
		break;
	case 2: {
		struct log_access a = { 7, fields[0], fields[1], fields[2],
		    fields[3], 403, plen, 0, -1, 0 };
		log_access("keyhole-net", 42, &a);
		break;
	}
	}
	fuzz_check_written();
	fuzz_check(fuzz_sunk, fuzz_sunk_len);
	log_redact_clear();
	log_set_fd(STDERR_FILENO);
	log_init("keyhole", NULL);
	free(payload);
	return 0;
}
