/*
 * libFuzzer harness for the parent's filter of upstream response headers
 * (upstream_header_cb in src/priv/upstream.c, included here to reach the
 * static callback; the linker then takes nothing from upstream.o).  libcurl
 * hands it each header line as it arrived from the upstream; what it keeps
 * goes back to the sandbox, so it is the response-header allowlist
 * (DESIGN.md: "returned response headers as allowlists").
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
 *  - the callback consumes the whole line.
 */
#include "../../src/priv/upstream.c"

static const char *const fuzz_allow[] = {
	"content-type", "etag", "last-modified", "x-request-id",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy pol;
	static const struct policy *polp = &pol;
	static struct upstream up;
	struct up_req *r = calloc(1, sizeof(*r));
	size_t off = 0, checked = 0;

	if (r == NULL)
		abort();
	if (pol.nresp_hdrs == 0) {
		for (size_t i = 0; i < sizeof(fuzz_allow) / sizeof(*fuzz_allow);
		    i++)
			strcpy(pol.resp_hdrs[pol.nresp_hdrs++], fuzz_allow[i]);
		up.policy = &polp;
	}
	r->up = &up;
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
		/* libcurl's buffer is writable and not NUL-terminated. */
		char *line = malloc(n);
		if (line == NULL)
			abort();
		memcpy(line, data + off, n);
		if (upstream_header_cb(line, 1, n, r) != n)
			abort();
		if (n >= 5 && memcmp(line, "HTTP/", 5) == 0 &&
		    r->nresp_hdrs != 0)
			abort();
		free(line);
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
