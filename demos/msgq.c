/*
 * msgq: a System V message queue server and client built the wrong way,
 * for the part of scripts/demo-msgq that the real chat hub cannot show.
 *
 * usage: msgq server path
 *        msgq client [-n] path text
 *
 * The queue's key is ftok(path, 'p'); the queue is made with mode 0600.
 * A client sends "text" as a request of mtype 1 carrying its pid, as a
 * client of `pipevisor chat --msgq` does.  But where the hub answers each
 * client on mtype = its pid, this server sends every reply as mtype 2 and
 * clients read mtype 2: a client takes whichever reply is oldest, even
 * one meant for a client that has gone.  Client -n sends its request and
 * leaves without reading the reply, as a client that crashed or gave up
 * would.  The answer is "reply to PID: text" in upper case.
 *
 * A queue lives in the kernel until it is removed: the server removes it
 * (IPC_RMID) when SIGTERM, SIGINT or SIGHUP ends it, and refuses to start
 * when a queue with its key exists already.  The server takes those
 * signals with libpipevisor: msgrcv(2) runs inside pv_sig_window, the
 * armed window, so a signal ends the wait at once and none is lost.  The
 * client waits at most 2 seconds for its reply (SIGALRM, caught the same
 * way).
 */
#include <sys/ipc.h>
#include <sys/msg.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"

#define MTYPE_REQUEST	1L
#define MTYPE_SHARED	2L
#define TEXT_MAX	200
#define REPLY_SECONDS	2

struct request {
	long	mtype;
	pid_t	pid;
	char	text[TEXT_MAX];
};

struct reply {
	long	mtype;
	char	text[TEXT_MAX + 32];
};

/* Arguments of one msgrcv inside the armed window. */
struct rcv {
	int	 id;
	void	*msg;
	size_t	 size;
	long	 type;
};

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: msgq server path\n"
	    "       msgq client [-n] path text\n", stderr);
	exit(2);
}

/* The msgrcv that pv_sig_window runs; a caught signal abandons it. */
static long
rcv_call(void *p)
{
	struct rcv *r = p;

	return (long)msgrcv(r->id, r->msg, r->size, r->type, 0);
}

/* Returns the queue key for path, or dies. */
static key_t
queue_key(const char *path)
{
	key_t key;

	if ((key = ftok(path, 'p')) == -1)
		err(1, "ftok %s", path);
	return key;
}

/* Serves requests until a stop signal, then removes the queue. */
static int
msgq_server(const char *path)
{
	struct request req;
	struct reply rep;
	struct rcv r;
	key_t key = queue_key(path);
	size_t i;
	long n;
	int id, sig;

	if (pv_sig_init() == -1 || pv_sig_catch(SIGTERM) == -1 ||
	    pv_sig_catch(SIGINT) == -1 || pv_sig_catch(SIGHUP) == -1)
		err(1, "signals");
	if ((id = msgget(key, IPC_CREAT | IPC_EXCL | 0600)) == -1) {
		if (errno == EEXIST && (id = msgget(key, 0)) != -1)
			errx(1, "a queue with key 0x%08x exists already "
			    "(msqid %d): another server runs, or one was "
			    "killed; remove it with: ipcrm -q %d",
			    (unsigned)key, id, id);
		err(1, "msgget");
	}
	printf("msgq: server %ld: queue key 0x%08x msqid %d, every reply on "
	    "mtype %ld\n", (long)getpid(), (unsigned)key, id, MTYPE_SHARED);
	r.id = id;
	r.msg = &req;
	r.size = sizeof(req) - sizeof(long);
	r.type = MTYPE_REQUEST;
	for (;;) {
		n = pv_sig_window(rcv_call, &r);
		if (n == -1 && errno == EINTR) {
			if ((sig = pv_sig_take()) == 0)
				continue;
			if (msgctl(id, IPC_RMID, NULL) == -1)
				err(1, "IPC_RMID");
			printf("msgq: server: SIG%s: queue %d removed\n",
			    pv_signal_name(sig), id);
			return 0;
		}
		if (n == -1)
			err(1, "msgrcv");
		req.text[TEXT_MAX - 1] = '\0';
		printf("msgq: server: request from pid %ld: %s\n",
		    (long)req.pid, req.text);
		/* The mistake: one type for every client's reply. */
		rep.mtype = MTYPE_SHARED;
		snprintf(rep.text, sizeof(rep.text), "reply to %ld: %s",
		    (long)req.pid, req.text);
		for (i = 0; rep.text[i] != '\0'; i++)
			rep.text[i] = (char)toupper((unsigned char)rep.text[i]);
		if (msgsnd(id, &rep, strlen(rep.text) + 1, IPC_NOWAIT) == -1)
			warn("msgsnd");
	}
}

/* Sends one request and, unless told not to, prints the reply. */
static int
msgq_client(const char *path, const char *text, int noread)
{
	struct request req;
	struct reply rep;
	struct rcv r;
	long n;
	int id;

	if ((id = msgget(queue_key(path), 0)) == -1) {
		if (errno == ENOENT)
			errx(1, "no queue for %s: is the server running?",
			    path);
		err(1, "msgget");
	}
	memset(&req, 0, sizeof(req));
	req.mtype = MTYPE_REQUEST;
	req.pid = getpid();
	strlcpy(req.text, text, sizeof(req.text));
	if (msgsnd(id, &req, sizeof(req) - sizeof(long), 0) == -1)
		err(1, "msgsnd");
	if (noread) {
		printf("msgq: client %ld sent \"%s\" and left without reading "
		    "the reply\n", (long)req.pid, text);
		return 0;
	}
	if (pv_sig_init() == -1 || pv_sig_catch(SIGALRM) == -1)
		err(1, "signals");
	r.id = id;
	r.msg = &rep;
	r.size = sizeof(rep.text);
	r.type = MTYPE_SHARED;
	alarm(REPLY_SECONDS);
	n = pv_sig_window(rcv_call, &r);
	alarm(0);
	if (n == -1 && errno == EINTR)
		errx(1, "no reply within %d s", REPLY_SECONDS);
	if (n == -1)
		err(1, "msgrcv");
	rep.text[sizeof(rep.text) - 1] = '\0';
	printf("msgq: client %ld asked \"%s\", got mtype %ld: %s\n",
	    (long)req.pid, text, rep.mtype, rep.text);
	return 0;
}

/* Runs the server or the client. */
int
main(int argc, char *argv[])
{
	int ch, noread = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	optind = 2;
	while ((ch = getopt(argc, argv, "n")) != -1) {
		switch (ch) {
		case 'n':
			noread = 1;
			break;
		default:
			usage();
		}
	}
	if (strcmp(argv[1], "server") == 0 && argc - optind == 1 && !noread)
		return msgq_server(argv[optind]);
	if (strcmp(argv[1], "client") == 0 && argc - optind == 2)
		return msgq_client(argv[optind], argv[optind + 1], noread);
	usage();
}
