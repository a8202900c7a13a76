/*
 * no_landlock CMD [ARGS...]: run CMD on what looks like a kernel without
 * Landlock.  A seccomp filter (inherited by CMD and everything it starts,
 * across exec) answers ENOSYS to the three landlock_* calls, exactly what
 * a kernel built without CONFIG_SECURITY_LANDLOCK answers; every other
 * call is allowed.  Tests use it to check that keyhole refuses to serve a
 * queue it could not confine (tests/integration/test_confine.py).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <seccomp.h>

int
main(int argc, char **argv)
{
	static const char *const calls[] = { "landlock_create_ruleset",
	    "landlock_add_rule", "landlock_restrict_self" };
	scmp_filter_ctx ctx;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: no_landlock CMD [ARGS...]\n");
		return 2;
	}
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return 1;
	for (size_t i = 0; i < 3; i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    seccomp_syscall_resolve_name(calls[i]), 0);
	/* Unprivileged callers need no_new_privs to install a filter. */
	if (rc != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    seccomp_load(ctx) != 0) {
		fprintf(stderr, "no_landlock: cannot install the filter\n");
		return 1;
	}
	seccomp_release(ctx);
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
