/*
 * alarmsleep: sleep(3) built from an alarm and a wait for a signal, the
 * classic way and the safe way, for scripts/demo-signals.
 *
 * usage: alarmsleep [-r | -s] ms
 *
 * The alarm is setitimer(ITIMER_REAL), alarm(2)'s finer twin: both send
 * SIGALRM when the time is up.  By default a handler sets a flag, the
 * timer is armed and pause(2) waits; that works as long as the process
 * reaches pause before the signal comes.  -r makes the process late on
 * purpose, as a busy machine eventually makes it: it waits until the
 * alarm has fired, then calls pause, which now waits for a signal that
 * has come and gone (a lost wakeup) and never returns.  -s is the fix:
 * SIGALRM is blocked before the timer is armed and sigsuspend(2) unblocks
 * it and waits in one atomic step, so a signal that came early is pending
 * and ends the wait at once.  The same lateness is harmless there.
 *
 * Reacts to SIGALRM only.
 */
#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarm_fired;

/* Records the alarm: the one thing a handler should do. */
static void
on_alarm(int signo)
{
	(void)signo;
	alarm_fired = 1;
}

/* Prints the usage line and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: alarmsleep [-r | -s] ms\n", stderr);
	exit(2);
}

/* Returns the milliseconds on the monotonic clock since start. */
static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Arms a one-shot SIGALRM ms milliseconds from now. */
static void
arm(long ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		err(1, "setitimer");
}

/* Sleeps ms milliseconds the naive way, late on purpose if late is set. */
static void
sleep_naive(long ms, int late, const struct timespec *start)
{
	arm(ms);
	if (late) {
		/* Busy until the alarm has gone off, as if preempted. */
		while (!alarm_fired && elapsed_ms(start) < ms + 1000)
			continue;
		printf("alarmsleep: the alarm fired before pause() was "
		    "reached; pause() now waits for a signal that has "
		    "come and gone\n");
	}
	pause();
}

/* Sleeps ms milliseconds with SIGALRM blocked until sigsuspend. */
static void
sleep_safe(long ms, const struct timespec *start)
{
	sigset_t alrm, saved, pending;

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	if (sigprocmask(SIG_BLOCK, &alrm, &saved) == -1)
		err(1, "sigprocmask");
	arm(ms);
	/* The same lateness: wait until the alarm is pending. */
	do {
		sigpending(&pending);
	} while (!sigismember(&pending, SIGALRM) &&
	    elapsed_ms(start) < ms + 1000);
	printf("alarmsleep: the alarm fired before the wait too, but "
	    "SIGALRM is blocked, so it is pending, not lost\n");
	sigdelset(&saved, SIGALRM);
	/* Unblock and wait in one step: the pending signal ends it now. */
	sigsuspend(&saved);
	sigaddset(&saved, SIGALRM);
	sigprocmask(SIG_SETMASK, &saved, NULL);
}

/* Sleeps the given time and reports how long it took. */
int
main(int argc, char *argv[])
{
	struct sigaction sa;
	struct timespec start;
	const char *errstr;
	long ms;
	int ch, late = 0, safe = 0;

	while ((ch = getopt(argc, argv, "rs")) != -1) {
		switch (ch) {
		case 'r':
			late = 1;
			break;
		case 's':
			safe = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || (late && safe))
		usage();
	ms = strtonum(argv[optind], 1, 60000, &errstr);
	if (errstr != NULL)
		errx(2, "ms %s: %s", argv[optind], errstr);
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) == -1)
		err(1, "sigaction");

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (safe)
		sleep_safe(ms, &start);
	else
		sleep_naive(ms, late, &start);
	printf("alarmsleep: asked for %ld ms, woke after %ld ms\n", ms,
	    elapsed_ms(&start));
	return 0;
}
