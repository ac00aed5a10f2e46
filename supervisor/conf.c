/*
 * conf.c: pipevisor.conf(5), the configuration of `pipevisor up`.
 *
 * An INI file of "key = value" lines, full-line '#' and ';' comments,
 * blank lines, and [supervisor] and [service NAME] section headers.  The
 * text is checked as it is read (at most 1 MiB; per line at most 4096
 * bytes, no NUL, no control character other than tab, valid UTF-8; CRLF
 * and a leading byte-order mark accepted), each value is parsed into a
 * struct conf that starts from the defaults documented in pv_private.h,
 * each command is validated as a SPEC once its section is complete (so
 * command_shell may come after command), and the `after` names are
 * resolved and checked for cycles once the whole file is read.  The first
 * problem ends the parse with one line "FILE:LINE: message"; user text
 * quoted in a message is made terminal-safe with pv_vis.
 *
 * Relative paths (rundir, log, directory, stdout, stderr) are taken from
 * the directory of the file: conf_load makes that directory absolute, so
 * the supervisor may change directory later.
 *
 * Pure code: it reacts to no signal and touches no fd but the file that
 * conf_load reads.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define CONF_MAXFILE	(1024 * 1024)	/* bytes in a file */
#define CONF_MAXLINE	4096		/* bytes in a line, without CR LF */
#define CONF_NAMEMAX	32		/* bytes in a service name */
#define CONF_QUOTEMAX	64		/* bytes of user text in a message */
#define CONF_GIVEUP_MAX	1000000		/* deaths counted by give_up */
#define CONF_KEEP_MAX	1000		/* rotate_keep */

/* The sections a key can belong to. */
enum conf_section {
	SEC_NONE,
	SEC_SUPERVISOR,
	SEC_SERVICE
};

/* Every key; the order of conf_keys. */
enum conf_key {
	KEY_RUNDIR,
	KEY_LOG,
	KEY_HTTP,
	KEY_SUBREAPER,
	KEY_COMMAND,
	KEY_COMMAND_SHELL,
	KEY_RESTART,
	KEY_BACKOFF,
	KEY_BACKOFF_MAX,
	KEY_BACKOFF_FACTOR,
	KEY_BACKOFF_RESET,
	KEY_GIVE_UP,
	KEY_START_GRACE,
	KEY_STOP_SIGNAL,
	KEY_STOP_TIMEOUT,
	KEY_DIRECTORY,
	KEY_ENVIRONMENT,
	KEY_USER,
	KEY_GROUP,
	KEY_STDOUT,
	KEY_STDERR,
	KEY_ROTATE_SIZE,
	KEY_ROTATE_KEEP,
	KEY_READY,
	KEY_AFTER,
	KEY_COUNT
};

static const struct {
	const char	*name;
	enum conf_section section;
} conf_keys[KEY_COUNT] = {
	[KEY_RUNDIR] =		{ "rundir", SEC_SUPERVISOR },
	[KEY_LOG] =		{ "log", SEC_SUPERVISOR },
	[KEY_HTTP] =		{ "http", SEC_SUPERVISOR },
	[KEY_SUBREAPER] =	{ "subreaper", SEC_SUPERVISOR },
	[KEY_COMMAND] =		{ "command", SEC_SERVICE },
	[KEY_COMMAND_SHELL] =	{ "command_shell", SEC_SERVICE },
	[KEY_RESTART] =		{ "restart", SEC_SERVICE },
	[KEY_BACKOFF] =		{ "backoff", SEC_SERVICE },
	[KEY_BACKOFF_MAX] =	{ "backoff_max", SEC_SERVICE },
	[KEY_BACKOFF_FACTOR] =	{ "backoff_factor", SEC_SERVICE },
	[KEY_BACKOFF_RESET] =	{ "backoff_reset", SEC_SERVICE },
	[KEY_GIVE_UP] =		{ "give_up", SEC_SERVICE },
	[KEY_START_GRACE] =	{ "start_grace", SEC_SERVICE },
	[KEY_STOP_SIGNAL] =	{ "stop_signal", SEC_SERVICE },
	[KEY_STOP_TIMEOUT] =	{ "stop_timeout", SEC_SERVICE },
	[KEY_DIRECTORY] =	{ "directory", SEC_SERVICE },
	[KEY_ENVIRONMENT] =	{ "environment", SEC_SERVICE },
	[KEY_USER] =		{ "user", SEC_SERVICE },
	[KEY_GROUP] =		{ "group", SEC_SERVICE },
	[KEY_STDOUT] =		{ "stdout", SEC_SERVICE },
	[KEY_STDERR] =		{ "stderr", SEC_SERVICE },
	[KEY_ROTATE_SIZE] =	{ "rotate_size", SEC_SERVICE },
	[KEY_ROTATE_KEEP] =	{ "rotate_keep", SEC_SERVICE },
	[KEY_READY] =		{ "ready", SEC_SERVICE },
	[KEY_AFTER] =		{ "after", SEC_SERVICE },
};

/* What the parser keeps about a service beside its struct conf_service. */
struct conf_extra {
	size_t	 nenv, envcap;		/* environment[], NULL-ended */
	size_t	 nafter, aftercap;	/* after[], NULL-ended */
	int	 command_line, after_line;
	size_t	*after_idx;		/* after[] as service indices */
};

struct conf_parser {
	struct conf		*c;
	char			*file;	/* the file's name, made visible */
	const char		*dir;	/* base of relative paths, or NULL */
	char			*err;
	size_t			 errsize;
	int			 lineno;
	enum conf_section	 section;
	int			 supervisor_line;
	int			 keyline[KEY_COUNT];
	size_t			 svccap;
	struct conf_extra	*extra;	/* parallel to c->services */
	size_t			*hash;	/* service index + 1, or 0: free */
	size_t			 hashcap;
	char			 line[CONF_MAXLINE + 1];
	char			 quote[PV_VIS_SIZE(CONF_QUOTEMAX) + 4];
};

/* An environment entry and where it was given, for a stable sort. */
struct conf_env_entry {
	char	*s;
	size_t	 order;
};

/* Formats "FILE:LINE: message" into the caller's buffer; sets EINVAL. */
static int __attribute__((format(printf, 3, 4)))
conf_error(struct conf_parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err != NULL && p->errsize > 0) {
		n = snprintf(p->err, p->errsize, "%s:%d: ", p->file, line);
		if (n >= 0 && (size_t)n < p->errsize) {
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errsize - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	errno = EINVAL;
	return -1;
}

/*
 * Returns s made safe for a message: at most CONF_QUOTEMAX bytes, cut at
 * a character boundary and followed by "..." when longer, and escaped
 * with pv_vis.  The result lives in p until the next call.
 */
static const char *
conf_quote(struct conf_parser *p, const char *s)
{
	size_t n = strlen(s), take, w;

	take = n > CONF_QUOTEMAX ? CONF_QUOTEMAX : n;
	while (take < n && take > 0 && ((unsigned char)s[take] & 0xc0) == 0x80)
		take--;
	w = pv_vis(p->quote, s, take);
	if (take < n)
		strlcpy(p->quote + w, "...", sizeof(p->quote) - w);
	return p->quote;
}

/* Reports a value that does not parse, with what was expected. */
static int
conf_bad(struct conf_parser *p, const char *key, const char *value,
    const char *expected)
{
	return conf_error(p, p->lineno, "bad value for %s: '%s' (expected %s)",
	    key, conf_quote(p, value), expected);
}

/*
 * Returns the length of the well-formed UTF-8 sequence (RFC 3629) that
 * starts with a byte of 0x80 or more at s, of which n bytes are left, or
 * 0 when it is malformed (overlong, surrogate, past U+10FFFF, truncated).
 */
static size_t
conf_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	if (s[0] < 0xe0)
		len = 2;
	else if (s[0] < 0xf0) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Refuses a line holding a NUL, a control character or invalid UTF-8. */
static int
conf_check_text(struct conf_parser *p, const char *text, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, k;

	while (i < n) {
		if (s[i] == '\0')
			return conf_error(p, p->lineno,
			    "NUL byte at column %zu", i + 1);
		if (s[i] < 0x80) {
			if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
				return conf_error(p, p->lineno, "control "
				    "character 0x%02x at column %zu", s[i],
				    i + 1);
			i++;
			continue;
		}
		if ((k = conf_utf8_len(s + i, n - i)) == 0)
			return conf_error(p, p->lineno,
			    "invalid UTF-8 at column %zu", i + 1);
		i += k;
	}
	return 0;
}

/* Returns 1 for an ASCII letter or digit, whatever the locale. */
static int
conf_isalnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Returns 1 for the blanks that separate words: space and tab. */
static int
conf_isblank(char c)
{
	return c == ' ' || c == '\t';
}

/* Strips leading and trailing blanks in place; returns the new start. */
static char *
conf_trim(char *s)
{
	size_t n;

	while (conf_isblank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && conf_isblank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Returns 1 if the n bytes at s are a service name: [A-Za-z0-9_.-]{1,32}. */
static int
conf_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > CONF_NAMEMAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!conf_isalnum(s[i]) && s[i] != '_' && s[i] != '.' &&
		    s[i] != '-')
			return 0;
	return 1;
}

/*
 * Parses s, all decimal digits (no sign, no blank), as an integer from
 * min to max.  Returns 0 and the number in *out, or -1.
 */
static int
conf_uint(const char *s, long long min, long long max, long long *out)
{
	const char *errstr;
	long long n;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return -1;
	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		return -1;
	*out = n;
	return 0;
}

/* Returns the hash of a service name, ignoring case (FNV-1a). */
static size_t
conf_hash(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' :
		    *s);
		h *= UINT64_C(1099511628211);
	}
	return (size_t)h;
}

/* Returns the index of the service called name (any case), or SIZE_MAX. */
static size_t
conf_lookup(const struct conf_parser *p, const char *name)
{
	size_t i, idx;

	if (p->hashcap == 0)
		return SIZE_MAX;
	for (i = conf_hash(name) & (p->hashcap - 1); p->hash[i] != 0;
	    i = (i + 1) & (p->hashcap - 1)) {
		idx = p->hash[i] - 1;
		if (strcasecmp(p->c->services[idx].name, name) == 0)
			return idx;
	}
	return SIZE_MAX;
}

/* Puts service idx into the hash table, which has room for it. */
static void
conf_hash_put(struct conf_parser *p, size_t idx)
{
	size_t i;

	for (i = conf_hash(p->c->services[idx].name) & (p->hashcap - 1);
	    p->hash[i] != 0; i = (i + 1) & (p->hashcap - 1))
		continue;
	p->hash[i] = idx + 1;
}

/*
 * Adds the last service to the hash table, doubling the table first when
 * it would be more than half full.  Returns 0, or -1 with errno ENOMEM.
 */
static int
conf_hash_add(struct conf_parser *p)
{
	size_t n = p->c->nservices, cap, i;
	size_t *h;

	if (n * 2 <= p->hashcap) {
		conf_hash_put(p, n - 1);
		return 0;
	}
	cap = p->hashcap == 0 ? 64 : p->hashcap * 2;
	if ((h = calloc(cap, sizeof(*h))) == NULL)
		return -1;
	free(p->hash);
	p->hash = h;
	p->hashcap = cap;
	for (i = 0; i < n; i++)
		conf_hash_put(p, i);
	return 0;
}

/*
 * Appends s to the NULL-ended array *v of *n entries and room for *cap,
 * growing it by doubling; the array takes s.  Returns 0, or -1 with
 * errno ENOMEM (s is not taken).
 */
static int
conf_vec_push(char ***v, size_t *n, size_t *cap, char *s)
{
	char **nv;
	size_t ncap;

	if (*n + 1 >= *cap) {
		ncap = *cap < 4 ? 4 : *cap * 2;
		if ((nv = reallocarray(*v, ncap, sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
	return 0;
}

/* Frees a NULL-ended array of strings and the strings; NULL is ignored. */
static void
conf_vec_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Stores value in *out as a path: an absolute one as is, a relative one
 * after the file's directory.  Returns 0, or -1 with errno.
 */
static int
conf_path(struct conf_parser *p, const char *key, const char *value,
    char **out)
{
	size_t dl, vl = strlen(value);
	char *s;
	int slash;

	if (value[0] == '/' || p->dir == NULL) {
		if (vl >= PATH_MAX)
			return conf_error(p, p->lineno,
			    "bad value for %s: path longer than %d bytes",
			    key, PATH_MAX - 1);
		return (*out = strdup(value)) == NULL ? -1 : 0;
	}
	dl = strlen(p->dir);
	slash = dl > 0 && p->dir[dl - 1] == '/';
	if (dl + !slash + vl >= PATH_MAX)
		return conf_error(p, p->lineno,
		    "bad value for %s: path longer than %d bytes", key,
		    PATH_MAX - 1);
	if ((s = malloc(dl + !slash + vl + 1)) == NULL)
		return -1;
	memcpy(s, p->dir, dl);
	if (!slash)
		s[dl] = '/';
	memcpy(s + dl + !slash, value, vl + 1);
	*out = s;
	return 0;
}

/* Parses yes or no into *out. */
static int
conf_yesno(struct conf_parser *p, const char *key, const char *value,
    int *out)
{
	if (strcmp(value, "yes") == 0)
		*out = 1;
	else if (strcmp(value, "no") == 0)
		*out = 0;
	else
		return conf_bad(p, key, value, "yes or no");
	return 0;
}

/* Parses a duration ("100ms", "2s", "1m") into *out. */
static int
conf_duration(struct conf_parser *p, const char *key, const char *value,
    struct timespec *out)
{
	if (pv_duration_parse(value, out) == -1)
		return conf_bad(p, key, value, errno == ERANGE ?
		    "a duration of at most 272 years" :
		    "a duration such as 100ms, 2s or 1m");
	return 0;
}

/*
 * Checks an http address: ADDR:PORT, [ADDR]:PORT or PORT, with PORT from
 * 1 to 65535 and ADDR non-empty and without blanks (net_listen resolves
 * it when the supervisor starts).
 */
static int
conf_http(struct conf_parser *p, const char *value, char **out)
{
	const char *port, *close;
	size_t alen = 0;
	long long n;

	if (value[0] == '[') {
		if ((close = strchr(value, ']')) == NULL || close[1] != ':')
			goto bad;
		alen = (size_t)(close - value - 1);
		port = close + 2;
		if (alen == 0 || memchr(value + 1, '[', alen) != NULL)
			goto bad;
	} else if ((port = strrchr(value, ':')) != NULL) {
		alen = (size_t)(port - value);
		port++;
		if (alen == 0 || memchr(value, ':', alen) != NULL)
			goto bad;
	} else
		port = value;
	if (strpbrk(value, " \t") != NULL ||
	    conf_uint(port, 1, 65535, &n) == -1)
		goto bad;
	return (*out = strdup(value)) == NULL ? -1 : 0;
bad:
	return conf_bad(p, "http", value,
	    "ADDR:PORT, [ADDR]:PORT or PORT, with PORT from 1 to 65535");
}

/* Parses "N in DURATION" or "never" into a service's give_up fields. */
static int
conf_give_up(struct conf_parser *p, const char *value,
    struct conf_service *svc)
{
	const char *s = value;
	char num[24];
	size_t n;
	long long count;
	struct timespec w;

	if (strcmp(value, "never") == 0) {
		svc->give_up_count = 0;
		svc->give_up_window.tv_sec = 0;
		svc->give_up_window.tv_nsec = 0;
		return 0;
	}
	n = strcspn(s, " \t");
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, s, n);
	num[n] = '\0';
	if (conf_uint(num, 1, CONF_GIVEUP_MAX, &count) == -1)
		goto bad;
	for (s += n; conf_isblank(*s); s++)
		continue;
	if (strncmp(s, "in", 2) != 0 || !conf_isblank(s[2]))
		goto bad;
	for (s += 2; conf_isblank(*s); s++)
		continue;
	if (pv_duration_parse(s, &w) == -1 || (w.tv_sec == 0 && w.tv_nsec == 0))
		goto bad;
	svc->give_up_count = (unsigned)count;
	svc->give_up_window = w;
	return 0;
bad:
	return conf_bad(p, "give_up", value, "N in DURATION such as 5 in 10s, "
	    "N from 1 to 1000000 and DURATION above 0, or never");
}

/* Parses a size in bytes with an optional k, M or G suffix (of 1024). */
static int
conf_size(struct conf_parser *p, const char *value, off_t *out)
{
	char num[24];
	size_t n = strspn(value, "0123456789");
	long long v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		goto bad;
	switch (value[n]) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024;
		break;
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		goto bad;
	}
	if (value[n] != '\0' && value[n + 1] != '\0')
		goto bad;
	memcpy(num, value, n);
	num[n] = '\0';
	if (conf_uint(num, 0, INT64_MAX / mult, &v) == -1)
		goto bad;
	*out = (off_t)(v * mult);
	return 0;
bad:
	return conf_bad(p, "rotate_size", value,
	    "a number of bytes with an optional k, M or G suffix");
}

/* Parses none, fd, fd:N (3 <= N <= 255) or notify. */
static int
conf_ready(struct conf_parser *p, const char *value, struct conf_service *svc)
{
	long long n;

	if (strcmp(value, "none") == 0)
		svc->ready = CONF_READY_NONE;
	else if (strcmp(value, "notify") == 0)
		svc->ready = CONF_READY_NOTIFY;
	else if (strcmp(value, "fd") == 0) {
		svc->ready = CONF_READY_FD;
		svc->ready_fd = 3;
	} else if (strncmp(value, "fd:", 3) == 0 &&
	    conf_uint(value + 3, 3, 255, &n) == 0) {
		svc->ready = CONF_READY_FD;
		svc->ready_fd = (int)n;
	} else
		return conf_bad(p, "ready", value,
		    "none, fd, fd:N with N from 3 to 255, or notify");
	return 0;
}

/* Parses stdout or stderr: log, null, stdout (stderr only) or a path. */
static int
conf_output(struct conf_parser *p, const char *key, const char *value,
    enum conf_output *out, char **path)
{
	int is_err = strcmp(key, "stderr") == 0;

	if (strcmp(value, "log") == 0)
		*out = CONF_OUT_LOG;
	else if (strcmp(value, "null") == 0)
		*out = CONF_OUT_NULL;
	else if (is_err && strcmp(value, "stdout") == 0)
		*out = CONF_OUT_STDOUT;
	else {
		if (conf_path(p, key, value, path) == -1)
			return -1;
		*out = CONF_OUT_FILE;
	}
	return 0;
}

/* Checks a user or group: 1 to 32 of [A-Za-z0-9_.-], not starting with '-'. */
static int
conf_account(struct conf_parser *p, const char *key, const char *value,
    char **out)
{
	if (!conf_name_ok(value, strlen(value)) || value[0] == '-')
		return conf_bad(p, key, value, strcmp(key, "user") == 0 ?
		    "a user name or uid" : "a group name or gid");
	return (*out = strdup(value)) == NULL ? -1 : 0;
}

/* Appends an environment entry NAME=value; duplicates are settled later. */
static int
conf_env(struct conf_parser *p, const char *value, struct conf_service *svc,
    struct conf_extra *x)
{
	size_t n = strcspn(value, "="), i;
	char *s;

	if (value[n] != '=' || n == 0 ||
	    (value[0] >= '0' && value[0] <= '9'))
		goto bad;
	for (i = 0; i < n; i++)
		if (!conf_isalnum(value[i]) && value[i] != '_')
			goto bad;
	if ((s = strdup(value)) == NULL)
		return -1;
	if (conf_vec_push(&svc->environment, &x->nenv, &x->envcap, s) == -1) {
		free(s);
		return -1;
	}
	return 0;
bad:
	return conf_bad(p, "environment", value, "NAME=value, with NAME a "
	    "letter or '_' and then letters, digits or '_'");
}

/* Appends the blank-separated service names of an after line. */
static int
conf_after(struct conf_parser *p, const char *value, struct conf_service *svc,
    struct conf_extra *x)
{
	const char *s = value;
	size_t n;
	char *name;

	for (;;) {
		while (conf_isblank(*s))
			s++;
		if (*s == '\0')
			return 0;
		n = strcspn(s, " \t");
		if (!conf_name_ok(s, n))
			return conf_bad(p, "after", value,
			    "service names separated by blanks");
		if ((name = strndup(s, n)) == NULL)
			return -1;
		if (conf_vec_push(&svc->after, &x->nafter, &x->aftercap,
		    name) == -1) {
			free(name);
			return -1;
		}
		s += n;
	}
}

/* Sets a key of the [supervisor] section. */
static int
conf_supervisor_key(struct conf_parser *p, enum conf_key k, const char *value)
{
	struct conf *c = p->c;

	switch (k) {
	case KEY_RUNDIR:
		return conf_path(p, "rundir", value, &c->rundir);
	case KEY_LOG:
		return conf_path(p, "log", value, &c->log);
	case KEY_HTTP:
		return conf_http(p, value, &c->http);
	case KEY_SUBREAPER:
		return conf_yesno(p, "subreaper", value, &c->subreaper);
	default:
		abort();
	}
}

/* Sets a key of the current [service NAME] section. */
static int
conf_service_key(struct conf_parser *p, enum conf_key k, const char *value)
{
	struct conf_service *svc = &p->c->services[p->c->nservices - 1];
	struct conf_extra *x = &p->extra[p->c->nservices - 1];
	const char *key = conf_keys[k].name;
	long long n;

	switch (k) {
	case KEY_COMMAND:
		x->command_line = p->lineno;
		return (svc->command = strdup(value)) == NULL ? -1 : 0;
	case KEY_COMMAND_SHELL:
		return conf_yesno(p, key, value, &svc->shell);
	case KEY_RESTART:
		if (strcmp(value, "always") == 0)
			svc->restart = CONF_RESTART_ALWAYS;
		else if (strcmp(value, "on-failure") == 0)
			svc->restart = CONF_RESTART_ON_FAILURE;
		else if (strcmp(value, "never") == 0)
			svc->restart = CONF_RESTART_NEVER;
		else
			return conf_bad(p, key, value,
			    "always, on-failure or never");
		return 0;
	case KEY_BACKOFF:
		return conf_duration(p, key, value, &svc->backoff_initial);
	case KEY_BACKOFF_MAX:
		return conf_duration(p, key, value, &svc->backoff_max);
	case KEY_BACKOFF_FACTOR:
		if (conf_uint(value, 1, 100, &n) == -1)
			return conf_bad(p, key, value,
			    "an integer from 1 to 100");
		svc->backoff_factor = (unsigned)n;
		return 0;
	case KEY_BACKOFF_RESET:
		return conf_duration(p, key, value, &svc->backoff_reset);
	case KEY_GIVE_UP:
		return conf_give_up(p, value, svc);
	case KEY_START_GRACE:
		return conf_duration(p, key, value, &svc->start_grace);
	case KEY_STOP_SIGNAL:
		if ((svc->stop_signal = pv_signal_parse(value)) == -1)
			return conf_bad(p, key, value,
			    "a signal name or number such as TERM or 15");
		return 0;
	case KEY_STOP_TIMEOUT:
		return conf_duration(p, key, value, &svc->stop_timeout);
	case KEY_DIRECTORY:
		return conf_path(p, key, value, &svc->directory);
	case KEY_ENVIRONMENT:
		return conf_env(p, value, svc, x);
	case KEY_USER:
		return conf_account(p, key, value, &svc->user);
	case KEY_GROUP:
		return conf_account(p, key, value, &svc->group);
	case KEY_STDOUT:
		return conf_output(p, key, value, &svc->out, &svc->out_path);
	case KEY_STDERR:
		return conf_output(p, key, value, &svc->err, &svc->err_path);
	case KEY_ROTATE_SIZE:
		return conf_size(p, value, &svc->rotate_size);
	case KEY_ROTATE_KEEP:
		if (conf_uint(value, 1, CONF_KEEP_MAX, &n) == -1)
			return conf_bad(p, key, value,
			    "an integer from 1 to 1000");
		svc->rotate_keep = (unsigned)n;
		return 0;
	case KEY_READY:
		return conf_ready(p, value, svc);
	case KEY_AFTER:
		x->after_line = p->lineno;
		return conf_after(p, value, svc, x);
	default:
		abort();
	}
}

/* Finds key in the current section, refuses a duplicate, and sets it. */
static int
conf_key(struct conf_parser *p, const char *key, const char *value)
{
	struct conf_service *svc;
	int k;

	if (p->section == SEC_NONE)
		return conf_error(p, p->lineno, "key '%s' outside any section",
		    conf_quote(p, key));
	for (k = 0; k < KEY_COUNT; k++)
		if (conf_keys[k].section == p->section &&
		    strcmp(conf_keys[k].name, key) == 0)
			break;
	if (k == KEY_COUNT) {
		if (p->section == SEC_SUPERVISOR)
			return conf_error(p, p->lineno,
			    "unknown key '%s' in [supervisor]",
			    conf_quote(p, key));
		svc = &p->c->services[p->c->nservices - 1];
		return conf_error(p, p->lineno,
		    "unknown key '%s' in [service %s]", conf_quote(p, key),
		    svc->name);
	}
	/* environment may be repeated: one variable per line. */
	if (k != KEY_ENVIRONMENT && p->keyline[k] != 0)
		return conf_error(p, p->lineno, "duplicate key '%s' "
		    "(first at line %d)", key, p->keyline[k]);
	if (p->keyline[k] == 0)
		p->keyline[k] = p->lineno;
	if (*value == '\0')
		return conf_error(p, p->lineno, "missing value for '%s'", key);
	if (p->section == SEC_SUPERVISOR)
		return conf_supervisor_key(p, (enum conf_key)k, value);
	return conf_service_key(p, (enum conf_key)k, value);
}

/* Orders environment entries by name, then by where they were given. */
static int
conf_env_cmp(const void *va, const void *vb)
{
	const struct conf_env_entry *a = va, *b = vb;
	size_t la = strcspn(a->s, "="), lb = strcspn(b->s, "=");
	int r;

	if ((r = memcmp(a->s, b->s, la < lb ? la : lb)) != 0)
		return r;
	if (la != lb)
		return la < lb ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/*
 * Settles a service's environment: one entry per name, the last one
 * given, sorted by name (so that conf_service_same compares sets).
 * Returns 0, or -1 with errno ENOMEM.
 */
static int
conf_env_settle(struct conf_service *svc, struct conf_extra *x)
{
	struct conf_env_entry *e;
	size_t i, k = 0, n = x->nenv;

	if (n < 2)
		return 0;
	if ((e = reallocarray(NULL, n, sizeof(*e))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		e[i].s = svc->environment[i];
		e[i].order = i;
	}
	qsort(e, n, sizeof(*e), conf_env_cmp);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && strcspn(e[i].s, "=") ==
		    strcspn(e[i + 1].s, "=") &&
		    memcmp(e[i].s, e[i + 1].s, strcspn(e[i].s, "=")) == 0)
			free(e[i].s);	/* a later line sets it again */
		else
			svc->environment[k++] = e[i].s;
	}
	svc->environment[k] = NULL;
	x->nenv = k;
	free(e);
	return 0;
}

/*
 * Replaces "--shell" in a SPEC error message with its counterpart in a
 * configuration file.
 */
static void
conf_spec_message(char *dst, size_t size, const char *msg)
{
	const char *at;

	if ((at = strstr(msg, "--shell")) == NULL) {
		strlcpy(dst, msg, size);
		return;
	}
	snprintf(dst, size, "%.*scommand_shell = yes%s", (int)(at - msg), msg,
	    at + strlen("--shell"));
}

/*
 * Ends the current section: a service must have a command that parses as
 * a SPEC (checked only now, since command_shell may follow command), a
 * backoff no longer than backoff_max, and its environment settled.
 */
static int
conf_section_end(struct conf_parser *p)
{
	struct conf_service *svc;
	struct conf_extra *x;
	struct pv_pipeline *pl;
	struct pv_spec_error se;
	char msg[256];
	int r, saved, line;

	if (p->section != SEC_SERVICE) {
		p->section = SEC_NONE;
		return 0;
	}
	p->section = SEC_NONE;
	svc = &p->c->services[p->c->nservices - 1];
	x = &p->extra[p->c->nservices - 1];
	if (svc->command == NULL)
		return conf_error(p, svc->line,
		    "missing command in [service %s]", svc->name);
	if ((pl = pv_pipeline_new()) == NULL)
		return -1;
	r = pv_pipeline_parse(pl, svc->command, svc->shell, &se);
	saved = errno;
	pv_pipeline_free(pl);
	if (r == -1) {
		if (saved != EINVAL) {
			errno = saved;
			return -1;
		}
		/* Only a SPEC error fills the message; be safe without one. */
		if (se.message[0] == '\0')
			return conf_error(p, x->command_line,
			    "command: not a valid SPEC");
		conf_spec_message(msg, sizeof(msg), se.message);
		return conf_error(p, x->command_line, "command: column %zu: %s",
		    se.column, msg);
	}
	if (pv_ts_cmp(svc->backoff_initial, svc->backoff_max) > 0) {
		line = p->keyline[KEY_BACKOFF] > p->keyline[KEY_BACKOFF_MAX] ?
		    p->keyline[KEY_BACKOFF] : p->keyline[KEY_BACKOFF_MAX];
		return conf_error(p, line,
		    "backoff is longer than backoff_max");
	}
	return conf_env_settle(svc, x);
}

/* Starts a [service NAME] section (name checked): a service with defaults. */
static int
conf_service_begin(struct conf_parser *p, const char *name)
{
	struct conf *c = p->c;
	struct conf_service *svc, *ns;
	struct conf_extra *nx;
	size_t idx, cap;

	if ((idx = conf_lookup(p, name)) != SIZE_MAX)
		return conf_error(p, p->lineno, "duplicate service '%s' "
		    "(first at line %d)", name, c->services[idx].line);
	if (c->nservices == p->svccap) {
		cap = p->svccap < 8 ? 8 : p->svccap * 2;
		if ((ns = reallocarray(c->services, cap, sizeof(*ns))) == NULL)
			return -1;
		c->services = ns;
		if ((nx = reallocarray(p->extra, cap, sizeof(*nx))) == NULL)
			return -1;
		p->extra = nx;
		p->svccap = cap;
	}
	svc = &c->services[c->nservices];
	memset(svc, 0, sizeof(*svc));
	memset(&p->extra[c->nservices], 0, sizeof(p->extra[0]));
	/* Counted at once, so that conf_free sees what is allocated. */
	c->nservices++;
	svc->line = p->lineno;
	svc->restart = CONF_RESTART_ALWAYS;
	svc->backoff_initial.tv_nsec = 100000000;
	svc->backoff_max.tv_sec = 30;
	svc->backoff_factor = 2;
	svc->backoff_reset.tv_sec = 10;
	svc->stop_signal = SIGTERM;
	svc->stop_timeout.tv_sec = 5;
	svc->out = CONF_OUT_LOG;
	svc->err = CONF_OUT_LOG;
	svc->rotate_keep = 3;
	svc->ready = CONF_READY_NONE;
	svc->ready_fd = 3;
	if ((svc->name = strdup(name)) == NULL ||
	    (svc->environment = calloc(1, sizeof(char *))) == NULL ||
	    (svc->after = calloc(1, sizeof(char *))) == NULL)
		return -1;
	p->extra[c->nservices - 1].envcap = 1;
	p->extra[c->nservices - 1].aftercap = 1;
	if (conf_hash_add(p) == -1)
		return -1;
	memset(p->keyline, 0, sizeof(p->keyline));
	p->section = SEC_SERVICE;
	return 0;
}

/*
 * Handles a section header line: [supervisor] or [service NAME], blanks
 * allowed inside the brackets.  The line is left intact for messages.
 */
static int
conf_header(struct conf_parser *p, char *s)
{
	char name[CONF_NAMEMAX + 1];
	size_t n = strlen(s), len;
	char *b, *e;

	if (s[n - 1] != ']')
		return conf_error(p, p->lineno,
		    "bad section header '%s': missing ']'", conf_quote(p, s));
	if (conf_section_end(p) == -1)
		return -1;
	for (b = s + 1, e = s + n - 1; b < e && conf_isblank(*b); b++)
		continue;
	while (e > b && conf_isblank(e[-1]))
		e--;
	len = (size_t)(e - b);
	if (len == 10 && memcmp(b, "supervisor", 10) == 0) {
		if (p->supervisor_line != 0)
			return conf_error(p, p->lineno, "duplicate "
			    "[supervisor] section (first at line %d)",
			    p->supervisor_line);
		p->supervisor_line = p->lineno;
		memset(p->keyline, 0, sizeof(p->keyline));
		p->section = SEC_SUPERVISOR;
		return 0;
	}
	if (len < 7 || memcmp(b, "service", 7) != 0 ||
	    (len > 7 && !conf_isblank(b[7])))
		return conf_error(p, p->lineno, "bad section header '%s': "
		    "expected [supervisor] or [service NAME]",
		    conf_quote(p, s));
	for (b += 7; b < e && conf_isblank(*b); b++)
		continue;
	len = (size_t)(e - b);
	if (len == 0)
		return conf_error(p, p->lineno,
		    "missing service name in '%s'", conf_quote(p, s));
	if (!conf_name_ok(b, len)) {
		*e = '\0';	/* the line is not needed any more */
		return conf_error(p, p->lineno, "bad service name '%s': "
		    "expected 1 to 32 letters, digits, '_', '.' or '-'",
		    conf_quote(p, b));
	}
	memcpy(name, b, len);
	name[len] = '\0';
	return conf_service_begin(p, name);
}

/* Handles one line, without its line ending, NUL-terminated in p->line. */
static int
conf_line(struct conf_parser *p)
{
	char *s, *eq, *key;

	s = conf_trim(p->line);
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return conf_header(p, s);
	if ((eq = strchr(s, '=')) == NULL)
		return conf_error(p, p->lineno, "expected key = value, "
		    "[section] or a comment, not '%s'", conf_quote(p, s));
	*eq = '\0';
	key = conf_trim(s);
	if (*key == '\0')
		return conf_error(p, p->lineno, "missing key before '='");
	return conf_key(p, key, conf_trim(eq + 1));
}

/*
 * Resolves the after names of every service to service indices and
 * spells them as the services are (names compare ignoring case), without
 * duplicates.  Every name is looked up before any list is changed, so
 * the conf stays whole for conf_free when one is unknown.
 */
static int
conf_resolve_after(struct conf_parser *p)
{
	struct conf *c = p->c;
	struct conf_service *svc;
	struct conf_extra *x;
	size_t *mark, i, j, k, idx;

	for (i = 0; i < c->nservices; i++) {
		svc = &c->services[i];
		x = &p->extra[i];
		for (j = 0; j < x->nafter; j++)
			if (conf_lookup(p, svc->after[j]) == SIZE_MAX)
				return conf_error(p, x->after_line,
				    "after: unknown service '%s'",
				    svc->after[j]);
	}
	/* mark[idx] == i + 1: service i already names service idx. */
	if ((mark = calloc(c->nservices + 1, sizeof(*mark))) == NULL)
		return -1;
	for (i = 0; i < c->nservices; i++) {
		svc = &c->services[i];
		x = &p->extra[i];
		if (x->nafter == 0)
			continue;
		if ((x->after_idx = reallocarray(NULL, x->nafter,
		    sizeof(*x->after_idx))) == NULL) {
			free(mark);
			return -1;
		}
		for (j = k = 0; j < x->nafter; j++) {
			idx = conf_lookup(p, svc->after[j]);
			if (mark[idx] == i + 1) {
				free(svc->after[j]);
				continue;
			}
			mark[idx] = i + 1;
			/* Equal ignoring ASCII case: the same length. */
			memcpy(svc->after[j], c->services[idx].name,
			    strlen(svc->after[j]));
			svc->after[k] = svc->after[j];
			x->after_idx[k++] = idx;
		}
		svc->after[k] = NULL;
		x->nafter = k;
	}
	free(mark);
	return 0;
}

/*
 * Reports the cycle made of the services path[0..n): each is after the
 * next and the last after the first.  It is named from the service that
 * comes first in the file, and reported at that service's after line.
 */
static int
conf_cycle_error(struct conf_parser *p, const size_t *path, size_t n)
{
	char buf[1024];
	size_t first = 0, i;

	for (i = 1; i < n; i++)
		if (path[i] < path[first])
			first = i;
	buf[0] = '\0';
	for (i = 0; i <= n; i++) {
		if (i > 0)
			strlcat(buf, " -> ", sizeof(buf));
		strlcat(buf, p->c->services[path[(first + i) % n]].name,
		    sizeof(buf));
	}
	return conf_error(p, p->extra[path[first]].after_line,
	    "after cycle: %s", buf);
}

/*
 * Looks for a cycle in the after graph with an iterative depth-first
 * search (no recursion: a file can hold thousands of services).
 */
static int
conf_check_cycles(struct conf_parser *p)
{
	struct frame {
		size_t	v, next;
	} *stack, *f;
	size_t n = p->c->nservices, sp, s, w, i, m, *path;
	unsigned char *color;	/* 0 unseen, 1 on the stack, 2 done */
	int r = 0;

	if (n == 0)
		return 0;
	color = calloc(n, 1);
	stack = reallocarray(NULL, n, sizeof(*stack));
	path = reallocarray(NULL, n, sizeof(*path));
	if (color == NULL || stack == NULL || path == NULL) {
		r = -1;
		goto out;
	}
	for (s = 0; s < n && r == 0; s++) {
		if (color[s] != 0)
			continue;
		color[s] = 1;
		stack[0].v = s;
		stack[0].next = 0;
		sp = 1;
		while (sp > 0 && r == 0) {
			f = &stack[sp - 1];
			if (f->next == p->extra[f->v].nafter) {
				color[f->v] = 2;
				sp--;
				continue;
			}
			w = p->extra[f->v].after_idx[f->next++];
			if (color[w] == 0) {
				color[w] = 1;
				stack[sp].v = w;
				stack[sp].next = 0;
				sp++;
			} else if (color[w] == 1) {
				/* w is on the stack: from it to the top. */
				for (i = 0; stack[i].v != w; i++)
					continue;
				for (m = 0; i < sp; i++)
					path[m++] = stack[i].v;
				r = conf_cycle_error(p, path, m);
			}
		}
	}
out:
	free(color);
	free(stack);
	free(path);
	return r;
}

/* Frees what the parser keeps beside the conf (p->c is set). */
static void
conf_parser_free(struct conf_parser *p)
{
	size_t i;

	if (p->extra != NULL)
		for (i = 0; i < p->c->nservices; i++)
			free(p->extra[i].after_idx);
	free(p->extra);
	free(p->hash);
}

/*
 * Parses text as conf_parse does, with relative paths taken from dir
 * (NULL: left relative).
 */
static int
conf_parse_dir(const char *text, size_t len, const char *filename,
    const char *dir, struct conf **out, char *err, size_t errsize)
{
	struct conf_parser *p;
	const char *nl;
	size_t pos = 0, end, n;
	int r = -1, saved;

	*out = NULL;
	if (filename == NULL)
		filename = "-";
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->err = err;
	p->errsize = errsize;
	p->dir = dir;
	if (err != NULL && errsize > 0)
		err[0] = '\0';
	n = strlen(filename);
	if ((p->file = malloc(PV_VIS_SIZE(n))) == NULL ||
	    (p->c = calloc(1, sizeof(*p->c))) == NULL ||
	    (p->c->path = strdup(filename)) == NULL)
		goto fail;
	pv_vis(p->file, filename, n);
	if (len > CONF_MAXFILE) {
		conf_error(p, 1, "file larger than 1 MiB");
		goto fail;
	}
	/* A byte-order mark, as some editors write, is no part of line 1. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		p->lineno++;
		nl = memchr(text + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - text) : len;
		n = end - pos;
		if (n > 0 && text[end - 1] == '\r')
			n--;
		if (n > CONF_MAXLINE) {
			conf_error(p, p->lineno, "line longer than %d bytes",
			    CONF_MAXLINE);
			goto fail;
		}
		if (conf_check_text(p, text + pos, n) == -1)
			goto fail;
		memcpy(p->line, text + pos, n);
		p->line[n] = '\0';
		if (conf_line(p) == -1)
			goto fail;
		pos = end + 1;
	}
	if (conf_section_end(p) == -1 || conf_resolve_after(p) == -1 ||
	    conf_check_cycles(p) == -1)
		goto fail;
	r = 0;
fail:
	saved = errno;
	if (p->c != NULL)
		conf_parser_free(p);
	if (r == 0)
		*out = p->c;
	else
		conf_free(p->c);
	free(p->file);
	free(p);
	errno = saved;
	return r;
}

/* Parses a configuration text; relative paths follow filename's directory. */
int
conf_parse(const char *text, size_t len, const char *filename,
    struct conf **out, char *err, size_t errsize)
{
	const char *slash;
	char *dir = NULL;
	int r, saved;

	if (filename != NULL && (slash = strrchr(filename, '/')) != NULL) {
		dir = slash == filename ? strdup("/") :
		    strndup(filename, (size_t)(slash - filename));
		if (dir == NULL) {
			*out = NULL;
			return -1;
		}
	}
	r = conf_parse_dir(text, len, filename, dir, out, err, errsize);
	saved = errno;
	free(dir);
	errno = saved;
	return r;
}

/*
 * Stores in *dir the absolute directory of path (from the current
 * directory when path is relative), or NULL when the current directory
 * cannot be found and path has no '/'.  Returns 0, or -1 with errno.
 */
static int
conf_absdir(const char *path, char **dir)
{
	const char *slash = strrchr(path, '/');
	char *cwd;
	int r;

	*dir = NULL;
	if (path[0] == '/') {
		*dir = slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
		return *dir == NULL ? -1 : 0;
	}
	if ((cwd = getcwd(NULL, 0)) == NULL) {
		/* Left relative: still right while the cwd is unchanged. */
		if (errno == ENOMEM)
			return -1;
		if (slash == NULL)
			return 0;
		*dir = strndup(path, (size_t)(slash - path));
		return *dir == NULL ? -1 : 0;
	}
	if (slash == NULL)
		r = asprintf(dir, "%s", cwd);
	else
		r = asprintf(dir, "%s%s%.*s", cwd,
		    strcmp(cwd, "/") == 0 ? "" : "/", (int)(slash - path),
		    path);
	free(cwd);
	if (r == -1) {
		*dir = NULL;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Reads path (at most one byte past the limit) and parses it. */
int
conf_load(const char *path, struct conf **out, char *err, size_t errsize)
{
	struct stat st;
	char *buf = NULL, *nb, *dir = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd, r, saved;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	/* A regular file is read in one go; anything else grows as needed. */
	cap = S_ISREG(st.st_mode) && st.st_size < CONF_MAXFILE ?
	    (size_t)st.st_size + 1 : 64 * 1024;
	if ((buf = malloc(cap)) == NULL)
		goto fail;
	for (;;) {
		if (len == cap) {
			cap = cap * 2 > CONF_MAXFILE + 1 ? CONF_MAXFILE + 1 :
			    cap * 2;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if ((n = pv_read(fd, buf + len, cap - len)) == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
		/* A byte past the limit is enough for conf_parse to refuse. */
		if (len > CONF_MAXFILE)
			break;
	}
	close(fd);
	fd = -1;
	if (conf_absdir(path, &dir) == -1)
		goto fail;
	r = conf_parse_dir(buf, len, path, dir, out, err, errsize);
	saved = errno;
	free(buf);
	free(dir);
	errno = saved;
	return r;
fail:
	saved = errno;
	if (err != NULL && errsize > 0)
		snprintf(err, errsize, "%s: %s", path, strerror(saved));
	if (fd != -1)
		close(fd);
	free(buf);
	free(dir);
	errno = saved;
	return -1;
}

/* Frees a conf and everything it holds. */
void
conf_free(struct conf *c)
{
	struct conf_service *svc;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nservices; i++) {
		svc = &c->services[i];
		free(svc->name);
		free(svc->command);
		free(svc->directory);
		conf_vec_free(svc->environment);
		free(svc->user);
		free(svc->group);
		free(svc->out_path);
		free(svc->err_path);
		conf_vec_free(svc->after);
	}
	free(c->services);
	free(c->path);
	free(c->rundir);
	free(c->log);
	free(c->http);
	free(c);
}

/* Returns 1 if two strings, either of which may be NULL, are equal. */
static int
conf_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Returns the number of entries of a NULL-ended array (NULL: none). */
static size_t
conf_vec_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Returns 1 if two NULL-ended arrays hold the same strings in order. */
static int
conf_vec_same(char *const *a, char *const *b)
{
	size_t n = conf_vec_len(a), i;

	if (conf_vec_len(b) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/* Returns 1 if two NULL-ended arrays hold the same strings in any order. */
static int
conf_vec_same_set(char *const *a, char *const *b)
{
	size_t n = conf_vec_len(a), i, j;

	if (conf_vec_len(b) != n)
		return 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(a[i], b[j]) == 0)
				break;
		if (j == n)
			return 0;
	}
	return 1;
}

/* Compares every field that shapes a running service (not its line). */
int
conf_service_same(const struct conf_service *a, const struct conf_service *b)
{
	return conf_str_same(a->name, b->name) &&
	    conf_str_same(a->command, b->command) &&
	    a->shell == b->shell &&
	    a->restart == b->restart &&
	    pv_ts_cmp(a->backoff_initial, b->backoff_initial) == 0 &&
	    pv_ts_cmp(a->backoff_max, b->backoff_max) == 0 &&
	    a->backoff_factor == b->backoff_factor &&
	    pv_ts_cmp(a->backoff_reset, b->backoff_reset) == 0 &&
	    a->give_up_count == b->give_up_count &&
	    pv_ts_cmp(a->give_up_window, b->give_up_window) == 0 &&
	    pv_ts_cmp(a->start_grace, b->start_grace) == 0 &&
	    a->stop_signal == b->stop_signal &&
	    pv_ts_cmp(a->stop_timeout, b->stop_timeout) == 0 &&
	    conf_str_same(a->directory, b->directory) &&
	    /* Sorted by name when parsed: equal sets are equal lists. */
	    conf_vec_same(a->environment, b->environment) &&
	    conf_str_same(a->user, b->user) &&
	    conf_str_same(a->group, b->group) &&
	    a->out == b->out && a->err == b->err &&
	    conf_str_same(a->out_path, b->out_path) &&
	    conf_str_same(a->err_path, b->err_path) &&
	    a->rotate_size == b->rotate_size &&
	    a->rotate_keep == b->rotate_keep &&
	    a->ready == b->ready && a->ready_fd == b->ready_fd &&
	    conf_vec_same_set(a->after, b->after);
}
