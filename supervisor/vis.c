/*
 * vis.c: makes untrusted bytes safe to show on a terminal.
 *
 * pv_vis copies valid UTF-8 text as is and escapes every byte a terminal
 * could act on: C0 controls other than tab, DEL, the C1 controls U+0080 to
 * U+009F, the bidirectional embeddings, overrides and isolates U+202A to
 * U+202E and U+2066 to U+2069 (the "Trojan Source" characters), and every
 * byte that is not part of a well-formed UTF-8 sequence (stray continuation
 * bytes, truncated sequences, overlong forms, surrogates, code points past
 * U+10FFFF).  An escape is "\a", "\b", "\n", "\v", "\f" or "\r" for those
 * controls, "\\" for a backslash, and a three-digit octal escape such as
 * "\033" for any other byte, so no input byte grows to more than four.
 * Tab is kept.  A LF is escaped as "\n": callers pass one line without
 * its LF and write the LF themselves.
 *
 * The escaping is done here rather than with strvisx(3), whose libbsd
 * version mangles multibyte text in a UTF-8 locale and overflows a short
 * buffer (RELIABILITY.md item 32); the output is the one strvisx gives
 * with VIS_OCTAL|VIS_CSTYLE|VIS_TAB|VIS_NL|VIS_NOLOCALE for the escaped
 * bytes, except that NUL is always "\000".  Plain ASCII takes a fast path
 * that checks eight bytes at a time and copies whole runs.
 *
 * Pure code: no state, no allocation, no signal is involved.
 */
#include <stdint.h>
#include <string.h>

#include "pipevisor.h"

#define ONES	UINT64_C(0x0101010101010101)
#define HIGHS	UINT64_C(0x8080808080808080)

/*
 * Returns nonzero when any of the eight bytes in w would not be copied by
 * the fast path: below 0x20, 0x7f or above, or a backslash.
 */
static inline uint64_t
vis_word_unsafe(uint64_t w)
{
	uint64_t low, high, bs;

	low = (w - 0x20 * ONES) & ~w & HIGHS;
	high = ((w + ONES) | w) & HIGHS;
	bs = w ^ ('\\' * ONES);
	bs = (bs - ONES) & ~bs & HIGHS;
	return low | high | bs;
}

/* Returns nonzero when byte c is printable ASCII other than a backslash. */
static inline int
vis_ascii_safe(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

/*
 * Returns the length of the well-formed UTF-8 sequence (RFC 3629) at s,
 * which has n > 0 bytes left and a first byte of 0x80 or more, and stores
 * its code point in *cp; returns 0 when the sequence is malformed.
 */
static inline size_t
vis_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;
	uint32_t v;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else
		return 0;	/* continuation byte, 0xc0, 0xc1, 0xf5-0xff */
	if (n < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = (v << 6) | (s[1] & 0x3f);
	for (i = 2; i < need; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return need;
}

/* Returns nonzero for a code point that is shown escaped though valid. */
static int
vis_cp_unsafe(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) ||
	    (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* Writes the escape of byte c at d; returns the end of what it wrote. */
static char *
vis_escape(char *d, unsigned char c)
{
	char e;

	switch (c) {
	case '\a':
		e = 'a';
		break;
	case '\b':
		e = 'b';
		break;
	case '\n':
		e = 'n';
		break;
	case '\v':
		e = 'v';
		break;
	case '\f':
		e = 'f';
		break;
	case '\r':
		e = 'r';
		break;
	case '\\':
		e = '\\';
		break;
	default:
		d[0] = '\\';
		d[1] = (char)('0' + (c >> 6));
		d[2] = (char)('0' + ((c >> 3) & 7));
		d[3] = (char)('0' + (c & 7));
		return d + 4;
	}
	d[0] = '\\';
	d[1] = e;
	return d + 2;
}

/*
 * Returns the length of the run of bytes at s (n bytes) that the fast
 * path may copy as they are: printable ASCII other than a backslash.
 * Eight bytes are checked at once; on a little-endian machine the lowest
 * flagged byte of a word is exact (a borrow or carry only spreads upward
 * from a flagged byte), so the first unsafe byte is found without a
 * second scan.  The last partial word is padded with safe bytes.
 */
static size_t
vis_safe_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	uint64_t w, bad;

	for (;;) {
		if (n - i >= 8)
			memcpy(&w, s + i, sizeof(w));
		else if (n > i) {
			w = 'a' * ONES;
			memcpy(&w, s + i, n - i);
		} else
			return n;
		bad = vis_word_unsafe(w);
		if (bad != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(bad) / 8;
#else
			while (vis_ascii_safe(s[i]))
				i++;
			return i;
#endif
		}
		if (n - i < 8)
			return n;
		i += 8;
	}
}

/* Makes len bytes of src safe to show; see the contract in pipevisor.h. */
size_t
pv_vis(char *dst, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	char *d = dst;
	size_t i = 0, run, n, k;
	uint32_t cp;

	while (i < len) {
		/* The fast path: a run of printable ASCII, copied at once. */
		if (vis_ascii_safe(s[i])) {
			run = vis_safe_run(s + i, len - i);
			memcpy(d, s + i, run);
			d += run;
			i += run;
			if (i == len)
				break;
		}

		if (s[i] < 0x80) {
			if (s[i] == '\t')
				*d++ = '\t';
			else
				d = vis_escape(d, s[i]);
			i++;
			continue;
		}
		n = vis_utf8_len(s + i, len - i, &cp);
		if (n == 0) {
			/* Escape one byte and resynchronise on the next. */
			d = vis_escape(d, s[i]);
			i++;
		} else if (vis_cp_unsafe(cp)) {
			for (k = 0; k < n; k++)
				d = vis_escape(d, s[i + k]);
			i += n;
		} else {
			/* n is 2 to 4: plain stores beat a call to memcpy. */
			d[0] = (char)s[i];
			d[1] = (char)s[i + 1];
			if (n > 2)
				d[2] = (char)s[i + 2];
			if (n > 3)
				d[3] = (char)s[i + 3];
			d += n;
			i += n;
		}
	}
	*d = '\0';
	return (size_t)(d - dst);
}
