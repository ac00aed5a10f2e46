#!/usr/bin/env bats
# meter(1): data passes unchanged on every path (tee+splice, read/write,
# splice refused), counts and report formats, tty progress, SIGINT/SIGTERM
# summary and status even while output is stalled, EPIPE, exit statuses.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	METER=$PV_FILTERS/meter
	PIDS=
	RATE='[0-9]+\.[0-9] (B|KiB|MiB|GiB|TiB)/s [0-9]+ lines/s'
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

# lines_of FILE: newlines in FILE, plus one for a last line without one.
lines_of() {
	local n
	n=$(tr -cd '\n' < "$1" | wc -c)
	if [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" != 0a ]
	then
		n=$((n + 1))
	fi
	echo "$n"
}

# summary_of FILE: the summary line expected for FILE's contents.
summary_re() {
	echo "^meter: total [0-9]+\.[0-9]s $(stat -c %s "$1") bytes $(lines_of "$1") lines $RATE\$"
}

# in_state PID REGEX: PID sleeps in a kernel function matching REGEX.
in_state() {
	grep -qE "$2" "/proc/$1/wchan"
}

@test "meter: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$METER" --help
	assert_success
	assert_equal "${lines[0]}" "usage: meter [-i interval]"
	assert_equal "$stderr" ""
}

@test "meter: --version" {
	run --separate-stderr "$METER" --version
	assert_success
	assert_output "meter (pipevisor) 0.1.0"
}

@test "meter: usage errors exit 2 with the mistake and the usage line" {
	run --separate-stderr "$METER" -i soon < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "meter: bad interval: soon"
	assert_equal "${stderr_lines[1]}" "usage: meter [-i interval]"
	run --separate-stderr "$METER" extra < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "meter: unexpected argument: extra"
	run --separate-stderr "$METER" -i < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "meter: option requires an argument -- 'i'"
	assert_equal "${stderr_lines[1]}" "usage: meter [-i interval]"
	run --separate-stderr "$METER" --frob < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "meter: unrecognized option '--frob'"
}

@test "meter: pipe to pipe (tee and splice): binary data passes unchanged" {
	{ head -c 3000000 /dev/urandom; seq 100000; } > in
	cat in | "$METER" -i 0 2> err | cat > out
	cmp in out
	assert_equal "$(wc -l < err)" 1
	assert_regex "$(cat err)" "$(summary_re in)"
}

@test "meter: file to file (read and write) passes unchanged" {
	{ seq 100000; head -c 3000000 /dev/urandom; } > in
	"$METER" -i 0 < in > out 2> err
	cmp in out
	assert_regex "$(cat err)" "$(summary_re in)"
}

@test "meter: pipe to file (splice to a file) passes unchanged" {
	head -c 5000000 /dev/urandom > in
	cat in | "$METER" -i 0 > out 2> err
	cmp in out
	assert_regex "$(cat err)" "$(summary_re in)"
}

@test "meter: pipe to an append-only file (splice refused) falls back" {
	head -c 5000000 /dev/urandom > in
	echo head > out
	cat in | "$METER" -i 0 >> out 2> err
	cmp <(echo head; cat in) out
	assert_regex "$(cat err)" "$(summary_re in)"
}

@test "meter: counts lines as newlines plus an unterminated last line" {
	run --separate-stderr "$METER" -i 0 < /dev/null
	assert_success
	assert_output ""
	assert_regex "$stderr" "^meter: total [0-9.]+s 0 bytes 0 lines $RATE\$"
	printf 'a\nb' | "$METER" -i 0 > out 2> err
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 3 bytes 2 lines "
	printf 'a\n\n' | "$METER" -i 0 > out 2> err
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 3 bytes 2 lines "
}

@test "meter: a 20 MB line without a newline is one line" {
	head -c 20000000 /dev/zero | tr '\0' x > in
	cat in | "$METER" -i 0 2> err | cmp - in
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 20000000 bytes 1 lines "
}

@test "meter: reports every interval as plain lines when not a tty" {
	mkfifo in
	"$METER" -i 100ms < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	echo a >&5
	wait_for 10 grep -qE "^meter: [0-9.]+s 2 bytes 1 lines $RATE\$" err ||
	    { cat err; false; }
	exec 5>&-
	reap "$pid"
	assert_equal "$WST" 0
	assert_equal "$(cat out)" "a"
	assert_regex "$(tail -n 1 err)" "^meter: total [0-9.]+s 2 bytes 1 lines "
	run grep -c $'\r' err
	assert_output "0"
}

@test "meter: -i 0 prints only the summary" {
	run --separate-stderr bash -c '{ echo a; sleep 0.4; echo b; } | "$0" -i 0' \
	    "$METER"
	assert_success
	assert_output "$(printf 'a\nb')"
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^meter: total [0-9.]+s 4 bytes 2 lines "
}

@test "meter: on a terminal the progress line is rewritten with CR" {
	script -qec true /dev/null < /dev/null > /dev/null 2>&1 ||
	    skip "script(1) cannot make a pseudo-terminal here"
	script -qec "{ echo a; sleep 0.5; echo b; } | $METER -i 100ms > /dev/null" \
	    /dev/null < /dev/null > tty
	grep -q $'\rmeter: [0-9.]*s ' tty
	grep -q $'\rmeter: total [0-9.]*s 4 bytes 2 lines ' tty
	# The progress lines share one terminal line: only the summary
	# ends with a newline.
	assert_equal "$(tr -cd '\n' < tty | wc -c)" 1
}

@test "meter: reading a terminal, reports and SIGTERM still get through" {
	script -qec true /dev/null < /dev/null > /dev/null 2>&1 ||
	    skip "script(1) cannot make a pseudo-terminal here"
	mkfifo keyboard
	exec 5<> keyboard
	# meter's stdin is a pseudo-terminal on which nobody types.
	script -qec "exec $METER -i 100ms > out 2> err" /dev/null \
	    < keyboard > /dev/null 3>&- &
	local spid=$! mpid
	PIDS="$PIDS $spid"
	wait_for 5 grep -q '^meter: [0-9.]*s 0 bytes 0 lines' err
	mpid=$(pgrep -P "$spid")
	PIDS="$PIDS $mpid"
	[[ "$(readlink "/proc/$mpid/fd/0")" == /dev/pts/* ]]
	kill -TERM "$mpid"
	reap "$spid"
	exec 5>&-
	assert_equal "$WST" 143
	assert_regex "$(tail -n 1 err)" "^meter: total [0-9.]+s 0 bytes 0 lines "
}

@test "meter: SIGTERM prints the summary, then it dies of TERM (143)" {
	mkfifo in
	"$METER" -i 0 < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	echo hello >&5
	wait_for 5 grep -qx hello out
	kill -TERM "$pid"
	reap "$pid"
	exec 5>&-
	assert_equal "$WST" 143
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 6 bytes 1 lines $RATE\$"
}

@test "meter: SIGINT prints the summary, then it dies of INT (130)" {
	mkfifo in
	# A script's background job starts with INT ignored: undo that.
	env --default-signal=INT "$METER" -i 0 < in > out 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	printf 'x\ny\n' >&5
	wait_for 5 grep -qx y out
	kill -INT "$pid"
	reap "$pid"
	exec 5>&-
	assert_equal "$WST" 130
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 4 bytes 2 lines "
}

@test "meter: a signal ignored when it started stays ignored" {
	mkfifo in
	# As a script's background job: INT ignored; TERM ignored as well.
	bash -c 'trap "" TERM; exec "$0" -i 0' "$METER" < in > out 2> err \
	    3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	echo one >&5
	wait_for 5 grep -qx one out
	kill -TERM "$pid"
	kill -INT "$pid"
	# Still there: it passes the next line and ends at end of input.
	echo two >&5
	wait_for 5 grep -qx two out
	exec 5>&-
	reap "$pid"
	assert_equal "$WST" 0
	assert_regex "$(cat err)" "^meter: total [0-9.]+s 8 bytes 2 lines "
}

@test "meter: SIGTERM works while the output is stalled (pipe input)" {
	mkfifo in of
	exec 4<> of
	head -c 100000000 /dev/zero > in 3>&- &
	local hpid=$!
	PIDS="$PIDS $hpid"
	"$METER" -i 0 < in > of 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	# The writer is stuck on a full input pipe, so meter has stopped
	# reading: its output is stalled, and it waits in ppoll.
	wait_for 10 in_state "$hpid" pipe_write
	wait_for 10 in_state "$pid" poll
	kill -TERM "$pid"
	reap "$pid"
	exec 4<&-
	assert_equal "$WST" 143
	assert_regex "$(cat err)" "^meter: total [0-9.]+s [0-9]+ bytes 1 lines "
	[ "$(awk '{ print $4 }' err)" -gt 0 ]
}

@test "meter: SIGTERM works while a write is blocked (file input)" {
	mkfifo of
	exec 4<> of
	head -c 20000000 /dev/zero > in
	"$METER" -i 0 < in > of 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	# Reading a file never waits: the only wait is the blocked write.
	wait_for 10 in_state "$pid" pipe_write
	kill -TERM "$pid"
	reap "$pid"
	exec 4<&-
	assert_equal "$WST" 143
	assert_regex "$(cat err)" "^meter: total [0-9.]+s [0-9]+ bytes 1 lines "
	[ "$(awk '{ print $4 }' err)" -gt 0 ]
}

@test "meter: a closed output is status 1 and one message (both paths)" {
	run --separate-stderr bash -c '"$0" -i 0 < /dev/zero | head -c 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$METER"
	assert_output "1"
	assert_equal "$stderr" "meter: stdout: Broken pipe"
	run --separate-stderr bash -c 'head -c 100000000 /dev/zero |
	    "$0" -i 0 | head -c 1 >/dev/null; echo "${PIPESTATUS[1]}"' "$METER"
	assert_output "1"
	assert_equal "$stderr" "meter: stdout: Broken pipe"
}

@test "meter: read and write errors exit 1 naming the stream" {
	run --separate-stderr "$METER" -i 0 < .
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdin: Is a directory"
	seq 3 > in
	run --separate-stderr bash -c '"$0" -i 0 < in > /dev/full' "$METER"
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdout: No space left on device"
	run --separate-stderr bash -c 'seq 3 | "$0" -i 0 > /dev/full' "$METER"
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdout: No space left on device"
}

@test "meter: a closed stdin or stdout is an error, never reused" {
	run --separate-stderr bash -c 'seq 3 | "$0" -i 0 >&-' "$METER"
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdout: Bad file descriptor"
	seq 3 > in
	run --separate-stderr bash -c '"$0" -i 0 < in >&-' "$METER"
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdout: Bad file descriptor"
	run --separate-stderr bash -c '"$0" -i 0 <&-' "$METER"
	assert_equal "$status" 1
	assert_equal "$stderr" "meter: stdin: Bad file descriptor"
}
