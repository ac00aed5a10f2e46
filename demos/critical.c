/*
 * critical: writes a two-part record inside a critical section with
 * SIGINT and SIGQUIT held off, for scripts/demo-signals.
 *
 * usage: critical [-u] file
 *
 * critical writes "begin" to file, waits for one line on standard input
 * (the script's cue, standing for slow work in the middle of an update),
 * then writes "end".  Around those steps SIGINT and SIGQUIT are blocked:
 * one that arrives stays pending, and takes its default action, death,
 * only once the record is whole and the mask is restored.  With -u nothing
 * is blocked and the same signal kills the program halfway, leaving
 * "begin" without "end".
 *
 * Both signals are first reset to their default action: a background job
 * of a non-interactive shell starts with them ignored, and an ignored
 * signal is discarded rather than kept pending.
 */
#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints the usage line and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: critical [-u] file\n", stderr);
	exit(2);
}

/* Writes the string s to fd, or dies. */
static void
put(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n)
		err(1, "write");
}

/* Waits for one line on standard input (the script's cue). */
static void
wait_cue(void)
{
	char c;
	ssize_t r;

	while ((r = read(STDIN_FILENO, &c, 1)) == 1 && c != '\n')
		continue;
	if (r == -1)
		err(1, "stdin");
}

/* Writes the record, with the keyboard signals blocked unless unsafe. */
int
main(int argc, char *argv[])
{
	struct sigaction dfl;
	sigset_t keyboard, saved;
	int ch, fd, unsafe = 0;

	while ((ch = getopt(argc, argv, "u")) != -1) {
		switch (ch) {
		case 'u':
			unsafe = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	if (sigaction(SIGINT, &dfl, NULL) == -1 ||
	    sigaction(SIGQUIT, &dfl, NULL) == -1)
		err(1, "sigaction");
	sigemptyset(&keyboard);
	sigaddset(&keyboard, SIGINT);
	sigaddset(&keyboard, SIGQUIT);

	if ((fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0666)) == -1)
		err(1, "%s", argv[optind]);

	/* Block before the first write: the section starts here. */
	if (!unsafe && sigprocmask(SIG_BLOCK, &keyboard, &saved) == -1)
		err(1, "sigprocmask");
	put(fd, "begin\n");
	printf("critical: in the critical section, SIGINT and SIGQUIT %s\n",
	    unsafe ? "NOT blocked" : "blocked");
	wait_cue();
	put(fd, "end\n");
	printf("critical: record complete, leaving the critical section\n");
	if (close(fd) == -1)
		err(1, "close");

	/* A pending signal is delivered before sigprocmask returns. */
	if (!unsafe && sigprocmask(SIG_SETMASK, &saved, NULL) == -1)
		err(1, "sigprocmask");
	printf("critical: no signal came; exiting normally\n");
	return 0;
}
