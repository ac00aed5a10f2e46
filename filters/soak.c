/*
 * soak: soak up all of standard input, then replace FILE with it in one
 * atomic step, so `cmd < f | soak f` rewrites f in place safely.
 *
 * The input goes straight into a temporary file in FILE's directory
 * (".FILE.soak-XXXXXX", created before anything is read, mode 0600,
 * O_CLOEXEC), with splice(2) when standard input is a pipe and 128 KiB
 * blocks otherwise, so memory use stays flat however much comes in.  At
 * end of input the temporary file gets FILE's mode and, when permitted,
 * its owner and group (0666 less the umask for a new FILE), is synced and
 * renamed over FILE, and the directory is synced.  With -a the new FILE
 * is FILE's contents at end of input followed by the input.  A symbolic
 * link is followed and its target replaced.  Readers of FILE see either
 * the old contents or the new, never a mix; any failure leaves FILE as it
 * was and removes the temporary file.  Without FILE, or when FILE is not
 * a regular file (a device, a FIFO), there is nothing to rename over: the
 * input is kept in an unnamed temporary file and written out at the end.
 *
 * Signals: SIGHUP, SIGINT, SIGQUIT and SIGTERM are caught through the
 * library's signal module (those not ignored when soak started: nohup
 * still works) and held blocked except while soak waits for input or
 * output.  One that arrives before the rename removes the
 * temporary file and soak dies of it; one that arrives while the rename
 * is held off is acted on after it, so FILE is replaced and soak then dies
 * of it (status 128+N either way).  SIGXFSZ is caught too, so a file size
 * limit makes the write fail with EFBIG (status 1) instead of killing soak
 * with its temporary file left behind.  SIGPIPE is ignored: a closed
 * standard output gives a message and status 1.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define COPY_SIZE	(128 * 1024)
#define SPLICE_SIZE	(1024 * 1024)

/* The state of one run. */
struct soak {
	const char	*name;		/* FILE as given, for messages */
	char		*target;	/* FILE with symbolic links resolved */
	char		*dir;		/* target's directory */
	char		*tmppath;	/* the named temporary file, or NULL */
	int		 tmpfd;
	int		 append;	/* -a */
	int		 in_pipe;	/* stdin is a pipe: splice */
	char		*buf;
};

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: soak [-a] [file]\n", fp);
	if (status == 0)
		fputs("  -a          append the input to file\n"
		    "  --help      print this help and exit\n"
		    "  --version   print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Removes the named temporary file, if there is one. */
static void
soak_cleanup(struct soak *s)
{
	if (s->tmppath != NULL) {
		(void)unlink(s->tmppath);
		free(s->tmppath);
		s->tmppath = NULL;
	}
}

/* Removes the temporary file and dies of signo (status 128+signo). */
static void __attribute__((noreturn))
soak_die(struct soak *s, int signo)
{
	soak_cleanup(s);
	pv_sig_die(signo);
}

/* Reports what failed with errno, removes the temporary file, exits 1. */
static void __attribute__((noreturn))
soak_fail(struct soak *s, const char *what)
{
	int e = errno;

	soak_cleanup(s);
	errno = e;
	err(1, "%s", what);
}

/*
 * Acts on the caught signals that arrived: a stop signal ends soak;
 * SIGXFSZ means a write to what went past the file size limit.
 */
static void
soak_signals(struct soak *s, const char *what)
{
	int signo, xfsz = 0;

	while ((signo = pv_sig_take()) != 0) {
		if (signo != SIGXFSZ)
			soak_die(s, signo);
		xfsz = 1;
	}
	/*
	 * The signal may land while the failed write is still in the
	 * window, taking its EFBIG with it: report that failure here, or
	 * the write would be retried for ever.
	 */
	if (xfsz) {
		errno = EFBIG;
		soak_fail(s, what);
	}
}

/* Lets pending caught signals in without waiting, and acts on them. */
static void
soak_check(struct soak *s, const char *what)
{
	static const struct timespec zero = { 0, 0 };

	if (ppoll(NULL, 0, &zero, pv_sig_waitmask()) == -1 && errno == EINTR)
		soak_signals(s, what);
}

/* The arguments of one system call run in the signal window. */
struct soak_call {
	int		 in, out;
	void		*buf;
	size_t		 n;
};

/* splice(2) from a pipe, run in the signal window. */
static long
soak_splice_call(void *arg)
{
	struct soak_call *c = arg;

	return (long)splice(c->in, NULL, c->out, NULL, c->n, SPLICE_F_MOVE);
}

/* write(2), run in the signal window. */
static long
soak_write_call(void *arg)
{
	struct soak_call *c = arg;

	return (long)write(c->out, c->buf, c->n);
}

/*
 * Copies all of standard input to fd.  A caught signal ends soak; a
 * failed read or write ends it with status 1, naming what.
 */
static void
soak_fill(struct soak *s, int fd, const char *what)
{
	struct soak_call c;
	long r;

	c.in = STDIN_FILENO;
	c.out = fd;
	c.buf = s->buf;
	for (;;) {
		if (s->in_pipe) {
			c.n = SPLICE_SIZE;
			r = pv_sig_window(soak_splice_call, &c);
			if (r == -1 && errno == EINVAL) {
				/* Some files refuse splice: read instead. */
				s->in_pipe = 0;
				continue;
			}
		} else {
			r = pv_sig_read(STDIN_FILENO, s->buf, COPY_SIZE);
			if (r > 0 && pv_write_all(fd, s->buf, (size_t)r) == -1)
				soak_fail(s, what);
		}
		if (r == 0)
			return;
		if (r > 0)
			continue;
		if (errno == EINTR) {
			soak_signals(s, what);
			continue;
		}
		if (errno == EAGAIN) {
			/* An inherited non-blocking stdin. */
			struct pollfd p = { STDIN_FILENO, POLLIN, 0 };

			if (ppoll(&p, 1, NULL, pv_sig_waitmask()) == -1 &&
			    errno == EINTR)
				soak_signals(s, what);
			continue;
		}
		/* Reading a pipe does not fail: a splice error is fd's. */
		soak_fail(s, s->in_pipe ? what : "stdin");
	}
}

/*
 * Copies fd in (from its current offset) to fd out until end of file,
 * letting caught signals in between blocks and around blocking writes.
 */
static void
soak_copy(struct soak *s, int in, int out, const char *inname,
    const char *outname)
{
	struct soak_call c;
	ssize_t r;
	long w;
	size_t off;

	for (;;) {
		soak_check(s, outname);
		if ((r = pv_read(in, s->buf, COPY_SIZE)) == -1)
			soak_fail(s, inname);
		if (r == 0)
			return;
		for (off = 0; off < (size_t)r; off += (size_t)w) {
			c.out = out;
			c.buf = s->buf + off;
			c.n = (size_t)r - off;
			if ((w = pv_sig_window(soak_write_call, &c)) == -1) {
				if (errno == EINTR) {
					soak_signals(s, outname);
					w = 0;
					continue;
				}
				if (errno == EAGAIN) {
					struct pollfd p = { out, POLLOUT, 0 };

					(void)ppoll(&p, 1, NULL,
					    pv_sig_waitmask());
					soak_signals(s, outname);
					w = 0;
					continue;
				}
				soak_fail(s, outname);
			}
		}
	}
}

/*
 * Opens an unnamed temporary file in dir (O_TMPFILE, or a named one
 * unlinked at once where the file system lacks it).  Returns the fd.
 */
static int
soak_anon(struct soak *s, const char *dir)
{
	char *path;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	if (asprintf(&path, "%s/.soak-XXXXXX", dir) == -1)
		soak_fail(s, "asprintf");
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		soak_fail(s, dir);
	(void)unlink(path);
	free(path);
	return fd;
}

/* open(2) for writing, run in the signal window (a FIFO open blocks). */
static long
soak_open_call(void *arg)
{
	struct soak_call *c = arg;

	return (long)open(c->buf, c->n, 0666);
}

/*
 * The path without FILE, or with a FILE that cannot be renamed over (a
 * device, a FIFO): soak into an unnamed file, then open the output (none
 * for stdout) and write it all there.
 */
static void
soak_stream(struct soak *s, const char *outpath)
{
	struct soak_call c;
	const char *tmpdir;
	int fd;
	long out = STDOUT_FILENO;

	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	fd = soak_anon(s, tmpdir);
	soak_fill(s, fd, tmpdir);
	if (lseek(fd, 0, SEEK_SET) == -1)
		soak_fail(s, tmpdir);
	if (outpath != NULL) {
		c.buf = (void *)(uintptr_t)outpath;
		c.n = (size_t)(O_WRONLY | O_CLOEXEC |
		    (s->append ? O_APPEND : O_TRUNC));
		while ((out = pv_sig_window(soak_open_call, &c)) == -1) {
			if (errno != EINTR)
				err(1, "%s", outpath);
			soak_signals(s, outpath);
		}
	}
	soak_copy(s, fd, (int)out, tmpdir, outpath != NULL ? outpath :
	    "stdout");
	close(fd);
	if (outpath != NULL && close((int)out) == -1)
		err(1, "%s", outpath);
}

/* Splits the target into its directory; fails when it names no file. */
static void
soak_resolve(struct soak *s)
{
	struct stat st;
	char *slash;

	if (lstat(s->name, &st) == 0 && S_ISLNK(st.st_mode)) {
		if ((s->target = realpath(s->name, NULL)) == NULL)
			err(1, "%s", s->name);
	} else if ((s->target = strdup(s->name)) == NULL)
		err(1, "strdup");
	if ((slash = strrchr(s->target, '/')) == NULL) {
		if ((s->dir = strdup(".")) == NULL)
			err(1, "strdup");
	} else if (slash[1] == '\0') {
		errx(1, "%s: not a file name", s->name);
	} else if (slash == s->target) {
		if ((s->dir = strdup("/")) == NULL)
			err(1, "strdup");
	} else if ((s->dir = strndup(s->target,
	    (size_t)(slash - s->target))) == NULL)
		err(1, "strndup");
}

/* Gives the temporary file FILE's owner and mode, or a new file's mode. */
static void
soak_attrs(struct soak *s, const struct stat *old)
{
	mode_t mask;

	if (old == NULL) {
		mask = umask(0);
		umask(mask);
		if (fchmod(s->tmpfd, 0666 & ~mask) == -1)
			soak_fail(s, s->tmppath);
		return;
	}
	/* Not permitted for others' files unless root: keep what we can. */
	if (fchown(s->tmpfd, old->st_uid, old->st_gid) == -1)
		(void)fchown(s->tmpfd, (uid_t)-1, old->st_gid);
	/* After chown, which clears the set-id bits. */
	if (fchmod(s->tmpfd, old->st_mode & 07777) == -1)
		soak_fail(s, s->tmppath);
}

/* Syncs a directory so a rename in it survives a crash. */
static int
soak_sync_dir(const char *dir)
{
	int fd, r;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	/* Some file systems cannot sync a directory; nothing is lost. */
	if (r == -1 && (errno == EINVAL || errno == EROFS))
		r = 0;
	close(fd);
	return r;
}

/* The atomic path: temporary file beside FILE, then rename over it. */
static void
soak_replace(struct soak *s, const struct stat *old)
{
	int anon = -1, fd;

	if (asprintf(&s->tmppath, "%s/.%.200s.soak-XXXXXX", s->dir,
	    strrchr(s->target, '/') != NULL ?
	    strrchr(s->target, '/') + 1 : s->target) == -1) {
		s->tmppath = NULL;
		err(1, "asprintf");
	}
	if ((s->tmpfd = mkostemp(s->tmppath, O_CLOEXEC)) == -1) {
		free(s->tmppath);
		s->tmppath = NULL;
		err(1, "cannot create a temporary file in %s", s->dir);
	}
	if (!s->append)
		soak_fill(s, s->tmpfd, s->name);
	else {
		/* FILE's contents come first, as they are at the end. */
		anon = soak_anon(s, s->dir);
		soak_fill(s, anon, s->name);
		if ((fd = open(s->target, O_RDONLY | O_CLOEXEC)) != -1) {
			soak_copy(s, fd, s->tmpfd, s->name, s->name);
			close(fd);
		} else if (errno != ENOENT)
			soak_fail(s, s->name);
		if (lseek(anon, 0, SEEK_SET) == -1)
			soak_fail(s, s->name);
		soak_copy(s, anon, s->tmpfd, s->name, s->name);
		close(anon);
	}
	soak_attrs(s, old);
	if (fsync(s->tmpfd) == -1 || close(s->tmpfd) == -1)
		soak_fail(s, s->name);

	/* A signal that came before the rename cancels it. */
	soak_check(s, s->name);
	/*
	 * The held section: the caught signals stay blocked from here to
	 * the check below, so the rename and the directory sync complete.
	 */
	if (rename(s->tmppath, s->target) == -1)
		soak_fail(s, s->name);
	free(s->tmppath);
	s->tmppath = NULL;
	if (soak_sync_dir(s->dir) == -1)
		err(1, "%s", s->dir);
	soak_check(s, s->name);
}

/* Parses the options and soaks standard input into FILE or stdout. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct soak s;
	struct stat st;
	int ch, exists;

	memset(&s, 0, sizeof(s));
	s.tmpfd = -1;
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "a", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			s.append = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("soak");
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1) {
		warnx("unexpected argument: %s", argv[1]);
		usage(2);
	}
	if (filter_guard_stdio() == -1)
		err(1, "/dev/null");
	if (pv_sig_init() == -1 || filter_catch(SIGHUP) == -1 ||
	    filter_catch(SIGINT) == -1 || filter_catch(SIGQUIT) == -1 ||
	    filter_catch(SIGTERM) == -1 || pv_sig_catch(SIGXFSZ) == -1)
		err(1, "signals");
	if ((s.buf = malloc(COPY_SIZE)) == NULL)
		err(1, "malloc");
	s.in_pipe = fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);

	if (argc == 0) {
		soak_stream(&s, NULL);
		free(s.buf);
		return 0;
	}
	s.name = argv[0];
	exists = stat(s.name, &st) == 0;
	if (!exists && errno != ENOENT)
		err(1, "%s", s.name);
	if (exists && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			err(1, "%s", s.name);
		}
		/* A device or FIFO: write into it once all input is in. */
		soak_stream(&s, s.name);
	} else {
		soak_resolve(&s);
		soak_replace(&s, exists ? &st : NULL);
	}
	free(s.buf);
	free(s.target);
	free(s.dir);
	return 0;
}
