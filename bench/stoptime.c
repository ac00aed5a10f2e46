/*
 * stoptime: times a stop command of a supervisor, for the stop-latency
 * benchmark: how long the command takes to return, and how long until the
 * service it stops is dead.
 *
 * usage: stoptime PID TIMEOUT_MS -- COMMAND [ARG ...]
 *
 * Starts COMMAND (found in PATH) and, until it has returned and process
 * PID (the service, not a child of stoptime) is dead or a zombie, polls
 * both every 100 us.  Times are CLOCK_MONOTONIC from just before the fork
 * of COMMAND.  Prints "RETURNED_US DEAD_US STATUS": microseconds until
 * COMMAND was reaped and until PID was seen dead (-1 if not within
 * TIMEOUT_MS), and COMMAND's exit status (128+N if killed by signal N).
 * COMMAND's stdout goes to /dev/null.  Handles no signals.  Exit status:
 * 0, 1 if COMMAND failed or PID did not die in time, 2 on usage.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Returns the CLOCK_MONOTONIC time in microseconds. */
static double
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Returns 1 if process pid is gone or a zombie, else 0. */
static int
proc_dead(long pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* The state follows the last ')' of the command name. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 1;
	return p[2] == 'Z' || p[2] == 'X';
}

int
main(int argc, char *argv[])
{
	struct timespec tick = { 0, 100000 };
	double start, returned = -1, dead = -1, limit;
	long pid;
	pid_t child;
	int status = 0, code = -1, nullfd;

	if (argc < 5 || strcmp(argv[3], "--") != 0 ||
	    (pid = strtol(argv[1], NULL, 10)) <= 0)
		errx(2, "usage: stoptime PID TIMEOUT_MS -- COMMAND [ARG ...]");
	limit = strtod(argv[2], NULL) * 1e3;
	if ((nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		err(1, "/dev/null");

	start = now_usec();
	if ((child = fork()) == -1)
		err(1, "fork");
	if (child == 0) {
		dup2(nullfd, 1);
		execvp(argv[4], argv + 4);
		(void)!write(2, "stoptime: exec failed\n", 22);
		_exit(127);
	}
	while (returned < 0 || dead < 0) {
		if (returned < 0 && waitpid(child, &status, WNOHANG) == child) {
			returned = now_usec() - start;
			code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
			    WEXITSTATUS(status);
		}
		if (dead < 0 && proc_dead(pid))
			dead = now_usec() - start;
		if (now_usec() - start > limit)
			break;
		nanosleep(&tick, NULL);
	}
	if (returned < 0) {
		/* Give up on the command, but never leave it behind. */
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	printf("%.0f %.0f %d\n", returned, dead, code);
	return returned < 0 || dead < 0 || code != 0;
}
