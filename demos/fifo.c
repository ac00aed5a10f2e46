/*
 * fifo: named pipes opened, drained and served, for scripts/demo-fifos.
 *
 * usage: fifo open path
 *        fifo spin [-k] path
 *        fifo server dir
 *        fifo client dir text
 *
 * "open" shows what opening a FIFO without blocking does (fifo(7)): a
 * write-only open with no reader fails with ENXIO, a read-only open
 * succeeds at once, and then a write-only open succeeds too.
 *
 * "spin" opens path for reading, has a client connect, write a line and
 * leave, and then polls the FIFO for 200 ms.  With the last writer gone,
 * poll(2) reports the FIFO readable at once, every time, and each read
 * returns end of file: a server loop spins.  With -k the server opens the
 * FIFO read-write, so a writer always remains and poll sleeps.
 *
 * "server" and "client" are a FIFO client/server in the seeds' style (the
 * FIFO transport of the chat hub is built the same way).  The server
 * listens on dir/lobby, which it holds open read-write so that it never
 * sees end of file.  A client makes its own FIFO dir/PID, opens it for
 * reading, sends "PID text" to the lobby in one write of at most PIPE_BUF
 * bytes (so requests from many clients never interleave), and waits at
 * most 2 seconds for the reply.  The server answers on dir/PID, opened
 * without blocking: a client that has gone costs it an ENXIO, never a
 * hang.  A client with no server gets ENXIO or ENOENT at once, not a hang.
 * A lobby left by a server that was killed is found stale (nobody reads
 * it) and replaced; one that a live server reads is refused.
 *
 * The server catches SIGTERM, SIGINT and SIGHUP with libpipevisor: they
 * end its blocking read (pv_sig_read), and it removes the lobby and exits
 * 0.  The other modes react to no signal.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"

#define SPIN_MS		200
#define REPLY_MS	2000

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: fifo open path\n"
	    "       fifo spin [-k] path\n"
	    "       fifo server dir\n"
	    "       fifo client dir text\n", stderr);
	exit(2);
}

/* Returns the milliseconds of CPU time this process has used. */
static long
cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return -1;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Returns the milliseconds elapsed on the monotonic clock since start. */
static long
since_ms(const struct timespec *start)
{
	struct timespec now;

	pv_now(&now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Shows the three non-blocking opens of fifo(7). */
static int
fifo_open(const char *path)
{
	int r, w;

	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) != -1)
		errx(1, "%s: somebody is already reading it", path);
	printf("fifo: open(O_WRONLY|O_NONBLOCK) with no reader: %s (%s)\n",
	    errno == ENXIO ? "ENXIO" : "error", strerror(errno));
	if ((r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	printf("fifo: open(O_RDONLY|O_NONBLOCK) with no writer: fd %d, at "
	    "once\n", r);
	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	printf("fifo: open(O_WRONLY|O_NONBLOCK) now that a reader exists: "
	    "fd %d\n", w);
	close(w);
	close(r);
	return 0;
}

/* Counts poll wakeups on a FIFO whose only writer has left. */
static int
fifo_spin(const char *path, int keep)
{
	struct pollfd pfd;
	struct timespec start;
	char buf[512];
	long cpu0, left, wakeups = 0, eofs = 0;
	ssize_t n;
	int r, w;

	r = open(path, (keep ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_CLOEXEC);
	if (r == -1)
		err(1, "%s", path);
	printf("fifo: server opened %s %s\n", path, keep ?
	    "read-write: it is a writer too" : "read-only");
	/* A client connects, writes one line and leaves. */
	if ((w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	if (write(w, "hello\n", 6) != 6)
		err(1, "write");
	close(w);
	printf("fifo: a client wrote \"hello\" and closed its end\n");

	cpu0 = cpu_ms();
	pv_now(&start);
	pfd.fd = r;
	pfd.events = POLLIN;
	while ((left = SPIN_MS - since_ms(&start)) > 0) {
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		wakeups++;
		if ((n = read(r, buf, sizeof(buf))) == 0)
			eofs++;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			err(1, "read");
	}
	printf("fifo: in %d ms poll() woke the server %ld times; %ld reads "
	    "returned end of file; CPU used: %ld ms\n", SPIN_MS, wakeups,
	    eofs, cpu_ms() - cpu0);
	close(r);
	return 0;
}

/*
 * Makes dir/lobby, replacing a stale one (a FIFO of ours that nobody
 * reads) but never a live server's.  Returns 0, or -1 with a message.
 * XXX: two servers starting at the same instant could both replace it; a
 * lock file (flock) closes that race.
 */
static int
lobby_make(const char *lobby)
{
	struct stat st;
	int fd;

	if (mkfifo(lobby, 0600) == 0)
		return 0;
	if (errno != EEXIST) {
		warn("%s", lobby);
		return -1;
	}
	if (lstat(lobby, &st) == -1 || !S_ISFIFO(st.st_mode) ||
	    st.st_uid != geteuid()) {
		warnx("%s: exists and is not a FIFO of ours; not touching it",
		    lobby);
		return -1;
	}
	if ((fd = open(lobby, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) != -1) {
		close(fd);
		warnx("%s: a live server reads it; refusing to start", lobby);
		return -1;
	}
	if (errno != ENXIO) {
		warn("%s", lobby);
		return -1;
	}
	printf("fifo: %s is stale (nobody reads it, ENXIO): replacing it\n",
	    lobby);
	if (unlink(lobby) == -1 || mkfifo(lobby, 0600) == -1) {
		warn("%s", lobby);
		return -1;
	}
	return 0;
}

/* Answers one request line "PID text" on the client's own FIFO. */
static void
server_answer(const char *dir, char *req)
{
	char path[PATH_MAX], reply[PIPE_BUF];
	const char *errstr, *text;
	char *sp;
	size_t i;
	long long pid;
	int fd, n;

	if ((sp = strchr(req, ' ')) == NULL) {
		printf("fifo: server: malformed request ignored\n");
		return;
	}
	*sp = '\0';
	text = sp + 1;
	/* A number only: a name from a client never becomes a path. */
	pid = strtonum(req, 1, INT_MAX, &errstr);
	if (errstr != NULL) {
		printf("fifo: server: bad pid in request ignored\n");
		return;
	}
	printf("fifo: server: request from %lld: %s\n", pid, text);
	n = snprintf(reply, sizeof(reply), "reply to %lld: ", pid);
	for (i = 0; text[i] != '\0' && (size_t)n < sizeof(reply) - 2; i++)
		reply[n++] = (char)(text[i] >= 'a' && text[i] <= 'z' ?
		    text[i] - 'a' + 'A' : text[i]);
	reply[n++] = '\n';
	snprintf(path, sizeof(path), "%s/%lld", dir, pid);
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		printf("fifo: server: %s: %s: reply dropped, no hang\n", path,
		    errno == ENXIO ? "no reader (ENXIO)" : strerror(errno));
		return;
	}
	if (pv_write_all(fd, reply, (size_t)n) == -1)
		printf("fifo: server: %s: %s\n", path, strerror(errno));
	close(fd);
}

/* Serves dir/lobby until a stop signal. */
static int
fifo_server(const char *dir)
{
	char lobby[PATH_MAX], buf[4 * PIPE_BUF], *nl;
	size_t len = 0;
	ssize_t n;
	int fd, sig;

	if (pv_sig_init() == -1 || pv_sig_catch(SIGTERM) == -1 ||
	    pv_sig_catch(SIGINT) == -1 || pv_sig_catch(SIGHUP) == -1)
		err(1, "signals");
	snprintf(lobby, sizeof(lobby), "%s/lobby", dir);
	if (lobby_make(lobby) == -1)
		return 1;
	/* Read-write: we are a writer too, so no end of file, no spin. */
	if ((fd = open(lobby, O_RDWR | O_CLOEXEC)) == -1)
		err(1, "%s", lobby);
	printf("fifo: server %ld listening on %s\n", (long)getpid(), lobby);
	for (;;) {
		n = pv_sig_read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR) {
			if ((sig = pv_sig_take()) == 0)
				continue;
			unlink(lobby);
			printf("fifo: server: SIG%s: removed %s, bye\n",
			    pv_signal_name(sig), lobby);
			return 0;
		}
		if (n <= 0)
			err(1, "%s", lobby);
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			server_answer(dir, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1)
			len = 0;	/* An overlong request: drop it. */
	}
}

/* Sends one request and prints the reply. */
static int
fifo_client(const char *dir, const char *text)
{
	char mine[PATH_MAX], lobby[PATH_MAX], req[PIPE_BUF], reply[PIPE_BUF];
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;
	int lfd, rfd, reqlen, status = 1;

	snprintf(mine, sizeof(mine), "%s/%ld", dir, (long)getpid());
	snprintf(lobby, sizeof(lobby), "%s/lobby", dir);
	reqlen = snprintf(req, sizeof(req), "%ld %s\n", (long)getpid(), text);
	if (reqlen < 0 || (size_t)reqlen >= sizeof(req))
		errx(1, "request longer than PIPE_BUF (%d bytes)", PIPE_BUF);
	if (mkfifo(mine, 0600) == -1)
		err(1, "%s", mine);
	/* Open ours first, so the server's non-blocking open finds us. */
	if ((rfd = open(mine, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		warn("%s", mine);
		goto fail;
	}
	if ((lfd = open(lobby, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		printf("fifo: client %ld: no server: %s: %s\n",
		    (long)getpid(), lobby, errno == ENXIO ?
		    "nobody reads it (ENXIO)" : strerror(errno));
		goto fail;
	}
	/* One write of at most PIPE_BUF bytes is never interleaved. */
	if (write(lfd, req, (size_t)reqlen) != reqlen) {
		warn("%s", lobby);
		close(lfd);
		goto fail;
	}
	close(lfd);
	pfd.fd = rfd;
	pfd.events = POLLIN;
	while (got < sizeof(reply) - 1 && memchr(reply, '\n', got) == NULL) {
		if (poll(&pfd, 1, REPLY_MS) <= 0) {
			printf("fifo: client %ld: no reply within %d ms\n",
			    (long)getpid(), REPLY_MS);
			goto fail;
		}
		n = read(rfd, reply + got, sizeof(reply) - 1 - got);
		if (n == 0)
			break;
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			warn("%s", mine);
			goto fail;
		}
		if (n > 0)
			got += (size_t)n;
	}
	reply[got] = '\0';
	printf("fifo: client %ld got: %s", (long)getpid(), reply);
	status = 0;
fail:
	if (rfd != -1)
		close(rfd);
	unlink(mine);
	return status;
}

/* Runs the chosen mode. */
int
main(int argc, char *argv[])
{
	int keep = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	if (strcmp(argv[1], "open") == 0 && argc == 3)
		return fifo_open(argv[2]);
	if (strcmp(argv[1], "spin") == 0) {
		if (argc == 4 && strcmp(argv[2], "-k") == 0)
			keep = 1;
		else if (argc != 3)
			usage();
		return fifo_spin(argv[argc - 1], keep);
	}
	if (strcmp(argv[1], "server") == 0 && argc == 3)
		return fifo_server(argv[2]);
	if (strcmp(argv[1], "client") == 0 && argc == 4)
		return fifo_client(argv[2], argv[3]);
	usage();
}
