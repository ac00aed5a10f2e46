/*
 * lower: copies standard input to standard output with the ASCII letters
 * A-Z turned into a-z, as tr A-Z a-z does.  Every other byte (UTF-8, NUL,
 * binary data) passes unchanged, and lines do not matter: input is read in
 * 256 KiB blocks, converted in place by a loop gcc vectorises, and written
 * out whole, so there is no system call per line.
 *
 * No signal is caught.  SIGPIPE keeps the disposition lower was started
 * with: by default a reader that goes away kills lower as it kills cat;
 * when SIGPIPE is ignored the write fails with EPIPE and lower exits 1
 * with "lower: stdout: Broken pipe".  Interrupted reads and writes and
 * short writes are retried by pv_read and pv_write_all.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

static const char usage_line[] = "usage: lower\n";

/* Prints the usage line to stderr and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs(usage_line, stderr);
	exit(2);
}

/* Prints the usage and the options to stdout and exits 0. */
static void __attribute__((noreturn))
help(void)
{
	fputs(usage_line, stdout);
	fputs("Copy stdin to stdout with A-Z turned into a-z.\n"
	    "      --help     print this help and exit\n"
	    "      --version  print the version and exit\n", stdout);
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	exit(0);
}

/* Parses the options, then converts stdin to stdout until end of file. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, failed;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
		case 'V':
			return filter_version("lower");
		default:
			usage();
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}

	if (filter_blocks(STDIN_FILENO, STDOUT_FILENO, filter_lower, &failed) == -1)
		err(1, "%s", failed == STDIN_FILENO ? "stdin" :
		    failed == STDOUT_FILENO ? "stdout" : "malloc");
	if (close(STDOUT_FILENO) == -1)
		err(1, "stdout");
	return 0;
}
