#!/usr/bin/env bats
# fault(1): pass N lines, then exit with a status or die of a signal,
# after a delay, optionally deaf to SIGTERM; binary data, huge lines, EPIPE.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	FAULT=$PV_FILTERS/fault
	PIDS=
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

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# proc_state PID: the one-letter state of PID (R, S, T, Z...).
proc_state() {
	awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null
}

is_stopped() {
	[ "$(proc_state "$1")" = T ]
}

# runs_fault PID: PID has exec'd fault.
runs_fault() {
	[ "$(readlink "/proc/$1/exe")" = "$FAULT" ]
}

# term_ignored PID: PID has SIGTERM (bit 14 of SigIgn) ignored.
term_ignored() {
	local hex
	hex=$(awk '/^SigIgn:/ { print $2 }' "/proc/$1/status")
	[ -n "$hex" ] && (( 0x$hex & 0x4000 ))
}

@test "fault: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$FAULT" --help
	assert_success
	assert_equal "${lines[0]}" \
	    "usage: fault [-T] [-d duration] [-k signal | -x status] [-n lines]"
	assert_equal "$stderr" ""
}

@test "fault: --version" {
	run --separate-stderr "$FAULT" --version
	assert_success
	assert_output "fault (pipevisor) 0.1.0"
}

@test "fault: usage errors exit 2 with the mistake and the usage line" {
	local usage="usage: fault [-T] [-d duration] [-k signal | -x status] [-n lines]"

	run --separate-stderr "$FAULT" -x 256
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: status is too large: 256"
	assert_equal "${stderr_lines[1]}" "$usage"
	run --separate-stderr "$FAULT" -x abc
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: status is invalid: abc"
	run --separate-stderr "$FAULT" -k NOPE
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: bad signal: NOPE"
	run --separate-stderr "$FAULT" -n -1
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: line count is too small: -1"
	run --separate-stderr "$FAULT" -d soon
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: bad duration: soon"
	run --separate-stderr "$FAULT" -k TERM -x 3
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: -k and -x are mutually exclusive"
	assert_equal "${stderr_lines[1]}" "$usage"
	run --separate-stderr "$FAULT" extra
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: unexpected argument: extra"
	run --separate-stderr "$FAULT" -z
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: invalid option -- 'z'"
	assert_equal "${stderr_lines[1]}" "$usage"
	run --separate-stderr "$FAULT" -n
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fault: option requires an argument -- 'n'"
}

@test "fault: by default copies everything, then exits 1" {
	run --separate-stderr "$FAULT" < <(seq 5)
	assert_equal "$status" 1
	assert_output "$(seq 5)"
	assert_equal "$stderr" ""
}

@test "fault: -n passes that many lines, then fails" {
	run --separate-stderr "$FAULT" -n 2 < <(seq 5)
	assert_equal "$status" 1
	assert_output "$(printf '1\n2')"
	assert_equal "$stderr" ""
	# Input that ends first: the fault comes at end of input.
	run "$FAULT" -n 10 < <(seq 3)
	assert_equal "$status" 1
	assert_output "$(seq 3)"
}

@test "fault: -n 0 fails at once and reads nothing" {
	seq 5 > in
	run bash -c '{ "$0" -n 0 -x 0; cat; } < in' "$FAULT"
	assert_success
	assert_output "$(seq 5)"
}

@test "fault: a seekable input gets back the bytes read past the lines" {
	seq 10000 > in
	run bash -c '{ "$0" -n 3 -x 0; cat; } < in' "$FAULT"
	assert_success
	assert_output "$(seq 10000)"
}

@test "fault: -x sets the exit status" {
	for st in 0 3 42 255; do
		run "$FAULT" -x "$st" < <(echo hi)
		assert_equal "$status" "$st"
		assert_output "hi"
	done
}

@test "fault: -k kills it with the signal, by name or number" {
	run "$FAULT" -k TERM < <(echo a)
	assert_equal "$status" 143
	assert_output "a"
	run "$FAULT" -k SIGKILL -n 1 < <(seq 3)
	assert_equal "$status" 137
	assert_output "1"
	run "$FAULT" -k 10 < /dev/null
	assert_equal "$status" 138
	run "$FAULT" -k usr2 < /dev/null
	assert_equal "$status" 140
	run "$FAULT" -k HUP < /dev/null
	assert_equal "$status" 129
}

@test "fault: -k dies of a signal it was started with ignored" {
	run --separate-stderr bash -c 'trap "" TERM INT;
	    "$0" -k TERM < /dev/null; echo $?;
	    "$0" -k INT < /dev/null; echo $?' "$FAULT"
	assert_output "$(printf '143\n130')"
}

@test "fault: -k with a signal ignored by default exits 128+N" {
	run "$FAULT" -k CHLD < /dev/null
	assert_equal "$status" $((128 + 17))
	run "$FAULT" -k WINCH < /dev/null
	assert_equal "$status" $((128 + 28))
}

@test "fault: -k STOP stops it; once continued it exits 128+19" {
	"$FAULT" -k STOP < /dev/null 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	wait_for 5 is_stopped "$pid"
	kill -CONT "$pid"
	reap "$pid"
	assert_equal "$WST" 147
}

@test "fault: -d waits before the fault" {
	local t0 t1
	t0=$(now_ms)
	run "$FAULT" -d 500ms -x 7 < <(echo x)
	t1=$(now_ms)
	assert_equal "$status" 7
	assert_output "x"
	[ $((t1 - t0)) -ge 450 ]
	[ $((t1 - t0)) -lt 10000 ]
	t0=$(now_ms)
	run "$FAULT" -d 0.3 -k TERM < /dev/null
	t1=$(now_ms)
	assert_equal "$status" 143
	[ $((t1 - t0)) -ge 250 ]
}

@test "fault: the lines are written out before the delay" {
	mkfifo in
	"$FAULT" -n 1 -d 1m < in > out 3>&- &
	PIDS="$PIDS $!"
	exec 5> in
	printf 'one\ntwo\n' >&5
	wait_for 5 grep -qx one out
	exec 5>&-
	assert_equal "$(cat out)" "one"
}

@test "fault: SIGTERM ends it while it waits, without -T" {
	"$FAULT" -d 1m < /dev/null > out 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	wait_for 5 runs_fault "$pid"
	kill -TERM "$pid"
	reap "$pid"
	assert_equal "$WST" 143
}

@test "fault: -T ignores SIGTERM" {
	mkfifo in
	"$FAULT" -T -n 1 < in > out 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	wait_for 5 term_ignored "$pid"
	kill -TERM "$pid"
	# Still alive after the TERM: it passes the line and fails as told.
	echo line >&5
	reap "$pid"
	assert_equal "$WST" 1
	assert_equal "$(cat out)" "line"
	exec 5>&-
}

@test "fault: binary data and NUL bytes pass unchanged" {
	head -c 3000000 /dev/urandom > in
	"$FAULT" -x 0 < in > out
	cmp in out
}

@test "fault: a 20 MB line counts as one line" {
	{ head -c 20000000 /dev/zero | tr '\0' x; echo; echo second; } > in
	"$FAULT" -n 1 -x 0 < in > out
	cmp <(head -n 1 in) out
}

@test "fault: a closed output ends it by SIGPIPE like a shell filter" {
	run bash -c '"$0" < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$FAULT"
	assert_output "141"
}

@test "fault: with SIGPIPE ignored, EPIPE is status 1 and one message" {
	run --separate-stderr bash -c 'trap "" PIPE;
	    "$0" < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$FAULT"
	assert_output "1"
	assert_equal "$stderr" "fault: stdout: Broken pipe"
}

@test "fault: read and write errors exit 1 naming the stream" {
	run --separate-stderr "$FAULT" -x 0 < .
	assert_equal "$status" 1
	assert_equal "$stderr" "fault: stdin: Is a directory"
	run --separate-stderr bash -c 'seq 3 | "$0" -x 0 > /dev/full' "$FAULT"
	assert_equal "$status" 1
	assert_equal "$stderr" "fault: stdout: No space left on device"
}
