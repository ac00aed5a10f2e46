/*
 * fuzz_spec.c: a libFuzzer harness for pv_pipeline_parse (supervisor/spec.c).
 *
 * The input, NUL-terminated, is parsed both as a SPEC and with shell set,
 * each time into a pipeline that already holds one stage.  On success:
 * at least one stage was added, every stage has an argv with an argv[0],
 * the first stage is untouched, a shell stage is exactly /bin/sh -c TEXT
 * with TEXT non-empty and trimmed, and the argvs of a SPEC, written back
 * with every word single-quoted, parse again to the very same argvs (so
 * quoting, escapes and word splitting agree with themselves).  On
 * failure: -1 with errno EINVAL, a non-empty NUL-terminated message, a
 * column from 1 to strlen+1, and the pipeline as it was.  A failed check
 * aborts, which libFuzzer reports as a crash; ASan finds overflows and
 * leaks.  No signals.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs past this add nothing but time. */
#define FUZZ_MAXLEN	(64 * 1024)

/* Returns a new pipeline holding the one stage "pre x"; aborts if none. */
static struct pv_pipeline *
fuzz_pipeline(void)
{
	static const char *const pre[] = { "pre", "x", NULL };
	struct pv_pipeline *pl;

	if ((pl = pv_pipeline_new()) == NULL ||
	    pv_pipeline_add(pl, pre) == NULL)
		abort();
	return pl;
}

/* Aborts unless stage 0 of pl is still "pre x". */
static void
fuzz_check_pre(const struct pv_pipeline *pl)
{
	char *const *av;

	if (pv_pipeline_count(pl) < 1)
		abort();
	av = pv_stage_argv(pv_pipeline_stage(pl, 0));
	if (av == NULL || av[0] == NULL || strcmp(av[0], "pre") != 0 ||
	    av[1] == NULL || strcmp(av[1], "x") != 0 || av[2] != NULL)
		abort();
}

/* Appends s to the growing buffer *b of length *len; aborts on ENOMEM. */
static void
fuzz_append(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	char *nb;

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		if ((nb = realloc(*b, *cap)) == NULL)
			abort();
		*b = nb;
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
}

/*
 * Writes the argvs of stages [first, count) of pl back as a SPEC with
 * every word in single quotes ('\'' for a quote).  The caller frees it.
 */
static char *
fuzz_requote(const struct pv_pipeline *pl, size_t first)
{
	char *b = NULL, *const *av;
	const char *w;
	size_t len = 0, cap = 0, i, j;

	fuzz_append(&b, &len, &cap, "", 0);
	for (i = first; i < pv_pipeline_count(pl); i++) {
		if (i > first)
			fuzz_append(&b, &len, &cap, " | ", 3);
		av = pv_stage_argv(pv_pipeline_stage(pl, i));
		for (j = 0; av[j] != NULL; j++) {
			if (j > 0)
				fuzz_append(&b, &len, &cap, " ", 1);
			fuzz_append(&b, &len, &cap, "'", 1);
			for (w = av[j]; *w != '\0'; w++) {
				if (*w == '\'')
					fuzz_append(&b, &len, &cap, "'\\''", 4);
				else
					fuzz_append(&b, &len, &cap, w, 1);
			}
			fuzz_append(&b, &len, &cap, "'", 1);
		}
	}
	return b;
}

/* Aborts unless stages from first on of a and b have equal argvs. */
static void
fuzz_same_argvs(const struct pv_pipeline *a, const struct pv_pipeline *b,
    size_t first)
{
	char *const *x, *const *y;
	size_t i, j;

	if (pv_pipeline_count(a) != pv_pipeline_count(b))
		abort();
	for (i = first; i < pv_pipeline_count(a); i++) {
		x = pv_stage_argv(pv_pipeline_stage(a, i));
		y = pv_stage_argv(pv_pipeline_stage(b, i));
		for (j = 0; x[j] != NULL || y[j] != NULL; j++)
			if (x[j] == NULL || y[j] == NULL ||
			    strcmp(x[j], y[j]) != 0)
				abort();
	}
}

/* Checks the invariants of one successful parse. */
static void
fuzz_check_ok(const struct pv_pipeline *pl, int shell)
{
	struct pv_pipeline *again;
	char *const *av, *spec;
	const char *text;
	size_t i, j, n = pv_pipeline_count(pl), tl;

	if (n < 2)
		abort();
	fuzz_check_pre(pl);
	for (i = 1; i < n; i++) {
		av = pv_stage_argv(pv_pipeline_stage(pl, i));
		if (av == NULL || av[0] == NULL ||
		    pv_stage_name(pv_pipeline_stage(pl, i)) == NULL)
			abort();
		/* Touch every byte: ASan sees any overflow. */
		for (j = 0; av[j] != NULL; j++)
			(void)strlen(av[j]);
		if (!shell)
			continue;
		if (strcmp(av[0], "/bin/sh") != 0 || av[1] == NULL ||
		    strcmp(av[1], "-c") != 0 || av[2] == NULL || av[3] != NULL)
			abort();
		text = av[2];
		tl = strlen(text);
		if (tl == 0 || strchr(" \t\n", text[0]) != NULL ||
		    strchr(" \t\n", text[tl - 1]) != NULL)
			abort();
	}
	if (shell)
		return;
	/* The words, quoted back, parse to themselves. */
	spec = fuzz_requote(pl, 1);
	again = fuzz_pipeline();
	if (pv_pipeline_parse(again, spec, 0, NULL) != 0)
		abort();
	fuzz_same_argvs(pl, again, 1);
	pv_pipeline_free(again);
	free(spec);
}

/* Parses one input both ways and checks the contract. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_spec_error err;
	struct pv_pipeline *pl;
	char *spec;
	size_t len;
	int shell, r;

	if (size > FUZZ_MAXLEN)
		return 0;
	if ((spec = malloc(size + 1)) == NULL)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	len = strlen(spec);
	for (shell = 0; shell < 2; shell++) {
		pl = fuzz_pipeline();
		memset(&err, 0xa5, sizeof(err));
		errno = 0;
		r = pv_pipeline_parse(pl, spec, shell, &err);
		if (r == 0)
			fuzz_check_ok(pl, shell);
		else if (r == -1) {
			if (errno != EINVAL)
				abort();
			if (memchr(err.message, '\0',
			    sizeof(err.message)) == NULL ||
			    err.message[0] == '\0')
				abort();
			if (err.column < 1 || err.column > len + 1)
				abort();
			if (pv_pipeline_count(pl) != 1)
				abort();
			fuzz_check_pre(pl);
		} else
			abort();
		pv_pipeline_free(pl);
	}
	free(spec);
	return 0;
}
