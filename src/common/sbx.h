/* keyhole seccomp helpers shared by both processes' filters. */
#ifndef KH_SBX_H
#define KH_SBX_H

#include <seccomp.h>

/* Allow a syscall by name.  A name this architecture does not have (e.g.
 * "open" on aarch64) is skipped: there is nothing to allow.  Returns 0 or
 * -1 when libseccomp refuses the rule. */
int sbx_allow(scmp_filter_ctx ctx, const char *name);
/* Allow every name in a NULL-terminated list. */
int sbx_allow_list(scmp_filter_ctx ctx, const char *const *names);
/* Set an explicit action (e.g. KILL in a filter whose default is ERRNO). */
int sbx_rule(scmp_filter_ctx ctx, uint32_t action, const char *name);
/* Architecture check: a filter built with seccomp_init() only matches the
 * native architecture; a syscall made through another ABI (x32, i386 on
 * x86_64) hits the filter's bad-arch action, which we set to KILL. */
scmp_filter_ctx sbx_new(uint32_t def_action);

#endif
