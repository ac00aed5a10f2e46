/*
 * test_http.c: unit tests of http.c and net.c.  An http server runs on a
 * pv_loop in this process; forked client children talk to it over
 * loopback and hand back what they received through a pipe the loop
 * watches.  Checked: 200 with body and Content-Length and the fixed
 * headers, HEAD without a body, the handler's 404 and the path without
 * its query, 500 from a failing handler, 405 with Allow for POST, 400 and
 * 505, 414 and 431 for requests past 8 KiB (answered in full although
 * the client sent more), a client that sends nothing or trickles bytes
 * closed at the 5 s deadline, a client that does not read an 8 MiB page
 * not blocking another client, concurrent clients, EMFILE on accept
 * turning clients away without spinning, no fd leaked over many
 * requests; net_listen's addresses, flags and one-line errors;
 * net_listen_unix's mode, refusing a regular file or a live socket and
 * replacing a stale one; net_peer.  No signal is caught.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "check.h"

#define BIG_SIZE	(8 * 1024 * 1024)

/* How a client child behaves. */
#define CL_SILENT	0x1	/* connect, send nothing, read to EOF */
#define CL_TRICKLE	0x2	/* send the request a byte every 300 ms */
#define CL_SLOWREAD	0x4	/* wait 600 ms before reading */

struct client {
	pid_t		 pid;
	int		 fd;		/* pipe from the child */
	char		*buf;		/* what the child received */
	size_t		 len, cap;
	int		 eof;
	int		 shed;		/* turned away in test_emfile */
	long long	 t0, t_end;	/* ms: fork, end of its data */
};

struct handler_ctx {
	int	 calls;
	char	 path[256];
	char	*big;
};

static int http_port;

/* Answers "/", "/big", "/fail", "/inject"; 404 for the rest. */
static int
handler(const char *path, struct http_response *resp, void *arg)
{
	struct handler_ctx *ctx = arg;

	ctx->calls++;
	strlcpy(ctx->path, path, sizeof(ctx->path));
	if (strcmp(path, "/") == 0) {
		resp->body = strdup("hello\n");
		resp->len = 6;
		resp->content_type = "text/plain; charset=utf-8";
		return 0;
	}
	if (strcmp(path, "/big") == 0) {
		if ((resp->body = malloc(BIG_SIZE)) == NULL)
			return -1;
		memcpy(resp->body, ctx->big, BIG_SIZE);
		resp->len = BIG_SIZE;
		resp->content_type = "application/octet-stream";
		return 0;
	}
	if (strcmp(path, "/fail") == 0)
		return -1;
	if (strcmp(path, "/inject") == 0) {
		resp->body = strdup("x");
		resp->len = 1;
		resp->content_type = "text/plain\r\nSet-Cookie: a=b";
		return 0;
	}
	resp->status = 404;
	resp->body = strdup("no such page\n");
	resp->len = 13;
	return 0;
}

/* Connects to 127.0.0.1:port; the child's side. */
static int
client_connect(int port)
{
	struct sockaddr_in sin;
	int fd, small = 4096;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	/* A small window, so a big page fills the server's socket. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The client child: send req as mode says, copy the reply to fd 3. */
static void __attribute__((noreturn))
client_child(const char *req, size_t len, int mode)
{
	char buf[65536];
	ssize_t n;
	size_t i;
	int fd;

	if ((fd = client_connect(http_port)) == -1)
		_exit(2);
	if (mode & CL_TRICKLE) {
		for (i = 0; i < len; i++) {
			if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
				break;
			check_pause_ms(300);
		}
	} else if (!(mode & CL_SILENT))
		/* May fail part way: the server stops reading at 8 KiB. */
		(void)!send(fd, req, len, MSG_NOSIGNAL);
	if (mode & CL_SLOWREAD)
		check_pause_ms(600);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write(3, buf, (size_t)n) != n)
			_exit(3);
	}
	_exit(0);
}

/* Collects what a client child sends back. */
static void
on_client_data(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct client *cl = arg;
	ssize_t n;

	(void)events;
	if (cl->cap - cl->len < 65536) {
		cl->cap = cl->cap * 2 + 65536;
		if ((cl->buf = realloc(cl->buf, cl->cap + 1)) == NULL)
			abort();
	}
	n = read(fd, cl->buf + cl->len, cl->cap - cl->len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		cl->len += (size_t)n;
		cl->buf[cl->len] = '\0';
		return;
	}
	cl->eof = 1;
	cl->t_end = check_now_ms();
	pv_loop_del_fd(loop, fd);
	close(fd);
	cl->fd = -1;
}

/* Starts a client child; its reply arrives while the loop runs. */
static struct client *
client_start(struct pv_loop *loop, const char *req, size_t len, int mode)
{
	struct client *cl;
	int p[2];

	REQUIRE((cl = calloc(1, sizeof(*cl))) != NULL);
	REQUIRE((cl->buf = malloc(1)) != NULL);
	cl->buf[0] = '\0';
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	cl->t0 = check_now_ms();
	REQUIRE((cl->pid = fork()) != -1);
	if (cl->pid == 0) {
		/*
		 * Keep only the pipe: a copy of a server socket held here
		 * would keep that connection open after the server closed it.
		 */
		if (dup2(p[1], 3) == -1)
			_exit(4);
		closefrom(4);
		client_child(req, len, mode);
	}
	close(p[1]);
	cl->fd = p[0];
	REQUIRE(pv_loop_add_fd(loop, cl->fd, PV_READ, on_client_data, cl) ==
	    0);
	return cl;
}

/* Runs the loop until the client has finished; returns its exit code. */
static int
client_wait(struct pv_loop *loop, struct client *cl)
{
	int status;

	while (!cl->eof)
		REQUIRE(pv_loop_once(loop) == 0);
	while (waitpid(cl->pid, &status, 0) == -1 && errno == EINTR)
		continue;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Frees a finished client. */
static void
client_free(struct client *cl)
{
	free(cl->buf);
	free(cl);
}

/* Sends req and returns the whole reply (the caller frees it). */
static char *
request(struct pv_loop *loop, const char *req, size_t *lenp)
{
	struct client *cl;
	char *reply;

	cl = client_start(loop, req, strlen(req), 0);
	CHECK_EQ(client_wait(loop, cl), 0);
	reply = cl->buf;
	if (lenp != NULL)
		*lenp = cl->len;
	free(cl);
	return reply;
}

/* Returns a pointer past the head of a reply, or NULL. */
static const char *
reply_body(const char *reply)
{
	const char *p = strstr(reply, "\r\n\r\n");

	return p != NULL ? p + 4 : NULL;
}

/* Tells whether the head of reply holds the header line "line". */
static int
has_header(const char *reply, const char *line)
{
	const char *body = reply_body(reply), *p;
	size_t n = strlen(line);

	for (p = strstr(reply, "\r\n"); p != NULL && p < body;
	    p = strstr(p + 2, "\r\n"))
		if (strncmp(p + 2, line, n) == 0 && p[2 + n] == '\r')
			return 1;
	return 0;
}

/* Marks a run_for timer as fired. */
static void
on_tick(struct pv_loop *loop, void *arg)
{
	(void)loop;
	*(int *)arg = 1;
}

/* Runs the loop for ms milliseconds. */
static void
run_for(struct pv_loop *loop, long ms)
{
	struct timespec when, d = { ms / 1000, (ms % 1000) * 1000000L };
	int fired = 0;

	pv_now(&when);
	when = pv_ts_add(when, d);
	REQUIRE(pv_loop_add_timer(loop, &when, on_tick, &fired) != NULL);
	while (!fired)
		REQUIRE(pv_loop_once(loop) == 0);
}

/* Counts this process's open fds. */
static int
count_fds(void)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	REQUIRE((d = opendir("/proc/self/fd")) != NULL);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* The CPU time this process has used, in ms. */
static long long
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Starts the server on a free random port. */
static struct http *
start_server(struct pv_loop *loop, struct handler_ctx *ctx)
{
	struct http *h = NULL;
	char spec[64], err[256];
	int tries;

	srand((unsigned)getpid());
	for (tries = 0; tries < 50 && h == NULL; tries++) {
		http_port = 20000 + rand() % 40000;
		snprintf(spec, sizeof(spec), "127.0.0.1:%d", http_port);
		h = http_start(loop, spec, handler, ctx, err, sizeof(err));
		if (h == NULL)
			CHECK_EQ(errno, EADDRINUSE);
	}
	REQUIRE(h != NULL);
	return h;
}

/* GET, HEAD, 404, query strings, 500. */
static void
test_basic(struct pv_loop *loop, struct handler_ctx *ctx)
{
	char *r;
	size_t len;

	r = request(loop, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &len);
	CHECK(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(has_header(r, "Content-Type: text/plain; charset=utf-8"));
	CHECK(has_header(r, "Content-Length: 6"));
	CHECK(has_header(r, "Connection: close"));
	CHECK(has_header(r, "Cache-Control: no-store"));
	CHECK_STREQ(reply_body(r), "hello\n");
	CHECK_STREQ(ctx->path, "/");
	free(r);

	r = request(loop, "HEAD / HTTP/1.1\r\n\r\n", &len);
	CHECK(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(has_header(r, "Content-Length: 6"));
	CHECK_STREQ(reply_body(r), "");
	CHECK(len >= 4 && strcmp(r + len - 4, "\r\n\r\n") == 0);
	free(r);

	r = request(loop, "GET /nope?x=1&y=/ HTTP/1.0\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	CHECK(has_header(r, "Content-Length: 13"));
	CHECK_STREQ(reply_body(r), "no such page\n");
	CHECK_STREQ(ctx->path, "/nope");
	free(r);

	/* A bare LF ends lines too. */
	r = request(loop, "GET /a#frag HTTP/1.1\n\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 404 ", 13) == 0);
	CHECK_STREQ(ctx->path, "/a");
	free(r);

	r = request(loop, "GET /fail HTTP/1.1\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
	free(r);

	/* A handler's broken content type never reaches the client. */
	r = request(loop, "GET /inject HTTP/1.1\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 500 ", 13) == 0);
	CHECK(strstr(r, "Set-Cookie") == NULL);
	free(r);
}

/* 405, 400, 505: the handler is not asked. */
static void
test_errors(struct pv_loop *loop, struct handler_ctx *ctx)
{
	int calls = ctx->calls;
	char *r;

	r = request(loop, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
	    NULL);
	CHECK(strncmp(r, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	CHECK(has_header(r, "Allow: GET, HEAD"));
	CHECK(has_header(r, "Connection: close"));
	free(r);

	r = request(loop, "garbage\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	free(r);
	r = request(loop, "GET nohost HTTP/1.1\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
	free(r);
	r = request(loop, "GET / HTTP/2.0\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 505 ", 13) == 0);
	free(r);
	CHECK_EQ(ctx->calls, calls);
}

/* Requests past 8 KiB: 431 (long headers), 414 (long request line). */
static void
test_oversized(struct pv_loop *loop, struct handler_ctx *ctx)
{
	size_t n = 20000;
	char *req, *r;
	int calls = ctx->calls;

	REQUIRE((req = malloc(n + 1)) != NULL);
	/* 20 KB of headers: more than the server reads. */
	memset(req, 'a', n);
	memcpy(req, "GET / HTTP/1.1\r\nX-Long: ", 24);
	memcpy(req + n - 4, "\r\n\r\n", 4);
	req[n] = '\0';
	r = request(loop, req, NULL);
	CHECK(strncmp(r, "HTTP/1.1 431 Request Header Fields Too Large\r\n",
	    46) == 0);
	CHECK(has_header(r, "Connection: close"));
	free(r);

	memset(req, 'a', n);
	memcpy(req, "GET /", 5);
	memcpy(req + n - 4, "\r\n\r\n", 4);
	r = request(loop, req, NULL);
	CHECK(strncmp(r, "HTTP/1.1 414 URI Too Long\r\n", 27) == 0);
	free(r);
	free(req);
	CHECK_EQ(ctx->calls, calls);
}

/* A client that does not read does not hold up another one. */
static void
test_slow_reader(struct pv_loop *loop, struct handler_ctx *ctx)
{
	static const char big[] = "GET /big HTTP/1.1\r\n\r\n";
	static const char one[] = "GET / HTTP/1.1\r\n\r\n";
	struct client *slow, *fast;
	const char *body;

	slow = client_start(loop, big, strlen(big), CL_SLOWREAD);
	/* Let the server meet the full socket first. */
	while (ctx->calls == 0 || strcmp(ctx->path, "/big") != 0)
		REQUIRE(pv_loop_once(loop) == 0);
	fast = client_start(loop, one, strlen(one), 0);
	CHECK_EQ(client_wait(loop, fast), 0);
	CHECK(!slow->eof);
	CHECK(strncmp(fast->buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_EQ(client_wait(loop, slow), 0);
	CHECK(fast->t_end < slow->t_end);
	CHECK(has_header(slow->buf, "Content-Length: 8388608"));
	CHECK(has_header(slow->buf, "Content-Type: application/octet-stream"));
	body = reply_body(slow->buf);
	REQUIRE(body != NULL);
	CHECK_EQ(slow->len - (size_t)(body - slow->buf), BIG_SIZE);
	CHECK(memcmp(body, ctx->big, BIG_SIZE) == 0);
	client_free(slow);
	client_free(fast);
}

/* Twenty clients at once each get their answer. */
static void
test_concurrent(struct pv_loop *loop)
{
	static const char req[] = "GET / HTTP/1.1\r\n\r\n";
	struct client *cl[20];
	size_t i;
	int ok = 0;

	for (i = 0; i < 20; i++)
		cl[i] = client_start(loop, req, strlen(req), 0);
	for (i = 0; i < 20; i++) {
		CHECK_EQ(client_wait(loop, cl[i]), 0);
		ok += strncmp(cl[i]->buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
		    strcmp(reply_body(cl[i]->buf), "hello\n") == 0;
		client_free(cl[i]);
	}
	CHECK_EQ(ok, 20);
}

/* Many requests one after another leave no fd behind. */
static void
test_no_leak(struct pv_loop *loop)
{
	int before, after = -1, i, ok = 0;
	long long deadline;
	char *r;

	before = count_fds();
	for (i = 0; i < 150; i++) {
		r = request(loop, i % 3 == 0 ? "HEAD / HTTP/1.1\r\n\r\n" :
		    i % 3 == 1 ? "GET /x HTTP/1.1\r\n\r\n" :
		    "POST / HTTP/1.1\r\n\r\n", NULL);
		ok += strncmp(r, "HTTP/1.1 ", 9) == 0;
		free(r);
	}
	CHECK_EQ(ok, 150);
	/* The server closes each after the client's end of file. */
	deadline = check_now_ms() + 2000;
	while (check_now_ms() < deadline && (after = count_fds()) != before)
		run_for(loop, 20);
	CHECK_EQ(after, before);
}

/*
 * Out of fds: the excess clients are accepted and closed at once, the
 * loop does not spin, and the server works again once fds are back.
 * The clients it kept, which send nothing, are left for test_deadline.
 */
static void
test_emfile(struct pv_loop *loop, struct client **idle, size_t nidle)
{
	struct rlimit saved, low;
	long long cpu0, cpu;
	size_t i, shed = 0;
	int fd, nfree;

	for (i = 0; i < nidle; i++)
		idle[i] = client_start(loop, "", 0, CL_SILENT);
	/*
	 * A limit that leaves exactly two free fds (accept takes the
	 * lowest free one; inherited fds may sit anywhere).
	 */
	for (fd = 0, nfree = 0; fd < 1024 && nfree < 2; fd++)
		if (fcntl(fd, F_GETFD) == -1)
			nfree++;
	REQUIRE(nfree == 2);
	REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	low = saved;
	low.rlim_cur = (rlim_t)fd;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
	cpu0 = cpu_ms();
	run_for(loop, 1000);
	cpu = cpu_ms() - cpu0;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
	for (i = 0; i < nidle; i++) {
		idle[i]->shed = idle[i]->eof;
		shed += idle[i]->shed;
	}
	/*
	 * Some were turned away, some taken: two fds were free, and each
	 * client that ends frees the pipe the test reads it by.
	 */
	CHECK(shed >= 2);
	CHECK(shed <= nidle - 2);
	if (shed < 2 || shed > nidle - 2)
		fprintf(stderr, "test_emfile: %zu of %zu shed\n", shed,
		    nidle);
	CHECK(cpu < 200);
	if (cpu >= 200)
		fprintf(stderr, "test_emfile: %lld ms of CPU in 1 s\n", cpu);
}

/*
 * How late a close at the 5 s deadline may be seen, in ms: a starved
 * machine delays both the server's timer and the test's reading of the
 * close.
 */
#define DEADLINE_LATEST	10000

/* The silent and trickling clients are closed at the 5 s deadline. */
static void
test_deadline(struct pv_loop *loop, struct client **idle, size_t nidle,
    struct client *trickle)
{
	long long took;
	size_t i, kept = 0;

	for (i = 0; i < nidle; i++) {
		/*
		 * Shed as test_emfile saw it: on a starved machine the tests
		 * in between can outlast the deadline, which ends the kept
		 * clients too before this loop looks at them.
		 */
		CHECK_EQ(client_wait(loop, idle[i]), 0);
		took = idle[i]->t_end - idle[i]->t0;
		if (!idle[i]->shed) {
			kept++;
			CHECK(took >= 4900 && took < DEADLINE_LATEST);
			if (took < 4900 || took >= DEADLINE_LATEST)
				fprintf(stderr, "idle client closed after "
				    "%lld ms\n", took);
		}
		CHECK_STREQ(idle[i]->buf, "");
		client_free(idle[i]);
	}
	CHECK(kept >= 1);
	CHECK_EQ(client_wait(loop, trickle), 0);
	took = trickle->t_end - trickle->t0;
	CHECK(took >= 4900 && took < DEADLINE_LATEST);
	CHECK_STREQ(trickle->buf, "");
	client_free(trickle);
}

/* The http server over loopback. */
static void
test_http(void)
{
	static const char slow_req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct handler_ctx ctx;
	struct pv_loop *loop;
	struct http *h;
	struct client *idle[8], *trickle;
	char *r;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	REQUIRE((ctx.big = malloc(BIG_SIZE)) != NULL);
	for (i = 0; i < BIG_SIZE; i++)
		ctx.big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	REQUIRE((loop = pv_loop_new()) != NULL);
	h = start_server(loop, &ctx);

	/* First, so their 5 s deadline runs while the rest is tested. */
	test_emfile(loop, idle, 8);
	trickle = client_start(loop, slow_req, strlen(slow_req), CL_TRICKLE);
	r = request(loop, "GET / HTTP/1.1\r\n\r\n", NULL);
	CHECK(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);	/* recovered */
	free(r);

	test_basic(loop, &ctx);
	test_errors(loop, &ctx);
	test_oversized(loop, &ctx);
	ctx.calls = 0;
	ctx.path[0] = '\0';
	test_slow_reader(loop, &ctx);
	test_concurrent(loop);
	test_deadline(loop, idle, 8, trickle);
	test_no_leak(loop);

	http_stop(h);
	http_stop(NULL);
	pv_loop_free(loop);
	free(ctx.big);
}

/* net_listen: address forms, flags, and one-line errors. */
static void
test_net_listen(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len;
	char err[256], spec[64];
	int fd, fd2, v;

	err[0] = 'x';
	CHECK_EQ(net_listen("x:y", SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_STREQ(err, "bad address 'x:y'");
	CHECK_EQ(net_listen("::1:80", SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_STREQ(err, "bad address '::1:80'");
	CHECK_EQ(net_listen("[::1]", SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_EQ(net_listen("127.0.0.1:", SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_EQ(net_listen("127.0.0.1:65536", SOCK_STREAM, err, sizeof(err)),
	    -1);
	CHECK_STREQ(err, "bad address '127.0.0.1:65536'");
	CHECK_EQ(net_listen(":80", SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_EQ(net_listen("example.com:80", SOCK_STREAM, err, sizeof(err)),
	    -1);
	CHECK_STREQ(err, "bad address 'example.com:80'");
	CHECK_EQ(net_listen("", SOCK_STREAM, err, sizeof(err)), -1);
	/* Not an address of this machine (TEST-NET-1): bind fails. */
	CHECK_EQ(net_listen("192.0.2.1:4000", SOCK_STREAM, err, sizeof(err)),
	    -1);
	CHECK_EQ(errno, EADDRNOTAVAIL);
	CHECK_STREQ(err, "192.0.2.1:4000: Cannot assign requested address");

	/* A bare port is loopback; port 0 picks one. */
	REQUIRE((fd = net_listen("0", SOCK_STREAM, err, sizeof(err))) >= 0);
	len = sizeof(ss);
	REQUIRE(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
	CHECK_EQ(ss.ss_family, AF_INET);
	CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	len = sizeof(v);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &len) == 0 && v);
	/* The same port again: in use, said in one line. */
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(sin->sin_port));
	CHECK_EQ(net_listen(spec, SOCK_STREAM, err, sizeof(err)), -1);
	CHECK_EQ(errno, EADDRINUSE);
	{
		char want[128];

		snprintf(want, sizeof(want), "%s: Address already in use",
		    spec);
		CHECK_STREQ(err, want);
	}
	close(fd);

	REQUIRE((fd = net_listen("localhost:0", SOCK_DGRAM, err,
	    sizeof(err))) >= 0);
	len = sizeof(v);
	CHECK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
	    v == SOCK_DGRAM);
	close(fd);

	/* IPv6, where the machine has it: v6 only. */
	if ((fd = net_listen("[::1]:0", SOCK_STREAM, err, sizeof(err))) >= 0) {
		len = sizeof(v);
		CHECK(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) ==
		    0 && v);
		len = sizeof(ss);
		CHECK(getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    ss.ss_family == AF_INET6);
		close(fd);
	} else
		fprintf(stderr, "test_http: no IPv6 loopback (%s): skipped\n",
		    err);

	/* net_peer sees the client's address and port. */
	REQUIRE((fd = net_listen("127.0.0.1:0", SOCK_STREAM, err,
	    sizeof(err))) >= 0);
	len = sizeof(ss);
	REQUIRE(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
	{
		struct sockaddr_in mine;
		char host[64];
		unsigned port = 0;
		int c, a;

		REQUIRE((c = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
		REQUIRE(connect(c, (struct sockaddr *)&ss, len) == 0);
		do
			a = accept(fd, NULL, NULL);
		while (a == -1 && errno == EAGAIN);
		REQUIRE(a >= 0);
		len = sizeof(mine);
		REQUIRE(getsockname(c, (struct sockaddr *)&mine, &len) == 0);
		CHECK_EQ(net_peer(a, host, sizeof(host), &port), 0);
		CHECK_STREQ(host, "127.0.0.1");
		CHECK_EQ(port, ntohs(mine.sin_port));
		CHECK_EQ(net_peer(a, host, 4, &port), -1);	/* too small */
		close(a);
		close(c);
		fd2 = socket(AF_INET, SOCK_STREAM, 0);
		CHECK_EQ(net_peer(fd2, host, sizeof(host), &port), -1);
		CHECK_EQ(errno, ENOTCONN);
		close(fd2);
	}
	close(fd);
}

/* net_listen_unix: mode 0600, refusals, stale sockets. */
static void
test_net_unix(void)
{
	char dir[] = "/tmp/test_http.XXXXXX", path[128], longp[200];
	struct sockaddr_un sun;
	struct stat sb;
	int fd, fd2, s;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sock", dir);

	REQUIRE((fd = net_listen_unix(path)) >= 0);
	REQUIRE(lstat(path, &sb) == 0);
	CHECK(S_ISSOCK(sb.st_mode));
	CHECK_EQ(sb.st_mode & 07777, 0600);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* A live socket is never replaced. */
	CHECK_EQ(net_listen_unix(path), -1);
	CHECK_EQ(errno, EADDRINUSE);
	close(fd);
	/* Now stale (nobody listens): replaced. */
	REQUIRE((fd = net_listen_unix(path)) >= 0);
	{
		char host[64];
		unsigned port = 7;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
		REQUIRE((s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
		CHECK_EQ(connect(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
		REQUIRE((fd2 = accept(fd, NULL, NULL)) >= 0);
		CHECK_EQ(net_peer(fd2, host, sizeof(host), &port), 0);
		CHECK_STREQ(host, "");
		CHECK_EQ(port, 0);
		close(fd2);
		close(s);
	}
	close(fd);
	unlink(path);

	/* A stale socket left by a dead server (bound, never unlinked). */
	REQUIRE((s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	REQUIRE(bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(s);
	REQUIRE((fd = net_listen_unix(path)) >= 0);
	close(fd);
	unlink(path);

	/* A regular file is never removed. */
	REQUIRE((s = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0);
	CHECK_EQ(write(s, "keep", 4), 4);
	close(s);
	CHECK_EQ(net_listen_unix(path), -1);
	CHECK_EQ(errno, EEXIST);
	REQUIRE(lstat(path, &sb) == 0);
	CHECK(S_ISREG(sb.st_mode) && sb.st_size == 4);
	unlink(path);

	/* Nor is a directory. */
	REQUIRE(mkdir(path, 0700) == 0);
	CHECK_EQ(net_listen_unix(path), -1);
	CHECK_EQ(errno, EEXIST);
	rmdir(path);

	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	CHECK_EQ(net_listen_unix(longp), -1);
	CHECK_EQ(errno, ENAMETOOLONG);
	CHECK_EQ(net_listen_unix(""), -1);
	CHECK_EQ(errno, EINVAL);
	snprintf(path, sizeof(path), "%s/no/such/dir/sock", dir);
	CHECK_EQ(net_listen_unix(path), -1);
	CHECK_EQ(errno, ENOENT);
	rmdir(dir);
}

/* Runs the net and http tests under a watchdog. */
int
main(void)
{
	int fds;

	check_watchdog(60);
	REQUIRE(pv_sig_init() == 0);
	fds = count_fds();
	test_net_listen();
	test_net_unix();
	CHECK_EQ(count_fds(), fds);
	test_http();
	CHECK_EQ(count_fds(), fds);
	return check_done("test_http");
}
