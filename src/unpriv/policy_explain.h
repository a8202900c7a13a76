/* keyhole explain (keyhole-net only): see policy_explain.c. */
#ifndef KH_POLICY_EXPLAIN_H
#define KH_POLICY_EXPLAIN_H

#include <stdint.h>
#include <stdio.h>

#include "policy_table.h"

/* Explain `METHOD TARGET` (TARGET = path, optionally ?query) against p,
 * whose variables are already bound; op_max is the operator's body limit
 * (the default --max-body).  Writes to f; returns 0 when the request
 * would be allowed, 1 when denied. */
int policy_explain(FILE *f, const struct policy *p, const char *method,
    const char *target, uint64_t op_max);

#endif
