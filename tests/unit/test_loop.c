/*
 * test_loop.c: unit tests of loop.c: fd watches (readable, writable, end
 * of file, EEXIST/ENOENT), timers at absolute monotonic deadlines firing
 * in order and never early, cancelling (also from a callback), two
 * thousand timers through the heap, child watches that reap exactly
 * their pid with the right status, signal callbacks in normal context
 * (pv_loop_on_signal, a signal sent by another process or by a callback),
 * pv_loop_break, pv_loop_run returning once nothing is left, and an event
 * for an fd deleted (and its number reused) by an earlier callback of the
 * same round not being dispatched.  SIGUSR1 is caught through the loop.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "check.h"

/* Returns now + ms on the monotonic clock. */
static struct timespec
in_ms(long ms)
{
	struct timespec now, d = { ms / 1000, (ms % 1000) * 1000000L };

	pv_now(&now);
	return pv_ts_add(now, d);
}

/* Stops the loop from a timer. */
static void
on_break(struct pv_loop *loop, void *arg)
{
	(*(int *)arg)++;
	pv_loop_break(loop);
}

struct fd_event {
	int		 calls;
	int		 fd;
	unsigned	 events;
	int		 drain;		/* read a byte on PV_READ */
	int		 del;		/* delete the watch when run */
};

/* Records an fd callback. */
static void
on_fd(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct fd_event *e = arg;
	char c;

	e->calls++;
	e->fd = fd;
	e->events = events;
	if (e->drain && (events & PV_READ))
		(void)!read(fd, &c, 1);
	if (e->del)
		pv_loop_del_fd(loop, fd);
}

/* fd watches: readable, writable, end of file, add/mod/del errors. */
static void
test_fd_watch(void)
{
	struct pv_loop *loop;
	struct fd_event r = { 0, -1, 0, 1, 0 }, w = { 0, -1, 0, 0, 1 };
	struct timespec when;
	long long t0;
	int p[2], breaks = 0;

	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	CHECK_EQ(pv_loop_add_fd(loop, p[0], PV_READ, on_fd, &r), 0);
	errno = 0;
	CHECK_EQ(pv_loop_add_fd(loop, p[0], PV_READ, on_fd, &r), -1);
	CHECK_EQ(errno, EEXIST);
	errno = 0;
	CHECK_EQ(pv_loop_add_fd(loop, -1, PV_READ, on_fd, &r), -1);
	CHECK_EQ(errno, EBADF);
	errno = 0;
	CHECK_EQ(pv_loop_mod_fd(loop, p[1], PV_READ), -1);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK_EQ(pv_loop_del_fd(loop, p[1]), -1);
	CHECK_EQ(errno, ENOENT);

	/* The write end is writable at once; its callback deletes it. */
	CHECK_EQ(pv_loop_add_fd(loop, p[1], PV_WRITE, on_fd, &w), 0);
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK_EQ(w.calls, 1);
	CHECK_EQ(w.fd, p[1]);
	CHECK_EQ(w.events, PV_WRITE);
	CHECK_EQ(r.calls, 0);

	/* Readable once a byte is there. */
	REQUIRE(write(p[1], "x", 1) == 1);
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.fd, p[0]);
	CHECK_EQ(r.events, PV_READ);
	CHECK_EQ(w.calls, 1);

	/* A watch changed to PV_WRITE on a read end never fires: a timer
	 * must end the round. */
	CHECK_EQ(pv_loop_mod_fd(loop, p[0], PV_WRITE), 0);
	REQUIRE(write(p[1], "y", 1) == 1);
	/* The clock is read before the deadline is set: never early. */
	t0 = check_now_ms();
	when = in_ms(50);
	CHECK(pv_loop_add_timer(loop, &when, on_break, &breaks) != NULL);
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK(check_now_ms() - t0 >= 50);
	CHECK_EQ(breaks, 1);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(pv_loop_mod_fd(loop, p[0], PV_READ), 0);
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK_EQ(r.calls, 2);

	/* End of file is PV_READ too. */
	close(p[1]);
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK_EQ(r.calls, 3);
	CHECK(r.events & PV_READ);
	CHECK_EQ(pv_loop_del_fd(loop, p[0]), 0);
	/* Nothing left: run returns at once. */
	t0 = check_now_ms();
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK(check_now_ms() - t0 < 500);
	pv_loop_free(loop);
	/* The loop closes no fd of the caller's. */
	CHECK(fcntl(p[0], F_GETFD) != -1);
	close(p[0]);
}

struct timer_log {
	int		 order[4096];
	struct timespec	 due[4096];
	int		 n;
	int		 early;
	struct pv_timer	*victim;	/* cancel this when called */
	struct pv_loop	*loop;
};

struct timer_arg {
	struct timer_log	*log;
	int			 id;
	struct timespec		 when;
	int			 cancelled;
};

/* Records a timer firing and whether it came before its time. */
static void
on_timer(struct pv_loop *loop, void *p)
{
	struct timer_arg *a = p;
	struct timer_log *log = a->log;
	struct timespec now;

	pv_now(&now);
	if (pv_ts_cmp(now, a->when) < 0)
		log->early++;
	if (log->n < 4096) {
		log->due[log->n] = a->when;
		log->order[log->n++] = a->id;
	}
	if (log->victim != NULL) {
		pv_loop_cancel_timer(loop, log->victim);
		log->victim = NULL;
	}
}

/* Timers fire in deadline order, never early; cancelled ones never. */
static void
test_timers(void)
{
	static struct timer_log log;
	static struct timer_arg args[8];
	struct pv_loop *loop;
	struct pv_timer *t[8];
	long long t0, took;
	static const long ms[] = { 60, 20, 40, 20, 0, 80, 100, 30 };
	int i;

	REQUIRE((loop = pv_loop_new()) != NULL);
	memset(&log, 0, sizeof(log));
	t0 = check_now_ms();
	for (i = 0; i < 8; i++) {
		args[i].log = &log;
		args[i].id = i;
		args[i].when = in_ms(ms[i]);
		REQUIRE((t[i] = pv_loop_add_timer(loop, &args[i].when,
		    on_timer, &args[i])) != NULL);
	}
	/* Cancel 5 (80 ms) now. */
	pv_loop_cancel_timer(loop, t[5]);
	pv_loop_cancel_timer(loop, NULL);
	/* Timer 4 is due at once: the first round fires it alone. */
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK_EQ(log.n, 1);
	CHECK_EQ(log.order[0], 4);
	/* The next callback (timer 1 or 3, at 20 ms) cancels 7 (30 ms). */
	log.victim = t[7];
	CHECK_EQ(pv_loop_run(loop), 0);
	took = check_now_ms() - t0;
	/* 4, then 1 and 3 (both 20 ms, either order), 2, 0, 6. */
	CHECK_EQ(log.n, 6);
	CHECK_EQ(log.order[0], 4);
	CHECK((log.order[1] == 1 && log.order[2] == 3) ||
	    (log.order[1] == 3 && log.order[2] == 1));
	CHECK_EQ(log.order[3], 2);
	CHECK_EQ(log.order[4], 0);
	CHECK_EQ(log.order[5], 6);
	CHECK_EQ(log.early, 0);
	CHECK(took >= 100 && took < 1000);
	pv_loop_free(loop);

	/* A deadline in the past fires on the next round. */
	REQUIRE((loop = pv_loop_new()) != NULL);
	memset(&log, 0, sizeof(log));
	args[0].log = &log;
	args[0].id = 9;
	args[0].when = in_ms(-1000);
	REQUIRE(pv_loop_add_timer(loop, &args[0].when, on_timer,
	    &args[0]) != NULL);
	t0 = check_now_ms();
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK(check_now_ms() - t0 < 100);
	CHECK_EQ(log.n, 1);
	CHECK_EQ(log.order[0], 9);
	pv_loop_free(loop);

	/* Freeing a loop with timers still pending frees them. */
	REQUIRE((loop = pv_loop_new()) != NULL);
	args[0].when = in_ms(100000);
	REQUIRE(pv_loop_add_timer(loop, &args[0].when, on_timer,
	    &args[0]) != NULL);
	pv_loop_free(loop);
	pv_loop_free(NULL);
}

/* Two thousand timers: the heap keeps order through cancels. */
static void
test_many_timers(void)
{
	enum { N = 2000 };
	static struct timer_log log;
	static struct timer_arg args[N];
	static struct pv_timer *t[N];
	struct pv_loop *loop;
	struct timespec base, off;
	unsigned seed = 12345;
	int i, expected = 0, out_of_order = 0, cancelled_fired = 0;

	REQUIRE((loop = pv_loop_new()) != NULL);
	memset(&log, 0, sizeof(log));
	pv_now(&base);
	for (i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		off.tv_sec = 0;
		/* 0 to 150 ms, in microseconds, with many equal ones. */
		off.tv_nsec = (long)((seed >> 8) % 150000) / 10 * 10 * 1000;
		args[i].log = &log;
		args[i].id = i;
		args[i].when = pv_ts_add(base, off);
		REQUIRE((t[i] = pv_loop_add_timer(loop, &args[i].when,
		    on_timer, &args[i])) != NULL);
	}
	for (i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 10) % 3 == 0) {
			pv_loop_cancel_timer(loop, t[i]);
			args[i].cancelled = 1;
		} else
			expected++;
	}
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK_EQ(log.n, expected);
	CHECK_EQ(log.early, 0);
	for (i = 1; i < log.n; i++)
		if (pv_ts_cmp(log.due[i - 1], log.due[i]) > 0)
			out_of_order++;
	for (i = 0; i < log.n; i++)
		if (args[log.order[i]].cancelled)
			cancelled_fired++;
	CHECK_EQ(out_of_order, 0);
	CHECK_EQ(cancelled_fired, 0);
	pv_loop_free(loop);
}

struct child_log {
	int	calls;
	pid_t	pid;
	int	status;
};

/* Records a child's exit. */
static void
on_child(struct pv_loop *loop, pid_t pid, int status, void *arg)
{
	struct child_log *c = arg;

	(void)loop;
	c->calls++;
	c->pid = pid;
	c->status = status;
}

/* Forks a child that waits for end of file on fd, then exits code. */
static pid_t
fork_child(int rfd, int wfd, int code)
{
	pid_t pid;
	char c;

	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		if (wfd >= 0)
			close(wfd);
		if (rfd >= 0)
			while (read(rfd, &c, 1) == -1 && errno == EINTR)
				continue;
		if (code < 0)
			raise(-code);
		_exit(code);
	}
	return pid;
}

/* Closes the write end given as arg: the child reading it exits. */
static void
on_release(struct pv_loop *loop, void *arg)
{
	(void)loop;
	close(*(int *)arg);
}

/* Child watches: exactly that pid, the right status, others untouched. */
static void
test_children(void)
{
	struct child_log a = { 0, 0, 0 }, k = { 0, 0, 0 };
	struct pv_loop *loop;
	struct timespec when;
	pid_t pa, pb, pk, r;
	int p[2], status;
	long long t0;

	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	/* a exits 3 when released by a timer; b exits 5 at once. */
	pa = fork_child(p[0], p[1], 3);
	pb = fork_child(-1, -1, 5);
	pk = fork_child(-1, -1, -SIGTERM);
	close(p[0]);
	CHECK_EQ(pv_loop_add_child(loop, pa, on_child, &a), 0);
	CHECK_EQ(pv_loop_add_child(loop, pk, on_child, &k), 0);
	t0 = check_now_ms();
	when = in_ms(30);
	REQUIRE(pv_loop_add_timer(loop, &when, on_release, &p[1]) != NULL);
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK(check_now_ms() - t0 >= 30);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.pid, pa);
	CHECK(WIFEXITED(a.status) && WEXITSTATUS(a.status) == 3);
	CHECK_EQ(k.calls, 1);
	CHECK_EQ(k.pid, pk);
	CHECK(WIFSIGNALED(k.status) && WTERMSIG(k.status) == SIGTERM);
	/* Those two are reaped; b, not watched, is still ours to reap. */
	errno = 0;
	CHECK_EQ(waitpid(pa, &status, WNOHANG), -1);
	CHECK_EQ(errno, ECHILD);
	while ((r = waitpid(pb, &status, 0)) == -1 && errno == EINTR)
		continue;
	CHECK_EQ(r, pb);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
	/* Not a child of ours (or gone): refused. */
	CHECK_EQ(pv_loop_add_child(loop, pb, on_child, &a), -1);
	pv_loop_free(loop);

	/* A watch freed before its child exits: the pidfd is closed. */
	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	pa = fork_child(p[0], p[1], 0);
	close(p[0]);
	CHECK_EQ(pv_loop_add_child(loop, pa, on_child, &a), 0);
	pv_loop_free(loop);
	close(p[1]);
	while ((r = waitpid(pa, &status, 0)) == -1 && errno == EINTR)
		continue;
	CHECK_EQ(r, pa);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

struct sig_log {
	int	calls;
	int	signo;
	int	in_handler;	/* SIGTERM blocked: in a handler */
	int	brk;
};

/* Records a signal callback and where it ran. */
static void
on_signal(struct pv_loop *loop, int signo, void *arg)
{
	struct sig_log *s = arg;
	sigset_t m;

	s->calls++;
	s->signo = signo;
	/* A handler runs with every signal blocked; normal code, not. */
	sigprocmask(SIG_SETMASK, NULL, &m);
	if (sigismember(&m, SIGTERM) || sigismember(&m, SIGINT))
		s->in_handler++;
	if (s->brk)
		pv_loop_break(loop);
}

/* Sends SIGUSR1 to ourselves from a timer callback. */
static void
on_send(struct pv_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	kill(getpid(), SIGUSR1);
}

/* pv_loop_on_signal: callbacks in normal context, break, no loss. */
static void
test_signals(void)
{
	struct sig_log s = { 0, 0, 0, 0 };
	struct pv_loop *loop;
	struct timespec when;
	pid_t pid, parent = getpid();
	long long t0;
	int status, i;

	REQUIRE((loop = pv_loop_new()) != NULL);
	CHECK_EQ(pv_loop_on_signal(loop, SIGUSR1, on_signal, &s), 0);
	errno = 0;
	CHECK_EQ(pv_loop_on_signal(loop, SIGKILL, on_signal, &s), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(pv_loop_on_signal(loop, 0, on_signal, &s), -1);
	CHECK_EQ(errno, EINVAL);

	/* Sent to ourselves while blocked: dispatched by the next round. */
	REQUIRE(kill(getpid(), SIGUSR1) == 0);
	t0 = check_now_ms();
	CHECK_EQ(pv_loop_once(loop), 0);
	CHECK(check_now_ms() - t0 < 1000);
	CHECK_EQ(s.calls, 1);
	CHECK_EQ(s.signo, SIGUSR1);
	CHECK_EQ(s.in_handler, 0);

	/* Sent by another process while we wait; the callback breaks. */
	s.brk = 1;
	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		check_wait_asleep(parent, 2000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	t0 = check_now_ms();
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK(check_now_ms() - t0 < 3000);
	CHECK_EQ(s.calls, 2);
	CHECK_EQ(s.in_handler, 0);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		continue;

	/* Sent from a callback between rounds: not lost. */
	for (i = 0; i < 20; i++) {
		when = in_ms(0);
		REQUIRE(pv_loop_add_timer(loop, &when, on_send, NULL) != NULL);
		t0 = check_now_ms();
		CHECK_EQ(pv_loop_run(loop), 0);
		CHECK(check_now_ms() - t0 < 1000);
	}
	CHECK_EQ(s.calls, 22);
	CHECK_EQ(s.in_handler, 0);
	pv_loop_free(loop);
}

/* pv_loop_break returns after the round; what is left stays. */
static void
test_break(void)
{
	struct pv_loop *loop;
	struct timespec w1 = in_ms(10), w2 = in_ms(40);
	int a = 0, b = 0;

	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE(pv_loop_add_timer(loop, &w1, on_break, &a) != NULL);
	REQUIRE(pv_loop_add_timer(loop, &w2, on_break, &b) != NULL);
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK_EQ(a, 1);
	CHECK_EQ(b, 0);
	/* A new run starts unbroken and fires the rest. */
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK_EQ(a, 1);
	CHECK_EQ(b, 1);
	/* Now nothing is left. */
	CHECK_EQ(pv_loop_run(loop), 0);
	pv_loop_free(loop);
}

struct stale {
	struct pv_loop	*loop;
	int		 a[2], b[2], n[2];
	int		 calls_a, calls_b, calls_new;
	int		 reused;
};

/* The new watch on a reused fd number: must not see the stale event. */
static void
on_new(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct stale *s = arg;

	(void)loop;
	(void)fd;
	(void)events;
	s->calls_new++;
}

/*
 * Whichever of a and b comes first removes the other's watch, closes
 * its read end and watches a new, empty pipe that takes the same number.
 */
static void
on_stale(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct stale *s = arg;
	int *other, old;

	(void)events;
	if (fd == s->a[0]) {
		s->calls_a++;
		other = s->b;
	} else {
		s->calls_b++;
		other = s->a;
	}
	if (s->calls_a + s->calls_b > 1)
		return;
	old = other[0];
	pv_loop_del_fd(loop, old);
	close(old);
	/* The lowest free number is old's: the new read end takes it. */
	if (pipe2(s->n, O_CLOEXEC) == 0) {
		s->reused = s->n[0] == old;
		pv_loop_add_fd(loop, s->n[0], PV_READ, on_new, s);
	}
	other[0] = -1;
}

/* An event of this round for a watch removed in this round is dropped. */
static void
test_stale(void)
{
	struct stale s;

	memset(&s, 0, sizeof(s));
	REQUIRE((s.loop = pv_loop_new()) != NULL);
	REQUIRE(pipe2(s.a, O_CLOEXEC) == 0);
	REQUIRE(pipe2(s.b, O_CLOEXEC) == 0);
	REQUIRE(write(s.a[1], "a", 1) == 1);
	REQUIRE(write(s.b[1], "b", 1) == 1);
	CHECK_EQ(pv_loop_add_fd(s.loop, s.a[0], PV_READ, on_stale, &s), 0);
	CHECK_EQ(pv_loop_add_fd(s.loop, s.b[0], PV_READ, on_stale, &s), 0);
	CHECK_EQ(pv_loop_once(s.loop), 0);
	CHECK_EQ(s.calls_a + s.calls_b, 1);
	CHECK_EQ(s.calls_new, 0);
	CHECK(s.reused);
	/* The new pipe works normally afterwards. */
	REQUIRE(write(s.n[1], "n", 1) == 1);
	CHECK_EQ(pv_loop_once(s.loop), 0);
	CHECK_EQ(s.calls_new, 1);
	/* The survivor's byte is still unread: it fires again. */
	CHECK_EQ(s.calls_a + s.calls_b, 2);
	pv_loop_free(s.loop);
	if (s.a[0] >= 0)
		close(s.a[0]);
	if (s.b[0] >= 0)
		close(s.b[0]);
	close(s.a[1]);
	close(s.b[1]);
	close(s.n[0]);
	close(s.n[1]);
}

int
main(void)
{
	check_watchdog(30);
	REQUIRE(pv_sig_init() == 0);
	test_fd_watch();
	test_timers();
	test_many_timers();
	test_children();
	test_signals();
	test_break();
	test_stale();
	return check_done("test_loop");
}
