/*
 * keyhole-net confinement, step 5b (sandbox.c): Landlock for the queue
 * transport.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "log.h"
#include "net.h"
#include "sandbox.h"
#include "sbx.h"

/*
 * Landlock (queue transport): every file-system right the kernel knows is
 * handled, and only these are granted, only beneath the three queue
 * directories: read and list (request files), create and write regular
 * files (responses), remove (claims, stale tmp files) and REFER (the
 * rename from requests/ to processing/).  No exec, no mkdir, no symlink,
 * FIFO or device creation, nothing anywhere else; TCP bind/connect are
 * handled and granted to nobody.
 *
 * ABI 2 at least: ABI 1 cannot grant REFER, so it refuses every rename
 * between directories, the claim included.  Without it (older kernel,
 * Landlock not in lsm=), a chrooted child (root) is still confined by the
 * chroot; a child that is not chrooted is not confined at all — seccomp
 * lets openat(13, "../../x", O_NOFOLLOW) through — so it exits.
 */
/* The ruleset attribute as of Landlock ABI 6; older kernels are given the
 * prefix they know (Debian 12's headers stop at ABI 2). */
struct sandbox_ll_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;	/* ABI 4 */
	uint64_t scoped;		/* ABI 6 */
};
#define SANDBOX_LL_FS_TRUNCATE   (1ULL << 14)	/* ABI 3 */
#define SANDBOX_LL_FS_IOCTL_DEV  (1ULL << 15)	/* ABI 5 */
#define SANDBOX_LL_NET_BIND_TCP  (1ULL << 0)	/* ABI 4 */
#define SANDBOX_LL_NET_CONNECT_TCP (1ULL << 1)
#define SANDBOX_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)	/* ABI 6 */
#define SANDBOX_LL_SCOPE_SIGNAL  (1ULL << 1)

void
sandbox_landlock(const struct child_config *cfg)
{
	static const int dirs[] = { KH_CHILD_FD_QREQ, KH_CHILD_FD_QPROC,
	    KH_CHILD_FD_QRESP };
	struct sandbox_ll_attr attr;
	size_t attr_size = sizeof(uint64_t);
	struct landlock_path_beneath_attr pb;
	long abi = sbx_landlock_abi();
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */
	int fd;

	if (abi < KH_LANDLOCK_ABI_MIN) {
		if (!cfg->queue_chroot) {
			link_fatal("queue transport: no chroot (not root) and "
			    "no Landlock ABI %d on this kernel (found %ld): "
			    "nothing would keep this process inside the queue "
			    "directory; refusing to run", KH_LANDLOCK_ABI_MIN,
			    abi);
		}
		log_warn("Landlock ABI %d unavailable (found %ld): the queue "
		    "directory is guarded by the chroot into it and seccomp",
		    KH_LANDLOCK_ABI_MIN, abi);
		return;
	}
	memset(&attr, 0, sizeof(attr));
	all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= SANDBOX_LL_FS_TRUNCATE;
	if (abi >= 5)
		all |= SANDBOX_LL_FS_IOCTL_DEV;
	attr.handled_access_fs = all;
	if (abi >= 4) {
		attr.handled_access_net = SANDBOX_LL_NET_BIND_TCP |
		    SANDBOX_LL_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= 6) {
		/* No signals to processes outside, no abstract Unix sockets. */
		attr.scoped = SANDBOX_LL_SCOPE_ABSTRACT_UNIX |
		    SANDBOX_LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (fd < 0)
		sandbox_fail("landlock_create_ruleset");
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = (LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER) & all;
	for (size_t i = 0; i < 3; i++) {
		pb.parent_fd = dirs[i];
		if (syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH,
		    &pb, 0) < 0)
			sandbox_fail("landlock_add_rule");
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0)
		sandbox_fail("landlock_restrict_self");
	close(fd);
}
