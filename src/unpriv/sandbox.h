/* keyhole-net confinement: see sandbox.c. */
#ifndef KH_SANDBOX_H
#define KH_SANDBOX_H

#include <stdbool.h>

#include "child_config.h"

/* Every step in DESIGN's order; returns only on success, otherwise
 * reports (log_error) and exits. */
void sandbox_confine(const struct child_config *cfg);
/* Install only the seccomp allowlist (used by sandbox_confine and by the
 * death tests).  Returns 0 or -1. */
int sandbox_filter_install(void);
/* The same, plus (queue) the queue transport's fd-relative file calls. */
int sandbox_filter_install_for(bool queue);

/* Internal to the confinement (sandbox.c, sandbox_landlock.c). */
/* Log which step failed and why (errno), then exit 1. */
void sandbox_fail(const char *step) __attribute__((noreturn));
/* Step 5b: Landlock for the queue transport; fatal (exit) when the child
 * is not chrooted and the kernel has no Landlock ABI KH_LANDLOCK_ABI_MIN. */
void sandbox_landlock(const struct child_config *cfg);

#endif
