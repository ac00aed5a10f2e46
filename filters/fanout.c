/*
 * fanout: copy standard input to standard output and to every DEST, a
 * file or a FIFO, without letting one slow FIFO reader stall the rest.
 *
 * Standard output is the main output and gets every byte.  A file is
 * truncated (appended to with -a) and written fully; a write error drops
 * it, and fanout goes on and exits 1 at the end.  A FIFO is opened without
 * blocking: while it has no reader it is skipped, and the open is retried
 * at most every 100 ms as input arrives, so a reader that comes late gets
 * the stream from that point.  A FIFO reader whose pipe (enlarged to 1 MiB
 * where allowed) is full is dropped for good with a note, instead of
 * stalling the others, unless --block is given, when fanout waits for it.
 * A reader that closes its end is noted and the FIFO waits for a new one.
 * Input is read in 128 KiB blocks, one write per block and destination.
 *
 * Signals: pv_sig_init sets SIGPIPE to ignored, so a closed reader gives
 * EPIPE; nothing else is caught.  A closed standard output ends fanout
 * with a message and status 1.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define READ_SIZE	(128 * 1024)
#define FIFO_SIZE	(1024 * 1024)
#define RETRY_MS	100

/* Where one destination is in its life. */
enum dest_state {
	DEST_OPEN,	/* a file or a FIFO with a reader: written */
	DEST_WAITING,	/* a FIFO without a reader: open retried */
	DEST_DEAD	/* failed or dropped: skipped */
};

/* One destination. */
struct dest {
	const char	*path;
	int		 fd;
	int		 fifo;
	enum dest_state	 state;
	struct timespec	 next_try;	/* DEST_WAITING: when to retry */
};

/* The state of one run. */
struct fanout {
	struct dest	*dests;
	size_t		 ndests;
	int		 append;	/* -a */
	int		 block;		/* --block */
	int		 failed;	/* a file failed: exit 1 */
};

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: fanout [-a] [--block] dest ...\n", fp);
	if (status == 0)
		fputs("  -a          append to files instead of truncating\n"
		    "  --block     wait for slow FIFO readers instead of"
		    " dropping them\n"
		    "  --help      print this help and exit\n"
		    "  --version   print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Sets or clears O_NONBLOCK on fd. */
static int
fanout_set_nonblock(int fd, int on)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

/* Tries to open a destination; a FIFO without a reader is left waiting. */
static void
fanout_open(struct fanout *fo, struct dest *d)
{
	struct stat st;
	int flags, fd;

	flags = O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC |
	    (fo->append ? O_APPEND : O_TRUNC);
	if ((fd = open(d->path, flags, 0666)) == -1) {
		if (errno == ENXIO && stat(d->path, &st) == 0 &&
		    S_ISFIFO(st.st_mode)) {
			d->fifo = 1;
			d->state = DEST_WAITING;
			pv_now(&d->next_try);
			d->next_try = pv_ts_add(d->next_try,
			    (struct timespec){ 0, RETRY_MS * 1000000L });
			return;
		}
		warn("%s", d->path);
		d->state = DEST_DEAD;
		fo->failed = 1;
		return;
	}
	if (fstat(fd, &st) == -1) {
		warn("%s", d->path);
		close(fd);
		d->state = DEST_DEAD;
		fo->failed = 1;
		return;
	}
	d->fifo = S_ISFIFO(st.st_mode);
	if (d->fifo) {
		/* More room before a reader counts as too slow. */
		(void)fcntl(fd, F_SETPIPE_SZ, FIFO_SIZE);
		if (d->state == DEST_WAITING)
			warnx("%s: reader connected", d->path);
	}
	if ((!d->fifo || fo->block) && fanout_set_nonblock(fd, 0) == -1) {
		warn("%s", d->path);
		close(fd);
		d->state = DEST_DEAD;
		fo->failed = 1;
		return;
	}
	d->fd = fd;
	d->state = DEST_OPEN;
}

/* Writes to a non-blocking FIFO; returns -1 with EAGAIN once it is full. */
static int
fanout_write_fifo(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes one block to a destination, dropping it on failure. */
static void
fanout_write(struct fanout *fo, struct dest *d, const char *buf, size_t n)
{
	int r;

	if (d->fifo && !fo->block)
		r = fanout_write_fifo(d->fd, buf, n);
	else
		r = pv_write_all(d->fd, buf, n) == -1 ? -1 : 0;
	if (r == 0)
		return;
	close(d->fd);
	d->fd = -1;
	if (d->fifo && errno == EAGAIN) {
		warnx("%s: reader too slow, dropped", d->path);
		d->state = DEST_DEAD;
	} else if (d->fifo && errno == EPIPE) {
		warnx("%s: reader closed, waiting for another", d->path);
		d->state = DEST_WAITING;
		pv_now(&d->next_try);
	} else {
		warn("%s", d->path);
		d->state = DEST_DEAD;
		fo->failed = 1;
	}
}

/* Copies standard input to standard output and the destinations. */
static void
fanout_run(struct fanout *fo)
{
	struct timespec now;
	struct dest *d;
	char *buf;
	ssize_t r;
	size_t i;

	if ((buf = malloc(READ_SIZE)) == NULL)
		err(1, "malloc");
	for (;;) {
		if ((r = pv_read(STDIN_FILENO, buf, READ_SIZE)) == -1)
			err(1, "stdin");
		if (r == 0)
			break;
		if (pv_write_all(STDOUT_FILENO, buf, (size_t)r) == -1)
			err(1, "stdout");
		pv_now(&now);
		for (i = 0; i < fo->ndests; i++) {
			d = &fo->dests[i];
			if (d->state == DEST_WAITING &&
			    pv_ts_cmp(now, d->next_try) >= 0)
				fanout_open(fo, d);
			if (d->state == DEST_OPEN)
				fanout_write(fo, d, buf, (size_t)r);
		}
	}
	free(buf);
}

/* Parses the options, opens the destinations and copies. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "block",	no_argument,	NULL,	'b' },
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct fanout fo;
	size_t i;
	int ch;

	memset(&fo, 0, sizeof(fo));
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "a", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			fo.append = 1;
			break;
		case 'b':
			fo.block = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("fanout");
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		warnx("no destination given");
		usage(2);
	}
	if (filter_guard_stdio() == -1)
		err(1, "/dev/null");
	if (pv_sig_init() == -1)
		err(1, "pv_sig_init");
	if ((fo.dests = calloc((size_t)argc, sizeof(*fo.dests))) == NULL)
		err(1, "calloc");
	fo.ndests = (size_t)argc;
	for (i = 0; i < fo.ndests; i++) {
		fo.dests[i].path = argv[i];
		fo.dests[i].fd = -1;
		fanout_open(&fo, &fo.dests[i]);
	}

	fanout_run(&fo);

	for (i = 0; i < fo.ndests; i++) {
		if (fo.dests[i].state != DEST_OPEN)
			continue;
		if (close(fo.dests[i].fd) == -1 && !fo.dests[i].fifo) {
			warn("%s", fo.dests[i].path);
			fo.failed = 1;
		}
	}
	free(fo.dests);
	return fo.failed ? 1 : 0;
}
