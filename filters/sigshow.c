/*
 * sigshow: print every signal it receives, with who sent it, for teaching
 * and for testing what signals a supervisor delivers.
 *
 * At start sigshow ignores the signals of -i, blocks the ones it catches
 * and reads them from a signalfd(2), so each arrives with its siginfo:
 * one line per signal, "TERM 15 from pid 1234 uid 0", written at once.
 * By default it catches HUP INT QUIT USR1 USR2 ALRM TERM CHLD CONT WINCH
 * and exits with 128+N after printing INT or TERM; -c and -e change
 * those sets.  TSTP, TTIN and TTOU are left alone so job control works,
 * and KILL and STOP cannot be caught.  It prints "ready PID" once the
 * signals are set up, so a script can wait for that line before sending.
 *
 * Standard input is copied to standard output in 64 KiB blocks, so
 * sigshow can sit in a pipeline; end of input ends it only with -E.
 * sigshow installs no handler and does not use the library's signal
 * module: showing raw dispositions and siginfo is its whole point.
 */
#include <sys/types.h>
#include <sys/signalfd.h>

#include <sys/syscall.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define READ_SIZE	(64 * 1024)

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: sigshow [-Es] [-c signals] [-e signals]"
	    " [-i signals]\n", fp);
	if (status == 0)
		fputs("  -c signals  catch and print these (comma-separated)\n"
		    "  -E          exit at the end of standard input\n"
		    "  -e signals  exit 128+N after printing one of these\n"
		    "  -i signals  ignore these\n"
		    "  -s          print the inherited SigIgn and SigBlk"
		    " masks first\n"
		    "  --help      print this help and exit\n"
		    "  --version   print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Adds each signal of a comma-separated list to set; usage error if bad. */
static void
sigshow_parse_list(const char *opt, const char *list, sigset_t *set)
{
	char *copy, *p, *word;
	int signo;

	if ((copy = strdup(list)) == NULL)
		err(1, "strdup");
	p = copy;
	while ((word = strsep(&p, ",")) != NULL) {
		if ((signo = pv_signal_parse(word)) <= 0) {
			warnx("%s: bad signal: %s", opt, word);
			usage(2);
		}
		if (signo == SIGKILL || signo == SIGSTOP) {
			warnx("%s: %s cannot be caught or ignored", opt,
			    pv_signal_name(signo));
			usage(2);
		}
		sigaddset(set, signo);
	}
	free(copy);
}

/* Writes all of buf to stdout or exits. */
static void
sigshow_put(const char *buf, size_t len)
{
	if (pv_write_all(STDOUT_FILENO, buf, len) == -1)
		err(1, "stdout");
}

/* Prints one mask line as /proc/PID/status does, with the names after. */
static void
sigshow_print_mask(const char *label, unsigned long long bits)
{
	char line[1024];
	size_t len;
	int s, any = 0;

	len = (size_t)snprintf(line, sizeof(line), "%s: %016llx", label, bits);
	for (s = 1; s <= 64; s++) {
		if (!(bits & (1ULL << (s - 1))))
			continue;
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
		    any ? "," : " ", s >= 32 && s < SIGRTMIN ? "RESERVED" :
		    pv_signal_name(s));
		any = 1;
		if (len >= sizeof(line) - 16)
			break;
	}
	line[len++] = '\n';
	sigshow_put(line, len);
}

/*
 * Prints the ignored and blocked signals sigshow was started with, from
 * the kernel's own view: glibc's sigaction and sigset calls hide signals
 * 32 and 33 (its threads use them), which GNU make, for one, starts its
 * children with ignored.
 */
static void
sigshow_print_state(void)
{
	struct {
		void		(*handler)(int);
		unsigned long	 flags;
		void		(*restorer)(void);
		unsigned long	 mask;
	} ksa;
	unsigned long long ign = 0, blk = 0;
	int s;

	for (s = 1; s <= 64 && s < NSIG; s++)
		if (syscall(SYS_rt_sigaction, s, NULL, &ksa,
		    sizeof(ksa.mask)) == 0 && ksa.handler == SIG_IGN)
			ign |= 1ULL << (s - 1);
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blk, sizeof(blk))
	    == -1)
		err(1, "sigprocmask");
	sigshow_print_mask("SigIgn", ign);
	sigshow_print_mask("SigBlk", blk);
}

/* Sets one signal's disposition to handler, or exits. */
static void
sigshow_set(int signo, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) == -1)
		err(1, "sigaction %s", pv_signal_name(signo));
}

/*
 * Prints the signals waiting on the signalfd; returns the signal to exit
 * on if one of them is in the exit set, else 0.
 */
static int
sigshow_drain(int sfd, const sigset_t *exitset)
{
	struct signalfd_siginfo si[16];
	char line[128];
	ssize_t r;
	size_t i, n;
	int len;

	for (;;) {
		r = read(sfd, si, sizeof(si));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			err(1, "signalfd");
		}
		n = (size_t)r / sizeof(si[0]);
		for (i = 0; i < n; i++) {
			len = snprintf(line, sizeof(line),
			    "%s %u from pid %u uid %u\n",
			    pv_signal_name((int)si[i].ssi_signo),
			    si[i].ssi_signo, si[i].ssi_pid, si[i].ssi_uid);
			sigshow_put(line, (size_t)len);
			if (sigismember(exitset, (int)si[i].ssi_signo) == 1)
				return (int)si[i].ssi_signo;
		}
	}
}

/* Parses the options, sets up the signals and prints them as they come. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	/* The signals caught when -c is not given. */
	static const int default_catch[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM,
		SIGCHLD, SIGCONT, SIGWINCH
	};
	struct pollfd pfd[2];
	sigset_t catch, exitset, ignore;
	char line[64], *buf;
	ssize_t r;
	size_t i;
	int ch, sfd, signo, len, exit_at_eof = 0, show_state = 0;
	int have_c = 0, have_e = 0, in_open = 1, status = 0;

	sigemptyset(&catch);
	sigemptyset(&exitset);
	sigemptyset(&ignore);
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "Ec:e:i:s", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'E':
			exit_at_eof = 1;
			break;
		case 'c':
			sigshow_parse_list("-c", optarg, &catch);
			have_c = 1;
			break;
		case 'e':
			sigshow_parse_list("-e", optarg, &exitset);
			have_e = 1;
			break;
		case 'i':
			sigshow_parse_list("-i", optarg, &ignore);
			break;
		case 's':
			show_state = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("sigshow");
		default:
			usage(2);
		}
	}
	if (optind < argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage(2);
	}
	if (!have_e) {
		sigaddset(&exitset, SIGINT);
		sigaddset(&exitset, SIGTERM);
	}
	if (!have_c) {
		for (i = 0; i < sizeof(default_catch) / sizeof(int); i++)
			sigaddset(&catch, default_catch[i]);
	}
	for (signo = 1; signo < NSIG; signo++) {
		if (sigismember(&ignore, signo) != 1)
			continue;
		if ((have_c && sigismember(&catch, signo) == 1) ||
		    sigismember(&exitset, signo) == 1) {
			warnx("%s is both ignored and caught",
			    pv_signal_name(signo));
			usage(2);
		}
		/* -i wins over the default set. */
		sigdelset(&catch, signo);
	}
	for (signo = 1; signo < NSIG; signo++)
		if (sigismember(&exitset, signo) == 1)
			sigaddset(&catch, signo);

	if (show_state)
		sigshow_print_state();
	for (signo = 1; signo < NSIG; signo++)
		if (sigismember(&ignore, signo) == 1)
			sigshow_set(signo, SIG_IGN);
	/*
	 * Block first, then set the default disposition: a blocked signal is
	 * kept pending for the signalfd even when its default is to ignore
	 * it (CHLD, CONT, WINCH), and an inherited SIG_IGN no longer hides it.
	 */
	if (sigprocmask(SIG_BLOCK, &catch, NULL) == -1)
		err(1, "sigprocmask");
	for (signo = 1; signo < NSIG; signo++)
		if (sigismember(&catch, signo) == 1)
			sigshow_set(signo, SIG_DFL);
	if ((sfd = signalfd(-1, &catch, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		err(1, "signalfd");
	if ((buf = malloc(READ_SIZE)) == NULL)
		err(1, "malloc");

	len = snprintf(line, sizeof(line), "ready %ld\n", (long)getpid());
	sigshow_put(line, (size_t)len);

	for (;;) {
		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = in_open ? STDIN_FILENO : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (pfd[0].revents != 0 &&
		    (signo = sigshow_drain(sfd, &exitset)) != 0) {
			status = 128 + signo;
			break;
		}
		if (pfd[1].revents == 0)
			continue;
		r = (pfd[1].revents & POLLNVAL) ? 0 :
		    read(STDIN_FILENO, buf, READ_SIZE);
		if (r == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r == -1)
			err(1, "stdin");
		if (r > 0) {
			sigshow_put(buf, (size_t)r);
			continue;
		}
		if (exit_at_eof)
			break;
		in_open = 0;
	}
	free(buf);
	close(sfd);
	return status;
}
