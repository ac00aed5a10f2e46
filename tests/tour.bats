#!/usr/bin/env bats
# The guided tour, pipevisor(7): every scripts/demo-* runs without a
# terminal, under a timeout, and prints what proves its mechanism worked;
# none leaves a process, FIFO, temporary directory, message queue or
# shared-memory object behind, also when it is interrupted.

load helpers

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	cd "$BATS_TEST_TMPDIR"
	# The demos make their work directories here, so we can check them.
	export TMPDIR=$BATS_TEST_TMPDIR
	export CI=true
	DEMO=
}

teardown() {
	if [ -n "$DEMO" ]; then
		kill -KILL "$DEMO" 2>/dev/null || true
	fi
}

# demo NAME: runs scripts/demo-NAME as make check would, without a
# terminal and under a timeout.
demo() {
	run timeout 30 env BUILD="$PV_BUILD" sh "$ROOT/scripts/demo-$1" \
	    < /dev/null 3>&-
}

# nothing_left: no work directory and no process of a demo remains.
nothing_left() {
	local left p cwd
	left=$(find "$TMPDIR" -maxdepth 1 -name 'pv-demo-*')
	[ -z "$left" ] || { echo "left behind: $left" >&2; return 1; }
	if pgrep -f "$PV_BUILD/demos/|pv-demo-" >&2; then
		echo "demo processes left behind" >&2
		return 1
	fi
	# pvchat, and a hub with its spawner, gateway and workers (which
	# rename themselves), run in the demo's directory: this test's alone.
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd in
		"$TMPDIR"/pv-demo-*)
			echo "left behind: pid ${p#/proc/} in $cwd" >&2
			return 1
			;;
		esac
	done
	if pgrep -f '^sleep 9[1-5]$' >&2; then
		echo "demo sleeps left behind" >&2
		return 1
	fi
	if ls /dev/shm | grep 'pv-demo-' >&2; then
		echo "shared-memory objects left behind" >&2
		return 1
	fi
}

# queue_exists KEY: ipcs -q lists a queue with KEY.
queue_exists() {
	ipcs -q | awk -v k="$1" '$1 == k { f = 1 } END { exit !f }'
}

# count_matching PATTERN: how many lines of $output match the ERE.
count_matching() {
	grep -cE -- "$1" <<<"$output" || true
}

# has_line PATTERN: some line of $output matches the ERE, which may use
# back-references (GNU grep; bash's =~ has none).
has_line() {
	grep -qE -- "$1" <<<"$output" || {
		echo "no line matches: $1" >&2
		return 1
	}
}

# gate_in DIR NAME [ARMED]: writes DIR/NAME, a NAME which, the first time
# it runs (once the file ARMED exists, if given), creates NAME.called and
# waits (at most 10 s) until NAME.go exists before running the real NAME.
gate_in() {
	local real armed=
	real=$(command -v "$2")
	[ -z "${3:-}" ] || armed="[ -e \"$PWD/$3\" ] && "
	mkdir -p "$1"
	cat > "$1/$2" <<-EOF
	#!/bin/sh
	if $armed[ ! -e "$PWD/$2.called" ]; then
		: > "$PWD/$2.called"
		i=0
		while [ ! -e "$PWD/$2.go" ] && [ \$i -lt 500 ]; do
			sleep 0.02
			i=\$((i + 1))
		done
	fi
	exec "$real" "\$@"
	EOF
	chmod +x "$1/$2"
}

# demo_ended_by_term: the demo DEMO exited with the status of SIGTERM.
demo_ended_by_term() {
	local st=0
	wait "$DEMO" || st=$?
	DEMO=
	assert_equal "$st" 143
}

# shm_held [PATH]: starts demo-shm (with PATH, if given) and waits until
# it is held at its timeout gate; sets DEMO, and sup and board to its
# supervisor's pid and status board.
shm_held() {
	PATH=${1:-$PATH} BUILD=$PV_BUILD sh "$ROOT/scripts/demo-shm" \
	    > shm.out 2>&1 < /dev/null 3>&- &
	DEMO=$!
	wait_for 10 test -e timeout.called
	sup=$(sed -n 's/^supervisor pid \([0-9]*\),.*/\1/p' shm.out | head -n 1)
	board=$(sed -n 's/^\$ ls -l \(\/dev\/shm\/pipevisor-.*\)$/\1/p' shm.out)
	[ -n "$sup" ] && [ -n "$board" ]
}

# gate NAME: puts a gate_in NAME first in PATH: the demo is held right
# there, so a signal can be sent to it at a known point.
gate() {
	gate_in gate "$1"
	PATH=$PWD/gate:$PATH
}

@test "tour: the programs are built and pipevisor(7) is lint-clean" {
	local d
	for d in critical alarmsleep zombie prompt pipejoin pipecap fifo msgq \
	    shm udpecho; do
		assert_file_executable "$PV_BUILD/demos/$d"
	done
	assert_file_executable "$PV_BIN/pipevisor"
	assert_file_executable "$PV_BIN/pvchat"
	run mandoc -Tlint -Wwarning "$ROOT/man/pipevisor.7"
	assert_success
	assert_output ''
}

@test "demo-signals: caught, ignored, held off, lost wakeup, groups, zombies, SIG_IGN" {
	demo signals
	assert_success
	# Caught, ignored, default.
	if [ -x "$PV_FILTERS/sigshow" ]; then
		assert_line --regexp '^USR1 10 from pid [0-9]+ uid [0-9]+$'
		assert_line --partial 'ignored: no USR1 line'
		assert_line --partial 'default: sigshow died, exit status 138'
	fi
	# A torn record, then a whole one with SIGINT pending meanwhile.
	assert_line -- '-> the record holds: begin (no end: torn)'
	assert_line --regexp '^ShdPnd:	0000000000000002$'
	assert_line --regexp '^SigBlk:	0000000000000006$'
	assert_line -- '-> critical died of the SIGINT only now, exit status 130'
	assert_line -- '-> the record holds: begin end (whole)'
	# Temporary files on HUP.
	if [ -x "$PV_FILTERS/soak" ]; then
		assert_line -- '-> data.tmp is left over'
		assert_line --regexp '^\.data\.soak-'
		assert_line --partial 'soak died, exit status 129'
		assert_line -- '-> no temporary file; data is still: cherry apple banana '
		assert_line -- '-> data is now: apple banana cherry '
	fi
	# alarm + pause: the lost wakeup hangs until the timeout; the fix wakes.
	assert_line -- '-> exit status 124: the sleep of 200 ms never ended by itself'
	assert_line --partial 'SIGALRM is blocked, so it is pending, not lost'
	[ "$(count_matching '^alarmsleep: asked for 200 ms, woke after')" -eq 2 ]
	# Process groups.
	assert_line -- '-> the sleeps survive, reparented: nobody will stop them'
	assert_line -- '-> the whole group is gone'
	assert_line --partial 'pipevisor exit status 143 (128 + 15)'
	# Coalesced SIGCHLD: 19 zombies, then none; a zombie reaped by up.
	assert_line 'zombie: the SIGCHLD handler ran 1 time(s): standard signals do not queue'
	assert_line 'zombie: it reaped 1 with one waitpid per signal: 19 zombie(s) left'
	assert_line '19'
	assert_line 'zombie: it reaped 20 with a waitpid(WNOHANG) loop: 0 zombie(s) left'
	assert_line --regexp '^ *[0-9]+ +[0-9]+ Z +zombie$'
	assert_line -- '-> neither exists any more: the supervisor reaped both'
	# SIG_IGN survives exec through sh and run, not through up.  (Under
	# GNU make everything also inherits signals 32 and 33 ignored.)
	[ "$(count_matching '^SigIgn:	0000000[01][08]0000002$')" -eq 2 ]
	[ "$(count_matching '^SigIgn:	0000000000000000$')" -eq 1 ]
	if [ -x "$PV_FILTERS/sigshow" ]; then
		assert_line --regexp '^SigIgn: 0000000[01][08]0000002 INT'
	fi
	assert_line --regexp '^-> sleep [0-9]+ is still running: SIGTERM'
	assert_line -- '-> pipevisor up exit status 0'
	nothing_left
}

@test "demo-setjmp: pvchat's prompt back on ^C, and why only from the window" {
	local i end=0
	demo setjmp
	assert_success
	# javad's terminal: ^C discarded the half-typed line, a fresh prompt.
	assert_line '> send 1 hello wor^C'
	assert_line '> send 1 hello world'
	# Then two ^C at the empty prompt, and pvchat has left.
	for i in "${!lines[@]}"; do
		if [[ ${lines[$i]} == "-> javad's pvchat exit status"* ]]; then
			end=$i
		fi
	done
	assert_equal "${lines[$((end - 3))]}" '[1] javad: hello world'
	assert_equal "${lines[$((end - 2))]}" '> ^C'
	assert_equal "${lines[$((end - 1))]}" '> ^C'
	assert_equal "${lines[$end]}" "-> javad's pvchat exit status 0: the second ^C ended its input,"
	assert_line --regexp '^   fifo:[0-9]+ javad gone: end of file$'
	# ali, in the same group, got the line typed after ^C, not the other:
	# "[1] javad: hello world" once on javad's screen, once in ali.out.
	assert_line '* javad joined 1'
	assert_line '* javad quit'
	[ "$(count_matching '^\[1\] javad: hello world$')" -eq 2 ]
	refute_line --regexp 'javad: (send 1 )?hello wor$'
	# The jump from anywhere breaks the allocator; the window does not.
	assert_line --partial 'half-updated: its count says 8 free blocks, its list holds 7'
	assert_line -- '-> prompt exit status 1'
	assert_line '  you said "hello" (pool: 7 free, list holds 7)'
	assert_line '  (a SIGINT came meanwhile: blocked, it waits for the next read)'
	assert_line '  (^C at an empty prompt: bye)'
	# longjmp leaves SIGINT blocked for good.
	assert_line '> hello wor^C'
	assert_line '  (discarded "hello wor": back to the prompt)'
	assert_line '  you said "hello world" (pool: 7 free, list holds 7)'
	assert_line --partial 'after longjmp, SigBlk is 0000000000000002'
	assert_line '  (a SIGINT is still pending: it was never delivered)'
	nothing_left
}

@test "demo-pipes: by hand and by run, a leaked write end, capacity, SIGPIPE" {
	local i shell_fds stage_fds
	demo pipes
	assert_success
	assert_line '3'
	assert_line --regexp '^pipejoin: wc \(pid [0-9]+\): exit 0$'
	assert_line --regexp '^    2 +[0-9]+  exit 0 .*wc -l$'
	assert_line -- '-> exit status 124: wc waited for an end of file that never came'
	# fd 7 reaches the shell's command, not pipevisor's stage.
	for i in "${!lines[@]}"; do
		case ${lines[$i]} in
		'$ exec 7< /dev/null'*) shell_fds=${lines[$((i + 1))]} ;;
		'$ pipevisor run '\''find'*) stage_fds=${lines[$((i + 1))]} ;;
		esac
	done
	[[ " $shell_fds " == *" 7 "* ]]
	[[ " $stage_fds " != *" 7 "* ]]
	[[ $stage_fds == "0 1 2 "* ]]
	assert_line 'pipecap: capacity (F_GETPIPE_SZ): 65536 bytes'
	assert_line --partial 'non-blocking writes took 65536 bytes, then EAGAIN'
	assert_line 'pipecap: capacity (F_GETPIPE_SZ): 4096 bytes'
	assert_line --regexp '^ *[0-9]+ S +[a-z_]*pipe_write +yes$'
	assert_line --regexp 'signal PIPE +[0-9.]+s  yes$'
	assert_line 'yes: standard output: Broken pipe'
	assert_line --regexp '^    1 +[0-9]+  exit 1 +[0-9.]+s  yes$'
	nothing_left
}

@test "demo-fifos: rendezvous, ENXIO, the EOF spin, fanout, the chat hub" {
	local spin quiet pid i empty=
	demo fifos
	assert_success
	assert_line --regexp '^ *[0-9]+ S +wait_for_partner +cat f$'
	assert_line -- '-> cat opened, read and printed: hello'
	assert_line -- "-> exit status 124: tee never got past open()"
	assert_line 'fifo: open(O_WRONLY|O_NONBLOCK) with no reader: ENXIO (No such device or address)'
	assert_line --regexp '^fifo: open\(O_WRONLY\|O_NONBLOCK\) now that a reader exists: fd [0-9]+$'
	# Read-only: a storm of wakeups; read-write: one, for the data.
	spin=$(sed -n 's/.*poll() woke the server \([0-9]*\) times.*/\1/p' <<<"$output" | head -n 1)
	quiet=$(sed -n 's/.*poll() woke the server \([0-9]*\) times.*/\1/p' <<<"$output" | tail -n 1)
	[ "$spin" -gt 1000 ]
	[ "$quiet" -eq 1 ]
	if [ -x "$PV_FILTERS/fanout" ]; then
		assert_line -- '-> a.out holds: 1 2 3 '
	fi
	# The chat hub: a 0700 directory, its lobby and lock, 0600.
	assert_line --regexp '^drwx------ .* rooms$'
	assert_line --regexp '^prw------- .* lobby$'
	assert_line --regexp '^-rw------- .* lock$'
	# A client caught in the handshake: its pair, then a worker for it.
	pid=$(sed -n 's/^ *\([0-9]*\) S *wait_for_partner *pvchat$/\1/p' <<<"$output")
	[ -n "$pid" ]
	assert_line --regexp "^prw------- .* $pid\\.c2s$"
	assert_line --regexp "^prw------- .* $pid\\.s2c$"
	[ "$(count_matching '\.(c2s|s2c)$')" -eq 2 ]
	assert_line --regexp "^pipevisor: chat: fifo:$pid connected, worker [0-9]+$"
	# Two clients talking.
	[ "$(count_matching '^\[1\] ali: hi javad$')" -eq 2 ]
	[ "$(count_matching '^\[1\] javad: hello ali$')" -eq 2 ]
	# SIGKILL: the workers go, the lobby stays; no hang on it.
	refute_line --partial 'still running 3 s after the hub died'
	assert_line --regexp '^-> spawner and workers gone: [0-9]+( [0-9]+)+$'
	assert_line '   javad exit status 0, ali exit status 0'
	assert_line 'pvchat: fifo:rooms: no hub is listening'
	assert_line -- '-> exit status 1, at once: 124 would have meant a hang'
	# A new hub takes over; a second one is refused.
	assert_line 'pipevisor: chat: --fifo rooms: another hub is using it'
	assert_line '[1] bob: back again'
	# SIGTERM: exit 0, and ls -A rooms prints nothing.
	assert_line 'pipevisor: chat: SIGTERM: stopping 0 clients'
	for i in "${!lines[@]}"; do
		if [ "${lines[$i]}" = '$ ls -A rooms' ]; then
			empty=${lines[$((i + 1))]}
		fi
	done
	assert_equal "$empty" '-> empty: nothing is left of the hub'
	nothing_left
}

@test "demo-msgq: the hub's queue, replies by mtype = pid, the shared-type mistake, takeover, removal" {
	local key ali old new
	demo msgq
	assert_success
	key=$(sed -n "s/^-> the key, ftok(chat.key, 'p'): \(0x[0-9a-f]*\) .*/\1/p" <<<"$output")
	[ -n "$key" ]
	assert_line --regexp '^-rw------- .* chat\.key$'
	assert_line --regexp "^$key +[0-9]+ +[a-z0-9_]+ +600 "
	# Two clients on one queue, each with its own replies.
	[ "$(count_matching '^\[1\] ali: hi javad$')" -eq 2 ]
	[ "$(count_matching '^\[1\] javad: hello ali$')" -eq 2 ]
	[ "$(count_matching '^pipevisor: chat: msgq:[0-9]+ connected, worker [0-9]+$')" -eq 2 ]
	# strace shows the types, if it is installed and may trace.
	if [[ $output == *'ali runs under strace(1)'* ]]; then
		ali=$(sed -n 's/^-> ali is pid \([0-9]*\): .*/\1/p' <<<"$output")
		[ -n "$ali" ]
		assert_line --regexp "^pipevisor: chat: msgq:$ali connected, worker [0-9]+$"
		assert_line --regexp '^msgsnd\([0-9]+, \{mtype=1, mtext=""\.\.\.\}, [0-9]+, IPC_NOWAIT\) = 0$'
		assert_line --regexp "^msgrcv\\([0-9]+, \\{mtype=$ali, mtext=\"\"\\.\\.\\.\\}, [0-9]+, $ali, MSG_NOERROR\\) = [0-9]+$"
	fi
	# One reply type for all: D gets C's answer.
	assert_line --regexp '^msgq: client [0-9]+ asked "from D", got mtype 2: REPLY TO [0-9]+: FROM C$'
	# SIGKILL leaves the queue; pvchat fails at once; a new hub replaces
	# it; a second hub is refused.
	assert_line 'pvchat: msgq:chat.key: no hub is listening'
	old=$(sed -n "s/^-> the dead hub's msqid \([0-9]*\) is gone; .*/\1/p" <<<"$output")
	new=$(sed -n "s/^-> the dead hub's msqid [0-9]* is gone; the new hub's is \([0-9]*\)$/\1/p" <<<"$output")
	[ -n "$old" ] && [ -n "$new" ] && [ "$old" != "$new" ]
	assert_line 'pipevisor: chat: --msgq chat.key: another hub is using it'
	# SIGTERM: the queue and the key file removed.
	assert_line 'pipevisor: chat: SIGTERM: stopping 0 clients'
	assert_line -- '-> the queue is gone, and chat.key with it'
	run queue_exists "$key"
	assert_failure
	nothing_left
}

@test "demo-shm: writer and reader, lost updates, the status board" {
	local board
	demo shm
	assert_success
	assert_line --regexp '^shm: reader got "entry 1 from pid [0-9]+"$'
	assert_line --regexp '^shm: reader got "entry 4 from pid [0-9]+"$'
	assert_line 'shm: reader saw "end" after 4 entries'
	assert_line --regexp '^shm: writer removed /dev/shm/pv-demo-[0-9]+-list$'
	assert_line 'shm: semaphore as a lock: 2 processes x 2000 increments = 4000 (0 lost)'
	assert_line --regexp '^shm: no lock: 2 processes x 2000 increments = [0-9]+ \([0-9]+ lost\)$'
	assert_line --regexp '^ticker +ready +[0-9]+ '
	assert_line --regexp '^flaky +fatal +- +- +2 +exit 3$'
	assert_line --regexp '^-rw------- .* /dev/shm/pipevisor-[0-9]+-up-[0-9a-f]+$'
	assert_line --partial '"name":"flaky","state":"fatal"'
	assert_line --partial 'ctl gave up after 1 s (status 124)'
	assert_line --regexp '^supervisor gone \(stale board\), was pid [0-9]+$'
	assert_line --partial 'exit status 3; the board is still there'
	assert_line -- '-> pipevisor up exit status 0'
	board=$(sed -n 's/^\$ ls -l \(\/dev\/shm\/pipevisor-.*\)$/\1/p' <<<"$output")
	[ -n "$board" ]
	assert_file_not_exists "$board"
	nothing_left
}

@test "demo-sockets: TCP echo, --max, a web pipeline, UDP echo, unix sockets" {
	demo sockets
	assert_success
	assert_line 'hello'
	assert_line 'hello again'
	[ "$(count_matching '^pipevisor: serve: done 127\.0\.0\.1:[0-9]+ status 0$')" -ge 2 ]
	assert_line 'pipevisor: too many connections'
	assert_line 'HTTP/1.0 200 OK'
	assert_line 'you asked for /tour'
	assert_line 'you asked for /\033[2Jtour'
	assert_line 'udpecho: client got datagram 3: "three" (5 bytes)'
	assert_line 'hi'
	assert_line --regexp '^udpecho: client: ECONNREFUSED: nobody listens on 127\.0\.0\.1:[0-9]+'
	assert_line 'SHOUT'
	assert_line 'NEW SERVER'
	assert_line --partial 'sock: Address already in use'
	assert_line -- '-> serve exit status 0, and it removed its socket'
	nothing_left
}

@test "tour: the whole tour leaves no queue, shared memory, FIFO or process" {
	local d before_q after_q before_shm after_shm new
	before_q=$(ipcs -q | awk '$1 ~ /^0x/ { print $1 }' | sort)
	before_shm=$(ls /dev/shm | sort)
	for d in signals setjmp pipes fifos msgq shm sockets; do
		demo "$d"
		assert_success
	done
	after_q=$(ipcs -q | awk '$1 ~ /^0x/ { print $1 }' | sort)
	after_shm=$(ls /dev/shm | sort)
	new=$(comm -13 <(echo "$before_q") <(echo "$after_q"))
	[ -z "$new" ] || { echo "new queues: $new" >&2; return 1; }
	new=$(comm -13 <(echo "$before_shm") <(echo "$after_shm"))
	[ -z "$new" ] || { echo "new in /dev/shm: $new" >&2; return 1; }
	nothing_left
}

@test "tour: an interrupted demo-msgq still removes its queue" {
	local key
	# Hold the demo at its first ipcs, right after its hub started.
	gate ipcs
	BUILD=$PV_BUILD sh "$ROOT/scripts/demo-msgq" > msgq.out 2>&1 \
	    < /dev/null 3>&- &
	DEMO=$!
	wait_for 10 test -e ipcs.called
	key=$(sed -n "s/^-> the key, ftok(chat.key, 'p'): \(0x[0-9a-f]*\) .*/\1/p" msgq.out)
	[ -n "$key" ]
	queue_exists "$key"
	kill -TERM "$DEMO"
	: > ipcs.go
	demo_ended_by_term
	run queue_exists "$key"
	assert_failure
	nothing_left
}

@test "tour: an interrupted demo-shm thaws and stops its supervisor, board removed" {
	local sup board
	# Hold the demo while its supervisor is frozen by SIGSTOP.
	gate timeout
	shm_held
	assert_file_exists "$board"
	kill -TERM "$DEMO"
	: > timeout.go
	demo_ended_by_term
	pid_gone "$sup"
	assert_file_not_exists "$board"
	nothing_left
}

# A second signal while the demo cleans up after the first must not cut
# the cleanup short.  The demo is held as above, then again in its cleanup
# at the date(1) of its wait for the supervisor to stop (a gate armed only
# once the first TERM is on its way), where the second TERM arrives.
@test "tour: a second TERM during demo-shm's cleanup does not cut it short" {
	local sup board
	gate timeout
	# In the demo's PATH only: the test's own helpers call date too.
	gate_in demo-gate date armed
	shm_held "$PWD/demo-gate:$PATH"
	: > armed
	kill -TERM "$DEMO"
	: > timeout.go
	wait_for 10 test -e date.called
	kill -TERM "$DEMO"
	: > date.go
	demo_ended_by_term
	pid_gone "$sup"
	assert_file_not_exists "$board"
	nothing_left
}

@test "tour: an interrupted demo-setjmp ends its hub, pvchat and script" {
	# Hold the demo at its first cat: javad's pvchat has just started in
	# script's pseudo-terminal, and ali is in the hub.
	gate cat
	BUILD=$PV_BUILD sh "$ROOT/scripts/demo-setjmp" > setjmp.out 2>&1 \
	    < /dev/null 3>&- &
	DEMO=$!
	wait_for 10 test -e cat.called
	kill -TERM "$DEMO"
	: > cat.go
	demo_ended_by_term
	nothing_left
}

@test "tour: an interrupted demo-fifos ends its frozen hub" {
	local real hub
	# Hold the demo at the ps that shows pvchat in the handshake, while
	# its hub is stopped by SIGSTOP.
	real=$(command -v ps)
	mkdir -p gate
	cat > gate/ps <<-EOF
	#!/bin/sh
	case "\$*" in
	*comm*)
		: > "$PWD/ps.called"
		i=0
		while [ ! -e "$PWD/ps.go" ] && [ \$i -lt 500 ]; do
			sleep 0.02
			i=\$((i + 1))
		done
		;;
	esac
	exec "$real" "\$@"
	EOF
	chmod +x gate/ps
	PATH=$PWD/gate:$PATH
	BUILD=$PV_BUILD sh "$ROOT/scripts/demo-fifos" > fifos.out 2>&1 \
	    < /dev/null 3>&- &
	DEMO=$!
	wait_for 10 test -e ps.called
	hub=$(sed -n 's/^\$ kill -STOP \([0-9]*\)$/\1/p' fifos.out)
	[ -n "$hub" ]
	[[ $(ps -o stat= -p "$hub") == T* ]]
	kill -TERM "$DEMO"
	: > ps.go
	demo_ended_by_term
	pid_gone "$hub"
	nothing_left
}
