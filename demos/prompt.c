/*
 * prompt: a line prompt that SIGINT sends back to the start of the line,
 * the seeds' setjmp technique done three ways, for scripts/demo-setjmp.
 *
 * usage: prompt [-X] [-m window | always | plain]
 *
 * prompt shows "> ", echoes what it reads (as a terminal would) and
 * answers each line; SIGINT while a line is being typed discards it and
 * shows the prompt again; SIGINT at an empty prompt, or end of input,
 * leaves.  Each line is held in a block taken from a toy allocator, a
 * free list with a separate count of free blocks, standing for the state
 * malloc keeps.
 *
 * -m window (the default) uses libpipevisor's armed window: SIGINT is
 * caught with pv_sig_catch, which keeps it blocked, and every read is
 * pv_sig_read, the only place where the handler may siglongjmp back to
 * the sigsetjmp point the library took.  Everything else, the allocator
 * included, runs with SIGINT blocked, so a jump can only ever abandon a
 * read(2).
 *
 * -m always is the classic version: sigsetjmp(env, 1) at the top of the
 * loop and a handler that siglongjmps from wherever the program is.
 * -m plain does the same with setjmp/longjmp, which do not restore the
 * signal mask: SIGINT, blocked while its handler runs, stays blocked
 * after the jump, and the next ^C is never delivered.
 *
 * -X makes one SIGINT unlucky: it is raised in the middle of taking a
 * block for the first line, between unlinking it and updating the count.
 * In the window it waits, blocked, for the next read; with -m always the
 * jump leaves the allocator half-updated, and prompt reports it and exits
 * 1.  The same moment inside malloc would corrupt the heap.
 */
#include <err.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"

#define NBLOCKS		8
#define LINE_MAX_LEN	256

enum mode {
	MODE_WINDOW,
	MODE_ALWAYS,
	MODE_PLAIN
};

struct block {
	struct block	*next;
	char		 text[LINE_MAX_LEN];
};

/* The toy allocator: a free list, and a count that must match it. */
struct pool {
	struct block	*head;
	int		 nfree;
	struct block	 blocks[NBLOCKS];
};

static struct pool pool;
static char line[LINE_MAX_LEN];
static size_t linelen;
static int unlucky;
static sigjmp_buf jump_env;	/* -m always */
static jmp_buf plain_env;	/* -m plain */

/* Prints the usage line and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: prompt [-X] [-m window | always | plain]\n", stderr);
	exit(2);
}

/* The classic handler: jumps back to the prompt from wherever we are. */
static void
on_int_always(int signo)
{
	(void)signo;
	siglongjmp(jump_env, 1);
}

/* The same with longjmp, which leaves SIGINT blocked. */
static void
on_int_plain(int signo)
{
	(void)signo;
	longjmp(plain_env, 1);
}

/* Puts every block on the free list. */
static void
pool_init(void)
{
	int i;

	pool.head = NULL;
	for (i = 0; i < NBLOCKS; i++) {
		pool.blocks[i].next = pool.head;
		pool.head = &pool.blocks[i];
	}
	pool.nfree = NBLOCKS;
}

/* Takes a block off the free list; an unlucky SIGINT comes halfway. */
static struct block *
pool_take(void)
{
	struct block *b = pool.head;

	if (b == NULL)
		errx(1, "pool exhausted");
	pool.head = b->next;
	if (unlucky) {
		unlucky = 0;
		/* A ^C at the worst moment: list and count disagree. */
		raise(SIGINT);
	}
	pool.nfree--;
	return b;
}

/* Returns a block to the free list. */
static void
pool_give(struct block *b)
{
	b->next = pool.head;
	pool.head = b;
	pool.nfree++;
}

/* Returns the number of blocks actually on the free list. */
static int
pool_count(void)
{
	struct block *b;
	int n = 0;

	for (b = pool.head; b != NULL && n <= NBLOCKS; b = b->next)
		n++;
	return n;
}

/* Answers one complete line. */
static void
answer(void)
{
	struct block *b;
	sigset_t pending;

	b = pool_take();
	memcpy(b->text, line, linelen);
	b->text[linelen] = '\0';
	printf("  you said \"%s\" (pool: %d free, list holds %d)\n", b->text,
	    pool.nfree, pool_count());
	pool_give(b);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGINT))
		printf("  (a SIGINT came meanwhile: blocked, it waits for the "
		    "next read)\n");
}

/* Echoes n bytes of input and answers each line they complete. */
static void
feed(const char *buf, size_t n)
{
	size_t i;

	fwrite(buf, 1, n, stdout);
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			answer();
			linelen = 0;
			fputs("> ", stdout);
		} else if (linelen < sizeof(line) - 1)
			line[linelen++] = buf[i];
	}
	fflush(stdout);
}

/* Reacts to a SIGINT that brought us back to the prompt. */
static void
interrupted(void)
{
	if (linelen == 0) {
		printf("^C\n  (^C at an empty prompt: bye)\n");
		exit(0);
	}
	printf("^C\n  (discarded \"%.*s\": back to the prompt)\n",
	    (int)linelen, line);
	linelen = 0;
}

/* Reports a SIGINT that the mask still holds, if any, and leaves. */
static void __attribute__((noreturn))
end_of_input(void)
{
	sigset_t pending;

	printf("\n  (end of input: bye)\n");
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGINT))
		printf("  (a SIGINT is still pending: it was never "
		    "delivered)\n");
	exit(0);
}

/* Prints the SigBlk line of /proc/self/status. */
static void
show_blocked(void)
{
	char buf[256];
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strncmp(buf, "SigBlk:\t", 8) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			printf("  (after longjmp, SigBlk is %s: SIGINT is "
			    "still blocked, so the next ^C will not "
			    "arrive)\n", buf + 8);
		}
	fclose(f);
}

/* Checks the allocator after a jump; a broken one ends the program. */
static void
check_pool(void)
{
	int n = pool_count();

	if (n == pool.nfree)
		return;
	printf("  (the jump left the allocator half-updated: its count says "
	    "%d free blocks, its list holds %d; the next allocation may hand "
	    "out a block twice)\n", pool.nfree, n);
	exit(1);
}

/* The prompt loop with the library's armed window. */
static void __attribute__((noreturn))
loop_window(void)
{
	char buf[LINE_MAX_LEN];
	ssize_t n;

	if (pv_sig_init() == -1 || pv_sig_catch(SIGINT) == -1)
		err(1, "signals");
	fputs("> ", stdout);
	fflush(stdout);
	for (;;) {
		n = pv_sig_read(STDIN_FILENO, buf, sizeof(buf));
		if (n == -1 && errno == EINTR) {
			if (pv_sig_take() == SIGINT) {
				interrupted();
				fputs("> ", stdout);
				fflush(stdout);
			}
			continue;
		}
		if (n == -1)
			err(1, "stdin");
		if (n == 0)
			end_of_input();
		feed(buf, (size_t)n);
	}
}

/* The prompt loop with a handler that jumps from anywhere. */
static void __attribute__((noreturn))
loop_jump(enum mode mode)
{
	struct sigaction sa;
	char buf[LINE_MAX_LEN];
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mode == MODE_PLAIN ? on_int_plain : on_int_always;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) == -1)
		err(1, "sigaction");
	/* Only statics change after the jump point: nothing clobbered. */
	if (mode == MODE_PLAIN ? setjmp(plain_env) != 0 :
	    sigsetjmp(jump_env, 1) != 0) {
		interrupted();
		check_pool();
		if (mode == MODE_PLAIN)
			show_blocked();
	}
	fputs("> ", stdout);
	fflush(stdout);
	for (;;) {
		if ((n = read(STDIN_FILENO, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "stdin");
		}
		if (n == 0)
			end_of_input();
		feed(buf, (size_t)n);
	}
}

/* Runs the prompt in the chosen mode. */
int
main(int argc, char *argv[])
{
	enum mode mode = MODE_WINDOW;
	int ch;

	while ((ch = getopt(argc, argv, "m:X")) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "window") == 0)
				mode = MODE_WINDOW;
			else if (strcmp(optarg, "always") == 0)
				mode = MODE_ALWAYS;
			else if (strcmp(optarg, "plain") == 0)
				mode = MODE_PLAIN;
			else
				usage();
			break;
		case 'X':
			unlucky = 1;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	pool_init();
	if (mode == MODE_WINDOW)
		loop_window();
	loop_jump(mode);
}
