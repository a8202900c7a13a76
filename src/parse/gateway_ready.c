/* The http2_v1 READY line: see gateway_ready.h. */
#include <string.h>

#include "gateway_ready.h"
#include "json_out.h"

bool
gw_nonce_ok(const char *nonce, size_t len)
{
	if (len > KH_GW_NONCE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)nonce[i] < 0x20 ||
		    (unsigned char)nonce[i] > 0x7e)
			return false;
	return true;
}

size_t
gw_ready_line(const char *nonce, size_t len, char *out, size_t cap)
{
	static const char head[] = "{\"version\":2,\"type\":\"ready\",\"nonce\":";
	size_t off = 0;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (!gw_nonce_ok(nonce, len))
		return 0;
	json_put(out, cap, &off, head, sizeof(head) - 1);
	/* For printable ASCII, json_put_str escapes exactly what
	 * JSON.stringify does: '"' and '\\'. */
	json_put_str(out, cap, &off, nonce, len);
	json_put(out, cap, &off, "}\n", 2);
	if (off >= cap) {
		out[0] = '\0';
		return 0;
	}
	out[off] = '\0';
	return off;
}
