/*
 * shm: POSIX shared memory and process-shared semaphores between
 * processes, the seeds' writer and reader, for scripts/demo-shm.
 *
 * usage: shm writer name count
 *        shm reader name
 *        shm race name iterations
 *
 * The object /dev/shm/NAME (shm_open(3), mode 0600) holds a list of
 * entries, a count, and three semaphores that live in the object itself
 * (sem_init(3) with pshared set).  The writer creates it, initialises the
 * semaphores, and only then sets a ready word, so a reader never uses a
 * half-made semaphore.  It appends count entries 100 ms apart, posting
 * the "items" semaphore after each; the reader sleeps in sem_wait on
 * "items" (on a futex: no polling, no CPU) and prints each entry as it
 * arrives, following the list.  A last entry "end" closes it; the reader
 * posts "done", and the writer, who made the object, removes it with
 * shm_unlink(3).
 *
 * "race" shows what the semaphore is for: two processes each add 1 to a
 * shared counter iterations times, first with no lock (a load, an add
 * and a store, which the other process can overwrite in between, losing
 * updates; a 5 us pause between load and store makes that likely), then
 * with a semaphore used as a lock.  It removes the object.
 *
 * No signals are caught; the waits have deadlines, so nothing hangs when
 * a partner dies.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXENTRIES	64
#define ENTRY_LEN	64
#define LIST_MAGIC	0x70764c53u	/* "pvLS" */
#define PACE_NS		100000000L	/* 100 ms between appends */
#define WAIT_S		3		/* deadline for any wait */
#define WINDOW_US	5		/* between load and store, "race" */

struct list {
	uint32_t	 ready;		/* LIST_MAGIC once initialised */
	sem_t		 items;		/* one post per entry appended */
	sem_t		 done;		/* the reader has read "end" */
	sem_t		 lock;		/* a mutex, for "race" */
	sem_t		 start;		/* lets both racers go at once */
	uint32_t	 count;
	volatile long	 counter;
	char		 entries[MAXENTRIES][ENTRY_LEN];
};

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: shm writer name count\n"
	    "       shm reader name\n"
	    "       shm race name iterations\n", stderr);
	exit(2);
}

/* Returns an absolute CLOCK_MONOTONIC deadline WAIT_S from now. */
static struct timespec
deadline(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += WAIT_S;
	return t;
}

/* Waits on sem until the deadline; returns 0 or -1 with errno. */
static int
sem_wait_until(sem_t *sem, const struct timespec *until)
{
	while (sem_clockwait(sem, CLOCK_MONOTONIC, until) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Creates /dev/shm/NAME and initialises the list in it. */
static struct list *
list_create(const char *name)
{
	struct list *l;
	int fd;

	if ((fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		err(1, "shm_open %s", name);
	if (ftruncate(fd, sizeof(*l)) == -1) {
		shm_unlink(name);
		err(1, "ftruncate");
	}
	l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (l == MAP_FAILED) {
		shm_unlink(name);
		err(1, "mmap");
	}
	if (sem_init(&l->items, 1, 0) == -1 || sem_init(&l->done, 1, 0) ==
	    -1 || sem_init(&l->lock, 1, 1) == -1 ||
	    sem_init(&l->start, 1, 0) == -1) {
		shm_unlink(name);
		err(1, "sem_init");
	}
	/* Last: a reader that sees this sees initialised semaphores. */
	__atomic_store_n(&l->ready, LIST_MAGIC, __ATOMIC_RELEASE);
	return l;
}

/* Opens the list another process made, waiting for it to be ready. */
static struct list *
list_open(const char *name)
{
	struct timespec tick = { 0, 10000000L }, until = deadline(), now;
	struct list *l;
	struct stat st;
	int fd;

	for (;;) {
		fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
		if (fd != -1 && fstat(fd, &st) == 0 &&
		    (size_t)st.st_size >= sizeof(*l)) {
			l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
			    MAP_SHARED, fd, 0);
			close(fd);
			if (l == MAP_FAILED)
				err(1, "mmap");
			if (__atomic_load_n(&l->ready, __ATOMIC_ACQUIRE) ==
			    LIST_MAGIC)
				return l;
			munmap(l, sizeof(*l));
		} else if (fd != -1)
			close(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec &&
		    now.tv_nsec >= until.tv_nsec))
			errx(1, "/dev/shm%s: not ready within %d s", name,
			    WAIT_S);
		nanosleep(&tick, NULL);
	}
}

/* Appends count entries, then "end", and removes the object. */
static int
shm_writer(const char *name, int count)
{
	struct timespec pace = { 0, PACE_NS }, until;
	struct list *l = list_create(name);
	uint32_t i;

	printf("shm: writer %ld created /dev/shm%s (%zu bytes, mode 0600)\n",
	    (long)getpid(), name, sizeof(*l));
	for (i = 0; i <= (uint32_t)count; i++) {
		if (i == (uint32_t)count)
			strlcpy(l->entries[i], "end", ENTRY_LEN);
		else
			snprintf(l->entries[i], ENTRY_LEN, "entry %u from "
			    "pid %ld", i + 1, (long)getpid());
		/* Publish the entry, then wake the reader. */
		__atomic_store_n(&l->count, i + 1, __ATOMIC_RELEASE);
		sem_post(&l->items);
		if (i < (uint32_t)count) {
			printf("shm: writer appended \"%s\"\n",
			    l->entries[i]);
			nanosleep(&pace, NULL);
		}
	}
	until = deadline();
	if (sem_wait_until(&l->done, &until) == -1)
		printf("shm: writer: no reader finished within %d s\n",
		    WAIT_S);
	if (shm_unlink(name) == -1)
		err(1, "shm_unlink %s", name);
	printf("shm: writer removed /dev/shm%s\n", name);
	return 0;
}

/* Follows the list, printing each entry as it is appended. */
static int
shm_reader(const char *name)
{
	struct timespec until;
	struct list *l = list_open(name);
	uint32_t next = 0;

	printf("shm: reader %ld attached /dev/shm%s\n", (long)getpid(), name);
	for (;;) {
		until = deadline();
		if (sem_wait_until(&l->items, &until) == -1)
			errx(1, "no entry within %d s", WAIT_S);
		if (next >= __atomic_load_n(&l->count, __ATOMIC_ACQUIRE) ||
		    next >= MAXENTRIES)
			errx(1, "semaphore and count disagree");
		if (strcmp(l->entries[next], "end") == 0)
			break;
		printf("shm: reader got \"%s\"\n", l->entries[next]);
		next++;
	}
	printf("shm: reader saw \"end\" after %u entries\n", next);
	sem_post(&l->done);
	munmap(l, sizeof(*l));
	return 0;
}

/* Spins for us microseconds of the monotonic clock, without sleeping. */
static void
pause_us(long us)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000000 +
	    (now.tv_nsec - start.tv_nsec) / 1000 < us);
}

/* Adds 1 to the shared counter n times, under the lock if asked. */
static void __attribute__((noreturn))
racer(struct list *l, long n, int locked)
{
	struct timespec until = deadline();
	long i, v;

	if (sem_wait_until(&l->start, &until) == -1)
		_exit(1);
	for (i = 0; i < n; i++) {
		if (locked)
			sem_wait(&l->lock);
		/*
		 * Load, add, store: not atomic.  The pause widens the gap
		 * between load and store, as slower real work would, so
		 * the race shows on any machine, idle or busy.
		 */
		v = l->counter;
		pause_us(WINDOW_US);
		l->counter = v + 1;
		if (locked)
			sem_post(&l->lock);
	}
	_exit(0);
}

/* Runs two racers at once and returns the final counter. */
static long
race(struct list *l, long n, int locked)
{
	pid_t pids[2];
	int i;

	l->counter = 0;
	for (i = 0; i < 2; i++) {
		if ((pids[i] = fork()) == -1)
			err(1, "fork");
		if (pids[i] == 0)
			racer(l, n, locked);
	}
	sem_post(&l->start);
	sem_post(&l->start);
	for (i = 0; i < 2; i++)
		if (waitpid(pids[i], NULL, 0) == -1)
			err(1, "waitpid");
	return l->counter;
}

/* Shows lost updates without a lock and none with the semaphore. */
static int
shm_race(const char *name, long n)
{
	struct list *l = list_create(name);
	long got;

	got = race(l, n, 0);
	printf("shm: no lock: 2 processes x %ld increments = %ld (%ld lost)\n",
	    n, got, 2 * n - got);
	got = race(l, n, 1);
	printf("shm: semaphore as a lock: 2 processes x %ld increments = %ld "
	    "(%ld lost)\n", n, got, 2 * n - got);
	if (shm_unlink(name) == -1)
		err(1, "shm_unlink %s", name);
	return 0;
}

/* Runs the chosen role. */
int
main(int argc, char *argv[])
{
	const char *errstr;
	char name[256];
	long n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	/* shm_open names start with one slash. */
	if (snprintf(name, sizeof(name), "/%s", argv[2]) >=
	    (int)sizeof(name) || strchr(argv[2], '/') != NULL)
		errx(2, "bad name %s", argv[2]);
	if (strcmp(argv[1], "writer") == 0 && argc == 4) {
		n = strtonum(argv[3], 1, MAXENTRIES - 1, &errstr);
		if (errstr != NULL)
			errx(2, "count %s: %s", argv[3], errstr);
		return shm_writer(name, (int)n);
	}
	if (strcmp(argv[1], "reader") == 0 && argc == 3)
		return shm_reader(name);
	if (strcmp(argv[1], "race") == 0 && argc == 4) {
		n = strtonum(argv[3], 1, 100000000, &errstr);
		if (errstr != NULL)
			errx(2, "iterations %s: %s", argv[3], errstr);
		return shm_race(name, n);
	}
	usage();
}
