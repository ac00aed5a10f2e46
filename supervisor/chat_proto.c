/*
 * chat_proto.c: the wire protocol codec of the chat rooms (DESIGN.md
 * section 6): the name rule, a client's line into a struct chat_cmd, the
 * lines a client reads, and the worker-to-hub messages.
 *
 * A client line is parsed without trusting any byte of it: a NUL anywhere
 * rejects the whole line (RELIABILITY.md item 31), names follow one strict
 * ASCII rule with reserved words refused ignoring case (item 33), and
 * every piece of client input quoted back in an error is first made
 * visible with pv_vis and cut short.  The worker's message to the hub
 * carries text escaped with pv_vis plus "\t" for a tab, so a message line
 * holds no control byte at all (item 32), and the hub's decoder refuses
 * one that does.
 *
 * Pure code: no I/O, no allocation, no state, no signal is involved.
 * Nothing here writes past the sizes it is given, nor reads or writes the
 * byte after a client line (the caller's buffer may end there); a parsed
 * name or group is copied, NUL-terminated, into the command's own err.
 */
#include <stdint.h>
#include <string.h>

#include "pipevisor.h"
#include "chat.h"

#define CHAT_STR_(x)	#x
#define CHAT_STR(x)	CHAT_STR_(x)

#define CHAT_ONES	UINT64_C(0x0101010101010101)
#define CHAT_HIGHS	UINT64_C(0x8080808080808080)

/* The client-input part of an error is cut to this many bytes. */
#define CHAT_QUOTE_MAX	CHAT_NAME_MAX

#define CHAT_UNKNOWN_PRE	"unknown command: "
#define CHAT_UNKNOWN_POST	" (try help)"

/* The longest composed error, NUL included, must fit cmd->err. */
_Static_assert(sizeof(((struct chat_cmd *)0)->err) >=
    sizeof(CHAT_UNKNOWN_PRE) - 1 + PV_VIS_SIZE(CHAT_QUOTE_MAX) +
    sizeof(CHAT_UNKNOWN_POST) - 1, "chat_cmd.err too small");
_Static_assert(sizeof(((struct chat_cmd *)0)->err) > CHAT_NAME_MAX,
    "chat_cmd.err cannot hold a name");

const char chat_help_text[] = "commands: join GROUP, leave GROUP, "
    "send GROUP TEXT, msg NAME TEXT, list, who GROUP, ping, help, quit";

static const char chat_err_nul[] = "line contains a NUL byte";
static const char chat_err_name[] = "bad name: names are 1-"
    CHAT_STR(CHAT_NAME_MAX) " of A-Z a-z 0-9 _ . -";

/* The bytes allowed in a name: A-Z a-z 0-9 _ . - */
static const unsigned char chat_name_byte[256] = {
	['-'] = 1, ['.'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* Names nobody may take, whatever their case. */
static const char *const chat_reserved[] = {
	"server", "pipevisor", "admin", "root", "system", "everyone", "all",
};

/* How a command's arguments are shaped. */
enum chat_args {
	CHAT_ARGS_NONE,		/* list */
	CHAT_ARGS_NAME,		/* join GROUP */
	CHAT_ARGS_TEXT		/* send GROUP TEXT */
};

/* The commands a named client may give. */
static const struct chat_verb {
	const char	*word;
	size_t		 len;
	enum chat_op	 op;
	enum chat_args	 args;
	const char	*usage;		/* wrong number of arguments */
	const char	*bad;		/* the prefix for a bad name */
} chat_verbs[] = {
	{ "send", 4, CHAT_OP_SEND, CHAT_ARGS_TEXT, "usage: send GROUP TEXT",
	    "bad group name: " },
	{ "msg", 3, CHAT_OP_MSG, CHAT_ARGS_TEXT, "usage: msg NAME TEXT",
	    "bad name: " },
	{ "join", 4, CHAT_OP_JOIN, CHAT_ARGS_NAME, "usage: join GROUP",
	    "bad group name: " },
	{ "leave", 5, CHAT_OP_LEAVE, CHAT_ARGS_NAME, "usage: leave GROUP",
	    "bad group name: " },
	{ "who", 3, CHAT_OP_WHO, CHAT_ARGS_NAME, "usage: who GROUP",
	    "bad group name: " },
	{ "list", 4, CHAT_OP_LIST, CHAT_ARGS_NONE, "usage: list", NULL },
	{ "ping", 4, CHAT_OP_PING, CHAT_ARGS_NONE, "usage: ping", NULL },
	{ "help", 4, CHAT_OP_HELP, CHAT_ARGS_NONE, "usage: help", NULL },
	{ "quit", 4, CHAT_OP_QUIT, CHAT_ARGS_NONE, "usage: quit", NULL },
};

#define CHAT_NVERBS	(sizeof(chat_verbs) / sizeof(chat_verbs[0]))

/* Returns c in lower case if it is an ASCII capital, else c. */
static inline unsigned char
chat_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Returns 1 if s is a valid name or group name; see chat.h. */
int
chat_name_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (len == 0 || len > CHAT_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!chat_name_byte[p[i]])
			return 0;
	return 1;
}

/* Returns 1 if the len bytes at s are a reserved name, ignoring case. */
static int
chat_reserved_n(const char *s, size_t len)
{
	const char *r;
	size_t i, k;

	for (i = 0; i < sizeof(chat_reserved) / sizeof(chat_reserved[0]);
	    i++) {
		r = chat_reserved[i];
		for (k = 0; k < len && r[k] != '\0'; k++)
			if (chat_lower((unsigned char)s[k]) !=
			    (unsigned char)r[k])
				break;
		if (k == len && r[k] == '\0')
			return 1;
	}
	return 0;
}

/* Returns 1 if name is reserved, ignoring case; see chat.h. */
int
chat_name_reserved(const char *name)
{
	/* No reserved name is longer than a name may be. */
	return chat_reserved_n(name, strnlen(name, CHAT_NAME_MAX + 1));
}

/* Compares two names ignoring ASCII case, like strcasecmp. */
int
chat_name_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;
	unsigned char c, d;

	do {
		c = chat_lower(*p++);
		d = chat_lower(*q++);
	} while (c == d && c != '\0');
	return (int)c - (int)d;
}

/*
 * Writes len bytes of src at dst made visible as pv_vis does, but with a
 * tab escaped as "\t" too, so the result holds no control byte at all.
 * dst must hold PV_VIS_SIZE(len) bytes (a tab takes two); the result is
 * NUL-terminated.  Returns its length, without the NUL.
 */
static size_t
chat_vis(char *dst, const char *src, size_t len)
{
	const char *tab;
	size_t n = 0, seg;

	while ((tab = memchr(src, '\t', len)) != NULL) {
		seg = (size_t)(tab - src);
		n += pv_vis(dst + n, src, seg);
		dst[n++] = '\\';
		dst[n++] = 't';
		src += seg + 1;
		len -= seg + 1;
	}
	n += pv_vis(dst + n, src, len);
	return n;
}

/* Sets cmd to the fixed error text msg. */
static void
chat_fail(struct chat_cmd *cmd, const char *msg)
{
	cmd->op = CHAT_OP_ERROR;
	cmd->arg = NULL;
	cmd->text = msg;
	cmd->textlen = strlen(msg);
}

/*
 * Sets cmd to the error pre + the first CHAT_QUOTE_MAX bytes of the len
 * bytes at s, made visible, + post, composed in cmd->err.
 */
static void
chat_fail_quote(struct chat_cmd *cmd, const char *pre, const char *s,
    size_t len, const char *post)
{
	size_t n, k;

	if (len > CHAT_QUOTE_MAX)
		len = CHAT_QUOTE_MAX;
	n = strlen(pre);
	memcpy(cmd->err, pre, n);
	n += chat_vis(cmd->err + n, s, len);
	k = strlen(post);
	memcpy(cmd->err + n, post, k + 1);
	cmd->op = CHAT_OP_ERROR;
	cmd->arg = NULL;
	cmd->text = cmd->err;
	cmd->textlen = n + k;
}

/* Copies the name at s (len bytes, valid) into cmd->err as cmd->arg. */
static void
chat_set_arg(struct chat_cmd *cmd, const char *s, size_t len)
{
	memcpy(cmd->err, s, len);
	cmd->err[len] = '\0';
	cmd->arg = cmd->err;
}

/* Returns the index of the first byte at or after i that is not a space. */
static inline size_t
chat_skip_spaces(const char *s, size_t i, size_t len)
{
	while (i < len && s[i] == ' ')
		i++;
	return i;
}

/* Returns the index of the first space at or after i, or len. */
static inline size_t
chat_word_end(const char *s, size_t i, size_t len)
{
	const char *sp;

	sp = memchr(s + i, ' ', len - i);
	return sp == NULL ? len : (size_t)(sp - s);
}

/* Parses the first line of a client, its name, into cmd. */
static void
chat_parse_name(const char *line, size_t len, struct chat_cmd *cmd)
{
	if (!chat_name_valid(line, len)) {
		chat_fail(cmd, chat_err_name);
		return;
	}
	if (chat_reserved_n(line, len)) {
		chat_fail_quote(cmd, "reserved name: ", line, len, "");
		return;
	}
	cmd->op = CHAT_OP_NAME;
	chat_set_arg(cmd, line, len);
}

/*
 * Parses the arguments of verb v, which start at line[i], into cmd.  The
 * argument count is checked before the name, so "join a b" is a usage
 * error whatever a is.
 */
static void
chat_parse_args(const struct chat_verb *v, const char *line, size_t i,
    size_t len, struct chat_cmd *cmd)
{
	size_t a, aend, t;

	i = chat_skip_spaces(line, i, len);
	if (v->args == CHAT_ARGS_NONE) {
		if (i != len) {
			chat_fail(cmd, v->usage);
			return;
		}
		cmd->op = v->op;
		return;
	}
	if (i == len) {
		chat_fail(cmd, v->usage);
		return;
	}
	a = i;
	aend = chat_word_end(line, a, len);
	t = chat_skip_spaces(line, aend, len);
	/* A NAME command takes nothing after its name but spaces. */
	if (v->args == CHAT_ARGS_NAME ? t != len : t == len) {
		chat_fail(cmd, v->usage);
		return;
	}
	if (!chat_name_valid(line + a, aend - a)) {
		chat_fail_quote(cmd, v->bad, line + a, aend - a, "");
		return;
	}
	cmd->op = v->op;
	chat_set_arg(cmd, line + a, aend - a);
	if (v->args == CHAT_ARGS_TEXT) {
		cmd->text = line + t;
		cmd->textlen = len - t;
	}
}

/* Parses one client line into cmd; see the contract in chat.h. */
void
chat_parse_line(char *line, size_t len, int named, struct chat_cmd *cmd)
{
	const struct chat_verb *v;
	size_t i, wend, k;

	cmd->op = CHAT_OP_NONE;
	cmd->arg = NULL;
	cmd->text = NULL;
	cmd->textlen = 0;
	cmd->err[0] = '\0';

	/* Reject, never strip: a NUL would end the line for strlen. */
	if (memchr(line, '\0', len) != NULL) {
		chat_fail(cmd, chat_err_nul);
		return;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (!named) {
		chat_parse_name(line, len, cmd);
		return;
	}

	/* Spaces around the words are not words: a blank line is empty. */
	i = chat_skip_spaces(line, 0, len);
	if (i == len)
		return;
	wend = chat_word_end(line, i, len);
	for (k = 0; k < CHAT_NVERBS; k++) {
		v = &chat_verbs[k];
		if (v->len == wend - i && memcmp(v->word, line + i,
		    v->len) == 0) {
			chat_parse_args(v, line, wend, len, cmd);
			return;
		}
	}
	chat_fail_quote(cmd, CHAT_UNKNOWN_PRE, line + i, wend - i,
	    CHAT_UNKNOWN_POST);
}

/*
 * Adds n to *need and returns 1 if the total still fits size bytes; else
 * returns 0.  Never wraps, whatever n is.
 */
static inline int
chat_fits(size_t *need, size_t n, size_t size)
{
	if (*need > size || n > size - *need)
		return 0;
	*need += n;
	return 1;
}

/*
 * Writes mark, what and a LF into buf, size bytes, without a NUL; returns
 * the length, or 0 if it does not fit.
 */
static size_t
chat_fmt_line(char *buf, size_t size, const char *mark, const char *what)
{
	size_t ml, wl, need;

	ml = strlen(mark);
	wl = strlen(what);
	need = ml + 1;
	if (!chat_fits(&need, wl, size))
		return 0;
	memcpy(buf, mark, ml);
	memcpy(buf + ml, what, wl);
	buf[ml + wl] = '\n';
	return ml + wl + 1;
}

/* Writes "+ what\n"; see chat.h. */
size_t
chat_fmt_ok(char *buf, size_t size, const char *what)
{
	return chat_fmt_line(buf, size, "+ ", what);
}

/* Writes "- what\n"; see chat.h. */
size_t
chat_fmt_err(char *buf, size_t size, const char *what)
{
	return chat_fmt_line(buf, size, "- ", what);
}

/* Writes "* what\n"; see chat.h. */
size_t
chat_fmt_notice(char *buf, size_t size, const char *what)
{
	return chat_fmt_line(buf, size, "* ", what);
}

/* Writes "[GROUP] NAME: text\n"; see chat.h. */
size_t
chat_fmt_delivery(char *buf, size_t size, const char *group,
    const char *name, const char *text, size_t textlen)
{
	size_t gl, nl, n, need = 6;	/* "[", "] ", ": " and the LF */

	gl = strlen(group);
	nl = strlen(name);
	if (!chat_fits(&need, gl, size) || !chat_fits(&need, nl, size) ||
	    !chat_fits(&need, textlen, size))
		return 0;
	buf[0] = '[';
	memcpy(buf + 1, group, gl);
	n = 1 + gl;
	buf[n++] = ']';
	buf[n++] = ' ';
	memcpy(buf + n, name, nl);
	n += nl;
	buf[n++] = ':';
	buf[n++] = ' ';
	memcpy(buf + n, text, textlen);
	n += textlen;
	buf[n++] = '\n';
	return n;
}

/* Writes "[@FROM] text\n"; see chat.h. */
size_t
chat_fmt_private(char *buf, size_t size, const char *from,
    const char *text, size_t textlen)
{
	size_t fl, n, need = 5;		/* "[@", "] " and the LF */

	fl = strlen(from);
	if (!chat_fits(&need, fl, size) || !chat_fits(&need, textlen, size))
		return 0;
	buf[0] = '[';
	buf[1] = '@';
	memcpy(buf + 2, from, fl);
	n = 2 + fl;
	buf[n++] = ']';
	buf[n++] = ' ';
	memcpy(buf + n, text, textlen);
	n += textlen;
	buf[n++] = '\n';
	return n;
}

/*
 * Copies len bytes of an error text to dst, escaping only a control byte
 * or DEL (as an octal escape): the text was made visible when it was
 * composed, and escaping its backslashes again would garble it.  dst must
 * hold 4 * len bytes.  Returns the length written (no NUL).
 */
static size_t
chat_copy_error(char *dst, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] != 0x7f) {
			dst[n++] = (char)s[i];
			continue;
		}
		dst[n++] = '\\';
		dst[n++] = (char)('0' + (s[i] >> 6));
		dst[n++] = (char)('0' + ((s[i] >> 3) & 7));
		dst[n++] = (char)('0' + (s[i] & 7));
	}
	return n;
}

/* Encodes cmd as a worker-to-hub line; see the contract in chat.h. */
size_t
chat_encode_cmd(char *buf, size_t size, const struct chat_cmd *cmd)
{
	static const char letters[] = {
		[CHAT_OP_NAME] = 'N', [CHAT_OP_JOIN] = 'J',
		[CHAT_OP_LEAVE] = 'L', [CHAT_OP_SEND] = 'S',
		[CHAT_OP_MSG] = 'M', [CHAT_OP_LIST] = 'I',
		[CHAT_OP_WHO] = 'W', [CHAT_OP_HELP] = 'H',
		[CHAT_OP_PING] = 'P', [CHAT_OP_QUIT] = 'Q',
		[CHAT_OP_ERROR] = 'E', [CHAT_OP_HANDOVER] = 'O',
	};
	size_t n, fixed, alen = 0;
	int hasarg, hastext;

	if ((unsigned)cmd->op >= sizeof(letters) || letters[cmd->op] == 0)
		return 0;
	hasarg = cmd->op == CHAT_OP_NAME || cmd->op == CHAT_OP_JOIN ||
	    cmd->op == CHAT_OP_LEAVE || cmd->op == CHAT_OP_WHO ||
	    cmd->op == CHAT_OP_SEND || cmd->op == CHAT_OP_MSG;
	hastext = cmd->op == CHAT_OP_SEND || cmd->op == CHAT_OP_MSG ||
	    cmd->op == CHAT_OP_ERROR;

	/* A command the decoder would refuse is not sent at all. */
	if (hasarg) {
		if (cmd->arg == NULL)
			return 0;
		alen = strnlen(cmd->arg, CHAT_NAME_MAX + 1);
		if (!chat_name_valid(cmd->arg, alen))
			return 0;
	}
	if (hastext && (cmd->text == NULL || cmd->textlen == 0))
		return 0;

	/*
	 * The worst case: letter, space and arg, space and four bytes per
	 * text byte, LF.  pv_vis's NUL lands no further than the LF.
	 */
	fixed = 2 + (hasarg ? 1 + alen : 0) + (hastext ? 1 : 0);
	if (size < fixed || (hastext && cmd->textlen > (size - fixed) / 4))
		return 0;

	buf[0] = letters[cmd->op];
	n = 1;
	if (hasarg) {
		buf[n++] = ' ';
		memcpy(buf + n, cmd->arg, alen);
		n += alen;
	}
	if (hastext) {
		buf[n++] = ' ';
		if (cmd->op == CHAT_OP_ERROR)
			n += chat_copy_error(buf + n, cmd->text, cmd->textlen);
		else
			n += chat_vis(buf + n, cmd->text, cmd->textlen);
	}
	buf[n++] = '\n';
	return n;
}

/*
 * Returns 1 if the len bytes at s hold no control byte, NUL or DEL.
 * Eight bytes are checked at once: (w - 0x20 * ONES) & ~w & HIGHS is
 * nonzero exactly when some byte of w is below 0x20, and the same with 1
 * for w ^ (0x7f * ONES) finds a DEL (a borrow can flag more bytes, but
 * only when one really matches).
 */
static int
chat_line_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t w, x;
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		memcpy(&w, p + i, sizeof(w));
		x = w ^ (0x7f * CHAT_ONES);
		if (((w - 0x20 * CHAT_ONES) & ~w & CHAT_HIGHS) != 0 ||
		    ((x - CHAT_ONES) & ~x & CHAT_HIGHS) != 0)
			return 0;
	}
	for (; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* Decodes one worker line into cmd; see the contract in chat.h. */
int
chat_decode_cmd(char *line, size_t len, struct chat_cmd *cmd)
{
	char *sp;
	size_t alen;

	cmd->op = CHAT_OP_NONE;
	cmd->arg = NULL;
	cmd->text = NULL;
	cmd->textlen = 0;

	/*
	 * A worker escapes every control byte, so one here means a corrupt
	 * worker; refusing it also keeps raw bytes from any client.
	 */
	if (len == 0 || !chat_line_clean(line, len))
		return -1;
	if (len > 1 && line[1] != ' ')
		return -1;

	switch (line[0]) {
	case 'I':
	case 'H':
	case 'P':
	case 'Q':
	case 'O':
		if (len != 1)
			return -1;
		cmd->op = line[0] == 'I' ? CHAT_OP_LIST :
		    line[0] == 'H' ? CHAT_OP_HELP :
		    line[0] == 'P' ? CHAT_OP_PING :
		    line[0] == 'Q' ? CHAT_OP_QUIT : CHAT_OP_HANDOVER;
		return 0;
	case 'N':
	case 'J':
	case 'L':
	case 'W':
		if (len < 3 || !chat_name_valid(line + 2, len - 2))
			return -1;
		if (line[0] == 'N' && chat_reserved_n(line + 2, len - 2))
			return -1;
		cmd->op = line[0] == 'N' ? CHAT_OP_NAME :
		    line[0] == 'J' ? CHAT_OP_JOIN :
		    line[0] == 'L' ? CHAT_OP_LEAVE : CHAT_OP_WHO;
		cmd->arg = line + 2;
		return 0;
	case 'S':
	case 'M':
		if (len < 3 || (sp = memchr(line + 2, ' ', len - 2)) == NULL)
			return -1;
		alen = (size_t)(sp - (line + 2));
		if (!chat_name_valid(line + 2, alen) ||
		    (size_t)(sp + 1 - line) >= len)
			return -1;
		*sp = '\0';
		cmd->op = line[0] == 'S' ? CHAT_OP_SEND : CHAT_OP_MSG;
		cmd->arg = line + 2;
		cmd->text = sp + 1;
		cmd->textlen = len - (size_t)(sp + 1 - line);
		return 0;
	case 'E':
		if (len < 3)
			return -1;
		cmd->op = CHAT_OP_ERROR;
		cmd->text = line + 2;
		cmd->textlen = len - 2;
		return 0;
	case 'D':
		cmd->arg = len == 1 ? line + 1 : line + 2;
		return 0;
	default:
		return -1;
	}
}
