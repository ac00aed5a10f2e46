/*
 * test_sig.c: unit tests of sig.c, the one module that installs handlers.
 *
 * pv_sig_init records the start state, ignores SIGPIPE and un-ignores
 * SIGCHLD; pv_sig_catch blocks a signal so that it stays pending until a
 * ppoll under pv_sig_waitmask(), and pv_sig_take then gives it once;
 * pv_sig_window/pv_sig_read: a read on an empty pipe is interrupted by a
 * signal another process sends, a signal already pending (in the kernel
 * or as a flag) ends the window at once, every jump leaves the caught
 * signals blocked again; and a SIGALRM storm every 50 us for about 2 s,
 * while the main code mallocs and formats, keeps every count right
 * (RELIABILITY.md item 5).  How children get their signal state
 * (sig_child_reset) is tested through pipelines in test_pipeline.c.
 */
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "check.h"

/* Returns the current signal mask. */
static sigset_t
mask_now(void)
{
	sigset_t m;

	sigprocmask(SIG_SETMASK, NULL, &m);
	return m;
}

/* Returns 1 if two signal sets hold the same signals. */
static int
mask_equal(const sigset_t *a, const sigset_t *b)
{
	int s;

	for (s = 1; s < NSIG; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

/* Returns 1 if signo is blocked now. */
static int
blocked(int signo)
{
	sigset_t m = mask_now();

	return sigismember(&m, signo) == 1;
}

/* Returns 1 if signo is pending in the kernel (blocked, not delivered). */
static int
kernel_pending(int signo)
{
	sigset_t p;

	sigpending(&p);
	return sigismember(&p, signo) == 1;
}

/* Returns the disposition of signo. */
static void (*disposition(int signo))(int)
{
	struct sigaction sa;

	sigaction(signo, NULL, &sa);
	return sa.sa_handler;
}

/* Waits in ppoll under the wait mask for at most ms; returns errno or 0. */
static int
wait_signal(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	if (ppoll(NULL, 0, &t, pv_sig_waitmask()) == -1)
		return errno;
	return 0;
}

/* pv_sig_init: the state before and after. */
static void
test_init(void)
{
	sigset_t before, after;

	CHECK(pv_sig_waitmask() == NULL);
	/* Inherited: SIGPIPE default, SIGCHLD ignored, SIGHUP ignored. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	before = mask_now();
	CHECK_EQ(pv_sig_init(), 0);
	after = mask_now();
	CHECK(disposition(SIGPIPE) == SIG_IGN);
	CHECK(disposition(SIGCHLD) == SIG_DFL);
	/* What it has no reason to touch stays as it was. */
	CHECK(disposition(SIGHUP) == SIG_IGN);
	CHECK(disposition(SIGTERM) == SIG_DFL);
	/* It unblocks nothing and blocks nothing. */
	CHECK(mask_equal(&before, &after));
	REQUIRE(pv_sig_waitmask() != NULL);
	CHECK(mask_equal(pv_sig_waitmask(), &before));
	/* A second call changes nothing. */
	CHECK_EQ(pv_sig_init(), 0);
	CHECK(disposition(SIGPIPE) == SIG_IGN);
	signal(SIGHUP, SIG_DFL);
	CHECK_EQ(pv_sig_take(), 0);
}

/* pv_sig_catch: refusals, blocking, pending until the wait. */
static void
test_catch(void)
{
	static const int bad[] = { 0, -1, SIGKILL, SIGSTOP, 32, 33, NSIG,
	    NSIG + 1, 1000 };
	long long t0;
	size_t i;
	int got[3], n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK_EQ(pv_sig_catch(bad[i]), -1);
		CHECK_EQ(errno, EINVAL);
	}

	CHECK(!blocked(SIGUSR1));
	CHECK_EQ(pv_sig_catch(SIGUSR1), 0);
	CHECK(blocked(SIGUSR1));
	CHECK(!sigismember(pv_sig_waitmask(), SIGUSR1));
	CHECK(disposition(SIGUSR1) != SIG_DFL &&
	    disposition(SIGUSR1) != SIG_IGN);

	/* Sent while blocked: pending in the kernel, not yet recorded. */
	REQUIRE(kill(getpid(), SIGUSR1) == 0);
	CHECK(kernel_pending(SIGUSR1));
	CHECK_EQ(pv_sig_take(), 0);
	CHECK(kernel_pending(SIGUSR1));
	/* The wait lets it in at once. */
	t0 = check_now_ms();
	CHECK_EQ(wait_signal(2000), EINTR);
	CHECK(check_now_ms() - t0 < 1000);
	CHECK(!kernel_pending(SIGUSR1));
	CHECK(blocked(SIGUSR1));
	/* Taken exactly once. */
	CHECK_EQ(pv_sig_take(), SIGUSR1);
	CHECK_EQ(pv_sig_take(), 0);
	/* With nothing pending the wait times out. */
	CHECK_EQ(wait_signal(20), 0);
	CHECK_EQ(pv_sig_take(), 0);

	/* Two signals: both recorded, taken lowest first, once each. */
	CHECK_EQ(pv_sig_catch(SIGUSR2), 0);
	CHECK(blocked(SIGUSR2));
	REQUIRE(kill(getpid(), SIGUSR2) == 0);
	REQUIRE(kill(getpid(), SIGUSR1) == 0);
	t0 = check_now_ms();
	while ((kernel_pending(SIGUSR1) || kernel_pending(SIGUSR2)) &&
	    check_now_ms() - t0 < 2000)
		CHECK_EQ(wait_signal(500), EINTR);
	for (n = 0; n < 3; n++)
		got[n] = pv_sig_take();
	CHECK_EQ(got[0], SIGUSR1);
	CHECK_EQ(got[1], SIGUSR2);
	CHECK_EQ(got[2], 0);
	/* Catching again is harmless. */
	CHECK_EQ(pv_sig_catch(SIGUSR1), 0);
	CHECK(blocked(SIGUSR1));
}

struct call_args {
	long	 ret;
	int	 err;
	int	 calls;
};

/* A window call that returns what it is told to. */
static long
fixed_call(void *p)
{
	struct call_args *a = p;

	a->calls++;
	errno = a->err;
	return a->ret;
}

/* pv_sig_window passes results and errno through, and restores the mask. */
static void
test_window_plain(void)
{
	struct call_args a = { 42, 0, 0 };
	sigset_t before = mask_now(), after;
	char buf[8];
	int p[2];

	CHECK_EQ(pv_sig_window(fixed_call, &a), 42);
	CHECK_EQ(a.calls, 1);
	a.ret = -1;
	a.err = ENOENT;
	errno = 0;
	CHECK_EQ(pv_sig_window(fixed_call, &a), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(a.calls, 2);
	after = mask_now();
	CHECK(mask_equal(&before, &after));

	/* Data already there: read returns it, no signal involved. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE(write(p[1], "abc", 3) == 3);
	CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	close(p[1]);
	CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	errno = 0;
	CHECK_EQ(pv_sig_read(-1, buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(pv_sig_take(), 0);
	after = mask_now();
	CHECK(mask_equal(&before, &after));
}

/* A signal from another process interrupts a read on an empty pipe. */
static void
test_window_interrupt(void)
{
	sigset_t before = mask_now(), after;
	long long t0;
	pid_t pid, parent = getpid();
	char buf[8];
	ssize_t r;
	int p[2], status, round;

	for (round = 0; round < 5; round++) {
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		REQUIRE((pid = fork()) != -1);
		if (pid == 0) {
			close(p[0]);
			/* Let the parent reach its read first, mostly. */
			check_wait_asleep(parent, 2000);
			check_pause_ms(round * 5);
			kill(parent, SIGUSR1);
			/* Keep the writer open until the parent is done. */
			check_pause_ms(3000);
			_exit(0);
		}
		close(p[1]);
		t0 = check_now_ms();
		errno = 0;
		r = pv_sig_read(p[0], buf, sizeof(buf));
		CHECK_EQ(r, -1);
		CHECK_EQ(errno, EINTR);
		CHECK(check_now_ms() - t0 < 2500);
		CHECK(blocked(SIGUSR1));
		after = mask_now();
		CHECK(mask_equal(&before, &after));
		CHECK_EQ(pv_sig_take(), SIGUSR1);
		CHECK_EQ(pv_sig_take(), 0);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			continue;
		close(p[0]);
	}
}

/* A signal that came before the window ends it at once. */
static void
test_window_pending(void)
{
	sigset_t before = mask_now(), after;
	long long t0;
	char buf[8];
	int p[2];

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);

	/* Pending in the kernel, blocked: delivered as the window opens. */
	REQUIRE(kill(getpid(), SIGUSR2) == 0);
	CHECK(kernel_pending(SIGUSR2));
	t0 = check_now_ms();
	errno = 0;
	CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EINTR);
	CHECK(check_now_ms() - t0 < 1000);
	CHECK(!kernel_pending(SIGUSR2));
	after = mask_now();
	CHECK(mask_equal(&before, &after));
	CHECK_EQ(pv_sig_take(), SIGUSR2);
	CHECK_EQ(pv_sig_take(), 0);

	/* Recorded by an earlier wait and not yet taken: no block either. */
	REQUIRE(kill(getpid(), SIGUSR1) == 0);
	CHECK_EQ(wait_signal(2000), EINTR);
	t0 = check_now_ms();
	errno = 0;
	CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EINTR);
	CHECK(check_now_ms() - t0 < 1000);
	/* Still there, and only once. */
	CHECK_EQ(pv_sig_take(), SIGUSR1);
	CHECK_EQ(pv_sig_take(), 0);
	after = mask_now();
	CHECK(mask_equal(&before, &after));

	/* Both at once: each window ends at once until all are taken. */
	REQUIRE(kill(getpid(), SIGUSR1) == 0);
	REQUIRE(kill(getpid(), SIGUSR2) == 0);
	CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), -1);
	CHECK_EQ(errno, EINTR);
	CHECK(pv_sig_take() != 0);
	if (kernel_pending(SIGUSR1) || kernel_pending(SIGUSR2)) {
		CHECK_EQ(pv_sig_read(p[0], buf, sizeof(buf)), -1);
		CHECK_EQ(errno, EINTR);
	}
	CHECK(pv_sig_take() != 0);
	CHECK_EQ(pv_sig_take(), 0);
	CHECK(!kernel_pending(SIGUSR1) && !kernel_pending(SIGUSR2));
	close(p[0]);
	close(p[1]);
}

/* Sets SIGALRM to fire every usec microseconds (0: stop). */
static void
alarm_every(long usec)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = usec;
	it.it_value.tv_usec = usec;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* The size of allocation i of block b in the storm. */
static size_t
storm_size(long b, int i)
{
	return 16 + (size_t)((b * 31 + i * 97) % 4000);
}

/*
 * A SIGALRM storm while the main code allocates and formats, with
 * windows on an empty pipe in between: every window must end with EINTR
 * and one SIGALRM to take, and the mask must be as before every time.
 */
static void
test_storm(void)
{
	sigset_t before, after;
	long long t0, end;
	long reads = 0, eintr = 0, takes = 0, other = 0, badmask = 0;
	long badtext = 0, blocks = 0;
	char buf[64], *bufs[32], want[64];
	ssize_t r;
	int p[2], i, s;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	CHECK_EQ(pv_sig_catch(SIGALRM), 0);
	CHECK(blocked(SIGALRM));
	before = mask_now();
	alarm_every(50);
	t0 = check_now_ms();
	end = t0 + 2000;
	while (check_now_ms() < end) {
		/* Unsafe work, never interrupted: the signal is blocked. */
		for (i = 0; i < 32; i++) {
			size_t sz = storm_size(blocks, i);

			bufs[i] = malloc(sz);
			if (bufs[i] == NULL)
				continue;
			snprintf(bufs[i], sz, "block %ld item %d size %zu",
			    blocks, i, sz);
		}
		for (i = 0; i < 32; i++) {
			size_t sz = storm_size(blocks, i);

			if (bufs[i] == NULL)
				continue;
			/* Cut where the buffer of sz bytes cut it. */
			snprintf(want, sz < sizeof(want) ? sz : sizeof(want),
			    "block %ld item %d size %zu", blocks, i, sz);
			if (strcmp(bufs[i], want) != 0)
				badtext++;
			free(bufs[i]);
		}
		blocks++;
		/* The window: only a read, jumped out of by the handler. */
		reads++;
		errno = 0;
		r = pv_sig_read(p[0], buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			eintr++;
		else
			other++;
		after = mask_now();
		if (!mask_equal(&before, &after))
			badmask++;
		while ((s = pv_sig_take()) != 0) {
			if (s == SIGALRM)
				takes++;
			else
				other++;
		}
	}
	alarm_every(0);
	/* One last alarm may wait in the kernel; let it in and take it. */
	if (kernel_pending(SIGALRM)) {
		CHECK_EQ(wait_signal(1000), EINTR);
		CHECK_EQ(pv_sig_take(), SIGALRM);
	}
	CHECK_EQ(pv_sig_take(), 0);
	printf("test_sig: storm: %ld windows, %ld blocks of work in %lld ms\n",
	    reads, blocks, check_now_ms() - t0);
	CHECK(reads > 100);
	CHECK_EQ(eintr, reads);
	CHECK_EQ(takes, reads);
	CHECK_EQ(other, 0);
	CHECK_EQ(badmask, 0);
	CHECK_EQ(badtext, 0);
	after = mask_now();
	CHECK(mask_equal(&before, &after));
	CHECK(blocked(SIGALRM));
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	check_watchdog(30);
	test_init();
	test_catch();
	test_window_plain();
	test_window_interrupt();
	test_window_pending();
	test_storm();
	return check_done("test_sig");
}
