/*
 * board.c: the status board, a POSIX shared-memory object that the
 * supervisor writes and `pipevisor status` reads without ever talking to
 * the supervisor (DESIGN.md section 4).
 *
 * The object /pipevisor-UID-NAME (mode 0600) holds a 64-byte header and
 * then `capacity` fixed-size struct board_service entries.  The header's
 * 32-bit seq is both a seqlock (odd while the writer changes the entries)
 * and the futex word readers sleep on: every publish ends with a shared
 * (not private: the waiters are other processes) FUTEX_WAKE of all of
 * them.  An object never changes size once made, so a mapping validated
 * against the object's st_size stays valid: to grow, the writer makes a
 * new, bigger object under the same name, then marks the old one moved
 * and wakes its readers, who reopen the name.  The writer's pid and its
 * start time (field 22 of /proc/PID/stat) tell a live supervisor from a
 * dead one whose pid was reused.
 *
 * Reacts to no signal and installs no handler.  board_wait is a single
 * futex call that keeps no state, so it may run inside pv_sig_window and
 * be jumped out of.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/futex.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define BOARD_MAGIC	0x44427670u	/* "pvBD" in memory on little endian */
#define BOARD_VERSION	1

/* Values of the header's moved word. */
#define BOARD_LIVE	0
#define BOARD_MOVED	1	/* a bigger object replaced this one */
#define BOARD_REMOVED	2	/* the writer removed the board */

/* The longest board NAME; the shm name adds "/pipevisor-UID-". */
#define BOARD_NAME_MAX	128

/* The most services a board holds (72 bytes each: about 4.7 MB). */
#define BOARD_MAX_SERVICES	65536

/* How long a half-made object is waited for before it is judged dead. */
#define BOARD_INIT_WAIT_MS	200

/* How long a reader waits for a writer that keeps the seqlock odd. */
#define BOARD_BUSY_MS		1000

/*
 * The header.  magic, version, pid and pid_start sit at these offsets in
 * every layout version, so a newer or older pipevisor can still tell
 * whether the board's writer is alive.  Fields the writer changes after
 * creation (seq, moved, count) are only accessed with __atomic builtins.
 */
struct board_header {
	uint32_t	magic;		/* BOARD_MAGIC, stored last (release) */
	uint32_t	version;	/* BOARD_VERSION */
	int32_t		pid;		/* the writer */
	uint32_t	header_size;	/* sizeof(struct board_header) */
	uint64_t	pid_start;	/* its start time in /proc, or 0 */
	int64_t		started;	/* CLOCK_REALTIME ns of board_create */
	uint32_t	entry_size;	/* sizeof(struct board_service) */
	uint32_t	capacity;	/* entries this object holds */
	uint32_t	seq;		/* seqlock (odd: writing) and futex */
	uint32_t	moved;		/* BOARD_LIVE, _MOVED or _REMOVED */
	uint32_t	count;		/* entries in use, under seq */
	uint32_t	reserved[3];
};

_Static_assert(sizeof(struct board_header) == 64, "board header layout");
_Static_assert(sizeof(struct board_service) % 8 == 0,
    "board entries are copied in 64-bit words");

/* One mapped board object. */
struct board_map {
	struct board_header	*hdr;
	size_t			 size;		/* of the mapping */
	uint32_t		 capacity;	/* validated against size */
	dev_t			 dev;		/* the object: tells it from */
	ino_t			 ino;		/* a successor of its name */
};

struct board {
	char			 shm[BOARD_NAME_MAX + 32];
	struct board_map	 map;
	int			 writer;
	pid_t			 owner;		/* the writer (not its forks) */
	uint32_t		 seq;		/* writer: current, even */
	int64_t			 started;	/* writer: for grown objects */
	uint64_t		 pid_start;	/* writer: its own start time */
};

/* Sleeps ms milliseconds, to pace a bounded retry loop. */
static void
board_pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Returns CLOCK_MONOTONIC in milliseconds. */
static long long
board_now_ms(void)
{
	struct timespec ts;

	pv_now(&ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns CLOCK_REALTIME in nanoseconds. */
static int64_t
board_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wakes every process sleeping on the futex word w. */
static void
board_wake(uint32_t *w)
{
	/* Shared futex: the waiters map the object in other processes. */
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Copies len bytes (a multiple of 8; dst 8-aligned) into the board with
 * relaxed atomic stores, so the seqlock's fences order them (a plain
 * memcpy racing with a reader would be a data race in C11 terms).
 */
static void
board_store_words(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst, w;
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		memcpy(&w, s + i * 8, 8);
		__atomic_store_n(&d[i], w, __ATOMIC_RELAXED);
	}
}

/* Copies len bytes out of the board with relaxed atomic loads. */
static void
board_load_words(void *dst, const void *src, size_t len)
{
	const uint64_t *s = src;
	unsigned char *d = dst;
	uint64_t w;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		w = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
		memcpy(d + i * 8, &w, 8);
	}
}

/* Returns the entries that follow the header. */
static struct board_service *
board_entries(const struct board_map *m)
{
	return (struct board_service *)(void *)(m->hdr + 1);
}

/*
 * Reads the state (field 3) and start time (field 22, clock ticks since
 * boot) of process pid from /proc.  Returns 0 or -1 with errno (ENOENT or
 * ESRCH: no such process; anything else: /proc cannot tell).
 */
static int
board_proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024], *p, *end;
	ssize_t n;
	int fd, field;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = pv_read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = n == 0 ? ESRCH : errno;
		return -1;
	}
	buf[n] = '\0';
	/* The command may hold spaces and parentheses: find the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		goto bad;
	p += 2;
	*state = *p;
	/* p is at field 3; step over 19 spaces to field 22. */
	for (field = 3; field < 22; field++) {
		if ((p = strchr(p, ' ')) == NULL)
			goto bad;
		p++;
	}
	errno = 0;
	*start = strtoull(p, &end, 10);
	if (end == p || errno != 0)
		goto bad;
	return 0;
bad:
	errno = EIO;
	return -1;
}

/*
 * Returns 1 if the process that wrote a board (pid, started at
 * pid_start) still runs, 0 if it is gone: no such pid, a zombie, or the
 * pid now belongs to a process started at another time.  errno is kept.
 * XXX: a reader in another pid namespace than the writer cannot tell.
 */
static int
board_writer_alive(pid_t pid, uint64_t pid_start)
{
	int saved_errno = errno, alive;
	uint64_t start;
	char state;

	if (pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH))
		alive = 0;
	else if (board_proc_stat(pid, &state, &start) == -1)
		/* No /proc to ask: kill(2) said it exists. */
		alive = !(errno == ENOENT || errno == ESRCH);
	else
		/* A zombie is dead; another start time is another process. */
		alive = state != 'Z' && state != 'X' &&
		    (pid_start == 0 || start == pid_start);
	errno = saved_errno;
	return alive;
}

/* Puts "/pipevisor-UID-NAME" in buf after checking NAME. */
int
board_shm_name(char *buf, size_t size, const char *name)
{
	size_t i, len;
	int n;

	if (buf == NULL || name == NULL) {
		errno = EINVAL;
		return -1;
	}
	len = strlen(name);
	if (len == 0 || len > BOARD_NAME_MAX || name[0] == '.') {
		errno = len > BOARD_NAME_MAX ? ENAMETOOLONG : EINVAL;
		return -1;
	}
	/* The name is a file name in /dev/shm: no '/', nothing to escape. */
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '.' && name[i] != '-') {
			errno = EINVAL;
			return -1;
		}
	}
	/* The owner is the effective uid: the one shm_open creates with. */
	n = snprintf(buf, size, "/pipevisor-%lu-%s", (unsigned long)geteuid(),
	    name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Checks that the object open on fd is a regular file of ours that no
 * one else may open, and fills *st.  Returns 0, or -1 with errno EPERM.
 */
static int
board_check_owner(int fd, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return -1;
	if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
	    (st->st_mode & 077) != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/*
 * Maps the board object open on fd and validates it: header, layout and
 * a capacity that fits in the object's size, so no read ever goes past
 * the mapping.  Returns 0, 1 when the object is still being made (too
 * short, or no magic yet), or -1 with errno (EPERM: not ours; EPROTO:
 * another layout or a corrupt header; mmap's errno).
 */
static int
board_map_fd(int fd, int writable, struct board_map *m)
{
	struct board_header *h;
	struct stat st;
	uint64_t room;
	void *p;

	if (board_check_owner(fd, &st) == -1)
		return -1;
	if ((uintmax_t)st.st_size < sizeof(struct board_header))
		return 1;
	if ((uintmax_t)st.st_size > SIZE_MAX) {
		errno = EPROTO;
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size,
	    writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	h = p;
	/* The acquire pairs with the creator's release: all fields are set. */
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == 0) {
		munmap(p, (size_t)st.st_size);
		return 1;
	}
	room = ((uint64_t)st.st_size - sizeof(*h)) /
	    sizeof(struct board_service);
	if (h->magic != BOARD_MAGIC || h->version != BOARD_VERSION ||
	    h->header_size != sizeof(*h) ||
	    h->entry_size != sizeof(struct board_service) ||
	    h->capacity > room || h->capacity > BOARD_MAX_SERVICES) {
		munmap(p, (size_t)st.st_size);
		errno = EPROTO;
		return -1;
	}
	m->hdr = h;
	m->size = (size_t)st.st_size;
	m->capacity = h->capacity;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return 0;
}

/* Unmaps a mapped object; an empty map is ignored. */
static void
board_unmap(struct board_map *m)
{
	if (m->hdr != NULL)
		munmap(m->hdr, m->size);
	m->hdr = NULL;
}

/*
 * Opens and maps the board object shm for reading.  A half-made object
 * is waited for (BOARD_INIT_WAIT_MS), then reported as ENOENT: no usable
 * board.  ENOENT itself is retried for enoent_ms (0: not at all), which
 * covers the instant between a growing writer's unlink and its create.
 * Returns 0 or -1 with errno.
 */
static int
board_map_name(const char *shm, long enoent_ms, struct board_map *m)
{
	long long start = board_now_ms();
	int fd, r;

	for (;;) {
		/* glibc's shm_open adds O_NOFOLLOW and O_CLOEXEC itself. */
		if ((fd = shm_open(shm, O_RDONLY, 0)) == -1) {
			if (errno != ENOENT ||
			    board_now_ms() - start >= enoent_ms)
				return -1;
			board_pause_ms(1);
			continue;
		}
		r = board_map_fd(fd, 0, m);
		close(fd);
		if (r <= 0)
			return r;
		if (board_now_ms() - start >= BOARD_INIT_WAIT_MS) {
			errno = ENOENT;
			return -1;
		}
		board_pause_ms(1);
	}
}

/*
 * Returns 1 if the name shm now refers to another object than m (or to
 * none), 0 if it is still m's, -1 when that cannot be told.
 */
static int
board_name_moved(const char *shm, const struct board_map *m)
{
	struct stat st;
	int fd, r;

	if ((fd = shm_open(shm, O_RDONLY, 0)) == -1)
		return errno == ENOENT ? 1 : -1;
	r = fstat(fd, &st) == -1 ? -1 :
	    (st.st_dev != m->dev || st.st_ino != m->ino);
	close(fd);
	return r;
}

/*
 * Makes a new object of room for at least n entries under the name shm
 * (which must not exist), holding svcs with sequence seq.  Returns 0 and
 * fills *m, or -1 with errno (EEXIST if the name was taken meanwhile).
 */
static int
board_make(struct board *b, const struct board_service *svcs, size_t n,
    size_t want, uint32_t seq, struct board_map *m)
{
	struct board_header *h;
	struct stat st;
	long page = sysconf(_SC_PAGESIZE);
	size_t size, cap;
	void *p = MAP_FAILED;
	int fd, e;

	if (page <= 0)
		page = 4096;
	if (want < n)
		want = n;
	if (want > BOARD_MAX_SERVICES)
		want = BOARD_MAX_SERVICES;
	/* Whole pages: the room left over is capacity for free. */
	size = sizeof(*h) + want * sizeof(struct board_service);
	size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	cap = (size - sizeof(*h)) / sizeof(struct board_service);
	if (cap > BOARD_MAX_SERVICES)
		cap = BOARD_MAX_SERVICES;

	if ((fd = shm_open(b->shm, O_RDWR | O_CREAT | O_EXCL, 0600)) == -1)
		return -1;
	/* Exactly 0600 whatever the umask; readers refuse anything looser. */
	if (fchmod(fd, 0600) == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (ftruncate(fd, (off_t)size) == -1)
		goto fail;
	/*
	 * Reserve the pages now: on a full tmpfs a sparse object would
	 * kill the supervisor with SIGBUS at its first store instead.
	 */
	if ((e = posix_fallocate(fd, 0, (off_t)size)) != 0 &&
	    e != EOPNOTSUPP && e != ENOSYS && e != EINVAL) {
		errno = e;
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	h = p;
	/* No reader trusts the object before magic: plain stores suffice. */
	h->version = BOARD_VERSION;
	h->pid = (int32_t)b->owner;
	h->header_size = sizeof(*h);
	h->pid_start = b->pid_start;
	h->started = b->started;
	h->entry_size = sizeof(struct board_service);
	h->capacity = (uint32_t)cap;
	h->seq = seq;
	h->moved = BOARD_LIVE;
	h->count = (uint32_t)n;
	if (n > 0)
		board_store_words(h + 1, svcs, n * sizeof(*svcs));
	__atomic_store_n(&h->magic, BOARD_MAGIC, __ATOMIC_RELEASE);

	m->hdr = h;
	m->size = size;
	m->capacity = (uint32_t)cap;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	close(fd);
	return 0;
fail:
	e = errno;
	if (p != MAP_FAILED)
		munmap(p, size);
	/* O_EXCL made it ours a moment ago. */
	shm_unlink(b->shm);
	close(fd);
	m->hdr = NULL;
	errno = e;
	return -1;
}

/* Tells the readers of m to reopen the name (how: BOARD_MOVED/_REMOVED). */
static void
board_retire(struct board_map *m, uint32_t how)
{
	struct board_header *h = m->hdr;
	uint32_t s;

	/*
	 * moved is stored before seq changes (release), so a reader that
	 * sees the new seq sees moved too; and a reader about to sleep on
	 * the old seq finds it changed and does not sleep.
	 */
	__atomic_store_n(&h->moved, how, __ATOMIC_RELAXED);
	s = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&h->seq, s + 2, __ATOMIC_RELEASE);
	board_wake(&h->seq);
}

/*
 * Deals with an existing object of the name b->shm that board_create
 * could not create: a live writer's (EEXIST), or a dead one's, which is
 * retired and unlinked.  Returns 0 (the name is free: try again) or -1
 * with errno.
 */
static int
board_take_over(struct board *b)
{
	struct board_header hd;
	struct board_map m;
	long long start = board_now_ms();
	struct stat st;
	ssize_t n;
	int fd, moved;

	if ((fd = shm_open(b->shm, O_RDWR, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		if (board_check_owner(fd, &st) == -1)
			goto fail;
		memset(&hd, 0, sizeof(hd));
		if ((n = pread(fd, &hd, sizeof(hd), 0)) == -1 && errno != EINTR)
			goto fail;
		if (n == (ssize_t)sizeof(hd) && hd.magic != 0) {
			/*
			 * pread is no acquire: read again now that magic
			 * is set, so the fields stored before it are seen.
			 */
			if (pread(fd, &hd, sizeof(hd), 0) !=
			    (ssize_t)sizeof(hd))
				memset(&hd, 0, sizeof(hd));
			break;
		}
		/* Half made: by a starting writer, or by one that died. */
		if (board_now_ms() - start >= BOARD_INIT_WAIT_MS)
			break;
		board_pause_ms(1);
	}
	if (hd.magic == BOARD_MAGIC &&
	    board_writer_alive(hd.pid, hd.pid_start)) {
		errno = EEXIST;
		goto fail;
	}
	/* Stale: wake its --watch readers so they find our new board. */
	memset(&m, 0, sizeof(m));
	if (hd.magic == BOARD_MAGIC && board_map_fd(fd, 1, &m) == 0) {
		board_retire(&m, BOARD_MOVED);
		board_unmap(&m);
	}
	close(fd);
	/*
	 * Unlink only the object judged stale, not one a racing writer made
	 * meanwhile.  XXX: the check and the unlink are not atomic; two
	 * supervisors of one NAME are kept apart by the rundir's pidfile.
	 */
	memset(&m, 0, sizeof(m));
	m.dev = st.st_dev;
	m.ino = st.st_ino;
	if ((moved = board_name_moved(b->shm, &m)) == 0 &&
	    shm_unlink(b->shm) == -1 && errno != ENOENT)
		return -1;
	return moved == -1 ? -1 : 0;
fail:
	close(fd);
	return -1;
}

/* Creates the board NAME for the writer, replacing a stale one. */
struct board *
board_create(const char *name)
{
	struct board *b;
	char state;
	int tries, e;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (board_shm_name(b->shm, sizeof(b->shm), name) == -1)
		goto fail;
	b->writer = 1;
	b->owner = getpid();
	b->started = board_realtime_ns();
	/* 0 when /proc cannot tell: readers then trust kill(2) alone. */
	if (board_proc_stat(b->owner, &state, &b->pid_start) == -1)
		b->pid_start = 0;
	for (tries = 0; tries < 5; tries++) {
		if (board_make(b, NULL, 0, 0, 0, &b->map) == 0)
			return b;
		if (errno != EEXIST || board_take_over(b) == -1)
			goto fail;
	}
	errno = EEXIST;
fail:
	e = errno;
	free(b);
	errno = e;
	return NULL;
}

/*
 * Moves the board to a new object with room for n entries holding svcs;
 * the old object's readers are told to reopen.  Returns 0 or -1 with
 * errno; on failure the old mapping stays (readers keep the last
 * snapshot) and the next publish tries again.
 */
static int
board_grow(struct board *b, const struct board_service *svcs, size_t n)
{
	struct board_map m;
	size_t want;

	want = (size_t)b->map.capacity * 2;
	if (want < n)
		want = n;
	/* The name must be free for O_EXCL; old readers keep their map. */
	if (shm_unlink(b->shm) == -1 && errno != ENOENT)
		return -1;
	if (board_make(b, svcs, n, want, b->seq + 2, &m) == -1)
		return -1;
	board_retire(&b->map, BOARD_MOVED);
	board_unmap(&b->map);
	b->map = m;
	b->seq += 2;
	return 0;
}

/* Publishes n services: a seqlock write, then a wake of every waiter. */
int
board_publish(struct board *b, const struct board_service *svcs, size_t n)
{
	struct board_header *h;
	uint32_t s;

	if (b == NULL || !b->writer || b->map.hdr == NULL) {
		errno = EBADF;
		return -1;
	}
	if (n > BOARD_MAX_SERVICES || (n > 0 && svcs == NULL)) {
		errno = EINVAL;
		return -1;
	}
	if (n > b->map.capacity)
		return board_grow(b, svcs, n);
	h = b->map.hdr;
	s = b->seq;
	/*
	 * Seqlock write: seq odd, then a release fence so no entry store
	 * is seen before the odd seq; the entries; seq even with release
	 * so every entry store is seen before it.  Readers pair this with
	 * an acquire load, their copy, an acquire fence and a reload.
	 */
	__atomic_store_n(&h->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (n > 0)
		board_store_words(h + 1, svcs, n * sizeof(*svcs));
	__atomic_store_n(&h->count, (uint32_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->seq, s + 2, __ATOMIC_RELEASE);
	b->seq = s + 2;
	/* After the seq store: a waiter either sees it changed or is woken. */
	board_wake(&h->seq);
	return 0;
}

/* Retires, unmaps and unlinks the board: the writer's clean stop. */
void
board_destroy(struct board *b)
{
	int saved_errno = errno;

	if (b == NULL)
		return;
	/* A forked child of the writer only drops its copy of the map. */
	if (b->writer && b->map.hdr != NULL && b->owner == getpid()) {
		board_retire(&b->map, BOARD_REMOVED);
		if (board_name_moved(b->shm, &b->map) == 0)
			shm_unlink(b->shm);
	}
	board_unmap(&b->map);
	free(b);
	errno = saved_errno;
}

/* Opens board NAME for reading. */
struct board *
board_open(const char *name)
{
	struct board *b;
	int e;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (board_shm_name(b->shm, sizeof(b->shm), name) == -1 ||
	    board_map_name(b->shm, 0, &b->map) == -1) {
		e = errno;
		free(b);
		errno = e;
		return NULL;
	}
	return b;
}

/*
 * Replaces a reader's mapping with the object the name now holds.  A
 * moved board's successor may take a moment to appear; a removed one is
 * gone (ENOENT).  Returns 0 or -1 with errno; the old map stays on error.
 */
static int
board_reopen(struct board *b, int wait_successor)
{
	struct board_map m;

	memset(&m, 0, sizeof(m));
	if (board_map_name(b->shm, wait_successor ? BOARD_INIT_WAIT_MS : 0,
	    &m) == -1)
		return -1;
	board_unmap(&b->map);
	b->map = m;
	return 0;
}

/* Copies a consistent snapshot of the board. */
int
board_read(struct board *b, struct board_service **svcs, size_t *n,
    struct board_info *info)
{
	struct board_service *buf = NULL, *tmp;
	struct board_header *h;
	size_t bufcap = 0, i;
	long long start = 0;
	uint32_t s0, s1, count, moved;
	int32_t pid;
	uint64_t pid_start;
	int64_t started;
	int spins = 0, reopens = 0, torn = 0, e;

	if (b == NULL || b->map.hdr == NULL || svcs == NULL || n == NULL ||
	    info == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		h = b->map.hdr;
		s0 = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
		if ((moved = __atomic_load_n(&h->moved, __ATOMIC_RELAXED)) !=
		    BOARD_LIVE) {
			if (b->writer) {
				/* The writer's own map is never retired. */
				errno = EPROTO;
				goto fail;
			}
			/* Bounded: each successor is a bigger object. */
			if (++reopens > 64) {
				errno = EAGAIN;
				goto fail;
			}
			if (board_reopen(b, moved == BOARD_MOVED) == -1)
				goto fail;
			continue;
		}
		if ((s0 & 1) && !torn) {
			/* The writer is inside publish: microseconds. */
			if (++spins < 100) {
				sched_yield();
				continue;
			}
			if (start == 0)
				start = board_now_ms();
			if (!board_writer_alive(h->pid, h->pid_start)) {
				/* Died mid-write: show what is there, stale. */
				torn = 1;
			} else if (board_now_ms() - start >= BOARD_BUSY_MS) {
				/* A stopped supervisor, say. */
				errno = EAGAIN;
				goto fail;
			} else {
				board_pause_ms(1);
				continue;
			}
		}
		if (bufcap < b->map.capacity || buf == NULL) {
			bufcap = b->map.capacity > 0 ? b->map.capacity : 1;
			if ((tmp = reallocarray(buf, bufcap, sizeof(*buf))) ==
			    NULL)
				goto fail;
			buf = tmp;
		}
		count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
		pid = h->pid;
		pid_start = h->pid_start;
		started = h->started;
		if (count <= b->map.capacity && count > 0)
			board_load_words(buf, board_entries(&b->map),
			    count * sizeof(*buf));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s1 = __atomic_load_n(&h->seq, __ATOMIC_RELAXED);
		if (s1 == s0 || torn) {
			if (count <= b->map.capacity)
				break;
			if (!torn) {
				/* A consistent count that does not fit. */
				errno = EPROTO;
				goto fail;
			}
			count = b->map.capacity;
			board_load_words(buf, board_entries(&b->map),
			    count * sizeof(*buf));
			break;
		}
		/* Changed under us: publishes are rare, so this ends soon. */
		if (start == 0)
			start = board_now_ms();
		else if (board_now_ms() - start >= BOARD_BUSY_MS) {
			errno = EAGAIN;
			goto fail;
		}
	}
	/* Whatever the board holds, names end within their field. */
	for (i = 0; i < count; i++)
		buf[i].name[BOARD_NAMELEN - 1] = '\0';
	info->pid = pid;
	info->started = started;
	info->seq = s0;
	info->stale = torn || !board_writer_alive(pid, pid_start);
	if (info->stale && !torn && reopens < 64 &&
	    board_name_moved(b->shm, &b->map) == 1 &&
	    board_reopen(b, 0) == 0) {
		/* A new supervisor replaced the dead one's board: read that. */
		free(buf);
		return board_read(b, svcs, n, info);
	}
	*svcs = buf;
	*n = count;
	return 0;
fail:
	e = errno;
	free(buf);
	errno = e;
	return -1;
}

/* Sleeps on the futex word until seq changes, a wake, or the timeout. */
int
board_wait(struct board *b, uint32_t seq, const struct timespec *timeout)
{
	struct board_header *h;

	if (b == NULL || b->map.hdr == NULL) {
		errno = EINVAL;
		return -1;
	}
	h = b->map.hdr;
	/* A retired board never changes again: go and reopen it. */
	if (__atomic_load_n(&h->moved, __ATOMIC_ACQUIRE) != BOARD_LIVE)
		return 0;
	/*
	 * The kernel compares seq with the word and sleeps atomically, so a
	 * publish between the caller's read and this call is never missed.
	 * The timeout of FUTEX_WAIT is relative.
	 */
	if (syscall(SYS_futex, &h->seq, FUTEX_WAIT, seq, timeout, NULL, 0) ==
	    0)
		return 0;
	if (errno == EAGAIN || errno == ETIMEDOUT)
		return 0;
	return -1;
}

/* Unmaps a board opened for reading. */
void
board_close(struct board *b)
{
	if (b == NULL)
		return;
	board_unmap(&b->map);
	free(b);
}

/* Returns the name of a board state. */
const char *
board_state_name(uint32_t state)
{
	static const char *const names[] = {
		[BOARD_STOPPED] = "stopped",
		[BOARD_STARTING] = "starting",
		[BOARD_READY] = "ready",
		[BOARD_BACKOFF] = "backoff",
		[BOARD_STOPPING] = "stopping",
		[BOARD_EXITED] = "exited",
		[BOARD_FATAL] = "fatal",
	};

	if (state >= sizeof(names) / sizeof(names[0]) || names[state] == NULL)
		return "unknown";
	return names[state];
}
