#!/usr/bin/env bats
# filter-unctrl.bats: black-box tests of the unctrl filter.
#
# Each test runs the built binary on files in $BATS_TEST_TMPDIR and
# checks stdout, stderr and the exit status: the golden escapes of
# RELIABILITY.md item 32, every byte value, valid and invalid UTF-8, bidi
# overrides, CRLF, lines of 10 MB cut at every alignment, UTF-8 split
# across reads, short writes, EINTR, EPIPE, write and read failures and
# usage errors.

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

# all_bytes_vis: what unctrl must make of all_bytes, written out from the
# rules in unctrl(1) rather than from the code.
all_bytes_vis() {
	local i
	for ((i = 0; i < 256; i++)); do
		case $i in
		7) printf '\\a' ;;
		8) printf '\\b' ;;
		9) printf '\t' ;;
		10) printf '\n' ;;
		11) printf '\\v' ;;
		12) printf '\\f' ;;
		13) printf '\\r' ;;
		92) printf '\\\\' ;;
		*)
			if ((i >= 32 && i < 127)); then
				# shellcheck disable=SC2059
				printf "\\$(printf %03o "$i")"
			else
				printf '\\%03o' "$i"
			fi
			;;
		esac
	done
}

# vis_of BYTES: unctrl's output for printf-escaped BYTES, as one string.
vis_of() {
	# shellcheck disable=SC2059 # the argument is a printf format
	printf "$1" | "$PV_FILTERS/unctrl"
}

@test "unctrl: the golden escapes of RELIABILITY item 32" {
	run --separate-stderr vis_of '\033[2J\r\b\a\342\200\256'
	assert_success
	assert_output '\033[2J\r\b\a\342\200\256'
	assert_equal "$stderr" ""
}

@test "unctrl: all 256 byte values" {
	all_bytes > in
	all_bytes_vis > want
	"$PV_FILTERS/unctrl" < in > got
	cmp want got
}

@test "unctrl: valid UTF-8, tab and plain text stay as they are" {
	printf 'caf\xc3\xa9\tna\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xc2\xa0\xe2\x80\x8f\xf4\x8f\xbf\xbf\n' > in
	"$PV_FILTERS/unctrl" < in > got
	cmp in got
}

@test "unctrl: backslash is doubled, LF kept, CRLF shows its CR" {
	run vis_of 'a\\b\r\nc\n\nd'
	assert_success
	assert_output "$(printf '%s\n' 'a\\b\r' c '' d)"
	run --separate-stderr vis_of 'no newline'
	assert_output 'no newline'
	vis_of 'x\r' > got
	[ "$(cat got)" = 'x\r' ]
	[ "$(wc -c < got)" -eq 3 ]
}

@test "unctrl: C1 controls and bidi overrides are escaped" {
	run vis_of '\302\205|\302\233[31m|\342\200\252\342\200\253\342\200\254\342\200\255\342\200\256|\342\201\246\342\201\247\342\201\250\342\201\251|\342\200\257'
	assert_success
	assert_output '\302\205|\302\233[31m|\342\200\252\342\200\253\342\200\254\342\200\255\342\200\256|\342\201\246\342\201\247\342\201\250\342\201\251|'"$(printf '\342\200\257')"
}

@test "unctrl: invalid UTF-8 is escaped byte by byte" {
	# Overlong, surrogate, past U+10FFFF, stray continuation, F5+.
	run vis_of '\300\257|\340\200\257|\355\240\200|\364\220\200\200|\200|\365\377'
	assert_success
	assert_output '\300\257|\340\200\257|\355\240\200|\364\220\200\200|\200|\365\377'
	# A truncated sequence before ASCII, before valid UTF-8, at the end.
	run vis_of '\342\202A|\342\303\251|\360\237\230'
	assert_output '\342\202A|\342'"$(printf '\303\251')"'|\360\237\230'
}

@test "unctrl: empty input and empty lines" {
	run vis_of ''
	assert_success
	assert_output ''
	printf '\n\n' > in
	"$PV_FILTERS/unctrl" < in > got
	cmp in got
}

@test "unctrl: a UTF-8 character split across two reads stays whole" {
	# The pause makes the two halves arrive in separate reads.
	{
		printf 'x\342\202'
		sleep 0.3
		printf '\254\n'
	} | "$PV_FILTERS/unctrl" > got
	printf 'x\342\202\254\n' | cmp - got
}

@test "unctrl: 10 MB lines of UTF-8 at every alignment, file and pipe" {
	local k
	yes $'\xf0\x9f\x98\x80\xe6\x97\xa5\xc3\xa9' | head -n 1100000 |
	    tr -d '\n' > body
	for k in 0 1 2 3; do
		{ head -c "$k" /dev/zero | tr '\0' x; cat body; } > in
		"$PV_FILTERS/unctrl" < in > got
		cmp in got
		cat in | "$PV_FILTERS/unctrl" > got
		cmp in got
	done
}

@test "unctrl: a 10 MB line of escapes grows exactly fourfold" {
	head -c 10000000 /dev/zero | tr '\0' '\033' > in
	"$PV_FILTERS/unctrl" < in > got
	yes '\033' | head -n 10000000 | tr -d '\n' | cmp - got
}

@test "unctrl: a 10 MB line mixing text and invalid bytes" {
	yes $'\xc3\xa9\xff\x1b[0m' | head -n 1000000 | tr -d '\n' > in
	yes $'\xc3\xa9\\377\\033[0m' | head -n 1000000 | tr -d '\n' > want
	"$PV_FILTERS/unctrl" < in > got
	cmp want got
	cat in | "$PV_FILTERS/unctrl" > got
	cmp want got
}

@test "unctrl: random data: same output however it is split, no raw control" {
	head -c 3000000 /dev/urandom > rnd
	"$PV_FILTERS/unctrl" < rnd > got1
	cat rnd | "$PV_FILTERS/unctrl" > got2
	dd if=rnd bs=999 status=none | "$PV_FILTERS/unctrl" > got3
	cmp got1 got2
	cmp got1 got3
	# Nothing below 0x20 but LF and tab, no DEL; LF count unchanged.
	run bash -c "tr -d '\n\t' < got1 | tr -d ' -~\200-\377' | wc -c"
	assert_output 0
	[ "$(tr -cd '\n' < rnd | wc -c)" = "$(tr -cd '\n' < got1 | wc -c)" ]
}

@test "unctrl: output is written as it is read, not at end of file" {
	mkfifo fifo
	"$PV_FILTERS/unctrl" < fifo > got 3>&- &
	bg_pid=$!
	exec 5> fifo
	printf 'first\033\n' >&5
	wait_for 5 grep -qxF 'first\033' got
	exec 5>&-
	wait "$bg_pid"
}

@test "unctrl: short writes to a non-blocking pipe lose nothing" {
	yes $'text \x1b[1m\xc3\xa9\x01' | head -c 4000000 > in
	"$PV_FILTERS/unctrl" < in > want
	no_lsan perl -MFcntl -e 'my $f = fcntl(STDOUT, F_GETFL, 0) or die;
	    fcntl(STDOUT, F_SETFL, $f | O_NONBLOCK) or die;
	    exec @ARGV or die' \
	    strace -o log -e trace=write "$PV_FILTERS/unctrl" < in | cat > got
	cmp want got
	# Short writes really happened (EAGAIN may, too).
	awk '/^write\(1,/ { n = $(NF - 2); sub(/\)$/, "", n)
	    if ($NF + 0 > 0 && $NF + 0 < n + 0) short++ }
	    END { exit short > 0 ? 0 : 1 }' log
}

@test "unctrl: EINTR on read and write changes nothing" {
	yes $'text \x1b[1m\xc3\xa9\x01' | head -c 4000000 > in
	"$PV_FILTERS/unctrl" < in > want
	cat in | eintr_trace log "$PV_FILTERS/unctrl" > got
	cmp want got
	[ "$(grep -c '^read(0,.*INJECTED' log)" -ge 10 ]
	[ "$(grep -c '^write(1,.*INJECTED' log)" -ge 10 ]
}

@test "unctrl: EPIPE with SIGPIPE default kills it like cat" {
	if sigpipe_ignored; then
		skip "SIGPIPE is ignored in this test environment"
	fi
	run timeout 10 bash -c \
	    'yes abc | "$1" | head -c 1000 > out; echo "${PIPESTATUS[1]}"' \
	    _ "$PV_FILTERS/unctrl"
	assert_success
	assert_output 141
	assert_equal "$(wc -c < out)" 1000
}

@test "unctrl: EPIPE with SIGPIPE ignored exits 1 with one message" {
	run timeout 10 bash -c 'trap "" PIPE
	    "$1" < /dev/zero 2> err | head -c 1000 > /dev/null
	    echo "${PIPESTATUS[0]}"' _ "$PV_FILTERS/unctrl"
	assert_success
	assert_output 1
	run cat err
	assert_output "unctrl: stdout: Broken pipe"
}

@test "unctrl: a write error exits 1 naming stdout" {
	run --separate-stderr bash -c '"$1" < /etc/passwd > /dev/full' \
	    _ "$PV_FILTERS/unctrl"
	assert_failure 1
	assert_equal "$stderr" "unctrl: stdout: No space left on device"
	run --separate-stderr bash -c '"$1" < /etc/passwd >&-' \
	    _ "$PV_FILTERS/unctrl"
	assert_failure 1
	assert_equal "$stderr" "unctrl: stdout: Bad file descriptor"
}

@test "unctrl: a read error exits 1 naming stdin" {
	run --separate-stderr "$PV_FILTERS/unctrl" < /
	assert_failure 1
	assert_equal "$stderr" "unctrl: stdin: Is a directory"
}

@test "unctrl: --help and --version" {
	run --separate-stderr "$PV_FILTERS/unctrl" --help
	assert_success
	assert_line --index 0 "usage: unctrl"
	assert_equal "$stderr" ""
	run --separate-stderr "$PV_FILTERS/unctrl" --version
	assert_success
	assert_output "unctrl (pipevisor) 0.1.0"
}

@test "unctrl: usage errors exit 2" {
	run --separate-stderr "$PV_FILTERS/unctrl" -v < /dev/null
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "unctrl: invalid option -- 'v'
usage: unctrl"
	run --separate-stderr "$PV_FILTERS/unctrl" file < /dev/null
	assert_failure 2
	assert_equal "$stderr" "unctrl: unexpected argument: file
usage: unctrl"
}
