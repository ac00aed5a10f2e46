/*
 * spec.c: the SPEC grammar of `pipevisor run` (DESIGN.md section 3).
 *
 *	spec	:= stage ('|' stage)*
 *	stage	:= (word | redir)+		at least one word
 *	redir	:= [N] ('<' | '>' | '>>' | '>|' | '<>') word
 *		 | [N] ('>&' | '<&') (M | '-')
 *	word	:= (plain | '\' char | '...' | "...")+
 *
 * Quotes and backslashes work as in sh(1); nothing is expanded.  Shell
 * syntax that pipevisor does not implement (';', '&', '&&', '||', '(',
 * ')', '`', '$NAME', '$(...)', '${...}') is refused with a message and a
 * column rather than passed on as text, so no SPEC means something other
 * than what a shell user reads in it; --shell is there for those.  The
 * parser is pure: it touches no fd and reacts to no signal.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"
#include "pv_private.h"

/* A growing string. */
struct spec_buf {
	char	*s;
	size_t	 len, cap;
};

/* A stage under construction. */
struct spec_stage {
	char		**argv;
	size_t		 argc, argcap;
	struct spawn_redir *redirs;
	size_t		 nredirs, redircap;
};

struct spec_parser {
	const char		*spec;
	const char		*p;
	struct pv_spec_error	*err;
};

/* Records an error at position at (1-based column). */
static int
spec_error(struct spec_parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (ps->err != NULL) {
		va_start(ap, fmt);
		vsnprintf(ps->err->message, sizeof(ps->err->message), fmt, ap);
		va_end(ap);
		ps->err->column = (size_t)(at - ps->spec) + 1;
	}
	errno = EINVAL;
	return -1;
}

/* Appends one byte to a buffer. */
static int
buf_add(struct spec_buf *b, char c)
{
	char *ns;
	size_t n;

	if (b->len + 1 >= b->cap) {
		n = b->cap ? b->cap * 2 : 32;
		if ((ns = realloc(b->s, n)) == NULL)
			return -1;
		b->s = ns;
		b->cap = n;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

/* True for bytes that end an unquoted word. */
static int
spec_is_meta(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\n' ||
	    c == '|' || c == '<' || c == '>' || c == ';' || c == '&' ||
	    c == '(' || c == ')';
}

/* True if a '$' at p would be an expansion in sh. */
static int
spec_is_expansion(const char *p)
{
	return p[0] == '$' && p[1] != '\0' && (p[1] == '(' || p[1] == '{' ||
	    p[1] == '_' || isalnum((unsigned char)p[1]) ||
	    strchr("?#@*!$-", p[1]) != NULL);
}

/* Refuses shell syntax at p that pipevisor does not implement. */
static int
spec_check_unsupported(struct spec_parser *ps, const char *p)
{
	switch (*p) {
	case ';':
	case '&':
	case '(':
	case ')':
		return spec_error(ps, p, "'%c' is not supported (use --shell)",
		    *p);
	case '`':
		return spec_error(ps, p,
		    "command substitution is not supported (use --shell)");
	case '$':
		if (spec_is_expansion(p))
			return spec_error(ps, p, "'$' expansion is not "
			    "supported: quote it, or use --shell");
		break;
	}
	return 0;
}

/*
 * Reads one word at ps->p into b (quotes removed, escapes applied).
 * Returns 1 if a word was read, 0 if none starts here, -1 on error.
 * *quoted is set if any part was quoted or escaped.
 */
static int
spec_word(struct spec_parser *ps, struct spec_buf *b, int *quoted)
{
	const char *p = ps->p, *open;
	int any = 0;

	b->len = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
	*quoted = 0;
	while (!spec_is_meta(*p)) {
		if (spec_check_unsupported(ps, p) == -1)
			return -1;
		if (*p == '\\') {
			if (p[1] == '\0')
				return spec_error(ps, p, "backslash at the end");
			if (p[1] != '\n' && buf_add(b, p[1]) == -1)
				return -1;
			p += 2;
			any = *quoted = 1;
		} else if (*p == '\'') {
			open = p++;
			while (*p != '\'') {
				if (*p == '\0')
					return spec_error(ps, open,
					    "unterminated single quote");
				if (buf_add(b, *p++) == -1)
					return -1;
			}
			p++;
			any = *quoted = 1;
		} else if (*p == '"') {
			open = p++;
			while (*p != '"') {
				if (*p == '\0')
					return spec_error(ps, open,
					    "unterminated double quote");
				if (*p == '`' || spec_is_expansion(p))
					return spec_check_unsupported(ps, p);
				/* Inside "", \ escapes only these, as in sh. */
				if (*p == '\\' && p[1] != '\0' &&
				    strchr("\"\\$`\n", p[1]) != NULL) {
					if (p[1] != '\n' &&
					    buf_add(b, p[1]) == -1)
						return -1;
					p += 2;
					continue;
				}
				if (buf_add(b, *p++) == -1)
					return -1;
			}
			p++;
			any = *quoted = 1;
		} else {
			if (buf_add(b, *p++) == -1)
				return -1;
			any = 1;
		}
	}
	if (any && b->s == NULL && buf_add(b, '\0') == 0)
		b->len = 0;	/* an empty quoted word: "" */
	ps->p = p;
	return any;
}

/* Skips blanks (and escaped newlines). */
static void
spec_skip_blanks(struct spec_parser *ps)
{
	for (;;) {
		if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
			ps->p++;
		else if (ps->p[0] == '\\' && ps->p[1] == '\n')
			ps->p += 2;
		else
			return;
	}
}

/* Appends a word to the stage's argv. */
static int
stage_add_word(struct spec_stage *st, const char *w)
{
	char **na;
	size_t n;

	if (st->argc + 2 > st->argcap) {
		n = st->argcap ? st->argcap * 2 : 8;
		if ((na = reallocarray(st->argv, n, sizeof(*na))) == NULL)
			return -1;
		st->argv = na;
		st->argcap = n;
	}
	if ((st->argv[st->argc] = strdup(w)) == NULL)
		return -1;
	st->argv[++st->argc] = NULL;
	return 0;
}

/* Appends a redirection to the stage. */
static int
stage_add_spec_redir(struct spec_stage *st, int fd, int from,
    const char *path, int flags)
{
	struct spawn_redir *nr;
	size_t n;

	if (st->nredirs == st->redircap) {
		n = st->redircap ? st->redircap * 2 : 4;
		if ((nr = reallocarray(st->redirs, n, sizeof(*nr))) == NULL)
			return -1;
		st->redirs = nr;
		st->redircap = n;
	}
	nr = &st->redirs[st->nredirs];
	nr->fd = fd;
	nr->from = from;
	nr->flags = flags;
	nr->path = NULL;
	if (path != NULL && (nr->path = strdup(path)) == NULL)
		return -1;
	st->nredirs++;
	return 0;
}

/* Frees a stage under construction. */
static void
spec_stage_clear(struct spec_stage *st)
{
	size_t i;

	for (i = 0; i < st->argc; i++)
		free(st->argv[i]);
	free(st->argv);
	for (i = 0; i < st->nredirs; i++)
		free(st->redirs[i].path);
	free(st->redirs);
	memset(st, 0, sizeof(*st));
}

/*
 * Parses a redirection operator at ps->p for fd (-1: the operator's
 * default) and its target.  Returns 0 or -1.
 */
static int
spec_redir(struct spec_parser *ps, struct spec_stage *st, int fd,
    struct spec_buf *b)
{
	const char *op = ps->p, *target;
	int flags = 0, dup = 0, quoted, r;
	size_t oplen;
	long from;
	char *end;

	if (op[0] == '<' && op[1] == '>') {
		flags = O_RDWR | O_CREAT;
		ps->p += 2;
		if (fd < 0)
			fd = 0;
	} else if (op[0] == '<' && op[1] == '&') {
		dup = 1;
		ps->p += 2;
		if (fd < 0)
			fd = 0;
	} else if (op[0] == '<') {
		flags = O_RDONLY;
		ps->p += 1;
		if (fd < 0)
			fd = 0;
	} else if (op[1] == '>') {
		flags = O_WRONLY | O_CREAT | O_APPEND;
		ps->p += 2;
	} else if (op[1] == '&') {
		dup = 1;
		ps->p += 2;
	} else {
		flags = O_WRONLY | O_CREAT | O_TRUNC;
		ps->p += op[1] == '|' ? 2 : 1;
	}
	if (fd < 0)
		fd = 1;
	oplen = (size_t)(ps->p - op);
	spec_skip_blanks(ps);
	target = ps->p;
	if ((r = spec_word(ps, b, &quoted)) == -1)
		return -1;
	if (r == 0)
		return spec_error(ps, target, "missing %s after '%.*s'",
		    dup ? "file descriptor" : "file name", (int)oplen, op);
	if (dup) {
		if (strcmp(b->s, "-") == 0)
			return stage_add_spec_redir(st, fd, -1, NULL, 0);
		errno = 0;
		from = strtol(b->s, &end, 10);
		if (quoted || *b->s == '\0' || *end != '\0' || from < 0 ||
		    from > 255)
			return spec_error(ps, target,
			    "'%s' is not a file descriptor", b->s);
		return stage_add_spec_redir(st, fd, (int)from, NULL, 0);
	}
	if (b->len == 0)
		return spec_error(ps, target, "empty file name");
	return stage_add_spec_redir(st, fd, -1, b->s, flags);
}

/* Moves a finished stage into the pipeline. */
static int
spec_commit_stage(struct spec_parser *ps, struct pv_pipeline *pl,
    struct spec_stage *st, const char *at, size_t number)
{
	struct pv_stage *s;
	size_t i;

	if (st->argc == 0)
		return spec_error(ps, at, st->nredirs > 0 ?
		    "stage %zu has no command" : "stage %zu is empty", number);
	if ((s = pv_pipeline_add(pl, (const char *const *)st->argv)) == NULL)
		return -1;
	for (i = 0; i < st->nredirs; i++) {
		struct spawn_redir *r = &st->redirs[i];

		if ((r->path != NULL ?
		    pv_stage_open(s, r->fd, r->path, r->flags) :
		    pv_stage_dup(s, r->fd, r->from)) == -1)
			return -1;
	}
	spec_stage_clear(st);
	return 0;
}

/* Appends one /bin/sh -c stage for the text [from, to). */
static int
spec_shell_stage(struct spec_parser *ps, struct pv_pipeline *pl,
    const char *from, const char *to, size_t number)
{
	const char *argv[4] = { "/bin/sh", "-c", NULL, NULL };
	char *text;
	int r;

	while (from < to && (*from == ' ' || *from == '\t' || *from == '\n'))
		from++;
	while (to > from && (to[-1] == ' ' || to[-1] == '\t' ||
	    to[-1] == '\n'))
		to--;
	if (from == to)
		return spec_error(ps, from, "stage %zu is empty", number);
	if ((text = strndup(from, (size_t)(to - from))) == NULL)
		return -1;
	argv[2] = text;
	r = pv_pipeline_add(pl, argv) == NULL ? -1 : 0;
	free(text);
	return r;
}

/*
 * Splits at the '|' that a shell would see, and runs each part under
 * /bin/sh -c.  Quotes and escapes are tracked, not removed.
 */
static int
spec_parse_shell(struct spec_parser *ps, struct pv_pipeline *pl)
{
	const char *p = ps->spec, *start = ps->spec, *open;
	size_t number = 1;

	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '\'' || *p == '"') {
			open = p;
			for (p++; *p != *open; p++) {
				if (*p == '\0')
					return spec_error(ps, open,
					    "unterminated %s quote", *open ==
					    '"' ? "double" : "single");
				if (*open == '"' && *p == '\\' && p[1] != '\0')
					p++;
			}
		} else if (*p == '|') {
			if (p[1] == '|')
				return spec_error(ps, p, "'||' is not "
				    "supported: one pipeline per SPEC");
			if (spec_shell_stage(ps, pl, start, p, number++) == -1)
				return -1;
			start = p + 1;
		}
	}
	return spec_shell_stage(ps, pl, start, p, number);
}

/* Parses SPEC and appends its stages to pl. */
int
pv_pipeline_parse(struct pv_pipeline *pl, const char *spec, int shell,
    struct pv_spec_error *err)
{
	struct spec_parser ps = { spec, spec, err };
	struct spec_stage st;
	struct spec_buf b = { NULL, 0, 0 };
	const char *stage_start, *wstart;
	size_t number = 1, first = pv_pipeline_count(pl);
	int quoted, r, fd, saved;

	if (err != NULL) {
		err->message[0] = '\0';
		err->column = 0;
	}
	if (spec == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (shell) {
		r = spec_parse_shell(&ps, pl);
		goto out;
	}
	memset(&st, 0, sizeof(st));
	spec_skip_blanks(&ps);
	stage_start = ps.p;
	for (;;) {
		spec_skip_blanks(&ps);
		wstart = ps.p;
		if (*ps.p == '\0' || *ps.p == '|') {
			if (*ps.p == '|' && ps.p[1] == '|') {
				r = spec_error(&ps, ps.p, "'||' is not "
				    "supported: one pipeline per SPEC");
				break;
			}
			if ((r = spec_commit_stage(&ps, pl, &st,
			    *ps.p == '\0' && st.argc == 0 && st.nredirs == 0 ?
			    ps.p : stage_start, number)) == -1)
				break;
			if (*ps.p == '\0')
				break;
			ps.p++;
			number++;
			spec_skip_blanks(&ps);
			stage_start = ps.p;
			continue;
		}
		if (*ps.p == '<' || *ps.p == '>') {
			if ((r = spec_redir(&ps, &st, -1, &b)) == -1)
				break;
			continue;
		}
		if ((r = spec_check_unsupported(&ps, ps.p)) == -1)
			break;
		if ((r = spec_word(&ps, &b, &quoted)) == -1)
			break;
		/* "2>file": an unquoted all-digit word right before < or >. */
		if (!quoted && (*ps.p == '<' || *ps.p == '>') && b.len > 0 &&
		    b.len <= 3 && strspn(b.s, "0123456789") == b.len) {
			fd = atoi(b.s);
			if (fd > 255) {
				r = spec_error(&ps, wstart,
				    "file descriptor %s is too large", b.s);
				break;
			}
			if ((r = spec_redir(&ps, &st, fd, &b)) == -1)
				break;
			continue;
		}
		if ((r = stage_add_word(&st, b.s != NULL ? b.s : "")) == -1)
			break;
	}
	spec_stage_clear(&st);
out:
	saved = errno;
	free(b.s);
	if (r == -1) {
		/* Leave the pipeline as it was before the call. */
		while (pv_pipeline_count(pl) > first)
			pipeline_drop_last(pl);
		errno = saved;
		return -1;
	}
	return 0;
}
