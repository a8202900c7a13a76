/*
 * keyhole reload --ready-file FILE [--pid PID] [--timeout-ms MS]
 *
 * For scripts and systemd's ExecReload=: ask the bridge that wrote FILE
 * to reload (SIGHUP), wait for the outcome, say it, and exit 0 (the new
 * configuration serves) or 1 (refused: the old one serves on; or no
 * answer).  How it learns the outcome: the bridge rewrites its ready file
 * (atomically, safefile.c) after every attempt, with "reloads" (attempts
 * finished), "reloadStartedUs" (when the attempt began, CLOCK_MONOTONIC
 * microseconds), "reloadOk" and "reloadError" (reload.c).  The first
 * attempt that began after our signal is ours: a SIGHUP arriving during an
 * attempt makes the bridge run another one after it, which reads the
 * files again.
 *
 * The ready file is the operator's (keyhole wrote it); it is read with a
 * size bound and its few members found by name, without a JSON library
 * (the parent binary links none: SECURITY.md I2).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"
#include "util.h"

#define RELOAD_CMD_FILE_MAX 8192	/* bytes: ready_file.c writes < 8 KiB */
#define RELOAD_CMD_POLL_MS  20
#define RELOAD_CMD_TIMEOUT_MS 30000u	/* default --timeout-ms */

struct reload_seen {
	long long pid, reloads, started_us, generation;
	int ok;				/* -1 absent */
	char error[512];
};

static void
reload_cmd_usage(FILE *f)
{
	fprintf(f,
"usage: keyhole reload --ready-file FILE [--pid PID] [--timeout-ms MS]\n"
"Asks the keyhole serve that wrote FILE (its --ready-file) to reload, as\n"
"SIGHUP does: the policy, --var-file, the credential and token files are\n"
"read again; a new child compiles the new policy; nothing changes unless\n"
"it is accepted.  Waits for the outcome (at most MS, default %u ms).\n"
"--pid PID: refuse unless FILE names that process (systemd: $MAINPID).\n"
"Exit status: 0 the new configuration serves; 1 it was refused (the\n"
"reason is printed; the old configuration serves on) or no outcome came;\n"
"2 usage.\n", RELOAD_CMD_TIMEOUT_MS);
}

static int64_t
reload_cmd_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The value after "key": in s, or NULL. */
static const char *
reload_cmd_find(const char *s, const char *key)
{
	char pat[64];
	const char *v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	v = strstr(s, pat);
	return v != NULL ? v + strlen(pat) : NULL;
}

static long long
reload_cmd_int(const char *s, const char *key)
{
	const char *v = reload_cmd_find(s, key);
	char *end;
	long long n;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	return errno != 0 ? -1 : n;
}

/* A JSON string keyhole wrote (json_out.c): \" \\ \n \t \uXXXX. */
static void
reload_cmd_str(const char *s, const char *key, char *out, size_t cap)
{
	const char *v = reload_cmd_find(s, key);
	size_t n = 0;

	out[0] = '\0';
	if (v == NULL || *v++ != '"')
		return;
	while (*v != '\0' && *v != '"' && n + 1 < cap) {
		char ch = *v++;
		if (ch == '\\' && *v != '\0') {
			ch = *v++;
			if (ch == 'n' || ch == 't' || ch == 'r')
				ch = ' ';
			else if (ch == 'u') {
				for (int i = 0; i < 4 && *v != '\0'; i++)
					v++;
				ch = '?';
			}
		}
		out[n++] = ch;
	}
	out[n] = '\0';
}

static int
reload_cmd_read(const char *path, struct reload_seen *r)
{
	char buf[RELOAD_CMD_FILE_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;
	const char *ok;

	if (fd < 0)
		return -1;
	n = util_read_upto(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return -1;
	buf[n] = '\0';
	r->pid = reload_cmd_int(buf, "pid");
	r->reloads = reload_cmd_int(buf, "reloads");
	r->started_us = reload_cmd_int(buf, "reloadStartedUs");
	r->generation = reload_cmd_int(buf, "generation");
	ok = reload_cmd_find(buf, "reloadOk");
	r->ok = ok == NULL ? -1 : strncmp(ok, "true", 4) == 0;
	reload_cmd_str(buf, "reloadError", r->error, sizeof(r->error));
	return r->pid > 1 && r->reloads >= 0 ? 0 : -1;
}

/* The process is a keyhole (not a pid reused since the file was written
 * by something else). */
static bool
reload_cmd_is_keyhole(long long pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%lld/comm", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = util_read_upto(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "keyhole") == 0;
}

int
reload_cmd_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ready-file", required_argument, NULL, 'f' },
		{ "pid", required_argument, NULL, 'p' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	uint64_t want_pid = 0, timeout = RELOAD_CMD_TIMEOUT_MS;
	struct reload_seen before, now;
	int64_t t0, deadline;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'p':
			if (util_parse_u64(optarg, 2, 0x7fffffff, &want_pid) < 0) {
				fprintf(stderr, "keyhole reload: --pid '%s' is not "
				    "a process id\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (util_parse_u64(optarg, 1, KH_TIMEOUT_MAX_MS,
			    &timeout) < 0) {
				fprintf(stderr, "keyhole reload: --timeout-ms '%s' "
				    "is not a number in [1, %u]\n", optarg,
				    KH_TIMEOUT_MAX_MS);
				return 2;
			}
			break;
		case 'h': reload_cmd_usage(stdout); return 0;
		default: reload_cmd_usage(stderr); return 2;
		}
	}
	if (file == NULL || optind != argc) {
		reload_cmd_usage(stderr);
		return 2;
	}
	if (reload_cmd_read(file, &before) < 0) {
		fprintf(stderr, "keyhole reload: %s is not the ready file of a "
		    "running keyhole serve (unreadable, or without \"pid\" and "
		    "\"reloads\")\n", file);
		return 1;
	}
	if (want_pid != 0 && (uint64_t)before.pid != want_pid) {
		fprintf(stderr, "keyhole reload: %s names pid %lld, not %llu "
		    "(a stale ready file?)\n", file, before.pid,
		    (unsigned long long)want_pid);
		return 1;
	}
	if (!reload_cmd_is_keyhole(before.pid)) {
		fprintf(stderr, "keyhole reload: pid %lld (from %s) is not a "
		    "running keyhole\n", before.pid, file);
		return 1;
	}
	t0 = reload_cmd_mono_us();
	if (kill((pid_t)before.pid, SIGHUP) < 0) {
		fprintf(stderr, "keyhole reload: cannot signal pid %lld: %s\n",
		    before.pid, strerror(errno));
		return 1;
	}
	deadline = t0 + (int64_t)timeout * 1000;
	for (;;) {
		struct timespec ts = { 0, RELOAD_CMD_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
		if (reload_cmd_read(file, &now) == 0 && now.pid == before.pid &&
		    now.reloads > before.reloads && now.started_us >= t0 &&
		    now.ok >= 0)
			break;
		if (kill((pid_t)before.pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "keyhole reload: pid %lld exited\n",
			    before.pid);
			return 1;
		}
		if (reload_cmd_mono_us() >= deadline) {
			fprintf(stderr, "keyhole reload: no outcome within %llu "
			    "ms (see keyhole's log)\n",
			    (unsigned long long)timeout);
			return 1;
		}
	}
	if (now.ok) {
		printf("keyhole: reloaded: generation %lld serves\n",
		    now.generation);
		return 0;
	}
	fprintf(stderr, "keyhole reload: refused: %s (generation %lld serves "
	    "on, unchanged)\n", now.error, now.generation);
	return 1;
}
