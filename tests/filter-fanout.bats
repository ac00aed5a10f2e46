#!/usr/bin/env bats
# fanout(1): stdout plus files and FIFOs; FIFOs without a reader skipped
# and retried, slow readers dropped (or waited for with --block), closed
# readers noted; -a; binary data, huge lines, EPIPE, exit statuses.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	FANOUT=$PV_FILTERS/fanout
	PIDS=
	N=0
}

teardown() {
	local p
	for p in $PIDS; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
}

# reap PID: waits for PID (a child of this shell); its status goes in WST.
reap() {
	WST=0
	wait "$1" || WST=$?
}

# feed_until FILE REGEX: writes one more numbered line to fd 5 and
# succeeds once FILE has a line matching REGEX (for wait_for).
feed_until() {
	N=$((N + 1))
	echo "line $N" >&5
	grep -q "$2" "$1" 2>/dev/null
}

# size_at_least FILE BYTES
size_at_least() {
	[ "$(stat -c %s "$1")" -ge "$2" ]
}

@test "fanout: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$FANOUT" --help
	assert_success
	assert_equal "${lines[0]}" "usage: fanout [-a] [--block] dest ..."
	assert_output --partial "--block"
	assert_equal "$stderr" ""
}

@test "fanout: --version" {
	run --separate-stderr "$FANOUT" --version
	assert_success
	assert_output "fanout (pipevisor) 0.1.0"
}

@test "fanout: usage errors exit 2 with the mistake and the usage line" {
	run --separate-stderr "$FANOUT" < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fanout: no destination given"
	assert_equal "${stderr_lines[1]}" "usage: fanout [-a] [--block] dest ..."
	run --separate-stderr "$FANOUT" --frob x < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fanout: unrecognized option '--frob'"
	assert_equal "${stderr_lines[1]}" "usage: fanout [-a] [--block] dest ..."
	[ ! -e x ]
}

@test "fanout: copies to stdout and every file, truncating them" {
	seq 1000 > expect
	echo "old content that is longer than nothing" > a
	run --separate-stderr "$FANOUT" a b < expect
	assert_success
	assert_output "$(cat expect)"
	assert_equal "$stderr" ""
	cmp expect a
	cmp expect b
	[ "$(stat -c %a b)" = "$(printf '%o' $((0666 & ~0$(umask))))" ]
}

@test "fanout: -a appends to files" {
	echo first > a
	run "$FANOUT" -a a < <(echo second)
	assert_success
	assert_output "second"
	assert_equal "$(cat a)" "$(printf 'first\nsecond')"
}

@test "fanout: binary data and a 20 MB line pass unchanged" {
	{ head -c 20000000 /dev/zero | tr '\0' x; echo;
	    head -c 3000000 /dev/urandom; } > in
	"$FANOUT" a b < in > out
	cmp in out
	cmp in a
	cmp in b
}

@test "fanout: a FIFO without a reader is skipped; fanout does not block" {
	mkfifo f
	run --separate-stderr timeout 10 "$FANOUT" f a < <(seq 100)
	assert_success
	assert_output "$(seq 100)"
	assert_equal "$stderr" ""
	assert_equal "$(cat a)" "$(seq 100)"
}

@test "fanout: a FIFO with a reader gets every byte" {
	mkfifo f
	# This shell holds the FIFO open for reading (and writing, so the
	# open does not block); it reads back exactly what was sent.
	exec 4<> f
	seq 1000 > expect
	run --separate-stderr "$FANOUT" f < expect
	assert_success
	assert_output "$(cat expect)"
	assert_equal "$stderr" ""
	head -c "$(stat -c %s expect)" <&4 > got
	exec 4<&-
	cmp expect got
}

@test "fanout: a reader that comes later gets the stream from then on" {
	mkfifo in f
	"$FANOUT" f < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	echo early >&5
	wait_for 5 grep -qx early out
	exec 4<> f
	# The open is retried as lines come, at most every 100 ms.
	wait_for 10 feed_until err 'f: reader connected'
	echo last >&5
	exec 5>&-
	reap "$pid"
	assert_equal "$WST" 0
	local l
	while read -r -t 5 -u 4 l; do
		echo "$l"
		[ "$l" = last ] && break
	done > got
	exec 4<&-
	assert_equal "$(tail -n 1 got)" "last"
	run grep -c early got
	assert_output "0"
	# What the reader got is the tail of what went to stdout.
	[ "$(tail -n "$(wc -l < got)" out)" = "$(cat got)" ]
	assert_equal "$(cat err)" "fanout: f: reader connected"
}

@test "fanout: a reader that stops reading is dropped, the rest go on" {
	mkfifo f
	exec 4<> f
	head -c 5000000 /dev/urandom > in
	local st=0
	timeout 20 "$FANOUT" f a < in > out 2> err || st=$?
	exec 4<&-
	assert_equal "$st" 0
	assert_equal "$(cat err)" "fanout: f: reader too slow, dropped"
	cmp in out
	cmp in a
}

@test "fanout: --block waits for a slow reader instead of dropping it" {
	mkfifo f
	exec 4<> f
	head -c 5000000 /dev/urandom > in
	"$FANOUT" --block f < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	# stdout gets a block ahead, then fanout waits on the full FIFO.
	wait_for 10 size_at_least out 131072
	wait_for 10 grep -q pipe_write "/proc/$pid/wchan"
	kill -0 "$pid"
	head -c "$(stat -c %s in)" <&4 > got
	reap "$pid"
	exec 4<&-
	assert_equal "$WST" 0
	assert_equal "$(cat err)" ""
	cmp in out
	cmp in got
}

@test "fanout: a reader that closes is noted and the FIFO waits again" {
	mkfifo in f
	"$FANOUT" f < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	head -n 1 f > got 3>&- &
	local hpid=$!
	PIDS="$PIDS $hpid"
	# Lines flow until head has one and is gone, then until fanout
	# notices the closed end.
	wait_for 10 feed_until got 'line'
	wait_for 5 pid_gone "$hpid"
	wait_for 10 feed_until err 'reader closed'
	exec 5>&-
	reap "$pid"
	assert_equal "$WST" 0
	assert_equal "$(cat out)" "$(seq 1 "$N" | sed 's/^/line /')"
	grep -qx 'line [0-9]*' got
	run grep -c . err
	assert_output --regexp '^[12]$'
	grep -qx 'fanout: f: reader closed, waiting for another' err
}

@test "fanout: a file that cannot be opened is reported; the rest go on" {
	run --separate-stderr "$FANOUT" nodir/x a < <(seq 3)
	assert_equal "$status" 1
	assert_output "$(seq 3)"
	assert_equal "$stderr" "fanout: nodir/x: No such file or directory"
	assert_equal "$(cat a)" "$(seq 3)"
}

@test "fanout: a file that cannot be written is reported; exit 1" {
	run --separate-stderr "$FANOUT" /dev/full a < <(seq 3)
	assert_equal "$status" 1
	assert_output "$(seq 3)"
	assert_equal "$stderr" "fanout: /dev/full: No space left on device"
	assert_equal "$(cat a)" "$(seq 3)"
}

@test "fanout: a closed stdout ends it with one message and status 1" {
	run --separate-stderr bash -c '"$0" a < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$FANOUT"
	assert_output "1"
	assert_equal "$stderr" "fanout: stdout: Broken pipe"
}

@test "fanout: read and write errors exit 1 naming the stream" {
	run --separate-stderr "$FANOUT" a < .
	assert_equal "$status" 1
	assert_equal "$stderr" "fanout: stdin: Is a directory"
	run --separate-stderr bash -c 'seq 3 | "$0" a > /dev/full' "$FANOUT"
	assert_equal "$status" 1
	assert_equal "$stderr" "fanout: stdout: No space left on device"
}

@test "fanout: a closed stdout is an error; no destination takes its place" {
	run --separate-stderr bash -c 'seq 3 | "$0" a >&-' "$FANOUT"
	assert_equal "$status" 1
	assert_equal "$stderr" "fanout: stdout: Bad file descriptor"
	assert_equal "$(cat a)" ""
}
