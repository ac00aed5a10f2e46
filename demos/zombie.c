/*
 * zombie: makes zombies, and shows why one SIGCHLD may stand for many
 * exited children, for scripts/demo-signals.
 *
 * usage: zombie
 *        zombie -c | -r [-n count]
 *
 * Without options, zombie forks a child that exits at once and never
 * waits for it: the child stays a zombie (state Z in ps) for as long as
 * its parent lives.  zombie then waits until a signal kills it; its
 * zombie is then reparented, to PID 1 or the nearest child subreaper,
 * which reaps it.
 *
 * With -c or -r, zombie forks count children (default 20), keeps SIGCHLD
 * blocked until every one has exited, then unblocks it.  Standard signals
 * do not queue, so the handler runs once for all of them.  With -c the
 * handler reaps one child per signal, as naive code does, and leaves the
 * others as zombies; with -r it reaps with waitpid(WNOHANG) in a loop
 * until none is left, and gets them all.  Either way zombie then waits for
 * SIGTERM, reaps what is left and exits 0, so it leaves nothing behind.
 *
 * Reacts to SIGCHLD (-c, -r) and SIGTERM (taken with sigwait).
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXCHILD	200

static volatile sig_atomic_t handler_runs;
static volatile sig_atomic_t reaped;
static volatile sig_atomic_t reap_all;

/* Reaps one child per signal (-c) or every exited child (-r). */
static void
on_chld(int signo)
{
	int saved_errno = errno;

	(void)signo;
	handler_runs++;
	if (reap_all) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			reaped++;
	} else if (waitpid(-1, NULL, WNOHANG) > 0)
		reaped++;
	errno = saved_errno;
}

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: zombie\n"
	    "       zombie -c | -r [-n count]\n", stderr);
	exit(2);
}

/* Returns 1 once pid has exited, without reaping it. */
static int
has_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return 0;
	return si.si_pid == pid;
}

/* Makes one zombie and waits to be killed. */
static void __attribute__((noreturn))
one_zombie(void)
{
	pid_t pid;

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0)
		_exit(0);
	printf("zombie: child %ld has exited; its parent %ld never calls "
	    "wait\n", (long)pid, (long)getpid());
	for (;;)
		pause();
}

/* Forks n children that exit together while SIGCHLD is blocked. */
static void
many_children(int n)
{
	struct timespec tick = { 0, 1000000 };
	pid_t pids[MAXCHILD];
	sigset_t chld, saved;
	int i, release[2], waited;
	char c;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &saved) == -1)
		err(1, "sigprocmask");
	if (pipe(release) == -1)
		err(1, "pipe");
	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) == -1)
			err(1, "fork");
		if (pids[i] == 0) {
			/* Each child exits when the pipe is closed. */
			close(release[1]);
			while (read(release[0], &c, 1) == -1 && errno == EINTR)
				continue;
			_exit(0);
		}
	}
	close(release[0]);
	close(release[1]);
	for (i = 0, waited = 0; i < n && waited < 5000; waited++) {
		if (has_exited(pids[i]))
			i++;
		else
			nanosleep(&tick, NULL);
	}
	printf("zombie: %d children have exited while SIGCHLD was blocked\n",
	    i);
	/* Every pending SIGCHLD is delivered before this returns. */
	if (sigprocmask(SIG_SETMASK, &saved, NULL) == -1)
		err(1, "sigprocmask");
	printf("zombie: the SIGCHLD handler ran %d time(s): standard signals "
	    "do not queue\n", (int)handler_runs);
	printf("zombie: it reaped %d with %s: %d zombie(s) left\n",
	    (int)reaped, reap_all ? "a waitpid(WNOHANG) loop" :
	    "one waitpid per signal", n - (int)reaped);
}

/* Makes zombies one way or another. */
int
main(int argc, char *argv[])
{
	struct sigaction sa;
	sigset_t term;
	const char *errstr;
	int ch, n = 20, mode = 0, sig;

	while ((ch = getopt(argc, argv, "cn:r")) != -1) {
		switch (ch) {
		case 'c':
		case 'r':
			if (mode != 0)
				usage();
			mode = ch;
			break;
		case 'n':
			n = strtonum(optarg, 1, MAXCHILD, &errstr);
			if (errstr != NULL)
				errx(2, "count %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (mode == 0)
		one_zombie();

	/* SIGTERM is taken with sigwait, so it must stay blocked. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &term, NULL) == -1)
		err(1, "sigprocmask");
	reap_all = mode == 'r';
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_chld;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) == -1)
		err(1, "sigaction");
	many_children(n);

	if (sigwait(&term, &sig) != 0)
		err(1, "sigwait");
	/* Tidy up before leaving: nothing must outlive the demo. */
	signal(SIGCHLD, SIG_DFL);
	while (waitpid(-1, NULL, 0) > 0)
		continue;
	return 0;
}
