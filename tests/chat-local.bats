#!/usr/bin/env bats
# pipevisor chat over its local transports, FIFOs and a System V message
# queue, with pvchat as the client (DESIGN.md section 6; RELIABILITY.md
# items 17 to 20): the seeds' transcript on each, a client with no hub,
# the end-of-file spin, stale files after kill -9, a second hub refused,
# interleaving, a vanished msgq client, and nothing left after SIGTERM.
#
# A client is a pvchat whose stdin is a FIFO the test holds open and whose
# stdout is a file; `say` writes lines and `sees` waits for a line.

load helpers
load chat

setup() {
	cd "$BATS_TEST_TMPDIR"
	HUB=
	QUEUES=()
	TREE=()
	CLIENTS=()
	declare -gA CFD=() CPID=()
	DIR=$BATS_TEST_TMPDIR/rooms
	KEY=$BATS_TEST_TMPDIR/chat.key
}

teardown() {
	local n p id tree
	for n in "${!CFD[@]}"; do eval "exec ${CFD[$n]}>&-"; done
	for p in ${CLIENTS[@]+"${CLIENTS[@]}"}; do kill_tree "$p"; done
	if [ -n "$HUB" ] && ! pid_gone "$HUB"; then
		tree=$(hub_tree "$HUB")
		# A TERM first: the hub removes its FIFOs and queue itself.
		kill -TERM "$HUB"
		wait_for 5 pid_gone "$HUB" || kill_tree "$HUB" $tree
	fi
	# Whatever a test left (a hub killed with -9): no queue of ours may
	# stay.  Only the ids our hubs made: another key may share the ftok.
	for id in ${QUEUES[@]+"${QUEUES[@]}"}; do
		ipcrm -q "$id" 2>/dev/null || true
	done
	for p in ${TREE[@]+"${TREE[@]}"}; do kill -KILL "$p" 2>/dev/null || true; done
}

# hub ARGS...: starts the hub and waits until it is ready.
hub() {
	local id
	# Emptied here, not by the child's redirection, which may come after
	# the wait below has read the last hub's "ready".
	: >hub.err
	"$PIPEVISOR" chat -v "$@" 2>hub.err 3>&- &
	HUB=$!
	wait_for 5 grep -q 'chat: ready' hub.err
	case " $* " in
	*" --msgq "*)
		id=$(key_msqid)
		[ -n "$id" ] && QUEUES+=("$id")
		;;
	esac
	return 0
}

# client NAME TARGET: starts pvchat; its lines go to NAME.out.
client() {
	local fd
	mkfifo "$1.in"
	"$PV_BIN/pvchat" "$2" < "$1.in" > "$1.out" 2> "$1.err" 3>&- &
	CPID[$1]=$!
	CLIENTS+=($!)
	exec {fd}> "$1.in"
	CFD[$1]=$fd
}

# lines_are N PATTERN FILE: FILE has exactly N lines matching PATTERN.
lines_are() {
	[ "$(grep -c -- "$2" "$3")" -eq "$1" ]
}

# transcript TARGET: the seeds' exchange between javad and ali.
transcript() {
	client javad "$1"
	say javad javad
	sees javad '+ welcome javad'
	client ali "$1"
	say ali ali
	sees ali '+ welcome ali'
	say javad 'join 1' 'join 2'
	sees javad '+ joined 2'
	say ali 'join 1' 'join 3'
	sees ali '+ joined 3'
	sees javad '* ali joined 1'
	say javad 'send 1 hello ali'
	sees javad '[1] javad: hello ali'
	sees ali '[1] javad: hello ali'
	say ali 'send 1 hi javad'
	sees ali '[1] ali: hi javad'
	sees javad '[1] ali: hi javad'
	say javad 'leave 1'
	sees javad '+ left 1'
	sees ali '* javad left 1'
	say ali 'send 1 are you there?' 'msg javad bye javad'
	sees javad '[@ali] bye javad'
	run grep -qF 'are you there?' javad.out
	assert_failure
	say javad quit
	sees javad '+ bye'
	wait "${CPID[javad]}"
	say ali quit
	sees ali '+ bye'
	wait "${CPID[ali]}"
}

@test "chat --fifo: the seeds' transcript with pvchat, and the hub stays up" {
	hub --fifo "$DIR"
	transcript "fifo:$DIR"
	# Still up: a third client is served.
	client carol "fifo:$DIR"
	say carol carol
	sees carol '+ welcome carol'
	# The private pairs were removed once open: only the lobby and lock.
	run ls -A "$DIR"
	assert_output $'lobby\nlock'
	run stat -c %a "$DIR" "$DIR/lobby"
	assert_output $'700\n600'
}

@test "chat --msgq: the seeds' transcript with pvchat, queue 0600 while up" {
	hub --msgq "$KEY"
	id=$(key_msqid)
	[ -n "$id" ]
	run ipcs -q
	assert_output --regexp "$id +[a-z0-9_]+ +600 "
	transcript "msgq:$KEY"
	client carol "msgq:$KEY"
	say carol carol
	sees carol '+ welcome carol'
}

# pvchat(1), CAVEATS: the pids in the key file and the message types mean
# nothing in another pid namespace; pvchat says so in its one line, at
# once, and the hub serves on.
@test "pvchat msgq: from another pid namespace: exit 1 at once, 'no hub is listening'" {
	command -v unshare >/dev/null || skip "unshare not installed"
	unshare --pid --fork --mount-proc true 2>/dev/null ||
	    skip "no pid namespaces here"
	hub --msgq "$KEY"
	run --separate-stderr timeout 10 unshare --pid --fork --mount-proc \
	    "$PV_BIN/pvchat" "msgq:$KEY" </dev/null
	assert_equal "$status" 1
	assert_equal "$stderr" "pvchat: msgq:$KEY: no hub is listening"
	client carol "msgq:$KEY"
	say carol carol
	sees carol '+ welcome carol'
}

@test "chat: FIFO and msgq clients share rooms with each other" {
	hub --fifo "$DIR" --msgq "$KEY"
	client f "fifo:$DIR"
	client m "msgq:$KEY"
	say f ff 'join lobby'
	sees f '+ joined lobby'
	say m mm 'join lobby'
	sees f '* mm joined lobby'
	say m 'send lobby from the queue'
	sees f '[lobby] mm: from the queue'
	say f 'send lobby from the fifo'
	sees m '[lobby] ff: from the fifo'
}

@test "pvchat: no hub on a FIFO directory or a queue path exits 1 at once (RELIABILITY 18)" {
	mkdir -m 700 "$DIR"
	run -1 timeout 2 "$PV_BIN/pvchat" "fifo:$DIR" </dev/null
	assert_output --partial "pvchat: fifo:$DIR:"
	# A lobby nobody reads (a dead hub's) is ENXIO, not a hang.
	mkfifo -m 600 "$DIR/lobby"
	run -1 timeout 2 "$PV_BIN/pvchat" "fifo:$DIR" </dev/null
	assert_output --partial "pvchat: fifo:$DIR:"
	run ls -A "$DIR"
	assert_output lobby
	: > "$KEY"
	run -1 timeout 2 "$PV_BIN/pvchat" "msgq:$KEY" </dev/null
	assert_output --partial "pvchat: msgq:$KEY:"
}

@test "chat --fifo: idle after a client left, the hub does not spin (RELIABILITY 19)" {
	hub --fifo "$DIR"
	client a "fifo:$DIR"
	say a alice
	sees a '+ welcome alice'
	hangup a
	wait "${CPID[a]}"
	wait_for 5 grep -q 'alice gone' hub.err
	before=$(cpu_ticks "$HUB")
	sleep 2
	after=$(cpu_ticks "$HUB")
	[ $((after - before)) -le 5 ]
}

@test "chat: after kill -9 a new hub takes over the stale FIFO and queue (RELIABILITY 20)" {
	hub --fifo "$DIR" --msgq "$KEY"
	old=$(key_msqid)
	# The spawner and the gateway outlive a hub killed with -9.
	TREE=($(hub_tree "$HUB"))
	kill -KILL "$HUB"
	wait_for 5 pid_gone "$HUB"
	kill -KILL "${TREE[@]}"
	[ -p "$DIR/lobby" ]
	[ -n "$(key_msqid)" ]
	hub --fifo "$DIR" --msgq "$KEY"
	new=$(key_msqid)
	[ "$new" != "$old" ]
	client f "fifo:$DIR"
	say f ff
	sees f '+ welcome ff'
	client m "msgq:$KEY"
	say m mm
	sees m '+ welcome mm'
}

@test "chat: a second hub on the same FIFO directory or queue path is refused (RELIABILITY 20)" {
	hub --fifo "$DIR" --msgq "$KEY"
	client f "fifo:$DIR"
	say f ff 'join x'
	sees f '+ joined x'
	run -1 "$PIPEVISOR" chat --fifo "$DIR"
	assert_output --partial "another hub is using it"
	run -1 "$PIPEVISOR" chat --msgq "$KEY"
	assert_output --partial "another hub is using it"
	# The first one still works, its lobby untouched.
	say f 'send x still here'
	sees f '[x] ff: still here'
	client g "fifo:$DIR"
	say g gg
	sees g '+ welcome gg'
}

@test "chat --fifo: 8 writers' checksummed lines all arrive intact (RELIABILITY 17)" {
	hub --fifo "$DIR"
	client r "fifo:$DIR"
	say r reader 'join sums'
	sees r '+ joined sums'
	for w in 1 2 3 4 5 6 7 8; do
		{
			echo "w$w"
			echo 'join sums'
			for i in $(seq 1 100); do
				body=$(printf "w$w-$i-%0400d" 0)
				echo "send sums $(printf %s "$body" | cksum | cut -d' ' -f1) $body"
			done
			echo quit
		} | "$PV_BIN/pvchat" "fifo:$DIR" > "w$w.out" &
		CLIENTS+=($!)
	done
	wait_for 30 lines_are 800 '^\[sums\] w' r.out
	bad=0
	while read -r _ _ sum body; do
		[ "$(printf %s "$body" | cksum | cut -d' ' -f1)" = "$sum" ] ||
		    bad=$((bad + 1))
	done < <(grep '^\[sums\] w' r.out)
	[ "$bad" -eq 0 ]
}

@test "chat --msgq: a client killed with SIGKILL is noticed within --idle" {
	hub --msgq "$KEY" --idle 1s
	client a "msgq:$KEY"
	say a alice 'join g'
	sees a '+ joined g'
	client b "msgq:$KEY"
	say b bob 'join g'
	sees a '* bob joined g'
	kill -KILL "${CPID[b]}"
	sees a '* bob quit'
}

@test "chat: SIGTERM tells FIFO and msgq clients, then removes every FIFO, lock and queue" {
	hub --fifo "$DIR" --msgq "$KEY"
	client f "fifo:$DIR"
	client m "msgq:$KEY"
	say f ff
	sees f '+ welcome ff'
	say m mm
	sees m '+ welcome mm'
	id=$(key_msqid)
	kill -TERM "$HUB"
	sees f '* server shutting down'
	sees m '* server shutting down'
	wait "${CPID[f]}"
	wait "${CPID[m]}"
	# Not "run wait": run's subshell cannot wait for its parent's child,
	# and gets no status if the hub exits after the subshell is forked.
	local st=0
	wait "$HUB" || st=$?
	assert_equal "$st" 0
	assert_not_exists "$DIR"
	assert_not_exists "$KEY"
	run ipcs -q
	refute_output --regexp "^0x[0-9a-f]+ +$id "
}
