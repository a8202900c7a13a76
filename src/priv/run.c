/*
 * keyhole run [serve options] -- CMD [ARGS...]
 *
 * Starts the bridge (`keyhole serve`, in its own process group so a
 * terminal's ^C reaches CMD, not the bridge), waits until it serves, runs
 * CMD with PAPERCLIP_API_URL (the bridge URL) and PAPERCLIP_API_KEY (the
 * bridge token, never the credential) added to its environment, forwards
 * SIGINT/SIGTERM/SIGHUP to CMD, drains the bridge when CMD exits, and exits
 * with CMD's status (128+N when CMD was killed by signal N).
 *
 * This process never reads the credential.  If it came in the environment
 * ($KEYHOLE_CREDENTIAL), only the bridge gets it: it is wiped here right
 * after the bridge starts and removed from CMD's environment.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kh_limits.h"
#include "priv.h"

#define RUN_READY_WAIT_MS 15000

struct run {
	pid_t serve;
	pid_t cmd;
	char tmpdir[64];
	char ready[PATH_MAX];
	char token[2 * 32 + 1];
	char base_url[256];
	bool own_token;
};

static void __attribute__((format(printf, 1, 2)))
run_say(const char *fmt, ...)
{
	va_list ap;
	char line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "keyhole run: %s\n", line);
}

static void
run_cleanup(struct run *r)
{
	if (r->tmpdir[0] != '\0') {
		unlink(r->ready);
		rmdir(r->tmpdir);
	}
}

static void
run_wipe_env(const char *name)
{
	char *v = getenv(name);

	if (v != NULL) {
		explicit_bzero(v, strlen(v));
		unsetenv(name);
	}
}

static int
run_make_token(struct run *r)
{
	uint8_t raw[32];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++) {
		r->token[2 * i] = hex[raw[i] >> 4];
		r->token[2 * i + 1] = hex[raw[i] & 15];
	}
	r->token[2 * sizeof(raw)] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* The token CMD gets: the configured one (file or environment), or a
 * fresh random one handed to the bridge in its environment. */
static int
run_token(struct run *r, const struct kh_config *cfg)
{
	const char *env = getenv("PAPERCLIP_BRIDGE_TOKEN");

	if (cfg->token_file != NULL) {
		FILE *f = fopen(cfg->token_file, "re");
		size_t n;
		if (f == NULL) {
			run_say("cannot read --token-file %s: %s",
			    cfg->token_file, strerror(errno));
			return -1;
		}
		n = fread(r->token, 1, sizeof(r->token) - 1, f);
		fclose(f);
		r->token[n] = '\0';
		r->token[strcspn(r->token, "\r\n")] = '\0';
		return 0;
	}
	if (env != NULL && *env != '\0') {
		if (strlen(env) >= sizeof(r->token)) {
			run_say("$PAPERCLIP_BRIDGE_TOKEN is longer than %zu bytes",
			    sizeof(r->token) - 1);
			return -1;
		}
		strcpy(r->token, env);
		return 0;
	}
	r->own_token = true;
	return run_make_token(r);
}

static pid_t
run_start_bridge(struct run *r, int nargs, char **args, bool add_ready)
{
	char **argv = calloc((size_t)nargs + 5, sizeof(char *));
	char self[PATH_MAX];
	int k = 0;
	pid_t pid;
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (argv == NULL || sl <= 0) {
		free(argv);
		return -1;
	}
	self[sl] = '\0';
	argv[k++] = "keyhole";
	argv[k++] = "serve";
	for (int i = 0; i < nargs; i++)
		argv[k++] = args[i];
	if (add_ready) {
		argv[k++] = "--ready-file";
		argv[k++] = r->ready;
	}
	argv[k] = NULL;
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);	/* a terminal's ^C is for CMD, not the bridge */
		if (r->own_token)
			setenv("PAPERCLIP_BRIDGE_TOKEN", r->token, 1);
		execv(self, argv);	/* by path, so ps shows "keyhole" */
		_exit(127);
	}
	free(argv);
	return pid;
}

/* Wait for the ready file; read baseUrl from it (keyhole's own format). */
static int
run_wait_ready(struct run *r)
{
	for (int waited = 0; waited < RUN_READY_WAIT_MS; waited += 20) {
		int st;
		char buf[1024];
		FILE *f;

		if (waitpid(r->serve, &st, WNOHANG) == r->serve) {
			run_say("the bridge exited before serving (status %d)",
			    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			r->serve = -1;
			return -1;
		}
		if ((f = fopen(r->ready, "re")) != NULL) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			buf[n] = '\0';
			const char *u = strstr(buf, "\"baseUrl\":\"");
			if (u != NULL) {
				u += strlen("\"baseUrl\":\"");
				size_t ul = strcspn(u, "\"");
				if (ul > 0 && ul < sizeof(r->base_url)) {
					memcpy(r->base_url, u, ul);
					r->base_url[ul] = '\0';
					return 0;
				}
			}
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	run_say("the bridge did not become ready within %d ms",
	    RUN_READY_WAIT_MS);
	return -1;
}

static pid_t
run_start_cmd(struct run *r, char **cmd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* CMD gets the bridge URL and token, nothing of keyhole's own. */
	run_wipe_env("KEYHOLE_CREDENTIAL");
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("PAPERCLIP_BRIDGE_TOKEN");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");	/* systemd's watchdog is keyhole's */
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	setenv("PAPERCLIP_API_URL", r->base_url, 1);
	setenv("PAPERCLIP_API_KEY", r->token, 1);
	syscall(SYS_close_range, 3U, ~0U, 0);
	execvp(cmd[0], cmd);
	fprintf(stderr, "keyhole run: cannot run %s: %s\n", cmd[0],
	    strerror(errno));
	_exit(127);
}

/* SIGTERM the bridge and wait for its drain; SIGKILL past the bound. */
static void
run_stop_bridge(struct run *r, uint32_t drain_ms)
{
	int st;

	if (r->serve <= 0)
		return;
	kill(r->serve, SIGTERM);
	for (uint32_t waited = 0; waited < drain_ms + 5000; waited += 20) {
		if (waitpid(r->serve, &st, WNOHANG) == r->serve) {
			r->serve = -1;
			return;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	run_say("the bridge did not stop in time; killing it");
	kill(r->serve, SIGKILL);
	waitpid(r->serve, &st, 0);
	r->serve = -1;
}

static int
run_status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* Forward signals to CMD until it exits; returns its exit code. */
static int
run_supervise(struct run *r, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), st;
		pid_t pid;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(r->cmd, sig);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid == r->cmd)
				return run_status_code(st);
			if (pid == r->serve) {
				r->serve = -1;
				run_say("the bridge exited unexpectedly (status "
				    "%d); stopping the command",
				    run_status_code(st));
				kill(r->cmd, SIGTERM);
				waitpid(r->cmd, &st, 0);
				return 1;
			}
		}
	}
}

int
run_main(int argc, char **argv)
{
	struct run r;
	struct kh_config cfg;
	sigset_t set;
	int dd = -1, code;

	memset(&r, 0, sizeof(r));
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dd = i;
			break;
		}
	if (dd < 0 || dd == argc - 1) {
		fprintf(stderr, "usage: keyhole run [serve options] -- CMD "
		    "[ARGS...]\n(see keyhole --help)\n");
		return 2;
	}
	/* Check the serve options now: a typo fails before anything runs. */
	argv[dd] = NULL;
	config_parse_serve(dd, argv, &cfg);
	argv[dd] = "--";
	if (run_token(&r, &cfg) < 0)
		return 1;
	if (cfg.ready_file != NULL) {
		snprintf(r.ready, sizeof(r.ready), "%s", cfg.ready_file);
		unlink(r.ready);
	} else {
		strcpy(r.tmpdir, "/tmp/keyhole-run-XXXXXX");
		if (mkdtemp(r.tmpdir) == NULL) {
			run_say("mkdtemp: %s", strerror(errno));
			return 1;
		}
		snprintf(r.ready, sizeof(r.ready), "%s/ready.json", r.tmpdir);
	}

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);

	r.serve = run_start_bridge(&r, dd - 1, argv + 1, cfg.ready_file == NULL);
	run_wipe_env("KEYHOLE_CREDENTIAL");
	if (r.serve < 0 || run_wait_ready(&r) < 0) {
		run_stop_bridge(&r, cfg.drain_ms);
		run_cleanup(&r);
		return 1;
	}
	r.cmd = run_start_cmd(&r, argv + dd + 1);
	if (r.cmd < 0) {
		run_say("fork: %s", strerror(errno));
		run_stop_bridge(&r, cfg.drain_ms);
		run_cleanup(&r);
		return 1;
	}
	code = run_supervise(&r, &set);
	run_stop_bridge(&r, cfg.drain_ms);
	run_cleanup(&r);
	explicit_bzero(r.token, sizeof(r.token));
	return code;
}
