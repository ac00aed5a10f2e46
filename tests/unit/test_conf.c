/*
 * test_conf.c: unit tests of conf.c, the pipevisor.conf(5) parser.
 *
 * Covers every key of [supervisor] and [service NAME] with the values it
 * accepts and refuses, every default, the syntax (comments, blanks,
 * spaces around '=', CRLF, a byte-order mark, a last line without LF),
 * every error message exactly as "FILE:LINE: message", relative paths
 * taken from the file's directory, environment and after lists (repeats,
 * case, duplicates, unknown names, cycles through thousands of services),
 * the message buffer's size, conf_service_same field by field, and
 * conf_load on real files in a temporary directory (relative and
 * absolute paths, a missing file, a directory, the 1 MiB limit).  No
 * signal handler is installed.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "check.h"

#define ERRSIZE	1024

/* Parses text as "t.conf"; returns the conf, or NULL after saying why. */
static struct conf *
parse_at(const char *text, const char *file, int line)
{
	struct conf *c = (struct conf *)&c;	/* must be overwritten */
	char err[ERRSIZE];

	err[0] = '\0';
	if (conf_parse(text, strlen(text), file, &c, err, sizeof(err)) == 0 &&
	    c != NULL)
		return c;
	fprintf(stderr, "%s:%d: conf_parse failed: %s (%s)\n", __FILE__,
	    line, err, strerror(errno));
	return NULL;
}

/* Parses text as "t.conf" and requires success. */
#define PARSE(text)	parse_at((text), "t.conf", __LINE__)

/*
 * Checks that n bytes of text, named file, are refused with EINVAL, no
 * conf, and exactly the message want.
 */
static void
err_is(const char *text, size_t n, const char *file, const char *want,
    int line)
{
	struct conf *c = (struct conf *)&c;
	char err[ERRSIZE];
	int r;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	errno = 0;
	r = conf_parse(text, n, file, &c, err, sizeof(err));
	check_count++;
	if (r != -1 || errno != EINVAL || c != NULL ||
	    strcmp(err, want) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: conf_parse = %d, "
		    "errno %d, conf %p\n    got:  \"%s\"\n    want: \"%s\"\n",
		    __FILE__, line, r, errno, (void *)c, err, want);
		if (r == 0)
			conf_free(c);
	}
}

/* Checks that text (a C string) gives the message want, as "t.conf". */
#define ERR(text, want)	err_is((text), strlen(text), "t.conf", (want), __LINE__)

/* Checks that text with n bytes gives the message want. */
#define ERRN(text, n, want)	err_is((text), (n), "t.conf", (want), __LINE__)

/* Checks a timespec against seconds and nanoseconds. */
#define CHECK_TS(ts, sec, nsec) do {					\
	CHECK_EQ((ts).tv_sec, (sec));					\
	CHECK_EQ((ts).tv_nsec, (nsec));					\
} while (0)

/* Returns the number of entries of a NULL-ended array. */
static size_t
vec_len(char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

/* Returns a malloc'd "[service a]\ncommand = true\n" followed by line. */
static char *
svc_with(const char *line)
{
	char *s;

	if (asprintf(&s, "[service a]\ncommand = true\n%s\n", line) == -1) {
		perror("asprintf");
		exit(1);
	}
	return s;
}

/* Parses a one-service file with line added; returns it or NULL. */
static struct conf *
parse_svc_at(const char *line, int where)
{
	struct conf *c;
	char *s = svc_with(line);

	c = parse_at(s, "t.conf", where);
	free(s);
	return c;
}

#define PARSE_SVC(line)	parse_svc_at((line), __LINE__)

/* Checks that line, in a one-service file, is refused at line 3 with msg. */
static void
svc_err_at(const char *line, const char *msg, int where)
{
	char *s = svc_with(line), *want;

	if (asprintf(&want, "t.conf:3: %s", msg) == -1) {
		perror("asprintf");
		exit(1);
	}
	err_is(s, strlen(s), "t.conf", want, where);
	free(want);
	free(s);
}

#define SVC_ERR(line, msg)	svc_err_at((line), (msg), __LINE__)

/* Checks that "key = value" is refused with the bad-value message. */
static void
svc_bad_at(const char *key, const char *value, const char *expected,
    int where)
{
	char *line, *msg;

	if (asprintf(&line, "%s = %s", key, value) == -1 ||
	    asprintf(&msg, "bad value for %s: '%s' (expected %s)", key, value,
	    expected) == -1) {
		perror("asprintf");
		exit(1);
	}
	svc_err_at(line, msg, where);
	free(line);
	free(msg);
}

#define SVC_BAD(key, value, expected)					\
	svc_bad_at((key), (value), (expected), __LINE__)

/* Every default of a service with only a command, and of [supervisor]. */
static void
test_defaults(void)
{
	struct conf *c;
	struct conf_service *s;

	REQUIRE((c = PARSE("[service a]\ncommand = true\n")) != NULL);
	CHECK_STREQ(c->path, "t.conf");
	CHECK(c->rundir == NULL);
	CHECK(c->log == NULL);
	CHECK(c->http == NULL);
	CHECK_EQ(c->subreaper, 0);
	REQUIRE(c->nservices == 1);
	s = &c->services[0];
	CHECK_STREQ(s->name, "a");
	CHECK_EQ(s->line, 1);
	CHECK_STREQ(s->command, "true");
	CHECK_EQ(s->shell, 0);
	CHECK_EQ(s->restart, CONF_RESTART_ALWAYS);
	CHECK_TS(s->backoff_initial, 0, 100000000);
	CHECK_TS(s->backoff_max, 30, 0);
	CHECK_EQ(s->backoff_factor, 2);
	CHECK_TS(s->backoff_reset, 10, 0);
	CHECK_EQ(s->give_up_count, 0);
	CHECK_TS(s->give_up_window, 0, 0);
	CHECK_TS(s->start_grace, 0, 0);
	CHECK_EQ(s->stop_signal, SIGTERM);
	CHECK_TS(s->stop_timeout, 5, 0);
	CHECK(s->directory == NULL);
	REQUIRE(s->environment != NULL);
	CHECK(s->environment[0] == NULL);
	CHECK(s->user == NULL);
	CHECK(s->group == NULL);
	CHECK_EQ(s->out, CONF_OUT_LOG);
	CHECK_EQ(s->err, CONF_OUT_LOG);
	CHECK(s->out_path == NULL);
	CHECK(s->err_path == NULL);
	CHECK_EQ(s->rotate_size, 0);
	CHECK_EQ(s->rotate_keep, 3);
	CHECK_EQ(s->ready, CONF_READY_NONE);
	CHECK_EQ(s->ready_fd, 3);
	REQUIRE(s->after != NULL);
	CHECK(s->after[0] == NULL);
	conf_free(c);

	/* An empty file, or one of comments only, is valid and empty. */
	REQUIRE((c = PARSE("")) != NULL);
	CHECK_EQ(c->nservices, 0);
	CHECK(c->services == NULL);
	conf_free(c);
	REQUIRE((c = PARSE("# nothing\n\n; at all\n[supervisor]\n")) != NULL);
	CHECK_EQ(c->nservices, 0);
	conf_free(c);
	conf_free(NULL);
}

/* A file that sets every key once, as the man page's example does. */
static void
test_every_key(void)
{
	static const char text[] =
	    "# pipevisor.conf\n"
	    "[supervisor]\n"
	    "rundir = /run/pv\n"
	    "log = pv.log\n"
	    "http = 127.0.0.1:8080\n"
	    "subreaper = yes\n"
	    "\n"
	    "[service web]\n"
	    "command = httpd -f | stamp\n"
	    "command_shell = no\n"
	    "restart = on-failure\n"
	    "backoff = 250ms\n"
	    "backoff_max = 1m\n"
	    "backoff_factor = 3\n"
	    "backoff_reset = 30s\n"
	    "give_up = 5 in 10s\n"
	    "start_grace = 1.5s\n"
	    "stop_signal = INT\n"
	    "stop_timeout = 2s\n"
	    "directory = /srv/www\n"
	    "environment = PORT=8080\n"
	    "environment = MODE=prod\n"
	    "user = www-data\n"
	    "group = www-data\n"
	    "stdout = logs/web.out\n"
	    "stderr = stdout\n"
	    "rotate_size = 10M\n"
	    "rotate_keep = 5\n"
	    "ready = fd:4\n"
	    "after = db\n"
	    "\n"
	    "[service db]\n"
	    "command = postgres -D /var/lib/pg\n"
	    "ready = notify\n"
	    "stdout = null\n"
	    "stderr = /var/log/db.err\n"
	    "restart = never\n";
	struct conf *c;
	struct conf_service *s;

	REQUIRE((c = parse_at(text, "/etc/pv/pipevisor.conf",
	    __LINE__)) != NULL);
	CHECK_STREQ(c->path, "/etc/pv/pipevisor.conf");
	CHECK_STREQ(c->rundir, "/run/pv");
	CHECK_STREQ(c->log, "/etc/pv/pv.log");
	CHECK_STREQ(c->http, "127.0.0.1:8080");
	CHECK_EQ(c->subreaper, 1);
	REQUIRE(c->nservices == 2);
	s = &c->services[0];
	CHECK_STREQ(s->name, "web");
	CHECK_EQ(s->line, 8);
	CHECK_STREQ(s->command, "httpd -f | stamp");
	CHECK_EQ(s->shell, 0);
	CHECK_EQ(s->restart, CONF_RESTART_ON_FAILURE);
	CHECK_TS(s->backoff_initial, 0, 250000000);
	CHECK_TS(s->backoff_max, 60, 0);
	CHECK_EQ(s->backoff_factor, 3);
	CHECK_TS(s->backoff_reset, 30, 0);
	CHECK_EQ(s->give_up_count, 5);
	CHECK_TS(s->give_up_window, 10, 0);
	CHECK_TS(s->start_grace, 1, 500000000);
	CHECK_EQ(s->stop_signal, SIGINT);
	CHECK_TS(s->stop_timeout, 2, 0);
	CHECK_STREQ(s->directory, "/srv/www");
	REQUIRE(vec_len(s->environment) == 2);
	/* Sorted by name. */
	CHECK_STREQ(s->environment[0], "MODE=prod");
	CHECK_STREQ(s->environment[1], "PORT=8080");
	CHECK_STREQ(s->user, "www-data");
	CHECK_STREQ(s->group, "www-data");
	CHECK_EQ(s->out, CONF_OUT_FILE);
	CHECK_STREQ(s->out_path, "/etc/pv/logs/web.out");
	CHECK_EQ(s->err, CONF_OUT_STDOUT);
	CHECK(s->err_path == NULL);
	CHECK_EQ(s->rotate_size, 10 * 1024 * 1024);
	CHECK_EQ(s->rotate_keep, 5);
	CHECK_EQ(s->ready, CONF_READY_FD);
	CHECK_EQ(s->ready_fd, 4);
	REQUIRE(vec_len(s->after) == 1);
	CHECK_STREQ(s->after[0], "db");
	s = &c->services[1];
	CHECK_STREQ(s->name, "db");
	CHECK_EQ(s->line, 32);
	CHECK_STREQ(s->command, "postgres -D /var/lib/pg");
	CHECK_EQ(s->ready, CONF_READY_NOTIFY);
	CHECK_EQ(s->out, CONF_OUT_NULL);
	CHECK_EQ(s->err, CONF_OUT_FILE);
	CHECK_STREQ(s->err_path, "/var/log/db.err");
	CHECK_EQ(s->restart, CONF_RESTART_NEVER);
	CHECK_EQ(vec_len(s->after), 0);
	conf_free(c);
}

/* Comments, blanks, '=' spacing, CRLF, a BOM, no final LF. */
static void
test_syntax(void)
{
	struct conf *c;

	REQUIRE((c = PARSE(
	    "  # indented comment\n"
	    "\t; another\n"
	    "\n"
	    "   \t  \n"
	    "  [ service   a ]  \n"
	    "command=echo a#b ';c'\n"
	    "\trestart\t=\tnever\t\n"
	    "# [service b] in a comment\n"
	    "environment = X=  y  ")) != NULL);
	REQUIRE(c->nservices == 1);
	CHECK_STREQ(c->services[0].name, "a");
	CHECK_EQ(c->services[0].line, 5);
	/* '#' and ';' inside a value are part of it. */
	CHECK_STREQ(c->services[0].command, "echo a#b ';c'");
	CHECK_EQ(c->services[0].restart, CONF_RESTART_NEVER);
	/* The value is trimmed as a whole, not around its own '='. */
	CHECK_STREQ(c->services[0].environment[0], "X=  y");
	conf_free(c);

	/* CRLF everywhere, and a CR before the end of the text. */
	REQUIRE((c = PARSE("[supervisor]\r\nlog = /l\r\n\r\n# c\r\n"
	    "[service a]\r\ncommand = true\r\nuser = root\r")) != NULL);
	CHECK_STREQ(c->log, "/l");
	CHECK_STREQ(c->services[0].command, "true");
	CHECK_STREQ(c->services[0].user, "root");
	CHECK_EQ(c->services[0].line, 5);
	conf_free(c);
	/* Line numbers count CRLF lines. */
	ERR("[service a]\r\ncommand = true\r\n\r\nbogus\r\n",
	    "t.conf:4: expected key = value, [section] or a comment, "
	    "not 'bogus'");

	/* A UTF-8 byte-order mark is skipped; line 1 is the one after it. */
	REQUIRE((c = PARSE("\xef\xbb\xbf[service a]\ncommand = true\n")) !=
	    NULL);
	CHECK_EQ(c->services[0].line, 1);
	conf_free(c);
	ERR("\xef\xbb\xbfnope\n", "t.conf:1: expected key = value, [section] "
	    "or a comment, not 'nope'");

	/* UTF-8 text in values and tabs inside them are kept. */
	REQUIRE((c = PARSE("[service a]\ncommand = echo h\xc3\xa9llo "
	    "\xe2\x82\xac \xf0\x9f\x98\x80\tx\n")) != NULL);
	CHECK_STREQ(c->services[0].command, "echo h\xc3\xa9llo \xe2\x82\xac "
	    "\xf0\x9f\x98\x80\tx");
	conf_free(c);

	/* Sections in any order; a key may repeat across sections. */
	REQUIRE((c = PARSE("[service a]\ncommand = a\nrestart = never\n"
	    "[supervisor]\nsubreaper = no\n[service b]\ncommand = b\n"
	    "restart = never\n")) != NULL);
	CHECK_EQ(c->nservices, 2);
	CHECK_STREQ(c->services[1].name, "b");
	CHECK_EQ(c->services[1].line, 6);
	conf_free(c);

	/* Names: every allowed byte, 32 long, and case kept. */
	REQUIRE((c = PARSE("[service Az09_.-]\ncommand = x\n"
	    "[service abcdefghijklmnopqrstuvwxyz012345]\ncommand = x\n")) !=
	    NULL);
	CHECK_STREQ(c->services[0].name, "Az09_.-");
	CHECK_STREQ(c->services[1].name, "abcdefghijklmnopqrstuvwxyz012345");
	conf_free(c);
}

/* [supervisor]: every key, accepted and refused values. */
static void
test_supervisor_keys(void)
{
	static const char *const http_ok[] = {
		"8080", "1", "65535", "127.0.0.1:80", "0.0.0.0:65535",
		"[::1]:8080", "localhost:9000", "[fe80::1%lo]:1"
	};
	static const char *const http_bad[] = {
		"0", "65536", "x", ":80", "[::1]", "[::1]80", "::1:80", "[]:80",
		"a b:80", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:+80",
		"[[::1]:80", "1:2:3"
	};
	struct conf *c;
	char text[256], want[256];
	size_t i;

	REQUIRE((c = PARSE("[supervisor]\nrundir = run\nlog = /var/log/pv\n"
	    "http = 9000\nsubreaper = no\n")) != NULL);
	/* No directory in the name: relative paths stay relative. */
	CHECK_STREQ(c->rundir, "run");
	CHECK_STREQ(c->log, "/var/log/pv");
	CHECK_STREQ(c->http, "9000");
	CHECK_EQ(c->subreaper, 0);
	conf_free(c);

	for (i = 0; i < sizeof(http_ok) / sizeof(http_ok[0]); i++) {
		snprintf(text, sizeof(text), "[supervisor]\nhttp = %s\n",
		    http_ok[i]);
		c = PARSE(text);
		CHECK(c != NULL);
		if (c != NULL)
			CHECK_STREQ(c->http, http_ok[i]);
		conf_free(c);
	}
	for (i = 0; i < sizeof(http_bad) / sizeof(http_bad[0]); i++) {
		snprintf(text, sizeof(text), "[supervisor]\nhttp = %s\n",
		    http_bad[i]);
		snprintf(want, sizeof(want), "t.conf:2: bad value for http: "
		    "'%s' (expected ADDR:PORT, [ADDR]:PORT or PORT, with PORT "
		    "from 1 to 65535)", http_bad[i]);
		ERR(text, want);
	}
	ERR("[supervisor]\nsubreaper = true\n", "t.conf:2: bad value for "
	    "subreaper: 'true' (expected yes or no)");
	ERR("[supervisor]\nsubreaper = Yes\n", "t.conf:2: bad value for "
	    "subreaper: 'Yes' (expected yes or no)");
	ERR("[supervisor]\nrundir =\n", "t.conf:2: missing value for 'rundir'");
	ERR("[supervisor]\nlog = a\nlog = b\n",
	    "t.conf:3: duplicate key 'log' (first at line 2)");
	ERR("[supervisor]\ncommand = x\n",
	    "t.conf:2: unknown key 'command' in [supervisor]");
	ERR("[supervisor]\nrestart = never\n",
	    "t.conf:2: unknown key 'restart' in [supervisor]");
}

/* Each service key with values it takes. */
static void
test_service_values(void)
{
	struct conf *c;
	struct conf_service *s;

	/* restart */
	REQUIRE((c = PARSE_SVC("restart = always")) != NULL);
	CHECK_EQ(c->services[0].restart, CONF_RESTART_ALWAYS);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("restart = never")) != NULL);
	CHECK_EQ(c->services[0].restart, CONF_RESTART_NEVER);
	conf_free(c);

	/* command_shell lets shell syntax through, before or after command. */
	REQUIRE((c = PARSE("[service a]\ncommand = echo $HOME; ls | wc\n"
	    "command_shell = yes\n")) != NULL);
	CHECK_EQ(c->services[0].shell, 1);
	CHECK_STREQ(c->services[0].command, "echo $HOME; ls | wc");
	conf_free(c);
	REQUIRE((c = PARSE("[service a]\ncommand_shell = yes\n"
	    "command = a && b\n")) != NULL);
	CHECK_EQ(c->services[0].shell, 1);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("command_shell = no")) != NULL);
	CHECK_EQ(c->services[0].shell, 0);
	conf_free(c);

	/* Durations in every unit, zero included. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nbackoff = 0\n"
	    "backoff_max = 0.5\nbackoff_reset = 1m\nstart_grace = 100ms\n"
	    "stop_timeout = 1h\n")) != NULL);
	s = &c->services[0];
	CHECK_TS(s->backoff_initial, 0, 0);
	CHECK_TS(s->backoff_max, 0, 500000000);
	CHECK_TS(s->backoff_reset, 60, 0);
	CHECK_TS(s->start_grace, 0, 100000000);
	CHECK_TS(s->stop_timeout, 3600, 0);
	conf_free(c);
	/* backoff equal to backoff_max is fine. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nbackoff = 30s\n")) !=
	    NULL);
	conf_free(c);

	/* backoff_factor at its bounds. */
	REQUIRE((c = PARSE_SVC("backoff_factor = 1")) != NULL);
	CHECK_EQ(c->services[0].backoff_factor, 1);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("backoff_factor = 100")) != NULL);
	CHECK_EQ(c->services[0].backoff_factor, 100);
	conf_free(c);

	/* give_up */
	REQUIRE((c = PARSE_SVC("give_up = never")) != NULL);
	CHECK_EQ(c->services[0].give_up_count, 0);
	CHECK_TS(c->services[0].give_up_window, 0, 0);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("give_up = 1 in 1ms")) != NULL);
	CHECK_EQ(c->services[0].give_up_count, 1);
	CHECK_TS(c->services[0].give_up_window, 0, 1000000);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("give_up = 1000000\t in \t2d")) != NULL);
	CHECK_EQ(c->services[0].give_up_count, 1000000);
	CHECK_TS(c->services[0].give_up_window, 172800, 0);
	conf_free(c);

	/* stop_signal: names, SIG names, numbers, real-time signals. */
	REQUIRE((c = PARSE_SVC("stop_signal = SIGHUP")) != NULL);
	CHECK_EQ(c->services[0].stop_signal, SIGHUP);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("stop_signal = quit")) != NULL);
	CHECK_EQ(c->services[0].stop_signal, SIGQUIT);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("stop_signal = 9")) != NULL);
	CHECK_EQ(c->services[0].stop_signal, SIGKILL);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("stop_signal = RTMIN+2")) != NULL);
	CHECK_EQ(c->services[0].stop_signal, SIGRTMIN + 2);
	conf_free(c);

	/* user and group: names and numbers. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nuser = 1000\n"
	    "group = a.b_c-d\n")) != NULL);
	CHECK_STREQ(c->services[0].user, "1000");
	CHECK_STREQ(c->services[0].group, "a.b_c-d");
	conf_free(c);

	/* stdout and stderr: log, null, stdout, files; "./log" is a file. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nstdout = log\n"
	    "stderr = log\n")) != NULL);
	CHECK_EQ(c->services[0].out, CONF_OUT_LOG);
	CHECK_EQ(c->services[0].err, CONF_OUT_LOG);
	conf_free(c);
	REQUIRE((c = PARSE("[service a]\ncommand = x\nstdout = ./log\n"
	    "stderr = null\n")) != NULL);
	CHECK_EQ(c->services[0].out, CONF_OUT_FILE);
	CHECK_STREQ(c->services[0].out_path, "./log");
	CHECK_EQ(c->services[0].err, CONF_OUT_NULL);
	conf_free(c);
	/* For stdout, "stdout" is just a file name. */
	REQUIRE((c = PARSE_SVC("stdout = stdout")) != NULL);
	CHECK_EQ(c->services[0].out, CONF_OUT_FILE);
	CHECK_STREQ(c->services[0].out_path, "stdout");
	conf_free(c);

	/* rotate_size: plain bytes and every suffix. */
	REQUIRE((c = PARSE_SVC("rotate_size = 0")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 0);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_size = 1000")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 1000);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_size = 3k")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 3072);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_size = 3K")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 3072);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_size = 2G")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 2LL << 30);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_size = 8589934591G")) != NULL);
	CHECK_EQ(c->services[0].rotate_size, 8589934591LL << 30);
	conf_free(c);

	/* rotate_keep at its bounds. */
	REQUIRE((c = PARSE_SVC("rotate_keep = 1")) != NULL);
	CHECK_EQ(c->services[0].rotate_keep, 1);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("rotate_keep = 1000")) != NULL);
	CHECK_EQ(c->services[0].rotate_keep, 1000);
	conf_free(c);

	/* ready */
	REQUIRE((c = PARSE_SVC("ready = none")) != NULL);
	CHECK_EQ(c->services[0].ready, CONF_READY_NONE);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("ready = fd")) != NULL);
	CHECK_EQ(c->services[0].ready, CONF_READY_FD);
	CHECK_EQ(c->services[0].ready_fd, 3);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("ready = fd:3")) != NULL);
	CHECK_EQ(c->services[0].ready_fd, 3);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("ready = fd:255")) != NULL);
	CHECK_EQ(c->services[0].ready, CONF_READY_FD);
	CHECK_EQ(c->services[0].ready_fd, 255);
	conf_free(c);
	REQUIRE((c = PARSE_SVC("ready = notify")) != NULL);
	CHECK_EQ(c->services[0].ready, CONF_READY_NOTIFY);
	conf_free(c);
}

/* Relative paths follow the directory in the file's name. */
static void
test_paths(void)
{
	static const char text[] = "[supervisor]\nrundir = run\nlog = l\n"
	    "[service a]\ncommand = x\ndirectory = w\nstdout = o\n"
	    "stderr = ../e\n[service b]\ncommand = x\ndirectory = /abs\n"
	    "stdout = /abs/o\n";
	struct conf *c;
	char big[5000], want[5100];

	REQUIRE((c = parse_at(text, "/etc/pv/t.conf", __LINE__)) != NULL);
	CHECK_STREQ(c->rundir, "/etc/pv/run");
	CHECK_STREQ(c->log, "/etc/pv/l");
	CHECK_STREQ(c->services[0].directory, "/etc/pv/w");
	CHECK_STREQ(c->services[0].out_path, "/etc/pv/o");
	CHECK_STREQ(c->services[0].err_path, "/etc/pv/../e");
	CHECK_STREQ(c->services[1].directory, "/abs");
	CHECK_STREQ(c->services[1].out_path, "/abs/o");
	conf_free(c);
	REQUIRE((c = parse_at(text, "conf.d/t.conf", __LINE__)) != NULL);
	CHECK_STREQ(c->rundir, "conf.d/run");
	CHECK_STREQ(c->services[0].out_path, "conf.d/o");
	conf_free(c);
	REQUIRE((c = parse_at(text, "/t.conf", __LINE__)) != NULL);
	CHECK_STREQ(c->rundir, "/run");
	CHECK_STREQ(c->services[0].err_path, "/../e");
	conf_free(c);

	/* A relative path too long once the directory is put before it. */
	memset(big, 'p', 4000);
	snprintf(big + 4000, sizeof(big) - 4000, "\n");
	snprintf(want, sizeof(want), "[service a]\ncommand = x\ndirectory = "
	    "%s", big);
	err_is(want, strlen(want), "/0123456789/0123456789/0123456789/"
	    "0123456789/0123456789/0123456789/0123456789/0123456789/"
	    "0123456789/0123456789/t.conf", "/0123456789/0123456789/"
	    "0123456789/0123456789/0123456789/0123456789/0123456789/"
	    "0123456789/0123456789/0123456789/t.conf:3: bad value for "
	    "directory: path longer than 4095 bytes", __LINE__);
	/* The same path alone is fine. */
	REQUIRE((c = PARSE(want)) != NULL);
	CHECK_EQ(strlen(c->services[0].directory), 4000);
	conf_free(c);
}

/* environment: repeats, later wins, sorting, odd values. */
static void
test_environment(void)
{
	struct conf *c;
	char **e;

	REQUIRE((c = PARSE("[service a]\ncommand = x\n"
	    "environment = B=1\n"
	    "environment = A=first\n"
	    "environment = _x9=\n"
	    "environment = A=second\n"
	    "environment = URL=a=b=c\n"
	    "environment = AB=z\n"
	    "environment = A=third\n"
	    "environment = Q='quoted' \"x\"\n")) != NULL);
	e = c->services[0].environment;
	REQUIRE(vec_len(e) == 6);
	CHECK_STREQ(e[0], "A=third");
	CHECK_STREQ(e[1], "AB=z");
	CHECK_STREQ(e[2], "B=1");
	CHECK_STREQ(e[3], "Q='quoted' \"x\"");
	CHECK_STREQ(e[4], "URL=a=b=c");
	CHECK_STREQ(e[5], "_x9=");
	conf_free(c);

	/* One entry, and repeats of a single name. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nenvironment = Z=1\n"
	    "environment = Z=2\nenvironment = Z=3\n")) != NULL);
	e = c->services[0].environment;
	REQUIRE(vec_len(e) == 1);
	CHECK_STREQ(e[0], "Z=3");
	conf_free(c);

	/* Each service has its own. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nenvironment = A=1\n"
	    "[service b]\ncommand = x\nenvironment = A=2\n")) != NULL);
	CHECK_STREQ(c->services[0].environment[0], "A=1");
	CHECK_STREQ(c->services[1].environment[0], "A=2");
	conf_free(c);
}

/* after: names resolved ignoring case, duplicates dropped, any order. */
static void
test_after(void)
{
	struct conf *c;
	char **a;

	REQUIRE((c = PARSE("[service web]\ncommand = x\n"
	    "after = DB cache\tdb  Cache db\n"
	    "[service db]\ncommand = x\n"
	    "[service Cache]\ncommand = x\nafter = db\n")) != NULL);
	a = c->services[0].after;
	REQUIRE(vec_len(a) == 2);
	/* Spelt as the services are. */
	CHECK_STREQ(a[0], "db");
	CHECK_STREQ(a[1], "Cache");
	CHECK_STREQ(c->services[2].after[0], "db");
	CHECK_EQ(vec_len(c->services[1].after), 0);
	conf_free(c);

	/* A diamond is not a cycle. */
	REQUIRE((c = PARSE("[service a]\ncommand = x\nafter = b c\n"
	    "[service b]\ncommand = x\nafter = d\n"
	    "[service c]\ncommand = x\nafter = d\n"
	    "[service d]\ncommand = x\n")) != NULL);
	conf_free(c);
}

/* Cycles: named from the first service in the file, at its after line. */
static void
test_cycles(void)
{
	struct conf *c;
	char *text, *p, err[ERRSIZE];
	size_t i, n = 20000, cap = n * 48;

	ERR("[service a]\ncommand = x\nafter = a\n",
	    "t.conf:3: after cycle: a -> a");
	ERR("[service a]\ncommand = x\nafter = b\n"
	    "[service b]\ncommand = x\nafter = a\n",
	    "t.conf:3: after cycle: a -> b -> a");
	ERR("[service c]\ncommand = x\nafter = a\n"
	    "[service a]\ncommand = x\nafter = b\n"
	    "[service b]\ncommand = x\nafter = c\n",
	    "t.conf:3: after cycle: c -> a -> b -> c");
	/* Found from y, still named from b, the first one in the file. */
	ERR("[service ok]\ncommand = x\n"
	    "[service y]\ncommand = x\nafter = x\n"
	    "[service b]\ncommand = x\nafter = ok y\n"
	    "[service x]\ncommand = x\n\nafter = b\n",
	    "t.conf:5: after cycle: y -> x -> b -> y");
	/* Case does not hide a cycle; the names are the services'. */
	ERR("[service Alpha]\ncommand = x\nafter = BETA\n"
	    "[service beta]\ncommand = x\nafter = alpha\n",
	    "t.conf:3: after cycle: Alpha -> beta -> Alpha");

	/*
	 * A chain of 20000 services, each after the previous one: no
	 * recursion to overflow.  Then closed into one long cycle, whose
	 * message is cut but stays one line.
	 */
	REQUIRE((text = malloc(cap)) != NULL);
	p = text;
	for (i = 0; i < n; i++) {
		p += sprintf(p, "[service s%zu]\ncommand = x\n", i);
		if (i > 0)
			p += sprintf(p, "after = s%zu\n", i - 1);
	}
	c = PARSE(text);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_EQ(c->nservices, n);
		CHECK_STREQ(c->services[n - 1].after[0], "s19998");
	}
	conf_free(c);
	sprintf(p, "[service t]\ncommand = x\n");
	/* s0 after the last one closes the loop. */
	REQUIRE((p = strstr(text, "[service s1]")) != NULL);
	memmove(p + 13, p, strlen(p) + 1);
	memcpy(p, "after=s19999\n", 13);
	c = (struct conf *)&c;
	CHECK_EQ(conf_parse(text, strlen(text), "t.conf", &c, err,
	    sizeof(err)), -1);
	CHECK(c == NULL);
	if (strncmp(err, "t.conf:3: after cycle: s0 -> s19999 -> s19998 -> ",
	    49) != 0)
		fprintf(stderr, "    got: %s\n", err);
	CHECK(strncmp(err, "t.conf:3: after cycle: s0 -> s19999 -> s19998 -> ",
	    49) == 0);
	CHECK(strchr(err, '\n') == NULL);
	free(text);
}

/* Every error of the text itself, and of the file's structure. */
static void
test_errors_text(void)
{
	char *big, line[5000];
	size_t n;

	/* The size limit: exactly 1 MiB is fine, one byte more is not. */
	n = 1024 * 1024;
	REQUIRE((big = malloc(n + 1)) != NULL);
	memset(big, '#', n + 1);
	for (size_t i = 4000; i < n; i += 4000)
		big[i] = '\n';
	{
		struct conf *c;
		char err[ERRSIZE];

		CHECK_EQ(conf_parse(big, n, "t.conf", &c, err, sizeof(err)), 0);
		conf_free(c);
	}
	ERRN(big, n + 1, "t.conf:1: file larger than 1 MiB");
	free(big);

	/* A line of 4096 bytes is fine (also with a CR), 4097 is not. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "# ", 2);
	line[4096] = '\n';
	line[4097] = '\0';
	{
		struct conf *c = PARSE(line);

		CHECK(c != NULL);
		conf_free(c);
	}
	memcpy(line + 4096, "\r\n", 3);
	{
		struct conf *c = PARSE(line);

		CHECK(c != NULL);
		conf_free(c);
	}
	memcpy(line + 4096, "x\n", 3);
	ERR(line, "t.conf:1: line longer than 4096 bytes");
	line[4097] = '\0';
	ERR(line, "t.conf:1: line longer than 4096 bytes");
	/* Also on a later line, and past a CR. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "\n\n", 2);
	memcpy(line + 2 + 4097, "\r\n", 3);
	ERR(line, "t.conf:3: line longer than 4096 bytes");
	memcpy(line + 2 + 4096, "\r\n", 3);
	{
		char want[256];

		snprintf(want, sizeof(want), "t.conf:3: expected key = value, "
		    "[section] or a comment, not '%.64s...'", line + 2);
		ERR(line, want);
	}

	ERRN("[service a]\ncommand = a\0b\n", 26,
	    "t.conf:2: NUL byte at column 12");
	ERRN("\0", 1, "t.conf:1: NUL byte at column 1");
	ERR("# \x1b[31m\n", "t.conf:1: control character 0x1b at column 3");
	ERR("\n\nkey = a\x7f\n",
	    "t.conf:3: control character 0x7f at column 8");
	ERR("# a\rb\n", "t.conf:1: control character 0x0d at column 4");
	ERR("# ok\n\x0c\n", "t.conf:2: control character 0x0c at column 1");
	/* Malformed UTF-8: stray, overlong, surrogate, too large, cut. */
	ERR("# \x80\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xc0\xaf\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xc1\xbf\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xe0\x80\xaf\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xed\xa0\x80\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xf0\x80\x80\xaf\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xf4\x90\x80\x80\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xf5\x80\x80\x80\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xff\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xc3\xa9\xc3\n", "t.conf:1: invalid UTF-8 at column 5");
	ERR("# \xe2\x82\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xe2\x82x\n", "t.conf:1: invalid UTF-8 at column 3");
	ERR("# \xf0\x9f\x98\n", "t.conf:1: invalid UTF-8 at column 3");
	/* The largest code point and the edges around surrogates pass. */
	{
		struct conf *c = PARSE("# \xf4\x8f\xbf\xbf \xed\x9f\xbf "
		    "\xee\x80\x80 \xc2\x80 \xdf\xbf \xef\xbf\xbf\n");

		CHECK(c != NULL);
		conf_free(c);
	}
}

/* Every error of sections, keys and their structure. */
static void
test_errors_structure(void)
{
	ERR("[service a\n", "t.conf:1: bad section header '[service a': "
	    "missing ']'");
	ERR("[\n", "t.conf:1: bad section header '[': missing ']'");
	ERR("[service a] # web\n", "t.conf:1: bad section header "
	    "'[service a] # web': missing ']'");
	ERR("[services a]\n", "t.conf:1: bad section header '[services a]': "
	    "expected [supervisor] or [service NAME]");
	ERR("[]\n", "t.conf:1: bad section header '[]': "
	    "expected [supervisor] or [service NAME]");
	ERR("[Supervisor]\n", "t.conf:1: bad section header '[Supervisor]': "
	    "expected [supervisor] or [service NAME]");
	ERR("[supervisor x]\n", "t.conf:1: bad section header "
	    "'[supervisor x]': expected [supervisor] or [service NAME]");
	ERR("[service]\n", "t.conf:1: missing service name in '[service]'");
	ERR("[ service \t ]\n",
	    "t.conf:1: missing service name in '[ service \t ]'");
	ERR("[service a b]\n", "t.conf:1: bad service name 'a b': expected "
	    "1 to 32 letters, digits, '_', '.' or '-'");
	ERR("[service a/b]\n", "t.conf:1: bad service name 'a/b': expected "
	    "1 to 32 letters, digits, '_', '.' or '-'");
	ERR("[service \xc3\xa9]\n", "t.conf:1: bad service name '\xc3\xa9': "
	    "expected 1 to 32 letters, digits, '_', '.' or '-'");
	ERR("[service abcdefghijklmnopqrstuvwxyz0123456]\n",
	    "t.conf:1: bad service name 'abcdefghijklmnopqrstuvwxyz0123456': "
	    "expected 1 to 32 letters, digits, '_', '.' or '-'");
	ERR("[service web]\ncommand = x\n\n[service WEB]\ncommand = y\n",
	    "t.conf:4: duplicate service 'WEB' (first at line 1)");
	ERR("[supervisor]\n[service a]\ncommand = x\n[supervisor]\n",
	    "t.conf:4: duplicate [supervisor] section (first at line 1)");
	ERR("# top\ncommand = x\n", "t.conf:2: key 'command' outside any "
	    "section");
	ERR("bogus = 1\n", "t.conf:1: key 'bogus' outside any section");
	ERR("[service a]\ncommand = x\ncommnd = y\n",
	    "t.conf:3: unknown key 'commnd' in [service a]");
	ERR("[service a]\ncommand = x\nrundir = /r\n",
	    "t.conf:3: unknown key 'rundir' in [service a]");
	ERR("[service a]\ncommand = x\nCommand = y\n",
	    "t.conf:3: unknown key 'Command' in [service a]");
	ERR("[service a]\ncommand = x\nstop signal = TERM\n",
	    "t.conf:3: unknown key 'stop signal' in [service a]");
	ERR("[service a]\ncommand = x\nrestart = never\n# c\n"
	    "restart = always\n",
	    "t.conf:5: duplicate key 'restart' (first at line 3)");
	ERR("[service a]\ncommand = x\ncommand = y\n",
	    "t.conf:3: duplicate key 'command' (first at line 2)");
	ERR("[service a]\nafter =\n", "t.conf:2: missing value for 'after'");
	ERR("[service a]\ncommand = \t \n",
	    "t.conf:2: missing value for 'command'");
	ERR("[service a]\ncommand = x\nhello\n", "t.conf:3: expected key = "
	    "value, [section] or a comment, not 'hello'");
	ERR("[service a]\n= x\n", "t.conf:2: missing key before '='");
	ERR("[service a]\n  =\n", "t.conf:2: missing key before '='");
	/* Missing command: at the header, also when another section follows. */
	ERR("[service a]\nrestart = never\n[service b]\ncommand = x\n",
	    "t.conf:1: missing command in [service a]");
	ERR("[service b]\ncommand = x\n\n[service a]\n# none\n",
	    "t.conf:4: missing command in [service a]");
	ERR("[service a]\ncommand = x\nafter = b c\n[service b]\ncommand = x\n",
	    "t.conf:3: after: unknown service 'c'");

	/* User text in messages: made visible and cut at 64 bytes. */
	ERR("[service a]\ncommand = x\nk\xe2\x80\xae" "e = 1\n",
	    "t.conf:3: unknown key 'k\\342\\200\\256e' in [service a]");
	ERR("[service a]\ncommand = x\nback\\slash = 1\n",
	    "t.conf:3: unknown key 'back\\\\slash' in [service a]");
	ERR("x123456789012345678901234567890123456789012345678901234567890123"
	    "4567890 = 1\n", "t.conf:1: key 'x1234567890123456789012345678901"
	    "23456789012345678901234567890123...' outside any section");
	/* Cut before a character that would not fit whole. */
	ERR("x12345678901234567890123456789012345678901234567890123456789012"
	    "\xc3\xa9 = 1\n", "t.conf:1: key 'x1234567890123456789012345678901"
	    "2345678901234567890123456789012...' outside any section");
	/* The file's name too is made visible. */
	err_is("x\n", 2, "a\nb.conf", "a\\nb.conf:1: expected key = value, "
	    "[section] or a comment, not 'x'", __LINE__);
	err_is("x\n", 2, NULL, "-:1: expected key = value, [section] or a "
	    "comment, not 'x'", __LINE__);
}

/* Every bad value, with the message that names what was expected. */
static void
test_errors_values(void)
{
	static const char *const durations[] = {
		"backoff", "backoff_max", "backoff_reset", "start_grace",
		"stop_timeout"
	};
	static const char dur[] = "a duration such as 100ms, 2s or 1m";
	static const char giveup[] = "N in DURATION such as 5 in 10s, N from "
	    "1 to 1000000 and DURATION above 0, or never";
	static const char ready[] =
	    "none, fd, fd:N with N from 3 to 255, or notify";
	static const char env[] = "NAME=value, with NAME a letter or '_' and "
	    "then letters, digits or '_'";
	size_t i;

	SVC_BAD("command_shell", "1", "yes or no");
	SVC_BAD("restart", "sometimes", "always, on-failure or never");
	SVC_BAD("restart", "on_failure", "always, on-failure or never");
	SVC_BAD("restart", "Always", "always, on-failure or never");
	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		SVC_BAD(durations[i], "fast", dur);
		SVC_BAD(durations[i], "-1s", dur);
		SVC_BAD(durations[i], "1 s", dur);
		SVC_BAD(durations[i], "1m30s", dur);
		SVC_BAD(durations[i], "100000000000",
		    "a duration of at most 272 years");
	}
	SVC_BAD("backoff_factor", "0", "an integer from 1 to 100");
	SVC_BAD("backoff_factor", "101", "an integer from 1 to 100");
	SVC_BAD("backoff_factor", "1.5", "an integer from 1 to 100");
	SVC_BAD("backoff_factor", "+2", "an integer from 1 to 100");
	SVC_BAD("backoff_factor", "-2", "an integer from 1 to 100");
	SVC_BAD("backoff_factor", "2x", "an integer from 1 to 100");
	SVC_BAD("give_up", "5", giveup);
	SVC_BAD("give_up", "5 in", giveup);
	SVC_BAD("give_up", "5 in 0", giveup);
	SVC_BAD("give_up", "5 in 0ms", giveup);
	SVC_BAD("give_up", "0 in 10s", giveup);
	SVC_BAD("give_up", "1000001 in 10s", giveup);
	SVC_BAD("give_up", "99999999999999999999999 in 10s", giveup);
	SVC_BAD("give_up", "5in 10s", giveup);
	SVC_BAD("give_up", "5 in10s", giveup);
	SVC_BAD("give_up", "5 on 10s", giveup);
	SVC_BAD("give_up", "five in 10s", giveup);
	SVC_BAD("give_up", "5 in 10s later", giveup);
	SVC_BAD("give_up", "5 in ten", giveup);
	SVC_BAD("give_up", "Never", giveup);
	SVC_BAD("stop_signal", "FOO",
	    "a signal name or number such as TERM or 15");
	SVC_BAD("stop_signal", "0",
	    "a signal name or number such as TERM or 15");
	SVC_BAD("stop_signal", "65",
	    "a signal name or number such as TERM or 15");
	SVC_BAD("environment", "A", env);
	SVC_BAD("environment", "=x", env);
	SVC_BAD("environment", "1A=x", env);
	SVC_BAD("environment", "A-B=x", env);
	SVC_BAD("environment", "A B=x", env);
	SVC_BAD("environment", "A =x", env);
	SVC_BAD("environment", "\xc3\xa9=x", env);
	SVC_BAD("user", "-x", "a user name or uid");
	SVC_BAD("user", "a b", "a user name or uid");
	SVC_BAD("user", "a:b", "a user name or uid");
	SVC_BAD("user", "abcdefghijklmnopqrstuvwxyz0123456",
	    "a user name or uid");
	SVC_BAD("group", "wheel,adm", "a group name or gid");
	SVC_BAD("rotate_size", "1T",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "1m",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "1kb",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "k",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "-1",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "1 k",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "1.5M",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "8589934592G",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_size", "9223372036854775808",
	    "a number of bytes with an optional k, M or G suffix");
	SVC_BAD("rotate_keep", "0", "an integer from 1 to 1000");
	SVC_BAD("rotate_keep", "1001", "an integer from 1 to 1000");
	SVC_BAD("ready", "fd:2", ready);
	SVC_BAD("ready", "fd:256", ready);
	SVC_BAD("ready", "fd:", ready);
	SVC_BAD("ready", "fd:x", ready);
	SVC_BAD("ready", "fd: 4", ready);
	SVC_BAD("ready", "fd:+4", ready);
	SVC_BAD("ready", "FD", ready);
	SVC_BAD("ready", "sd_notify", ready);
	SVC_BAD("after", "a,b", "service names separated by blanks");
	SVC_BAD("after", "b abcdefghijklmnopqrstuvwxyz0123456",
	    "service names separated by blanks");

	/* backoff longer than backoff_max, at whichever line came last. */
	ERR("[service a]\ncommand = x\nbackoff = 31s\n",
	    "t.conf:3: backoff is longer than backoff_max");
	ERR("[service a]\ncommand = x\nbackoff = 2s\nbackoff_max = 1s\n",
	    "t.conf:4: backoff is longer than backoff_max");
	ERR("[service a]\nbackoff_max = 1s\ncommand = x\nbackoff = 2s\n",
	    "t.conf:4: backoff is longer than backoff_max");
	ERR("[service a]\nbackoff_max = 10ms\ncommand = x\n",
	    "t.conf:2: backoff is longer than backoff_max");
}

/*
 * Checks that text, whose command (at line) is spec, is refused with the
 * message of pv_pipeline_parse, its column, and "--shell" put as
 * "command_shell = yes".
 */
static void
cmd_err_at(const char *text, const char *spec, int shell, int line,
    int where)
{
	struct pv_pipeline *pl;
	struct pv_spec_error se;
	char msg[256], want[512], *at;

	REQUIRE((pl = pv_pipeline_new()) != NULL);
	CHECK_EQ(pv_pipeline_parse(pl, spec, shell, &se), -1);
	pv_pipeline_free(pl);
	if ((at = strstr(se.message, "--shell")) != NULL)
		snprintf(msg, sizeof(msg), "%.*scommand_shell = yes%s",
		    (int)(at - se.message), se.message, at + 7);
	else
		snprintf(msg, sizeof(msg), "%s", se.message);
	snprintf(want, sizeof(want), "t.conf:%d: command: column %zu: %s",
	    line, se.column, msg);
	err_is(text, strlen(text), "t.conf", want, where);
}

#define CMD_ERR(text, spec, shell, line)				\
	cmd_err_at((text), (spec), (shell), (line), __LINE__)

/* A command that is not a SPEC: its message and column, at its line. */
static void
test_errors_command(void)
{
	struct pv_pipeline *pl;
	struct pv_spec_error se;
	struct conf *c;
	char err[ERRSIZE];

	CMD_ERR("[service a]\ncommand = echo $HOME\n", "echo $HOME", 0, 2);
	CMD_ERR("[service a]\ncommand = a; b\n", "a; b", 0, 2);
	CMD_ERR("[service a]\ncommand = a || b\n", "a || b", 0, 2);
	CMD_ERR("[service a]\ncommand = echo 'x\n", "echo 'x", 0, 2);
	CMD_ERR("[service a]\ncommand = a | | b\n", "a | | b", 0, 2);
	/* Reported at the command's line, after the section's other keys. */
	CMD_ERR("[service a]\ncommand = x >\nrestart = never\n", "x >", 0, 2);
	CMD_ERR("[service a]\ncommand = a 'b\ncommand_shell = yes\n", "a 'b",
	    1, 2);
	CMD_ERR("[service a]\ncommand_shell = yes\ncommand = a || b\n",
	    "a || b", 1, 3);

	/* A message that proposes --shell proposes command_shell instead. */
	REQUIRE((pl = pv_pipeline_new()) != NULL);
	CHECK_EQ(pv_pipeline_parse(pl, "echo $HOME", 0, &se), -1);
	pv_pipeline_free(pl);
	CHECK(strstr(se.message, "--shell") != NULL);
	CHECK_EQ(conf_parse("[service a]\ncommand = echo $HOME\n", 33,
	    "t.conf", &c, err, sizeof(err)), -1);
	CHECK(strstr(err, "--shell") == NULL);
	CHECK(strstr(err, "command_shell = yes") != NULL);
	CHECK(strncmp(err, "t.conf:2: command: column 6: ", 29) == 0);
}

/* errsize: the message is cut, NUL-terminated; no buffer is fine too. */
static void
test_errsize(void)
{
	static const char text[] = "[service a]\nbogus\n";
	struct conf *c;
	char err[16];

	memset(err, 'x', sizeof(err));
	errno = 0;
	CHECK_EQ(conf_parse(text, strlen(text), "t.conf", &c, err, 10), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_STREQ(err, "t.conf:2:");
	CHECK_EQ(err[10], 'x');
	memset(err, 'x', sizeof(err));
	CHECK_EQ(conf_parse(text, strlen(text), "t.conf", &c, err, 14), -1);
	CHECK_STREQ(err, "t.conf:2: exp");
	memset(err, 'x', sizeof(err));
	CHECK_EQ(conf_parse(text, strlen(text), "t.conf", &c, err, 0), -1);
	CHECK_EQ(err[0], 'x');
	errno = 0;
	CHECK_EQ(conf_parse(text, strlen(text), "t.conf", &c, NULL, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK(c == NULL);
	/* Success clears the buffer. */
	memset(err, 'x', sizeof(err));
	CHECK_EQ(conf_parse("", 0, "t.conf", &c, err, sizeof(err)), 0);
	CHECK_STREQ(err, "");
	conf_free(c);
	CHECK_EQ(conf_parse(NULL, 0, "t.conf", &c, err, sizeof(err)), 0);
	conf_free(c);
}

/* Returns service a of base with line added, parsed; NULL if it failed. */
static struct conf *
same_parse(const char *line)
{
	char *s;
	struct conf *c;

	if (asprintf(&s, "[service b]\ncommand = true\n[service a]\n"
	    "command = true\n%s\n", line) == -1) {
		perror("asprintf");
		exit(1);
	}
	c = parse_at(s, "/etc/t.conf", __LINE__);
	free(s);
	return c;
}

/* Returns conf_service_same of service a with line x and with line y. */
static int
same(const char *x, const char *y)
{
	struct conf *a, *b;
	int r;

	a = same_parse(x);
	b = same_parse(y);
	if (a == NULL || b == NULL) {
		conf_free(a);
		conf_free(b);
		return -1;
	}
	r = conf_service_same(&a->services[1], &b->services[1]);
	if (r != conf_service_same(&b->services[1], &a->services[1]))
		r = -2;
	conf_free(a);
	conf_free(b);
	return r;
}

/* conf_service_same: every field counts, the line and the order do not. */
static void
test_same(void)
{
	static const char *const differ[][2] = {
		{ "", "command_shell = yes" },
		{ "", "restart = never" },
		{ "restart = never", "restart = on-failure" },
		{ "", "backoff = 1s" },
		{ "", "backoff_max = 1m" },
		{ "", "backoff_factor = 3" },
		{ "", "backoff_reset = 1s" },
		{ "", "give_up = 1 in 1s" },
		{ "give_up = 5 in 10s", "give_up = 5 in 11s" },
		{ "give_up = 5 in 10s", "give_up = 6 in 10s" },
		{ "", "start_grace = 1s" },
		{ "", "stop_signal = INT" },
		{ "", "stop_timeout = 1s" },
		{ "", "directory = /tmp" },
		{ "directory = /tmp", "directory = /var" },
		{ "", "environment = A=1" },
		{ "environment = A=1", "environment = A=2" },
		{ "environment = A=1", "environment = B=1" },
		{ "environment = A=1", "environment = A=1\nenvironment = B=1" },
		{ "", "user = root" },
		{ "user = root", "user = daemon" },
		{ "", "group = root" },
		{ "", "stdout = null" },
		{ "stdout = x", "stdout = y" },
		{ "stdout = x", "stdout = /x" },
		{ "", "stderr = null" },
		{ "", "stderr = stdout" },
		{ "stderr = x", "stderr = y" },
		{ "", "rotate_size = 1k" },
		{ "", "rotate_keep = 4" },
		{ "", "ready = fd" },
		{ "ready = fd", "ready = fd:4" },
		{ "", "ready = notify" },
		{ "ready = fd", "ready = notify" },
		{ "", "after = b" },
	};
	static const char *const alike[][2] = {
		{ "", "" },
		{ "", "restart = always" },
		{ "", "backoff = 100ms" },
		{ "", "backoff = 0.1" },
		{ "", "give_up = never" },
		{ "", "stop_signal = SIGTERM" },
		{ "", "stop_signal = 15" },
		{ "", "stop_timeout = 5000ms" },
		{ "", "stdout = log" },
		{ "", "ready = none" },
		{ "", "rotate_keep = 3" },
		{ "ready = fd", "ready = fd:3" },
		{ "rotate_size = 1k", "rotate_size = 1024" },
		{ "", "# a comment moves nothing\n\n" },
		{ "environment = A=1\nenvironment = B=2",
		    "environment = B=2\nenvironment = A=1" },
		{ "environment = A=0\nenvironment = A=1", "environment = A=1" },
		{ "after = b", "after = B b" },
	};
	struct conf_service z1, z2;
	struct conf *a, *b;
	size_t i;

	for (i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		int r = same(differ[i][0], differ[i][1]);

		if (r != 0)
			fprintf(stderr, "    differ[%zu]: \"%s\" / "
			    "\"%s\": %d\n", i, differ[i][0], differ[i][1], r);
		CHECK_EQ(r, 0);
	}
	for (i = 0; i < sizeof(alike) / sizeof(alike[0]); i++) {
		int r = same(alike[i][0], alike[i][1]);

		if (r != 1)
			fprintf(stderr, "    alike[%zu]: \"%s\" / \"%s\": %d\n",
			    i, alike[i][0], alike[i][1], r);
		CHECK_EQ(r, 1);
	}

	/* The command and the name count; the line does not. */
	REQUIRE((a = PARSE("[service a]\ncommand = x\n[service b]\n"
	    "command = x\n")) != NULL);
	REQUIRE((b = PARSE("\n\n[service a]\ncommand = y\n[service b]\n"
	    "command = x\n")) != NULL);
	CHECK_EQ(conf_service_same(&a->services[0], &b->services[0]), 0);
	CHECK_EQ(conf_service_same(&a->services[1], &b->services[1]), 1);
	CHECK_EQ(conf_service_same(&a->services[0], &a->services[1]), 0);
	conf_free(a);
	conf_free(b);
	/* after as a set: order and case do not count. */
	REQUIRE((a = PARSE("[service a]\ncommand = x\nafter = b c\n"
	    "[service b]\ncommand = x\n[service c]\ncommand = x\n")) != NULL);
	REQUIRE((b = PARSE("[service a]\ncommand = x\nafter = C b\n"
	    "[service b]\ncommand = x\n[service c]\ncommand = x\n")) != NULL);
	CHECK_EQ(conf_service_same(&a->services[0], &b->services[0]), 1);
	conf_free(a);
	conf_free(b);

	/* Services built by hand, with NULL lists and strings. */
	memset(&z1, 0, sizeof(z1));
	memset(&z2, 0, sizeof(z2));
	CHECK_EQ(conf_service_same(&z1, &z2), 1);
	z2.name = (char *)"x";
	CHECK_EQ(conf_service_same(&z1, &z2), 0);
}

/* Writes n bytes of s to path, or fails the test. */
static void
write_file(const char *path, const char *s, size_t n)
{
	int fd;

	REQUIRE((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	REQUIRE(write(fd, s, n) == (ssize_t)n);
	REQUIRE(close(fd) == 0);
}

/* conf_load on real files: paths made absolute, errors, the size limit. */
static void
test_load(void)
{
	static const char text[] = "[supervisor]\nrundir = run\n"
	    "[service a]\ncommand = true\nstdout = out.log\n"
	    "directory = work\nstderr = /abs\n";
	char tmpl[] = "/tmp/test_conf.XXXXXX", *dir, path[PATH_MAX];
	char want[PATH_MAX + 64], cwd[PATH_MAX], err[ERRSIZE], *big;
	struct conf *c;
	int here;
	size_t n = 1024 * 1024;

	REQUIRE((dir = mkdtemp(tmpl)) != NULL);
	REQUIRE((here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1);

	snprintf(path, sizeof(path), "%s/pv.conf", dir);
	write_file(path, text, strlen(text));
	err[0] = 'x';
	c = NULL;
	CHECK_EQ(conf_load(path, &c, err, sizeof(err)), 0);
	REQUIRE(c != NULL);
	CHECK_STREQ(err, "");
	CHECK_STREQ(c->path, path);
	snprintf(want, sizeof(want), "%s/run", dir);
	CHECK_STREQ(c->rundir, want);
	snprintf(want, sizeof(want), "%s/out.log", dir);
	CHECK_STREQ(c->services[0].out_path, want);
	snprintf(want, sizeof(want), "%s/work", dir);
	CHECK_STREQ(c->services[0].directory, want);
	CHECK_STREQ(c->services[0].err_path, "/abs");
	conf_free(c);

	/* A relative name: the directory is made absolute from the cwd. */
	REQUIRE(chdir(dir) == 0);
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	REQUIRE(mkdir("sub", 0700) == 0);
	write_file("sub/x.conf", text, strlen(text));
	CHECK_EQ(conf_load("pv.conf", &c, err, sizeof(err)), 0);
	REQUIRE(c != NULL);
	CHECK_STREQ(c->path, "pv.conf");
	snprintf(want, sizeof(want), "%s/out.log", cwd);
	CHECK_STREQ(c->services[0].out_path, want);
	conf_free(c);
	CHECK_EQ(conf_load("sub/x.conf", &c, err, sizeof(err)), 0);
	REQUIRE(c != NULL);
	snprintf(want, sizeof(want), "%s/sub/out.log", cwd);
	CHECK_STREQ(c->services[0].out_path, want);
	conf_free(c);
	CHECK_EQ(conf_load("./sub/x.conf", &c, err, sizeof(err)), 0);
	REQUIRE(c != NULL);
	snprintf(want, sizeof(want), "%s/./sub/out.log", cwd);
	CHECK_STREQ(c->services[0].out_path, want);
	conf_free(c);
	/* Messages name the file as given. */
	write_file("bad.conf", "[service a]\ncommand = x\nbogus = 1\n", 34);
	errno = 0;
	c = (struct conf *)&c;
	CHECK_EQ(conf_load("bad.conf", &c, err, sizeof(err)), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK(c == NULL);
	CHECK_STREQ(err, "bad.conf:3: unknown key 'bogus' in [service a]");
	REQUIRE(fchdir(here) == 0);

	/* A missing file, and a directory. */
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	errno = 0;
	CHECK_EQ(conf_load(path, &c, err, sizeof(err)), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CHECK_STREQ(err, want);
	errno = 0;
	CHECK_EQ(conf_load(dir, &c, err, sizeof(err)), -1);
	CHECK_EQ(errno, EISDIR);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	CHECK_STREQ(err, want);
	/* A character device reads as empty. */
	CHECK_EQ(conf_load("/dev/null", &c, err, sizeof(err)), 0);
	REQUIRE(c != NULL);
	CHECK_EQ(c->nservices, 0);
	conf_free(c);

	/* Exactly 1 MiB loads; one byte more is refused at line 1. */
	REQUIRE((big = malloc(n + 1)) != NULL);
	memset(big, ';', n + 1);
	for (size_t i = 1000; i < n + 1; i += 1000)
		big[i] = '\n';
	memcpy(big, "[service a]\ncommand = x\n", 24);
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	write_file(path, big, n);
	CHECK_EQ(conf_load(path, &c, err, sizeof(err)), 0);
	if (c != NULL)
		CHECK_EQ(c->nservices, 1);
	conf_free(c);
	write_file(path, big, n + 1);
	errno = 0;
	CHECK_EQ(conf_load(path, &c, err, sizeof(err)), -1);
	CHECK_EQ(errno, EINVAL);
	snprintf(want, sizeof(want), "%s:1: file larger than 1 MiB", path);
	CHECK_STREQ(err, want);
	/* Much larger: still read no further than the limit. */
	{
		int fd;

		REQUIRE((fd = open(path, O_WRONLY | O_APPEND)) != -1);
		for (int k = 0; k < 4; k++)
			REQUIRE(write(fd, big, n) == (ssize_t)n);
		close(fd);
	}
	CHECK_EQ(conf_load(path, &c, err, sizeof(err)), -1);
	CHECK_STREQ(err, want);
	free(big);

	unlink(path);
	snprintf(path, sizeof(path), "%s/pv.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub/x.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	CHECK_EQ(rmdir(dir), 0);
	close(here);
}

int
main(void)
{
	check_watchdog(60);
	test_defaults();
	test_every_key();
	test_syntax();
	test_supervisor_keys();
	test_service_values();
	test_paths();
	test_environment();
	test_after();
	test_cycles();
	test_errors_text();
	test_errors_structure();
	test_errors_values();
	test_errors_command();
	test_errsize();
	test_same();
	test_load();
	return check_done("test_conf");
}
