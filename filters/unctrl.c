/*
 * unctrl: copies standard input to standard output with control
 * characters, terminal escape sequences and invalid UTF-8 made visible,
 * so untrusted text can be shown on a terminal safely.  Each line goes
 * through pv_vis(3): valid UTF-8 text stays readable, tab is kept, and
 * everything else becomes a C-style or octal escape ("\033", "\r",
 * "\\").  LF stays the line separator; a last line without one is passed
 * without one.
 *
 * Input is read in 256 KiB blocks and output is buffered in 1 MiB, with no
 * system call per line.  A UTF-8 sequence cut by the end of a read is kept
 * back and finished with the next one, and a very long line is escaped in
 * 64 KiB pieces cut between characters, so the result never depends on
 * how the input was split and memory stays bounded.
 *
 * No signal is caught.  SIGPIPE keeps the disposition unctrl was started
 * with: by default a reader that goes away kills it; when SIGPIPE is
 * ignored the write fails with EPIPE and unctrl exits 1 with
 * "unctrl: stdout: Broken pipe".  Interrupted reads and writes and short
 * writes are retried by pv_read and pv_write_all.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define RBUFSIZE	(256 * 1024)
#define OBUFSIZE	(1024 * 1024)
#define CHUNK		(64 * 1024)	/* input bytes per pv_vis call */
#define MAXCARRY	3		/* an unfinished UTF-8 sequence */

static const char usage_line[] = "usage: unctrl\n";

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
	fputs("Copy stdin to stdout with control characters, escape "
	    "sequences and\ninvalid UTF-8 shown as C-style or octal "
	    "escapes.\n"
	    "      --help     print this help and exit\n"
	    "      --version  print the version and exit\n", stdout);
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	exit(0);
}

#define ONES		UINT64_C(0x0101010101010101)
#define LOWS		UINT64_C(0x7f7f7f7f7f7f7f7f)
#define HIGHS		UINT64_C(0x8080808080808080)

/* Flags (0x80) exactly the zero bytes of x, with no carry between bytes. */
static inline uint64_t
unctrl_zero(uint64_t x)
{
	return ~(((x & LOWS) + LOWS) | x) & HIGHS;
}

/*
 * Returns the length of the run at p (n bytes) that comes out unchanged:
 * LF and printable ASCII other than a backslash, the bytes pv_vis copies
 * as they are.  Whole lines of plain text are copied without a call to
 * pv_vis.  Eight bytes at a time; the flags are exact per byte, so the
 * lowest one (first in memory on a little-endian machine) is the answer.
 */
static size_t
unctrl_plain(const unsigned char *p, size_t n)
{
	uint64_t w, bad;
	size_t i = 0;

	for (; n - i >= 8; i += 8) {
		memcpy(&w, p + i, sizeof(w));
		bad = (unctrl_zero(w & (0xe0 * ONES)) &
		    ~unctrl_zero(w ^ ('\n' * ONES))) |
		    (w & HIGHS) | unctrl_zero(w ^ (0x7f * ONES)) |
		    unctrl_zero(w ^ ('\\' * ONES));
		if (bad != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(bad) / 8;
#else
			break;
#endif
		}
	}
	for (; i < n; i++)
		if (p[i] != '\n' && (p[i] < 0x20 || p[i] >= 0x7f ||
		    p[i] == '\\'))
			break;
	return i;
}

/* Returns nonzero for a UTF-8 continuation byte. */
static int
unctrl_is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Returns how many bytes at the end of buf (len bytes) are the start of
 * a UTF-8 sequence that the next read may complete, at most MAXCARRY.
 */
static size_t
unctrl_unfinished(const unsigned char *buf, size_t len)
{
	size_t k, need;
	unsigned char c;

	for (k = 1; k <= MAXCARRY && k <= len; k++) {
		c = buf[len - k];
		if (unctrl_is_cont(c))
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			need = 2;
		else if (c >= 0xe0 && c <= 0xef)
			need = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 4;
		else
			return 0;
		return need > k ? k : 0;
	}
	return 0;
}

/*
 * Returns where to cut a piece of at most max bytes from p (which has
 * more than max): before a byte that is not a continuation byte, so no
 * valid sequence is split, or at max when none of the last four is one
 * (then nothing valid can straddle max either).
 */
static size_t
unctrl_cut(const unsigned char *p, size_t max)
{
	size_t x;

	for (x = max; x + MAXCARRY >= max && x > 0; x--)
		if (!unctrl_is_cont(p[x]))
			return x;
	return max;
}

/*
 * Writes the escaped form of the n bytes of one line at p, then a LF if
 * nl is set.  Returns 0, or -1 with errno from a failed write.
 */
static int
unctrl_line(struct pv_out *o, const unsigned char *p, size_t n, int nl)
{
	size_t take, len;
	char *d;

	do {
		take = n > CHUNK ? unctrl_cut(p, CHUNK) : n;
		if ((d = pv_out_reserve(o, PV_VIS_SIZE(take) + 1)) == NULL)
			return -1;
		len = pv_vis(d, (const char *)p, take);
		p += take;
		n -= take;
		if (n == 0 && nl)
			d[len++] = '\n';
		pv_out_commit(o, len);
	} while (n > 0);
	return 0;
}

/*
 * Escapes n bytes, line by line: plain runs are copied, and the rest of a
 * line from its first other byte goes through pv_vis (a run holds only
 * ASCII, so the byte after it starts a character).  Returns 0, or -1 with
 * errno.
 */
static int
unctrl_block(struct pv_out *o, const unsigned char *p, size_t n)
{
	const unsigned char *nl;
	size_t seg;

	while (n > 0) {
		seg = unctrl_plain(p, n);
		if (seg > 0 && pv_out_write(o, p, seg) == -1)
			return -1;
		p += seg;
		n -= seg;
		if (n == 0)
			break;
		nl = memchr(p, '\n', n);
		seg = nl != NULL ? (size_t)(nl - p) : n;
		if (unctrl_line(o, p, seg, nl != NULL) == -1)
			return -1;
		if (nl != NULL)
			seg++;
		p += seg;
		n -= seg;
	}
	return 0;
}

/* Parses the options, then escapes stdin to stdout until end of file. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct pv_out *o;
	unsigned char *buf;
	size_t carry = 0, avail, keep;
	ssize_t n;
	int ch;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
		case 'V':
			return filter_version("unctrl");
		default:
			usage();
		}
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}

	if ((buf = malloc(MAXCARRY + RBUFSIZE)) == NULL ||
	    (o = pv_out_new(STDOUT_FILENO, OBUFSIZE)) == NULL)
		err(1, "malloc");
	for (;;) {
		n = pv_read(STDIN_FILENO, buf + carry, RBUFSIZE);
		if (n == -1)
			err(1, "stdin");
		avail = carry + (size_t)n;
		/* At end of file an unfinished sequence is escaped as is. */
		keep = n > 0 ? unctrl_unfinished(buf, avail) : 0;
		if (unctrl_block(o, buf, avail - keep) == -1 ||
		    pv_out_flush(o) == -1)
			err(1, "stdout");
		memmove(buf, buf + avail - keep, keep);
		carry = keep;
		if (n == 0)
			break;
	}
	pv_out_free(o);
	free(buf);
	if (close(STDOUT_FILENO) == -1)
		err(1, "stdout");
	return 0;
}
