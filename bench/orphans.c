/*
 * orphans: the service of the reaping benchmark.  It leaves N orphans to
 * its subreaper (or process 1), all blocked, and on request lets them exit
 * at the same moment.
 *
 * usage: orphans N DIR
 *
 * It forks N/100 children at once, each of which forks 100 grandchildren
 * and exits, and reaps those children itself: the grandchildren, now
 * orphans, are reparented to the nearest subreaper.  (A child per orphan
 * would only double the forks, which take most of the set-up time.)
 * Every grandchild blocks reading a pipe whose only write end orphans
 * holds.  Then orphans writes the number of orphans made, and a newline,
 * to DIR/ready (through a temporary file and rename(2)); a fork that
 * fails (pid or process limit) leaves fewer.  It then opens the FIFO DIR/release,
 * reads one byte and closes the write end of the pipe, so that every
 * orphan reads end of file and exits together, and waits in pause(2)
 * until a signal kills it (under tini or dumb-init, its exit would end
 * the supervisor).  Handles no signals.  Exit status: 1 on a failure
 * before the release, 2 on usage; otherwise it never exits.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PER_CHILD	100	/* grandchildren per child, < 256 */

/* Writes "n\n" to dir/ready through dir/ready.tmp. */
static int
ready_write(const char *dir, long n)
{
	char tmp[PATH_MAX], path[PATH_MAX], buf[32];
	int fd, len;

	snprintf(tmp, sizeof(tmp), "%s/ready.tmp", dir);
	snprintf(path, sizeof(path), "%s/ready", dir);
	len = snprintf(buf, sizeof(buf), "%ld\n", n);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	if (write(fd, buf, len) != len) {
		close(fd);
		return -1;
	}
	if (close(fd) == -1)
		return -1;
	return rename(tmp, path);
}

int
main(int argc, char *argv[])
{
	char path[PATH_MAX], c;
	long n, made = 0, i, kids, k;
	pid_t pid;
	int p[2], status, fd;

	if (argc != 3 || (n = strtol(argv[1], NULL, 10)) < 1)
		errx(2, "usage: orphans N DIR");
	if (pipe2(p, O_CLOEXEC) == -1)
		err(1, "pipe2");

	/* All children at once, so that both CPUs fork. */
	kids = (n + PER_CHILD - 1) / PER_CHILD;
	for (i = 0; i < kids; i++) {
		if ((pid = fork()) == -1)
			break;
		if (pid != 0)
			continue;
		close(p[1]);
		for (k = 0; k < PER_CHILD && i * PER_CHILD + k < n; k++) {
			if ((pid = fork()) == -1)
				break;
			if (pid == 0) {
				/* Blocks until orphans closes p[1]. */
				while (read(p[0], &c, 1) == -1 &&
				    errno == EINTR)
					;
				_exit(0);
			}
		}
		/* The exit status says how many grandchildren it made. */
		_exit((int)k);
	}
	for (;;) {
		if (waitpid(-1, &status, 0) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (WIFEXITED(status))
			made += WEXITSTATUS(status);
	}
	if (made == 0)
		errx(1, "could not fork");
	if (ready_write(argv[2], made) == -1)
		err(1, "%s/ready", argv[2]);

	snprintf(path, sizeof(path), "%s/release", argv[2]);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	while (read(fd, &c, 1) == -1 && errno == EINTR)
		;
	close(fd);
	close(p[1]);
	for (;;)
		pause();
}
