#!/usr/bin/env bats
# pipevisor up and ctl: supervision, control, teardown (DESIGN.md section 4,
# 7, 8; RELIABILITY.md items 1, 3, 8-11, 13, 20-26, 28).
#
# No zombie ever: while each test runs, zombie_watch looks at the children
# of the test's supervisor every 50 ms and fails the test (in teardown) if
# one stays a zombie for a whole second; teardown also wants every zombie
# child of a supervisor still running gone.  A zombie for an instant, a
# stage between its exit and its reaping, is normal.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PIPEVISOR_RUNDIR=$BATS_TEST_TMPDIR/run
	MARK=$((1000 + RANDOM % 8000)).$BATS_TEST_NUMBER$$
	SUP=
	PV_EXE=$(readlink -f "$PV_BIN/pipevisor")
	zombie_watch "$BATS_TEST_TMPDIR" 3>&- &
	ZWATCH=$!
}

teardown() {
	local zombies_left=0
	if [ -n "$SUP" ] && kill -0 "$SUP" 2>/dev/null; then
		wait_for 2 no_zombie_child "$SUP" || zombies_left=1
		kill -TERM "$SUP" 2>/dev/null || true
		wait_for 10 pid_gone "$SUP" || kill -KILL "$SUP" 2>/dev/null
	fi
	pkill -KILL -f "$MARK" 2>/dev/null || true
	touch "$BATS_TEST_TMPDIR/zombie-watch.stop"
	wait_for 5 pid_gone "$ZWATCH" || kill "$ZWATCH" 2>/dev/null
	wait "$ZWATCH" 2>/dev/null || true
	if [ "$zombies_left" -ne 0 ]; then
		echo "teardown: supervisor $SUP still has a zombie child" >&2
		return 1
	fi
	if [ -s "$BATS_TEST_TMPDIR/zombies.txt" ]; then
		cat "$BATS_TEST_TMPDIR/zombies.txt" >&2
		return 1
	fi
}

# no_zombie_child PID: PID has no child in state Z.
no_zombie_child() {
	[ "$(zombies_of "$1")" -eq 0 ]
}

# zombie_watch DIR: until DIR/zombie-watch.stop appears, every 50 ms reads
# the children of the supervisor that DIR/run/up.pid names (when it is
# the pipevisor under test: not, say, a pid of another namespace) and
# appends to DIR/zombies.txt any child that has been a zombie for 1 s.
# Shell builtins and /proc only in the loop: it must not load the machine.
zombie_watch() {
	local dir=$1 sup="" ours=0 pid kids k stat now tick
	local -A since seen
	mkfifo "$dir/zombie-watch.tick"
	exec {tick}<>"$dir/zombie-watch.tick"
	while [ ! -e "$dir/zombie-watch.stop" ]; do
		pid=
		read -r pid 2>/dev/null < "$dir/run/up.pid" || :
		if [ -n "$pid" ] && [ "$pid" != "$sup" ]; then
			sup=$pid
			ours=0
			[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$PV_EXE" ] ||
			    ours=1
			since=()
		fi
		if [ "$ours" -eq 1 ]; then
			kids=
			read -r kids 2>/dev/null < "/proc/$sup/task/$sup/children" ||
			    :
			now=${EPOCHREALTIME/./}
			seen=()
			for k in $kids; do
				stat=
				read -r stat 2>/dev/null < "/proc/$k/stat" || continue
				# The state follows the command name in parentheses.
				stat=${stat##*) }
				[ "${stat%% *}" = Z ] || continue
				seen[$k]=1
				: "${since[$k]:=$now}"
				if [ $((now - since[$k])) -ge 1000000 ]; then
					echo "zombie_watch: $k, child of supervisor" \
					    "$sup, a zombie for 1 s" >> "$dir/zombies.txt"
					since[$k]=$((now + 3600000000))
				fi
			done
			for k in "${!since[@]}"; do
				[ -n "${seen[$k]:-}" ] || unset "since[$k]"
			done
		fi
		read -r -t 0.05 -u "$tick" _ || :
	done
	exec {tick}<&-
}

# start_up [ARGS...]: start a supervisor on ./pipevisor.conf in the
# background and wait until its control socket answers.
start_up() {
	"$PIPEVISOR" up "$@" > up.log 2>&1 3>&- &
	SUP=$!
	wait_for 10 "$PIPEVISOR" ctl status >/dev/null
}

# state_of NAME: the service's state as ctl reports it.
state_of() {
	"$PIPEVISOR" ctl status "$1" | awk 'NR == 3 { print $2 }'
}

# is_state NAME STATE: for wait_for.
is_state() {
	[ "$(state_of "$1")" = "$2" ]
}

# pid_of NAME: the pid of the service's first stage.
pid_of() {
	"$PIPEVISOR" ctl status "$1" | awk 'NR == 3 { print $3 }'
}

no_mark_left() {
	! pgrep -f "$MARK" >/dev/null
}

# count_sleeps N: exactly N "sleep $MARK" processes run (not counting
# shells whose command line merely mentions it).
count_sleeps() {
	[ "$(pgrep -fc "^sleep $MARK")" -eq "$1" ]
}

# no_child_matching PID PATTERN: PID has no child whose command matches.
no_child_matching() {
	! pgrep -P "$1" -f "$2" >/dev/null
}

# shm_list: the shared-memory objects of this user.
shm_list() {
	ls /dev/shm | grep "^pipevisor-$(id -u)-" || true
}

@test "up: a configuration error names FILE:LINE, exits 2, starts nothing" {
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sleep $MARK
	restart = sometimes
	EOF
	run --separate-stderr "$PIPEVISOR" up
	assert_equal "$status" 2
	[[ $stderr == "pipevisor: pipevisor.conf:3: "* ]]
	no_mark_left
	assert_file_not_exists run/ctl
}

@test "up: -n checks the configuration without starting anything" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	run "$PIPEVISOR" up -n
	assert_success
	assert_output "pipevisor.conf: 1 services, configuration OK"
	no_mark_left
	run "$PIPEVISOR" up -f missing.conf
	assert_equal "$status" 2
}

@test "up: services start, ctl status shows them, TERM stops all and cleans up" {
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sleep $MARK
	[service b]
	command = sh -c 'sleep $MARK | cat'
	EOF
	local shm_before
	shm_before=$(shm_list)
	start_up
	wait_for 5 is_state a ready
	wait_for 5 is_state b ready
	run "$PIPEVISOR" ctl status
	assert_success
	assert_line --index 0 "supervisor pid $SUP"
	assert_line --regexp '^a +ready +[0-9]+ '
	[ "$(shm_list)" != "$shm_before" ]
	kill -TERM "$SUP"
	run wait_for 10 pid_gone "$SUP"
	assert_success
	wait_for 2 no_mark_left
	assert_file_not_exists run/ctl
	assert_file_not_exists run/up.pid
	assert_equal "$(shm_list)" "$shm_before"
}

@test "ctl: stop returns once the service is gone; start and restart" {
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sleep $MARK
	EOF
	start_up
	wait_for 5 is_state a ready
	local old
	old=$(pid_of a)
	run "$PIPEVISOR" ctl stop a
	assert_success
	assert_equal "$(state_of a)" stopped
	pid_gone "$old"
	run "$PIPEVISOR" ctl start a
	assert_success
	assert_equal "$(state_of a)" ready
	old=$(pid_of a)
	run "$PIPEVISOR" ctl restart a
	assert_success
	assert_equal "$(state_of a)" ready
	[ "$(pid_of a)" != "$old" ]
}

@test "ctl: errors name the problem; no supervisor is status 3" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	run --separate-stderr "$PIPEVISOR" ctl status
	assert_equal "$status" 3
	[[ $stderr == "pipevisor: ctl: no supervisor is running ("*")" ]]
	start_up
	run --separate-stderr "$PIPEVISOR" ctl stop nosuch
	assert_equal "$status" 1
	assert_equal "$stderr" "pipevisor: ctl: no service 'nosuch'"
	run --separate-stderr "$PIPEVISOR" ctl frob
	assert_equal "$status" 2
	run --separate-stderr "$PIPEVISOR" ctl signal NOPE a
	assert_equal "$status" 1
	run --separate-stderr "$PIPEVISOR" ctl
	assert_equal "$status" 2
}

@test "ctl: signal reaches the service's process group" {
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sh -c 'trap "echo got-usr1 > usr1.txt" USR1; while :; do sleep 0.05; done # $MARK'
	EOF
	start_up
	wait_for 5 is_state a ready
	sleep 0.2 # the trap is set once sh runs
	run "$PIPEVISOR" ctl signal USR1 a
	assert_success
	wait_for 5 test -e usr1.txt
}

# ids PID: "PGID SID TTY" of process PID, as ps gives them.
ids() {
	ps -o pgid=,sid=,tty= -p "$1" | awk '{ print $1, $2, $3 }'
}

@test "sessions: a program leads its own session, a pipeline one group" {
	cat > pipevisor.conf <<-EOF
	[service solo]
	command = sleep $MARK
	[service pair]
	command = sleep $MARK | cat
	EOF
	start_up
	wait_for 5 count_sleeps 2
	local solo pair up_sid n
	solo=$(pid_of solo)
	pair=$(pid_of pair)
	up_sid=$(ps -o sid= -p "$SUP" | tr -d ' ')
	# Its own group and session, and no controlling terminal.
	run ids "$solo"
	assert_output "$solo $solo ?"
	# The pipeline: one group led by its first stage, in up's session.
	run ids "$pair"
	assert_output --regexp "^$pair $up_sid "
	n=$(ps -e -o pgid=,comm= | awk -v g="$pair" '$1 == g' | wc -l)
	[ "$n" -eq 2 ]
	# Either way, ctl stop ends the whole group.
	run "$PIPEVISOR" ctl stop solo pair
	assert_success
	wait_for 5 no_mark_left
	[ -z "$(ps -e -o pgid= | awk -v a="$solo" -v b="$pair" \
	    '$1 == a || $1 == b')" ]
}

@test "ctl: --json status for scripts" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	start_up
	wait_for 5 is_state a ready
	run "$PIPEVISOR" ctl --json status a
	assert_success
	assert_output --regexp '"name":"a","state":"ready","pid":[0-9]+'
}

@test "restart: a crash loop is bounded by the backoff (RELIABILITY 24)" {
	cat > pipevisor.conf <<-EOF
	[service crash]
	command = sh -c 'echo run >> runs.txt; exit 1'
	backoff = 100ms
	backoff_factor = 2
	backoff_max = 2s
	EOF
	start_up
	sleep 2.5 # the measurement window itself
	local runs
	runs=$(wc -l < runs.txt)
	# 0, .1, .3, .7, 1.5 s: at most 6 runs in 2.5 s, never a storm.
	[ "$runs" -ge 3 ] && [ "$runs" -le 6 ]
	# stop is honoured at once during backoff
	wait_for 5 is_state crash backoff
	run timeout 2 "$PIPEVISOR" ctl stop crash
	assert_success
	assert_equal "$(state_of crash)" stopped
}

@test "restart: with backoff 0 a crashed service is back at once" {
	cat > pipevisor.conf <<-EOF
	[service crash]
	command = sh -c 'echo run >> runs.txt; exit 1'
	backoff = 0
	backoff_max = 0
	give_up = 200 in 60s
	EOF
	start_up
	wait_for 10 is_state crash fatal
	assert_equal "$(wc -l < runs.txt)" 200
	run "$PIPEVISOR" ctl status crash
	assert_output --regexp 'crash +fatal +- +- +199 +exit 1'
}

@test "restart: on-failure and never policies, give_up makes it fatal" {
	cat > pipevisor.conf <<-EOF
	[service ok]
	command = true
	restart = on-failure
	[service once]
	command = sh -c 'exit 4'
	restart = never
	[service flaky]
	command = sh -c 'exit 2'
	restart = on-failure
	backoff = 10ms
	give_up = 3 in 10s
	EOF
	start_up
	wait_for 5 is_state ok exited
	wait_for 5 is_state once exited
	wait_for 5 is_state flaky fatal
	run "$PIPEVISOR" ctl status
	assert_line --regexp '^once +exited .* exit 4$'
	assert_line --regexp '^flaky +fatal .* exit 2$'
}

@test "stop: SIGKILL to the group after stop_timeout (RELIABILITY 26)" {
	cat > pipevisor.conf <<-EOF
	[service stubborn]
	command = sh -c 'trap "" TERM; sleep $MARK & wait; wait'
	stop_timeout = 500ms
	EOF
	start_up
	wait_for 5 is_state stubborn ready
	wait_for 5 pgrep -f "sleep $MARK"
	local start end
	start=$(date +%s%N)
	run "$PIPEVISOR" ctl stop stubborn
	end=$(date +%s%N)
	assert_success
	# within stop_timeout + 1 s
	[ $(((end - start) / 1000000)) -lt 1500 ]
	no_mark_left
	grep -q "stubborn: still running" up.log
}

@test "stop: grandchildren in the service's group die too (RELIABILITY 21)" {
	cat > pipevisor.conf <<-EOF
	[service tree]
	command = sh -c 'sleep $MARK & sleep $MARK & wait'
	EOF
	start_up
	wait_for 5 count_sleeps 2
	run "$PIPEVISOR" ctl stop tree
	assert_success
	wait_for 2 no_mark_left
}

@test "signals: services start with no ignored or blocked signal (item 8)" {
	cat > pipevisor.conf <<-EOF
	[service probe]
	command = sh -c 'grep -E "^Sig(Ign|Blk)" /proc/self/status > sig.txt; sleep $MARK'
	EOF
	"$PV_TESTBIN/sigstate" -i PIPE -i USR1 -b ALRM -b USR2 -- \
	    "$PIPEVISOR" up > up.log 2>&1 3>&- &
	SUP=$!
	wait_for 10 test -s sig.txt
	run cat sig.txt
	assert_line "SigIgn:	0000000000000000"
	assert_line "SigBlk:	0000000000000000"
}

@test "signals: with SIGCHLD ignored at start, exit statuses are kept (item 9)" {
	cat > pipevisor.conf <<-EOF
	[service three]
	command = sh -c 'exit 3'
	restart = never
	EOF
	"$PV_TESTBIN/sigstate" -i CHLD -- "$PIPEVISOR" up > up.log 2>&1 3>&- &
	SUP=$!
	wait_for 10 is_state three exited
	run "$PIPEVISOR" ctl status three
	assert_line --regexp '^three +exited .* exit 3$'
}

@test "signals: STOP and CONT of a service cause no restart (item 10)" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	start_up
	wait_for 5 is_state a ready
	local pid
	pid=$(pid_of a)
	kill -STOP "$pid"
	sleep 0.3 # give a wrong reaction the time to show
	kill -CONT "$pid"
	sleep 0.3
	assert_equal "$(pid_of a)" "$pid"
	assert_equal "$(state_of a)" ready
	! grep -q "exited" up.log
}

@test "status: a service killed by SIGKILL shows signal KILL (item 11)" {
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sleep $MARK
	restart = never
	EOF
	start_up
	wait_for 5 is_state a ready
	kill -KILL "$(pid_of a)"
	wait_for 5 is_state a exited
	run "$PIPEVISOR" ctl status a
	assert_line --regexp '^a +exited .* signal KILL$'
}

@test "fds: a service sees only 0, 1 and 2 (item 13)" {
	cat > pipevisor.conf <<-EOF
	[service fds]
	command = $PV_TESTBIN/fdlist
	restart = never
	stdout = fds.txt
	EOF
	exec 7</dev/null
	start_up
	exec 7<&-
	wait_for 5 is_state fds exited
	wait_for 5 test -s fds.txt
	assert_equal "$(tr '\n' ' ' < fds.txt)" "0 1 2 "
}

@test "fds: the supervisor's fd count after 1000 restarts is that after 1" {
	# Exits 1 until its run number reaches the one in ./limit, then 0:
	# restart = on-failure stops there, in state exited.  Shell builtins
	# only, so with backoff 0 a restart costs one fork and exec.
	cat > pipevisor.conf <<-EOF
	[service crash]
	command = sh -c 'read n < count; n=\$((n + 1)); echo \$n > count; read limit < limit; [ \$n -lt \$limit ] || exit 0; exit 1'
	restart = on-failure
	backoff = 0
	backoff_max = 0
	EOF
	echo 0 > count
	echo 2 > limit
	start_up
	wait_for 10 is_state crash exited
	assert_equal "$(cat count)" 2
	run "$PIPEVISOR" ctl status crash
	assert_line --regexp '^crash +exited .* 1 +exit 0$'
	local after1
	after1=$(ls /proc/"$SUP"/fd | wc -l)
	# Runs 3 to 1002: 999 more restarts after the start, 1000 in all,
	# compared in the same state.
	echo 1002 > limit
	run "$PIPEVISOR" ctl start crash
	wait_for 120 is_state crash exited
	assert_equal "$(cat count)" 1002
	run "$PIPEVISOR" ctl status crash
	assert_line --regexp '^crash +exited .* 1000 +exit 0$'
	assert_equal "$(ls /proc/"$SUP"/fd | wc -l)" "$after1"
	assert_equal "$(zombies_of "$SUP")" 0
}

# True once PID has exec'd the pipevisor binary (not bash's child, which
# may swallow a TERM in its own handler before exec, nor a wrapper).
is_pipevisor() {
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$PV_EXE" ]
}

# term_up [DELAY]: starts pipevisor up on ./pipevisor.conf, sends it TERM
# once it is pipevisor and DELAY seconds have passed (at once without
# DELAY: still in its start-up), and fails unless it is gone within 10 s
# with status 0 (143 if TERM came before its handlers, when it had
# started nothing) and none of the test's processes is left.
term_up() {
	local pid st=0
	"$PIPEVISOR" up > up.log 2>&1 3>&- &
	pid=$!
	SUP=$pid
	wait_for 5 is_pipevisor "$pid"
	[ -z "${1:-}" ] || sleep "$1"
	kill -TERM "$pid"
	# Generous: a lost TERM would hang until the teardown.
	gone_after_term 10 "$pid"
	wait "$pid" || st=$?
	if [ "$st" -ne 0 ] && [ "$st" -ne 143 ]; then
		echo "up exited $st after TERM${1:+ at $1 s}" >&2
		cat up.log >&2
		return 1
	fi
	SUP=
	wait_for 10 no_mark_left || {
		echo "left after TERM${1:+ at $1 s}:" >&2
		ps -eo pid,ppid,pgid,sid,stat,lstart,args | grep -- "$MARK" >&2
		cat up.log >&2
		return 1
	}
}

@test "signals: TERM at any moment of up's start-up is never lost (item 25)" {
	cat > pipevisor.conf <<-EOF
	[service pipe]
	command = sleep $MARK | cat
	[service escape]
	command = sh -c 'setsid sleep $MARK & exec sleep $MARK'
	EOF
	local i ms
	# The delay swept from 0 to 50 ms, each step twice; every third run
	# gets TERM as soon as pipevisor runs, still in its start-up.
	for i in $(seq 0 101); do
		ms=$((i % 51))
		if [ $((i % 3)) -eq 0 ]; then
			term_up
		else
			term_up "$(printf '0.%03d' "$ms")"
		fi
	done
}

@test "signals: TERM to up after a random 0-50 ms is never lost (item 3)" {
	# TERM lands anywhere in a restart cycle: exit, backoff, spawn.
	cat > pipevisor.conf <<-EOF
	[service crash]
	command = sh -c 'exit 1'
	backoff = 0
	backoff_max = 0
	[service steady]
	command = sh -c 'sleep $MARK & wait'
	EOF
	local i
	for i in $(seq 1 100); do
		term_up "$(printf '0.%03d' $((RANDOM % 51)))"
	done
}

@test "output: log lines carry NAME[pid]: and files get the bytes" {
	cat > pipevisor.conf <<-EOF
	[service talker]
	command = sh -c 'echo out-line; echo err-line >&2; sleep $MARK'
	[service filed]
	command = sh -c 'echo to-file; sleep $MARK'
	stdout = out.txt
	EOF
	start_up
	wait_for 5 grep -q "err-line" up.log
	wait_for 5 grep -q "to-file" out.txt
	assert grep -Eq '^talker\[[0-9]+\]: out-line$' up.log
	assert grep -Eq '^talker\[[0-9]+\]: err-line$' up.log
	! grep -q to-file up.log
}

@test "output: stderr = stdout goes where stdout goes, null included" {
	cat > pipevisor.conf <<-EOF
	[service quiet]
	command = sh -c 'echo quiet-out; echo quiet-err >&2; touch quiet.done; sleep $MARK'
	stdout = null
	stderr = stdout
	[service both]
	command = sh -c 'echo both-out; echo both-err >&2; sleep $MARK'
	stdout = both.txt
	stderr = stdout
	EOF
	start_up
	wait_for 5 test -e quiet.done
	wait_for 5 grep -q both-err both.txt
	grep -q both-out both.txt
	# up.log is the supervisor's own stderr: nothing of quiet's there.
	run grep -c quiet- up.log
	assert_output 0
}

@test "readiness: ready=fd and after= order the start-up" {
	cat > pipevisor.conf <<-EOF
	[service db]
	command = sh -c 'sleep 0.3; echo > /dev/fd/3; exec sleep $MARK'
	ready = fd
	[service app]
	command = sh -c 'date +%s%N > app.started; exec sleep $MARK'
	after = db
	EOF
	start_up
	wait_for 5 is_state app ready
	assert_equal "$(state_of db)" ready
	# app was started only after db became ready
	run "$PIPEVISOR" ctl status
	assert_success
	! grep -q "app.*starting" up.log
}

@test "reload: only the changed service restarts" {
	cat > pipevisor.conf <<-EOF
	[service keep]
	command = sleep $MARK
	[service change]
	command = sleep $MARK
	EOF
	start_up
	wait_for 5 is_state keep ready
	wait_for 5 is_state change ready
	local keep change
	keep=$(pid_of keep)
	change=$(pid_of change)
	cat > pipevisor.conf <<-EOF
	[service keep]
	command = sleep $MARK
	[service change]
	command = sleep $MARK
	stop_timeout = 2s
	[service added]
	command = sleep $MARK
	EOF
	run "$PIPEVISOR" ctl reload
	assert_success
	wait_for 5 is_state added ready
	wait_for 5 is_state change ready
	assert_equal "$(pid_of keep)" "$keep"
	[ "$(pid_of change)" != "$change" ]
	# and SIGHUP does the same; a bad file keeps the old configuration
	echo "garbage" >> pipevisor.conf
	kill -HUP "$SUP"
	wait_for 5 grep -q "reload failed" up.log
	assert_equal "$(state_of keep)" ready
}

@test "pidfile: a second supervisor on the same rundir is refused (item 20)" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	start_up
	run --separate-stderr "$PIPEVISOR" up
	assert_equal "$status" 1
	[[ $stderr == *"already running in $PIPEVISOR_RUNDIR (pid $SUP)" ]]
	assert_equal "$(state_of a)" ready
}

@test "pidfile: after kill -9 the next start cleans up and works (item 20)" {
	printf '[service a]\ncommand = sleep %s\n' "$MARK" > pipevisor.conf
	start_up
	wait_for 5 is_state a ready
	kill -KILL "$SUP"
	wait_for 5 pid_gone "$SUP"
	pkill -KILL -f "sleep $MARK" || true
	[ -S run/ctl ]	# the dead one's socket is still there
	start_up
	wait_for 5 is_state a ready
}

@test "reaping: orphans given to a subreaper are reaped (items 1, 28)" {
	cat > pipevisor.conf <<-EOF
	[supervisor]
	subreaper = yes
	[service forker]
	command = sh -c 'for i in \$(seq 20); do (sleep 0.2 &) ; done; exec sleep $MARK'
	EOF
	start_up
	wait_for 5 is_state forker ready
	# the 20 double-forked sleeps are reparented to us, then exit
	wait_for 5 no_child_matching "$SUP" 'sleep 0\.2' 
	assert_equal "$(zombies_of "$SUP")" 0
}

@test "pid 1: in a new pid namespace TERM gives a clean exit (item 28)" {
	command -v unshare >/dev/null || skip "unshare not installed"
	# A tracer (tests/eintr-compare) cannot follow pid 1 of a namespace.
	[ -z "${PV_PIPEVISOR:-}" ] || skip "pipevisor runs under a wrapper"
	unshare --pid --fork --mount-proc true 2>/dev/null ||
	    skip "no permission for pid namespaces"
	cat > pipevisor.conf <<-EOF
	[service a]
	command = sh -c '(sleep 0.1 &); exec sleep $MARK'
	EOF
	unshare --pid --fork --mount-proc --kill-child \
	    "$PIPEVISOR" up > up.log 2>&1 3>&- &
	local outer=$!
	wait_for 10 pgrep -f "sleep $MARK"
	local sup
	# setproctitle renames it: the namespace's pid 1 is unshare's child.
	sup=$(pgrep -P "$outer")
	[ -n "$sup" ]
	kill -TERM "$sup"
	run wait_for 10 pid_gone "$outer"
	assert_success
	no_mark_left
	grep -q "stopped" up.log
}

@test "user: as root, a service runs as its user with that user's groups" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	chmod 777 "$BATS_TEST_TMPDIR"
	cat > pipevisor.conf <<-EOF
	[service drop]
	command = sh -c 'id -u > ids.txt; id -g >> ids.txt; sleep $MARK'
	user = nobody
	[service grp]
	command = sh -c 'id -g > gid.txt; sleep $MARK'
	user = nobody
	group = daemon
	[service ghost]
	command = true
	user = no-such-user-$$
	EOF
	start_up
	wait_for 5 test -s ids.txt
	wait_for 5 test -s gid.txt
	assert_equal "$(sed -n 1p ids.txt)" "$(id -u nobody)"
	assert_equal "$(sed -n 2p ids.txt)" "$(id -g nobody)"
	assert_equal "$(cat gid.txt)" "$(getent group daemon | cut -d: -f3)"
	wait_for 5 is_state ghost fatal
	grep -q "ghost: no user 'no-such-user-$$'" up.log
}

@test "stop: even a setsid grandchild is gone after stop (RELIABILITY 21)" {
	cat > pipevisor.conf <<-EOF
	[service escape]
	command = sh -c 'setsid sleep $MARK & sleep $MARK & wait'
	EOF
	start_up
	wait_for 5 count_sleeps 2
	run "$PIPEVISOR" ctl stop escape
	assert_success
	wait_for 2 no_mark_left
	# the setsid one, and maybe the other if TERM had not ended it yet
	grep -Eq "escape: killed [12] processes left behind" up.log
}

# A leftover whose environment reads empty when its service exits is one
# in the middle of execve(2): its service looks at it again until it can
# tell.  Here an empty environment stands for the exec until the test
# lets the leftover exec with the markers, just after the stop (straight
# from empty to marked, as an exec goes: no program in between).
@test "stop: a leftover caught in exec is looked at again and killed" {
	cat > pipevisor.conf <<-EOF
	[service escape]
	command = sh -c 'm=\$PIPEVISOR_SUPERVISOR; env -i /usr/bin/setsid /bin/sh -c "echo \\\$\\\$ > $PWD/left.pid; while [ ! -e $PWD/go ]; do sleep 0.001; done; export PIPEVISOR_SERVICE=escape PIPEVISOR_SUPERVISOR=\$m; exec sleep $MARK" & exec sleep $MARK'
	EOF
	start_up
	wait_for 5 test -s left.pid
	wait_for 5 count_sleeps 1
	run "$PIPEVISOR" ctl stop escape
	assert_success
	touch go
	wait_for 5 no_mark_left
	run kill -0 "$(cat left.pid)"
	assert_failure
	grep -q "escape: killed 1 processes left behind .*(once out of exec)" up.log
}

# At a clean stop, whatever is still a child of the supervisor was left by
# a service, marked or not: a subreaper only inherits its services'
# descendants.
@test "stop: at a clean stop nothing a service left is alive, marked or not" {
	cat > pipevisor.conf <<-EOF
	[service bare]
	command = sh -c 'env -i setsid sleep $MARK & exec sleep $MARK'
	EOF
	start_up
	wait_for 5 count_sleeps 2
	kill -TERM "$SUP"
	wait "$SUP"
	SUP=
	no_mark_left
	grep -q "killed 1 processes the services left behind" up.log
}

@test "stop: a leftover of another supervisor's same-named service is spared" {
	cat > pipevisor.conf <<-EOF
	[service twin]
	command = sh -c 'setsid sleep $MARK & wait'
	EOF
	# A process that looks like twin's, but of another supervisor.
	PIPEVISOR_SERVICE=twin PIPEVISOR_SUPERVISOR=1.1 sleep "$MARK" 3>&- &
	local other=$!
	start_up
	wait_for 5 count_sleeps 2
	run "$PIPEVISOR" ctl stop twin
	assert_success
	kill -0 "$other"
	kill "$other"
}

@test "pid reuse: stop never signals a pid that was reaped (RELIABILITY 23)" {
	unshare --pid --fork --mount-proc true 2>/dev/null ||
	    skip "no permission for pid namespaces"
	cat > pipevisor.conf <<-EOF
	[service once]
	command = sh -c 'echo \$\$ > once.pid; exit 0'
	restart = never
	EOF
	# Inside a new pid namespace, make a decoy take the dead service's
	# pid (ns_last_pid), then ask the supervisor to stop and signal it.
	cat > reuse.sh <<-EOF
	set -e
	"$PIPEVISOR" up > up.log 2>&1 &
	up=\$!
	i=0
	until "$PIPEVISOR" ctl status once 2>/dev/null | grep -q exited; do
		i=\$((i + 1)); [ \$i -lt 500 ] || exit 90; sleep 0.01
	done
	p=\$(cat once.pid)
	echo \$((p - 1)) > /proc/sys/kernel/ns_last_pid
	sleep 1000 &
	decoy=\$!
	[ "\$decoy" -eq "\$p" ] || exit 91
	"$PIPEVISOR" ctl stop once
	"$PIPEVISOR" ctl signal TERM once 2>/dev/null && exit 92
	kill -0 "\$decoy" || exit 93
	echo decoy-alive
	kill "\$decoy"
	"$PIPEVISOR" ctl shutdown
	# The namespace dies with this shell: let up finish its clean stop.
	wait "\$up"
	EOF
	local shm_before
	shm_before=$(shm_list)
	run timeout 30 unshare --pid --fork --mount-proc sh reuse.sh
	assert_success
	assert_output --partial "decoy-alive"
	# Its status board went with it.
	assert_equal "$(shm_list)" "$shm_before"
}

@test "time: a wall-clock jump changes no backoff (RELIABILITY 27)" {
	command -v faketime >/dev/null || skip "faketime not installed"
	# faketime is an LD_PRELOAD, and ASan must be the first library.
	[ -z "${PV_SANITIZED:-}" ] || skip "faketime cannot preload before ASan"
	cat > pipevisor.conf <<-EOF
	[service crash]
	command = sh -c 'echo run >> runs.txt; exit 1'
	backoff = 500ms
	backoff_factor = 1
	backoff_max = 500ms
	EOF
	# The wall clock starts 10 days back, then jumps around while the
	# monotonic clock (not faked) drives every timer.
	echo "-10d" > faketime.rc
	DONT_FAKE_MONOTONIC=1 FAKETIME_TIMESTAMP_FILE=$PWD/faketime.rc \
	    FAKETIME_NO_CACHE=1 faketime -f "-10d" "$PIPEVISOR" up \
	    > up.log 2>&1 3>&- &
	SUP=$!
	# faketime forks: the supervisor is its child; the pidfile names it,
	# so teardown stops the supervisor and not just faketime.
	wait_for 10 test -s run/up.pid
	SUP=$(cat run/up.pid)
	wait_for 10 test -s runs.txt
	echo "+30d" > faketime.rc
	sleep 1.2 # the measurement window: about 3 runs at 500 ms
	echo "-1y" > faketime.rc
	sleep 1.2
	local runs
	runs=$(wc -l < runs.txt)
	# 2.4 s at one run per 500 ms: 5 or 6 runs, whatever the wall clock did.
	[ "$runs" -ge 4 ] && [ "$runs" -le 7 ]
}

@test "readiness: ready=notify waits for READY=1 on NOTIFY_SOCKET" {
	cat > pipevisor.conf <<-EOF
	[service notifier]
	command = sh -c 'touch started; while [ ! -e go ]; do sleep 0.02; done; printf "READY=1" | socat - UNIX-SENDTO:\$NOTIFY_SOCKET; exec sleep $MARK'
	ready = notify
	EOF
	start_up
	wait_for 5 test -e started
	assert_equal "$(state_of notifier)" starting
	touch go
	wait_for 5 is_state notifier ready
}

@test "output: a log file is rotated by size and keeps rotate_keep copies" {
	cat > pipevisor.conf <<-EOF
	[service chatty]
	command = sh -c 'i=0; while [ \$i -lt 400 ]; do echo "line \$i 0123456789012345678901234567890123456789"; i=\$((i+1)); done; exec sleep $MARK'
	stdout = chatty.log
	rotate_size = 4k
	rotate_keep = 2
	EOF
	start_up
	wait_for 10 test -e chatty.log.2
	# the last write may itself rotate: line 399 is in .1 or the file
	wait_for 5 sh -c 'cat chatty.log.1 chatty.log | grep -q "line 399"'
	assert_file_exists chatty.log.1
	assert_file_not_exists chatty.log.3
	[ "$(stat -c %s chatty.log.1)" -ge 4096 ]
	[ "$(stat -c %s chatty.log.1)" -lt 16384 ]
	# nothing lost across the rotations still kept
	run sh -c 'cat chatty.log.2 chatty.log.1 chatty.log | tail -n 1'
	assert_output "line 399 0123456789012345678901234567890123456789"
}

@test "stop: a clean stop with orphans around exits 0 (no crash at exit)" {
	cat > pipevisor.conf <<-EOF
	[service forker]
	command = sh -c '(setsid sleep $MARK &); (sleep 0.1 &); exec sleep $MARK'
	EOF
	start_up
	wait_for 5 count_sleeps 2
	kill -TERM "$SUP"
	local st=0
	wait "$SUP" || st=$?
	assert_equal "$st" 0
	SUP=
	wait_for 2 no_mark_left
	assert_file_not_exists run/up.pid
}
