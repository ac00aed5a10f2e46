#!/usr/bin/env bats
# filter-stamp.bats: black-box tests of the stamp filter.
#
# Each test runs the built binary on files in $BATS_TEST_TMPDIR and
# checks stdout, stderr and the exit status: the default ISO 8601 stamp
# and its offset, -f with the %.S, %.T and %.s extensions, -r and -d
# against real pauses (lower bounds only, generous upper bounds), lines
# sharing a read, a last line without newline, every byte value, a 10 MB
# line, short writes, EINTR, EPIPE, write and read failures and usage
# errors.  sed(1) is the oracle for where the prefixes go.

load helpers
load filters

bats_require_minimum_version 1.5.0

ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}[+-][0-9]{4}'
SECS='[0-9]+\.[0-9]{6}'

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

# field N LINE: the Nth space-separated field of LINE.
field() {
	echo "$2" | cut -d' ' -f"$1"
}

# at_least A B: true when the decimal A >= B.
at_least() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

@test "stamp: default is ISO 8601 local time with microseconds and offset" {
	run --separate-stderr "$PV_FILTERS/stamp" <<< $'a\nb c'
	assert_success
	assert_equal "$stderr" ""
	assert_line --index 0 --regexp "^$ISO a\$"
	assert_line --index 1 --regexp "^$ISO b c\$"
	[ "${#lines[@]}" -eq 2 ]
	# The day is today's (or yesterday's just after midnight).
	local day
	day=${lines[0]%%T*}
	[ "$day" = "$(date +%Y-%m-%d)" ] ||
	    [ "$day" = "$(date -d '1 minute ago' +%Y-%m-%d)" ]
}

@test "stamp: the offset follows TZ" {
	run env TZ=UTC0 "$PV_FILTERS/stamp" <<< a
	assert_output --regexp '^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}\+0000 a$'
	run env TZ=XYZ-3:30 "$PV_FILTERS/stamp" <<< a
	assert_output --regexp '^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}\+0330 a$'
	run env TZ=XYZ7 "$PV_FILTERS/stamp" <<< a
	assert_output --regexp '^[0-9-]{10}T[0-9:]{8}\.[0-9]{6}-0700 a$'
}

@test "stamp: lines read together share one stamp" {
	# From a file, so that one read(2) gets them all: bash's printf
	# writes a pipe line by line, and a busy machine can run stamp
	# between those writes.
	printf '1\n2\n3\n' >"$BATS_TEST_TMPDIR/three"
	run "$PV_FILTERS/stamp" <"$BATS_TEST_TMPDIR/three"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]% *}" = "${lines[1]% *}" ]
	[ "${lines[1]% *}" = "${lines[2]% *}" ]
}

@test "stamp -f: %.s is the epoch time with microseconds" {
	local before after t
	before=$(date +%s)
	run "$PV_FILTERS/stamp" -f %.s <<< a
	after=$(date +%s)
	assert_success
	assert_output --regexp "^$SECS a\$"
	t=${output%%.*}
	[ "$t" -ge "$before" ]
	[ "$t" -le "$after" ]
}

@test "stamp -f: %.S, %.T, literal %%, several slots, empty format" {
	run "$PV_FILTERS/stamp" -f '%.S' <<< a
	assert_output --regexp '^[0-9]{2}\.[0-9]{6} a$'
	run "$PV_FILTERS/stamp" -f '[%.T]' <<< a
	assert_output --regexp '^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\] a$'
	run "$PV_FILTERS/stamp" -f '%%.S|%%|%H%%' <<< a
	assert_output --regexp '^%\.S\|%\|[0-9]{2}% a$'
	run "$PV_FILTERS/stamp" -f '%.S=%.S' <<< a
	assert_output --regexp '^[0-9]{2}\.[0-9]{6}=[0-9]{2}\.[0-9]{6} a$'
	[ "${output:0:9}" = "${output:10:9}" ]
	run "$PV_FILTERS/stamp" -f '' <<< a
	assert_output ' a'
	run "$PV_FILTERS/stamp" -f 'x y' <<< a
	assert_output 'x y a'
}

@test "stamp -f: strftime conversions and LC_TIME names" {
	local y
	y=$(date +%Y)
	run "$PV_FILTERS/stamp" -f '%Y' <<< a
	assert_success
	[ "$output" = "$y a" ] || [ "$output" = "$((y + 1)) a" ]
	run env LC_ALL=C TZ=UTC0 "$PV_FILTERS/stamp" -f '%a %b' <<< a
	assert_output --regexp '^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) a$'
}

@test "stamp -f: a stamp of 4087 bytes is the limit" {
	local f
	f=$(printf '%04087d' 0)
	run --separate-stderr "$PV_FILTERS/stamp" -f "$f" <<< a
	assert_success
	assert_output "$f a"
	run --separate-stderr "$PV_FILTERS/stamp" -f "${f}0" < /dev/null
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "stamp: format expands to more than 4087 bytes"
	run --separate-stderr "$PV_FILTERS/stamp" -f "$(printf '%05000d' 0)" \
	    < /dev/null
	assert_failure 1
	assert_equal "$stderr" "stamp: format expands to more than 4087 bytes"
}

# pause_between OPTION: runs stamp OPTION on a FIFO, writes a, waits until
# a has come out, pauses 0.5 s and writes b; leaves the output in out.
pause_between() {
	mkfifo fifo
	"$PV_FILTERS/stamp" "$1" < fifo > out 3>&- &
	bg_pid=$!
	exec 5> fifo
	echo a >&5
	wait_for 10 grep -q ' a$' out
	# The pause is the input's own timing, not a wait for a condition.
	sleep 0.5
	echo b >&5
	exec 5>&-
	wait "$bg_pid"
}

@test "stamp -r: seconds since start, across a real pause" {
	pause_between -r
	run cat out
	assert_line --index 0 --regexp "^$SECS a\$"
	assert_line --index 1 --regexp "^$SECS b\$"
	local t0 t1
	t0=$(field 1 "${lines[0]}")
	t1=$(field 1 "${lines[1]}")
	at_least "$t1" 0.5
	at_least "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" 0.5
	at_least 10 "$t1"
}

@test "stamp -d: seconds since the previous line, 0 within one read" {
	pause_between -d
	run cat out
	assert_line --index 0 --regexp "^$SECS a\$"
	assert_line --index 1 --regexp "^$SECS b\$"
	at_least "$(field 1 "${lines[1]}")" 0.5
	at_least 10 "$(field 1 "${lines[1]}")"
	# From a file: one read (see "lines read together share one stamp").
	printf 'x\ny\nz\n' >"$BATS_TEST_TMPDIR/three"
	run "$PV_FILTERS/stamp" -d <"$BATS_TEST_TMPDIR/three"
	assert_success
	assert_line --index 0 --regexp "^$SECS x\$"
	assert_line --index 1 '0.000000 y'
	assert_line --index 2 '0.000000 z'
}

@test "stamp: a last line without newline is stamped and passed as is" {
	printf 'a\nb' | "$PV_FILTERS/stamp" -f X > got
	printf 'X a\nX b' | cmp - got
	printf 'only' | "$PV_FILTERS/stamp" -r > got
	run cat got
	assert_output --regexp "^$SECS only\$"
	[ "$(tail -c 4 got)" = only ]
}

@test "stamp: empty input gives no output; empty lines are stamped" {
	run "$PV_FILTERS/stamp" < /dev/null
	assert_success
	assert_output ""
	printf '\n\n' | "$PV_FILTERS/stamp" -f X > got
	printf 'X \nX \n' | cmp - got
}

@test "stamp: all 256 byte values, NUL included" {
	all_bytes > in
	"$PV_FILTERS/stamp" -f X < in > got
	sed 's/^/X /' in | cmp - got
}

@test "stamp: a 10 MB line without newline, then more lines" {
	head -c 10000000 /dev/zero | tr '\0' q > in
	"$PV_FILTERS/stamp" -f X < in > got
	sed 's/^/X /' in | cmp - got
	printf '\nshort\n' >> in
	cat in | "$PV_FILTERS/stamp" -f X > got
	sed 's/^/X /' in | cmp - got
}

@test "stamp: a million lines, every one stamped" {
	yes 'line of text' | head -n 1000000 > in
	"$PV_FILTERS/stamp" -f X < in > got
	sed 's/^/X /' in | cmp - got
	"$PV_FILTERS/stamp" < in > got
	[ "$(grep -cE "^$ISO line of text\$" got)" -eq 1000000 ]
	"$PV_FILTERS/stamp" -d < in > got
	[ "$(grep -cE "^$SECS line of text\$" got)" -eq 1000000 ]
}

@test "stamp: output is written as it is read, not at end of file" {
	mkfifo fifo
	"$PV_FILTERS/stamp" -f X < fifo > got 3>&- &
	bg_pid=$!
	exec 5> fifo
	echo first >&5
	wait_for 5 grep -qx 'X first' got
	exec 5>&-
	wait "$bg_pid"
}

@test "stamp: short writes to a non-blocking pipe lose nothing" {
	yes 'some text' | head -n 500000 > in
	no_lsan perl -MFcntl -e 'my $f = fcntl(STDOUT, F_GETFL, 0) or die;
	    fcntl(STDOUT, F_SETFL, $f | O_NONBLOCK) or die;
	    exec @ARGV or die' \
	    strace -o log -e trace=write "$PV_FILTERS/stamp" -f X < in |
	    cat > got
	sed 's/^/X /' in | cmp - got
	# Short writes really happened (EAGAIN may, too).
	awk '/^write\(1,/ { n = $(NF - 2); sub(/\)$/, "", n)
	    if ($NF + 0 > 0 && $NF + 0 < n + 0) short++ }
	    END { exit short > 0 ? 0 : 1 }' log
}

@test "stamp: EINTR on read and write changes nothing" {
	yes 'some text' | head -n 500000 > in
	cat in | eintr_trace log "$PV_FILTERS/stamp" -f X > got
	sed 's/^/X /' in | cmp - got
	[ "$(grep -c '^read(0,.*INJECTED' log)" -ge 10 ]
	[ "$(grep -c '^write(1,.*INJECTED' log)" -ge 10 ]
}

@test "stamp: EPIPE with SIGPIPE default kills it like cat" {
	if sigpipe_ignored; then
		skip "SIGPIPE is ignored in this test environment"
	fi
	run timeout 10 bash -c \
	    'yes abc | "$1" | head -c 1000 > out; echo "${PIPESTATUS[1]}"' \
	    _ "$PV_FILTERS/stamp"
	assert_success
	assert_output 141
	assert_equal "$(wc -c < out)" 1000
}

@test "stamp: EPIPE with SIGPIPE ignored exits 1 with one message" {
	run timeout 10 bash -c 'trap "" PIPE
	    yes abc 2> /dev/null | "$1" 2> err | head -c 1000 > /dev/null
	    echo "${PIPESTATUS[1]}"' _ "$PV_FILTERS/stamp"
	assert_success
	assert_output 1
	run cat err
	assert_output "stamp: stdout: Broken pipe"
}

@test "stamp: a write error exits 1 naming stdout" {
	run --separate-stderr bash -c '"$1" < /etc/passwd > /dev/full' \
	    _ "$PV_FILTERS/stamp"
	assert_failure 1
	assert_equal "$stderr" "stamp: stdout: No space left on device"
	run --separate-stderr bash -c '"$1" < /etc/passwd >&-' \
	    _ "$PV_FILTERS/stamp"
	assert_failure 1
	assert_equal "$stderr" "stamp: stdout: Bad file descriptor"
}

@test "stamp: a read error exits 1 naming stdin" {
	run --separate-stderr "$PV_FILTERS/stamp" < /
	assert_failure 1
	assert_equal "$stderr" "stamp: stdin: Is a directory"
}

@test "stamp: --help and --version" {
	run --separate-stderr "$PV_FILTERS/stamp" --help
	assert_success
	assert_line --index 0 "usage: stamp [-d | -f format | -r]"
	assert_equal "$stderr" ""
	run --separate-stderr "$PV_FILTERS/stamp" --version
	assert_success
	assert_output "stamp (pipevisor) 0.1.0"
}

@test "stamp: usage errors exit 2" {
	local usage="usage: stamp [-d | -f format | -r]" f
	run --separate-stderr "$PV_FILTERS/stamp" -x < /dev/null
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "stamp: invalid option -- 'x'
$usage"
	run --separate-stderr "$PV_FILTERS/stamp" -f < /dev/null
	assert_failure 2
	assert_equal "$stderr" "stamp: option requires an argument -- 'f'
$usage"
	for f in '-d -r' '-r -f %T' '-d -f %T' '-dr'; do
		# shellcheck disable=SC2086 # the options are split on purpose
		run --separate-stderr "$PV_FILTERS/stamp" $f < /dev/null
		assert_failure 2
		assert_equal "$stderr" "stamp: -d, -f and -r are mutually exclusive
$usage"
	done
	run --separate-stderr "$PV_FILTERS/stamp" file < /dev/null
	assert_failure 2
	assert_equal "$stderr" "stamp: unexpected argument: file
$usage"
	f=$(printf '%%.S%.0s' {1..17})
	run --separate-stderr "$PV_FILTERS/stamp" -f "$f" < /dev/null
	assert_failure 2
	assert_equal "$stderr" "stamp: more than 16 sub-second directives in format
$usage"
}
