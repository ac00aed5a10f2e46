/*
 * spawn-handwritten: runs PROG | PROG | ... (N stages) the way a careful
 * programmer writes it by hand: close-on-exec pipes, fork, dup2, execvp,
 * and a waitpid for every stage.  It is the reference the spawn benchmark
 * divides by.
 *
 * usage: spawn-handwritten N PROG
 *
 * The first stage reads this program's stdin and the last writes its
 * stdout.  Handles no signals.  Exit status: the last stage's (128+N if
 * it was killed by signal N), 125 if a pipe or fork failed, 2 on usage;
 * a stage that cannot be executed exits 126 or 127.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	char *args[2];
	pid_t *pids;
	long i, n;
	int in = -1, p[2], status = 0;

	if (argc != 3)
		errx(2, "usage: spawn-handwritten N PROG");
	errno = 0;
	n = strtol(argv[1], NULL, 10);
	if (errno != 0 || n < 1 || n > 4096)
		errx(2, "bad stage count: %s", argv[1]);
	args[0] = argv[2];
	args[1] = NULL;
	if ((pids = calloc(n, sizeof(*pids))) == NULL)
		err(125, NULL);

	for (i = 0; i < n; i++) {
		p[0] = p[1] = -1;
		/* CLOEXEC so that no stage inherits another stage's ends. */
		if (i < n - 1 && pipe2(p, O_CLOEXEC) == -1)
			err(125, "pipe2");
		if ((pids[i] = fork()) == -1)
			err(125, "fork");
		if (pids[i] == 0) {
			/* dup2 clears FD_CLOEXEC on the copies. */
			if ((in != -1 && dup2(in, 0) == -1) ||
			    (p[1] != -1 && dup2(p[1], 1) == -1))
				_exit(126);
			execvp(args[0], args);
			(void)!write(2, "spawn-handwritten: exec failed\n", 31);
			_exit(errno == ENOENT ? 127 : 126);
		}
		if (in != -1)
			close(in);
		if (p[1] != -1)
			close(p[1]);
		in = p[0];
	}

	for (i = 0; i < n; i++)
		while (waitpid(pids[i], &status, 0) == -1)
			if (errno != EINTR)
				err(125, "waitpid");
	free(pids);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
