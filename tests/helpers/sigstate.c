/*
 * sigstate: run a command with chosen signals ignored or blocked, as an
 * inherited state for the program under test (coreutils' timeout tests do
 * the same with trap and a blocked SIGALRM).
 *
 * usage: sigstate [-b SIG]... [-i SIG]... [-c FD]... -- command [arg...]
 *   -b SIG  block SIG      -i SIG  ignore SIG      -c FD  close FD
 * SIG is a number or a name without SIG.  Exits 127 if exec fails.
 */
#include <err.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Parses a signal number or name. */
static int
parse_sig(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "TTOU", SIGTTOU }, { "TTIN", SIGTTIN },
	};
	size_t i;

	if (*s >= '0' && *s <= '9')
		return atoi(s);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	errx(2, "unknown signal %s", s);
}

/* Sets up the requested state and execs the command. */
int
main(int argc, char *argv[])
{
	sigset_t block;
	int ch;

	sigemptyset(&block);
	while ((ch = getopt(argc, argv, "+b:c:i:")) != -1) {
		switch (ch) {
		case 'b':
			sigaddset(&block, parse_sig(optarg));
			break;
		case 'c':
			close(atoi(optarg));
			break;
		case 'i':
			signal(parse_sig(optarg), SIG_IGN);
			break;
		default:
			return 2;
		}
	}
	argv += optind;
	if (argv[0] == NULL)
		errx(2, "usage: sigstate [-b SIG] [-i SIG] [-c FD] -- cmd");
	sigprocmask(SIG_BLOCK, &block, NULL);
	execvp(argv[0], argv);
	err(127, "%s", argv[0]);
}
