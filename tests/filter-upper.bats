#!/usr/bin/env bats
# filter-upper.bats: black-box tests of the upper and lower filters.
#
# Each test runs the built binary on files in $BATS_TEST_TMPDIR and
# checks stdout, stderr and the exit status: ASCII case conversion with
# tr(1) as the oracle, every byte value, a 10 MB line without newline,
# short writes on a non-blocking pipe, EINTR injected with strace, EPIPE
# with SIGPIPE default and ignored, write and read failures, usage errors.

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

# check_help NAME: --help prints the usage on stdout and exits 0.
check_help() {
	run --separate-stderr "$PV_FILTERS/$1" --help
	assert_success
	assert_line --index 0 "usage: $1"
	assert_equal "$stderr" ""
}

# check_version NAME: --version prints "NAME (pipevisor) 0.1.0".
check_version() {
	run --separate-stderr "$PV_FILTERS/$1" --version
	assert_success
	assert_output "$1 (pipevisor) 0.1.0"
	assert_equal "$stderr" ""
}

# check_usage NAME ARG EXPECTED: ARG is a usage error reported by the
# line EXPECTED and the usage line, exit 2, nothing on stdout.
check_usage() {
	run --separate-stderr "$PV_FILTERS/$1" "$2" < /dev/null
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "$3
usage: $1"
}

# check_epipe_default NAME: the reader goes away; SIGPIPE kills NAME.
check_epipe_default() {
	if sigpipe_ignored; then
		skip "SIGPIPE is ignored in this test environment"
	fi
	run timeout 10 bash -c \
	    'yes abc | "$1" | head -c 1000 > out; echo "${PIPESTATUS[1]}"' \
	    _ "$PV_FILTERS/$1"
	assert_success
	assert_output 141
	assert_equal "$(wc -c < out)" 1000
}

# check_epipe_ignored NAME: with SIGPIPE ignored, NAME exits 1 at once
# with one message; timeout catches a spin on EPIPE.
check_epipe_ignored() {
	run timeout 10 bash -c 'trap "" PIPE
	    "$1" < /dev/zero 2> err | head -c 1000 > /dev/null
	    echo "${PIPESTATUS[0]}"' _ "$PV_FILTERS/$1"
	assert_success
	assert_output 1
	run cat err
	assert_output "$1: stdout: Broken pipe"
}

# check_write_error NAME: a full device is a runtime failure.
check_write_error() {
	run --separate-stderr bash -c '"$1" < /etc/passwd > /dev/full' \
	    _ "$PV_FILTERS/$1"
	assert_failure 1
	assert_equal "$stderr" "$1: stdout: No space left on device"
}

# check_closed_stdout NAME: a closed stdout is a runtime failure.
check_closed_stdout() {
	run --separate-stderr bash -c '"$1" < /etc/passwd >&-' \
	    _ "$PV_FILTERS/$1"
	assert_failure 1
	assert_equal "$stderr" "$1: stdout: Bad file descriptor"
}

# check_read_error NAME: a directory on stdin is a runtime failure.
check_read_error() {
	run --separate-stderr "$PV_FILTERS/$1" < /
	assert_failure 1
	assert_equal "$stderr" "$1: stdin: Is a directory"
}

# check_case NAME SET1 SET2 FILE: NAME exits 0 and gives what tr SET1 SET2
# gives on FILE.
check_case() {
	local name=$1 from=$2 to=$3 file=$4
	"$PV_FILTERS/$name" < "$file" > got
	tr "$from" "$to" < "$file" > want
	cmp want got
}

@test "upper: converts a-z and nothing else" {
	run "$PV_FILTERS/upper" <<< 'Hello, World! [az] `{ 09'
	assert_success
	assert_output 'HELLO, WORLD! [AZ] `{ 09'
}

@test "lower: converts A-Z and nothing else" {
	run "$PV_FILTERS/lower" <<< 'Hello, World! [AZ] @[ 09'
	assert_success
	assert_output 'hello, world! [az] @[ 09'
}

@test "upper, lower: all 256 byte values, NUL included" {
	all_bytes > in
	check_case upper a-z A-Z in
	check_case lower A-Z a-z in
}

@test "upper, lower: UTF-8 passes unchanged" {
	printf 'caf\xc3\xa9 \xc3\x89T\xc3\x89 \xe6\x97\xa5\n' > in
	run "$PV_FILTERS/upper" < in
	assert_output "$(printf 'CAF\xc3\xa9 \xc3\x89T\xc3\x89 \xe6\x97\xa5')"
	run "$PV_FILTERS/lower" < in
	assert_output "$(printf 'caf\xc3\xa9 \xc3\x89t\xc3\x89 \xe6\x97\xa5')"
}

@test "upper, lower: empty input gives empty output" {
	run "$PV_FILTERS/upper" < /dev/null
	assert_success
	assert_output ""
	run "$PV_FILTERS/lower" < /dev/null
	assert_success
	assert_output ""
}

@test "upper, lower: a last line without newline stays without one" {
	printf 'ab\ncd' > in
	check_case upper a-z A-Z in
	check_case lower A-Z a-z in
}

@test "upper, lower: a 10 MB line without newline, from a file and a pipe" {
	head -c 10000000 /dev/zero | tr '\0' 'q' > big
	check_case upper a-z A-Z big
	cat big | "$PV_FILTERS/upper" > got
	tr a-z A-Z < big | cmp - got
	tr q Q < big > BIG
	check_case lower A-Z a-z BIG
}

@test "upper, lower: random binary data matches tr" {
	head -c 3000000 /dev/urandom > rnd
	check_case upper a-z A-Z rnd
	check_case lower A-Z a-z rnd
}

@test "upper: output is written as it is read, not at end of file" {
	mkfifo fifo
	"$PV_FILTERS/upper" < fifo > got 3>&- &
	bg_pid=$!
	exec 5> fifo
	echo first >&5
	wait_for 5 grep -qx FIRST got
	exec 5>&-
	wait "$bg_pid"
}

@test "upper, lower: short writes to a non-blocking pipe lose nothing" {
	head -c 5000000 /dev/urandom > rnd
	for f in upper lower; do
		# O_NONBLOCK on the pipe's write end: a 256 KiB write into a
		# 64 KiB pipe is cut short, and may then fail with EAGAIN.
		no_lsan perl -MFcntl -e 'my $f = fcntl(STDOUT, F_GETFL, 0) or die;
		    fcntl(STDOUT, F_SETFL, $f | O_NONBLOCK) or die;
		    exec @ARGV or die' \
		    strace -o log -e trace=write "$PV_FILTERS/$f" < rnd |
		    cat > got
		if [ $f = upper ]; then
			tr a-z A-Z < rnd | cmp - got
		else
			tr A-Z a-z < rnd | cmp - got
		fi
		# Short writes really happened.
		awk '/^write\(1,/ { n = $(NF - 2); sub(/\)$/, "", n)
		    if ($NF + 0 > 0 && $NF + 0 < n + 0) short++ }
		    END { exit short > 0 ? 0 : 1 }' log
	done
}

@test "upper, lower: EINTR on read and write changes nothing" {
	head -c 5000000 /dev/urandom > rnd
	for f in upper lower; do
		cat rnd | eintr_trace log "$PV_FILTERS/$f" > got
		if [ $f = upper ]; then
			tr a-z A-Z < rnd | cmp - got
		else
			tr A-Z a-z < rnd | cmp - got
		fi
		[ "$(grep -c '^read(0,.*INJECTED' log)" -ge 10 ]
		[ "$(grep -c '^write(1,.*INJECTED' log)" -ge 10 ]
	done
}

@test "upper: EPIPE with SIGPIPE default kills it like cat" {
	check_epipe_default upper
}

@test "lower: EPIPE with SIGPIPE default kills it like cat" {
	check_epipe_default lower
}

@test "upper: EPIPE with SIGPIPE ignored exits 1 with one message" {
	check_epipe_ignored upper
}

@test "lower: EPIPE with SIGPIPE ignored exits 1 with one message" {
	check_epipe_ignored lower
}

@test "upper, lower: a write error exits 1 naming stdout" {
	check_write_error upper
	check_write_error lower
	check_closed_stdout upper
	check_closed_stdout lower
}

@test "upper, lower: a read error exits 1 naming stdin" {
	check_read_error upper
	check_read_error lower
}

@test "upper, lower: --help and --version" {
	check_help upper
	check_help lower
	check_version upper
	check_version lower
}

@test "upper, lower: usage errors exit 2" {
	for f in upper lower; do
		check_usage $f -x "$f: invalid option -- 'x'"
		check_usage $f --bogus "$f: unrecognized option '--bogus'"
		check_usage $f --help=1 \
		    "$f: option '--help' doesn't allow an argument"
		check_usage $f file "$f: unexpected argument: file"
	done
}
