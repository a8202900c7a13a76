/*
 * Shared by fuzz_queue_envelope.c and fuzz_gateway_response.c: the
 * duplicate-key check (qenv_keys_unique_count, queue_envelope.c) on every
 * object of a file's JSON tree gives the pairwise loop's verdict and
 * makes at most n * ceil(log2 n) + n key comparisons for n keys.  A
 * quadratic check breaks the bound from a dozen keys on, so the fuzzer
 * finds one on small inputs, where no timeout could.
 */
#ifndef KH_FUZZ_KEYS_PROPERTY_H
#define KH_FUZZ_KEYS_PROPERTY_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "queue_envelope.h"

static void
fuzz_keys_property(const cJSON *j)
{
	if (cJSON_IsObject(j)) {
		size_t n = 0, lg = 0;
		unsigned long cmps = 0;
		bool unique = true;

		for (const cJSON *a = j->child; a != NULL; a = a->next) {
			n++;
			for (const cJSON *b = a->next; b != NULL; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					unique = false;
		}
		while (((size_t)1 << lg) < n)
			lg++;
		if (qenv_keys_unique_count(j, &cmps) != unique ||
		    cmps > n * lg + n)
			abort();
	}
	for (const cJSON *c = j->child; c != NULL; c = c->next)
		fuzz_keys_property(c);
}

/* Parse text[0..len) with cJSON and check every object in it. */
static void
fuzz_keys_property_text(const uint8_t *text, size_t len)
{
	cJSON *j = cJSON_ParseWithLength((const char *)text, len);

	if (j != NULL)
		fuzz_keys_property(j);
	cJSON_Delete(j);
}

#endif
