/*
 * test_chat_proto.c: unit tests of chat_proto.c, the chat wire codec.
 *
 * Covers the name rule (1 and 32 bytes against 0 and 33, each allowed
 * punctuation mark, every single byte, a Cyrillic look-alike, a trailing
 * CR, reserved names in any case, case-folded comparison), every command
 * with CRLF, runs of spaces, blank lines and raw text with tabs and
 * escapes, every error reply exactly (a NUL anywhere rejects the whole
 * line, RELIABILITY.md item 31; quoted input is made visible and cut),
 * the help text, the formatters at every buffer size around the line's
 * length, the worker-to-hub encoding (sanitising ESC, CR, tab, LF and
 * U+202E, item 32) and its decoder, including a round trip of every op
 * and a few thousand random lines, and the garbage the decoder refuses.
 * Every client line is parsed from a buffer of exactly its length, so an
 * ASan build catches a read or write past it.  No signal is involved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipevisor.h"
#include "chat.h"
#include "check.h"

/* The buffer size chat.h asks chat_encode_cmd's callers for. */
#define ENCODE_SIZE	(PV_VIS_SIZE(CHAT_LINE_LIMIT) + 64)

#define BAD_NAME	"bad name: names are 1-32 of A-Z a-z 0-9 _ . -"

/* Returns a malloc'd copy of the n bytes at s, exactly n bytes long. */
static char *
dup_exact(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL) {
		perror("malloc");
		exit(1);
	}
	memcpy(p, s, n);
	return p;
}

/* Returns 1 if the n bytes at s hold no control byte, NUL or DEL. */
static int
all_visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * Parses the n bytes at in (named or not) and checks the op, the arg
 * (NULL for none) and the text (NULL for none; the error text for
 * CHAT_OP_ERROR).
 */
static void
parse_is(const char *in, size_t n, int named, enum chat_op op,
    const char *arg, const char *text, int line)
{
	struct chat_cmd cmd;
	char *buf;
	int ok;

	buf = dup_exact(in, n);
	memset(&cmd, 0x5a, sizeof(cmd));
	chat_parse_line(buf, n, named, &cmd);
	ok = cmd.op == op;
	if (arg == NULL)
		ok = ok && cmd.arg == NULL;
	else
		ok = ok && cmd.arg != NULL && strcmp(cmd.arg, arg) == 0;
	if (text == NULL)
		ok = ok && cmd.text == NULL && cmd.textlen == 0;
	else
		ok = ok && cmd.text != NULL && cmd.textlen == strlen(text) &&
		    memcmp(cmd.text, text, cmd.textlen) == 0;
	if (op == CHAT_OP_ERROR && ok)
		ok = cmd.text[cmd.textlen] == '\0' &&
		    cmd.textlen < sizeof(cmd.err) &&
		    all_visible(cmd.text, cmd.textlen);
	check_count++;
	if (!ok) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: parse (named %d): op %d "
		    "(want %d), arg \"%s\" (want \"%s\"), text \"%.*s\" "
		    "(want \"%s\")\n", __FILE__, line, named, (int)cmd.op,
		    (int)op, cmd.op == op && cmd.arg ? cmd.arg : "?",
		    arg ? arg : "(null)",
		    cmd.op == op && cmd.text ? (int)cmd.textlen : 1,
		    cmd.op == op && cmd.text ? cmd.text : "?",
		    text ? text : "(null)");
	}
	free(buf);
}

/* Parses a string literal (which may hold NUL bytes). */
#define PARSE(named, lit, op, arg, text) \
	parse_is((lit), sizeof(lit) - 1, (named), (op), (arg), (text), \
	    __LINE__)
/* A named client's line that must succeed. */
#define CMD(lit, op, arg, text)	PARSE(1, lit, op, arg, text)
/* A named client's line that must be refused with error want. */
#define REFUSE(lit, want)	PARSE(1, lit, CHAT_OP_ERROR, NULL, want)

/* The name rule: lengths, every byte, and the look-alikes. */
static void
test_name_valid(void)
{
	char name[64];
	int c, want;

	CHECK_EQ(chat_name_valid("", 0), 0);
	CHECK_EQ(chat_name_valid("a", 1), 1);
	memset(name, 'x', sizeof(name));
	CHECK_EQ(chat_name_valid(name, CHAT_NAME_MAX), 1);
	CHECK_EQ(chat_name_valid(name, CHAT_NAME_MAX + 1), 0);
	CHECK_EQ(chat_name_valid(name, sizeof(name)), 0);
	CHECK_EQ(chat_name_valid("_", 1), 1);
	CHECK_EQ(chat_name_valid(".", 1), 1);
	CHECK_EQ(chat_name_valid("-", 1), 1);
	CHECK_EQ(chat_name_valid("a_b.c-d", 7), 1);
	CHECK_EQ(chat_name_valid("Az09", 4), 1);
	CHECK_EQ(chat_name_valid("a b", 3), 0);
	CHECK_EQ(chat_name_valid("a\0b", 3), 0);
	CHECK_EQ(chat_name_valid("alice\r", 6), 0);
	CHECK_EQ(chat_name_valid("al\tice", 6), 0);
	CHECK_EQ(chat_name_valid("a@b", 3), 0);
	CHECK_EQ(chat_name_valid("a/b", 3), 0);
	CHECK_EQ(chat_name_valid("caf\xc3\xa9", 5), 0);
	/* Cyrillic a (U+0430) in place of the Latin one. */
	CHECK_EQ(chat_name_valid("\xd0\xb0lice", 6), 0);
	/* Only len bytes count. */
	CHECK_EQ(chat_name_valid("ab cd", 2), 1);

	for (c = 0; c < 256; c++) {
		name[0] = (char)c;
		want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '-';
		CHECK_EQ(chat_name_valid(name, 1), want);
	}
}

/* Reserved names in any case, and their near misses. */
static void
test_name_reserved(void)
{
	static const char *const yes[] = {
		"server", "SERVER", "Server", "sErVeR", "pipevisor",
		"PipeVisor", "admin", "ADMIN", "root", "Root", "system",
		"SYSTEM", "everyone", "EveryOne", "all", "ALL", "aLl",
	};
	static const char *const no[] = {
		"", "serve", "servers", "server_", "xserver", "al", "alll",
		"admin1", "roots", "sys", "everyon", "pipe", "alice",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		check_count++;
		if (chat_name_reserved(yes[i]) != 1) {
			check_failures++;
			fprintf(stderr, "%s:%d: \"%s\" not reserved\n",
			    __FILE__, __LINE__, yes[i]);
		}
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		check_count++;
		if (chat_name_reserved(no[i]) != 0) {
			check_failures++;
			fprintf(stderr, "%s:%d: \"%s\" reserved\n",
			    __FILE__, __LINE__, no[i]);
		}
	}
}

/* Returns -1, 0 or 1 as n is negative, zero or positive. */
static int
sign(int n)
{
	return (n > 0) - (n < 0);
}

/* Case-folded comparison, against strcasecmp in the C locale. */
static void
test_name_cmp(void)
{
	static const char *const w[] = {
		"", "a", "A", "ab", "AB", "aB", "alice", "ALICE", "Alice",
		"alicf", "alic", "bob", "Zed", "abe", "_", "-", ".", "0", "9",
		"[", "`", "z_", "Z_",
	};
	size_t i, j;

	CHECK_EQ(chat_name_cmp("alice", "ALICE"), 0);
	CHECK_EQ(chat_name_cmp("ALICE", "alice"), 0);
	CHECK_EQ(chat_name_cmp("a.B-c_9", "A.b-C_9"), 0);
	CHECK(chat_name_cmp("alice", "alicf") < 0);
	CHECK(chat_name_cmp("a", "ab") < 0);
	CHECK(chat_name_cmp("ab", "a") > 0);
	CHECK(chat_name_cmp("Zed", "abe") > 0);
	CHECK(chat_name_cmp("alice", "\xd0\xb0lice") != 0);
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		for (j = 0; j < sizeof(w) / sizeof(w[0]); j++)
			CHECK_EQ(sign(chat_name_cmp(w[i], w[j])),
			    sign(strcasecmp(w[i], w[j])));
}

/* The first line: a name, with each way of getting it wrong. */
static void
test_parse_name(void)
{
	char name[CHAT_NAME_MAX + 2];

	PARSE(0, "alice", CHAT_OP_NAME, "alice", NULL);
	PARSE(0, "alice\r", CHAT_OP_NAME, "alice", NULL);
	PARSE(0, "ALICE", CHAT_OP_NAME, "ALICE", NULL);
	PARSE(0, "a", CHAT_OP_NAME, "a", NULL);
	PARSE(0, "_", CHAT_OP_NAME, "_", NULL);
	PARSE(0, ".", CHAT_OP_NAME, ".", NULL);
	PARSE(0, "-", CHAT_OP_NAME, "-", NULL);
	PARSE(0, "j.r-r_t", CHAT_OP_NAME, "j.r-r_t", NULL);
	/* A command word is a fine name, and is not run before naming. */
	PARSE(0, "quit", CHAT_OP_NAME, "quit", NULL);
	PARSE(0, "", CHAT_OP_NONE, NULL, NULL);
	PARSE(0, "\r", CHAT_OP_NONE, NULL, NULL);

	memset(name, 'n', sizeof(name));
	name[CHAT_NAME_MAX] = '\0';
	parse_is(name, CHAT_NAME_MAX, 0, CHAT_OP_NAME, name, NULL, __LINE__);
	/* A CR is not counted: 32 bytes and CR is a name. */
	name[CHAT_NAME_MAX] = '\r';
	parse_is(name, CHAT_NAME_MAX + 1, 0, CHAT_OP_NAME,
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn", NULL, __LINE__);
	name[CHAT_NAME_MAX] = 'n';
	parse_is(name, CHAT_NAME_MAX + 1, 0, CHAT_OP_ERROR, NULL, BAD_NAME,
	    __LINE__);

	PARSE(0, "alice\r\r", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "\xd0\xb0lice", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "alice bob", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, " alice", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "alice ", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "   ", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "\033[31malice", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "al\tice", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "\r\r", CHAT_OP_ERROR, NULL, BAD_NAME);
	PARSE(0, "\ralice", CHAT_OP_ERROR, NULL, BAD_NAME);

	PARSE(0, "server", CHAT_OP_ERROR, NULL, "reserved name: server");
	PARSE(0, "SeRvEr\r", CHAT_OP_ERROR, NULL, "reserved name: SeRvEr");
	PARSE(0, "PIPEVISOR", CHAT_OP_ERROR, NULL,
	    "reserved name: PIPEVISOR");
	PARSE(0, "Admin", CHAT_OP_ERROR, NULL, "reserved name: Admin");
	PARSE(0, "root", CHAT_OP_ERROR, NULL, "reserved name: root");
	PARSE(0, "System", CHAT_OP_ERROR, NULL, "reserved name: System");
	PARSE(0, "everyone", CHAT_OP_ERROR, NULL, "reserved name: everyone");
	PARSE(0, "ALL", CHAT_OP_ERROR, NULL, "reserved name: ALL");
	PARSE(0, "servers", CHAT_OP_NAME, "servers", NULL);

	/* A NUL anywhere rejects the line, before any other rule. */
	PARSE(0, "alice\0quit", CHAT_OP_ERROR, NULL,
	    "line contains a NUL byte");
	PARSE(0, "\0", CHAT_OP_ERROR, NULL, "line contains a NUL byte");
	PARSE(0, "alice\0", CHAT_OP_ERROR, NULL, "line contains a NUL byte");
	PARSE(0, "alice\0\r", CHAT_OP_ERROR, NULL,
	    "line contains a NUL byte");
	PARSE(0, "server\0", CHAT_OP_ERROR, NULL, "line contains a NUL byte");
}

/* Every command that succeeds, with CRLF, spaces and raw text. */
static void
test_parse_commands(void)
{
	CMD("join g", CHAT_OP_JOIN, "g", NULL);
	CMD("leave g", CHAT_OP_LEAVE, "g", NULL);
	CMD("who g", CHAT_OP_WHO, "g", NULL);
	CMD("send g hello world", CHAT_OP_SEND, "g", "hello world");
	CMD("msg bob hi there", CHAT_OP_MSG, "bob", "hi there");
	CMD("list", CHAT_OP_LIST, NULL, NULL);
	CMD("help", CHAT_OP_HELP, NULL, NULL);
	CMD("ping", CHAT_OP_PING, NULL, NULL);
	CMD("quit", CHAT_OP_QUIT, NULL, NULL);

	/* CRLF: one CR is dropped. */
	CMD("join 1\r", CHAT_OP_JOIN, "1", NULL);
	CMD("quit\r", CHAT_OP_QUIT, NULL, NULL);
	CMD("list\r", CHAT_OP_LIST, NULL, NULL);
	CMD("send 1 hi\r", CHAT_OP_SEND, "1", "hi");
	CMD("send 1 hi\r\r", CHAT_OP_SEND, "1", "hi\r");
	CMD("msg bob x\r", CHAT_OP_MSG, "bob", "x");

	/* Runs of spaces separate words; text keeps its own spaces. */
	CMD("join   g", CHAT_OP_JOIN, "g", NULL);
	CMD("join g   ", CHAT_OP_JOIN, "g", NULL);
	CMD("   join g", CHAT_OP_JOIN, "g", NULL);
	CMD("  list  ", CHAT_OP_LIST, NULL, NULL);
	CMD("who    Room.1-x_y  \r", CHAT_OP_WHO, "Room.1-x_y", NULL);
	CMD("send   g   hi  there  ", CHAT_OP_SEND, "g", "hi  there  ");
	CMD("msg  bob    x", CHAT_OP_MSG, "bob", "x");
	CMD("send g  ", CHAT_OP_ERROR, NULL, "usage: send GROUP TEXT");

	/* Text is kept raw: tabs, escapes, CR, any byte but NUL. */
	CMD("send g a\tb", CHAT_OP_SEND, "g", "a\tb");
	CMD("send g \tx", CHAT_OP_SEND, "g", "\tx");
	CMD("send g \033[2J\r\b\a\xe2\x80\xae", CHAT_OP_SEND, "g",
	    "\033[2J\r\b\a\xe2\x80\xae");
	CMD("send g a\\nb", CHAT_OP_SEND, "g", "a\\nb");
	CMD("send g a\rb", CHAT_OP_SEND, "g", "a\rb");
	CMD("send g \xff\xfe", CHAT_OP_SEND, "g", "\xff\xfe");
	CMD("msg bob caf\xc3\xa9 \xf0\x9f\x98\x80", CHAT_OP_MSG, "bob",
	    "caf\xc3\xa9 \xf0\x9f\x98\x80");
	CMD("send g quit", CHAT_OP_SEND, "g", "quit");
	CMD("send g send g x", CHAT_OP_SEND, "g", "send g x");

	/* Names of any case; reserved names are the hub's to find. */
	CMD("join ROOM", CHAT_OP_JOIN, "ROOM", NULL);
	CMD("msg server hi", CHAT_OP_MSG, "server", "hi");

	/* Blank lines are ignored. */
	CMD("", CHAT_OP_NONE, NULL, NULL);
	CMD("\r", CHAT_OP_NONE, NULL, NULL);
	CMD("    ", CHAT_OP_NONE, NULL, NULL);
	CMD("  \r", CHAT_OP_NONE, NULL, NULL);
}

/* Every error reply of a named client, exactly. */
static void
test_parse_errors(void)
{
	char line[256], want[256];
	size_t i;

	/* RELIABILITY.md item 31: the whole line is refused. */
	REFUSE("send r hi\0quit", "line contains a NUL byte");
	REFUSE("\0quit", "line contains a NUL byte");
	REFUSE("quit\0", "line contains a NUL byte");
	REFUSE("quit\0\r", "line contains a NUL byte");
	REFUSE("join g\0", "line contains a NUL byte");
	REFUSE("bogus\0", "line contains a NUL byte");

	REFUSE("join", "usage: join GROUP");
	REFUSE("join ", "usage: join GROUP");
	REFUSE("join\r", "usage: join GROUP");
	REFUSE("join a b", "usage: join GROUP");
	REFUSE("join ~ b", "usage: join GROUP");
	REFUSE("leave", "usage: leave GROUP");
	REFUSE("leave a b", "usage: leave GROUP");
	REFUSE("who", "usage: who GROUP");
	REFUSE("who a b", "usage: who GROUP");
	REFUSE("send", "usage: send GROUP TEXT");
	REFUSE("send ", "usage: send GROUP TEXT");
	REFUSE("send g", "usage: send GROUP TEXT");
	REFUSE("send g ", "usage: send GROUP TEXT");
	REFUSE("send g\r", "usage: send GROUP TEXT");
	REFUSE("send g \r", "usage: send GROUP TEXT");
	REFUSE("send g\thi", "usage: send GROUP TEXT");
	REFUSE("msg", "usage: msg NAME TEXT");
	REFUSE("msg bob", "usage: msg NAME TEXT");
	REFUSE("msg bob   ", "usage: msg NAME TEXT");
	REFUSE("list x", "usage: list");
	REFUSE("help me", "usage: help");
	REFUSE("ping 1", "usage: ping");
	REFUSE("quit now", "usage: quit");
	REFUSE("quit\t", "unknown command: quit\\t (try help)");

	REFUSE("join ~", "bad group name: ~");
	REFUSE("leave a@b", "bad group name: a@b");
	REFUSE("who \xd0\xb0", "bad group name: \xd0\xb0");
	REFUSE("join a\tb", "bad group name: a\\tb");
	REFUSE("join \033[2J", "bad group name: \\033[2J");
	REFUSE("join \xe2\x80\xae" "x", "bad group name: \\342\\200\\256x");
	REFUSE("join \\", "bad group name: \\\\");
	REFUSE("join a\rb", "bad group name: a\\rb");
	REFUSE("join g\r\r", "bad group name: g\\r");
	REFUSE("send ~ hi", "bad group name: ~");
	REFUSE("send \x7f hi", "bad group name: \\177");
	REFUSE("msg b@d hi", "bad name: b@d");
	REFUSE("msg \xd0\xb0lice hi", "bad name: \xd0\xb0lice");
	REFUSE("join aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bad group name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

	REFUSE("JOIN g", "unknown command: JOIN (try help)");
	REFUSE("Quit", "unknown command: Quit (try help)");
	REFUSE("frobnicate x y", "unknown command: frobnicate (try help)");
	REFUSE("join\tg", "unknown command: join\\tg (try help)");
	REFUSE("\033[2Jx", "unknown command: \\033[2Jx (try help)");
	REFUSE("\xe2\x80\xae" "tixe", "unknown command: \\342\\200\\256tixe "
	    "(try help)");
	REFUSE("/join g", "unknown command: /join (try help)");
	REFUSE("\r\r", "unknown command: \\r (try help)");
	REFUSE("sendx g hi", "unknown command: sendx (try help)");
	REFUSE("jo", "unknown command: jo (try help)");

	/* The quoted word is cut to CHAT_NAME_MAX bytes of input. */
	memset(line, 'w', 100);
	parse_is(line, 100, 1, CHAT_OP_ERROR, NULL,
	    "unknown command: wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww (try help)",
	    __LINE__);
	/* A cut through a UTF-8 sequence leaves its first byte escaped. */
	memset(line, 'a', 31);
	memcpy(line + 31, "\xc3\xa9", 2);
	snprintf(want, sizeof(want), "unknown command: %.31s\\303 "
	    "(try help)", line);
	parse_is(line, 33, 1, CHAT_OP_ERROR, NULL, want, __LINE__);
	/* The longest error: every quoted byte escaped as four. */
	memset(line, '\001', 200);
	strlcpy(want, "unknown command: ", sizeof(want));
	for (i = 0; i < CHAT_NAME_MAX; i++)
		strlcat(want, "\\001", sizeof(want));
	strlcat(want, " (try help)", sizeof(want));
	CHECK_EQ(strlen(want), 17 + 4 * CHAT_NAME_MAX + 11);
	parse_is(line, 200, 1, CHAT_OP_ERROR, NULL, want, __LINE__);
	memcpy(line, "join ", 5);
	memset(line + 5, '\033', 100);
	strlcpy(want, "bad group name: ", sizeof(want));
	for (i = 0; i < CHAT_NAME_MAX; i++)
		strlcat(want, "\\033", sizeof(want));
	parse_is(line, 105, 1, CHAT_OP_ERROR, NULL, want, __LINE__);
}

/* The help reply. */
static void
test_help(void)
{
	CHECK_STREQ(chat_help_text, "commands: join GROUP, leave GROUP, "
	    "send GROUP TEXT, msg NAME TEXT, list, who GROUP, ping, help, "
	    "quit");
	CHECK(all_visible(chat_help_text, strlen(chat_help_text)));
}

/* The formatters under test, one signature. */
enum fmt_kind { FMT_OK, FMT_ERR, FMT_NOTICE, FMT_DELIVERY, FMT_PRIVATE };

/* Calls formatter kind with the given pieces. */
static size_t
fmt_call(enum fmt_kind kind, char *buf, size_t size, const char *a,
    const char *b, const char *text)
{
	switch (kind) {
	case FMT_OK:
		return chat_fmt_ok(buf, size, a);
	case FMT_ERR:
		return chat_fmt_err(buf, size, a);
	case FMT_NOTICE:
		return chat_fmt_notice(buf, size, a);
	case FMT_DELIVERY:
		return chat_fmt_delivery(buf, size, a, b, text, strlen(text));
	case FMT_PRIVATE:
		return chat_fmt_private(buf, size, a, text, strlen(text));
	}
	return 0;
}

/*
 * Checks that formatter kind gives exactly want with room to spare, and
 * at every size from 0 to strlen(want) + 1 either want or 0, never
 * writing past the size: once in a buffer of exactly that size (ASan
 * sees an overflow) and once in a larger one with guard bytes.
 */
static void
fmt_is(enum fmt_kind kind, const char *a, const char *b, const char *text,
    const char *want, int line)
{
	char big[512], *exact;
	size_t len = strlen(want), size, n, i;
	int ok;

	n = fmt_call(kind, big, sizeof(big), a, b, text);
	check_count++;
	if (n != len || memcmp(big, want, len) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: fmt %d gave \"%.*s\" "
		    "(%zu), want \"%s\"\n", __FILE__, line, (int)kind,
		    (int)(n < sizeof(big) ? n : 0), big, n, want);
	}
	for (size = 0; size <= len + 1; size++) {
		memset(big, 0xa5, sizeof(big));
		n = fmt_call(kind, big, size, a, b, text);
		ok = size < len ? n == 0 : n == len &&
		    memcmp(big, want, len) == 0;
		for (i = size; i < sizeof(big); i++)
			if ((unsigned char)big[i] != 0xa5)
				ok = 0;
		exact = malloc(size == 0 ? 1 : size);
		if (exact == NULL) {
			perror("malloc");
			exit(1);
		}
		n = fmt_call(kind, exact, size, a, b, text);
		ok = ok && (size < len ? n == 0 : n == len);
		free(exact);
		check_count++;
		if (!ok) {
			check_failures++;
			fprintf(stderr, "%s:%d: CHECK failed: fmt %d at size "
			    "%zu (line %zu bytes)\n", __FILE__, line,
			    (int)kind, size, len);
		}
	}
}

/* The five line formats, at every size around their length. */
static void
test_fmt(void)
{
	fmt_is(FMT_OK, "welcome javad", NULL, NULL, "+ welcome javad\n",
	    __LINE__);
	fmt_is(FMT_OK, "", NULL, NULL, "+ \n", __LINE__);
	fmt_is(FMT_ERR, "not a member of 9", NULL, NULL,
	    "- not a member of 9\n", __LINE__);
	fmt_is(FMT_ERR, chat_help_text, NULL, NULL, "- commands: join GROUP, "
	    "leave GROUP, send GROUP TEXT, msg NAME TEXT, list, who GROUP, "
	    "ping, help, quit\n", __LINE__);
	fmt_is(FMT_NOTICE, "ali joined 1", NULL, NULL, "* ali joined 1\n",
	    __LINE__);
	fmt_is(FMT_DELIVERY, "1", "javad", "hello ali",
	    "[1] javad: hello ali\n", __LINE__);
	fmt_is(FMT_DELIVERY, "room.x", "a", "", "[room.x] a: \n", __LINE__);
	fmt_is(FMT_DELIVERY, "g", "n", "\\033[2J  two  spaces ",
	    "[g] n: \\033[2J  two  spaces \n", __LINE__);
	fmt_is(FMT_PRIVATE, "javad", NULL, "psst", "[@javad] psst\n",
	    __LINE__);
	fmt_is(FMT_PRIVATE, "x", NULL, "", "[@x] \n", __LINE__);

	/* textlen counts, not the NUL: text may be cut from a longer one. */
	{
		char buf[64];
		size_t n;

		n = chat_fmt_delivery(buf, sizeof(buf), "g", "n", "abcdef", 3);
		CHECK_EQ(n, 11);
		CHECK(memcmp(buf, "[g] n: abc\n", 11) == 0);
		n = chat_fmt_private(buf, sizeof(buf), "n", "abcdef", 2);
		CHECK_EQ(n, 8);
		CHECK(memcmp(buf, "[@n] ab\n", 8) == 0);
		/* A huge textlen must not wrap the size arithmetic. */
		CHECK_EQ(chat_fmt_delivery(buf, sizeof(buf), "g", "n", "x",
		    SIZE_MAX - 2), 0);
		CHECK_EQ(chat_fmt_private(buf, sizeof(buf), "n", "x",
		    SIZE_MAX - 2), 0);
		CHECK_EQ(chat_fmt_delivery(buf, SIZE_MAX, "g", "n", "x",
		    SIZE_MAX - 2), 0);
		CHECK_EQ(chat_fmt_private(buf, SIZE_MAX, "n", "x",
		    SIZE_MAX - 2), 0);
	}
}

/* Encodes cmd and checks the result is want ("" for nothing sent). */
static void
encode_is(const struct chat_cmd *cmd, const char *want, int line)
{
	char buf[ENCODE_SIZE];
	size_t n;

	memset(buf, 0xa5, sizeof(buf));
	n = chat_encode_cmd(buf, sizeof(buf), cmd);
	check_count++;
	if (n != strlen(want) || memcmp(buf, want, n) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: encode op %d gave "
		    "\"%.*s\" (%zu), want \"%s\"\n", __FILE__, line,
		    (int)cmd->op, (int)n, buf, n, want);
	}
}

/* Parses the n bytes at in as a named client and encodes the result. */
static void
parse_encode_is(const char *in, size_t n, const char *want, int line)
{
	struct chat_cmd cmd;
	char *buf;

	buf = dup_exact(in, n);
	chat_parse_line(buf, n, 1, &cmd);
	encode_is(&cmd, want, line);
	free(buf);
}

/* Parses a literal line and checks its encoding. */
#define ENCODE(lit, want) \
	parse_encode_is((lit), sizeof(lit) - 1, (want), __LINE__)

/* Builds a command by hand, for what the parser never makes. */
static struct chat_cmd
mkcmd(enum chat_op op, const char *arg, const char *text, size_t textlen)
{
	struct chat_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = op;
	cmd.arg = arg;
	cmd.text = text;
	cmd.textlen = textlen;
	return cmd;
}

/* The worker-to-hub encoding of every op, sanitised. */
static void
test_encode(void)
{
	struct chat_cmd cmd;
	char *big, *buf;
	size_t n, i, size, want;

	cmd = mkcmd(CHAT_OP_NAME, "javad", NULL, 0);
	encode_is(&cmd, "N javad\n", __LINE__);
	ENCODE("join 1", "J 1\n");
	ENCODE("leave 1\r", "L 1\n");
	ENCODE("who Room", "W Room\n");
	ENCODE("send 1 hello  ali ", "S 1 hello  ali \n");
	ENCODE("msg bob hi", "M bob hi\n");
	ENCODE("list", "I\n");
	ENCODE("help", "H\n");
	ENCODE("ping", "P\n");
	ENCODE("quit", "Q\n");
	ENCODE("", "");
	ENCODE("   ", "");
	ENCODE("join", "E usage: join GROUP\n");
	ENCODE("send r hi\0quit", "E line contains a NUL byte\n");
	/* An error quoting input is sent as composed, not escaped twice. */
	ENCODE("\033x", "E unknown command: \\033x (try help)\n");
	ENCODE("join a\\b", "E bad group name: a\\\\b\n");

	/* RELIABILITY.md item 32: nothing a terminal acts on gets through. */
	ENCODE("send g \033[2J\r\b\a\xe2\x80\xae",
	    "S g \\033[2J\\r\\b\\a\\342\\200\\256\n");
	ENCODE("send g a\tb", "S g a\\tb\n");
	ENCODE("send g \t\t", "S g \\t\\t\n");
	ENCODE("msg bob a\nb\\c\x7f", "M bob a\\nb\\\\c\\177\n");
	ENCODE("send g \xc2\x9b" "1m", "S g \\302\\2331m\n");
	ENCODE("send g \xff", "S g \\377\n");
	ENCODE("send g caf\xc3\xa9 \xe6\x97\xa5", "S g caf\xc3\xa9 "
	    "\xe6\x97\xa5\n");

	/* A hand-made error is made a single safe line too. */
	cmd = mkcmd(CHAT_OP_ERROR, NULL, "line too long", 13);
	encode_is(&cmd, "E line too long\n", __LINE__);
	cmd = mkcmd(CHAT_OP_ERROR, NULL, "a\nb\033\t\x7f", 6);
	encode_is(&cmd, "E a\\012b\\033\\011\\177\n", __LINE__);

	/* What the decoder would refuse is not encoded. */
	cmd = mkcmd(CHAT_OP_NONE, "x", NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_JOIN, NULL, NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_JOIN, "a b", NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_JOIN, "", NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_JOIN, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
	    0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_SEND, "g", "", 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_SEND, "g", NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_ERROR, NULL, NULL, 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_ERROR, NULL, "", 0);
	encode_is(&cmd, "", __LINE__);
	cmd = mkcmd(CHAT_OP_HANDOVER, NULL, NULL, 0);
	encode_is(&cmd, "O\n", __LINE__);
	cmd = mkcmd((enum chat_op)(CHAT_OP_HANDOVER + 1), "g", "x", 1);
	encode_is(&cmd, "", __LINE__);

	/*
	 * The size chat.h asks for holds the worst case: a longest group
	 * and CHAT_LINE_LIMIT bytes that each become four.
	 */
	if ((big = malloc(CHAT_LINE_LIMIT)) == NULL ||
	    (buf = malloc(ENCODE_SIZE)) == NULL) {
		perror("malloc");
		exit(1);
	}
	memset(big, '\001', CHAT_LINE_LIMIT);
	cmd = mkcmd(CHAT_OP_SEND, "gggggggggggggggggggggggggggggggg", big,
	    CHAT_LINE_LIMIT);
	want = 2 + CHAT_NAME_MAX + 1 + 4 * CHAT_LINE_LIMIT + 1;
	n = chat_encode_cmd(buf, ENCODE_SIZE, &cmd);
	CHECK_EQ(n, want);
	CHECK(n > 0 && buf[n - 1] == '\n' && all_visible(buf, n - 1));
	free(buf);

	/* Every size around the worst case, in exact buffers. */
	for (size = 0; size <= want + 1; size++) {
		if ((buf = malloc(size == 0 ? 1 : size)) == NULL) {
			perror("malloc");
			exit(1);
		}
		n = chat_encode_cmd(buf, size, &cmd);
		CHECK_EQ(n, size < want ? 0 : want);
		free(buf);
		/* The sizes in the middle say nothing new. */
		if (size == 64)
			size = want - 64;
	}
	free(big);

	/* Small lines: a short buffer gets 0, never an overflow. */
	cmd = mkcmd(CHAT_OP_SEND, "g", "hi", 2);
	for (size = 0; size <= 16; size++) {
		if ((buf = malloc(size == 0 ? 1 : size)) == NULL) {
			perror("malloc");
			exit(1);
		}
		n = chat_encode_cmd(buf, size, &cmd);
		/* The check is by the worst case, 4 bytes a text byte. */
		CHECK_EQ(n, size < 5 + 4 * 2 ? 0 : 7);
		free(buf);
	}
	cmd = mkcmd(CHAT_OP_JOIN, "room", NULL, 0);
	for (i = 0; i <= 8; i++) {
		if ((buf = malloc(i == 0 ? 1 : i)) == NULL) {
			perror("malloc");
			exit(1);
		}
		CHECK_EQ(chat_encode_cmd(buf, i, &cmd), i < 7 ? 0 : 7);
		free(buf);
	}
	cmd = mkcmd(CHAT_OP_PING, NULL, NULL, 0);
	for (i = 0; i <= 3; i++) {
		if ((buf = malloc(i == 0 ? 1 : i)) == NULL) {
			perror("malloc");
			exit(1);
		}
		CHECK_EQ(chat_encode_cmd(buf, i, &cmd), i < 2 ? 0 : 2);
		free(buf);
	}
}

/*
 * Decodes the n bytes at in (given without LF; a NUL is added) and
 * checks the result: ret -1 or 0, and for 0 the op, arg and text.
 */
static void
decode_is(const char *in, size_t n, int ret, enum chat_op op,
    const char *arg, const char *text, int line)
{
	struct chat_cmd cmd;
	char *buf;
	int r, ok;

	if ((buf = malloc(n + 1)) == NULL) {
		perror("malloc");
		exit(1);
	}
	memcpy(buf, in, n);
	buf[n] = '\0';
	memset(&cmd, 0x5a, sizeof(cmd));
	r = chat_decode_cmd(buf, n, &cmd);
	ok = r == ret;
	if (ok && r == 0) {
		ok = cmd.op == op;
		if (arg == NULL)
			ok = ok && cmd.arg == NULL;
		else
			ok = ok && cmd.arg != NULL &&
			    strcmp(cmd.arg, arg) == 0;
		if (text == NULL)
			ok = ok && cmd.text == NULL && cmd.textlen == 0;
		else
			ok = ok && cmd.text != NULL &&
			    cmd.textlen == strlen(text) &&
			    memcmp(cmd.text, text, cmd.textlen) == 0;
	}
	check_count++;
	if (!ok) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: decode \"%.*s\" = %d "
		    "(want %d), op %d (want %d)\n", __FILE__, line, (int)n,
		    in, r, ret, r == 0 ? (int)cmd.op : -1, (int)op);
	}
	free(buf);
}

/* A worker line the hub must accept, with what it means. */
#define DECODE(lit, op, arg, text) \
	decode_is((lit), sizeof(lit) - 1, 0, (op), (arg), (text), __LINE__)
/* A worker line the hub must refuse. */
#define GARBAGE(lit) \
	decode_is((lit), sizeof(lit) - 1, -1, CHAT_OP_NONE, NULL, NULL, \
	    __LINE__)

/*
 * A bad byte at every position of a line long enough for the decoder's
 * eight-at-a-time scan and its tail; the bytes next to the bad ones in
 * value pass.
 */
static void
test_decode_positions(void)
{
	static const unsigned char bad[] = { 0x00, 0x01, '\t', '\n', '\r',
	    0x1b, 0x1f, 0x7f };
	static const unsigned char good[] = { 0x20, 0x7e, 0x80, 0x9b, 0xff };
	char line[48], want[48];
	size_t pos, i;

	for (i = 0; i < sizeof(bad); i++)
		for (pos = 4; pos < sizeof(line); pos++) {
			memset(line, 'x', sizeof(line));
			memcpy(line, "S g ", 4);
			line[pos] = (char)bad[i];
			decode_is(line, sizeof(line), -1, CHAT_OP_NONE, NULL,
			    NULL, __LINE__);
		}
	for (i = 0; i < sizeof(good); i++)
		for (pos = 4; pos < sizeof(line); pos++) {
			memset(line, 'x', sizeof(line));
			memcpy(line, "S g ", 4);
			line[pos] = (char)good[i];
			memcpy(want, line + 4, sizeof(line) - 4);
			want[sizeof(line) - 4] = '\0';
			decode_is(line, sizeof(line), 0, CHAT_OP_SEND, "g",
			    want, __LINE__);
		}
}

/* The decoder on good lines and on garbage. */
static void
test_decode(void)
{
	DECODE("N javad", CHAT_OP_NAME, "javad", NULL);
	DECODE("J 1", CHAT_OP_JOIN, "1", NULL);
	DECODE("L 1", CHAT_OP_LEAVE, "1", NULL);
	DECODE("W Room.x", CHAT_OP_WHO, "Room.x", NULL);
	DECODE("S 1 hello ali", CHAT_OP_SEND, "1", "hello ali");
	DECODE("S 1  two  spaces ", CHAT_OP_SEND, "1", " two  spaces ");
	DECODE("M bob \\033[2J", CHAT_OP_MSG, "bob", "\\033[2J");
	DECODE("I", CHAT_OP_LIST, NULL, NULL);
	DECODE("H", CHAT_OP_HELP, NULL, NULL);
	DECODE("P", CHAT_OP_PING, NULL, NULL);
	DECODE("Q", CHAT_OP_QUIT, NULL, NULL);
	DECODE("O", CHAT_OP_HANDOVER, NULL, NULL);
	DECODE("E line too long", CHAT_OP_ERROR, NULL, "line too long");
	DECODE("D eof", CHAT_OP_NONE, "eof", NULL);
	DECODE("D read error: Connection reset", CHAT_OP_NONE,
	    "read error: Connection reset", NULL);
	DECODE("D", CHAT_OP_NONE, "", NULL);
	DECODE("D ", CHAT_OP_NONE, "", NULL);
	DECODE("S g caf\xc3\xa9", CHAT_OP_SEND, "g", "caf\xc3\xa9");
	DECODE("N ALICE", CHAT_OP_NAME, "ALICE", NULL);
	DECODE("M server hi", CHAT_OP_MSG, "server", "hi");

	GARBAGE("");
	GARBAGE(" ");
	GARBAGE("X");
	GARBAGE("Z foo");
	GARBAGE("j g");
	GARBAGE("Jg");
	GARBAGE("J");
	GARBAGE("J ");
	GARBAGE("J  g");
	GARBAGE("J g ");
	GARBAGE("J a b");
	GARBAGE("J ~");
	GARBAGE("J \xd0\xb0");
	GARBAGE("J aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	GARBAGE("N");
	GARBAGE("N server");
	GARBAGE("N SERVER");
	GARBAGE("N All");
	GARBAGE("N a b");
	GARBAGE("L");
	GARBAGE("W");
	GARBAGE("S");
	GARBAGE("S g");
	GARBAGE("S g ");
	GARBAGE("S  g hi");
	GARBAGE("S ~ hi");
	GARBAGE("M bob");
	GARBAGE("M b@d hi");
	GARBAGE("I x");
	GARBAGE("I ");
	GARBAGE("Q ");
	GARBAGE("O ");
	GARBAGE("O x");
	GARBAGE("HP");
	GARBAGE("E");
	GARBAGE("E ");
	GARBAGE("Ex");
	GARBAGE("Dx");
	GARBAGE("S g a\tb");
	GARBAGE("S g a\033b");
	GARBAGE("S g a\rb");
	GARBAGE("S g a\x7f");
	GARBAGE("E a\nb");
	GARBAGE("D a\001");
	GARBAGE("Q\t");
	GARBAGE("Q\r");
	GARBAGE("S g hi\0Q");
	GARBAGE("J g\0");
	GARBAGE("\0");
	GARBAGE("\xffQ");

	test_decode_positions();
}

/*
 * Parses the n bytes at in (named or not), encodes, decodes and checks
 * that the op and arg survive and the text comes back sanitised.
 */
static void
round_trip(const char *in, size_t n, int named, int line)
{
	struct chat_cmd cmd, back;
	char *src, enc[ENCODE_SIZE], vis[ENCODE_SIZE];
	size_t len, vlen, i, k;
	int ok;

	src = dup_exact(in, n);
	chat_parse_line(src, n, named, &cmd);
	len = chat_encode_cmd(enc, sizeof(enc), &cmd);
	check_count++;
	if (cmd.op == CHAT_OP_NONE) {
		if (len != 0) {
			check_failures++;
			fprintf(stderr, "%s:%d: CHECK failed: NONE encoded\n",
			    __FILE__, line);
		}
		free(src);
		return;
	}
	ok = len > 0 && enc[len - 1] == '\n' && all_visible(enc, len - 1);
	if (ok) {
		enc[len - 1] = '\0';
		ok = chat_decode_cmd(enc, len - 1, &back) == 0 &&
		    back.op == cmd.op;
	}
	if (ok && cmd.arg != NULL)
		ok = back.arg != NULL && strcmp(back.arg, cmd.arg) == 0;
	else if (ok)
		ok = back.arg == NULL;
	if (ok && cmd.op == CHAT_OP_ERROR)
		ok = back.textlen == cmd.textlen &&
		    memcmp(back.text, cmd.text, cmd.textlen) == 0;
	else if (ok && (cmd.op == CHAT_OP_SEND || cmd.op == CHAT_OP_MSG)) {
		/* pv_vis on the runs between tabs, "\\t" for each tab. */
		vlen = 0;
		for (i = 0, k = 0; i <= cmd.textlen; i++) {
			if (i < cmd.textlen && cmd.text[i] != '\t')
				continue;
			vlen += pv_vis(vis + vlen, cmd.text + k, i - k);
			if (i < cmd.textlen) {
				memcpy(vis + vlen, "\\t", 2);
				vlen += 2;
			}
			k = i + 1;
		}
		ok = vlen == back.textlen &&
		    memcmp(vis, back.text, vlen) == 0;
	} else if (ok)
		ok = back.text == NULL;
	if (!ok) {
		check_failures++;
		fprintf(stderr, "%s:%d: CHECK failed: round trip of op %d\n",
		    __FILE__, line, (int)cmd.op);
	}
	free(src);
}

/* A literal line through parse, encode and decode. */
#define ROUND(named, lit)	round_trip((lit), sizeof(lit) - 1, (named), \
				    __LINE__)

/* Every op there and back, then random lines. */
static void
test_round_trip(void)
{
	static const char alphabet[] = "join leave who send msg list help "
	    "ping quit  gab_.-Z09\t\r\033\\\x7f\x80\xc3\xa9\xe2\x80\xae";
	static const char *const starts[] = {
		"", "join ", "leave ", "who ", "send ", "msg ", "list",
		"help", "ping", "quit", "send g ", "msg bob ",
	};
	char line[64];
	uint32_t seed = 12345;
	size_t n, k, s;
	int i;

	ROUND(0, "alice");
	ROUND(0, "server");
	ROUND(0, "al ice");
	ROUND(1, "join 1");
	ROUND(1, "leave 1");
	ROUND(1, "who 1");
	ROUND(1, "send 1 hi \033[2J\ta\\b");
	ROUND(1, "msg bob \xe2\x80\xae" "evil");
	ROUND(1, "send 1 caf\xc3\xa9");
	ROUND(1, "list");
	ROUND(1, "help");
	ROUND(1, "ping");
	ROUND(1, "quit");
	ROUND(1, "join");
	ROUND(1, "bogus\033");
	ROUND(1, "send r hi\0quit");
	ROUND(1, "");

	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		s = (seed >> 16) % (sizeof(starts) / sizeof(starts[0]));
		n = strlen(starts[s]);
		memcpy(line, starts[s], n);
		seed = seed * 1103515245u + 12345u;
		k = (seed >> 16) % 24;
		while (k-- > 0 && n < sizeof(line)) {
			seed = seed * 1103515245u + 12345u;
			line[n++] = alphabet[(seed >> 16) %
			    (sizeof(alphabet) - 1)];
		}
		round_trip(line, n, i & 1, __LINE__);
	}
}

/* Runs every suite; exits 1 if any check failed. */
int
main(void)
{
	check_watchdog(60);
	test_name_valid();
	test_name_reserved();
	test_name_cmp();
	test_parse_name();
	test_parse_commands();
	test_parse_errors();
	test_help();
	test_fmt();
	test_encode();
	test_decode();
	test_round_trip();
	return check_done("test_chat_proto");
}
