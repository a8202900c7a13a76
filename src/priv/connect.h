/*
 * keyhole http2_v1, the parent's side: the command (`--connect CMD`).
 *
 * The parent cannot run CMD itself once it is confined: its seccomp filter
 * kills execve, and that filter would be inherited by CMD (ssh, docker,
 * kubectl) anyway.  So, before the parent loads the credential, it starts
 * a launcher: `keyhole connect-launcher`, fork + exec of keyhole itself
 * (a fresh address space; empty environment; fd 3 a SOCK_SEQPACKET
 * socket to the parent, nothing else).  The launcher never reads a byte
 * of CMD's output: it runs CMD, hands its three pipes to the parent (which
 * gives them to keyhole-net as fds 19-21), reports its exit, stops it.
 *
 * Launcher protocol (each message one datagram; integers big-endian):
 *   parent -> launcher
 *     'S' str cmd, str script_cmd, str upload_src, str upload_dest,
 *         u32 n, n * str cmd_env, u32 m, m * str gw_env
 *        start a session: /bin/sh -c cmd with envp cmd_env ("K=V"); with
 *        script_cmd not empty, CMD's stdin first gets a shell script that
 *        exports gw_env, installs upload_src at upload_dest when given
 *        (hash check, temporary name, verify, rename) and execs
 *        script_cmd; without it gw_env is part of CMD's environment
 *     'K' u32 pid     stop that session: SIGTERM to its process group,
 *                     SIGKILL after KH_CONNECT_KILL_GRACE_MS
 *   launcher -> parent
 *     'P' u32 pid, with SCM_RIGHTS: CMD's stdout (read end), stdin (write
 *         end), stderr (read end)
 *     'E' str why     the session could not be started
 *     'X' u32 pid, u32 wait status   CMD exited
 *   EOF on the socket: the launcher stops every session and exits.
 * (str = u32 length + bytes.)
 */
#ifndef KH_CONNECT_H
#define KH_CONNECT_H

#include <sys/types.h>

struct parent;

/* Start the launcher (before the credential is loaded).  0 or -1. */
int connect_init(struct parent *p);
/* After the event base exists: watch the launcher's reports. */
int connect_attach(struct parent *p);
/* Start a session for the next child: p->connect_fds[0..2] and
 * p->ccfg.h2_nonce set, the gateway given `token`, *session CMD's pid.
 * 0 or -1 (logged). */
struct secret;
int connect_open(struct parent *p, const struct secret *token,
    pid_t *session);
/* No session, for a reload's candidate that only compiles the new
 * policy (src/priv/reload.c): fds 19-21 that never carry a byte, a nonce
 * of the right shape.  0 or -1 (logged). */
int connect_blank(struct parent *p);
/* The child has its copies (or was never started): close ours. */
void connect_close_fds(struct parent *p);
/* The child that held the session is gone: stop its CMD. */
void connect_stop(struct parent *p, pid_t session);

/* `keyhole connect-launcher` (connect_launch.c). */
int connect_launcher_main(void);

#endif
