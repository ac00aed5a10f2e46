/*
 * chat.h: the chat rooms of `pipevisor chat` and `pvchat` (DESIGN.md
 * section 6), shared by the hub, its workers, the client and the tests.
 * Private to pipevisor: nothing here is installed.
 *
 * The pieces, one concern per file:
 *   chat_proto.c   the wire protocol codec: a client's line into a
 *                  command, events into the lines a client reads, and the
 *                  hub<->worker messages; the name rule.  Pure code.
 *   chat_room.c    who is called what and who is in which group: the
 *                  hub's routing state, without any I/O.
 *   chat_worker.c  the forked worker that owns one client's connection.
 *   chat_fifo.c, chat_msgq.c, chat_udp.c   the local transports.
 *   pipevisor_chat.c   the hub: listeners, workers, routing, shutdown.
 *   filters/pvchat.c   the client, over any transport.
 *
 * Data path of one `send 1 hi` from a TCP client:
 *   client --socket--> worker (validates, sanitises with pv_vis)
 *          --pipe, "S 1 hi\n"--> hub (routes, formats "[1] javad: hi\n"
 *          once) --socket, batched--> each member
 * The hub writes that last leg itself into its copy of each TCP client's
 * socket, once the client has a name: a paced delivery then costs no
 * worker a wake-up (enum chat_output).  With --no-direct or --outbound,
 * and for the FIFO, message-queue and UDP clients, it goes through the
 * worker: --pipe, batched--> each member's worker --> client.
 * The hub never blocks: every pipe to a worker is non-blocking and has a
 * bounded queue; a worker whose queue overflows is killed (its client is
 * too slow) and the others see "* NAME quit".
 */
#ifndef PV_CHAT_H
#define PV_CHAT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Limits and defaults                                                */
/* ------------------------------------------------------------------ */

#define CHAT_NAME_MAX		32	/* [A-Za-z0-9_.-]{1,32} */
#define CHAT_LINE_DEFAULT	1024	/* --max-line: bytes, without LF */
#define CHAT_LINE_LIMIT		4096	/* the largest --max-line */
#define CHAT_GROUPS_DEFAULT	32	/* --max-groups per client */
#define CHAT_CLIENTS_DEFAULT	1024	/* --max-clients in total */
#define CHAT_QUEUE_DEFAULT	65536	/* --queue: bytes per client */
#define CHAT_STALL_MS		500	/* that long past --queue: dropped */
/* A line still without LF after this many times --max-line: disconnect. */
#define CHAT_DISCARD_FACTOR	16

/* ------------------------------------------------------------------ */
/* The wire protocol (chat_proto.c)                                   */
/* ------------------------------------------------------------------ */

/*
 * Returns 1 if s (len bytes) is a valid name or group name: 1 to
 * CHAT_NAME_MAX bytes of [A-Za-z0-9_.-]; else 0.
 */
int	chat_name_valid(const char *s, size_t len);

/* Returns 1 if name is reserved ("server", "pipevisor", ...), ignoring case. */
int	chat_name_reserved(const char *name);

/* Compares two names ignoring ASCII case, like strcasecmp. */
int	chat_name_cmp(const char *a, const char *b);

/* What a client's line asks for. */
enum chat_op {
	CHAT_OP_NONE,		/* an empty line: ignored, no reply */
	CHAT_OP_NAME,		/* the first line: arg is the name */
	CHAT_OP_JOIN,		/* join GROUP */
	CHAT_OP_LEAVE,		/* leave GROUP */
	CHAT_OP_SEND,		/* send GROUP TEXT */
	CHAT_OP_MSG,		/* msg NAME TEXT */
	CHAT_OP_LIST,		/* list */
	CHAT_OP_WHO,		/* who GROUP */
	CHAT_OP_HELP,		/* help */
	CHAT_OP_PING,		/* ping */
	CHAT_OP_QUIT,		/* quit */
	CHAT_OP_ERROR,		/* not valid: text is the reply, without "- " */
	CHAT_OP_HANDOVER	/* worker only: "O", see below */
};

/*
 * A parsed line.  From chat_parse_line, arg is a NUL-terminated copy
 * held in err, and text points into the line (textlen bytes of raw client
 * text, not yet sanitised), or at err for CHAT_OP_ERROR; from
 * chat_decode_cmd both point into the decoded line.  So a copy of the
 * struct is not independent of the original.
 */
struct chat_cmd {
	enum chat_op	 op;
	const char	*arg;		/* name or group, or NULL */
	const char	*text;		/* send/msg text, or the error */
	size_t		 textlen;
	char		 err[160];	/* an error text; else a copy of arg */
};

/*
 * Parses one client line of len bytes (without its LF; a CR before the
 * LF is dropped here; the line may contain any byte, NUL included, and
 * may be modified in place).  named says whether the client has a name
 * yet: if not, the line is a name.  Commands are lowercase words; a
 * command takes exactly the arguments it needs, separated by one or more
 * spaces.  Rejects, with an error text in cmd->text:
 *   a NUL byte anywhere ("line contains a NUL byte");
 *   a bad name or group ("bad name: ..." / "bad group name: ...");
 *   an unknown command ("unknown command: WORD (try help)"), the word
 *   made visible with pv_vis and cut to CHAT_NAME_MAX bytes;
 *   missing or extra arguments ("usage: join GROUP", ...).
 * Never fails otherwise.
 */
void	chat_parse_line(char *line, size_t len, int named,
	    struct chat_cmd *cmd);

/*
 * Formatting: each function writes one complete line, LF included, into
 * buf (size bytes) and returns its length, or 0 if it does not fit.
 * Text passed in is already sanitised (pv_vis) by the worker.
 */
size_t	chat_fmt_ok(char *buf, size_t size, const char *what);	/* "+ what" */
size_t	chat_fmt_err(char *buf, size_t size, const char *what);	/* "- what" */
size_t	chat_fmt_notice(char *buf, size_t size, const char *what); /* "* what" */
/* "[GROUP] NAME: text" */
size_t	chat_fmt_delivery(char *buf, size_t size, const char *group,
	    const char *name, const char *text, size_t textlen);
/* "[@NAME] text" */
size_t	chat_fmt_private(char *buf, size_t size, const char *from,
	    const char *text, size_t textlen);

/* The one-line reply to `help`, without "+ " and LF. */
extern const char chat_help_text[];

/* ------------------------------------------------------------------ */
/* Worker to hub messages (chat_proto.c)                              */
/* ------------------------------------------------------------------ */

/*
 * A worker sends the hub one line per client command, already validated
 * and with its text sanitised:
 *   "N name"   a name attempt        "J group"   join
 *   "L group"  leave                 "S group text"   send
 *   "M name text"   private msg      "W group"   who
 *   "I"  list    "H"  help    "P"  ping    "Q"  quit
 *   "E text"   an error the worker found: the hub replies "- text" in
 *              its place among the replies, so replies keep the order
 *              of the commands
 *   "D reason" the client is gone (end of file, error, idle): no reply
 *   "O"  the welcome is out, and the client's output is the hub's from
 *        here (a TCP client, without --no-direct; see chat_tcp_client)
 * Everything the hub sends a worker is bytes for the client, lines ready
 * to write; the hub closing the pipe means "close the connection once
 * these bytes are out".
 */

/*
 * Encodes a parsed command for the hub into buf (size bytes, at least
 * PV_VIS_SIZE(CHAT_LINE_LIMIT) + 64), sanitising its text with pv_vis.
 * Returns the length, LF included; 0 for CHAT_OP_NONE (nothing to send).
 */
size_t	chat_encode_cmd(char *buf, size_t size, const struct chat_cmd *cmd);

/*
 * Decodes one worker line (without LF, NUL-terminated, modified in
 * place) into cmd (CHAT_OP_ERROR for "E", and op CHAT_OP_NONE with
 * arg = the reason for "D").  Returns 0, or -1 if the line is not a
 * worker message (a bug or a corrupt worker: the hub drops the client).
 */
int	chat_decode_cmd(char *line, size_t len, struct chat_cmd *cmd);

/* ------------------------------------------------------------------ */
/* Who is who and who is where: the hub's routing state (chat_room.c)  */
/* ------------------------------------------------------------------ */

struct chat_room;
struct room_client;
struct room_group;

/* Returns an empty room, or NULL with errno ENOMEM.  Free with room_free. */
struct chat_room *room_new(void);

/*
 * Frees the room and its groups; NULL is ignored.  Clients are the
 * caller's to free first, with room_client_free.
 */
void	room_free(struct chat_room *room);

/* Adds a client without a name; data is the caller's.  NULL: ENOMEM. */
struct room_client *room_client_new(struct chat_room *room, void *data);

/* Removes a client from every group and the name table, and frees it. */
void	room_client_free(struct chat_room *room, struct room_client *c);

void	*room_client_data(const struct room_client *c);

/* The client's name, or NULL before it has one. */
const char *room_client_name(const struct room_client *c);

/*
 * Names a nameless client.  Returns 0, or -1 with errno EEXIST (taken,
 * ignoring case), EALREADY (already named) or ENOMEM.
 */
int	room_client_set_name(struct chat_room *room, struct room_client *c,
	    const char *name);

/* Finds a named client, ignoring case; NULL if none. */
struct room_client *room_find(const struct chat_room *room, const char *name);

/*
 * Adds c to group (created when it has no members yet).  Returns 0, or -1
 * with errno EALREADY (a member), E2BIG (in max groups already) or ENOMEM.
 */
int	room_join(struct chat_room *room, struct room_client *c,
	    const char *group, size_t max);

/* Takes c out of group.  Returns 0, or -1 with errno ENOENT (not a member). */
int	room_leave(struct chat_room *room, struct room_client *c,
	    const char *group);

/* Finds a group, ignoring case; NULL if it has no members. */
struct room_group *room_group_find(const struct chat_room *room,
	    const char *group);

/* The group's name as its first member spelled it. */
const char *room_group_name(const struct room_group *g);

/* The members in order of joining; *n is set to their number. */
struct room_client *const *room_group_members(const struct room_group *g,
	    size_t *n);

/* Returns 1 if c is in g. */
int	room_is_member(const struct room_group *g, const struct room_client *c);

/* Every group, in no particular order, and their number. */
struct room_group *const *room_groups(const struct chat_room *room,
	    size_t *n);

/* The number of groups c is in, and the number of named clients. */
size_t	room_client_ngroups(const struct room_client *c);
size_t	room_nnamed(const struct chat_room *room);

/*
 * Calls fn once for every client that shares at least one group with c
 * (c itself excluded), for notices such as "* NAME quit".
 */
void	room_each_peer(struct chat_room *room, struct room_client *c,
	    void (*fn)(struct room_client *peer, void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* The worker (chat_worker.c)                                         */
/* ------------------------------------------------------------------ */

/* Where the worker writes what the hub routes to its client. */
enum chat_sink {
	CHAT_SINK_FD,		/* fd 1: a socket, or a FIFO once opened */
	CHAT_SINK_MSGQ,		/* msgsnd, mtype = the client's pid */
	CHAT_SINK_UDP		/* sendto the client's address */
};

/* The fds a worker is started with, besides 0 (client in) and 1. */
#define CHAT_WFD_FROM_HUB	3	/* bytes for the client */
#define CHAT_WFD_TO_HUB		4	/* worker messages */
#define CHAT_WFD_UDP		5	/* the hub's UDP socket (CHAT_SINK_UDP) */

/* What a worker needs; filled by the hub, read by the forked child. */
struct chat_worker {
	enum chat_sink		 sink;
	const char		*peer;		/* for ps and messages */
	const char		*fifo_dir;	/* FIFO client: open its pair */
	pid_t			 peer_pid;	/* FIFO or msgq client's pid */
	int			 msqid;
	struct sockaddr_storage	 addr;		/* UDP client */
	socklen_t		 addrlen;
	size_t			 max_line;
	long			 idle_ms;	/* msgq: liveness check period */
	const char		*inbound;	/* SPEC or NULL */
	const char		*outbound;	/* SPEC or NULL */
	const char		*filters;	/* fallback program path */
	int			 direct;	/* send "O" after the welcome */
};

/*
 * The worker's life, run in a child of the spawner (chat_spawner.c) that
 * leads its own process group: fd 0 is the client's input (a socket, a pipe
 * from the hub for msgq and UDP clients, /dev/null for a FIFO client
 * until its pair is open), fd 1 the client's output for CHAT_SINK_FD.
 * Returns the exit status: 0 when the hub closed the client, 1 on error.
 */
int	chat_worker_main(void *arg);

/* ------------------------------------------------------------------ */
/* The hub (chat_hub.c; transports in chat_fifo.c, chat_msgq.c,        */
/* chat_udp.c; the program in pipevisor_chat.c)                        */
/* ------------------------------------------------------------------ */

struct pv_loop;
struct pv_timer;
struct pv_pipeline;
struct http;
struct http_response;

enum chat_transport {
	CHAT_TCP,
	CHAT_FIFO,
	CHAT_MSGQ,
	CHAT_UDP
};

/* A byte queue toward a pipe that must never block the hub. */
struct chat_queue {
	char		*buf;
	size_t		 off, len, cap;
};

/*
 * Who writes a client's output.  A TCP client (unless --no-direct or an
 * --outbound chain) starts with its worker, like every other;
 * once its name is accepted, the hub holds what comes after the welcome
 * until the worker says the welcome is out ("O"), and from then on
 * writes the client's queue to its own copy of the socket.
 */
enum chat_output {
	CHAT_OUT_WORKER,	/* to_w: the worker forwards it */
	CHAT_OUT_HANDING,	/* piped bytes still to to_w, then hold */
	CHAT_OUT_DIRECT		/* sock: the hub writes to the client */
};

/* One client, from its worker's start until its worker is reaped. */
struct chat_client {
	TAILQ_ENTRY(chat_client) entry;		/* hub->clients */
	TAILQ_ENTRY(chat_client) dirty_entry;	/* hub->dirty */
	struct chat_hub		*hub;
	struct room_client	*rc;		/* NULL once gone from the room */
	enum chat_transport	 t;
	char			 peer[64];
	pid_t			 pgid;		/* the worker, its group */
	int			 pidfd;		/* readable once it exits */
	int			 from_w;	/* worker messages, -1: done */
	char			*carry;		/* a partial worker line */
	size_t			 carrylen;
	int			 to_w;		/* bytes for the client */
	struct chat_queue	 q;
	int			 watch_fd;	/* waited on for room, or -1 */
	int			 dirty, overflow, closing;
	int			 sock;		/* the hub's copy, or -1 */
	enum chat_output	 out;		/* who writes to the client */
	size_t			 piped;		/* CHAT_OUT_HANDING: to_w's part */
	int			 in_w;		/* msgq/UDP: the client's lines */
	struct chat_queue	 iq;
	int			 in_watching;
	pid_t			 peer_pid;	/* FIFO, msgq */
	struct sockaddr_storage	 addr;		/* UDP */
	socklen_t		 addrlen;
	struct timespec		 heard;		/* UDP: last datagram */
	struct chat_client	*peer_next;	/* hub->peers' chain */
	uint64_t		 peer_hash;
	int			 peer_indexed;	/* in hub->peers */
	struct timespec		 since;		/* connected */
	struct pv_timer		*linger;	/* SIGKILL if it lingers */
	int			 congested;	/* queue past --queue */
	struct pv_timer		*stall;		/* drop it if still so */
	int			 parked;	/* input unwatched for now */
	TAILQ_ENTRY(chat_client) parked_entry;	/* hub->parked */
	struct chat_worker	 wcfg;
};

TAILQ_HEAD(chat_clients, chat_client);

/* The UDP and msgq clients by address (chat_peers.c). */
struct chat_peers {
	struct chat_client	**buckets;
	size_t			  nbuckets;	/* a power of two */
	size_t			  count;
	uint64_t		  seed;
};

/* What the hub counts, for the status page and /metrics. */
struct chat_counters {
	uint64_t	connections;	/* clients ever started */
	uint64_t	refused;	/* turned away: --max-clients, no fds */
	uint64_t	messages;	/* send and msg lines routed */
	uint64_t	deliveries;	/* lines queued to clients */
	uint64_t	dropped;	/* clients too slow */
	uint64_t	errors;		/* "- " replies */
};

struct chat_hub {
	struct pv_loop		*loop;
	struct chat_room	*room;
	struct chat_clients	 clients;
	struct chat_clients	 dirty;
	struct chat_clients	 parked;	/* senders held back */
	struct chat_peers	 peers;		/* UDP and msgq, in the room */
	size_t			 nclients, ncongested;
	struct pv_timer		*trim_timer;	/* heap back to the kernel */
	size_t			 freed;		/* queue bytes since a trim */
	/* Options. */
	size_t			 max_line, max_groups, max_clients, queue;
	struct timespec		 idle, timeout, grace;
	const char		*inbound, *outbound, *filters;
	int			 verbose;
	int			 direct;	/* -1 until the options are read */
	/* Transports. */
	int			 tcp[8];
	size_t			 ntcp;
	int			 reserve;	/* /dev/null, for EMFILE */
	struct pv_pipeline	*spawner;	/* forks the workers */
	int			 spawn_fd;
	int			 devnull;	/* fds 0/1 of non-stream workers */
	char			*fifo_dir;
	int			 fifo_made, fifo_lock, lobby;
	char			 lobbybuf[256];
	size_t			 lobbylen;
	char			*msgq_path;
	int			 msqid, msgq_lock, gw_fd;
	struct pv_pipeline	*gateway;
	char			*gwbuf;
	size_t			 gwlen;
	int			 udp;
	struct pv_timer		*expire_timer;
	struct http		*http;
	/* Life. */
	int			 stopping;
	int			 done;		/* the loop ends */
	struct pv_timer		*kill_timer;
	struct timespec		 started;	/* CLOCK_REALTIME */
	/* Called when the last client is gone while stopping. */
	void			(*stopped)(struct chat_hub *);
	struct chat_counters	 count;
};

/* chat_hub.c: clients and routing. */

/*
 * Starts a client's worker with fd in and fd out as its fds 0 and 1
 * (they stay the caller's to close); c was filled in by the transport
 * (t, peer, and what its worker config needs).  On success c belongs to
 * the hub; returns 0, or -1 with errno (c is then the caller's to free).
 */
int	hub_client_start(struct chat_hub *hub, struct chat_client *c,
	    int in, int out);

/* A new client of transport t, zeroed, or NULL with errno ENOMEM. */
struct chat_client *hub_client_new(struct chat_hub *hub,
	    enum chat_transport t);

/* The client is gone (reason for -v): tells its peers, closes it down. */
void	hub_client_gone(struct chat_client *c, const char *reason,
	    int notify);

/* Queues n bytes of the client's input to its worker (msgq, UDP). */
void	hub_client_input(struct chat_client *c, const char *buf, size_t n);

/* The client sent its last input (msgq 'X'). */
void	hub_client_input_end(struct chat_client *c);

/*
 * Writes every queue that got bytes out, as far as the pipes and sockets
 * take them.  The hub's loop calls it when each round ends, so one write
 * carries all a client got in the round, and nothing waits for a wake-up.
 */
void	hub_flush(struct chat_hub *hub);

/* Stops: every client told "* server shutting down", then closed. */
void	hub_shutdown(struct chat_hub *hub);

/* Sends SIGKILL to every worker's group. */
void	hub_kill_all(struct chat_hub *hub);

/* Kills and reaps every worker at once and frees its client. */
void	hub_destroy(struct chat_hub *hub);


/* Returns now + d on the monotonic clock. */
struct timespec hub_after(const struct timespec *d);

/*
 * chat_spawner.c: the small process, forked early, that forks every
 * worker, so that workers share its quiet pages rather than copies of
 * the busy hub's.  chat_spawner_start returns 0 or -1 with errno.
 * chat_spawner_spawn hands it cfg, peer and nfds fds (client in, client
 * out, from hub, to hub, and the UDP socket) and returns the worker's pid
 * (its process group too) with a pidfd in *pidfd that becomes readable
 * when it exits (-1 where pidfds do not work), or -1 with errno.  The
 * caller keeps its fds.
 */
int	chat_spawner_start(struct chat_hub *hub);
pid_t	chat_spawner_spawn(struct chat_hub *hub,
	    const struct chat_worker *cfg, const char *peer, const int *fds,
	    int nfds, int *pidfd);
void	chat_spawner_stop(struct chat_hub *hub);

/* The transports: each returns 0, or -1 after printing why. */
int	chat_fifo_open(struct chat_hub *hub, const char *dir);
void	chat_fifo_close(struct chat_hub *hub);
int	chat_msgq_open(struct chat_hub *hub, const char *path);
void	chat_msgq_close(struct chat_hub *hub);
int	chat_udp_open(struct chat_hub *hub, const char *spec);
void	chat_udp_close(struct chat_hub *hub);

/*
 * chat_peers.c: the UDP and msgq clients still in the room, by address
 * (a UDP client's sockaddr, a msgq client's pid).  chat_peers_init
 * returns 0 or -1 with errno ENOMEM; adding never fails (a table that
 * cannot grow gets longer chains); chat_peers_del is a no-op for a
 * client not in the index; chat_peers_find returns the client of
 * transport t whose address is the len bytes at key, or NULL.
 */
int	chat_peers_init(struct chat_peers *p);
void	chat_peers_free(struct chat_peers *p);
void	chat_peers_add(struct chat_peers *p, struct chat_client *c);
void	chat_peers_del(struct chat_peers *p, struct chat_client *c);
struct chat_client *chat_peers_find(const struct chat_peers *p,
	    enum chat_transport t, const void *key, size_t len);

/* chat_render.c: the status page, JSON and /metrics of a hub. */
int	chat_render(const char *path, struct http_response *resp, void *arg);

/* ------------------------------------------------------------------ */
/* Local transports: the conventions pvchat and the hub share          */
/* ------------------------------------------------------------------ */

/*
 * FIFOs in DIR (mode 0700, the hub's): DIR/lobby is the well-known FIFO
 * the hub keeps open read-write; DIR/lock is held with flock by the
 * running hub.  A client:
 *   1. makes DIR/PID.c2s and DIR/PID.s2c with mkfifo, mode 0600;
 *   2. opens PID.s2c O_RDONLY|O_NONBLOCK (no writer needed);
 *   3. opens DIR/lobby O_WRONLY|O_NONBLOCK (ENXIO: no hub) and writes
 *      "PID\n" in one write (atomic, far below PIPE_BUF);
 *   4. opens PID.c2s O_WRONLY, blocking until the hub's worker opens it
 *      (a rendezvous, under a timeout: CHAT_FIFO_TIMEOUT_MS);
 *   5. speaks the protocol: lines into c2s, replies out of s2c.
 * The worker checks both are FIFOs owned by its user (lstat, no links),
 * opens s2c O_WRONLY|O_NONBLOCK and then c2s O_RDONLY, blocking: both
 * sides meet in open(2), under a SIGALRM that ends a worker whose client
 * never comes.  Then both unlink both: once open they need no name, so
 * nothing is left behind whoever dies first (and a hub sweeps its
 * directory at start and stop).  End of file on c2s: the client is gone.
 */
#define CHAT_FIFO_LOBBY		"lobby"
#define CHAT_FIFO_LOCK		"lock"
#define CHAT_FIFO_C2S		"c2s"
#define CHAT_FIFO_S2C		"s2c"
#define CHAT_FIFO_TIMEOUT_MS	5000

/*
 * System V message queue: the key is ftok(PATH, CHAT_MSGQ_PROJ), where
 * PATH is a file the hub creates (mode 0600), holds an flock on, and
 * writes its pid into ("PID\n").  The queue is 0600.  Clients send on
 * mtype CHAT_MSGQ_REQUEST; the hub replies on mtype = the client's pid.
 * kind: 'C' connect (no text), 'D' one line (no LF), 'T' a line cut at
 * CHAT_MSGQ_TEXT bytes (the hub answers "- line too long"), 'X' the
 * client leaves; from the hub 'D' one line and 'X' the hub closed the
 * connection (after "+ bye", a drop, a shutdown, or in answer to the
 * client's 'X').  Both sides send with IPC_NOWAIT and retry: the queue's
 * default limit (16 KiB) holds only a few full messages.  At a stop the
 * hub waits up to a second for the queue to empty before removing it; a
 * client treats EIDRM as the end.  A client is noticed gone when its
 * process is (checked every --idle); a client that is PID 1 cannot use
 * the queue (its mtype would be the requests').
 */
#define CHAT_MSGQ_PROJ		'p'
#define CHAT_MSGQ_REQUEST	1L
/* A line of text per message: a delivered line, escapes included, fits
 * (msgmax, 8192 by default, bounds the whole message). */
#define CHAT_MSGQ_TEXT		8000

struct chat_msg {
	long		mtype;
	int32_t		pid;
	char		kind;
	char		text[CHAT_MSGQ_TEXT];
};

/* The msgsnd/msgrcv size of a chat_msg carrying n bytes of text. */
#define CHAT_MSGQ_SIZE(n)	(offsetof(struct chat_msg, text) - \
				    sizeof(long) + (size_t)(n))

/*
 * UDP: each datagram is one line (a client's trailing LF is optional;
 * the hub's datagrams end with one and, escapes included, may be up to
 * four times --max-line long); a client is its address.  An empty
 * datagram from a client is a keepalive (no reply); an empty datagram
 * from the hub means it closed the client.  A client heard from for no
 * --idle is expired ("* NAME quit"); pvchat sends a keepalive after 2 s
 * without sending, and "quit" at the end of its input.
 */
#define CHAT_UDP_MAX		(CHAT_LINE_LIMIT + 2)

#endif /* PV_CHAT_H */
