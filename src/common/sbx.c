/* keyhole seccomp helpers: see sbx.h. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "sbx.h"

scmp_filter_ctx
sbx_new(uint32_t def_action)
{
	scmp_filter_ctx ctx = seccomp_init(def_action);

	if (ctx == NULL)
		return NULL;
	/* Other ABIs of this CPU are not in the filter: kill on sight. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

int
sbx_rule(scmp_filter_ctx ctx, uint32_t action, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0;
	return seccomp_rule_add(ctx, action, nr, 0) == 0 ? 0 : -1;
}

int
sbx_allow(scmp_filter_ctx ctx, const char *name)
{
	return sbx_rule(ctx, SCMP_ACT_ALLOW, name);
}

int
sbx_allow_list(scmp_filter_ctx ctx, const char *const *names)
{
	for (; *names != NULL; names++)
		if (sbx_allow(ctx, *names) < 0)
			return -1;
	return 0;
}

long
sbx_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : abi;
}

int
sbx_sanitizer_rules(scmp_filter_ctx ctx, const char *const *fail)
{
	static const char *const always[] = { "open", "readlink", NULL };

	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 1,
	    SCMP_A0(SCMP_CMP_EQ, 0)) != 0)
		return -1;
	for (const char *const *n = always; *n != NULL; n++)
		if (sbx_rule(ctx, SCMP_ACT_ERRNO(EACCES), *n) < 0)
			return -1;
	for (const char *const *n = fail; n != NULL && *n != NULL; n++)
		if (sbx_rule(ctx, SCMP_ACT_ERRNO(EACCES), *n) < 0)
			return -1;
	/* openat only from AT_FDCWD (the runtime's /proc/self/maps): the
	 * openat rules on directory fds stay as they are, and openat on any
	 * other fd is still killed. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)AT_FDCWD)) != 0)
		return -1;
	return 0;
}
