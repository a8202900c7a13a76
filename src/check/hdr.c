/* keyhole header-field validators: see hdr.h. */
#include <string.h>

#include "hdr.h"
#include "kh_limits.h"

bool
hdr_value_forwardable(const char *v, size_t len)
{
	if (len > KH_HVALUE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c != '\t' && (c < 0x20 || c > 0x7e))
			return false;
	}
	return true;
}

bool
hdr_lower_token(const char *s, size_t len)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (len == 0 || len > KH_HNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '\0' && strchr(extra, c) != NULL)
			continue;
		return false;
	}
	return true;
}
