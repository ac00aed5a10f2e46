/*
 * fuzz_vis.c: a libFuzzer harness for pv_vis (supervisor/vis.c).
 *
 * For any input it checks that the output fits PV_VIS_SIZE(len) (the
 * buffer is allocated at exactly that size, so ASan catches a write past
 * it), that the returned length is where the NUL is, that no byte a
 * terminal acts on comes out raw (below 0x20 other than tab, and 0x7f;
 * tab is kept by contract), that no C1 control or bidi override survives
 * as UTF-8, that the output is valid UTF-8 as glibc's decoder sees it in
 * the C.UTF-8 locale (an independent check of vis.c's own validator), and
 * that printable ASCII without a backslash comes out unchanged.
 * A failed check aborts, which libFuzzer reports as a crash.  No signals.
 */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "pipevisor.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Selects a UTF-8 locale for the mbrtowc check; aborts if there is none. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		abort();
	return 0;
}

/* Returns nonzero when s decodes as UTF-8 to its end, without surrogates. */
static int
fuzz_utf8_ok(const char *s, size_t len)
{
	mbstate_t st;
	wchar_t wc;
	size_t i = 0, n;

	memset(&st, 0, sizeof(st));
	while (i < len) {
		n = mbrtowc(&wc, s + i, len - i, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
			return 0;
		if (wc >= 0xd800 && wc <= 0xdfff)
			return 0;
		i += n;
	}
	return 1;
}

/* Returns nonzero when every byte is printable ASCII other than '\\'. */
static int
fuzz_plain(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (data[i] < 0x20 || data[i] >= 0x7f || data[i] == '\\')
			return 0;
	return 1;
}

/* Checks pv_vis's contract on one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out;
	size_t len, i;

	if ((out = malloc(PV_VIS_SIZE(size))) == NULL)
		return 0;
	len = pv_vis(out, (const char *)data, size);
	if (len >= PV_VIS_SIZE(size) || out[len] != '\0')
		abort();
	if (strlen(out) != len)
		abort();
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			abort();
		/* A raw C1 control in UTF-8 is 0xc2 followed by 0x80-0x9f. */
		if (c == 0xc2 && i + 1 < len &&
		    (unsigned char)out[i + 1] >= 0x80 &&
		    (unsigned char)out[i + 1] <= 0x9f)
			abort();
		/* U+202A-U+202E and U+2066-U+2069. */
		if (c == 0xe2 && i + 2 < len) {
			unsigned char c1 = (unsigned char)out[i + 1];
			unsigned char c2 = (unsigned char)out[i + 2];

			if ((c1 == 0x80 && c2 >= 0xaa && c2 <= 0xae) ||
			    (c1 == 0x81 && c2 >= 0xa6 && c2 <= 0xa9))
				abort();
		}
	}
	if (!fuzz_utf8_ok(out, len))
		abort();
	if (fuzz_plain(data, size) && (len != size ||
	    memcmp(out, data, size) != 0))
		abort();
	free(out);
	return 0;
}
