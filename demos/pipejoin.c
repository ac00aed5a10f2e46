/*
 * pipejoin: joins two programs with a pipe by hand, as a shell does for
 * "cmd1 | cmd2", for scripts/demo-pipes.
 *
 * usage: pipejoin [-l] cmd1 [arg ...] '|' cmd2 [arg ...]
 *
 * pipe(2) makes the pipe; each of two fork(2)ed children dup2(2)s its end
 * onto its standard output (cmd1) or input (cmd2), closes both original
 * pipe fds and execvp(3)s its program; the parent closes both ends too
 * and waits for the two children, reporting how each ended on standard
 * error.  The reader sees end of file only once every copy of the write
 * end is closed.  With -l the parent "forgets" to close its copy of the
 * write end, as a leaking program does, and cmd2 waits for end of file
 * for ever, so pipejoin never returns.
 *
 * Reacts to no signal of its own; the children start with the dispositions
 * pipejoin was started with.
 */
#include <sys/wait.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints the usage line and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: pipejoin [-l] cmd1 [arg ...] '|' cmd2 [arg ...]\n",
	    stderr);
	exit(2);
}

/* Forks a child that runs argv with fd `from` moved onto fd `to`. */
static pid_t
start(char **argv, const int pfd[2], int from, int to)
{
	static const char msg[] = "pipejoin: exec failed\n";
	pid_t pid;

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid != 0)
		return pid;
	/* Child: only async-signal-safe calls from here to exec. */
	if (dup2(from, to) == -1)
		_exit(126);
	close(pfd[0]);
	close(pfd[1]);
	execvp(argv[0], argv);
	write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

/* Reports how the child pid, running name, ended. */
static void
report(pid_t pid, const char *name)
{
	int status;

	if (waitpid(pid, &status, 0) == -1)
		err(1, "waitpid");
	if (WIFSIGNALED(status))
		fprintf(stderr, "pipejoin: %s (pid %ld): killed by signal %d\n",
		    name, (long)pid, WTERMSIG(status));
	else
		fprintf(stderr, "pipejoin: %s (pid %ld): exit %d\n", name,
		    (long)pid, WEXITSTATUS(status));
}

/* Runs cmd1 | cmd2 and waits for both. */
int
main(int argc, char *argv[])
{
	char **left, **right;
	pid_t p1, p2;
	int ch, i, leak = 0, pfd[2];

	while ((ch = getopt(argc, argv, "+l")) != -1) {
		switch (ch) {
		case 'l':
			leak = 1;
			break;
		default:
			usage();
		}
	}
	left = argv + optind;
	right = NULL;
	for (i = optind; i < argc; i++)
		if (strcmp(argv[i], "|") == 0) {
			argv[i] = NULL;
			right = argv + i + 1;
			break;
		}
	if (right == NULL || left[0] == NULL || right[0] == NULL)
		usage();

	if (pipe(pfd) == -1)
		err(1, "pipe");
	p1 = start(left, pfd, pfd[1], STDOUT_FILENO);
	p2 = start(right, pfd, pfd[0], STDIN_FILENO);
	close(pfd[0]);
	if (leak)
		fprintf(stderr, "pipejoin: keeping my copy of the write end "
		    "open (fd %d): %s will never see end of file\n", pfd[1],
		    right[0]);
	else
		close(pfd[1]);
	report(p1, left[0]);
	report(p2, right[0]);
	return 0;
}
