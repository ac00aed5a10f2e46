/*
 * ignore-term: the service of the stop-latency benchmark, a process that
 * ignores SIGTERM and so is only stopped by its supervisor's SIGKILL.
 *
 * usage: ignore-term [ignored ...]
 *
 * Sets SIGTERM to SIG_IGN, then writes its pid and a newline to ./pid
 * (through a temporary file and rename(2), so a reader never sees half
 * of it), then waits in pause(2) until a signal kills it.  SIGCONT, which
 * supervisors send after the stop signal, does not end the wait.
 * Arguments are ignored (s6-supervise passes the service name).  Exit
 * status: 2 if it cannot write ./pid; otherwise it never exits.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	char buf[32];
	int fd, n;

	/* Ignore first, so that a published pid always ignores SIGTERM. */
	signal(SIGTERM, SIG_IGN);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if ((fd = open("pid.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1 || write(fd, buf, n) != n || close(fd) == -1 ||
	    rename("pid.tmp", "pid") == -1)
		return 2;
	for (;;)
		pause();
}
