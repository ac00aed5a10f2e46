/*
 * test_pipeline.c: unit tests of pipeline.c, spec.c and spawn.c, and of
 * sig_child_reset through the stages it gives a signal state.
 *
 * Program and function stages wired together; the SPEC parser (words,
 * quotes, escapes, redirections, refused shell syntax with its column; a
 * failed parse changes nothing); per-stage environment and directory;
 * redirections; passed fds; exec errors (127, 126, a program that itself
 * exits 127); pipeline statuses with and without pipefail; a deadline,
 * then stop with TERM->KILL escalation; a child the library did not start
 * keeps its status for its owner; a reset pipeline runs again as built;
 * no fd leaks into a stage; SigIgn/SigBlk
 * of stages in both signal modes, before and after pv_sig_init; ten
 * thousand function stages all reaped (RELIABILITY.md item 2); and no
 * zombie left at the end.  The test catches SIGTERM through the library
 * (so stages must not inherit that), ignores SIGUSR1 and blocks SIGUSR2
 * as an "inherited" state.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "check.h"

static char tmpdir[] = "/tmp/pv-test-pipeline.XXXXXX";
static int devnull = -1;	/* write-only, for output nobody reads */

/* Returns "tmpdir/name" in one of a few rotating static buffers. */
static const char *
tmp(const char *name)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", tmpdir, name);
	return b;
}

/* Writes s to the file path with mode. */
static void
write_file(const char *path, const char *s, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	REQUIRE(fchmod(fd, mode) == 0);
	close(fd);
}

/* Reads the file path into a static buffer ("" if it cannot). */
static const char *
read_file(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Returns an absolute monotonic deadline ms from now. */
static struct timespec
deadline_in(long ms)
{
	struct timespec now, d = { ms / 1000, (ms % 1000) * 1000000L };

	pv_now(&now);
	return pv_ts_add(now, d);
}

/*
 * Reads fd to end of file into out (NUL-terminated) within ms; returns
 * the length, or -1 if the time ran out.
 */
static ssize_t
read_all(int fd, char *out, size_t cap, long ms)
{
	long long end = check_now_ms() + ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;
	char sink[4096];

	for (;;) {
		long long left = end - check_now_ms();

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (len + 1 < cap)
			n = read(fd, out + len, cap - 1 - len);
		else
			n = read(fd, sink, sizeof(sink));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)n;
	}
	out[len] = '\0';
	return (ssize_t)len;
}

/*
 * Starts pl with /dev/null as input and a pipe from its last stage, reads
 * all of it into out, and waits (10 s at most).  Returns the pipeline's
 * status (no pipefail), -2 if it did not start, -3 if it hung.
 */
static int
run(struct pv_pipeline *pl, char *out, size_t cap)
{
	struct timespec dl;
	int null;

	out[0] = '\0';
	REQUIRE((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	pv_pipeline_set_input(pl, null);
	pv_pipeline_want_output(pl);
	if (pv_pipeline_start(pl) == -1) {
		close(null);
		return -2;
	}
	/* The pipeline dup'ed it for the stage; ours can go. */
	close(null);
	if (read_all(pv_pipeline_output_fd(pl), out, cap, 10000) == -1) {
		fprintf(stderr, "    run: output did not end in 10 s\n");
		pv_pipeline_stop(pl, SIGKILL, NULL);
		return -3;
	}
	dl = deadline_in(10000);
	if (pv_pipeline_wait(pl, &dl) == -1) {
		fprintf(stderr, "    run: wait: %s\n", strerror(errno));
		pv_pipeline_stop(pl, SIGKILL, NULL);
		return -3;
	}
	return pv_pipeline_status(pl, 0);
}

/* Builds a one-stage pipeline of argv. */
static struct pv_pipeline *
one(const char *const argv[], struct pv_stage **stp)
{
	struct pv_pipeline *pl;
	struct pv_stage *st;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE((st = pv_pipeline_add(pl, argv)) != NULL);
	if (stp != NULL)
		*stp = st;
	return pl;
}

/* Parses spec into a new pipeline, runs it and returns its status. */
static int
run_spec(const char *spec, char *out, size_t cap)
{
	struct pv_spec_error err;
	struct pv_pipeline *pl;
	int r;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	if (pv_pipeline_parse(pl, spec, 0, &err) == -1) {
		fprintf(stderr, "    parse \"%s\": %s at %zu\n", spec,
		    err.message, err.column);
		pv_pipeline_free(pl);
		return -4;
	}
	r = run(pl, out, cap);
	pv_pipeline_free(pl);
	return r;
}

/* Returns the hex value of field ("SigIgn") in /proc status text s. */
static unsigned long long
status_field(const char *s, const char *field)
{
	char key[32];
	const char *p;

	snprintf(key, sizeof(key), "%s:\t", field);
	if ((p = strstr(s, key)) == NULL)
		return ~0ULL;
	return strtoull(p + strlen(key), NULL, 16);
}

/* Returns field of this process's own /proc/self/status. */
static unsigned long long
self_field(const char *field)
{
	return status_field(read_file("/proc/self/status"), field);
}

/* The bit of signo in a /proc status mask. */
#define SIGBIT(s)	(1ULL << ((s) - 1))

/* A function stage: copies its /proc/self/status to stdout. */
static int
fn_status(void *arg)
{
	char buf[8192];
	ssize_t n;
	int fd;

	(void)arg;
	if ((fd = open("/proc/self/status", O_RDONLY)) == -1)
		return 1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (pv_write_all(1, buf, (size_t)n) == -1)
			return 1;
	close(fd);
	return 0;
}

/*
 * Runs a program stage and a function stage that print their
 * /proc/self/status in mode m; stores SigIgn/SigBlk/SigCgt of each.
 */
static void
stage_sigstate(enum pv_sigmode m, unsigned long long prog[3],
    unsigned long long func[3])
{
	static const char *const grep[] = { "grep", "-E",
	    "^Sig(Ign|Blk|Cgt)", "/proc/self/status", NULL };
	static const char *const fields[] = { "SigIgn", "SigBlk", "SigCgt" };
	struct pv_pipeline *pl;
	char out[8192];
	int i;

	pl = one(grep, NULL);
	pv_pipeline_set_sigmode(pl, m);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	for (i = 0; i < 3; i++)
		prog[i] = status_field(out, fields[i]);
	pv_pipeline_free(pl);

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "status", fn_status, NULL) != NULL);
	pv_pipeline_set_sigmode(pl, m);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	for (i = 0; i < 3; i++)
		func[i] = status_field(out, fields[i]);
	pv_pipeline_free(pl);
}

/* Sets the "inherited" state: SIGUSR1 ignored, SIGUSR2 blocked. */
static void
inherit_state(void)
{
	sigset_t m;

	signal(SIGUSR1, SIG_IGN);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
}

/* Stage signal state before pv_sig_init (RELIABILITY.md item 8). */
static void
test_sigstate_uninit(void)
{
	unsigned long long prog[3], func[3], ign, blk;

	inherit_state();
	ign = self_field("SigIgn");
	blk = self_field("SigBlk");
	REQUIRE(ign & SIGBIT(SIGUSR1));
	REQUIRE(blk & SIGBIT(SIGUSR2));

	stage_sigstate(PV_SIG_DEFAULT, prog, func);
	CHECK_EQ(prog[0], 0);
	CHECK_EQ(prog[1], 0);
	CHECK_EQ(func[0], 0);
	CHECK_EQ(func[1], 0);

	stage_sigstate(PV_SIG_INHERIT, prog, func);
	CHECK_EQ(prog[0], ign);
	CHECK_EQ(prog[1], blk);
	CHECK_EQ(func[0], ign);
	CHECK_EQ(func[1], blk);
}

/*
 * Stage signal state after pv_sig_init and a pv_sig_catch: DEFAULT is
 * all clear; INHERIT is the state the program started with, not the one
 * the library set (SIGPIPE ignored, SIGTERM caught and blocked).
 */
static void
test_sigstate_init(unsigned long long start_ign, unsigned long long start_blk)
{
	unsigned long long prog[3], func[3];

	/* What the library did to this process. */
	CHECK(self_field("SigIgn") & SIGBIT(SIGPIPE));
	CHECK(self_field("SigBlk") & SIGBIT(SIGTERM));
	CHECK(self_field("SigCgt") & SIGBIT(SIGTERM));

	stage_sigstate(PV_SIG_DEFAULT, prog, func);
	CHECK_EQ(prog[0], 0);
	CHECK_EQ(prog[1], 0);
	CHECK_EQ(func[0], 0);
	CHECK_EQ(func[1], 0);
	CHECK_EQ(func[2] & SIGBIT(SIGTERM), 0);

	stage_sigstate(PV_SIG_INHERIT, prog, func);
	CHECK_EQ(prog[0], start_ign);
	CHECK_EQ(prog[1], start_blk);
	CHECK(prog[0] & SIGBIT(SIGUSR1));
	CHECK_EQ(prog[0] & SIGBIT(SIGPIPE), 0);
	CHECK_EQ(prog[1] & SIGBIT(SIGTERM), 0);
	CHECK_EQ(func[0], start_ign);
	CHECK_EQ(func[1], start_blk);
	CHECK_EQ(func[2] & SIGBIT(SIGTERM), 0);
}

/* yes | head -n1 ends at once: yes dies of SIGPIPE (DESIGN.md 3, 8). */
static void
test_yes_head(void)
{
	struct pv_pipeline *pl;
	char out[256];
	long long t0;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_parse(pl, "yes | head -n1", 0, NULL) == 0);
	t0 = check_now_ms();
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK(check_now_ms() - t0 < 5000);
	CHECK_STREQ(out, "y\n");
	CHECK(WIFSIGNALED(pv_stage_status(pv_pipeline_stage(pl, 0))) &&
	    WTERMSIG(pv_stage_status(pv_pipeline_stage(pl, 0))) == SIGPIPE);
	CHECK_EQ(pv_pipeline_status(pl, 1), 128 + SIGPIPE);
	pv_pipeline_free(pl);
}

/* A function stage: writes n numbered lines with stdio. */
static int
fn_lines(void *arg)
{
	int i, n = *(int *)arg;

	for (i = 0; i < n; i++)
		printf("line %d of %d\n", i, n);
	return 0;
}

/* A function stage: copies stdin to stdout in upper case. */
static int
fn_upper(void *arg)
{
	int c;

	(void)arg;
	while ((c = getchar()) != EOF)
		putchar(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	return 0;
}

/* A function stage: exits with the code given. */
static int
fn_code(void *arg)
{
	return *(int *)arg;
}

/* Program and function stages wired together. */
static void
test_wiring(void)
{
	static const char *const wc[] = { "/usr/bin/wc", "-l", NULL };
	static const char *const echo[] = { "echo", "hello", "world", NULL };
	static const char *const cat[] = { "cat", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	struct timespec s, e;
	char out[1024];
	int n = 1000, code = 7, i;
	ssize_t len;

	/* fn | wc -l */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	CHECK_EQ(pv_pipeline_status(pl, 0), -1);
	REQUIRE((st = pv_pipeline_add_func(pl, "lines", fn_lines, &n)) != NULL);
	CHECK_STREQ(pv_stage_name(st), "lines");
	CHECK(pv_stage_argv(st) == NULL);
	CHECK_EQ(pv_stage_pid(st), 0);
	CHECK_EQ(pv_stage_status(st), -1);
	REQUIRE((st = pv_pipeline_add(pl, wc)) != NULL);
	CHECK_STREQ(pv_stage_name(st), "/usr/bin/wc");
	CHECK_EQ(pv_pipeline_count(pl), 2);
	CHECK(pv_pipeline_stage(pl, 2) == NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_EQ(strtol(out, NULL, 10), 1000);
	for (i = 0; i < 2; i++) {
		st = pv_pipeline_stage(pl, (size_t)i);
		CHECK(pv_stage_pid(st) > 0);
		CHECK_EQ(pv_stage_status(st), 0);
		CHECK(pv_stage_error(st) == NULL);
		pv_stage_times(st, &s, &e);
		CHECK(s.tv_sec > 0 || s.tv_nsec > 0);
		CHECK(pv_ts_cmp(s, e) <= 0);
	}
	CHECK_EQ(pv_pipeline_pgid(pl), pv_stage_pid(pv_pipeline_stage(pl, 0)));
	/* A started pipeline takes no more stages and does not restart. */
	errno = 0;
	CHECK(pv_pipeline_add(pl, cat) == NULL);
	CHECK_EQ(errno, EBUSY);
	errno = 0;
	CHECK_EQ(pv_pipeline_start(pl), -1);
	CHECK_EQ(errno, EBUSY);
	pv_pipeline_free(pl);

	/* echo | fn | cat */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add(pl, echo) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, NULL, fn_upper, NULL) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	CHECK_STREQ(pv_stage_name(pv_pipeline_stage(pl, 1)), "function");
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "HELLO WORLD\n");
	pv_pipeline_free(pl);

	/* A function's return value is its exit status. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "code", fn_code, &code) != NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 7);
	pv_pipeline_free(pl);

	/* Nothing to start; bad arguments. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	errno = 0;
	CHECK_EQ(pv_pipeline_start(pl), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(pv_pipeline_add_func(pl, "x", NULL, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pv_pipeline_count(pl), 0);
	pv_pipeline_free(pl);
	pv_pipeline_free(NULL);

	/* want_input: what we write comes out; the stages share a group. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "upper", fn_upper, NULL) != NULL);
	pv_pipeline_want_input(pl);
	pv_pipeline_want_output(pl);
	REQUIRE(pv_pipeline_start(pl) == 0);
	CHECK_EQ(pv_pipeline_status(pl, 0), -1);
	CHECK(pv_pipeline_pgid(pl) > 0 && pv_pipeline_pgid(pl) != getpgrp());
	for (i = 0; i < 2; i++) {
		st = pv_pipeline_stage(pl, (size_t)i);
		CHECK_EQ(getpgid(pv_stage_pid(st)), pv_pipeline_pgid(pl));
	}
	CHECK(pv_pipeline_input_fd(pl) >= 0);
	CHECK_EQ(pv_write_all(pv_pipeline_input_fd(pl), "abc\n", 4), 4);
	pv_pipeline_close_input(pl);
	CHECK_EQ(pv_pipeline_input_fd(pl), -1);
	len = read_all(pv_pipeline_output_fd(pl), out, sizeof(out), 10000);
	CHECK_EQ(len, 4);
	CHECK_STREQ(out, "ABC\n");
	CHECK_EQ(pv_pipeline_wait(pl, NULL), 0);
	CHECK_EQ(pv_pipeline_poll(pl), 0);
	CHECK_EQ(pv_pipeline_status(pl, 1), 0);
	pv_pipeline_free(pl);
}

/* set_input/set_output, and the caller's stdin by default. */
static void
test_io_ends(void)
{
	static const char *const cat[] = { "cat", NULL };
	struct pv_pipeline *pl;
	char out[256];
	int p[2], saved, fd;

	/* By default the first stage reads our stdin. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE(write(p[1], "from stdin\n", 11) == 11);
	close(p[1]);
	REQUIRE((saved = fcntl(0, F_DUPFD_CLOEXEC, 10)) >= 0);
	REQUIRE(dup2(p[0], 0) == 0);
	close(p[0]);
	pl = one(cat, NULL);
	pv_pipeline_want_output(pl);
	REQUIRE(pv_pipeline_start(pl) == 0);
	REQUIRE(dup2(saved, 0) == 0);
	close(saved);
	CHECK_EQ(read_all(pv_pipeline_output_fd(pl), out, sizeof(out), 10000),
	    11);
	CHECK_STREQ(out, "from stdin\n");
	CHECK_EQ(pv_pipeline_wait(pl, NULL), 0);
	pv_pipeline_free(pl);

	/* set_input and set_output: the caller keeps its fds. */
	write_file(tmp("in"), "set input\n", 0644);
	REQUIRE((p[0] = open(tmp("in"), O_RDONLY | O_CLOEXEC)) >= 0);
	fd = open(tmp("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	pl = one(cat, NULL);
	pv_pipeline_set_input(pl, p[0]);
	pv_pipeline_set_output(pl, fd);
	REQUIRE(pv_pipeline_start(pl) == 0);
	CHECK_EQ(pv_pipeline_wait(pl, NULL), 0);
	CHECK_EQ(pv_pipeline_status(pl, 0), 0);
	CHECK(fcntl(p[0], F_GETFD) != -1);
	CHECK(fcntl(fd, F_GETFD) != -1);
	close(p[0]);
	close(fd);
	CHECK_STREQ(read_file(tmp("out")), "set input\n");
	pv_pipeline_free(pl);
}

/* Renders a pipeline's argvs as "[w][w]|[w]" ("(fn)" for a function). */
static const char *
render(const struct pv_pipeline *pl)
{
	static char buf[4096];
	char *const *av;
	size_t i, j;

	buf[0] = '\0';
	for (i = 0; i < pv_pipeline_count(pl); i++) {
		if (i > 0)
			strlcat(buf, "|", sizeof(buf));
		av = pv_stage_argv(pv_pipeline_stage(pl, i));
		if (av == NULL) {
			strlcat(buf, "(fn)", sizeof(buf));
			continue;
		}
		for (j = 0; av[j] != NULL; j++) {
			strlcat(buf, "[", sizeof(buf));
			strlcat(buf, av[j], sizeof(buf));
			strlcat(buf, "]", sizeof(buf));
		}
	}
	return buf;
}

/* Returns 1 if spec parses (shell or not) to the rendering want. */
static int
parse_ok(const char *spec, int shell, const char *want)
{
	struct pv_spec_error err;
	struct pv_pipeline *pl;
	int r, ok;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	r = pv_pipeline_parse(pl, spec, shell, &err);
	ok = r == 0 && strcmp(render(pl), want) == 0;
	if (!ok)
		fprintf(stderr, "    parse%s \"%s\": %d \"%s\" (%s at %zu); "
		    "want \"%s\"\n", shell ? " --shell" : "", spec, r,
		    render(pl), r == 0 ? "-" : err.message, err.column, want);
	pv_pipeline_free(pl);
	return ok;
}

/*
 * Returns 1 if spec is refused with EINVAL, a message containing msg, at
 * column col (0: any column up to strlen+1), leaving the pipeline as it
 * was (one stage "keep").
 */
static int
parse_err(const char *spec, int shell, size_t col, const char *msg)
{
	static const char *const keep[] = { "keep", "it", NULL };
	struct pv_spec_error err;
	struct pv_pipeline *pl;
	int r, ok;

	pl = one(keep, NULL);
	memset(&err, 'x', sizeof(err));
	errno = 0;
	r = pv_pipeline_parse(pl, spec, shell, &err);
	ok = r == -1 && errno == EINVAL &&
	    memchr(err.message, '\0', sizeof(err.message)) != NULL &&
	    strstr(err.message, msg) != NULL &&
	    (col == 0 ? err.column >= 1 && err.column <= strlen(spec) + 1 :
	    err.column == col) &&
	    pv_pipeline_count(pl) == 1 && strcmp(render(pl), "[keep][it]") == 0;
	if (!ok)
		fprintf(stderr, "    parse%s \"%s\": %d errno %d \"%.128s\" at "
		    "%zu, pipeline \"%s\"; want \"%s\" at %zu\n",
		    shell ? " --shell" : "", spec, r, errno,
		    memchr(err.message, '\0', sizeof(err.message)) ?
		    err.message : "(unterminated)", err.column, render(pl),
		    msg, col);
	pv_pipeline_free(pl);
	return ok;
}

#define PARSE_OK(spec, want)	CHECK(parse_ok((spec), 0, (want)))
#define PARSE_SH(spec, want)	CHECK(parse_ok((spec), 1, (want)))
#define PARSE_ERR(spec, col, msg) \
	CHECK(parse_err((spec), 0, (col), (msg)))
#define PARSE_SHERR(spec, col, msg) \
	CHECK(parse_err((spec), 1, (col), (msg)))

/* The SPEC grammar, checked through the argvs it produces. */
static void
test_parse(void)
{
	struct pv_pipeline *pl;

	PARSE_OK("echo hello", "[echo][hello]");
	PARSE_OK("  echo \t a\tb  ", "[echo][a][b]");
	PARSE_OK("echo 'a b' \"c d\" e\\ f", "[echo][a b][c d][e f]");
	PARSE_OK("echo '' \"\"", "[echo][][]");
	PARSE_OK("'' x", "[][x]");
	PARSE_OK("echo a''b \"\"c", "[echo][ab][c]");
	PARSE_OK("echo a\"b\"'c'\\d", "[echo][abcd]");
	PARSE_OK("echo a\\\\b", "[echo][a\\b]");
	PARSE_OK("echo \"a\\\\b\"", "[echo][a\\b]");
	PARSE_OK("echo \"a\\b\"", "[echo][a\\b]");
	PARSE_OK("echo 'a\\b'", "[echo][a\\b]");
	PARSE_OK("echo 'a\\'", "[echo][a\\]");
	PARSE_OK("echo \\'", "[echo][']");
	PARSE_OK("echo \\\"", "[echo][\"]");
	PARSE_OK("echo \"\\\"\"", "[echo][\"]");
	PARSE_OK("echo \"it's\" 'say \"hi\"'", "[echo][it's][say \"hi\"]");
	PARSE_OK("echo \\$HOME \"\\$HOME\" '$HOME'",
	    "[echo][$HOME][$HOME][$HOME]");
	PARSE_OK("echo \"\\`x\\`\"", "[echo][`x`]");
	PARSE_OK("echo $ a$ \"$\"", "[echo][$][a$][$]");
	PARSE_OK("echo ~ * ?.c [ab] #x", "[echo][~][*][?.c][[ab]][#x]");
	PARSE_OK("echo a\\\nb", "[echo][ab]");
	PARSE_OK("echo \\\n b", "[echo][b]");
	PARSE_OK("echo \"a\nb\"", "[echo][a\nb]");
	PARSE_OK("a|b", "[a]|[b]");
	PARSE_OK(" a | b  |c ", "[a]|[b]|[c]");
	PARSE_OK("echo 'a|b' \"c|d\" e\\|f", "[echo][a|b][c|d][e|f]");
	PARSE_OK("echo \"a;b&c(d)\" 'x>y<z'", "[echo][a;b&c(d)][x>y<z]");
	/* Redirections take no argv slot. */
	PARSE_OK("echo hi 2>&1", "[echo][hi]");
	PARSE_OK("echo a2>f", "[echo][a2]");
	PARSE_OK("echo 2>f x", "[echo][x]");
	PARSE_OK("echo \"2\">f", "[echo][2]");
	PARSE_OK("echo 2 >f", "[echo][2]");
	PARSE_OK("echo \\2>f", "[echo][2]");
	PARSE_OK("<in cat >out", "[cat]");
	PARSE_OK("cat<in>out|wc -l>>f", "[cat]|[wc][-l]");
	PARSE_OK("echo a >>f 2>>g", "[echo][a]");
	PARSE_OK("echo a >|f", "[echo][a]");
	PARSE_OK("cat <>f", "[cat]");
	PARSE_OK("cat 0<&3 1>&- 2>'f g'", "[cat]");
	PARSE_OK("echo > \"f\"  x", "[echo][x]");

	PARSE_SH("echo a | tr a b",
	    "[/bin/sh][-c][echo a]|[/bin/sh][-c][tr a b]");
	PARSE_SH("echo 'a|b' | cat",
	    "[/bin/sh][-c][echo 'a|b']|[/bin/sh][-c][cat]");
	PARSE_SH("echo \"x\\\"|y\" |cat",
	    "[/bin/sh][-c][echo \"x\\\"|y\"]|[/bin/sh][-c][cat]");
	PARSE_SH("echo a\\|b", "[/bin/sh][-c][echo a\\|b]");
	PARSE_SH("  echo $HOME; ls  ", "[/bin/sh][-c][echo $HOME; ls]");

	PARSE_ERR("echo 'abc", 6, "unterminated single quote");
	PARSE_ERR("echo \"abc", 6, "unterminated double quote");
	PARSE_ERR("echo ok x'abc", 10, "unterminated single quote");
	PARSE_ERR("echo \"a'b", 6, "unterminated double quote");
	PARSE_ERR("", 1, "stage 1 is empty");
	PARSE_ERR("   ", 0, "stage 1 is empty");
	PARSE_ERR("| a", 1, "stage 1 is empty");
	PARSE_ERR("a | | b", 5, "stage 2 is empty");
	PARSE_ERR("a |", 4, "stage 2 is empty");
	PARSE_ERR("a ||b", 3, "'||'");
	PARSE_ERR("a || b", 3, "'||'");
	PARSE_ERR("a ; b", 3, "';'");
	PARSE_ERR("a;b", 2, "';'");
	PARSE_ERR("a & b", 3, "'&'");
	PARSE_ERR("a && b", 3, "'&'");
	PARSE_ERR("(a)", 1, "'('");
	PARSE_ERR("echo $HOME", 6, "'$'");
	PARSE_ERR("echo x$HOME", 7, "'$'");
	PARSE_ERR("echo \"$HOME\"", 7, "'$'");
	PARSE_ERR("echo $1 $?", 6, "'$'");
	PARSE_ERR("echo $(ls)", 6, "'$'");
	PARSE_ERR("echo ${x}", 6, "'$'");
	PARSE_ERR("echo `x`", 6, "command substitution");
	PARSE_ERR("echo a`x`", 7, "command substitution");
	PARSE_ERR("echo \"`x`\"", 7, "command substitution");
	PARSE_ERR("echo \\", 6, "backslash at the end");
	PARSE_ERR("a >", 4, "missing file name");
	PARSE_ERR("a > ", 5, "missing file name");
	PARSE_ERR("a >|", 5, "missing file name");
	PARSE_ERR("a > | b", 5, "missing file name");
	PARSE_ERR("a 2>&", 6, "missing file descriptor");
	PARSE_ERR("a 2>&x", 6, "not a file descriptor");
	PARSE_ERR("a 2>&'1'", 6, "not a file descriptor");
	PARSE_ERR("a 2>&300", 6, "not a file descriptor");
	PARSE_ERR("a > ''", 5, "empty file name");
	PARSE_ERR(">f", 1, "stage 1 has no command");
	PARSE_ERR("a | 2>&1", 5, "stage 2 has no command");
	PARSE_ERR("a 999>f", 3, "too large");
	/* A failure after good stages drops them again. */
	PARSE_ERR("a | b | 'c", 9, "unterminated single quote");
	PARSE_ERR("a | b | c ;", 11, "';'");
	PARSE_ERR("a >f | b | ", 0, "stage 3 is empty");

	PARSE_SHERR("echo 'abc", 6, "unterminated single quote");
	PARSE_SHERR("echo \"abc", 6, "unterminated double quote");
	PARSE_SHERR("a || b", 3, "'||'");
	PARSE_SHERR("", 0, "stage 1 is empty");
	PARSE_SHERR("a | | b", 0, "stage 2 is empty");
	PARSE_SHERR("a | b |", 0, "stage 3 is empty");
	PARSE_SHERR("a | b | 'c", 9, "unterminated single quote");

	/* err may be NULL; spec may not. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	errno = 0;
	CHECK_EQ(pv_pipeline_parse(pl, "'", 0, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(pv_pipeline_parse(pl, NULL, 0, NULL), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pv_pipeline_count(pl), 0);
	/* Parses append. */
	CHECK_EQ(pv_pipeline_parse(pl, "a | b", 0, NULL), 0);
	CHECK_EQ(pv_pipeline_parse(pl, "c", 1, NULL), 0);
	CHECK_STREQ(render(pl), "[a]|[b]|[/bin/sh][-c][c]");
	pv_pipeline_free(pl);
}

/* Redirections in a SPEC and through pv_stage_open/pv_stage_dup. */
static void
test_redirections(void)
{
	static const char *const echo[] = { "/bin/echo", "api", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	char spec[PATH_MAX * 2 + 64], out[1024];

	snprintf(spec, sizeof(spec),
	    "/bin/sh -c 'echo out; echo err >&2' >%s 2>&1", tmp("both"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(out, "");
	CHECK_STREQ(read_file(tmp("both")), "out\nerr\n");

	/* Order matters: 2>&1 first sends stderr to the old stdout. */
	snprintf(spec, sizeof(spec),
	    "/bin/sh -c 'echo out; echo err >&2' 2>&1 >%s", tmp("o"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(out, "err\n");
	CHECK_STREQ(read_file(tmp("o")), "out\n");

	/* "a2>f" is the word a2, then a redirection of stdout. */
	snprintf(spec, sizeof(spec), "echo a2>%s", tmp("a2"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(read_file(tmp("a2")), "a2\n");

	snprintf(spec, sizeof(spec), "/bin/sh -c 'echo e >&2' 2>%s",
	    tmp("err"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(read_file(tmp("err")), "e\n");

	snprintf(spec, sizeof(spec), "echo one >%s", tmp("app"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	snprintf(spec, sizeof(spec), "echo two >>%s", tmp("app"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(read_file(tmp("app")), "one\ntwo\n");
	snprintf(spec, sizeof(spec), "echo three >%s", tmp("app"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(read_file(tmp("app")), "three\n");

	snprintf(spec, sizeof(spec), "cat <%s | tr a-z A-Z", tmp("app"));
	CHECK_EQ(run_spec(spec, out, sizeof(out)), 0);
	CHECK_STREQ(out, "THREE\n");

	/* A redirection that fails: status 1 and the file named. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	snprintf(spec, sizeof(spec), "cat <%s", tmp("missing"));
	REQUIRE(pv_pipeline_parse(pl, spec, 0, NULL) == 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 1);
	snprintf(spec, sizeof(spec), "%s: No such file or directory",
	    tmp("missing"));
	CHECK_STREQ(pv_stage_error(pv_pipeline_stage(pl, 0)), spec);
	pv_pipeline_free(pl);

	/* The same through the API. */
	pl = one(echo, &st);
	CHECK_EQ(pv_stage_open(st, 1, tmp("api"), O_WRONLY | O_CREAT |
	    O_TRUNC), 0);
	errno = 0;
	CHECK_EQ(pv_stage_open(st, 1, "", O_RDONLY), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(pv_stage_open(st, -1, "x", O_RDONLY), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "");
	CHECK_STREQ(read_file(tmp("api")), "api\n");
	pv_pipeline_free(pl);
}

/* Per-stage environment and working directory. */
static void
test_env_chdir(void)
{
	static const char *const sh[] = { "/bin/sh", "-c",
	    "echo \"$X\"; echo \"${PVTEST_GONE-unset}\"; "
	    "echo \"$PVTEST_KEEP\"; echo \"${Y-unset}\"; pwd", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	char out[PATH_MAX + 256], want[PATH_MAX + 256], real[PATH_MAX];

	REQUIRE(setenv("PVTEST_GONE", "present", 1) == 0);
	REQUIRE(setenv("PVTEST_KEEP", "kept", 1) == 0);
	REQUIRE(realpath(tmpdir, real) != NULL);
	pl = one(sh, &st);
	CHECK_EQ(pv_stage_setenv(st, "X", "first"), 0);
	CHECK_EQ(pv_stage_setenv(st, "X", "hello world"), 0);
	CHECK_EQ(pv_stage_setenv(st, "PVTEST_GONE", NULL), 0);
	CHECK_EQ(pv_stage_setenv(st, "Y", "set"), 0);
	CHECK_EQ(pv_stage_setenv(st, "Y", NULL), 0);
	errno = 0;
	CHECK_EQ(pv_stage_setenv(st, "", "v"), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(pv_stage_setenv(st, "A=B", "v"), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pv_stage_chdir(st, tmpdir), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "hello world\nunset\nkept\nunset\n%s\n",
	    real);
	CHECK_STREQ(out, want);
	pv_pipeline_free(pl);
	/* Our own environment and directory did not change. */
	CHECK(getenv("X") == NULL);
	CHECK_STREQ(getenv("PVTEST_GONE"), "present");
	CHECK(getcwd(out, sizeof(out)) != NULL && strcmp(out, real) != 0);

	/* A stage without changes gets our environment as it is. */
	pl = one(sh, NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK(strncmp(out, "\npresent\nkept\nunset\n", 20) == 0);
	pv_pipeline_free(pl);
	unsetenv("PVTEST_GONE");
	unsetenv("PVTEST_KEEP");

	/* A directory that does not exist: status 1, named. */
	pl = one(sh, &st);
	CHECK_EQ(pv_stage_chdir(st, tmp("nodir")), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s: No such file or directory",
	    tmp("nodir"));
	CHECK_STREQ(pv_stage_error(pv_pipeline_stage(pl, 0)), want);
	pv_pipeline_free(pl);
}

/* pv_stage_pass_fd: the stage sees fd 5. */
static void
test_pass_fd(void)
{
	static const char *const sh[] = { "/bin/sh", "-c",
	    "echo via5 >&5; echo via2 >&2; echo out", NULL };
	static const char *const ls[] = { "ls", "/proc/self/fd", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	char out[256], got[256];
	int p[2], i;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	pl = one(sh, &st);
	CHECK_EQ(pv_stage_pass_fd(st, p[1], 5), 0);
	/* 0-2 are allowed too: the stage's stderr becomes the same pipe. */
	CHECK_EQ(pv_stage_pass_fd(st, p[1], 2), 0);
	errno = 0;
	CHECK_EQ(pv_stage_pass_fd(st, p[1], 256), -1);
	CHECK_EQ(errno, EBADF);
	errno = 0;
	CHECK_EQ(pv_stage_pass_fd(st, -1, 6), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "out\n");
	close(p[1]);
	CHECK_EQ(read_all(p[0], got, sizeof(got), 5000), 10);
	CHECK_STREQ(got, "via5\nvia2\n");
	close(p[0]);
	pv_pipeline_free(pl);

	/* Passed as 3, from a number that is also a pipe end in use. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	pl = one(ls, &st);
	CHECK_EQ(pv_stage_pass_fd(st, p[1], 3), 0);
	CHECK_EQ(pv_stage_pass_fd(st, p[1], 7), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	/* 0, 1, 2, 3, 7 and ls's own directory fd (4). */
	CHECK_STREQ(out, "0\n1\n2\n3\n4\n7\n");
	close(p[0]);
	close(p[1]);
	pv_pipeline_free(pl);

	/* At most PV_SPAWN_MAXPASS (16). */
	pl = one(ls, &st);
	for (i = 0; i < 16; i++)
		CHECK_EQ(pv_stage_pass_fd(st, 0, 10 + i), 0);
	errno = 0;
	CHECK_EQ(pv_stage_pass_fd(st, 0, 40), -1);
	CHECK_EQ(errno, E2BIG);
	pv_pipeline_free(pl);
}

/* Exec errors: 127 not found, 126 not executable, and look-alikes. */
static void
test_exec_errors(void)
{
	static const char *const nf[] = { "pv-no-such-command-xyz", "a", NULL };
	static const char *const nfpath[] = { "/nonexistent/pv-prog", NULL };
	static const char *const dir[] = { "/tmp", NULL };
	static const char *const e127[] = { "/bin/sh", "-c", "exit 127",
	    NULL };
	static const char *const e126[] = { "/bin/sh", "-c", "exit 126",
	    NULL };
	static const char *const empty[] = { "", NULL };
	static const char *const fb[] = { "pvtest-fallback", "arg", NULL };
	const char *noexec[] = { NULL, NULL }, *script[] = { NULL, "x", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	char out[1024], path[PATH_MAX];

	pl = one(nf, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	CHECK(WIFEXITED(pv_stage_status(st)) &&
	    WEXITSTATUS(pv_stage_status(st)) == 127);
	CHECK_STREQ(pv_stage_error(st), "command not found");
	pv_pipeline_free(pl);

	pl = one(empty, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	CHECK_STREQ(pv_stage_error(st), "command not found");
	pv_pipeline_free(pl);

	pl = one(nfpath, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	CHECK_STREQ(pv_stage_error(st), "No such file or directory");
	pv_pipeline_free(pl);

	snprintf(path, sizeof(path), "%s", tmp("noexec"));
	write_file(path, "#!/bin/sh\necho should not run\n", 0644);
	noexec[0] = path;
	pl = one(noexec, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 126);
	CHECK_STREQ(out, "");
	CHECK_STREQ(pv_stage_error(st), "Permission denied");
	pv_pipeline_free(pl);

	pl = one(dir, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 126);
	CHECK_STREQ(pv_stage_error(st), "Permission denied");
	pv_pipeline_free(pl);

	/* Programs that exit 127 or 126 themselves started fine. */
	pl = one(e127, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	CHECK(pv_stage_error(st) == NULL);
	pv_pipeline_free(pl);
	pl = one(e126, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 126);
	CHECK(pv_stage_error(st) == NULL);
	pv_pipeline_free(pl);

	/* An executable script without #! runs under /bin/sh, as execvp. */
	snprintf(path, sizeof(path), "%s", tmp("noshebang"));
	write_file(path, "echo noshebang \"$1\"\n", 0755);
	script[0] = path;
	pl = one(script, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "noshebang x\n");
	CHECK(pv_stage_error(st) == NULL);
	pv_pipeline_free(pl);

	/* The fallback path is searched after PATH. */
	write_file(tmp("pvtest-fallback"), "#!/bin/sh\necho fallback \"$1\"\n",
	    0755);
	pl = one(fb, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	pv_pipeline_free(pl);
	pl = one(fb, &st);
	CHECK_EQ(pv_pipeline_set_fallback_path(pl, tmpdir), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "fallback arg\n");
	pv_pipeline_free(pl);

	/* One stage not found in the middle: the others run. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_parse(pl, "echo hi | pv-no-such-command-xyz | "
	    "cat", 0, NULL) == 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_EQ(pv_pipeline_status(pl, 1), 127);
	CHECK(pv_stage_error(pv_pipeline_stage(pl, 0)) == NULL);
	CHECK_STREQ(pv_stage_error(pv_pipeline_stage(pl, 1)),
	    "command not found");
	CHECK(pv_stage_error(pv_pipeline_stage(pl, 2)) == NULL);
	pv_pipeline_free(pl);
}

/* Returns the status of spec with or without pipefail. */
static int
spec_status(const char *spec, int pipefail)
{
	struct pv_pipeline *pl;
	char out[256];
	int r;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_parse(pl, spec, 0, NULL) == 0);
	r = run(pl, out, sizeof(out));
	if (r >= 0)
		r = pv_pipeline_status(pl, pipefail);
	pv_pipeline_free(pl);
	return r;
}

/* pv_pipeline_status: last stage, pipefail, 128+N. */
static void
test_status(void)
{
	CHECK_EQ(spec_status("sh -c 'exit 3' | sh -c 'exit 0'", 0), 0);
	CHECK_EQ(spec_status("sh -c 'exit 3' | sh -c 'exit 0'", 1), 3);
	CHECK_EQ(spec_status("sh -c 'exit 0' | sh -c 'exit 4'", 0), 4);
	CHECK_EQ(spec_status("sh -c 'exit 0' | sh -c 'exit 4'", 1), 4);
	CHECK_EQ(spec_status("sh -c 'exit 2' | sh -c 'exit 5' | true", 0), 0);
	CHECK_EQ(spec_status("sh -c 'exit 2' | sh -c 'exit 5' | true", 1), 5);
	CHECK_EQ(spec_status("sh -c 'exit 2' | true | true", 1), 2);
	CHECK_EQ(spec_status("true | true", 1), 0);
	CHECK_EQ(spec_status("sh -c 'exit 255'", 0), 255);
	CHECK_EQ(spec_status("sh -c 'kill -TERM $$'", 0), 128 + SIGTERM);
	CHECK_EQ(spec_status("sh -c 'kill -KILL $$' | true", 0), 0);
	CHECK_EQ(spec_status("sh -c 'kill -KILL $$' | true", 1),
	    128 + SIGKILL);
	CHECK_EQ(spec_status("true | sh -c 'kill -ALRM $$'", 0),
	    128 + SIGALRM);
	/* SIGUSR2 is blocked in the state we started with: inherited. */
	CHECK_EQ(spec_status("sh -c 'kill -USR2 $$; exit 9'", 0), 9);
}

/*
 * Returns how many live (not zombie) processes are in group pgid.  Not
 * kill(-pgid, 0): an orphan stays a zombie where PID 1 does not reap.
 */
static int
group_alive(pid_t pgid)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	long pgrp;
	ssize_t n;
	DIR *d;
	int fd, live = 0;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* ") S ppid pgrp ..." after the command name. */
		if ((p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 2, "%*c %*d %ld", &pgrp) != 1)
			continue;
		if (pgrp == (long)pgid && p[2] != 'Z' && p[2] != 'X')
			live++;
	}
	closedir(d);
	return live;
}

/* pv_pipeline_wait with a deadline; stop with TERM->KILL escalation. */
static void
test_wait_stop(void)
{
	static const char *const stubborn[] = { "/bin/sh", "-c",
	    "trap '' TERM; echo ready; sleep 100; echo not-killed", NULL };
	static const char *const polite[] = { "sleep", "100", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	struct timespec dl, grace = { 0, 300000000 };
	char out[64];
	long long t0, took;
	pid_t pgid;
	int null, n;

	pl = one(stubborn, &st);
	REQUIRE((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	pv_pipeline_set_input(pl, null);
	pv_pipeline_want_output(pl);
	REQUIRE(pv_pipeline_start(pl) == 0);
	close(null);
	pgid = pv_pipeline_pgid(pl);
	/* The trap is set once "ready" is out. */
	{
		struct pollfd pfd = { pv_pipeline_output_fd(pl), POLLIN, 0 };
		size_t len = 0;

		while (len < 6 && poll(&pfd, 1, 5000) == 1 &&
		    (n = (int)read(pfd.fd, out + len, 6 - len)) > 0)
			len += (size_t)n;
		out[len] = '\0';
	}
	CHECK_STREQ(out, "ready\n");

	t0 = check_now_ms();
	dl = deadline_in(200);
	errno = 0;
	CHECK_EQ(pv_pipeline_wait(pl, &dl), -1);
	CHECK_EQ(errno, ETIMEDOUT);
	took = check_now_ms() - t0;
	CHECK(took >= 200 && took < 1500);
	CHECK_EQ(pv_pipeline_poll(pl), 1);
	CHECK_EQ(pv_pipeline_status(pl, 0), -1);

	/* TERM is ignored, so KILL must follow after the grace. */
	t0 = check_now_ms();
	CHECK_EQ(pv_pipeline_stop(pl, SIGTERM, &grace), 0);
	took = check_now_ms() - t0;
	CHECK(took >= 300);
	CHECK(took < 300 + 1000);
	CHECK(WIFSIGNALED(pv_stage_status(st)) &&
	    WTERMSIG(pv_stage_status(st)) == SIGKILL);
	CHECK_EQ(pv_pipeline_status(pl, 0), 128 + SIGKILL);
	/* The whole group went: sleep too, not only the shell. */
	t0 = check_now_ms();
	while (group_alive(pgid) != 0 && check_now_ms() - t0 < 2000)
		check_pause_ms(5);
	CHECK_EQ(group_alive(pgid), 0);
	CHECK_EQ(read_all(pv_pipeline_output_fd(pl), out, sizeof(out), 2000),
	    0);
	/* Stopping or killing what is over. */
	CHECK_EQ(pv_pipeline_stop(pl, SIGTERM, &grace), 0);
	pv_pipeline_free(pl);

	/* A stage that obeys TERM stops at once, long before the grace. */
	grace.tv_sec = 5;
	grace.tv_nsec = 0;
	pl = one(polite, &st);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	t0 = check_now_ms();
	CHECK_EQ(pv_pipeline_stop(pl, SIGTERM, &grace), 0);
	CHECK(check_now_ms() - t0 < 2000);
	CHECK_EQ(pv_pipeline_status(pl, 0), 128 + SIGTERM);
	pv_pipeline_free(pl);

	/* No grace: KILL at once. */
	pl = one(stubborn, &st);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	t0 = check_now_ms();
	CHECK_EQ(pv_pipeline_stop(pl, SIGTERM, NULL), 0);
	CHECK(check_now_ms() - t0 < 2000);
	CHECK(WIFSIGNALED(pv_stage_status(st)));
	pv_pipeline_free(pl);

	/* pv_pipeline_kill reaches every stage (USR2 is blocked here, not
	 * in a PV_SIG_DEFAULT stage). */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_parse(pl, "sleep 100 | sleep 100", 0, NULL) == 0);
	pv_pipeline_set_sigmode(pl, PV_SIG_DEFAULT);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	CHECK_EQ(pv_pipeline_kill(pl, SIGUSR2), 0);
	dl = deadline_in(5000);
	CHECK_EQ(pv_pipeline_wait(pl, &dl), 0);
	CHECK_EQ(pv_pipeline_status(pl, 0), 128 + SIGUSR2);
	CHECK_EQ(pv_status_to_exit(pv_stage_status(pv_pipeline_stage(pl, 0))),
	    128 + SIGUSR2);
	pv_pipeline_free(pl);
}

/* Forks a child of our own that exits code after ms. */
static pid_t
own_child(int code, long ms)
{
	pid_t pid;

	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		if (ms > 0)
			check_pause_ms(ms);
		_exit(code);
	}
	return pid;
}

/* Returns the exit code of our own child pid, or -1 if it was stolen. */
static int
own_status(pid_t pid)
{
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		continue;
	if (r != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1000;
}

static int done_calls;

/* The pipeline-done callback of the loop test. */
static void
on_done(struct pv_pipeline *pl, void *arg)
{
	(void)pl;
	(void)arg;
	done_calls++;
}

/* The status of a child the library did not start is left for its owner. */
static void
test_foreign_child(void)
{
	static const char *const sh[] = { "/bin/sh", "-c", "sleep 0.3", NULL };
	struct pv_pipeline *pl;
	struct pv_loop *loop;
	char out[64];
	pid_t early, during;

	early = own_child(42, 0);
	during = own_child(43, 100);
	/* Let "early" be a zombie before the pipeline even starts. */
	check_pause_ms(20);
	pl = one(sh, NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	pv_pipeline_free(pl);
	CHECK_EQ(own_status(early), 42);
	CHECK_EQ(own_status(during), 43);

	/* Through the loop too. */
	early = own_child(44, 0);
	during = own_child(45, 100);
	REQUIRE((loop = pv_loop_new()) != NULL);
	pl = one(sh, NULL);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	done_calls = 0;
	CHECK_EQ(pv_pipeline_watch(pl, loop, on_done, NULL), 0);
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK_EQ(done_calls, 1);
	CHECK_EQ(pv_pipeline_status(pl, 0), 0);
	pv_pipeline_free(pl);
	pv_loop_free(loop);
	CHECK_EQ(own_status(early), 44);
	CHECK_EQ(own_status(during), 45);
}

/*
 * pv_pipeline_reset: a finished pipeline runs again as it was built, with
 * what the last run left forgotten; a running one is refused; passing a
 * new fd to the same target replaces the old; changes made between runs
 * (environment, fallback path) are seen; function stages (error pipe)
 * and loop watches work again too.
 */
static void
test_reset(void)
{
	static const char *const sh[] = { "/bin/sh", "-c",
	    "echo \"$X\" >&5; echo run", NULL };
	static const char *const cat[] = { "cat", NULL };
	static const char *const fb[] = { "pvtest-reset", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	struct pv_loop *loop;
	struct timespec dl;
	char out[256], got[256];
	int a[2], b[2], i, code = 7;
	pid_t first;

	/* Never started: nothing to forget. */
	pl = one(cat, &st);
	CHECK_EQ(pv_pipeline_reset(pl), 0);
	pv_pipeline_free(pl);

	REQUIRE(pipe2(a, O_CLOEXEC) == 0);
	REQUIRE(pipe2(b, O_CLOEXEC) == 0);
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE((st = pv_pipeline_add(pl, sh)) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	CHECK_EQ(pv_stage_setenv(st, "X", "one"), 0);
	CHECK_EQ(pv_stage_pass_fd(st, a[1], 5), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "run\n");
	first = pv_stage_pid(st);
	CHECK(first > 0);
	CHECK(pv_pipeline_pgid(pl) == first);
	errno = 0;
	CHECK_EQ(pv_pipeline_start(pl), -1);
	CHECK_EQ(errno, EBUSY);

	/* Reset: the last run is forgotten, the build is kept. */
	CHECK_EQ(pv_pipeline_reset(pl), 0);
	CHECK_EQ(pv_stage_pid(st), 0);
	CHECK_EQ(pv_stage_status(st), -1);
	CHECK_EQ(pv_pipeline_pgid(pl), 0);
	CHECK_EQ(pv_pipeline_output_fd(pl), -1);
	CHECK_EQ(pv_pipeline_status(pl, 0), -1);
	CHECK_EQ(pv_pipeline_count(pl), 2);
	/* The same target again replaces the fd, never counts twice. */
	for (i = 0; i < 20; i++)
		CHECK_EQ(pv_stage_pass_fd(st, b[1], 5), 0);
	CHECK_EQ(pv_stage_setenv(st, "X", "two"), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "run\n");
	CHECK(pv_stage_pid(st) > 0 && pv_stage_pid(st) != first);
	close(a[1]);
	close(b[1]);
	CHECK_EQ(read_all(a[0], got, sizeof(got), 5000), 4);
	CHECK_STREQ(got, "one\n");
	CHECK_EQ(read_all(b[0], got, sizeof(got), 5000), 4);
	CHECK_STREQ(got, "two\n");
	close(a[0]);
	close(b[0]);
	pv_pipeline_free(pl);

	/* Refused while a stage runs; fine once it has been reaped. */
	pl = one(cat, NULL);
	pv_pipeline_want_input(pl);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	errno = 0;
	CHECK_EQ(pv_pipeline_reset(pl), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK(pv_pipeline_input_fd(pl) >= 0);
	pv_pipeline_close_input(pl);
	dl = deadline_in(10000);
	CHECK_EQ(pv_pipeline_wait(pl, &dl), 0);
	CHECK_EQ(pv_pipeline_reset(pl), 0);
	CHECK_EQ(pv_pipeline_input_fd(pl), -1);
	/* Asked-for pipes are made anew at each start. */
	REQUIRE(pv_pipeline_start(pl) == 0);
	CHECK(pv_pipeline_input_fd(pl) >= 0);
	pv_pipeline_close_input(pl);
	dl = deadline_in(10000);
	CHECK_EQ(pv_pipeline_wait(pl, &dl), 0);
	CHECK_EQ(pv_pipeline_status(pl, 0), 0);
	pv_pipeline_free(pl);

	/* A start error is forgotten; a new fallback path is searched. */
	write_file(tmp("pvtest-reset"), "#!/bin/sh\necho found\n", 0755);
	pl = one(fb, &st);
	CHECK_EQ(run(pl, out, sizeof(out)), 127);
	CHECK_STREQ(pv_stage_error(st), "command not found");
	CHECK_EQ(pv_pipeline_reset(pl), 0);
	CHECK(pv_stage_error(st) == NULL);
	CHECK_EQ(pv_pipeline_set_fallback_path(pl, tmpdir), 0);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "found\n");
	CHECK(pv_stage_error(st) == NULL);
	pv_pipeline_free(pl);

	/* Function stages, and the loop's watch, run again after a reset. */
	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "code", fn_code, &code) != NULL);
	pv_pipeline_set_output(pl, devnull);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(pv_pipeline_reset(pl), 0);
		REQUIRE(pv_pipeline_start(pl) == 0);
		done_calls = 0;
		CHECK_EQ(pv_pipeline_watch(pl, loop, on_done, NULL), 0);
		CHECK_EQ(pv_loop_run(loop), 0);
		CHECK_EQ(done_calls, 1);
		CHECK_EQ(pv_pipeline_status(pl, 0), 7);
	}
	pv_pipeline_free(pl);
	pv_loop_free(loop);
}

/*
 * pv_pipeline_reaped: statuses the caller took with waitpid -1 (as a
 * process 1 does) reach their stages; the done callback runs once, at the
 * last; a pid that is not a stage, or a stage already handed in, changes
 * nothing; and the loop is left with no watch of a stage that is gone.
 */
static void
test_reaped(void)
{
	static const char *const three[] = { "/bin/sh", "-c", "exit 3", NULL };
	static const char *const five[] = { "/bin/sh", "-c", "exit 5", NULL };
	struct pv_pipeline *pl;
	struct pv_loop *loop;
	pid_t pid, first;
	int status, n;

	REQUIRE((loop = pv_loop_new()) != NULL);
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add(pl, three) != NULL);
	REQUIRE(pv_pipeline_add(pl, five) != NULL);
	pv_pipeline_set_input(pl, devnull);
	pv_pipeline_set_output(pl, devnull);
	REQUIRE(pv_pipeline_start(pl) == 0);
	done_calls = 0;
	CHECK_EQ(pv_pipeline_watch(pl, loop, on_done, NULL), 0);
	CHECK_EQ(pv_pipeline_reaped(pl, 1, 0), 0);
	first = 0;
	for (n = 0; n < 2; n++) {
		while ((pid = waitpid(-1, &status, 0)) == -1 && errno == EINTR)
			continue;
		REQUIRE(pid > 0);
		CHECK_EQ(done_calls, 0);
		CHECK_EQ(pv_pipeline_reaped(pl, pid, status), 1);
		if (n == 0)
			first = pid;
	}
	CHECK_EQ(done_calls, 1);
	CHECK_EQ(pv_pipeline_reaped(pl, first, 0), 0);
	CHECK_EQ(done_calls, 1);
	CHECK_EQ(pv_stage_status(pv_pipeline_stage(pl, 0)), W_EXITCODE(3, 0));
	CHECK_EQ(pv_stage_status(pv_pipeline_stage(pl, 1)), W_EXITCODE(5, 0));
	CHECK_EQ(pv_pipeline_status(pl, 0), 5);
	/* No watch left behind: the loop has nothing to wait for. */
	CHECK_EQ(pv_loop_run(loop), 0);
	CHECK_EQ(done_calls, 1);
	pv_pipeline_free(pl);
	pv_loop_free(loop);
}

/* A function stage: prints its pid, process group and session. */
static int
fn_ids(void *arg)
{
	(void)arg;
	printf("%ld %ld %ld\n", (long)getpid(), (long)getpgrp(),
	    (long)getsid(0));
	return 0;
}

/*
 * pv_pipeline_set_session: one stage leads a session of its own, with
 * the pipeline's group its pid; several stages keep one group in ours.
 */
static void
test_session(void)
{
	static const char *const cat[] = { "cat", NULL };
	struct pv_pipeline *pl;
	struct pv_stage *st;
	char out[128];
	long pid, pgrp, sid;
	int i;

	for (i = 0; i < 2; i++) {
		REQUIRE((pl = pv_pipeline_new()) != NULL);
		REQUIRE((st = pv_pipeline_add_func(pl, "ids", fn_ids,
		    NULL)) != NULL);
		if (i == 1)
			REQUIRE(pv_pipeline_add(pl, cat) != NULL);
		pv_pipeline_set_session(pl, 1);
		CHECK_EQ(run(pl, out, sizeof(out)), 0);
		REQUIRE(sscanf(out, "%ld %ld %ld", &pid, &pgrp, &sid) == 3);
		CHECK_EQ(pid, (long)pv_stage_pid(st));
		CHECK_EQ(pgrp, pid);
		CHECK_EQ((pid_t)pgrp, pv_pipeline_pgid(pl));
		if (i == 0)
			CHECK_EQ(sid, pid);
		else
			CHECK_EQ((pid_t)sid, getsid(0));
		pv_pipeline_free(pl);
	}
	/* Without it, a one-stage pipeline is a group in our session. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE((st = pv_pipeline_add_func(pl, "ids", fn_ids, NULL)) != NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	REQUIRE(sscanf(out, "%ld %ld %ld", &pid, &pgrp, &sid) == 3);
	CHECK_EQ(pgrp, pid);
	CHECK_EQ((pid_t)sid, getsid(0));
	pv_pipeline_free(pl);
}

/* A function stage: writes how many fds above 2 it has open. */
static int
fn_count_fds(void *arg)
{
	int fd, n = 0;

	(void)arg;
	for (fd = 3; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	printf("%d\n", n);
	return 0;
}

/* No fd but 0, 1 and 2 reaches a stage (RELIABILITY.md item 13). */
static void
test_fd_hygiene(void)
{
	static const char *const ls[] = { "ls", "/proc/self/fd", NULL };
	static const char *const cat[] = { "cat", NULL };
	struct pv_pipeline *pl;
	char out[1024];
	int extra[4], p[2], i;

	/* Leaky fds of our own: not CLOEXEC, low and high. */
	for (i = 0; i < 3; i++)
		REQUIRE((extra[i] = open("/dev/null", O_RDONLY)) >= 0);
	REQUIRE((extra[3] = dup2(extra[0], 50)) == 50);
	REQUIRE(pipe(p) == 0);

	pl = one(ls, NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	/* ls's own directory fd is the lowest free one: 3. */
	CHECK_STREQ(out, "0\n1\n2\n3\n");
	pv_pipeline_free(pl);

	/* In every position of a longer pipeline. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	REQUIRE(pv_pipeline_add(pl, ls) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "0\n1\n2\n3\n");
	pv_pipeline_free(pl);

	/* Function stages too. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "count", fn_count_fds, NULL) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "0\n");
	pv_pipeline_free(pl);
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	REQUIRE(pv_pipeline_add(pl, cat) != NULL);
	REQUIRE(pv_pipeline_add_func(pl, "count", fn_count_fds, NULL) != NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	CHECK_STREQ(out, "0\n");
	pv_pipeline_free(pl);

	for (i = 0; i < 4; i++)
		close(extra[i]);
	close(p[0]);
	close(p[1]);
}

/*
 * Under ASan a fork costs about ten times as much; the sanitizer build is
 * there for memory errors, so it runs a fifth of the stress.
 */
#if defined(__SANITIZE_ADDRESS__)
#define STRESS_TOTAL	2000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_TOTAL	2000
#endif
#endif
#ifndef STRESS_TOTAL
#define STRESS_TOTAL	10000
#endif

/* A function stage that ends at once. */
static int
fn_exit0(void *arg)
{
	(void)arg;
	_exit(0);
}

/*
 * RELIABILITY.md item 2: ten thousand one-stage pipelines of a function
 * stage that exits at once, a hundred running at a time, so most exit
 * before their start returns; every one must be reaped with status 0.
 */
static void
test_stress(void)
{
	enum { TOTAL = STRESS_TOTAL, BATCH = 100 };
	struct pv_pipeline *pls[BATCH];
	struct timespec dl;
	long long t0 = check_now_ms();
	int started = 0, reaped = 0, bad = 0, failed = 0, b, i;

	for (b = 0; b < TOTAL / BATCH; b++) {
		for (i = 0; i < BATCH; i++) {
			REQUIRE((pls[i] = pv_pipeline_new()) != NULL);
			REQUIRE(pv_pipeline_add_func(pls[i], "exit0", fn_exit0,
			    NULL) != NULL);
			pv_pipeline_set_output(pls[i], devnull);
			if (pv_pipeline_start(pls[i]) == 0)
				started++;
			else
				failed++;
		}
		dl = deadline_in(10000);
		for (i = 0; i < BATCH; i++) {
			if (pv_pipeline_wait(pls[i], &dl) == 0 &&
			    pv_stage_status(pv_pipeline_stage(pls[i], 0)) ==
			    0 && pv_pipeline_status(pls[i], 1) == 0)
				reaped++;
			else
				bad++;
			pv_pipeline_free(pls[i]);
		}
		if (check_now_ms() - t0 > 40000)
			break;
	}
	printf("test_pipeline: stress: %d pipelines started, %d reaped with "
	    "status 0 in %lld ms\n", started, reaped, check_now_ms() - t0);
	CHECK_EQ(failed, 0);
	CHECK_EQ(started, TOTAL);
	CHECK_EQ(reaped, TOTAL);
	CHECK_EQ(bad, 0);
}

/* No zombie and no child at all is left. */
static void
test_no_zombies(void)
{
	int status;

	errno = 0;
	CHECK_EQ(waitpid(-1, &status, WNOHANG), -1);
	CHECK_EQ(errno, ECHILD);
}

/* Removes the test directory with the library itself. */
static void
cleanup(void)
{
	const char *rm[] = { "rm", "-rf", tmpdir, NULL };
	struct pv_pipeline *pl;
	char out[64];

	pl = one(rm, NULL);
	CHECK_EQ(run(pl, out, sizeof(out)), 0);
	pv_pipeline_free(pl);
}

int
main(void)
{
	unsigned long long start_ign, start_blk;

	check_watchdog(90);
	/* A defined start, whatever ran us: defaults, nothing blocked. */
	{
		static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE,
		    SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD };
		sigset_t none;
		size_t i;

		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	REQUIRE(mkdtemp(tmpdir) != NULL);
	REQUIRE((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0);

	test_sigstate_uninit();
	/* The state we "were started with": USR1 ignored, USR2 blocked. */
	start_ign = self_field("SigIgn");
	start_blk = self_field("SigBlk");
	REQUIRE(pv_sig_init() == 0);
	REQUIRE(pv_sig_catch(SIGTERM) == 0);
	test_sigstate_init(start_ign, start_blk);
	test_yes_head();

	test_wiring();
	test_io_ends();
	test_parse();
	test_redirections();
	test_env_chdir();
	test_pass_fd();
	test_exec_errors();
	test_status();
	test_wait_stop();
	test_foreign_child();
	test_reset();
	test_reaped();
	test_session();
	test_fd_hygiene();
	test_stress();
	cleanup();
	close(devnull);
	test_no_zombies();
	return check_done("test_pipeline");
}
