/*
 * fuzz_chat.c: a libFuzzer harness for the chat codec (chat_proto.c).
 *
 * Each input is parsed as a client line twice, as a first line (a name)
 * and as a named client's command, from a buffer of exactly its length
 * (ASan catches a byte read or written past it).  For each result it
 * checks the contract: a NUL anywhere is an error, an error text is a
 * short visible string (no byte below 0x20, no DEL), an arg is a valid
 * name, send and msg text lies inside the line; then the command is
 * encoded for the hub, the encoded line must hold no control byte but
 * its final LF, and decoding it must give back the same op, the same arg
 * and the text made visible (pv_vis, with "\t" for a tab, rebuilt here).
 * The same encoding into a buffer of a size taken from the input either
 * fits or returns 0.  The input is also decoded as a worker line (what
 * is accepted re-encodes to itself) and formatted as a delivery, private
 * and reply line into exact buffers of every size around its length.
 * A failed check aborts, which libFuzzer reports as a crash.  No signals.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"
#include "chat.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The buffer size chat.h asks chat_encode_cmd's callers for. */
#define ENCODE_SIZE	(PV_VIS_SIZE(CHAT_LINE_LIMIT) + 64)

/* Returns 1 if the n bytes at s hold no control byte, NUL or DEL. */
static int
fuzz_visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/* Returns 1 if arg is a valid name, NUL-terminated within the limit. */
static int
fuzz_arg_ok(const char *arg)
{
	return arg != NULL && chat_name_valid(arg, strnlen(arg,
	    CHAT_NAME_MAX + 1));
}

/* Returns 1 if op takes a name or group argument. */
static int
fuzz_has_arg(enum chat_op op)
{
	return op == CHAT_OP_NAME || op == CHAT_OP_JOIN ||
	    op == CHAT_OP_LEAVE || op == CHAT_OP_WHO || op == CHAT_OP_SEND ||
	    op == CHAT_OP_MSG;
}

/*
 * Writes the n bytes at s as the encoder should: pv_vis on each run
 * between tabs, "\t" for each tab.  dst holds PV_VIS_SIZE(n) bytes.
 */
static size_t
fuzz_vis(char *dst, const char *s, size_t n)
{
	size_t i, k = 0, len = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '\t')
			continue;
		len += pv_vis(dst + len, s + k, i - k);
		if (i < n) {
			memcpy(dst + len, "\\t", 2);
			len += 2;
		}
		k = i + 1;
	}
	return len;
}

/* Checks one parsed line's contract, its encoding and its decoding. */
static void
fuzz_parsed(const char *line, size_t n, int named,
    const struct chat_cmd *cmd, uint8_t sizebyte)
{
	static char enc[ENCODE_SIZE], vis[ENCODE_SIZE];
	struct chat_cmd back;
	size_t len, vlen, small;
	char *buf;

	if ((int)cmd->op < (int)CHAT_OP_NONE || cmd->op > CHAT_OP_ERROR)
		abort();
	if (memchr(line, '\0', n) != NULL && (cmd->op != CHAT_OP_ERROR ||
	    strcmp(cmd->text, "line contains a NUL byte") != 0))
		abort();
	if (!named && cmd->op != CHAT_OP_NONE && cmd->op != CHAT_OP_NAME &&
	    cmd->op != CHAT_OP_ERROR)
		abort();
	if (fuzz_has_arg(cmd->op) ? !fuzz_arg_ok(cmd->arg) : cmd->arg != NULL)
		abort();
	if (cmd->op == CHAT_OP_NAME && chat_name_reserved(cmd->arg))
		abort();
	switch (cmd->op) {
	case CHAT_OP_ERROR:
		if (cmd->text == NULL || cmd->textlen == 0 ||
		    cmd->textlen >= sizeof(cmd->err) ||
		    strlen(cmd->text) != cmd->textlen ||
		    !fuzz_visible(cmd->text, cmd->textlen))
			abort();
		break;
	case CHAT_OP_SEND:
	case CHAT_OP_MSG:
		if (cmd->text == NULL || cmd->textlen == 0 ||
		    cmd->text < line || cmd->text + cmd->textlen > line + n ||
		    memchr(cmd->text, '\0', cmd->textlen) != NULL)
			abort();
		break;
	default:
		if (cmd->text != NULL || cmd->textlen != 0)
			abort();
	}

	len = chat_encode_cmd(enc, sizeof(enc), cmd);
	if (cmd->op == CHAT_OP_NONE) {
		if (len != 0)
			abort();
		return;
	}
	/* Any line the worker lets through is encoded. */
	if (len == 0) {
		if (n <= CHAT_LINE_LIMIT)
			abort();
		return;
	}
	if (len > sizeof(enc) || enc[len - 1] != '\n' ||
	    !fuzz_visible(enc, len - 1))
		abort();

	/* A buffer of any smaller size: the same line, or nothing. */
	small = ((size_t)sizebyte * len) / 255;
	if ((buf = malloc(small == 0 ? 1 : small)) == NULL)
		return;
	vlen = chat_encode_cmd(buf, small, cmd);
	if (vlen != 0 && (vlen != len || memcmp(buf, enc, len) != 0))
		abort();
	free(buf);

	enc[len - 1] = '\0';
	if (chat_decode_cmd(enc, len - 1, &back) != 0 || back.op != cmd->op)
		abort();
	if (cmd->arg != NULL ? back.arg == NULL ||
	    strcmp(back.arg, cmd->arg) != 0 : back.arg != NULL)
		abort();
	if (cmd->op == CHAT_OP_ERROR) {
		if (back.textlen != cmd->textlen ||
		    memcmp(back.text, cmd->text, cmd->textlen) != 0)
			abort();
	} else if (cmd->op == CHAT_OP_SEND || cmd->op == CHAT_OP_MSG) {
		if (cmd->textlen > CHAT_LINE_LIMIT)
			return;
		vlen = fuzz_vis(vis, cmd->text, cmd->textlen);
		if (back.textlen != vlen || memcmp(back.text, vis, vlen) != 0)
			abort();
	} else if (back.text != NULL)
		abort();
}

/* Decodes the input as a worker line and checks what is accepted. */
static void
fuzz_decode(const uint8_t *data, size_t size)
{
	static char enc[ENCODE_SIZE];
	struct chat_cmd cmd;
	char *line;
	size_t len;

	if ((line = malloc(size + 1)) == NULL)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if (chat_decode_cmd(line, size, &cmd) != 0) {
		free(line);
		return;
	}
	if (!fuzz_visible((const char *)data, size))
		abort();
	if (fuzz_has_arg(cmd.op) && !fuzz_arg_ok(cmd.arg))
		abort();
	switch (cmd.op) {
	case CHAT_OP_NONE:
		/* "D reason" */
		if (cmd.arg == NULL || data[0] != 'D')
			abort();
		break;
	case CHAT_OP_SEND:
	case CHAT_OP_MSG:
		if (cmd.textlen == 0 || strlen(cmd.text) != cmd.textlen)
			abort();
		break;
	default:
		/* Anything else re-encodes to the very same line. */
		len = chat_encode_cmd(enc, sizeof(enc), &cmd);
		if (len != size + 1 || memcmp(enc, data, size) != 0 ||
		    enc[size] != '\n')
			abort();
	}
	free(line);
}

/* Calls formatter k on the pieces. */
static size_t
fuzz_fmt(int k, char *buf, size_t size, const char *a, const char *text,
    size_t textlen)
{
	switch (k) {
	case 0:
		return chat_fmt_delivery(buf, size, a, "javad", text,
		    textlen);
	case 1:
		return chat_fmt_private(buf, size, a, text, textlen);
	default:
		return chat_fmt_ok(buf, size, text);
	}
}

/*
 * Formats the input (as text, cut at its first NUL for the reply) at
 * every size from a little below the line's length to one above, in
 * exact buffers: the line is whole or 0 is returned.
 */
static void
fuzz_formats(const uint8_t *data, size_t size)
{
	char *text, *full, *buf;
	size_t want, n, s, textlen;
	int k;

	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((full = malloc(size + 64)) == NULL) {
		free(text);
		return;
	}
	for (k = 0; k < 3; k++) {
		textlen = k == 2 ? strlen(text) : size;
		want = fuzz_fmt(k, full, size + 64, "1", text, textlen);
		if (want == 0 || want > size + 64 || full[want - 1] != '\n')
			abort();
		for (s = want > 8 ? want - 8 : 0; s <= want + 1; s++) {
			if ((buf = malloc(s == 0 ? 1 : s)) == NULL)
				break;
			n = fuzz_fmt(k, buf, s, "1", text, textlen);
			if (s < want ? n != 0 : n != want ||
			    memcmp(buf, full, want) != 0)
				abort();
			free(buf);
		}
	}
	free(full);
	free(text);
}

/* Checks the codec's contract on one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chat_cmd cmd;
	char *line;
	int named;

	for (named = 0; named <= 1; named++) {
		if ((line = malloc(size == 0 ? 1 : size)) == NULL)
			return 0;
		memcpy(line, data, size);
		chat_parse_line(line, size, named, &cmd);
		fuzz_parsed(line, size, named, &cmd,
		    size > 0 ? data[size - 1] : 0);
		free(line);
	}
	fuzz_decode(data, size);
	fuzz_formats(data, size);
	return 0;
}
