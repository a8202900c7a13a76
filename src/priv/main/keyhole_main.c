/*
 * keyhole: command dispatch.
 *
 *   keyhole serve ...         the bridge (src/priv/serve.c)
 *   keyhole run ... -- CMD    the bridge around one command (src/priv/run.c)
 *   keyhole gateway           the sandbox side of queue_v1 (execs
 *                             keyhole-gateway, src/gateway)
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

/* `keyhole gateway`: the sandbox side of queue_v1 is its own small
 * program (no credential, no libcurl); run it from beside this binary. */
static int
main_gateway(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return 1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return 1;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/keyhole-gateway", self);
	argv[0] = "keyhole-gateway";
	(void)argc;
	execv(path, argv);
	fprintf(stderr, "keyhole: cannot run %s\n", path);
	return 1;
}

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
	if (strcmp(argv[1], "run") == 0)
		return run_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "gateway") == 0)
		return main_gateway(argc - 1, argv + 1);
	if (strcmp(argv[1], "check-policy") == 0)
		return main_check_policy(argc - 1, argv + 1);
	fprintf(stderr, "keyhole: unknown command '%s'\n", argv[1]);
	config_usage(stderr);
	return 2;
}
