/*
 * fuzz_conf.c: a libFuzzer harness for conf_parse (supervisor/conf.c).
 *
 * The input is parsed as a pipevisor.conf(5) file named "FUZZ".  On
 * success: every service has a well-formed, case-insensitively unique
 * name and a non-empty command; every after name is spelt exactly as a
 * service other than its own, named once, and the after graph has no
 * cycle; the environment is sorted with one entry per valid name; every
 * number is within its documented range and every output path is there
 * exactly when the output is a file; conf_service_same holds for a
 * service and itself and not for two services.  On failure: no conf,
 * errno EINVAL or ENOMEM, and for EINVAL a single line that matches
 * "^FUZZ:[0-9]+: " with a line number no greater than the input has
 * lines.  A second parse with a 16-byte buffer must give the same result
 * and a prefix of the same message.  A failed check aborts, which
 * libFuzzer reports as a crash; ASan finds overflows and leaks.  No
 * signals.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipevisor.h"
#include "pv_private.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless name is 1 to 32 of [A-Za-z0-9_.-]. */
static void
fuzz_check_name(const char *name)
{
	size_t n;

	if (name == NULL)
		abort();
	n = strlen(name);
	if (n < 1 || n > 32 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
		abort();
}

/* Returns the index of the service spelt exactly name; aborts if none. */
static size_t
fuzz_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return i;
	abort();
}

/* Aborts if the after graph has a cycle (Kahn's algorithm). */
static void
fuzz_check_acyclic(const struct conf *c)
{
	size_t n = c->nservices, *indeg, *queue, head = 0, tail = 0, i, j, v;

	if (n == 0)
		return;
	indeg = calloc(n, sizeof(*indeg));
	queue = calloc(n, sizeof(*queue));
	if (indeg == NULL || queue == NULL)
		abort();
	/* An edge from each service to every one that is after it. */
	for (i = 0; i < n; i++)
		for (j = 0; c->services[i].after[j] != NULL; j++)
			indeg[i]++;
	for (i = 0; i < n; i++)
		if (indeg[i] == 0)
			queue[tail++] = i;
	while (head < tail) {
		v = queue[head++];
		for (i = 0; i < n; i++)
			for (j = 0; c->services[i].after[j] != NULL; j++)
				if (strcmp(c->services[i].after[j],
				    c->services[v].name) == 0 &&
				    --indeg[i] == 0)
					queue[tail++] = i;
	}
	if (tail != n)
		abort();
	free(indeg);
	free(queue);
}

/* Aborts unless the environment is sorted, one valid NAME=value per name. */
static void
fuzz_check_env(char **env)
{
	size_t i, n, pn = 0;
	const char *prev = NULL;

	if (env == NULL)
		abort();
	for (i = 0; env[i] != NULL; i++) {
		n = strcspn(env[i], "=");
		if (env[i][n] != '=' || n == 0 || (env[i][0] >= '0' &&
		    env[i][0] <= '9') || strspn(env[i], "ABCDEFGHIJKLMNOPQRST"
		    "UVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n)
			abort();
		if (prev != NULL) {
			int r = memcmp(prev, env[i], n < pn ? n : pn);

			if (r > 0 || (r == 0 && pn >= n))
				abort();
		}
		prev = env[i];
		pn = n;
	}
}

/* Checks the invariants of one successful parse. */
static void
fuzz_check_ok(const struct conf *c)
{
	const struct conf_service *s;
	size_t i, j, k;

	if (c == NULL || c->path == NULL || strcmp(c->path, "FUZZ") != 0)
		abort();
	if (c->nservices > 0 && c->services == NULL)
		abort();
	for (i = 0; i < c->nservices; i++) {
		s = &c->services[i];
		fuzz_check_name(s->name);
		for (j = 0; j < i; j++)
			if (strcasecmp(s->name, c->services[j].name) == 0)
				abort();
		if (s->line < 1 || s->command == NULL || s->command[0] == '\0')
			abort();
		if (s->backoff_factor < 1 || s->backoff_factor > 100 ||
		    pv_ts_cmp(s->backoff_initial, s->backoff_max) > 0 ||
		    s->rotate_keep < 1 || s->rotate_keep > 1000 ||
		    s->rotate_size < 0 || s->ready_fd < 3 ||
		    s->ready_fd > 255 || s->stop_signal < 1 ||
		    s->stop_signal >= NSIG)
			abort();
		if (s->give_up_count > 0 && s->give_up_window.tv_sec == 0 &&
		    s->give_up_window.tv_nsec == 0)
			abort();
		if ((s->out == CONF_OUT_FILE) != (s->out_path != NULL) ||
		    (s->err == CONF_OUT_FILE) != (s->err_path != NULL) ||
		    s->out == CONF_OUT_STDOUT)
			abort();
		if (s->out_path != NULL && s->out_path[0] == '\0')
			abort();
		fuzz_check_env(s->environment);
		if (s->after == NULL)
			abort();
		for (j = 0; s->after[j] != NULL; j++) {
			if (fuzz_find(c, s->after[j]) == i)
				abort();
			for (k = 0; k < j; k++)
				if (strcmp(s->after[j], s->after[k]) == 0)
					abort();
		}
		if (conf_service_same(s, s) != 1)
			abort();
		if (i > 0 && conf_service_same(s, &c->services[i - 1]) != 0)
			abort();
	}
	fuzz_check_acyclic(c);
}

/* Aborts unless err is one line "FUZZ:LINE: message", LINE in range. */
static void
fuzz_check_err(const char *err, size_t errsize, const uint8_t *data,
    size_t size)
{
	const char *p;
	size_t lines = 1, i;
	long line = 0;

	if (memchr(err, '\0', errsize) == NULL)
		abort();
	if (strncmp(err, "FUZZ:", 5) != 0)
		abort();
	for (p = err + 5; *p >= '0' && *p <= '9'; p++)
		line = line * 10 + (*p - '0');
	if (p == err + 5 || p[0] != ':' || p[1] != ' ' || p[2] == '\0')
		abort();
	for (p = err; *p != '\0'; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			abort();
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	if (line < 1 || (size_t)line > lines)
		abort();
}

/* Parses one input and checks the contract. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c, *c2;
	char err[512], small[16];
	int r, r2, e;

	c = (struct conf *)&c;
	errno = 0;
	r = conf_parse((const char *)data, size, "FUZZ", &c, err, sizeof(err));
	e = errno;
	if (r == 0)
		fuzz_check_ok(c);
	else if (r == -1) {
		if (c != NULL || (e != EINVAL && e != ENOMEM))
			abort();
		if (e == EINVAL)
			fuzz_check_err(err, sizeof(err), data, size);
	} else
		abort();

	/* The same again with a short buffer: same outcome, a prefix. */
	c2 = (struct conf *)&c2;
	r2 = conf_parse((const char *)data, size, "FUZZ", &c2, small,
	    sizeof(small));
	if (r2 != r || (r2 == 0) != (c2 != NULL))
		abort();
	if (r == -1 && e == EINVAL && (memchr(small, '\0',
	    sizeof(small)) == NULL || strncmp(small, err, strlen(small)) != 0))
		abort();
	if (r == 0 && c->nservices != c2->nservices)
		abort();
	if (r == 0 && c->nservices > 0 && conf_service_same(&c->services[0],
	    &c2->services[0]) != 1)
		abort();
	conf_free(c2);
	if (r == 0)
		conf_free(c);
	return 0;
}
