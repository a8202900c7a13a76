/*
 * libFuzzer harness for the parent's filter of upstream response headers
 * (upstream_header_cb in src/priv/upstream_recv.c, included here; the
 * linker then takes nothing from upstream_recv.o).  libcurl hands it each
 * header line as it arrived from the upstream; what it keeps goes back to
 * the sandbox, so it is the response-header allowlist (docs/policy.md,
 * `response-header NAME`; SECURITY.md I4), and what it stops decides
 * what the client is told (answer.c).
 *
 * Input: header lines, each ending in '\n' as libcurl delivers them
 * ("HTTP/1.1 200 OK\r\n", "etag: \"v1\"\r\n", ...); a final line without
 * '\n' is passed as it is.
 *
 * Properties (abort() when broken), after every line:
 *  - every kept header is on the policy's response allowlist (compared
 *    here by name), never a forbidden name, lower-case;
 *  - its value is forwardable (no CR, LF, NUL or other control byte but
 *    HTAB), without leading or trailing blanks, NUL-terminated at vlen;
 *  - at most KH_FWD_HEADERS_MAX are kept;
 *  - a status line ("HTTP/...", e.g. after a 1xx) forgets every header kept
 *    so far;
 *  - once a final head (status 200..599) ended with its blank line,
 *    nothing more is kept (trailers are discarded);
 *  - the callback consumes the whole line, or stops the transfer exactly
 *    when the line is a status line whose 3-digit code (read here by the
 *    harness) is 101 or outside 100..599, or a Content-Length of a final
 *    head over the response limit; nothing is fed after a stop.
 */
#include "../../src/priv/upstream_recv.c"

/* The response limit the harness gives the filter, bytes. */
#define FUZZ_MAX_RESPONSE 4096u

/* The harness's own reading of a status line: the code, or -1. */
static int
fuzz_status(const char *l, size_t n)
{
	const char *sp = memchr(l, ' ', n);
	size_t i;

	if (sp == NULL)
		return -1;
	i = (size_t)(sp - l) + 1;
	if (n < i + 3 || !isdigit((unsigned char)l[i]) ||
	    !isdigit((unsigned char)l[i + 1]) || !isdigit((unsigned char)l[i + 2]))
		return -1;
	if (n > i + 3 && l[i + 3] != ' ' && l[i + 3] != '\r' && l[i + 3] != '\n')
		return -1;
	return (l[i] - '0') * 100 + (l[i + 1] - '0') * 10 + (l[i + 2] - '0');
}

static const char *const fuzz_allow[] = {
	"content-type", "etag", "last-modified", "x-request-id",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy pol;
	static struct upstream up;
	struct up_req *r = calloc(1, sizeof(*r));
	size_t off = 0, checked = 0;

	if (r == NULL)
		abort();
	if (pol.nresp_hdrs == 0) {
		for (size_t i = 0; i < sizeof(fuzz_allow) / sizeof(*fuzz_allow);
		    i++)
			strcpy(pol.resp_hdrs[pol.nresp_hdrs++], fuzz_allow[i]);
		up.max_response = FUZZ_MAX_RESPONSE;
	}
	r->up = &up;
	/* What monitor.c gives upstream_start: the policy's list. */
	r->resp_allow.names = (const char (*)[KH_HNAME_MAX + 1])pol.resp_hdrs;
	r->resp_allow.n = pol.nresp_hdrs;
	r->head_status = -1;
	strcpy(r->method, "GET");
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
		/* libcurl's buffer is writable and not NUL-terminated. */
		char *line = malloc(n);
		if (line == NULL)
			abort();
		memcpy(line, data + off, n);
		bool was_done = r->head_done;
		size_t kept = r->nresp_hdrs;
		bool status_line = !was_done && n >= 5 &&
		    memcmp(line, "HTTP/", 5) == 0;
		int code = status_line ? fuzz_status(line, n) : 0;
		size_t took = upstream_header_cb(line, 1, n, r);
		free(line);
		if (took != n) {
			/* Stopped: exactly for a status keyhole does not pass
			 * on, or a declared length over the limit. */
			if (took != 0 || !(r->bad_status || r->too_large))
				abort();
			if (r->bad_status != (status_line && (code == 101 ||
			    code < 100 || code > 599)))
				abort();
			if (r->too_large && (r->head_status < 200 ||
			    r->declared_len <= FUZZ_MAX_RESPONSE))
				abort();
			break;
		}
		if (status_line && (code == 101 || code < 100 || code > 599))
			abort();
		if (status_line && r->nresp_hdrs != 0)
			abort();
		if (was_done && r->nresp_hdrs != kept)
			abort();
		off += n;
		if (r->nresp_hdrs > KH_FWD_HEADERS_MAX)
			abort();
		/* Kept headers never change; only a status line drops them. */
		if (r->nresp_hdrs < checked)
			checked = 0;
		for (size_t i = checked; i < r->nresp_hdrs; i++) {
			const struct up_hdr *h = &r->resp_hdrs[i];
			bool listed = false;
			for (size_t k = 0;
			    k < sizeof(fuzz_allow) / sizeof(*fuzz_allow); k++)
				listed |= strcmp(h->name, fuzz_allow[k]) == 0;
			if (!listed || policy_header_forbidden(h->name,
			    strlen(h->name)))
				abort();
			if (h->value == NULL || strlen(h->value) != h->vlen)
				abort();
			for (size_t k = 0; k < h->vlen; k++) {
				unsigned char c = (unsigned char)h->value[k];
				if (c != '\t' && (c < 0x20 || c > 0x7e))
					abort();
			}
			if (h->vlen > 0 && (h->value[0] == ' ' ||
			    h->value[0] == '\t' || h->value[h->vlen - 1] == ' ' ||
			    h->value[h->vlen - 1] == '\t'))
				abort();
		}
		checked = r->nresp_hdrs;
	}
	up_req_free(r);
	return 0;
}
