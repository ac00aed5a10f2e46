#!/usr/bin/env bats
# pvchat.bats: the chat client as a command (man/pvchat.1; DESIGN.md
# sections 6 and 8): usage, the one-line failures when no hub answers, the
# filter on each transport, the end of input, a hub that dies, FIFOs never
# left behind, signals outside a terminal, and the terminal mode driven
# through a pseudo-terminal.  The hub's protocol is tested in chat.bats
# (TCP, UDP) and chat-local.bats (FIFOs, msgq); here the hub is only the
# other end.
#
# A client is a pvchat whose stdin is a FIFO the test holds open and whose
# stdout is a file: `say` writes lines, `sees` waits for a line.  A
# terminal client runs under script(1), which gives it a pseudo-terminal
# and copies the keys the test writes into its FIFO to it; ^C (\003) is
# turned into SIGINT by the terminal's line discipline, as at a keyboard.
#
# Background jobs of a non-interactive shell start with SIGINT ignored,
# and pvchat leaves an ignored signal alone (nohup), so clients are
# started through `env --default-signal=INT`, as an interactive shell
# would.

load helpers
load chat

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	PVCHAT=$PV_BIN/pvchat
	HUB=
	PORT=
	UPORT=
	TREE=()
	CLIENTS=()
	FDS=()
	QID=
	declare -gA CFD=() CPID=()
	DIR=$BATS_TEST_TMPDIR/rooms
	KEY=$BATS_TEST_TMPDIR/chat.key
}

teardown() {
	local n p tree
	for n in "${!CFD[@]}"; do eval "exec ${CFD[$n]}>&-"; done
	for p in ${FDS[@]+"${FDS[@]}"}; do eval "exec $p>&-"; done
	for p in ${CLIENTS[@]+"${CLIENTS[@]}"}; do kill_tree "$p"; done
	if [ -n "$HUB" ] && ! pid_gone "$HUB"; then
		tree=$(hub_tree "$HUB")
		# A TERM first: the hub removes its FIFOs and queue itself.
		kill -TERM "$HUB"
		wait_for 5 pid_gone "$HUB" || kill_tree "$HUB" $tree
	fi
	# A hub killed with -9 leaves its queue: no queue may stay.
	if [ -n "$QID" ]; then
		ipcrm -q "$QID" 2>/dev/null || true
	fi
	for p in ${TREE[@]+"${TREE[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
}

# --- helpers ------------------------------------------------------------------

# hub ARGS...: starts the hub and waits until it is ready; PORT and UPORT
# are its TCP and UDP ports, if it has them.
hub() {
	# Emptied here, not by the child's redirection, which may come after
	# the wait below has read the last hub's "ready".
	: >hub.err
	"$PIPEVISOR" chat -v "$@" 2>hub.err 3>&- &
	HUB=$!
	wait_for 5 grep -q 'chat: ready' hub.err || {
		cat hub.err >&2
		return 1
	}
	PORT=$(listen_port t "$HUB")
	UPORT=$(listen_port u "$HUB")
}

# kill_hub_hard: the hub and every process under it are stopped, then
# killed with SIGKILL, so that none of them can say goodbye to a client.
# QID is the queue it leaves behind, if it has one, for the teardown.
kill_hub_hard() {
	local all
	all=("$HUB" $(hub_tree "$HUB"))
	[ ! -e "$KEY" ] || QID=$(key_msqid)
	TREE+=("${all[@]}")
	kill -STOP "${all[@]}"
	kill -KILL "${all[@]}"
	wait_for 5 pid_gone "$HUB"
}

# closed_port t|u: a loopback port below the ephemeral range that no TCP
# (t) or UDP (u) socket uses, so a connection or datagram is refused.
closed_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		if [ -z "$(ss -Han"$1" "sport = :$p")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# fake_server CMD: a TCP server on loopback (socat) whose one connection
# is CMD's stdin and stdout; FAKE is its pid, FPORT its port.  It leads a
# process group of its own, so the teardown takes CMD with it.
fake_server() {
	setsid socat -t 30 TCP-LISTEN:0,bind=127.0.0.1 SYSTEM:"$1" \
	    2>fake.err 3>&- &
	FAKE=$!
	CLIENTS+=("$FAKE")
	disown "$FAKE"
	wait_for 5 has_port "$FAKE"
	FPORT=$(listen_port t "$FAKE")
}

# alive PID: PID still runs (a bare `! pid_gone` would not fail a test).
alive() {
	! pid_gone "$1"
}

# has_port PID: PID listens on a TCP port.
has_port() {
	[ -n "$(listen_port t "$1")" ]
}

# client NAME TARGET [OPTION...]: starts pvchat, SIGINT at its default;
# its stdin is NAME.in, held open in CFD[NAME]; its stdout NAME.out.
client() {
	local n=$1 t=$2 fd
	shift 2
	mkfifo "$n.in"
	env --default-signal=INT "$PVCHAT" "$@" "$t" <"$n.in" >"$n.out" \
	    2>"$n.err" 3>&- &
	CPID[$n]=$!
	CLIENTS+=($!)
	exec {fd}>"$n.in"
	CFD[$n]=$fd
}

# member NAME TARGET GROUP: a client called NAME in GROUP.
member() {
	client "$1" "$2"
	say "$1" "$1" "join $3"
	sees "$1" "+ joined $3"
}

# ended NAME SECONDS: waits at most SECONDS for the client to exit, and
# puts its exit status in STATUS.
ended() {
	local pid=${CPID[$1]}
	wait_for "$2" pid_gone "$pid" || return 1
	STATUS=0
	wait "$pid" || STATUS=$?
}

# session TARGET INPUT: pvchat on TARGET with INPUT (printf %b escapes)
# as its whole standard input.
session() {
	printf '%b' "$2" | timeout 10 "$PVCHAT" "$1"
}

# raw_tcp INPUT: what the hub sends back for INPUT, read straight off a
# TCP connection (bash's /dev/tcp): the bytes pvchat must pass unchanged.
raw_tcp() {
	local s
	exec {s}<>"/dev/tcp/127.0.0.1/$PORT"
	printf '%b' "$1" >&"$s"
	timeout 5 cat <&"$s"
	exec {s}>&-
}

# tty_client NAME TARGET [TERM [REDIRECTIONS]]: pvchat in a pseudo-
# terminal (script -e: script exits with pvchat's status).  The keys
# written to CFD[NAME] reach the terminal; all it shows (the echo of the
# keys, the prompt, the hub's lines) goes to NAME.out.  CPID[NAME] is
# script, TTYPID[NAME] pvchat once tty_ready has run.
tty_client() {
	local n=$1 cmd fd
	mkfifo "$n.in"
	printf -v cmd 'exec env --default-signal=INT %q %q %s' "$PVCHAT" "$2" \
	    "${4:-}"
	TERM=${3:-xterm} SHELL=/bin/sh script -qfec "$cmd" /dev/null \
	    <"$n.in" >"$n.out" 2>"$n.err" 3>&- &
	CPID[$n]=$!
	CLIENTS+=($!)
	exec {fd}>"$n.in"
	CFD[$n]=$fd
}

# tty_ready NAME: waits for the first prompt; TTYPID[NAME] is pvchat.
tty_ready() {
	local p
	wait_for 10 tty_has "$1" '> ' || {
		cat "$1.out" "$1.err" >&2
		return 1
	}
	p=$(pgrep -P "${CPID[$1]}")
	[ "$(ps -o comm= -p "$p")" = pvchat ]
	TTYPID[$1]=$p
	CLIENTS+=("$p")
}

# key NAME KEYS: types KEYS (printf %b escapes) at the terminal.
key() {
	printf '%b' "$2" >&"${CFD[$1]}"
}

# screen NAME: what the terminal showed, carriage returns removed.
screen() {
	tr -d '\r' <"$1.out"
}

# tty_has NAME TEXT: the terminal has shown TEXT.
tty_has() {
	screen "$1" | grep -qF -- "$2"
}

# tty_shows NAME TEXT: waits until the terminal has shown TEXT.
tty_shows() {
	wait_for 10 tty_has "$1" "$2" || {
		echo "$1 never showed: $2; it has:" >&2
		screen "$1" | cat -A >&2
		return 1
	}
}

# ctrlc_handled NAME: how many ^C pvchat has answered with a fresh prompt
# (the terminal echoes "^C", pvchat writes a newline and a new "> ").
ctrlc_handled() {
	screen "$1" | awk '{ if (c && /^> /) n++; c = /\^C$/ }
	    END { print n + 0 }'
}

ctrlc_handled_is() {
	[ "$(ctrlc_handled "$1")" -eq "$2" ]
}

# has_pty: script(1) can run a program in a pseudo-terminal here.
has_pty() {
	script -qec true /dev/null </dev/null >/dev/null 2>&1
}

# --- usage ------------------------------------------------------------------

@test "pvchat: --help prints the usage on stdout and exits 0; --version" {
	for opt in --help -h; do
		run --separate-stderr "$PVCHAT" "$opt"
		assert_success
		assert_line --index 0 "usage: pvchat [-hV] [--timeout duration] target"
		assert_output --partial "fifo:dir or msgq:path"
		assert_output --partial "--timeout duration"
		assert_equal "$stderr" ""
	done
	for opt in --version -V; do
		run --separate-stderr "$PVCHAT" "$opt"
		assert_success
		assert_output "pvchat 0.1.0"
		assert_equal "$stderr" ""
	done
}

@test "pvchat: usage errors exit 2 with one line naming the mistake, then the usage" {
	check() {
		local want=$1
		shift
		run --separate-stderr "$PVCHAT" "$@"
		assert_equal "$status" 2
		assert_equal "${#stderr_lines[@]}" 2
		assert_equal "${stderr_lines[0]}" "$want"
		assert_equal "${stderr_lines[1]}" \
		    "usage: pvchat [-hV] [--timeout duration] target"
		assert_equal "$output" ""
	}
	check "pvchat: target is missing"
	check "pvchat: bad target: bogus:x" bogus:x
	check "pvchat: bad target: tcp:" tcp:
	check "pvchat: bad target: udp:localhost" udp:localhost
	check "pvchat: bad target: fifo:" fifo:
	check "pvchat: bad target: msgq:" msgq:
	check "pvchat: bad target: 127.0.0.1:0" 127.0.0.1:0
	check "pvchat: bad target: localhost:65536" localhost:65536
	check "pvchat: bad target: ::1:4000" ::1:4000
	check "pvchat: bad timeout: 0" --timeout 0 127.0.0.1:4000
	check "pvchat: bad timeout: soon" --timeout soon 127.0.0.1:4000
	check "pvchat: bad timeout: -1s" --timeout=-1s 127.0.0.1:4000
	check "pvchat: unexpected argument: extra" 127.0.0.1:4000 extra
	check "pvchat: unrecognized option '--bogus'" --bogus 127.0.0.1:4000
	check "pvchat: option '--timeout' requires an argument" --timeout
}

# --- no hub -----------------------------------------------------------------

@test "pvchat: no hub on TCP or UDP: exit 1 at once, 'no hub is listening'" {
	p=$(closed_port t)
	run -1 --separate-stderr timeout 2 "$PVCHAT" "127.0.0.1:$p" <<<alice
	assert_equal "$stderr" "pvchat: 127.0.0.1:$p: no hub is listening"
	assert_equal "$output" ""
	run -1 --separate-stderr timeout 2 "$PVCHAT" "tcp:127.0.0.1:$p" <<<alice
	assert_equal "$stderr" "pvchat: tcp:127.0.0.1:$p: no hub is listening"
	# UDP: the ICMP port unreachable comes back as ECONNREFUSED.
	p=$(closed_port u)
	run -1 --separate-stderr timeout 2 "$PVCHAT" "udp:127.0.0.1:$p" <<<alice
	assert_equal "$stderr" "pvchat: udp:127.0.0.1:$p: no hub is listening"
	assert_equal "$output" ""
}

@test "pvchat: no hub on a FIFO directory or a queue path: exit 1 at once, nothing left" {
	nohub() {
		run -1 --separate-stderr timeout 2 "$PVCHAT" "$1" <<<alice
		assert_equal "$stderr" "pvchat: $1: no hub is listening"
		assert_equal "$output" ""
	}
	nohub "fifo:$DIR"
	mkdir -m 700 "$DIR"
	nohub "fifo:$DIR"
	run ls -A "$DIR"
	assert_output ""
	# A dead hub's lobby that nobody reads: ENXIO, not a hang.
	mkfifo -m 600 "$DIR/lobby"
	nohub "fifo:$DIR"
	run ls -A "$DIR"
	assert_output lobby
	nohub "msgq:$KEY"
	# A file without a queue (and without a pid in it).
	: >"$KEY"
	nohub "msgq:$KEY"
	# A live pid, ours, but no queue at the key (unless another hub's
	# queue happens to have the same ftok key: then pvchat would find it).
	echo $$ >"$KEY"
	if [ -z "$(key_msqid)" ]; then
		nohub "msgq:$KEY"
	fi
}

# --- a filter ---------------------------------------------------------------

@test "pvchat: a filter: exactly the hub's four replies on each transport, exit 0" {
	hub --tcp 127.0.0.1:0 --fifo "$DIR" --msgq "$KEY" --udp 127.0.0.1:0
	for t in "127.0.0.1:$PORT" "tcp:127.0.0.1:$PORT" "fifo:$DIR" \
	    "msgq:$KEY" "udp:127.0.0.1:$UPORT"; do
		run --separate-stderr session "$t" 'alice\njoin g\nsend g hi\nquit\n'
		assert_success
		assert_output "+ welcome alice
+ joined g
[g] alice: hi
+ bye"
		assert_equal "$stderr" ""
	done
	# No pair of FIFOs is left behind by a client that quit.
	run ls -A "$DIR"
	assert_output $'lobby\nlock'
}

@test "pvchat: the hub's bytes come out unchanged: escapes stay literal text" {
	hub --tcp 127.0.0.1:0 --fifo "$DIR" --msgq "$KEY" --udp 127.0.0.1:0
	in='alice\njoin g\nsend g \033[31mred\033[0m\tt\\b \177 \342\200\256x\nquit\n'
	raw_tcp "$in" >raw.out
	# The hub has made the text visible; pvchat must neither undo nor redo it.
	grep -qxF '[g] alice: \033[31mred\033[0m\tt\\b \177 \342\200\256x' raw.out
	[ "$(wc -l <raw.out)" -eq 4 ]
	for t in "127.0.0.1:$PORT" "fifo:$DIR" "msgq:$KEY" "udp:127.0.0.1:$UPORT"; do
		session "$t" "$in" >out
		cmp raw.out out
	done
	# Not one control byte but LF.
	run grep -c $'[\x01-\x09\x0b-\x1f\x7f]' out
	assert_output 0
}

@test "pvchat: works in a pipeline" {
	hub --tcp 127.0.0.1:0
	pipeline() {
		printf 'alice\njoin g\nsend g hi\nquit\n' |
		    timeout 10 "$PVCHAT" "127.0.0.1:$PORT" | grep -c .
	}
	run pipeline
	assert_success
	assert_output 4
}

@test "pvchat: end of input without quit: the hub closes, the others see it quit, exit 0" {
	hub --tcp 127.0.0.1:0
	member bob "127.0.0.1:$PORT" g
	run --separate-stderr session "127.0.0.1:$PORT" 'alice\njoin g\nsend g hi\n'
	assert_success
	assert_output "+ welcome alice
+ joined g
[g] alice: hi"
	assert_equal "$stderr" ""
	sees bob '[g] alice: hi'
	sees bob '* alice quit'
}

@test "pvchat: end of input over TCP is a half-close: what the hub sends after it still comes" {
	# A stand-in hub that answers only once it has read end of file.
	fake_server 'cat >/dev/null; echo after-eof'
	run --separate-stderr session "127.0.0.1:$FPORT" 'alice\n'
	assert_success
	assert_output after-eof
	assert_equal "$stderr" ""
}

@test "pvchat: a hub that keeps the connection open past --timeout: exit 1 with one line" {
	# It reads our end of file, then says nothing and keeps the socket.
	fake_server 'cat >/dev/null; exec sleep 30'
	start=$(date +%s%N)
	run -1 --separate-stderr timeout 5 "$PVCHAT" --timeout 300ms \
	    "127.0.0.1:$FPORT" <<<alice
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_equal "$stderr" "pvchat: 127.0.0.1:$FPORT: the hub did not close the connection within 300ms"
	assert_equal "$output" ""
	[ "$ms" -ge 300 ] && [ "$ms" -lt 3000 ]
}

@test "pvchat: a reader that went away: 'stdout: Broken pipe', exit 1" {
	hub --tcp 127.0.0.1:0
	# A FIFO with a writer (for pvchat) and no reader left: EPIPE.
	mkfifo o
	exec {r}<>o
	exec {w}>o
	exec {r}<&-
	FDS+=("$w")
	broken() {
		timeout 5 "$PVCHAT" "127.0.0.1:$PORT" <<<alice >&"$w"
	}
	run -1 --separate-stderr broken
	assert_equal "$stderr" "pvchat: stdout: Broken pipe"
}

# --- a hub that dies --------------------------------------------------------

@test "pvchat: msgq: a hub killed with -9: 'the hub is gone', exit 1, the receiver gone too" {
	hub --msgq "$KEY"
	client a "msgq:$KEY"
	say a alice
	sees a '+ welcome alice'
	# The receiver child waits in msgrcv for pvchat.
	recv=$(pgrep -P "${CPID[a]}")
	[ -n "$recv" ]
	CLIENTS+=("$recv")
	# The whole tree at once: no worker or gateway sends the 'X' a
	# hub's death would otherwise bring.
	start=$(date +%s%N)
	kill_hub_hard
	ended a 4
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_equal "$STATUS" 1
	assert_equal "$(cat a.err)" "pvchat: msgq:$KEY: the hub is gone"
	[ "$ms" -lt 3000 ]
	pid_gone "$recv"
	run ps -o pid= -p "$recv"
	assert_output ""
	run pgrep -P "${CPID[a]}"
	assert_output ""
}

@test "pvchat: UDP: the hub's empty datagram ends pvchat with 0; a dead hub is 'gone'" {
	hub --udp 127.0.0.1:0
	# quit, with stdin still open: only the empty datagram ends it.
	client a "udp:127.0.0.1:$UPORT"
	say a alice quit
	sees a '+ bye'
	ended a 5
	assert_equal "$STATUS" 0
	assert_equal "$(cat a.err)" ""
	# The hub stopping says so, then closes each client.
	client b "udp:127.0.0.1:$UPORT"
	say b bob
	sees b '+ welcome bob'
	kill -TERM "$HUB"
	sees b '* server shutting down'
	ended b 5
	assert_equal "$STATUS" 0
	assert_equal "$(cat b.err)" ""
	wait_for 5 pid_gone "$HUB"
	# A hub killed without a word: the next datagram is refused.
	hub --udp 127.0.0.1:0
	client c "udp:127.0.0.1:$UPORT"
	say c carol
	sees c '+ welcome carol'
	kill_hub_hard
	say c 'join g'
	ended c 5
	assert_equal "$STATUS" 1
	assert_equal "$(cat c.err)" "pvchat: udp:127.0.0.1:$UPORT: the hub is gone"
}

# --- FIFOs never left behind ------------------------------------------------

@test "pvchat: FIFO: SIGTERM while connected exits 143; no PID.c2s/PID.s2c left" {
	hub --fifo "$DIR"
	member bob "fifo:$DIR" g
	member alice "fifo:$DIR" g
	sees bob '* alice joined g'
	pid=${CPID[alice]}
	kill -TERM "$pid"
	ended alice 5
	assert_equal "$STATUS" 143
	assert_equal "$(cat alice.err)" ""
	sees bob '* alice quit'
	assert_not_exists "$DIR/$pid.c2s"
	assert_not_exists "$DIR/$pid.s2c"
	run ls -A "$DIR"
	assert_output $'lobby\nlock'
}

@test "pvchat: FIFO: SIGTERM during the rendezvous exits 143 and removes its pair" {
	# A lobby that is read (so the open succeeds) but never served.
	mkdir -m 700 "$DIR"
	mkfifo -m 600 "$DIR/lobby"
	exec {lfd}<>"$DIR/lobby"
	FDS+=("$lfd")
	client x "fifo:$DIR"
	pid=${CPID[x]}
	wait_for 5 test -p "$DIR/$pid.c2s" -a -p "$DIR/$pid.s2c"
	run stat -c %a "$DIR/$pid.c2s" "$DIR/$pid.s2c"
	assert_output $'600\n600'
	# Its pid, in one line, on the lobby.
	read -r -t 5 -u "$lfd" line
	assert_equal "$line" "$pid"
	kill -TERM "$pid"
	ended x 5
	assert_equal "$STATUS" 143
	run ls -A "$DIR"
	assert_output lobby
}

@test "pvchat: FIFO: a lobby nobody serves: 'no answer from the hub' after 5 s, exit 1, pair removed" {
	mkdir -m 700 "$DIR"
	mkfifo -m 600 "$DIR/lobby"
	exec {lfd}<>"$DIR/lobby"
	FDS+=("$lfd")
	start=$(date +%s%N)
	client x "fifo:$DIR"
	pid=${CPID[x]}
	wait_for 5 test -p "$DIR/$pid.c2s" -a -p "$DIR/$pid.s2c"
	read -r -t 5 -u "$lfd" line
	assert_equal "$line" "$pid"
	ended x 10
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_equal "$STATUS" 1
	assert_equal "$(cat x.err)" "pvchat: fifo:$DIR: no answer from the hub"
	# CHAT_FIFO_TIMEOUT_MS is 5 s.
	[ "$ms" -ge 4900 ] && [ "$ms" -lt 8000 ]
	run ls -A "$DIR"
	assert_output lobby
}

# --- signals outside a terminal ---------------------------------------------

@test "pvchat: msgq: SIGINT, SIGTERM, SIGHUP: 128+N, 'X' sent (others see it quit), receiver reaped" {
	# --idle 1m: a client that vanished without 'X' would stay a minute.
	hub --msgq "$KEY" --idle 1m
	member bob "msgq:$KEY" g
	for sig in INT:130:alice TERM:143:carol HUP:129:dave; do
		IFS=: read -r name want who <<<"$sig"
		member "$who" "msgq:$KEY" g
		sees bob "* $who joined g"
		recv=$(pgrep -P "${CPID[$who]}")
		[ -n "$recv" ]
		CLIENTS+=("$recv")
		kill -"$name" "${CPID[$who]}"
		ended "$who" 5
		assert_equal "$STATUS" "$want"
		assert_equal "$(cat "$who.err")" ""
		sees bob "* $who quit"
		wait_for 5 pid_gone "$recv"
	done
}

@test "pvchat: TCP and UDP: SIGINT exits 130, SIGTERM 143; the TCP peers see it quit" {
	hub --tcp 127.0.0.1:0 --udp 127.0.0.1:0
	member bob "127.0.0.1:$PORT" g
	member alice "127.0.0.1:$PORT" g
	kill -INT "${CPID[alice]}"
	ended alice 5
	assert_equal "$STATUS" 130
	sees bob '* alice quit'
	member carol "udp:127.0.0.1:$UPORT" g
	kill -TERM "${CPID[carol]}"
	ended carol 5
	assert_equal "$STATUS" 143
	assert_equal "$(cat carol.err)" ""
}

@test "pvchat: SIGINT ignored at start (nohup) stays ignored" {
	hub --tcp 127.0.0.1:0
	mkfifo a.in
	env --ignore-signal=INT "$PVCHAT" "127.0.0.1:$PORT" <a.in >a.out \
	    2>a.err 3>&- &
	CPID[a]=$!
	CLIENTS+=($!)
	exec {fd}>a.in
	CFD[a]=$fd
	say a alice
	sees a '+ welcome alice'
	kill -INT "${CPID[a]}"
	# An ignored signal is dropped when sent: the next reply proves it.
	say a ping
	sees a '+ pong'
	alive "${CPID[a]}"
	say a quit
	ended a 5
	assert_equal "$STATUS" 0
}

# --- the terminal -----------------------------------------------------------

@test "pvchat: at a terminal: prompt, ^C drops the half line, a full line is sent, ^C ^C leaves" {
	has_pty || skip "no pseudo-terminal here"
	declare -gA TTYPID=()
	hub --tcp 127.0.0.1:0
	member bob "127.0.0.1:$PORT" g
	tty_client a "127.0.0.1:$PORT"
	tty_ready a
	key a 'alice\n'
	tty_shows a '+ welcome alice'
	key a 'join g\n'
	tty_shows a '+ joined g'
	sees bob '* alice joined g'
	# A half line, then ^C: the line is thrown away, a fresh prompt.
	key a 'send g secret\003'
	wait_for 10 ctrlc_handled_is a 1
	alive "${TTYPID[a]}"
	key a 'send g public\n'
	sees bob '[g] alice: public'
	tty_shows a '[g] alice: public'
	run grep -c secret bob.out
	assert_output 0
	alive "${TTYPID[a]}"
	# A hub line took the prompt away and it came back ("\r ESC [K").
	grep -qF $'\r\033[K[g] alice: public' a.out
	# ^C at the empty prompt; a second one in a row leaves.
	key a '\003'
	wait_for 10 ctrlc_handled_is a 2
	alive "${TTYPID[a]}"
	key a '\003'
	ended a 5
	assert_equal "$STATUS" 0
	pid_gone "${TTYPID[a]}"
	sees bob '* alice quit'
	# The prompt went to the terminal, never to the hub or bob.
	run grep -c '^> ' bob.out
	assert_output 0
}

@test "pvchat: at a terminal: ^D at the prompt leaves; TERM=dumb draws no escapes" {
	has_pty || skip "no pseudo-terminal here"
	declare -gA TTYPID=()
	hub --tcp 127.0.0.1:0
	member bob "127.0.0.1:$PORT" g
	tty_client a "127.0.0.1:$PORT" dumb
	tty_ready a
	key a 'alice\njoin g\n'
	sees bob '* alice joined g'
	tty_shows a '+ joined g'
	key a '\004'
	ended a 5
	assert_equal "$STATUS" 0
	sees bob '* alice quit'
	screen a | grep -qx '> alice'
	run grep -c $'\033' a.out
	assert_output 0
}

@test "pvchat: stdin not a terminal: no prompt, and end of input ends it cleanly" {
	hub --tcp 127.0.0.1:0 --fifo "$DIR" --msgq "$KEY" --udp 127.0.0.1:0
	for t in "127.0.0.1:$PORT" "fifo:$DIR" "msgq:$KEY" "udp:127.0.0.1:$UPORT"; do
		run --separate-stderr timeout 10 "$PVCHAT" "$t" </dev/null
		assert_success
		assert_output ""
		assert_equal "$stderr" ""
	done
	has_pty || skip "no pseudo-terminal here"
	declare -gA TTYPID=()
	# stdout and stderr a terminal, stdin /dev/null: still no prompt.
	tty_client n "127.0.0.1:$PORT" xterm '</dev/null'
	ended n 10
	assert_equal "$STATUS" 0
	run screen n
	assert_output ""
	# stdin a terminal, stderr a file: the prompt is not written there.
	tty_client e "127.0.0.1:$PORT" xterm '2>e.prompt'
	key e 'erin\n'
	tty_shows e '+ welcome erin'
	key e 'quit\n'
	ended e 10
	assert_equal "$STATUS" 0
	tty_has e '+ bye'
	run tty_has e '> '
	assert_failure
	[ ! -s e.prompt ]
}
