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

#define BUFSIZE		(256 * 1024)
#define CHUNK		64	/* bytes per vectorised step */

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

/*
 * Turns A-Z into a-z in n bytes: the branchless form flips bit 5 of the
 * bytes in range, and the fixed-length inner loop lets gcc -O2 vectorise
 * it without needing an epilogue.
 */
static void
lower_convert(unsigned char *buf, size_t n)
{
	size_t i = 0, j;

	for (; n - i >= CHUNK; i += CHUNK)
		for (j = 0; j < CHUNK; j++)
			buf[i + j] ^= (unsigned char)
			    (((unsigned char)(buf[i + j] - 'A') < 26) << 5);
	for (; i < n; i++)
		buf[i] ^= (unsigned char)(((unsigned char)(buf[i] - 'A') < 26)
		    << 5);
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
	unsigned char *buf;
	ssize_t n;
	int ch;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
		case 'V':
			printf("lower (pipevisor) %s\n", PV_VERSION_STRING);
			if (fflush(stdout) == EOF)
				err(1, "stdout");
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}

	if ((buf = malloc(BUFSIZE)) == NULL)
		err(1, "malloc");
	while ((n = pv_read(STDIN_FILENO, buf, BUFSIZE)) > 0) {
		lower_convert(buf, (size_t)n);
		if (pv_write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
			err(1, "stdout");
	}
	if (n == -1)
		err(1, "stdin");
	free(buf);
	if (close(STDOUT_FILENO) == -1)
		err(1, "stdout");
	return 0;
}
