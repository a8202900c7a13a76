/*
 * keyhole: command dispatch.
 *
 *   keyhole serve ...          the bridge (src/priv/serve.c)
 *   keyhole run ... -- CMD     the bridge around one command (src/priv/run.c)
 *   keyhole reload --ready-file F
 *                              reload a running bridge, wait for the outcome
 *                              (src/priv/reload_cmd.c)
 *   keyhole gateway            the sandbox side of queue_v1 (execs
 *                              keyhole-gateway, src/gateway)
 *   keyhole check-policy FILE [--var K=V]...
 *                              validate and print a policy
 *   keyhole explain FILE METHOD PATH [--var K=V]...
 *                              which rule allows a request, or why not
 *   keyhole audit verify [--pubkey PEMFILE] FILE...
 *                              check an audit log (execs keyhole-audit,
 *                              src/audit: the log is parsed there, never
 *                              here)
 *
 * The policy text is parsed only by keyhole-net, so the last two exec
 * `keyhole-net check-policy|explain ...` (the binary beside this one)
 * with the same arguments.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "connect.h"
#include "kh_limits.h"
#include "log.h"
#include "priv.h"
#include "util.h"

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

/* `keyhole gateway`: the sandbox side of queue_v1 is its own small
 * program (no credential, no libcurl); `keyhole audit`: the audit log's
 * verifier, which parses files anyone who could write them may have
 * forged.  Each runs from beside this binary. */
static int
main_sibling(const char *prog, int argc, char **argv)
{
	char path[PATH_MAX];

	if (util_sibling_path(prog, path, sizeof(path)) < 0)
		return 1;
	argv[0] = (char *)prog;
	(void)argc;
	execv(path, argv);
	log_fatal("cannot run %s", path);
	return 1;
}

static int
main_policy_help(const char *cmd, bool explain)
{
	if (explain)
		printf("usage: keyhole explain FILE METHOD PATH[?QUERY] "
		    "[--var NAME=VALUE]...\n"
		    "Compiles FILE (variables bound with --var; unbound ones "
		    "match nothing) and\nprints which rule allows METHOD PATH, "
		    "what that rule still checks, or why\nthe request is "
		    "denied and which rules came closest.  Exit status: 0 "
		    "allowed,\n1 denied, 2 bad policy or arguments.\n");
	else
		printf("usage: keyhole check-policy FILE [--var NAME=VALUE]...\n"
		    "Compiles FILE and prints it in canonical form.  Every error "
		    "is printed as\nFILE:LINE:COL: message and the exit status "
		    "is 1; warnings (a rule an earlier\nrule shadows, an unused "
		    "declaration) read FILE:LINE:COL: warning: message.\n"
		    "Without --var, {variables} may stay unbound; with --var, "
		    "FILE is compiled\nexactly as `keyhole serve` would.\n");
	printf("The policy language, with an example of every directive: "
	    "docs/policy.md\n(man 5 keyhole.policy).\n");
	(void)cmd;
	return 0;
}

static int
main_exec_net(const char *cmd, int argc, char **argv)
{
	bool explain = strcmp(cmd, "explain") == 0;
	int need = explain ? 4 : 2;
	char path[PATH_MAX];
	char *nargv[64];

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return main_policy_help(cmd, explain);
	if (argc < need || argc > 60 || argv[1][0] == '-') {
		fprintf(stderr, "usage: keyhole %s\n", explain ?
		    "explain FILE METHOD PATH [--var NAME=VALUE]..." :
		    "check-policy FILE [--var NAME=VALUE]...");
		return 2;
	}
	if (util_sibling_path("keyhole-net", path, sizeof(path)) < 0)
		return 1;
	nargv[0] = "keyhole-net";
	for (int i = 0; i < argc; i++)
		nargv[i + 1] = argv[i];
	nargv[argc + 1] = NULL;
	execv(path, nargv);
	log_fatal("cannot run %s", path);
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
	if (strcmp(argv[1], "reload") == 0)
		return reload_cmd_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "connect-launcher") == 0 && argc == 2)
		return connect_launcher_main();
	if (strcmp(argv[1], "gateway") == 0)
		return main_sibling("keyhole-gateway", argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return main_sibling("keyhole-audit", argc - 1, argv + 1);
	if (strcmp(argv[1], "check-policy") == 0 ||
	    strcmp(argv[1], "explain") == 0)
		return main_exec_net(argv[1], argc - 1, argv + 1);
	log_fatal("unknown command '%s'", argv[1]);
	config_usage(stderr);
	return 2;
}
