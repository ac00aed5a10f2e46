/*
 * check.h: the tiny harness shared by the C unit tests.
 *
 * CHECK(expr) counts a check and, when expr is false, prints file:line and
 * the expression on stderr; CHECK_EQ and CHECK_STREQ also print both
 * values.  check_done() prints a summary and returns the exit status (1 if
 * any check failed).  check_watchdog() bounds a whole test program in
 * time: a detached grandchild kills the test with SIGKILL (after saying so
 * on stderr) if it is still running at the deadline, so a broken signal
 * path shows up as a failure instead of a hang.  Nothing here installs a
 * signal handler.
 */
#ifndef CHECK_H
#define CHECK_H

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int	check_failures;
static int	check_count;

/* Counts a check; reports it when it fails. */
#define CHECK(expr) do {						\
	check_count++;							\
	if (!(expr)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #expr);				\
	}								\
} while (0)

/* Checks two integers for equality and prints both when they differ. */
#define CHECK_EQ(a, b) do {						\
	long long check_a_ = (long long)(a);				\
	long long check_b_ = (long long)(b);				\
	check_count++;							\
	if (check_a_ != check_b_) {					\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s "	\
		    "(%lld != %lld)\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_, check_b_);				\
	}								\
} while (0)

/* Checks two strings (either may be NULL) for equality. */
#define CHECK_STREQ(a, b) do {						\
	const char *check_a_ = (a);					\
	const char *check_b_ = (b);					\
	check_count++;							\
	if (check_a_ == NULL || check_b_ == NULL ?			\
	    check_a_ != check_b_ : strcmp(check_a_, check_b_) != 0) {	\
		check_failures++;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s == %s "	\
		    "(\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b,	\
		    check_a_ ? check_a_ : "(null)",			\
		    check_b_ ? check_b_ : "(null)");			\
	}								\
} while (0)

/* Stops the test at once: a check whose failure makes the rest moot. */
#define REQUIRE(expr) do {						\
	check_count++;							\
	if (!(expr)) {							\
		check_failures++;					\
		fprintf(stderr, "%s:%d: REQUIRE failed: %s (errno %d, "	\
		    "%s); cannot go on\n", __FILE__, __LINE__, #expr,	\
		    errno, strerror(errno));				\
		exit(1);						\
	}								\
} while (0)

/* Returns CLOCK_MONOTONIC in milliseconds. */
static inline long long
check_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds; only to pace a retry loop, never as a condition. */
static inline void
check_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/*
 * Waits until process pid is asleep (state S in /proc/PID/stat), so a
 * signal sent next lands inside its blocking call.  Returns 1, or 0 if it
 * was not asleep before timeout_ms.  A test must not depend on it for
 * correctness: it only makes the interesting interleaving likely.
 */
static inline int
check_wait_asleep(pid_t pid, long timeout_ms)
{
	long long deadline = check_now_ms() + timeout_ms;
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (;;) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return 0;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			/* The state follows the command name's ')'. */
			if ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
			    p[2] == 'S')
				return 1;
		}
		if (check_now_ms() >= deadline)
			return 0;
		check_pause_ms(1);
	}
}

/*
 * Kills the calling process with SIGKILL if it still runs after seconds.
 * The killer is a grandchild (its parent is reaped here), so it is never
 * a child of the test and no waitpid(-1) of the test sees it.  Call it
 * first in main, before any signal state is changed.
 */
static inline void
check_watchdog(unsigned seconds)
{
	pid_t test = getpid(), child;
	long long deadline;
	int fd;

	if ((child = fork()) == -1) {
		perror("check_watchdog: fork");
		exit(1);
	}
	if (child == 0) {
		if (fork() != 0)
			_exit(0);
		/* Hold no pipe of the test open: only stderr is kept. */
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		closefrom(3);
		deadline = check_now_ms() + (long long)seconds * 1000;
		while (kill(test, 0) == 0) {
			if (check_now_ms() >= deadline) {
				fprintf(stderr, "watchdog: test %ld still "
				    "running after %u s: killed\n",
				    (long)test, seconds);
				kill(test, SIGKILL);
				break;
			}
			check_pause_ms(20);
		}
		_exit(0);
	}
	while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
		continue;
}

/* Prints the summary line and returns the exit status for main. */
static inline int
check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count,
	    check_failures);
	fflush(stdout);
	return check_failures == 0 ? 0 : 1;
}

#endif /* CHECK_H */
