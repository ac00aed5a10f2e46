/*
 * fifo: named pipes opened and drained, for scripts/demo-fifos.
 *
 * usage: fifo open path
 *        fifo spin [-k] path
 *
 * "open" shows what opening a FIFO without blocking does (fifo(7)): a
 * write-only open with no reader fails with ENXIO, a read-only open
 * succeeds at once, and then a write-only open succeeds too.
 *
 * "spin" opens path for reading, has a client connect, write a line and
 * leave, and then polls the FIFO for 200 ms.  With the last writer gone,
 * poll(2) reports the FIFO readable at once, every time, and each read
 * returns end of file: a server loop spins.  With -k the server opens the
 * FIFO read-write, so a writer always remains and poll sleeps.
 *
 * The FIFO client/server of the tour is the real one, `pipevisor chat
 * --fifo` and `pvchat fifo:DIR`; these two modes show the kernel's side
 * of it, which pipevisor has no command to show.  fifo reacts to no
 * signal.
 */
#include <sys/resource.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"

#define SPIN_MS		200

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: fifo open path\n"
	    "       fifo spin [-k] path\n", stderr);
	exit(2);
}

/* Returns the milliseconds of CPU time this process has used. */
static long
cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Returns the milliseconds elapsed on the monotonic clock since start. */
static long
since_ms(const struct timespec *start)
{
	struct timespec now;

	pv_now(&now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Shows the three non-blocking opens of fifo(7). */
static int
fifo_open(const char *path)
{
	int r, w;

	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) != -1)
		errx(1, "%s: somebody is already reading it", path);
	printf("fifo: open(O_WRONLY|O_NONBLOCK) with no reader: %s (%s)\n",
	    errno == ENXIO ? "ENXIO" : "error", strerror(errno));
	if ((r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	printf("fifo: open(O_RDONLY|O_NONBLOCK) with no writer: fd %d, at "
	    "once\n", r);
	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	printf("fifo: open(O_WRONLY|O_NONBLOCK) now that a reader exists: "
	    "fd %d\n", w);
	close(w);
	close(r);
	return 0;
}

/* Counts poll wakeups on a FIFO whose only writer has left. */
static int
fifo_spin(const char *path, int keep)
{
	struct pollfd pfd;
	struct timespec start;
	char buf[512];
	long cpu0, left, wakeups = 0, eofs = 0;
	ssize_t n;
	int r, w;

	r = open(path, (keep ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_CLOEXEC);
	if (r == -1)
		err(1, "%s", path);
	printf("fifo: server opened %s %s\n", path, keep ?
	    "read-write: it is a writer too" : "read-only");
	/* A client connects, writes one line and leaves. */
	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	if (write(w, "hello\n", 6) != 6)
		err(1, "write");
	close(w);
	printf("fifo: a client wrote \"hello\" and closed its end\n");

	cpu0 = cpu_ms();
	pv_now(&start);
	pfd.fd = r;
	pfd.events = POLLIN;
	while ((left = SPIN_MS - since_ms(&start)) > 0) {
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		wakeups++;
		if ((n = read(r, buf, sizeof(buf))) == 0)
			eofs++;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			err(1, "read");
	}
	printf("fifo: in %d ms poll() woke the server %ld times; %ld reads "
	    "returned end of file; CPU used: %ld ms\n", SPIN_MS, wakeups,
	    eofs, cpu_ms() - cpu0);
	close(r);
	return 0;
}

/* Runs the chosen mode. */
int
main(int argc, char *argv[])
{
	int keep = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	if (strcmp(argv[1], "open") == 0 && argc == 3)
		return fifo_open(argv[2]);
	if (strcmp(argv[1], "spin") == 0) {
		if (argc == 4 && strcmp(argv[2], "-k") == 0)
			keep = 1;
		else if (argc != 3)
			usage();
		return fifo_spin(argv[argc - 1], keep);
	}
	usage();
}
