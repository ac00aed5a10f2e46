#!/usr/bin/env bats
# ratelimit(1): token-bucket rate limit of lines or bytes, delay or drop,
# flushing before it waits, binary data, huge lines, EPIPE, exit statuses.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	RL=$PV_FILTERS/ratelimit
	PIDS=
}

teardown() {
	local p
	for p in $PIDS; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
}

# now_ms: the monotonic-enough wall clock in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

@test "ratelimit: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$RL" --help
	assert_success
	assert_equal "${lines[0]}" "usage: ratelimit [-B] [-b burst] [--drop] rate"
	assert_output --partial "--drop"
	assert_equal "$stderr" ""
}

@test "ratelimit: --version" {
	run --separate-stderr "$RL" --version
	assert_success
	assert_output "ratelimit (pipevisor) 0.1.0"
}

@test "ratelimit: usage errors exit 2 with the mistake and the usage line" {
	local usage="usage: ratelimit [-B] [-b burst] [--drop] rate"

	run --separate-stderr "$RL"
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "ratelimit: rate is missing"
	assert_equal "${stderr_lines[1]}" "$usage"
	assert_equal "$output" ""

	for bad in 0 -1 abc 1e3 1.2.3 . inf; do
		run --separate-stderr "$RL" -- "$bad"
		assert_equal "$status" 2
		assert_equal "${stderr_lines[0]}" \
		    "ratelimit: rate must be a positive number: $bad"
		assert_equal "${stderr_lines[1]}" "$usage"
	done

	run --separate-stderr "$RL" -b 0 10
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "ratelimit: burst is too small: 0"
	run --separate-stderr "$RL" -b x 10
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "ratelimit: burst is invalid: x"

	run --separate-stderr "$RL" 10 20
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "ratelimit: unexpected argument: 20"

	run --separate-stderr "$RL" --frob 10
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "ratelimit: unrecognized option '--frob'"
	assert_equal "${stderr_lines[1]}" "$usage"
}

@test "ratelimit: a full bucket lets a burst through at once" {
	local t0 t1
	seq 3 > expect
	t0=$(now_ms)
	run --separate-stderr "$RL" -b 3 0.5 < expect
	t1=$(now_ms)
	assert_success
	assert_output "$(cat expect)"
	assert_equal "$stderr" ""
	# Three lines fit the burst of three: no wait (without the burst,
	# two seconds per line).
	[ $((t1 - t0)) -lt 3000 ]
}

@test "ratelimit: the default burst is the rate, and at least one line" {
	run --separate-stderr "$RL" --drop 7 < <(seq 100)
	assert_output "$(seq 7)"
	assert_equal "$stderr" "ratelimit: dropped 93 lines"
	run --separate-stderr "$RL" --drop 7.9 < <(seq 100)
	assert_output "$(seq 7)"
	run --separate-stderr "$RL" --drop 0.5 < <(seq 100)
	assert_output "1"
	assert_equal "$stderr" "ratelimit: dropped 99 lines"
	run --separate-stderr "$RL" -B --drop 0.5 < <(seq 100)
	assert_output "1"
}

@test "ratelimit: excess lines are delayed to the rate, never dropped" {
	local t0 t1
	seq 16 > expect
	t0=$(now_ms)
	run --separate-stderr "$RL" -b 1 10 < expect
	t1=$(now_ms)
	assert_success
	assert_output "$(cat expect)"
	assert_equal "$stderr" ""
	# One line at once, fifteen more at ten a second: 1.5 s.
	[ $((t1 - t0)) -ge 1400 ]
	[ $((t1 - t0)) -lt 10000 ]
}

@test "ratelimit: a fractional rate" {
	local t0 t1
	t0=$(now_ms)
	run "$RL" 2.5 < <(seq 4)
	t1=$(now_ms)
	assert_success
	assert_output "$(seq 4)"
	# Burst 2, then two lines at 2.5 a second: 0.8 s.
	[ $((t1 - t0)) -ge 700 ]
	[ $((t1 - t0)) -lt 10000 ]
}

@test "ratelimit: waiting uses no CPU (no busy loop)" {
	local cpu
	TIMEFORMAT='%3U %3S'
	{ time "$RL" -b 1 2 < <(seq 5) > out; } 2> times
	assert_equal "$(cat out)" "$(seq 5)"
	# Two seconds of waiting; a spinning loop would burn most of them.
	cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 }' times)
	[ "$cpu" -lt 300 ]
}

@test "ratelimit: --drop discards the excess and reports the count" {
	run --separate-stderr "$RL" --drop 5 < <(seq 100)
	assert_success
	assert_output "$(seq 5)"
	assert_equal "$stderr" "ratelimit: dropped 95 lines"
}

@test "ratelimit: --drop with -b sets the burst; zero drops are reported" {
	run --separate-stderr "$RL" --drop -b 20 1 < <(seq 100)
	assert_success
	assert_output "$(seq 20)"
	assert_equal "$stderr" "ratelimit: dropped 80 lines"

	run --separate-stderr "$RL" --drop 1000 < <(seq 100)
	assert_success
	assert_output "$(seq 100)"
	assert_equal "$stderr" "ratelimit: dropped 0 lines"
}

@test "ratelimit: a last line without a newline is a line" {
	run --separate-stderr "$RL" --drop 1 < <(printf 'a\nb')
	assert_success
	assert_output "a"
	assert_equal "$stderr" "ratelimit: dropped 1 lines"
	printf 'x\ny' > in
	"$RL" 10 < in > out
	cmp in out
}

@test "ratelimit: -B limits bytes, across line boundaries" {
	local t0 t1
	head -c 3000 /dev/zero | tr '\0' 'a' | fold -w 99 > in
	t0=$(now_ms)
	"$RL" -B 1000 < in > out
	t1=$(now_ms)
	cmp in out
	# 1000 bytes at once, 2000+ more at 1000 a second.
	[ $((t1 - t0)) -ge 1800 ]
	[ $((t1 - t0)) -lt 15000 ]
}

@test "ratelimit: -B --drop passes whole lines, charging their bytes" {
	# A 30-byte line takes the 10-byte bucket into debt: the next two
	# lines come at once and are dropped whole.
	printf '%s\n' aaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbb ccc > in
	run --separate-stderr "$RL" -B --drop 10 < in
	assert_success
	assert_output "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	assert_equal "$stderr" "ratelimit: dropped 2 lines"
	run --separate-stderr "$RL" -B --drop -b 100 10 < in
	assert_success
	assert_output "$(cat in)"
	assert_equal "$stderr" "ratelimit: dropped 0 lines"
}

@test "ratelimit: a passed line is written out before ratelimit sleeps" {
	mkfifo in
	# One line per five seconds: the second line must wait, the first
	# must not wait with it in a buffer.
	"$RL" 0.2 < in > out 2> err 3>&- &
	PIDS="$PIDS $!"
	exec 5> in
	printf 'first\nsecond\n' >&5
	wait_for 3 grep -qx first out
	[ "$(cat out)" = first ]
	exec 5>&-
}

@test "ratelimit: output is flushed before a read that may wait" {
	mkfifo in
	"$RL" 100 < in > out 2> err 3>&- &
	PIDS="$PIDS $!"
	exec 5> in
	echo one >&5
	wait_for 3 grep -qx one out
	echo two >&5
	wait_for 3 grep -qx two out
	exec 5>&-
	wait_for 5 pid_gone "${PIDS##* }"
	assert_equal "$(cat out)" "$(printf 'one\ntwo')"
}

@test "ratelimit: binary data and NUL bytes pass unchanged" {
	head -c 3000000 /dev/urandom > in
	"$RL" 100000000 < in > out
	cmp in out
	"$RL" -B -b 100000000 100000000 < in > out
	cmp in out
}

# --drop at 0.001 per second: writing 20 MB on a starved machine can take
# more than a second, and at 1 per second "tail" would earn its token.
@test "ratelimit: a 20 MB line passes, in lines and in bytes mode" {
	{ head -c 20000000 /dev/zero | tr '\0' x; echo; echo tail; } > in
	"$RL" 2 < in > out
	cmp in out
	run --separate-stderr "$RL" --drop 0.001 < in
	assert_success
	assert_equal "$(printf '%s' "$output" | wc -c)" 20000000
	assert_equal "$stderr" "ratelimit: dropped 1 lines"
	"$RL" -B --drop 0.001 < in > out
	cmp <(head -n 1 in) out
}

@test "ratelimit: a closed output ends it by SIGPIPE like a shell filter" {
	run bash -c '"$0" 100000000 < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$RL"
	assert_output "141"
}

@test "ratelimit: with SIGPIPE ignored, EPIPE is status 1 and one message" {
	run --separate-stderr bash -c 'trap "" PIPE;
	    "$0" 100000000 < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$RL"
	assert_output "1"
	assert_equal "$stderr" "ratelimit: stdout: Broken pipe"
}

@test "ratelimit: read and write errors exit 1 naming the stream" {
	run --separate-stderr "$RL" 10 < .
	assert_equal "$status" 1
	assert_equal "$stderr" "ratelimit: stdin: Is a directory"
	run --separate-stderr bash -c 'seq 3 | "$0" 10 > /dev/full' "$RL"
	assert_equal "$status" 1
	assert_equal "$stderr" "ratelimit: stdout: No space left on device"
}
