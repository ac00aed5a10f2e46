/*
 * test_vis.c: unit tests of pv_vis, the terminal-safe escaping in vis.c.
 *
 * Checks the golden escapes of RELIABILITY.md item 32, every single byte
 * against libbsd's strvisx, UTF-8 edge cases (overlong forms, surrogates,
 * truncation, code points past U+10FFFF, C1 controls, bidi overrides), the
 * eight-byte fast path at every alignment, and the PV_VIS_SIZE bound with
 * buffers of exactly that size (run it under ASan to catch an overflow).
 * Prints one line per failure and a summary; exits 1 if anything failed.
 * No signals are involved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vis.h>

#include "pipevisor.h"

static int	failures;
static int	checks;

/* Runs pv_vis on n bytes in a buffer of exactly PV_VIS_SIZE(n) bytes. */
static char *
vis_alloc(const char *src, size_t n, size_t *outlen)
{
	char *dst;

	if ((dst = malloc(PV_VIS_SIZE(n))) == NULL) {
		perror("malloc");
		exit(1);
	}
	*outlen = pv_vis(dst, src, n);
	return dst;
}

/* Prints s with non-printable bytes in hex, for a failure message. */
static void
show(const char *label, const char *s, size_t n)
{
	size_t i;

	printf("    %s: \"", label);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			putchar(c);
		else
			printf("<%02x>", c);
	}
	printf("\" (%zu bytes)\n", n);
}

/* Checks that pv_vis turns n bytes of in into the string want. */
static void
expect(const char *name, const char *in, size_t n, const char *want)
{
	size_t len;
	char *out;

	checks++;
	out = vis_alloc(in, n, &len);
	if (len != strlen(want) || memcmp(out, want, len) != 0 ||
	    out[len] != '\0' || len > 4 * n) {
		failures++;
		printf("FAIL %s\n", name);
		show("input", in, n);
		show("got", out, len);
		show("want", want, strlen(want));
	}
	free(out);
}

/* Checks a condition that has no input/output pair. */
static void
check(int ok, const char *name)
{
	checks++;
	if (!ok) {
		failures++;
		printf("FAIL %s\n", name);
	}
}

/* Shorthand for a string literal input, which may contain NUL bytes. */
#define EXPECT(name, lit, want)	expect(name, lit, sizeof(lit) - 1, want)

/* The cases of RELIABILITY.md item 32 and the contract's fixed escapes. */
static void
test_golden(void)
{
	EXPECT("golden", "\033[2J\r\b\a\xe2\x80\xae",
	    "\\033[2J\\r\\b\\a\\342\\200\\256");
	EXPECT("empty", "", "");
	EXPECT("plain", "hello, world", "hello, world");
	EXPECT("tab kept", "a\tb", "a\tb");
	EXPECT("backslash doubled", "a\\b\\\\", "a\\\\b\\\\\\\\");
	EXPECT("LF inside", "a\nb", "a\\nb");
	EXPECT("C escapes", "\a\b\v\f\r", "\\a\\b\\v\\f\\r");
	EXPECT("NUL", "a\0b", "a\\000b");
	EXPECT("NUL before digit", "\0" "1", "\\0001");
	EXPECT("DEL", "\x7f", "\\177");
	EXPECT("ESC sequence", "\033]0;title\007",
	    "\\033]0;title\\a");
	EXPECT("octal C0", "\x01\x1f", "\\001\\037");
}

/* Valid UTF-8 text that must come out unchanged, and its neighbours. */
static void
test_utf8_valid(void)
{
	EXPECT("2-byte", "caf\xc3\xa9", "caf\xc3\xa9");
	EXPECT("3-byte", "\xe6\x97\xa5\xe6\x9c\xac",
	    "\xe6\x97\xa5\xe6\x9c\xac");
	EXPECT("4-byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	EXPECT("U+0080 lowest 2-byte is C1", "\xc2\x80", "\\302\\200");
	EXPECT("U+009F C1", "\xc2\x9f", "\\302\\237");
	EXPECT("U+00A0 kept", "\xc2\xa0", "\xc2\xa0");
	EXPECT("U+0800 lowest 3-byte", "\xe0\xa0\x80", "\xe0\xa0\x80");
	EXPECT("U+D7FF below surrogates", "\xed\x9f\xbf", "\xed\x9f\xbf");
	EXPECT("U+E000 above surrogates", "\xee\x80\x80", "\xee\x80\x80");
	EXPECT("U+FFFF", "\xef\xbf\xbf", "\xef\xbf\xbf");
	EXPECT("U+10000 lowest 4-byte", "\xf0\x90\x80\x80",
	    "\xf0\x90\x80\x80");
	EXPECT("U+10FFFF highest", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");
	EXPECT("U+200F RLM kept", "\xe2\x80\x8f", "\xe2\x80\x8f");
	EXPECT("U+2029 kept", "\xe2\x80\xa9", "\xe2\x80\xa9");
	EXPECT("U+202F kept", "\xe2\x80\xaf", "\xe2\x80\xaf");
	EXPECT("U+2065 kept", "\xe2\x81\xa5", "\xe2\x81\xa5");
	EXPECT("U+206A kept", "\xe2\x81\xaa", "\xe2\x81\xaa");
}

/* The bidirectional embeddings, overrides and isolates, one by one. */
static void
test_bidi(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "\xe2\x80\xaa", "\\342\\200\\252" },	/* LRE */
		{ "\xe2\x80\xab", "\\342\\200\\253" },	/* RLE */
		{ "\xe2\x80\xac", "\\342\\200\\254" },	/* PDF */
		{ "\xe2\x80\xad", "\\342\\200\\255" },	/* LRO */
		{ "\xe2\x80\xae", "\\342\\200\\256" },	/* RLO */
		{ "\xe2\x81\xa6", "\\342\\201\\246" },	/* LRI */
		{ "\xe2\x81\xa7", "\\342\\201\\247" },	/* RLI */
		{ "\xe2\x81\xa8", "\\342\\201\\250" },	/* FSI */
		{ "\xe2\x81\xa9", "\\342\\201\\251" },	/* PDI */
	};
	size_t i;
	char name[32];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "bidi %zu", i);
		expect(name, t[i].in, strlen(t[i].in), t[i].want);
	}
	EXPECT("bidi inside text", "ab\xe2\x80\xae" "cd",
	    "ab\\342\\200\\256cd");
}

/* Malformed UTF-8: every byte that is not part of a valid sequence. */
static void
test_utf8_invalid(void)
{
	EXPECT("stray continuation", "a\x80z", "a\\200z");
	EXPECT("overlong NUL", "\xc0\x80", "\\300\\200");
	EXPECT("overlong C1", "\xc1\xbf", "\\301\\277");
	EXPECT("overlong 3-byte", "\xe0\x80\xaf", "\\340\\200\\257");
	EXPECT("overlong 3-byte high", "\xe0\x9f\xbf", "\\340\\237\\277");
	EXPECT("overlong 4-byte", "\xf0\x8f\xbf\xbf",
	    "\\360\\217\\277\\277");
	EXPECT("surrogate D800", "\xed\xa0\x80", "\\355\\240\\200");
	EXPECT("surrogate DFFF", "\xed\xbf\xbf", "\\355\\277\\277");
	EXPECT("past U+10FFFF", "\xf4\x90\x80\x80", "\\364\\220\\200\\200");
	EXPECT("F5 lead", "\xf5\x80\x80\x80", "\\365\\200\\200\\200");
	EXPECT("FF", "\xff\xfe", "\\377\\376");
	EXPECT("truncated at end", "x\xe2\x82", "x\\342\\202");
	EXPECT("truncated before ASCII", "\xe2\x82" "A", "\\342\\202A");
	EXPECT("truncated before valid", "\xe2\xc3\xa9", "\\342\xc3\xa9");
	EXPECT("4-byte missing one", "\xf0\x9f\x98", "\\360\\237\\230");
	EXPECT("lead then lead", "\xc3\xc3\xa9", "\\303\xc3\xa9");
	EXPECT("5-byte form", "\xf8\x88\x80\x80\x80",
	    "\\370\\210\\200\\200\\200");
}

/* Every single byte alone, against strvisx where they must agree. */
static void
test_each_byte(void)
{
	char in[1], want[8], name[32];
	int c;

	for (c = 0; c < 256; c++) {
		in[0] = (char)c;
		if (c == '\t')
			strlcpy(want, "\t", sizeof(want));
		else if (c == 0)
			strlcpy(want, "\\000", sizeof(want));
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			snprintf(want, sizeof(want), "%c", c);
		else
			strvisx(want, in, 1, VIS_OCTAL | VIS_CSTYLE |
			    VIS_TAB | VIS_NL | VIS_NOLOCALE);
		snprintf(name, sizeof(name), "byte 0x%02x", c);
		expect(name, in, 1, want);
	}
}

/*
 * Puts every byte at every offset of a 24-byte run of 'a', so each lane
 * of the eight-byte fast path sees every value once.
 */
static void
test_fast_path_lanes(void)
{
	char in[24], want[128], one[8], name[48];
	size_t pos, len;
	char *esc;
	int c;

	for (c = 0; c < 256; c++) {
		in[0] = (char)c;
		esc = vis_alloc(in, 1, &len);
		strlcpy(one, esc, sizeof(one));
		free(esc);
		for (pos = 0; pos < sizeof(in); pos++) {
			memset(in, 'a', sizeof(in));
			in[pos] = (char)c;
			snprintf(want, sizeof(want), "%.*s%s%.*s", (int)pos,
			    in, one, (int)(sizeof(in) - pos - 1), in + pos + 1);
			snprintf(name, sizeof(name), "lane byte 0x%02x at %zu",
			    c, pos);
			expect(name, in, sizeof(in), want);
		}
	}
}

/* Long inputs: the worst case fills the bound exactly, text is copied. */
static void
test_bounds(void)
{
	size_t n = 100000, len, i;
	char *in, *out;
	int ok;

	if ((in = malloc(n)) == NULL) {
		perror("malloc");
		exit(1);
	}
	memset(in, 0xff, n);
	out = vis_alloc(in, n, &len);
	check(len == 4 * n && out[len] == '\0', "worst case is 4 per byte");
	free(out);

	for (i = 0; i < n; i++)
		in[i] = (char)(' ' + i % 95);
	for (i = 0; i < n; i++)
		if (in[i] == '\\')
			in[i] = '/';
	out = vis_alloc(in, n, &len);
	check(len == n && memcmp(out, in, n) == 0 && out[n] == '\0',
	    "long printable ASCII is copied");
	free(out);

	/* Pseudo-random bytes: bound holds, no raw control comes out. */
	srand(1);
	for (i = 0; i < n; i++)
		in[i] = (char)rand();
	out = vis_alloc(in, n, &len);
	ok = len <= 4 * n && out[len] == '\0';
	for (i = 0; i < len && ok; i++) {
		unsigned char c = (unsigned char)out[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			ok = 0;
	}
	check(ok, "random bytes: bounded, no raw control");
	free(out);
	free(in);
}

/* Runs every group and reports. */
int
main(void)
{
	test_golden();
	test_utf8_valid();
	test_bidi();
	test_utf8_invalid();
	test_each_byte();
	test_fast_path_lanes();
	test_bounds();
	printf("test_vis: %d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
