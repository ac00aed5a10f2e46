/*
 * rundir.c: the runtime directory where the pidfile, the control socket
 * and FIFOs live (DESIGN.md section 7), and the names derived from it.
 *
 * The directory must be ours, a real directory and closed to others, or
 * a user sharing /tmp could plant a socket or FIFO for us to trust.  No
 * signals are involved.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Formats a reason into err. */
static int __attribute__((format(printf, 3, 4)))
rundir_fail(char *err, size_t errsize, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

/* Puts the runtime directory's path in buf. */
int
rundir_path(char *buf, size_t size)
{
	const char *env;
	int n;

	if ((env = getenv("PIPEVISOR_RUNDIR")) != NULL && *env != '\0')
		n = snprintf(buf, size, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env == '/')
		n = snprintf(buf, size, "%s/pipevisor", env);
	else
		n = snprintf(buf, size, "/tmp/pipevisor-%ld", (long)getuid());
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Creates the directory if needed and checks it is safely ours. */
int
rundir_ensure(const char *path, char *err, size_t errsize)
{
	struct stat sb;

	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return rundir_fail(err, errsize, "%s: %s", path,
		    strerror(errno));
	if (lstat(path, &sb) == -1)
		return rundir_fail(err, errsize, "%s: %s", path,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return rundir_fail(err, errsize, "%s: not a directory "
		    "(a link or file is in the way)", path);
	}
	if (sb.st_uid != geteuid()) {
		errno = EPERM;
		return rundir_fail(err, errsize, "%s: owned by uid %ld, not "
		    "by us", path, (long)sb.st_uid);
	}
	if ((sb.st_mode & 077) != 0 && chmod(path, 0700) == -1)
		return rundir_fail(err, errsize, "%s: %s", path,
		    strerror(errno));
	return 0;
}

/* Names the board of the supervisor using rundir (FNV-1a of its path). */
int
rundir_board_name(const char *rundir, char *buf, size_t size)
{
	uint32_t h = 2166136261u;
	const unsigned char *p;
	int n;

	for (p = (const unsigned char *)rundir; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	n = snprintf(buf, size, "up-%08x", h);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Joins the runtime directory and a file name into buf. */
int
rundir_file(const char *rundir, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", rundir, name);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
