/*
 * keyhole: command dispatch.
 *
 *   keyhole serve ...         the bridge (src/priv/serve.c)
 *   keyhole check-policy FILE validate and print a policy.  The policy
 *                             text is parsed only by keyhole-net, so this
 *                             execs `keyhole-net check-policy FILE`.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "priv.h"

#ifdef KH_SANITIZE
/*
 * Sanitizer builds only (cmake -DKH_SANITIZE=ON, for tests).  The parent
 * runs under its own seccomp filter, which kills ptrace (sandbox_priv.c):
 * LeakSanitizer's exit-time check, which stops the world with a ptrace()ing
 * thread, would end every run in SIGSYS.  So no leak check in the running
 * bridge; leaks are the unit tests' and the fuzzers' job, where nothing is
 * confined.  An ASAN_OPTIONS in the environment still overrides this.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static int
main_check_policy(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;

	if (argc != 2 || argv[1][0] == '-') {
		if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)) {
			printf("usage: keyhole check-policy FILE\n"
			    "Compiles FILE and prints it in canonical form; on "
			    "errors prints FILE:LINE: message\nfor each and "
			    "exits 1.  The language: docs/policy.md.\n");
			return 0;
		}
		fprintf(stderr, "usage: keyhole check-policy FILE\n");
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return 1;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/keyhole-net", self);
	char *const nargv[] = { "keyhole-net", "check-policy", argv[1], NULL };
	execv(path, nargv);
	fprintf(stderr, "keyhole: cannot run %s\n", path);
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		config_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		config_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("keyhole %s\n", KH_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check-policy") == 0)
		return main_check_policy(argc - 1, argv + 1);
	fprintf(stderr, "keyhole: unknown command '%s'\n", argv[1]);
	config_usage(stderr);
	return 2;
}
