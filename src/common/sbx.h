/* keyhole sandbox helpers shared by both processes: seccomp filters, and
 * the Landlock probe (the parent checks before it starts a queue child
 * that the child will be able to confine itself). */
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
/* Sanitizer builds only (tests): what the ASan runtime needs from a
 * confined process (keyhole-net's filter says why, src/unpriv/sandbox.c):
 * the query of the signal stack allowed, opens of /proc/self/maps
 * (open, readlink, openat from AT_FDCWD) and the names in `fail` (NULL-
 * terminated, may be NULL) failing with EACCES instead of killing. */
int sbx_sanitizer_rules(scmp_filter_ctx ctx, const char *const *fail);

/* The queue transport's child needs Landlock ABI 2 (REFER: the claim is a
 * rename between directories, which ABI 1 always refuses) when it is not
 * chrooted into the queue, i.e. when keyhole is not root. */
#define KH_LANDLOCK_ABI_MIN 2
/* The Landlock ABI version this kernel offers; 0 without Landlock. */
long sbx_landlock_abi(void);

#endif
