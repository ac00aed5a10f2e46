#!/usr/bin/env bats
# filter-slow.bats: black-box tests of the slow filter.
#
# Each test runs the built binary on files in $BATS_TEST_TMPDIR and
# checks stdout, stderr and the exit status.  Timing is checked with
# lower bounds, which a correct program always meets, and generous upper
# bounds; release times are read with stamp -r.  Covered: durations and
# their units, the schedule after a pause in the input, -B with its
# suffixes and its pieces, one write per line, every byte value, a 10 MB
# line, EINTR injected into clock_nanosleep, read and write, EPIPE, write
# and read failures and usage errors.

load helpers
load filters

bats_require_minimum_version 1.5.0

setup() {
	export LC_ALL=C
	cd "$BATS_TEST_TMPDIR" || return 1
	bg_pid=
}

teardown() {
	if [ -n "$bg_pid" ]; then
		kill_tree "$bg_pid"
	fi
}

# at_least A B: true when the decimal A >= B.
at_least() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

# released: the release times (stamp -r) of the lines of file out, less
# the first one's; differences do not depend on when each program started.
released() {
	awk 'NR == 1 { t0 = $1 } { printf "%.6f\n", $1 - t0 }' out
}

@test "slow DURATION: each line waits, output is unchanged" {
	local t0 t1
	printf 'a\nb\nc\nd\ne\n' > in
	t0=$(now_ms)
	"$PV_FILTERS/slow" 0.1 < in > got
	t1=$(now_ms)
	cmp in got
	[ $((t1 - t0)) -ge 500 ]
	[ $((t1 - t0)) -lt 10000 ]
}

@test "slow DURATION: lines are released on an absolute schedule" {
	local t0 t1
	t0=$(now_ms)
	printf '1\n2\n3\n4\n' | "$PV_FILTERS/slow" 0.25 |
	    "$PV_FILTERS/stamp" -r > out
	t1=$(now_ms)
	# The first line waits too.
	[ $((t1 - t0)) -ge 1000 ]
	run released
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	# Line k is due k * 0.25 s after the first; 0.1 s allows for a late
	# wake-up of the first.
	at_least "${lines[1]}" 0.15
	at_least "${lines[2]}" 0.40
	at_least "${lines[3]}" 0.65
	at_least 10 "${lines[3]}"
}

@test "slow DURATION: after a pause in the input there is no burst" {
	mkfifo fifo
	"$PV_FILTERS/slow" 0.3 < fifo | "$PV_FILTERS/stamp" -r > out 3>&- &
	bg_pid=$!
	exec 5> fifo
	echo a >&5
	wait_for 10 grep -q ' a$' out
	# The pause is the input's own timing, not a wait for a condition.
	sleep 1
	echo b >&5
	echo c >&5
	exec 5>&-
	wait "$bg_pid"
	run released
	[ "${#lines[@]}" -eq 3 ]
	# b is read 1 s after a came out and released 0.3 s later; c 0.3 s
	# after b.  Catching up would release both at once, 1 s after a.
	at_least "${lines[1]}" 1.2
	at_least "${lines[2]}" 1.45
	at_least 10 "${lines[2]}"
}

@test "slow DURATION: units ms, s, m and a fraction" {
	local t0 t1 d
	printf 'a\nb\n' > in
	for d in 200ms 0.2 0.2s 0.0034m; do
		t0=$(now_ms)
		"$PV_FILTERS/slow" "$d" < in > got
		t1=$(now_ms)
		cmp in got
		[ $((t1 - t0)) -ge 400 ]
		[ $((t1 - t0)) -lt 10000 ]
	done
}

@test "slow 0: no delay, one write per line" {
	printf 'one\ntwo\nthree' > in
	no_lsan strace -o log -e trace=write "$PV_FILTERS/slow" 0 < in > got
	cmp in got
	[ "$(grep -c '^write(1,' log)" -eq 3 ]
	yes 'y' | head -n 100000 > in
	timeout 20 "$PV_FILTERS/slow" 0 < in > got
	cmp in got
}

@test "slow: a last line without newline, empty input" {
	printf 'a\nlast' | "$PV_FILTERS/slow" 0.05 > got
	printf 'a\nlast' | cmp - got
	run "$PV_FILTERS/slow" 0.05 < /dev/null
	assert_success
	assert_output ""
}

@test "slow: all 256 byte values, NUL included" {
	all_bytes > in
	"$PV_FILTERS/slow" 0.01 < in > got
	cmp in got
	"$PV_FILTERS/slow" -B 1M < in > got
	cmp in got
}

@test "slow: a 10 MB line without newline" {
	local t0 t1
	head -c 10000000 /dev/urandom | tr -d '\n' > in
	t0=$(now_ms)
	cat in | "$PV_FILTERS/slow" 0.2 > got
	t1=$(now_ms)
	cmp in got
	[ $((t1 - t0)) -ge 200 ]
	cat in | "$PV_FILTERS/slow" -B 1G > got
	cmp in got
}

@test "slow -B: limits the byte rate" {
	local t0 t1
	head -c 1000 /dev/zero > in
	t0=$(now_ms)
	"$PV_FILTERS/slow" -B 2k < in > got
	t1=$(now_ms)
	cmp in got
	# Pieces of 200 bytes at 0, 0.1, 0.2, 0.3 and 0.4 s.
	[ $((t1 - t0)) -ge 400 ]
	[ $((t1 - t0)) -lt 10000 ]
	head -c 30000 /dev/zero > in
	t0=$(now_ms)
	"$PV_FILTERS/slow" -B 100k < in > got
	t1=$(now_ms)
	cmp in got
	[ $((t1 - t0)) -ge 200 ]
	[ $((t1 - t0)) -lt 10000 ]
}

@test "slow -B: lines are paced one by one" {
	local t0 t1
	yes abcd | head -n 10 > in
	t0=$(now_ms)
	"$PV_FILTERS/slow" -B 50 < in | "$PV_FILTERS/stamp" -r > out
	t1=$(now_ms)
	[ $((t1 - t0)) -ge 900 ]
	run released
	[ "${#lines[@]}" -eq 10 ]
	# 5 bytes a line at 50 bytes/s: line k at 0.1 * k s.
	at_least "${lines[5]}" 0.40
	at_least "${lines[9]}" 0.80
	at_least 10 "${lines[9]}"
}

@test "slow -B: a long line goes out in pieces of a tenth of a second" {
	printf 'abc\n' > in
	no_lsan strace -o log -e trace=write "$PV_FILTERS/slow" -B 10 < in > got
	cmp in got
	[ "$(grep -cE '^write\(1, "([abc]|\\n)", 1\) += 1$' log)" -eq 4 ]
}

@test "slow -B: suffixes k, M and G" {
	head -c 2000000 /dev/zero > in
	timeout 20 "$PV_FILTERS/slow" -B 1G < in > got
	cmp in got
	timeout 20 "$PV_FILTERS/slow" -B 10M < in > got
	cmp in got
	head -c 2000 /dev/zero > in
	local t0 t1
	t0=$(now_ms)
	"$PV_FILTERS/slow" -B 10k < in > got
	t1=$(now_ms)
	cmp in got
	[ $((t1 - t0)) -ge 100 ]
}

@test "slow: EINTR in the sleep neither shortens nor breaks it" {
	local t0 t1
	printf 'a\nb\nc\nd\ne\n' > in
	t0=$(now_ms)
	no_lsan strace -o log -e trace=clock_nanosleep \
	    -e inject=clock_nanosleep:error=EINTR:when=1+2 \
	    "$PV_FILTERS/slow" 0.1 < in > got
	t1=$(now_ms)
	cmp in got
	[ "$(grep -c 'INJECTED' log)" -ge 3 ]
	[ $((t1 - t0)) -ge 500 ]
}

@test "slow: EINTR on read and write changes nothing" {
	yes "$(printf '%0200d' 0)" | head -n 10000 > in
	cat in | eintr_trace log "$PV_FILTERS/slow" 0 > got
	cmp in got
	[ "$(grep -c '^read(0,.*INJECTED' log)" -ge 5 ]
	[ "$(grep -c '^write(1,.*INJECTED' log)" -ge 10 ]
}

@test "slow: EPIPE with SIGPIPE default kills it like cat" {
	if sigpipe_ignored; then
		skip "SIGPIPE is ignored in this test environment"
	fi
	run timeout 10 bash -c \
	    'yes abc | "$1" 0 | head -c 1000 > out; echo "${PIPESTATUS[1]}"' \
	    _ "$PV_FILTERS/slow"
	assert_success
	assert_output 141
	assert_equal "$(wc -c < out)" 1000
}

@test "slow: EPIPE with SIGPIPE ignored exits 1 with one message" {
	run timeout 10 bash -c 'trap "" PIPE
	    yes abc 2> /dev/null | "$1" 0 2> err | head -c 1000 > /dev/null
	    echo "${PIPESTATUS[1]}"' _ "$PV_FILTERS/slow"
	assert_success
	assert_output 1
	run cat err
	assert_output "slow: stdout: Broken pipe"
}

@test "slow: a write error exits 1 naming stdout" {
	run --separate-stderr bash -c '"$1" 0 < /etc/passwd > /dev/full' \
	    _ "$PV_FILTERS/slow"
	assert_failure 1
	assert_equal "$stderr" "slow: stdout: No space left on device"
	run --separate-stderr bash -c '"$1" -B 1M < /etc/passwd >&-' \
	    _ "$PV_FILTERS/slow"
	assert_failure 1
	assert_equal "$stderr" "slow: stdout: Bad file descriptor"
}

@test "slow: a read error exits 1 naming stdin" {
	run --separate-stderr "$PV_FILTERS/slow" 0 < /
	assert_failure 1
	assert_equal "$stderr" "slow: stdin: Is a directory"
}

@test "slow: --help and --version" {
	run --separate-stderr "$PV_FILTERS/slow" --help
	assert_success
	assert_line --index 0 "usage: slow duration"
	assert_line --index 1 "       slow -B rate"
	assert_equal "$stderr" ""
	run --separate-stderr "$PV_FILTERS/slow" --version
	assert_success
	assert_output "slow (pipevisor) 0.1.0"
}

@test "slow: usage errors exit 2" {
	local usage="usage: slow duration
       slow -B rate" a
	run --separate-stderr "$PV_FILTERS/slow" < /dev/null
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "slow: missing duration
$usage"
	for a in x -- -1 1y '' 1.5.5; do
		run --separate-stderr "$PV_FILTERS/slow" -- "$a" < /dev/null
		assert_failure 2
		assert_equal "$stderr" "slow: invalid duration: $a
$usage"
	done
	run --separate-stderr "$PV_FILTERS/slow" 1 2 < /dev/null
	assert_failure 2
	assert_equal "$stderr" "slow: unexpected argument: 2
$usage"
	run --separate-stderr "$PV_FILTERS/slow" -B 10 1 < /dev/null
	assert_failure 2
	assert_equal "$stderr" "slow: unexpected argument: 1
$usage"
	for a in 0 -1 1x '' 1kk ' 1' +5 2000G 0k k; do
		run --separate-stderr "$PV_FILTERS/slow" -B "$a" < /dev/null
		assert_failure 2
		assert_equal "$stderr" "slow: invalid rate: $a
$usage"
	done
	run --separate-stderr "$PV_FILTERS/slow" -B < /dev/null
	assert_failure 2
	assert_equal "$stderr" "slow: option requires an argument -- 'B'
$usage"
	run --separate-stderr "$PV_FILTERS/slow" -q 1 < /dev/null
	assert_failure 2
	assert_equal "$stderr" "slow: invalid option -- 'q'
$usage"
}
