/*
 * loop.c: the event loop: fd watches, monotonic timers, child exits and
 * signals, dispatched from one epoll_pwait per round.
 *
 * Caught signals (sig.c) are blocked except inside epoll_pwait, which
 * unblocks them atomically with the wait, so a signal arriving at any
 * moment either interrupts the wait or is seen before the next one: no
 * lost wakeup, no self-pipe that can fill.  Each round dispatches signals
 * first, then expired timers, then fd events.  A child is watched through
 * a pidfd and reaped with waitpid on its own pid only, so the loop never
 * takes the status of a child somebody else started.  Timers are absolute
 * CLOCK_MONOTONIC deadlines in a binary heap.
 */
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define LOOP_MAXEVENTS	64

struct loop_watch {
	int		 used;
	uint32_t	 gen;		/* tells a reused fd from a stale event */
	unsigned	 events;
	void		(*cb)(struct pv_loop *, int, unsigned, void *);
	void		*arg;
	/* For child watches: the fd is our pidfd. */
	pid_t		 pid;
	void		(*child_cb)(struct pv_loop *, pid_t, int, void *);
};

struct pv_timer {
	struct timespec	 when;
	size_t		 index;		/* place in the heap */
	void		(*cb)(struct pv_loop *, void *);
	void		*arg;
};

struct loop_signal {
	void	(*cb)(struct pv_loop *, int, void *);
	void	*arg;
};

struct pv_loop {
	int			 epfd;
	struct loop_watch	*watches;	/* indexed by fd */
	size_t			 nwatchslots;
	size_t			 nwatches;
	uint32_t		 gen;
	struct pv_timer		**heap;
	size_t			 ntimers, heapcap;
	struct loop_signal	 signals[NSIG];
	size_t			 nsignals;
	int			 broken;
};

/* Returns a new loop. */
struct pv_loop *
pv_loop_new(void)
{
	struct pv_loop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(loop);
		return NULL;
	}
	return loop;
}

/* Frees the loop, closing only the pidfds it opened. */
void
pv_loop_free(struct pv_loop *loop)
{
	size_t fd, i;

	if (loop == NULL)
		return;
	for (fd = 0; fd < loop->nwatchslots; fd++)
		if (loop->watches[fd].used && loop->watches[fd].child_cb != NULL)
			close((int)fd);
	for (i = 0; i < loop->ntimers; i++)
		free(loop->heap[i]);
	free(loop->heap);
	free(loop->watches);
	close(loop->epfd);
	free(loop);
}

/* Translates PV_READ/PV_WRITE to epoll events. */
static uint32_t
loop_epoll_events(unsigned events)
{
	uint32_t e = 0;

	if (events & PV_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & PV_WRITE)
		e |= EPOLLOUT;
	return e;
}

/* Registers fd with epoll and records the watch. */
static int
loop_watch_add(struct pv_loop *loop, int fd, unsigned events,
    struct loop_watch *w)
{
	struct epoll_event ev;
	struct loop_watch *nw;
	size_t n;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)fd >= loop->nwatchslots) {
		n = loop->nwatchslots ? loop->nwatchslots : 64;
		while (n <= (size_t)fd)
			n *= 2;
		nw = reallocarray(loop->watches, n, sizeof(*nw));
		if (nw == NULL)
			return -1;
		memset(nw + loop->nwatchslots, 0,
		    (n - loop->nwatchslots) * sizeof(*nw));
		loop->watches = nw;
		loop->nwatchslots = n;
	}
	if (loop->watches[fd].used) {
		errno = EEXIST;
		return -1;
	}
	w->used = 1;
	w->gen = ++loop->gen;
	w->events = events;
	memset(&ev, 0, sizeof(ev));
	ev.events = loop_epoll_events(events);
	ev.data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	loop->watches[fd] = *w;
	loop->nwatches++;
	return 0;
}

/* Watches fd for events. */
int
pv_loop_add_fd(struct pv_loop *loop, int fd, unsigned events,
    void (*cb)(struct pv_loop *, int, unsigned, void *), void *arg)
{
	struct loop_watch w;

	memset(&w, 0, sizeof(w));
	w.cb = cb;
	w.arg = arg;
	return loop_watch_add(loop, fd, events, &w);
}

/* Changes the events watched on fd. */
int
pv_loop_mod_fd(struct pv_loop *loop, int fd, unsigned events)
{
	struct epoll_event ev;
	struct loop_watch *w;

	if (fd < 0 || (size_t)fd >= loop->nwatchslots ||
	    !loop->watches[fd].used) {
		errno = ENOENT;
		return -1;
	}
	w = &loop->watches[fd];
	memset(&ev, 0, sizeof(ev));
	ev.events = loop_epoll_events(events);
	ev.data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		return -1;
	w->events = events;
	return 0;
}

/* Stops watching fd. */
int
pv_loop_del_fd(struct pv_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nwatchslots ||
	    !loop->watches[fd].used) {
		errno = ENOENT;
		return -1;
	}
	memset(&loop->watches[fd], 0, sizeof(loop->watches[fd]));
	loop->nwatches--;
	/* The fd may already be closed; the watch is gone either way. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	return 0;
}

/* Swaps two heap slots, keeping each timer's index right. */
static void
loop_heap_swap(struct pv_loop *loop, size_t a, size_t b)
{
	struct pv_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->index = a;
	loop->heap[b]->index = b;
}

/* Restores the heap order around slot i. */
static void
loop_heap_fix(struct pv_loop *loop, size_t i)
{
	size_t parent, l, r, m;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (pv_ts_cmp(loop->heap[i]->when, loop->heap[parent]->when) >= 0)
			break;
		loop_heap_swap(loop, i, parent);
		i = parent;
	}
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < loop->ntimers &&
		    pv_ts_cmp(loop->heap[l]->when, loop->heap[m]->when) < 0)
			m = l;
		if (r < loop->ntimers &&
		    pv_ts_cmp(loop->heap[r]->when, loop->heap[m]->when) < 0)
			m = r;
		if (m == i)
			break;
		loop_heap_swap(loop, i, m);
		i = m;
	}
}

/* Adds a timer at an absolute monotonic time. */
struct pv_timer *
pv_loop_add_timer(struct pv_loop *loop, const struct timespec *when,
    void (*cb)(struct pv_loop *, void *), void *arg)
{
	struct pv_timer *t, **nh;
	size_t n;

	if (loop->ntimers == loop->heapcap) {
		n = loop->heapcap ? loop->heapcap * 2 : 16;
		if ((nh = reallocarray(loop->heap, n, sizeof(*nh))) == NULL)
			return NULL;
		loop->heap = nh;
		loop->heapcap = n;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->when = *when;
	t->cb = cb;
	t->arg = arg;
	t->index = loop->ntimers;
	loop->heap[loop->ntimers++] = t;
	loop_heap_fix(loop, t->index);
	return t;
}

/* Removes a timer from the heap and frees it. */
void
pv_loop_cancel_timer(struct pv_loop *loop, struct pv_timer *t)
{
	size_t i;

	if (t == NULL)
		return;
	i = t->index;
	loop->ntimers--;
	if (i != loop->ntimers) {
		loop->heap[i] = loop->heap[loop->ntimers];
		loop->heap[i]->index = i;
		loop_heap_fix(loop, i);
	}
	free(t);
}

/* Watches a child through a pidfd. */
int
pv_loop_add_child(struct pv_loop *loop, pid_t pid,
    void (*cb)(struct pv_loop *, pid_t, int, void *), void *arg)
{
	struct loop_watch w;
	int pidfd;

	if ((pidfd = pidfd_open(pid, 0)) == -1)
		return -1;
	/* pidfd_open gives no CLOEXEC flag; a child must not inherit it. */
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	memset(&w, 0, sizeof(w));
	w.pid = pid;
	w.child_cb = cb;
	w.arg = arg;
	if (loop_watch_add(loop, pidfd, PV_READ, &w) == -1) {
		int saved = errno;

		close(pidfd);
		errno = saved;
		return -1;
	}
	return 0;
}

/* Registers a callback for a caught signal. */
int
pv_loop_on_signal(struct pv_loop *loop, int signo,
    void (*cb)(struct pv_loop *, int, void *), void *arg)
{
	if (signo <= 0 || signo >= NSIG) {
		errno = EINVAL;
		return -1;
	}
	if (pv_sig_catch(signo) == -1)
		return -1;
	if (loop->signals[signo].cb == NULL)
		loop->nsignals++;
	loop->signals[signo].cb = cb;
	loop->signals[signo].arg = arg;
	return 0;
}

/* Runs the callbacks of the signals that arrived. */
static void
loop_dispatch_signals(struct pv_loop *loop)
{
	int s;

	while ((s = pv_sig_take()) != 0)
		if (loop->signals[s].cb != NULL)
			loop->signals[s].cb(loop, s, loop->signals[s].arg);
}

/* Runs the timers whose time has come, earliest first. */
static void
loop_dispatch_timers(struct pv_loop *loop)
{
	struct timespec now;
	struct pv_timer *t;
	void (*cb)(struct pv_loop *, void *);
	void *arg;

	pv_now(&now);
	while (loop->ntimers > 0 &&
	    pv_ts_cmp(loop->heap[0]->when, now) <= 0) {
		t = loop->heap[0];
		cb = t->cb;
		arg = t->arg;
		pv_loop_cancel_timer(loop, t);
		cb(loop, arg);
	}
}

/* Handles one event on fd. */
static void
loop_dispatch_fd(struct pv_loop *loop, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct loop_watch w;
	unsigned events = 0;
	int status;
	pid_t r;

	if ((size_t)fd >= loop->nwatchslots || !loop->watches[fd].used ||
	    loop->watches[fd].gen != gen)
		return;		/* removed by an earlier callback */
	w = loop->watches[fd];
	if (w.child_cb != NULL) {
		do
			r = waitpid(w.pid, &status, WNOHANG);
		while (r == -1 && errno == EINTR);
		if (r == 0)
			return;		/* not exited yet */
		pv_loop_del_fd(loop, fd);
		close(fd);
		if (r == -1)
			status = -1;	/* reaped elsewhere: status unknown */
		w.child_cb(loop, w.pid, status, w.arg);
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		events |= w.events & PV_READ;
	if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		events |= w.events & PV_WRITE;
	if (events == 0)
		events = w.events;
	w.cb(loop, fd, events, w.arg);
}

/* Waits for and dispatches one round of events. */
int
pv_loop_once(struct pv_loop *loop)
{
	struct epoll_event evs[LOOP_MAXEVENTS];
	struct timespec now;
	int n, i, timeout = -1;

	loop_dispatch_signals(loop);
	if (loop->ntimers > 0) {
		pv_now(&now);
		timeout = pv_ts_to_ms_ceil(pv_ts_sub(loop->heap[0]->when, now));
	}
	n = epoll_pwait(loop->epfd, evs, LOOP_MAXEVENTS, timeout,
	    pv_sig_waitmask());
	if (n == -1 && errno != EINTR)
		return -1;
	loop_dispatch_signals(loop);
	loop_dispatch_timers(loop);
	for (i = 0; i < n; i++)
		loop_dispatch_fd(loop, &evs[i]);
	return 0;
}

/* Runs rounds until broken or idle; a break made before the call counts. */
int
pv_loop_run(struct pv_loop *loop)
{
	while (!loop->broken &&
	    (loop->nwatches > 0 || loop->ntimers > 0 || loop->nsignals > 0))
		if (pv_loop_once(loop) == -1)
			return -1;
	loop->broken = 0;
	return 0;
}

/* Makes pv_loop_run return after this round. */
void
pv_loop_break(struct pv_loop *loop)
{
	loop->broken = 1;
}
