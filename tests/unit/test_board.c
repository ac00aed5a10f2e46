/*
 * test_board.c: unit tests of board.c and board_render.c, the status
 * board in POSIX shared memory and its renderings.
 *
 * Round trip of create/publish/open/read; a reader in a forked child that
 * must only ever see consistent snapshots while the parent publishes as
 * fast as it can for about a second (every field of every entry derives
 * from one counter, so a torn read shows as a mismatch); board_wait woken
 * by a publish well before its timeout, timing out, returning at once on
 * a changed seq, and ended by a signal inside pv_sig_window (how `status
 * --watch` receives SIGINT); growth from 2 to 500 to 2000 services with a
 * reader and a sleeping waiter open across it; a writer that exits without
 * board_destroy leaves a stale board (also while it is a zombie, and when
 * its pid's start time differs) that board_create replaces, moving old
 * readers onto the new board; a live writer makes board_create fail with
 * EEXIST, and a fork of it cannot remove its board; short, foreign and
 * half-made objects are refused; and the four renderers against golden
 * strings, escaping included.  Board names include the test's pid, and no
 * /dev/shm object is left behind.  Only the pv_sig_window child catches a
 * signal, through sig.c.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "check.h"

#define SEC	1000000000LL

/* The test's own pid, the same in its children: names boards. */
static pid_t test_pid;

/* The board name "tbPID-what", unique to this run. */
static const char *
bname(const char *what)
{
	static char buf[8][64];
	static int next;
	char *b = buf[next++ % 8];

	snprintf(b, sizeof(buf[0]), "tb%ld-%s", (long)test_pid, what);
	return b;
}

/* The /dev/shm path of board what. */
static const char *
bpath(const char *what)
{
	static char path[128];
	char shm[96];

	if (board_shm_name(shm, sizeof(shm), bname(what)) == -1)
		return "?";
	snprintf(path, sizeof(path), "/dev/shm%s", shm);
	return path;
}

/* Returns 1 if board what exists in /dev/shm. */
static int
bexists(const char *what)
{
	struct stat st;

	return stat(bpath(what), &st) == 0;
}

/* Fills s with a service. */
static void
svc(struct board_service *s, const char *name, uint32_t state, int32_t pid,
    uint32_t restarts, int32_t last, int64_t started)
{
	memset(s, 0, sizeof(*s));
	strlcpy(s->name, name, sizeof(s->name));
	s->state = state;
	s->pid = pid;
	s->restarts = restarts;
	s->last_status = last;
	s->started = started;
	s->since = started;
}

/* Waits for child pid and returns its exit status, or -1. */
static int
child_status(pid_t pid)
{
	int ws;

	while (waitpid(pid, &ws, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* Reads one byte from fd, the child saying it is ready, within 5 s. */
static int
wait_byte(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char c;

	if (poll(&pfd, 1, 5000) != 1)
		return -1;
	return pv_read(fd, &c, 1) == 1 ? 0 : -1;
}

/* Names, state names and what board_shm_name refuses. */
static void
test_names(void)
{
	char buf[128], want[64];

	snprintf(want, sizeof(want), "/pipevisor-%lu-up",
	    (unsigned long)geteuid());
	CHECK_EQ(board_shm_name(buf, sizeof(buf), "up"), 0);
	CHECK_STREQ(buf, want);
	CHECK_EQ(board_shm_name(buf, sizeof(buf), "a.b_c-9"), 0);
	errno = 0;
	CHECK_EQ(board_shm_name(buf, sizeof(buf), ""), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(board_shm_name(buf, sizeof(buf), "a/b"), -1);
	CHECK_EQ(board_shm_name(buf, sizeof(buf), ".."), -1);
	CHECK_EQ(board_shm_name(buf, sizeof(buf), "a b"), -1);
	errno = 0;
	CHECK_EQ(board_shm_name(buf, 8, "up"), -1);
	CHECK_EQ(errno, ENAMETOOLONG);

	CHECK_STREQ(board_state_name(BOARD_STOPPED), "stopped");
	CHECK_STREQ(board_state_name(BOARD_STARTING), "starting");
	CHECK_STREQ(board_state_name(BOARD_READY), "ready");
	CHECK_STREQ(board_state_name(BOARD_BACKOFF), "backoff");
	CHECK_STREQ(board_state_name(BOARD_STOPPING), "stopping");
	CHECK_STREQ(board_state_name(BOARD_EXITED), "exited");
	CHECK_STREQ(board_state_name(BOARD_FATAL), "fatal");
	CHECK_STREQ(board_state_name(7), "unknown");
	CHECK_STREQ(board_state_name(UINT32_MAX), "unknown");
}

/* Publish, then read back what was published, from another mapping. */
static void
test_roundtrip(void)
{
	struct board_service in[3], *out = NULL;
	struct board_info info;
	struct board *w, *r;
	struct stat st;
	uint32_t seq;
	size_t n = 99;

	errno = 0;
	CHECK(board_open(bname("rt")) == NULL);
	CHECK_EQ(errno, ENOENT);

	REQUIRE((w = board_create(bname("rt"))) != NULL);
	REQUIRE(stat(bpath("rt"), &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_uid, geteuid());

	/* A new board is empty and fresh. */
	REQUIRE((r = board_open(bname("rt"))) != NULL);
	CHECK_EQ(board_read(r, &out, &n, &info), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(info.pid, getpid());
	CHECK_EQ(info.stale, 0);
	CHECK(info.started > 0);
	CHECK_EQ(info.seq % 2, 0);
	free(out);
	seq = info.seq;

	svc(&in[0], "web", BOARD_READY, 1240, 0, -1, 11 * SEC);
	svc(&in[1], "worker", BOARD_BACKOFF, 0, 3, 1, 0);
	svc(&in[2], "a-32-character-long-name-.______", BOARD_FATAL, 0,
	    UINT32_MAX, 137, INT64_MAX);
	CHECK_EQ(strlen(in[2].name), BOARD_NAMELEN - 1);
	CHECK_EQ(board_publish(w, in, 3), 0);
	out = NULL;
	REQUIRE(board_read(r, &out, &n, &info) == 0);
	CHECK_EQ(n, 3);
	CHECK(info.seq != seq);
	CHECK_EQ(info.seq % 2, 0);
	CHECK_EQ(info.stale, 0);
	if (n == 3)
		CHECK(memcmp(out, in, sizeof(in)) == 0);
	free(out);

	/* The writer reads its own board too. */
	REQUIRE(board_read(w, &out, &n, &info) == 0);
	CHECK_EQ(n, 3);
	free(out);

	/* Fewer services; the reader sees exactly those. */
	CHECK_EQ(board_publish(w, in + 1, 1), 0);
	REQUIRE(board_read(r, &out, &n, &info) == 0);
	CHECK_EQ(n, 1);
	CHECK_STREQ(out[0].name, "worker");
	free(out);

	/* A reader cannot publish; bad arguments are refused. */
	errno = 0;
	CHECK_EQ(board_publish(r, in, 1), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(board_publish(w, NULL, 1), -1);
	CHECK(board_create("no/slash") == NULL);

	board_close(r);
	board_destroy(w);
	CHECK(!bexists("rt"));
	board_close(NULL);
	board_destroy(NULL);
}

/* Snapshots of the consistency test: up to TORN_MAX entries (3.4 KB). */
#define TORN_MAX	48

/*
 * Fills a snapshot whose every field derives from counter c, cheaply
 * (no printf: the writer must spend its time publishing).
 */
static size_t
torn_fill(struct board_service *s, uint32_t c)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = 1 + c % TORN_MAX;
	int k;

	for (i = 0; i < n; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].name[0] = 'n';
		for (k = 0; k < 8; k++)
			s[i].name[1 + k] = hex[(c >> (28 - 4 * k)) & 0xf];
		s[i].name[9] = '.';
		s[i].name[10] = (char)('a' + i % 26);
		s[i].name[11] = (char)('a' + i / 26);
		s[i].state = c % 7;
		s[i].pid = (int32_t)(c & 0x7fffffff);
		s[i].restarts = c + (uint32_t)i;
		s[i].last_status = (int32_t)((c * 7 + i) & 0xffff);
		s[i].started = (int64_t)c * 5;
		s[i].since = (int64_t)c * 3 + (int64_t)i;
	}
	return n;
}

/* Returns 1 if a snapshot of n entries is one torn_fill made. */
static int
torn_ok(const struct board_service *s, size_t n, uint32_t *c)
{
	struct board_service want[TORN_MAX];

	if (n == 0 || n > TORN_MAX)
		return 0;
	*c = (uint32_t)s[0].pid;
	if (torn_fill(want, *c) != n)
		return 0;
	return memcmp(s, want, n * sizeof(*s)) == 0;
}

/*
 * The seqlock: a child reads as fast as it can while the parent publishes
 * as fast as it can; every snapshot must be whole and none older than
 * the one before.
 */
static void
test_consistency(void)
{
	struct board_service s[TORN_MAX];
	struct board *w;
	long long end;
	uint32_t c = 0;
	int p[2], status;
	long reads = 0;
	pid_t pid;

	REQUIRE((w = board_create(bname("torn"))) != NULL);
	CHECK_EQ(board_publish(w, s, torn_fill(s, c)), 0);
	REQUIRE(pipe(p) == 0);
	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		struct board_service *got;
		struct board_info info;
		struct board *r;
		uint32_t gc = 0, lastc = 0, lastseq = 0;
		size_t n;
		int bad = 0;

		close(p[0]);
		if ((r = board_open(bname("torn"))) == NULL)
			_exit(2);
		if (write(p[1], "r", 1) != 1)
			_exit(2);
		end = check_now_ms() + 10000;
		for (;;) {
			if (board_read(r, &got, &n, &info) == -1) {
				fprintf(stderr, "board_read: %s\n",
				    strerror(errno));
				_exit(2);
			}
			reads++;
			if (n == 0) {
				/* The parent's end marker. */
				free(got);
				break;
			}
			if (!torn_ok(got, n, &gc) || gc < lastc ||
			    info.seq < lastseq || info.seq % 2 != 0) {
				if (bad++ < 3)
					fprintf(stderr, "torn snapshot: n %zu "
					    "c %u last %u\n", n, gc, lastc);
			}
			lastc = gc;
			lastseq = info.seq;
			free(got);
			if (check_now_ms() > end)
				_exit(3);
		}
		if (write(p[1], &reads, sizeof(reads)) != sizeof(reads))
			_exit(2);
		_exit(bad ? 1 : 0);
	}
	close(p[1]);
	CHECK_EQ(wait_byte(p[0]), 0);
	end = check_now_ms() + 1000;
	while (check_now_ms() < end) {
		c++;
		if (board_publish(w, s, torn_fill(s, c)) == -1)
			break;
	}
	CHECK_EQ(board_publish(w, s, 0), 0);
	status = child_status(pid);
	CHECK_EQ(status, 0);
	if (pv_read(p[0], &reads, sizeof(reads)) != sizeof(reads))
		reads = 0;
	close(p[0]);
	/* Enough of both to mean something (a few thousand at least). */
	CHECK(c > 1000);
	CHECK(reads > 1000);
	if (getenv("TEST_BOARD_VERBOSE") != NULL)
		fprintf(stderr, "consistency: %u publishes, %ld reads\n", c,
		    reads);
	board_destroy(w);
}

/* A child sleeps in board_wait; how long it slept is its exit code. */
static pid_t
spawn_waiter(const char *what, int fd, long timeout_ms, int expect_n)
{
	struct timespec to = { timeout_ms / 1000, timeout_ms % 1000 * 1000000 };
	struct board_service *s;
	struct board_info info;
	struct board *r;
	long long t0, took;
	size_t n;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	if ((r = board_open(bname(what))) == NULL ||
	    board_read(r, &s, &n, &info) == -1)
		_exit(255);
	free(s);
	if (write(fd, "r", 1) != 1)
		_exit(255);
	t0 = check_now_ms();
	if (board_wait(r, info.seq, &to) == -1)
		_exit(254);
	took = check_now_ms() - t0;
	/* After any wake the board reads again: across a move too. */
	if (expect_n >= 0) {
		if (board_read(r, &s, &n, &info) == -1)
			_exit(253);
		free(s);
		if ((int)n != expect_n)
			_exit(252);
	}
	board_close(r);
	/* Tenths of a second slept, capped below the error codes. */
	_exit(took / 100 > 200 ? 200 : (int)(took / 100));
}

/* The long-running system call pv_sig_window runs for the EINTR test. */
struct wait_call {
	struct board	*b;
	uint32_t	 seq;
};

/* board_wait with no timeout, for pv_sig_window. */
static long
wait_call(void *arg)
{
	struct wait_call *w = arg;

	return board_wait(w->b, w->seq, NULL);
}

/* board_wait: woken by publish, times out, sees a changed seq, EINTR. */
static void
test_wait(void)
{
	struct board_service s[1];
	struct timespec to = { 0, 50 * 1000000 };
	struct board_info info;
	struct board_service *got;
	struct board *w, *r;
	long long t0;
	size_t n;
	int p[2], st;
	pid_t pid;

	REQUIRE((w = board_create(bname("wait"))) != NULL);
	svc(&s[0], "a", BOARD_READY, 1, 0, -1, 1);
	CHECK_EQ(board_publish(w, s, 1), 0);
	REQUIRE(pipe(p) == 0);

	/* Woken by a publish: well before the 5 s timeout. */
	pid = spawn_waiter("wait", p[1], 5000, 1);
	REQUIRE(pid != -1);
	CHECK_EQ(wait_byte(p[0]), 0);
	check_wait_asleep(pid, 2000);
	s[0].restarts = 1;
	CHECK_EQ(board_publish(w, s, 1), 0);
	st = child_status(pid);
	CHECK(st >= 0 && st < 10);

	/* Nothing published: it times out, and says 0. */
	REQUIRE((r = board_open(bname("wait"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	free(got);
	t0 = check_now_ms();
	CHECK_EQ(board_wait(r, info.seq, &to), 0);
	CHECK(check_now_ms() - t0 >= 45);
	/* A seq that is already old returns at once. */
	t0 = check_now_ms();
	CHECK_EQ(board_wait(r, info.seq + 2, NULL), 0);
	CHECK(check_now_ms() - t0 < 1000);
	board_close(r);

	/* A caught signal ends the wait inside pv_sig_window: --watch. */
	if ((pid = fork()) == 0) {
		struct wait_call wc;
		long res;

		if (pv_sig_init() == -1 || pv_sig_catch(SIGUSR1) == -1 ||
		    (r = board_open(bname("wait"))) == NULL ||
		    board_read(r, &got, &n, &info) == -1)
			_exit(2);
		free(got);
		wc.b = r;
		wc.seq = info.seq;
		if (write(p[1], "r", 1) != 1)
			_exit(2);
		res = pv_sig_window(wait_call, &wc);
		if (res != -1 || errno != EINTR)
			_exit(3);
		if (pv_sig_take() != SIGUSR1)
			_exit(4);
		/* A signal that came before the window ends it at once. */
		kill(getpid(), SIGUSR1);
		res = pv_sig_window(wait_call, &wc);
		if (res != -1 || errno != EINTR || pv_sig_take() != SIGUSR1)
			_exit(5);
		board_close(r);
		_exit(0);
	}
	REQUIRE(pid != -1);
	CHECK_EQ(wait_byte(p[0]), 0);
	check_wait_asleep(pid, 2000);
	kill(pid, SIGUSR1);
	CHECK_EQ(child_status(pid), 0);

	close(p[0]);
	close(p[1]);
	board_destroy(w);
	CHECK(!bexists("wait"));
}

/* Growth from 2 to 500 to 2000 services with readers open across it. */
static void
test_growth(void)
{
	static struct board_service s[2000];
	struct board_service *got;
	struct board_info info;
	struct board *w, *r;
	struct stat st0, st1;
	char name[BOARD_NAMELEN];
	uint32_t seq;
	size_t i, n;
	int p[2], ok, status;
	pid_t pid;

	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "svc%zu", i);
		svc(&s[i], name, BOARD_READY, (int32_t)i + 100, (uint32_t)i,
		    -1, (int64_t)i * SEC);
	}
	REQUIRE((w = board_create(bname("grow"))) != NULL);
	CHECK_EQ(board_publish(w, s, 2), 0);
	REQUIRE(stat(bpath("grow"), &st0) == 0);
	REQUIRE((r = board_open(bname("grow"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(n, 2);
	free(got);
	seq = info.seq;

	/* A sleeper on the old object is woken by the move and reads 500. */
	REQUIRE(pipe(p) == 0);
	pid = spawn_waiter("grow", p[1], 5000, 500);
	REQUIRE(pid != -1);
	CHECK_EQ(wait_byte(p[0]), 0);
	check_wait_asleep(pid, 2000);

	CHECK_EQ(board_publish(w, s, 500), 0);
	REQUIRE(stat(bpath("grow"), &st1) == 0);
	CHECK(st1.st_ino != st0.st_ino);
	CHECK(st1.st_size >= 64 + 500 * (off_t)sizeof(struct board_service));
	CHECK_EQ(st1.st_mode & 07777, 0600);
	status = child_status(pid);
	CHECK(status >= 0 && status < 10);

	/* The reader opened at the old size follows the move. */
	got = NULL;
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(n, 500);
	CHECK(info.seq != seq);
	CHECK_EQ(info.stale, 0);
	ok = n == 500 && memcmp(got, s, 500 * sizeof(*s)) == 0;
	CHECK(ok);
	free(got);

	/* Again, far past double; then fewer again: no shrinking needed. */
	CHECK_EQ(board_publish(w, s, 2000), 0);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(n, 2000);
	ok = n == 2000 && memcmp(got, s, 2000 * sizeof(*s)) == 0;
	CHECK(ok);
	free(got);
	CHECK_EQ(board_publish(w, s + 7, 3), 0);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(n, 3);
	if (n == 3)
		CHECK_STREQ(got[0].name, "svc7");
	free(got);

	/* A fresh reader sees the current object. */
	board_close(r);
	REQUIRE((r = board_open(bname("grow"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(n, 3);
	free(got);

	/* Destroy: a reader of the removed board gets ENOENT. */
	board_destroy(w);
	CHECK(!bexists("grow"));
	errno = 0;
	CHECK_EQ(board_read(r, &got, &n, &info), -1);
	CHECK_EQ(errno, ENOENT);
	/* A waiter on a removed board does not sleep. */
	CHECK_EQ(board_wait(r, info.seq, NULL), 0);
	board_close(r);
	close(p[0]);
	close(p[1]);
}

/* Returns 1 once pid is a zombie (state Z), 0 after timeout_ms. */
static int
wait_zombie(pid_t pid, long timeout_ms)
{
	long long deadline = check_now_ms() + timeout_ms;
	char path[64], buf[512], *q;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	while (check_now_ms() < deadline) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return 0;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if ((q = strrchr(buf, ')')) != NULL && q[2] == 'Z')
				return 1;
		}
		check_pause_ms(1);
	}
	return 0;
}

/* A writer gone without board_destroy leaves a stale board. */
static void
test_stale(void)
{
	struct board_service s[2], *got;
	struct board_info info;
	struct board *w, *r;
	uint64_t bogus = 12345;
	size_t n;
	pid_t pid;
	int fd;
	char shm[96];

	svc(&s[0], "left", BOARD_READY, 4321, 2, -1, 5 * SEC);
	svc(&s[1], "behind", BOARD_EXITED, 0, 0, 3, 0);
	if ((pid = fork()) == 0) {
		if ((w = board_create(bname("stale"))) == NULL ||
		    board_publish(w, s, 2) == -1)
			_exit(1);
		_exit(0);
	}
	REQUIRE(pid != -1);

	/* While the dead writer is a zombie it is no less dead. */
	CHECK(wait_zombie(pid, 5000));
	REQUIRE((r = board_open(bname("stale"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(info.stale, 1);
	CHECK_EQ(info.pid, pid);
	CHECK_EQ(n, 2);
	free(got);
	CHECK_EQ(child_status(pid), 0);

	/* Reaped: stale, and what it published is still there. */
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(info.stale, 1);
	CHECK_EQ(n, 2);
	if (n == 2)
		CHECK(memcmp(got, s, sizeof(s)) == 0);
	free(got);

	/* A new writer replaces it; the old reader moves to the new one. */
	REQUIRE((w = board_create(bname("stale"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(info.stale, 0);
	CHECK_EQ(info.pid, getpid());
	CHECK_EQ(n, 0);
	free(got);
	board_close(r);

	/*
	 * A live pid with another start time is a reused pid: stale.  The
	 * header keeps the writer's start time at byte offset 16.
	 */
	REQUIRE(board_shm_name(shm, sizeof(shm), bname("stale")) == 0);
	REQUIRE((fd = shm_open(shm, O_RDWR, 0)) != -1);
	CHECK_EQ(pwrite(fd, &bogus, sizeof(bogus), 16), (ssize_t)sizeof(bogus));
	close(fd);
	REQUIRE((r = board_open(bname("stale"))) != NULL);
	REQUIRE(board_read(r, &got, &n, &info) == 0);
	CHECK_EQ(info.pid, getpid());
	CHECK_EQ(info.stale, 1);
	free(got);
	board_close(r);
	board_destroy(w);
	CHECK(!bexists("stale"));
}

/* A live writer keeps its board: EEXIST, even for a fork of itself. */
static void
test_eexist(void)
{
	struct board *w, *w2;
	pid_t pid;

	REQUIRE((w = board_create(bname("live"))) != NULL);
	errno = 0;
	CHECK((w2 = board_create(bname("live"))) == NULL);
	CHECK_EQ(errno, EEXIST);
	board_destroy(w2);
	if ((pid = fork()) == 0) {
		errno = 0;
		if (board_create(bname("live")) != NULL || errno != EEXIST)
			_exit(1);
		/* A forked copy of the writer only unmaps. */
		board_destroy(w);
		_exit(0);
	}
	REQUIRE(pid != -1);
	CHECK_EQ(child_status(pid), 0);
	CHECK(bexists("live"));
	board_destroy(w);
	CHECK(!bexists("live"));
}

/* Makes a raw object of size bytes and mode, with header words set. */
static void
make_raw(const char *what, off_t size, mode_t mode, const uint32_t *words,
    size_t nwords)
{
	char shm[96];
	int fd;

	REQUIRE(board_shm_name(shm, sizeof(shm), bname(what)) == 0);
	REQUIRE((fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600)) != -1);
	REQUIRE(fchmod(fd, mode) == 0);
	REQUIRE(ftruncate(fd, size) == 0);
	if (nwords > 0)
		REQUIRE(pwrite(fd, words, nwords * 4, 0) ==
		    (ssize_t)(nwords * 4));
	close(fd);
}

/* Removes a raw object. */
static void
unlink_raw(const char *what)
{
	char shm[96];

	if (board_shm_name(shm, sizeof(shm), bname(what)) == 0)
		shm_unlink(shm);
}

/* Short, half-made, corrupt and foreign objects. */
static void
test_bad_objects(void)
{
	/* magic, version, pid, header size, start (2), started (2),
	 * entry size, capacity: far more entries than the object holds. */
	uint32_t hdr[10] = { 0x44427670u, 1, 1, 64, 0, 0, 0, 0,
	    (uint32_t)sizeof(struct board_service), 1000 };
	struct board *b;
	long long t0;

	/* Too short for a header: half made, then given up on. */
	make_raw("short", 10, 0600, NULL, 0);
	t0 = check_now_ms();
	errno = 0;
	CHECK(board_open(bname("short")) == NULL);
	CHECK_EQ(errno, ENOENT);
	CHECK(check_now_ms() - t0 < 5000);
	/* A writer replaces a half-made board nobody finished. */
	REQUIRE((b = board_create(bname("short"))) != NULL);
	board_destroy(b);
	CHECK(!bexists("short"));

	/* A capacity the object's size cannot hold: never mapped past. */
	hdr[2] = (uint32_t)getpid();
	make_raw("cap", 4096, 0600, hdr, 10);
	errno = 0;
	CHECK(board_open(bname("cap")) == NULL);
	CHECK_EQ(errno, EPROTO);
	/* Its pid lives (ours) but no start time to compare: EEXIST. */
	errno = 0;
	CHECK(board_create(bname("cap")) == NULL);
	CHECK_EQ(errno, EEXIST);
	unlink_raw("cap");

	/* Another layout version. */
	hdr[1] = 99;
	hdr[9] = 1;
	hdr[2] = 0;
	make_raw("ver", 4096, 0600, hdr, 10);
	errno = 0;
	CHECK(board_open(bname("ver")) == NULL);
	CHECK_EQ(errno, EPROTO);
	unlink_raw("ver");

	/* Readable by others: not trusted. */
	make_raw("mode", 4096, 0644, NULL, 0);
	errno = 0;
	CHECK(board_open(bname("mode")) == NULL);
	CHECK_EQ(errno, EPERM);
	errno = 0;
	CHECK(board_create(bname("mode")) == NULL);
	CHECK_EQ(errno, EPERM);
	unlink_raw("mode");
}

/* The renderers' fixed input: six services, now, a supervisor. */
#define NOW	(1700000000LL * SEC)

static size_t
golden_input(struct board_service *s, struct board_info *info)
{
	svc(&s[0], "web", BOARD_READY, 1240, 0, -1, NOW - 125 * SEC);
	svc(&s[1], "worker-long.name_1", BOARD_BACKOFF, 0, 3, 1,
	    NOW - 3 * SEC);
	svc(&s[2], "db", BOARD_STARTING, 77, 12, 137,
	    NOW - 3 * SEC - 999999999);
	svc(&s[3], "cron", BOARD_STOPPING, 99, 1, 200, NOW - 273600 * SEC);
	svc(&s[4], "old", BOARD_FATAL, 0, 5, 0, 0);
	svc(&s[5], "x", 99, 0, 0, 130, 0);
	memset(info, 0, sizeof(*info));
	info->pid = 4242;
	info->started = NOW - 3720 * SEC;
	info->seq = 2;
	return 6;
}

/* Text, JSON, HTML and metrics against exact expected strings. */
static void
test_render(void)
{
	struct board_service s[8];
	struct board_info info;
	size_t n = golden_input(s, &info);
	char *t;

	t = board_render_text(s, n, &info, NOW);
	CHECK_STREQ(t,
	    "supervisor pid 4242, up 1h02m\n"
	    "NAME                STATE         PID   UPTIME  RESTARTS  LAST\n"
	    "web                 ready        1240    2m05s         0  -\n"
	    "worker-long.name_1  backoff         -        -         3  exit 1\n"
	    "db                  starting       77       3s        12  "
	    "signal KILL\n"
	    "cron                stopping       99    3d04h         1  "
	    "exit 200\n"
	    "old                 fatal           -        -         5  exit 0\n"
	    "x                   unknown         -        -         0  "
	    "signal INT\n");
	free(t);

	info.stale = 1;
	t = board_render_text(s, 1, &info, NOW);
	CHECK_STREQ(t,
	    "supervisor gone (stale board), was pid 4242\n"
	    "NAME  STATE         PID   UPTIME  RESTARTS  LAST\n"
	    "web   ready        1240    2m05s         0  -\n");
	free(t);
	t = board_render_text(s, 0, &info, NOW);
	CHECK_STREQ(t,
	    "supervisor gone (stale board), was pid 4242\n"
	    "NAME  STATE         PID   UPTIME  RESTARTS  LAST\n");
	free(t);
	info.stale = 0;

	/* Uptimes at the edges of each unit. */
	svc(&s[6], "e", BOARD_READY, 1, 0, -1, NOW - 59 * SEC);
	svc(&s[7], "f", BOARD_READY, 1, 0, -1, NOW + 5 * SEC);
	t = board_render_text(s + 6, 2, &info, NOW);
	CHECK(t != NULL && strstr(t, "\ne     ready           1      59s") !=
	    NULL);
	CHECK(t != NULL && strstr(t, "\nf     ready           1       0s") !=
	    NULL);
	free(t);
	s[6].started = NOW - 60 * SEC;
	s[7].started = NOW - 86399 * SEC;
	t = board_render_text(s + 6, 2, &info, NOW);
	CHECK(t != NULL && strstr(t, "  1m00s  ") != NULL);
	CHECK(t != NULL && strstr(t, "  23h59m  ") != NULL);
	free(t);

	t = board_render_json(s, n, &info, NOW);
	CHECK_STREQ(t,
	    "{\"supervisor\":{\"pid\":4242,\"started\":1699996280,"
	    "\"stale\":false},\"services\":["
	    "{\"name\":\"web\",\"state\":\"ready\",\"pid\":1240,"
	    "\"uptime_seconds\":125,\"restarts\":0,\"last_status\":null},"
	    "{\"name\":\"worker-long.name_1\",\"state\":\"backoff\","
	    "\"pid\":null,\"uptime_seconds\":null,\"restarts\":3,"
	    "\"last_status\":1},"
	    "{\"name\":\"db\",\"state\":\"starting\",\"pid\":77,"
	    "\"uptime_seconds\":3,\"restarts\":12,\"last_status\":137},"
	    "{\"name\":\"cron\",\"state\":\"stopping\",\"pid\":99,"
	    "\"uptime_seconds\":273600,\"restarts\":1,\"last_status\":200},"
	    "{\"name\":\"old\",\"state\":\"fatal\",\"pid\":null,"
	    "\"uptime_seconds\":null,\"restarts\":5,\"last_status\":0},"
	    "{\"name\":\"x\",\"state\":\"unknown\",\"pid\":null,"
	    "\"uptime_seconds\":null,\"restarts\":0,\"last_status\":130}]}\n");
	free(t);
	info.stale = 1;
	info.started = 0;
	t = board_render_json(s, 0, &info, NOW);
	CHECK_STREQ(t, "{\"supervisor\":{\"pid\":4242,\"started\":null,"
	    "\"stale\":true},\"services\":[]}\n");
	free(t);
	info.stale = 0;
	info.started = NOW - 3720 * SEC;

	t = board_render_metrics(s, 2, &info, NOW);
	CHECK_STREQ(t,
	    "# HELP pipevisor_supervisor_stale 1 if the supervisor that "
	    "wrote the board is gone.\n"
	    "# TYPE pipevisor_supervisor_stale gauge\n"
	    "pipevisor_supervisor_stale 0\n"
	    "# HELP pipevisor_service_up 1 if the service has a running "
	    "process, else 0.\n"
	    "# TYPE pipevisor_service_up gauge\n"
	    "pipevisor_service_up{service=\"web\"} 1\n"
	    "pipevisor_service_up{service=\"worker-long.name_1\"} 0\n"
	    "# HELP pipevisor_service_state 1 for the service's current "
	    "state, 0 for the others.\n"
	    "# TYPE pipevisor_service_state gauge\n"
	    "pipevisor_service_state{service=\"web\",state=\"stopped\"} 0\n"
	    "pipevisor_service_state{service=\"web\",state=\"starting\"} 0\n"
	    "pipevisor_service_state{service=\"web\",state=\"ready\"} 1\n"
	    "pipevisor_service_state{service=\"web\",state=\"backoff\"} 0\n"
	    "pipevisor_service_state{service=\"web\",state=\"stopping\"} 0\n"
	    "pipevisor_service_state{service=\"web\",state=\"exited\"} 0\n"
	    "pipevisor_service_state{service=\"web\",state=\"fatal\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"stopped\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"starting\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"ready\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"backoff\"} 1\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"stopping\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"exited\"} 0\n"
	    "pipevisor_service_state{service=\"worker-long.name_1\","
	    "state=\"fatal\"} 0\n"
	    "# HELP pipevisor_service_restarts_total Times the supervisor "
	    "restarted the service.\n"
	    "# TYPE pipevisor_service_restarts_total counter\n"
	    "pipevisor_service_restarts_total{service=\"web\"} 0\n"
	    "pipevisor_service_restarts_total{service=\"worker-long.name_1\"}"
	    " 3\n"
	    "# HELP pipevisor_service_uptime_seconds Seconds the service's "
	    "current process has run, 0 if none.\n"
	    "# TYPE pipevisor_service_uptime_seconds gauge\n"
	    "pipevisor_service_uptime_seconds{service=\"web\"} 125\n"
	    "pipevisor_service_uptime_seconds{service=\"worker-long.name_1\"}"
	    " 0\n"
	    "# HELP pipevisor_service_last_exit_status Shell status of the "
	    "service's last exit (128+N: signal N), -1 if none.\n"
	    "# TYPE pipevisor_service_last_exit_status gauge\n"
	    "pipevisor_service_last_exit_status{service=\"web\"} -1\n"
	    "pipevisor_service_last_exit_status"
	    "{service=\"worker-long.name_1\"} 1\n");
	free(t);
	info.stale = 1;
	t = board_render_metrics(s, 0, &info, NOW);
	CHECK(t != NULL && strstr(t, "\npipevisor_supervisor_stale 1\n") !=
	    NULL);
	CHECK(t != NULL && strstr(t, "{") == NULL);
	free(t);
	info.stale = 0;

	t = board_render_html(s, 2, &info, NOW);
	CHECK_STREQ(t,
	    "<!DOCTYPE html>\n"
	    "<html lang=\"en\">\n"
	    "<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"refresh\" content=\"2\">\n"
	    "<title>pipevisor status</title>\n"
	    "<style>\n"
	    "body{font-family:sans-serif;margin:2em}\n"
	    "table{border-collapse:collapse}\n"
	    "th,td{padding:.25em .75em;border-bottom:1px solid #ddd;"
	    "text-align:left}\n"
	    "td.num{text-align:right}\n"
	    ".ready{color:#080}\n"
	    ".starting,.stopping,.backoff{color:#a60}\n"
	    ".exited,.fatal,.stale{color:#c00}\n"
	    ".stopped{color:#666}\n"
	    "</style>\n"
	    "</head>\n"
	    "<body>\n"
	    "<h1>pipevisor</h1>\n"
	    "<p id=\"supervisor\" class=\"live\">supervisor pid 4242, up "
	    "1h02m</p>\n"
	    "<table id=\"services\">\n"
	    "<thead><tr><th>name</th><th>state</th><th>pid</th>"
	    "<th>uptime</th><th>restarts</th><th>last</th></tr></thead>\n"
	    "<tbody>\n"
	    "<tr><td class=\"name\">web</td><td class=\"state ready\">ready"
	    "</td><td class=\"num pid\">1240</td><td class=\"num uptime\">"
	    "2m05s</td><td class=\"num restarts\">0</td><td class=\"last\">"
	    "-</td></tr>\n"
	    "<tr><td class=\"name\">worker-long.name_1</td><td class=\"state "
	    "backoff\">backoff</td><td class=\"num pid\">-</td><td class=\""
	    "num uptime\">-</td><td class=\"num restarts\">3</td><td class=\""
	    "last\">exit 1</td></tr>\n"
	    "</tbody>\n"
	    "</table>\n"
	    "</body>\n"
	    "</html>\n");
	free(t);
	info.stale = 1;
	t = board_render_html(s, 0, &info, NOW);
	CHECK(t != NULL && strstr(t, "<p id=\"supervisor\" class=\"stale\">"
	    "supervisor gone (stale board), was pid 4242</p>") != NULL);
	CHECK(t != NULL && strstr(t, "<tbody>\n</tbody>") != NULL);
	CHECK(t != NULL && strstr(t, "http://") == NULL &&
	    strstr(t, "src=") == NULL);
	free(t);
	info.stale = 0;
}

/* Names with every special character of every format, and garbage. */
static void
test_render_escapes(void)
{
	struct board_service s[2];
	struct board_info info;
	char *t;

	memset(&info, 0, sizeof(info));
	info.pid = 1;
	svc(&s[0], "a<b>&\"'\\\033[2J", BOARD_READY, 0, 0, -1, 0);
	/* A name that fills its field with no NUL is cut, not overrun. */
	svc(&s[1], "", BOARD_READY, 0, 0, -1, 0);
	memset(s[1].name, 'z', sizeof(s[1].name));

	t = board_render_text(s, 2, &info, NOW);
	CHECK(t != NULL && strstr(t, "\na<b>&\"'\\\\\\033[2J    ") != NULL);
	CHECK(t != NULL && strchr(t, '\033') == NULL);
	CHECK(t != NULL && strstr(t, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz  ")
	    != NULL);
	CHECK(t != NULL && strstr(t, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz") ==
	    NULL);
	free(t);

	t = board_render_json(s, 1, &info, NOW);
	CHECK(t != NULL && strstr(t,
	    "{\"name\":\"a<b>&\\\"'\\\\\\\\\\\\033[2J\",") != NULL);
	free(t);

	t = board_render_html(s, 1, &info, NOW);
	CHECK(t != NULL && strstr(t, "<td class=\"name\">a&lt;b&gt;&amp;"
	    "&quot;&#39;\\\\\\033[2J</td>") != NULL);
	free(t);

	t = board_render_metrics(s, 1, &info, NOW);
	CHECK(t != NULL && strstr(t, "pipevisor_service_up{service=\""
	    "a<b>&\\\"'\\\\\\\\\\\\033[2J\"} 0\n") != NULL);
	free(t);
}

/* Returns the number of /dev/shm objects this run left behind. */
static int
leftovers(void)
{
	char prefix[96];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "pipevisor-%lu-tb%ld-",
	    (unsigned long)geteuid(), (long)test_pid);
	if ((d = opendir("/dev/shm")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			fprintf(stderr, "left behind: /dev/shm/%s\n",
			    de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

int
main(void)
{
	check_watchdog(60);
	test_pid = getpid();
	test_names();
	test_roundtrip();
	test_consistency();
	test_wait();
	test_growth();
	test_stale();
	test_eexist();
	test_bad_objects();
	test_render();
	test_render_escapes();
	CHECK_EQ(leftovers(), 0);
	return check_done("test_board");
}
