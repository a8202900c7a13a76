/*
 * keyhole's ready files (ready_file.c): written once a process serves,
 * for whoever waits for it (`keyhole run`, an orchestrator, Paperclip's
 * host side reading keyhole-gateway's ready.json).  One JSON object on
 * one line, written through safefile.c (an unpredictable temporary name,
 * O_CREAT|O_EXCL|O_NOFOLLOW, renamed into place):
 *
 *   TCP    {"pid","host","port","baseUrl","startedAt"}
 *   Unix   {"pid","socketPath","host":"localhost","port":0,
 *           "baseUrl":"http://localhost","startedAt"}
 *   queue  {"pid","queueDir","mode":"queue_v1","startedAt"}
 */
#ifndef KH_READY_FILE_H
#define KH_READY_FILE_H

struct ready_info {
	const char *host;		/* TCP: the numeric address */
	unsigned port;
	const char *socket_path;	/* Unix socket, or NULL */
	const char *queue_dir;		/* the queue (no listener), or NULL */
	const char *started_at;		/* startedAt, or NULL for now */
	const char *extra;		/* more members, written as given
					   (",\"k\":v..."), or NULL: keyhole
					   serve's reload state (reload.c) */
};

/* Write the ready file: `name` in the directory dfd, or the path `name`
 * when dfd is -1.  Returns 0, or -1 with errno set. */
int ready_file_write(int dfd, const char *name, const struct ready_info *r);

#endif
