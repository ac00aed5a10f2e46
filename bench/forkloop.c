/*
 * forkloop: the baseline of the restart-latency benchmark, a supervisor
 * reduced to its core: start PROG, wait for it, start it again, COUNT
 * times, with nothing between one exit and the next start.
 *
 * usage: forkloop [-v] COUNT PROG [ARG ...]
 *
 * Each run is fork(2) (vfork(2) with -v), execv(2) of PROG (a path; no
 * PATH search) and waitpid(2).  PROG's exit status is ignored.  Handles
 * no signals.  Exit status: 0, 1 if a fork or wait failed, 2 on usage;
 * a PROG that cannot be executed exits 127 and ends the loop with 1.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Starts argv[0] with fork(2), or vfork(2) if use_vfork; returns its pid. */
static pid_t
spawn(char *const argv[], int use_vfork)
{
	pid_t pid;

	pid = use_vfork ? vfork() : fork();
	if (pid == 0) {
		execv(argv[0], argv);
		(void)!write(2, "forkloop: exec failed\n", 22);
		_exit(127);
	}
	return pid;
}

int
main(int argc, char *argv[])
{
	long count, i;
	pid_t pid;
	int status, use_vfork = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		use_vfork = 1;
		argc--;
		argv++;
	}
	if (argc < 3)
		errx(2, "usage: forkloop [-v] COUNT PROG [ARG ...]");
	errno = 0;
	count = strtol(argv[1], NULL, 10);
	if (errno != 0 || count < 1)
		errx(2, "bad count: %s", argv[1]);

	for (i = 0; i < count; i++) {
		if ((pid = spawn(argv + 2, use_vfork)) == -1)
			err(1, "fork");
		while (waitpid(pid, &status, 0) == -1)
			if (errno != EINTR)
				err(1, "waitpid");
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			errx(1, "%s could not be executed", argv[2]);
	}
	return 0;
}
