#!/usr/bin/env bats
# pipevisor serve: one pipeline per connection over TCP and unix sockets,
# REMOTE_ADDR/REMOTE_PORT, --max, EMFILE, signals and clean shutdown
# (DESIGN.md sections 5, 7 and 8; RELIABILITY.md items 7, 8, 13, 20, 21,
# 26 and 34).  Real clients (socat) on loopback only.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	# A unique argument marks this test's sleeps, so pgrep finds only ours.
	MARK=$((1000 + RANDOM % 8000)).$BATS_TEST_NUMBER$$
	SERVERS=()
	CLIENTS=()
	if [ -x "$PV_FILTERS/upper" ]; then UPPER=upper; else UPPER='tr a-z A-Z'; fi
}

teardown() {
	local p
	for p in ${CLIENTS[@]+"${CLIENTS[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
	for p in ${SERVERS[@]+"${SERVERS[@]}"}; do
		# The pipelines are process groups of their own: kill them too.
		for c in $(pgrep -P "$p" 2>/dev/null); do kill_tree "$c"; done
		kill_tree "$p"
	done
	pkill -KILL -f "sleep $MARK" 2>/dev/null || true
}

# start_server NAME ARGS...: runs `pipevisor serve -v ARGS` in the
# background, stderr in NAME.err; sets SERVER (its pid) and PORT (for
# --tcp) once it listens.
start_server() {
	local name=$1
	shift
	"$PIPEVISOR" serve -v "$@" >"$name.out" 2>"$name.err" 3>&- &
	SERVER=$!
	SERVERS+=("$SERVER")
	wait_for 5 grep -q 'listening on' "$name.err" || {
		cat "$name.err" >&2
		return 1
	}
	PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$name.err")
}

# client PORT: talks to 127.0.0.1:PORT with stdin and stdout.
client() {
	socat -t 5 - "TCP:127.0.0.1:$1"
}

# hold NAME PORT: a client that stays connected: what is written to fd
# opened on NAME.in goes to the server, replies land in NAME.out.
hold() {
	mkfifo "$1.in"
	socat -t 5 - "TCP:127.0.0.1:$2" <"$1.in" >"$1.out" 3>&- &
	CLIENTS+=("$!")
}

# wait_server: waits for SERVER to exit; its exit status in STATUS.
wait_server() {
	STATUS=0
	wait "$SERVER" || STATUS=$?
}

# children_of PID: how many live children PID has.
children_of() {
	pgrep -c -P "$1" 2>/dev/null || true
}

no_children() {
	[ "$(children_of "$1")" -eq 0 ]
}

server_gone() {
	pid_gone "$SERVER"
}

no_sleep_left() {
	! pgrep -f "sleep $MARK" >/dev/null
}

has_line() {
	grep -qF -- "$2" "$1"
}

# lines_are N FILE TEXT: FILE has exactly N lines holding TEXT.
lines_are() {
	[ "$(grep -cF -- "$3" "$2")" -eq "$1" ]
}

# --- usage and start-up errors ------------------------------------------------

@test "serve: --help prints the usage on stdout and exits 0" {
	run "$PIPEVISOR" serve --help
	assert_success
	assert_output --partial "usage: pipevisor serve (--tcp ADDR:PORT | --unix PATH)"
}

@test "serve: usage errors exit 125 with one line naming the problem" {
	run --separate-stderr "$PIPEVISOR" serve cat
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: serve: --tcp or --unix is required"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:0 --unix s cat
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: serve: --tcp and --unix exclude each other"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:0
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: serve: missing SPEC"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:0 --max 0 cat
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: serve: --max must be 1 to 1048576: '0'"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:0 --grace soon cat
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: serve: invalid duration for --grace: 'soon'"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:0 echo hi
	assert_equal "$status" 125
	run --separate-stderr "$PIPEVISOR" serve --bogus --tcp 127.0.0.1:0 cat
	assert_equal "$status" 125
}

@test "serve: a bad address exits 125 with one line" {
	run --separate-stderr "$PIPEVISOR" serve --tcp x:y cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: bad address 'x:y'"
	run --separate-stderr "$PIPEVISOR" serve --tcp 127.0.0.1:99999 cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: bad address '127.0.0.1:99999'"
	# Not an address of this machine: bind fails, nothing is sent.
	run --separate-stderr "$PIPEVISOR" serve --tcp 192.0.2.1:4000 cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: 192.0.2.1:4000: Cannot assign requested address"
}

@test "serve: a bad SPEC exits 125 with its column, before listening" {
	run --separate-stderr "$PIPEVISOR" serve --unix s.sock "cat | | cat"
	assert_equal "$status" 125
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^pipevisor: serve: SPEC column [0-9]+: "
	assert_not_exist s.sock
}

@test "serve: a port in use exits 125 with one line" {
	start_server a --tcp "127.0.0.1:0" cat
	run --separate-stderr "$PIPEVISOR" serve --tcp "127.0.0.1:$PORT" cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: 127.0.0.1:$PORT: Address already in use"
	kill -0 "$SERVER"
}

# --- serving ------------------------------------------------------------------

@test "serve: TCP echo on a fixed port: pipevisor serve --tcp ADDR:PORT cat" {
	local port tries=0
	# A random high port; another one if it happens to be taken.
	while :; do
		port=$((20000 + RANDOM % 40000))
		"$PIPEVISOR" serve --tcp "127.0.0.1:$port" cat 2>echo.err 3>&- &
		SERVER=$!
		SERVERS+=("$SERVER")
		listening_or_gone() {
			ss -Hltn "sport = :$port" | grep -q . || pid_gone "$SERVER"
		}
		wait_for 5 listening_or_gone
		if ! pid_gone "$SERVER"; then break; fi
		grep -q 'Address already in use' echo.err
		tries=$((tries + 1))
		[ "$tries" -lt 20 ]
	done
	run client "$port" < <(printf 'hello\nworld\n')
	assert_success
	assert_output "$(printf 'hello\nworld')"
	# Quiet by default: nothing on stderr.
	assert_equal "$(cat echo.err)" ""
}

@test "serve: a multi-stage pipeline per connection" {
	start_server s --tcp 127.0.0.1:0 "$UPPER | sed s/^/got:/"
	run client "$PORT" < <(printf 'hello\nagain\n')
	assert_success
	assert_output "$(printf 'got:HELLO\ngot:AGAIN')"
	wait_for 5 has_line s.err "done 127.0.0.1:"
}

@test "serve: REMOTE_ADDR and REMOTE_PORT in every stage's environment" {
	start_server s --tcp 127.0.0.1:0 \
	    "sh -c 'echo 1:\$REMOTE_ADDR:\$REMOTE_PORT' | sh -c 'cat; echo 2:\$REMOTE_ADDR:\$REMOTE_PORT'"
	run client "$PORT" </dev/null
	assert_success
	assert_line --index 0 --regexp '^1:127\.0\.0\.1:[0-9]+$'
	local rport=${lines[0]##*:}
	assert_line --index 1 "2:127.0.0.1:$rport"
	# The log names the same peer.
	wait_for 5 has_line s.err "connect 127.0.0.1:$rport pid "
}

@test "serve: --shell runs each stage under /bin/sh -c" {
	start_server s --tcp 127.0.0.1:0 --shell 'echo "$REMOTE_ADDR" | tr 1 X'
	run client "$PORT" </dev/null
	assert_success
	assert_output "X27.0.0.X"
}

@test "serve: --unix PATH, mode 0600, no REMOTE_ADDR, socket removed at exit" {
	REMOTE_ADDR=inherited start_server u --unix "$BATS_TEST_TMPDIR/s.sock" \
	    "sh -c 'echo \"[\${REMOTE_ADDR-unset}]\"; exec cat' | $UPPER"
	assert_equal "$(stat -c '%F %a' s.sock)" "socket 600"
	run socat -t 5 - "UNIX-CONNECT:$BATS_TEST_TMPDIR/s.sock" < <(echo hi)
	assert_success
	assert_output "$(printf '[UNSET]\nHI')"
	kill -TERM "$SERVER"
	wait_server
	assert_equal "$STATUS" 0
	assert_not_exist s.sock
}

@test "serve: --unix refuses a live socket and a file that is not a socket" {
	start_server u --unix "$BATS_TEST_TMPDIR/s.sock" cat
	run --separate-stderr "$PIPEVISOR" serve --unix "$BATS_TEST_TMPDIR/s.sock" cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: $BATS_TEST_TMPDIR/s.sock: Address already in use"
	# The first still serves.
	run socat -t 5 - "UNIX-CONNECT:$BATS_TEST_TMPDIR/s.sock" < <(echo still)
	assert_output "still"
	echo keep > file
	run --separate-stderr "$PIPEVISOR" serve --unix "$BATS_TEST_TMPDIR/file" cat
	assert_equal "$status" 125
	assert_equal "$stderr" "pipevisor: serve: $BATS_TEST_TMPDIR/file: exists and is not a socket"
	assert_equal "$(cat file)" "keep"
}

@test "serve: a stale socket after kill -9 is replaced at the next start" {
	start_server u --unix "$BATS_TEST_TMPDIR/s.sock" cat
	kill -KILL "$SERVER"
	wait_for 5 server_gone
	assert_exist s.sock
	start_server v --unix "$BATS_TEST_TMPDIR/s.sock" cat
	run socat -t 5 - "UNIX-CONNECT:$BATS_TEST_TMPDIR/s.sock" < <(echo again)
	assert_output "again"
}

@test "serve: concurrent clients each get their own copy of the pipeline" {
	local i
	start_server s --tcp 127.0.0.1:0 "sh -c 'echo pid \$\$; exec cat'"
	for i in 1 2 3 4 5; do
		hold "c$i" "$PORT"
		eval "exec {fd$i}>c$i.in"
	done
	for i in 1 2 3 4 5; do
		eval "echo word$i >&\$fd$i"
	done
	for i in 1 2 3 4 5; do
		wait_for 5 grep -qx "word$i" "c$i.out"
	done
	# Five pipelines at once, five different processes, no zombie.
	assert_equal "$(children_of "$SERVER")" 5
	assert_equal "$(cat c*.out | grep '^pid' | sort -u | wc -l)" 5
	assert_equal "$(zombies_of "$SERVER")" 0
	for i in 1 2 3 4 5; do
		eval "exec {fd$i}>&-"
	done
	wait_for 5 no_children "$SERVER"
	assert_equal "$(grep -c ' done 127.0.0.1:[0-9]* status 0$' s.err)" 5
	assert_equal "$(zombies_of "$SERVER")" 0
}

@test "serve: --max 1 turns a second client away with one line, then serves again" {
	start_server s --tcp 127.0.0.1:0 --max 1 cat
	hold a "$PORT"
	exec {fa}>a.in
	echo first >&$fa
	wait_for 5 grep -qx first a.out
	run client "$PORT" </dev/null
	assert_output "pipevisor: too many connections"
	# A turned-away client that has already gone does not hurt the server.
	socat -t 0 -u /dev/null "TCP:127.0.0.1:$PORT" || true
	wait_for 5 lines_are 2 s.err ': too many connections (1)'
	kill -0 "$SERVER"
	echo second >&$fa
	wait_for 5 grep -qx second a.out
	exec {fa}>&-
	wait_for 5 no_children "$SERVER"
	run client "$PORT" < <(echo third)
	assert_output "third"
}

@test "serve: a client that closes before the reply does not hurt the server" {
	start_server s --tcp 127.0.0.1:0 "sh -c 'read x; exec yes'"
	local i
	for i in 1 2 3; do
		# Sends a line and is gone at once; the stage writes into a
		# closed socket (EPIPE/SIGPIPE for it, never for the server).
		printf 'go\n' | socat -t 0 - "TCP:127.0.0.1:$PORT" >/dev/null || true
	done
	wait_for 10 lines_are 3 s.err ' done '
	kill -0 "$SERVER"
	wait_for 5 no_children "$SERVER"
	run sh -c "echo x | socat -t 5 - TCP:127.0.0.1:$PORT 2>/dev/null | head -n 1"
	assert_output "y"
}

@test "serve: many connections leave the server's fds as they were" {
	start_server s --tcp 127.0.0.1:0 "cat | $UPPER"
	local before after i ok=0
	before=$(ls "/proc/$SERVER/fd" | wc -l)
	for i in $(seq 1 60); do
		[ "$(echo "n$i" | client "$PORT")" = "N$i" ] && ok=$((ok + 1))
	done
	assert_equal "$ok" 60
	wait_for 5 no_children "$SERVER"
	after=$(ls "/proc/$SERVER/fd" | wc -l)
	assert_equal "$after" "$before"
	assert_equal "$(zombies_of "$SERVER")" 0
}

@test "serve: a stage that cannot start is reported; the server carries on" {
	start_server s --tcp 127.0.0.1:0 "nosuch-$MARK | cat"
	run client "$PORT" < <(echo x)
	assert_output ""
	wait_for 5 has_line s.err "pipevisor: serve: stage 1: nosuch-$MARK: command not found"
	wait_for 5 has_line s.err " status 0"
	kill -0 "$SERVER"
}

@test "serve: stages start with default signals, an empty mask, no stray fds, own group" {
	# Started with TERM and INT ignored, USR1 blocked and fd 7 open: none
	# of it reaches a connection's pipeline (RELIABILITY.md items 8, 13).
	exec 7</dev/null
	"$PV_TESTBIN/sigstate" -i TERM -i INT -b USR1 -- "$PIPEVISOR" serve -v \
	    --tcp 127.0.0.1:0 \
	    "$PV_TESTBIN/fdlist | sh -c 'cat; grep -E \"^Sig(Ign|Blk)\" /proc/self/status; ps -o pgid= -p \$\$'" \
	    >s.out 2>s.err 3>&- &
	SERVER=$!
	SERVERS+=("$SERVER")
	exec 7<&-
	wait_for 5 grep -q 'listening on' s.err
	PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' s.err)
	run client "$PORT" </dev/null
	assert_equal "${#lines[@]}" 6
	# fdlist, the first stage: only 0, 1 and 2.
	assert_equal "${lines[*]:0:3}" "0 1 2"
	assert_line --index 3 --regexp '^SigBlk:[[:space:]]+0+$'
	assert_line --index 4 --regexp '^SigIgn:[[:space:]]+0+$'
	# One process group per connection, led by the first stage, not ours.
	local pgid
	pgid=$(echo "${lines[5]}" | tr -d ' ')
	wait_for 5 has_line s.err "pid $pgid"
	[ "$pgid" != "$(ps -o pgid= -p "$SERVER" | tr -d ' ')" ]
	# And the server still catches TERM, whatever it inherited.
	kill -TERM "$SERVER"
	wait_server
	assert_equal "$STATUS" 0
}

# --- stopping -----------------------------------------------------------------

@test "serve: SIGTERM stops accepting, kills a connection after --grace, exits 0" {
	start_server s --tcp 127.0.0.1:0 --grace 1.5 \
	    "sh -c 'trap \"\" TERM; echo ready; sleep $MARK & wait'"
	hold a "$PORT"
	exec {fa}>a.in
	wait_for 5 grep -qx ready a.out
	assert_equal "$(zombies_of "$SERVER")" 0
	local t0 t1
	t0=$(date +%s%N)
	kill -TERM "$SERVER"
	wait_for 5 has_line s.err "SIGTERM: stopping 1 connection"
	# No longer accepting, but still waiting for the connection.
	run socat -t 1 -u /dev/null "TCP:127.0.0.1:$PORT"
	assert_failure
	kill -0 "$SERVER"
	wait_server
	t1=$(date +%s%N)
	assert_equal "$STATUS" 0
	# The grace was given, and the kill came soon after it.
	[ $(((t1 - t0) / 1000000)) -ge 1400 ]
	[ $(((t1 - t0) / 1000000)) -lt 4000 ]
	assert_equal "$(grep -c ' done 127.0.0.1:[0-9]* status 137$' s.err)" 1
	# The whole group went, the background sleep too (RELIABILITY.md 21, 26).
	wait_for 2 no_sleep_left
	exec {fa}>&-
}

@test "serve: SIGTERM gives a connection SIGTERM first: no need to wait out the grace" {
	start_server s --tcp 127.0.0.1:0 --grace 30 "sh -c 'echo ready; exec sleep $MARK'"
	hold a "$PORT"
	exec {fa}>a.in
	wait_for 5 grep -qx ready a.out
	kill -TERM "$SERVER"
	wait_for 5 server_gone
	wait_server
	assert_equal "$STATUS" 0
	assert_equal "$(grep -c ' status 143$' s.err)" 1
	no_sleep_left
	exec {fa}>&-
}

@test "serve: a second SIGTERM during the grace kills at once" {
	start_server s --tcp 127.0.0.1:0 --grace 60 \
	    "sh -c 'trap \"\" TERM; echo ready; exec sleep $MARK'"
	hold a "$PORT"
	exec {fa}>a.in
	wait_for 5 grep -qx ready a.out
	kill -TERM "$SERVER"
	wait_for 5 has_line s.err "stopping 1 connection"
	kill -TERM "$SERVER"
	wait_for 5 server_gone
	wait_server
	assert_equal "$STATUS" 0
	no_sleep_left
	exec {fa}>&-
}

@test "serve: SIGINT and SIGHUP stop it too, with exit status 0" {
	local sig
	for sig in INT HUP; do
		start_server "$sig" --unix "$BATS_TEST_TMPDIR/$sig.sock" cat
		kill -"$sig" "$SERVER"
		wait_server
		assert_equal "$STATUS" 0
		assert_not_exist "$sig.sock"
	done
}

# --- out of file descriptors -------------------------------------------------

@test "serve: EMFILE on accept never spins; excess clients closed; service recovers" {
	prlimit --nofile=16:16 "$PIPEVISOR" serve -v --tcp 127.0.0.1:0 cat \
	    >s.out 2>s.err 3>&- &
	SERVER=$!
	SERVERS+=("$SERVER")
	wait_for 5 grep -q 'listening on' s.err
	PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' s.err)
	local i served refused before after
	# Thirty clients that never send: each one served holds a pipeline.
	for i in $(seq 1 30); do
		socat -u "TCP:127.0.0.1:$PORT" "OPEN:c$i.out,creat" 3>&- &
		CLIENTS+=("$!")
	done
	settled() {
		served=$(children_of "$SERVER")
		refused=$(grep -l 'too many connections' c*.out 2>/dev/null | wc -l)
		[ $((served + refused)) -eq 30 ]
	}
	wait_for 10 settled
	[ "$served" -ge 1 ]
	[ "$refused" -ge 1 ]
	# A spinning loop would burn about 200 ticks in this window; the
	# window is a measurement, not a wait for a condition.
	before=$(cpu_ticks "$SERVER")
	sleep 2
	after=$(cpu_ticks "$SERVER")
	[ $((after - before)) -le 10 ]
	assert_equal "$(zombies_of "$SERVER")" 0
	# Once the clients go, the server works as before.
	for i in ${CLIENTS[@]+"${CLIENTS[@]}"}; do kill "$i" 2>/dev/null || true; done
	wait_for 10 no_children "$SERVER"
	run client "$PORT" < <(echo back)
	assert_success
	assert_output "back"
	kill -TERM "$SERVER"
	wait_server
	assert_equal "$STATUS" 0
}
