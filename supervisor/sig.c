/*
 * sig.c: the one module that installs signal handlers (DESIGN.md section 8).
 *
 * A caught signal is blocked at all times except while the program waits:
 * inside ppoll/epoll_pwait (given pv_sig_waitmask()) or inside the armed
 * window of pv_sig_window.  Its handler only records the signal in a
 * volatile sig_atomic_t flag, and inside the armed window also jumps back
 * to the window's sigsetjmp point, so no signal is lost between a check
 * and a blocking call.  All real work happens in normal context, after the
 * wait returns, through pv_sig_take.
 *
 * It also remembers the dispositions and mask the program was started
 * with, so that sig_child_reset can give children exactly that state (for
 * `run`) or a clean default state (for `up`, `serve`, `chat`), never the
 * state pipevisor set for its own use.  The statics below are the state a
 * handler must reach; nothing else in the library keeps global state.
 */
#include <sys/syscall.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Signals sigaction refuses, or that glibc reserves for itself. */
#define SIG_SETTABLE(s)	((s) != SIGKILL && (s) != SIGSTOP && \
			    ((s) < 32 || (s) >= SIGRTMIN))

static volatile sig_atomic_t sig_pending[NSIG];
static volatile sig_atomic_t sig_any_pending;
static volatile sig_atomic_t sig_armed;
static sigjmp_buf sig_window_env;

static int sig_initialised;
static sigset_t sig_start_mask;		/* as the program was started */
static sigset_t sig_wait_mask;		/* start mask less caught signals */
static unsigned char sig_start_ignored[NSIG];
static unsigned char sig_start_known[NSIG];	/* ignored[] is valid */
static unsigned char sig_changed[NSIG];	/* disposition we set */

/* Records a signal; inside the armed window, jumps back out of it. */
static void
sig_handler(int signo)
{
	int saved_errno = errno;

	sig_pending[signo] = 1;
	sig_any_pending = 1;
	if (sig_armed) {
		sig_armed = 0;
		/* The mask saved by sigsetjmp blocks every caught signal. */
		siglongjmp(sig_window_env, 1);
	}
	errno = saved_errno;
}

/*
 * Learns whether signal s was ignored when the program started, before
 * sig.c first changes it.  Queried lazily: 64 sigaction calls at every
 * start would cost `pipevisor run` more than its own work.
 */
static void
sig_query(int s)
{
	struct sigaction sa;

	if (sig_start_known[s] || !SIG_SETTABLE(s))
		return;
	if (sigaction(s, NULL, &sa) == 0)
		sig_start_ignored[s] = sa.sa_handler == SIG_IGN;
	sig_start_known[s] = 1;
}

/* Records the inherited state and sets the program's own SIGPIPE/SIGCHLD. */
int
pv_sig_init(void)
{
	struct sigaction dfl, ign;

	if (sig_initialised)
		return 0;
	if (sigprocmask(SIG_SETMASK, NULL, &sig_start_mask) == -1)
		return -1;
	sig_query(SIGPIPE);
	sig_query(SIGCHLD);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	ign = dfl;
	ign.sa_handler = SIG_IGN;

	/* A closed reader must give EPIPE, not kill the supervisor. */
	if (!sig_start_ignored[SIGPIPE]) {
		if (sigaction(SIGPIPE, &ign, NULL) == -1)
			return -1;
		sig_changed[SIGPIPE] = 1;
	}
	/* An inherited SIGCHLD ignore would auto-reap: statuses lost. */
	if (sig_start_ignored[SIGCHLD]) {
		if (sigaction(SIGCHLD, &dfl, NULL) == -1)
			return -1;
		sig_changed[SIGCHLD] = 1;
	}
	sig_wait_mask = sig_start_mask;
	sig_initialised = 1;
	return 0;
}

/* Installs the recording handler for signo and blocks it. */
int
pv_sig_catch(int signo)
{
	struct sigaction sa;
	sigset_t one;

	if (signo <= 0 || signo >= NSIG || !SIG_SETTABLE(signo)) {
		errno = EINVAL;
		return -1;
	}
	if (!sig_initialised && pv_sig_init() == -1)
		return -1;
	sig_query(signo);
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	/* No nesting: jumping out of a nested handler is undefined. */
	sigfillset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call must come back with EINTR. */
	sa.sa_flags = 0;
	if (sigaction(signo, &sa, NULL) == -1)
		return -1;
	sig_changed[signo] = 1;
	sigdelset(&sig_wait_mask, signo);
	return 0;
}

/* Returns and forgets the lowest pending caught signal, or 0. */
int
pv_sig_take(void)
{
	int s, found = 0;

	/* Caught signals are blocked here, so the flags cannot change. */
	if (!sig_any_pending)
		return 0;
	sig_any_pending = 0;
	for (s = 1; s < NSIG; s++) {
		if (!sig_pending[s])
			continue;
		if (found == 0) {
			sig_pending[s] = 0;
			found = s;
		} else {
			sig_any_pending = 1;
			break;
		}
	}
	return found;
}

/* Returns the mask to wait under, or NULL before pv_sig_init. */
const sigset_t *
pv_sig_waitmask(void)
{
	return sig_initialised ? &sig_wait_mask : NULL;
}

/* Runs one blocking call with the caught signals deliverable. */
long
pv_sig_window(long (*call)(void *), void *arg)
{
	sigset_t saved;
	long r;

	if (!sig_initialised)
		return call(arg);
	if (sigsetjmp(sig_window_env, 1) != 0) {
		/* A handler jumped here; the mask is restored already. */
		errno = EINTR;
		return -1;
	}
	/* Signals are blocked: one that came before now is seen here. */
	if (sig_any_pending) {
		errno = EINTR;
		return -1;
	}
	sig_armed = 1;
	if (sigprocmask(SIG_SETMASK, &sig_wait_mask, &saved) == -1) {
		sig_armed = 0;
		return -1;
	}
	/*
	 * Only the call runs armed.  XXX: a signal landing after the
	 * syscall returned and before the disarm below discards its
	 * result; callers use the window only where that is harmless
	 * (a line being typed at a prompt, an open that is retried).
	 */
	r = call(arg);
	sig_armed = 0;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return r;
}

struct sig_read_args {
	int	 fd;
	void	*buf;
	size_t	 n;
};

/* The read that pv_sig_read runs in the window. */
static long
sig_read_call(void *p)
{
	struct sig_read_args *a = p;

	return (long)read(a->fd, a->buf, a->n);
}

/* read(2) with the caught signals deliverable and none lost. */
ssize_t
pv_sig_read(int fd, void *buf, size_t n)
{
	struct sig_read_args a = { fd, buf, n };

	return (ssize_t)pv_sig_window(sig_read_call, &a);
}

/* Ends the process by signo; see pipevisor.h. */
void
pv_sig_die(int signo)
{
	struct sigaction sa;
	sigset_t one;

	fflush(NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
	sigemptyset(&one);
	sigaddset(&one, signo);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(signo);
	_exit(128 + signo);
}

/*
 * Sets signals 32 and 33 to their default with the raw system call:
 * glibc's sigaction refuses them (its threads use them), but an ignore
 * inherited on them (GNU make starts its recipes so) survives exec like
 * any other.  Async-signal-safe; for a child about to exec.
 */
static void
sig_reset_reserved(void)
{
	struct {
		void		(*handler)(int);
		unsigned long	 flags;
		void		(*restorer)(void);
		unsigned long	 mask;
	} ksa;
	int s;

	memset(&ksa, 0, sizeof(ksa));
	ksa.handler = SIG_DFL;
	for (s = 32; s < SIGRTMIN; s++)
		syscall(SYS_rt_sigaction, s, &ksa, NULL, sizeof(ksa.mask));
}

/*
 * Gives a child between fork and exec the signal state it must start
 * with: in default mode every disposition default, whoever set it; else
 * the inherited one for each signal sig.c changed.
 */
void
sig_child_reset(int mode_default, const sigset_t *parent_mask)
{
	struct sigaction dfl, ign;
	sigset_t empty;
	int s;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	ign = dfl;
	ign.sa_handler = SIG_IGN;
	sigemptyset(&empty);

	if (mode_default) {
		for (s = 1; s < NSIG; s++)
			if (SIG_SETTABLE(s))
				sigaction(s, &dfl, NULL);
		sig_reset_reserved();
		sigprocmask(SIG_SETMASK, &empty, NULL);
		return;
	}
	if (!sig_initialised) {
		/* We changed nothing; a caller's handlers die with exec. */
		sigprocmask(SIG_SETMASK, parent_mask, NULL);
		return;
	}
	for (s = 1; s < NSIG; s++)
		if (sig_changed[s])
			sigaction(s, sig_start_ignored[s] ? &ign : &dfl, NULL);
	sigprocmask(SIG_SETMASK, &sig_start_mask, NULL);
}
