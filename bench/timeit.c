/*
 * timeit: runs several commands round-robin and reports each one's median
 * wall time, for side-by-side benchmarks.
 *
 * usage: timeit [-a] [-e file] [-I file | -i file] [-o file | -p]
 *            [-w warmup] rounds -- command [arg ...] [-- command ...] ...
 *
 * Every round runs each contender once; round r starts with contender
 * r mod n, so that no contender always runs right after the same other
 * one.  A run is timed with CLOCK_MONOTONIC from just before fork(2) to
 * just after waitpid(2) returns (and after timeit's own pipe work below
 * is done), so it includes fork, exec, the work and the reap.
 *
 * A contender's stdin is /dev/null, a fresh open of -i's file, or (-I) a
 * pipe that timeit fills from the file; its stdout is /dev/null, -o's
 * file, or (-p) a pipe that timeit drains into /dev/null.  With -I and -p
 * the contender sits in a pipeline as `cat file | it | cat >/dev/null`
 * would put it, but timeit does both ends itself, with splice(2), in one
 * poll loop.  Its stderr is timeit's own, or -e's file opened for
 * appending (so a chatty program's reports stay out of the way and can
 * be shown when it fails).
 *
 * Output on stdout, one line per contender in command-line order after a
 * "#" header: index (1-based), median, minimum and maximum in
 * microseconds, and the number of runs; or "index failed" when any of its
 * runs exited non-zero, was killed, or could not be executed.  -a adds
 * every run, in round order, as "# run index round microseconds" lines
 * before its contender's summary.
 *
 * Ignores SIGPIPE (a contender may close its stdin early); contenders get
 * the disposition timeit started with.  Exit status: 0, 1 if any run
 * failed, 2 on usage.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct contender {
	char	**argv;		/* NULL-terminated, points into main's argv */
	double	 *usec;		/* one per counted round */
	int	  failed;
};

struct opts {
	const char *infile;	/* -i or -I; NULL: stdin is /dev/null */
	const char *outfile;	/* NULL: /dev/null */
	int	 errfd;		/* -e's file, or -1: timeit's stderr */
	int	 pipe_in;	/* -I: stdin is a pipe fed by timeit */
	int	 pipe_out;	/* -p: stdout is a pipe drained by timeit */
	int	 nullfd;	/* /dev/null, read-write, CLOEXEC */
	struct sigaction sigpipe;	/* SIGPIPE as timeit found it */
};

/* The copy buffer and splice fallbacks of one run's pump. */
struct io_state {
	char	 buf[1 << 16];
	size_t	 off, len;	/* unwritten input in buf */
	int	 splice_in, splice_out;
};

static void
usage(void)
{
	fprintf(stderr, "usage: timeit [-a] [-e file] [-I file | -i file] "
	    "[-o file | -p] [-w warmup] rounds -- command [arg ...] "
	    "[-- command [arg ...]] ...\n");
	exit(2);
}

/* Returns the CLOCK_MONOTONIC time in microseconds. */
static double
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * Moves one chunk from the input file src into the child's stdin pipe to
 * (non-blocking).  Returns 1 when feeding is over (end of file, or the
 * child closed its stdin), else 0.
 */
static int
feed_once(int src, int to, struct io_state *st)
{
	ssize_t n;

	if (st->splice_in) {
		n = splice(src, NULL, to, NULL, 1 << 20,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		/* A file system without splice: copy instead. */
		if (n == -1 && errno == EINVAL) {
			st->splice_in = 0;
			return 0;
		}
	} else {
		if (st->off == st->len) {
			if ((n = read(src, st->buf, sizeof(st->buf))) <= 0)
				goto done;
			st->off = 0;
			st->len = n;
		}
		n = write(to, st->buf + st->off, st->len - st->off);
		if (n > 0)
			st->off += n;
	}
done:
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
		return 0;
	if (n == 0 || errno == EPIPE)
		return 1;
	err(1, "feeding the input pipe");
}

/*
 * Moves what the child's stdout pipe from (non-blocking) holds into
 * nullfd.  Returns 1 at end of file, else 0.
 */
static int
drain_once(int from, int nullfd, struct io_state *st)
{
	ssize_t n;

	if (st->splice_out) {
		n = splice(from, NULL, nullfd, NULL, 1 << 20,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		/* A kernel or /dev/null without splice: read instead. */
		if (n == -1 && (errno == EINVAL || errno == ENOSYS)) {
			st->splice_out = 0;
			return 0;
		}
	} else
		n = read(from, st->buf, sizeof(st->buf));
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
		return 0;
	if (n == 0)
		return 1;
	err(1, "draining the output pipe");
}

/*
 * Feeds src into the pipe to and drains the pipe from into nullfd, in one
 * poll loop, until both are done; either fd may be -1 (not used).  Closes
 * to and from.
 */
static void
pump(int src, int to, int from, int nullfd)
{
	static struct io_state st;
	struct pollfd pfd[2];

	st.splice_in = st.splice_out = 1;
	st.off = st.len = 0;
	if ((to != -1 && fcntl(to, F_SETFL, O_NONBLOCK) == -1) ||
	    (from != -1 && fcntl(from, F_SETFL, O_NONBLOCK) == -1))
		err(1, "fcntl");
	while (to != -1 || from != -1) {
		/* poll(2) skips entries with a negative fd. */
		pfd[0].fd = to;
		pfd[0].events = POLLOUT;
		pfd[1].fd = from;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (to != -1 && pfd[0].revents != 0 &&
		    feed_once(src, to, &st)) {
			close(to);
			to = -1;
		}
		if (from != -1 && pfd[1].revents != 0 &&
		    drain_once(from, nullfd, &st)) {
			close(from);
			from = -1;
		}
	}
}

/*
 * Runs argv once with the fds opts asks for and returns its wall time in
 * microseconds; sets *status to its wait status (or exit 127 when the
 * child could not be set up).
 */
static double
run_once(char **argv, const struct opts *o, int *status)
{
	int src = -1, in = o->nullfd, out = o->nullfd;
	int ip[2] = { -1, -1 }, op[2] = { -1, -1 };
	double t0, t1;
	pid_t pid;

	/* Opening the files is not part of the measured time. */
	if (o->infile != NULL &&
	    (src = open(o->infile, O_RDONLY | O_CLOEXEC)) == -1)
		err(1, "%s", o->infile);
	if (o->outfile != NULL && (out = open(o->outfile,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) == -1)
		err(1, "%s", o->outfile);
	if (o->pipe_in && pipe2(ip, O_CLOEXEC) == -1)
		err(1, "pipe2");
	if (o->pipe_out && pipe2(op, O_CLOEXEC) == -1)
		err(1, "pipe2");
	if (o->pipe_in)
		in = ip[0];
	else if (src != -1)
		in = src;
	if (o->pipe_out)
		out = op[1];

	t0 = now_usec();
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		/* dup2 clears FD_CLOEXEC on 0, 1, 2; all else closes. */
		if (dup2(in, 0) == -1 || dup2(out, 1) == -1 ||
		    (o->errfd != -1 && dup2(o->errfd, 2) == -1) ||
		    sigaction(SIGPIPE, &o->sigpipe, NULL) == -1)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "timeit: %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* Only the child keeps its ends, so end of file and EPIPE work. */
	if (ip[0] != -1)
		close(ip[0]);
	if (op[1] != -1)
		close(op[1]);
	if (o->pipe_in || o->pipe_out)
		pump(src, ip[1], op[0], o->nullfd);
	while (waitpid(pid, status, 0) == -1)
		if (errno != EINTR)
			err(1, "waitpid");
	t1 = now_usec();

	if (src != -1)
		close(src);
	if (out != o->nullfd && !o->pipe_out)
		close(out);
	return t1 - t0;
}

/* qsort comparison of doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Returns the median of n sorted values. */
static double
median(const double *v, size_t n)
{
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Splits argv at "--" into contenders; returns their number. */
static size_t
split_contenders(int argc, char **argv, struct contender **out)
{
	struct contender *c;
	size_t n = 0;
	int i;

	if (argc < 2 || strcmp(argv[0], "--") != 0)
		usage();
	if ((c = calloc(argc, sizeof(*c))) == NULL)
		err(1, NULL);
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") != 0)
			continue;
		/* Each "--" ends the previous command and starts one. */
		argv[i] = NULL;
		if (i + 1 == argc || strcmp(argv[i + 1], "--") == 0)
			usage();
		c[n++].argv = &argv[i + 1];
	}
	*out = c;
	return n;
}

int
main(int argc, char *argv[])
{
	struct opts o = { .errfd = -1, .nullfd = -1 };
	struct sigaction ign;
	const char *errfile = NULL;
	struct contender *c;
	const char *errstr = NULL;
	long rounds, warmup = 1, r, total;
	size_t i, k, n;
	int ch, all = 0, failed = 0, status;
	double t;

	while ((ch = getopt(argc, argv, "+ae:I:i:o:pw:")) != -1) {
		switch (ch) {
		case 'a':
			all = 1;
			break;
		case 'e':
			errfile = optarg;
			break;
		case 'I':
			o.pipe_in = 1;
			o.infile = optarg;
			break;
		case 'i':
			o.pipe_in = 0;
			o.infile = optarg;
			break;
		case 'o':
			o.outfile = optarg;
			break;
		case 'p':
			o.pipe_out = 1;
			break;
		case 'w':
			errno = 0;
			warmup = strtol(optarg, NULL, 10);
			if (errno != 0 || warmup < 0 || warmup > 1000)
				errstr = "bad warm-up count";
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (errstr != NULL)
		errx(2, "%s", errstr);
	if (argc < 1 || (o.outfile != NULL && o.pipe_out))
		usage();
	errno = 0;
	rounds = strtol(argv[0], NULL, 10);
	if (errno != 0 || rounds < 1 || rounds > 1000000)
		errx(2, "bad round count: %s", argv[0]);
	n = split_contenders(argc - 1, argv + 1, &c);

	/*
	 * With 0, 1 and 2 open, every fd opened later is above 2, so the
	 * child's dup2 onto 0 and 1 always clears FD_CLOEXEC.
	 */
	for (ch = 0; ch < 3; ch++)
		if (fcntl(ch, F_GETFD) == -1 && open("/dev/null", O_RDWR) == -1)
			err(1, "/dev/null");
	if ((o.nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		err(1, "/dev/null");
	if (errfile != NULL && (o.errfd = open(errfile,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666)) == -1)
		err(1, "%s", errfile);
	/* A child that stops reading must not kill timeit; see pump. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &ign, &o.sigpipe) == -1)
		err(1, "sigaction");
	for (i = 0; i < n; i++)
		if ((c[i].usec = calloc(rounds, sizeof(double))) == NULL)
			err(1, NULL);

	total = warmup + rounds;
	for (r = 0; r < total; r++) {
		for (k = 0; k < n; k++) {
			i = (r + k) % n;
			t = run_once(c[i].argv, &o, &status);
			if (status != 0) {
				if (!c[i].failed)
					warnx("contender %zu (%s) failed: %s %d",
					    i + 1, c[i].argv[0],
					    WIFSIGNALED(status) ? "signal" :
					    "exit status", WIFSIGNALED(status) ?
					    WTERMSIG(status) :
					    WEXITSTATUS(status));
				c[i].failed = failed = 1;
			}
			if (r >= warmup)
				c[i].usec[r - warmup] = t;
		}
	}

	printf("# contender median_us min_us max_us runs\n");
	for (i = 0; i < n; i++) {
		if (c[i].failed) {
			printf("%zu failed\n", i + 1);
			continue;
		}
		if (all)
			for (r = 0; r < rounds; r++)
				printf("# run %zu %ld %.1f\n", i + 1, r + 1,
				    c[i].usec[r]);
		qsort(c[i].usec, rounds, sizeof(double), cmp_double);
		printf("%zu %.1f %.1f %.1f %ld\n", i + 1,
		    median(c[i].usec, rounds), c[i].usec[0],
		    c[i].usec[rounds - 1], rounds);
	}
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	return failed;
}
