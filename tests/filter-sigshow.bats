#!/usr/bin/env bats
# sigshow(1): one line per signal with sender pid and uid, the ready line,
# -c/-e/-i sets, -s inherited state, stdin passed through, -E, EPIPE.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	SIGSHOW=$PV_FILTERS/sigshow
	PIDS=
	ME=$(id -u)
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

# start_sigshow ARGS...: runs sigshow in the background with its output in
# out and err, and waits for its ready line; sets SPID.
start_sigshow() {
	"$SIGSHOW" "$@" < /dev/null > out 2> err 3>&- &
	SPID=$!
	PIDS="$PIDS $SPID"
	wait_for 5 grep -qx "ready $SPID" out
}

# lines_like N REGEX: out has exactly N lines matching REGEX.
lines_like() {
	[ "$(grep -c "$2" out)" -eq "$1" ]
}

# shown NAME: the line for NAME sent by this shell is in out.
shown() {
	grep -qx "$1 from pid $BASHPID uid $ME" out
}

@test "sigshow: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$SIGSHOW" --help
	assert_success
	assert_equal "${lines[0]}" \
	    "usage: sigshow [-Es] [-c signals] [-e signals] [-i signals]"
	assert_equal "$stderr" ""
}

@test "sigshow: --version" {
	run --separate-stderr "$SIGSHOW" --version
	assert_success
	assert_output "sigshow (pipevisor) 0.1.0"
}

@test "sigshow: usage errors exit 2 with the mistake and the usage line" {
	local usage="usage: sigshow [-Es] [-c signals] [-e signals] [-i signals]"

	run --separate-stderr "$SIGSHOW" -c USR1,NOPE
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: -c: bad signal: NOPE"
	assert_equal "${stderr_lines[1]}" "$usage"
	assert_equal "$output" ""
	run --separate-stderr "$SIGSHOW" -c KILL
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" \
	    "sigshow: -c: KILL cannot be caught or ignored"
	run --separate-stderr "$SIGSHOW" -i STOP
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" \
	    "sigshow: -i: STOP cannot be caught or ignored"
	run --separate-stderr "$SIGSHOW" -e ''
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: -e: bad signal: "
	run --separate-stderr "$SIGSHOW" -i USR1 -c USR1
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: USR1 is both ignored and caught"
	run --separate-stderr "$SIGSHOW" -i TERM
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: TERM is both ignored and caught"
	run --separate-stderr "$SIGSHOW" extra
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: unexpected argument: extra"
	run --separate-stderr "$SIGSHOW" --frob
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "sigshow: unrecognized option '--frob'"
	assert_equal "${stderr_lines[1]}" "$usage"
}

@test "sigshow: prints each signal with the sender's pid and uid" {
	start_sigshow
	kill -USR1 "$SPID"
	wait_for 5 shown "USR1 10"
	kill -HUP "$SPID"
	wait_for 5 shown "HUP 1"
	kill -USR2 "$SPID"
	wait_for 5 shown "USR2 12"
	kill -ALRM "$SPID"
	wait_for 5 shown "ALRM 14"
	kill -CHLD "$SPID"
	wait_for 5 shown "CHLD 17"
	kill -WINCH "$SPID"
	wait_for 5 shown "WINCH 28"
	kill -QUIT "$SPID"
	wait_for 5 shown "QUIT 3"
	# Still running: none of those is an exit signal.
	kill -0 "$SPID"
	assert_equal "$(cat err)" ""
}

@test "sigshow: TERM is printed, then it exits 143" {
	start_sigshow
	kill -TERM "$SPID"
	reap "$SPID"
	assert_equal "$WST" 143
	assert_equal "$(tail -n 1 out)" "TERM 15 from pid $BASHPID uid $ME"
}

@test "sigshow: INT is printed, then it exits 130 (even if started ignored)" {
	# A background job of a script starts with INT ignored.
	start_sigshow
	kill -INT "$SPID"
	reap "$SPID"
	assert_equal "$WST" 130
	assert_equal "$(tail -n 1 out)" "INT 2 from pid $BASHPID uid $ME"
}

@test "sigshow: STOP and CONT: the job stops, CONT is shown" {
	start_sigshow
	kill -STOP "$SPID"
	wait_for 5 grep -q '^State:.*T' "/proc/$SPID/status"
	kill -CONT "$SPID"
	wait_for 5 shown "CONT 18"
}

@test "sigshow: -e replaces the exit set" {
	start_sigshow -e USR2
	kill -TERM "$SPID"
	wait_for 5 shown "TERM 15"
	kill -INT "$SPID"
	wait_for 5 shown "INT 2"
	kill -USR2 "$SPID"
	reap "$SPID"
	assert_equal "$WST" 140
	assert_equal "$(tail -n 1 out)" "USR2 12 from pid $BASHPID uid $ME"
}

@test "sigshow: -c catches only those; others have their default effect" {
	start_sigshow -c USR1
	kill -USR1 "$SPID"
	wait_for 5 shown "USR1 10"
	kill -HUP "$SPID"
	reap "$SPID"
	assert_equal "$WST" 129
	run grep -c HUP out
	assert_output "0"
}

@test "sigshow: -c and -e take comma-separated lists of names and numbers" {
	start_sigshow -c usr1,SIGHUP,12 -e 10,sigalrm
	kill -HUP "$SPID"
	wait_for 5 shown "HUP 1"
	kill -USR2 "$SPID"
	wait_for 5 shown "USR2 12"
	# TERM is not caught any more: it kills without a line.
	kill -ALRM "$SPID"
	reap "$SPID"
	assert_equal "$WST" 142
	assert_equal "$(tail -n 1 out)" "ALRM 14 from pid $BASHPID uid $ME"
}

@test "sigshow: real-time signals are caught and each one is shown" {
	start_sigshow -c RTMIN+1
	kill -s RTMIN+1 "$SPID"
	kill -s RTMIN+1 "$SPID"
	kill -s RTMIN+1 "$SPID"
	wait_for 5 lines_like 3 "^RTMIN+1 "
	grep -qx "RTMIN+1 $(($(kill -l RTMIN) + 1)) from pid $BASHPID uid $ME" out
}

@test "sigshow: -i ignores a signal, even one of the default set" {
	start_sigshow -i HUP,PIPE
	grep -q '^SigIgn:' "/proc/$SPID/status"
	kill -HUP "$SPID"
	kill -USR1 "$SPID"
	wait_for 5 shown "USR1 10"
	run grep -c HUP out
	assert_output "0"
	kill -0 "$SPID"
}

@test "sigshow: a caught signal is shown even if it was inherited ignored" {
	bash -c 'trap "" USR1; exec "$0"' "$SIGSHOW" < /dev/null > out 3>&- &
	SPID=$!
	PIDS="$PIDS $SPID"
	wait_for 5 grep -qx "ready $SPID" out
	kill -USR1 "$SPID"
	wait_for 5 shown "USR1 10"
}

@test "sigshow: -s prints the inherited SigIgn and SigBlk as /proc does" {
	run --separate-stderr bash -c 'trap "" USR1 PIPE
	    grep -E "^SigIgn:" /proc/self/status | tr -d "\t"
	    grep -E "^SigBlk:" /proc/self/status | tr -d "\t"
	    exec "$0" -s -E < /dev/null' "$SIGSHOW"
	assert_success
	# grep is a sibling with the same inherited state: same masks.
	assert_equal "$(awk '{ print $1 $2 }' <<<"${lines[2]}")" "${lines[0]}"
	assert_equal "$(awk '{ print $1 $2 }' <<<"${lines[3]}")" "${lines[1]}"
	assert_regex "${lines[2]}" '^SigIgn: [0-9a-f]{16} ([A-Z0-9]+,)*USR1,([A-Z0-9]+,)*PIPE(,|$)'
	assert_regex "${lines[3]}" '^SigBlk: [0-9a-f]{16}'
	assert_equal "${lines[4]%% *}" "ready"
}

@test "sigshow: -s shows the state before sigshow's own -i" {
	run --separate-stderr bash -c '
	    grep -E "^SigIgn:" /proc/self/status | tr -d "\t"
	    exec "$0" -s -E -i USR2 < /dev/null' "$SIGSHOW"
	assert_success
	assert_equal "$(awk '{ print $1 $2 }' <<<"${lines[1]}")" "${lines[0]}"
	refute_regex "${lines[1]}" 'USR2'
}

@test "sigshow: stdin is copied to stdout; -E exits 0 at end of input" {
	run --separate-stderr "$SIGSHOW" -E < <(printf 'a\nb\n')
	assert_success
	assert_equal "${lines[0]%% *}" "ready"
	assert_equal "${lines[1]}" "a"
	assert_equal "${lines[2]}" "b"
	assert_equal "${#lines[@]}" 3
}

@test "sigshow: without -E, end of input does not end it" {
	start_sigshow
	# stdin is /dev/null: EOF at once, and signals are still shown.
	kill -USR1 "$SPID"
	wait_for 5 shown "USR1 10"
	kill -0 "$SPID"
}

@test "sigshow: a signal line comes at once while stdin stays open" {
	mkfifo in
	"$SIGSHOW" < in > out 3>&- &
	SPID=$!
	PIDS="$PIDS $SPID"
	exec 5> in
	wait_for 5 grep -qx "ready $SPID" out
	echo data >&5
	wait_for 5 grep -qx data out
	kill -USR2 "$SPID"
	wait_for 5 shown "USR2 12"
	exec 5>&-
}

@test "sigshow: binary data and a 20 MB line pass unchanged" {
	{ head -c 20000000 /dev/zero | tr '\0' x; echo;
	    head -c 1000000 /dev/urandom; } > in
	"$SIGSHOW" -E < in > out
	head -n 1 out | grep -q '^ready [0-9]*$'
	tail -n +2 out | cmp - in
}

@test "sigshow: a closed output ends it by SIGPIPE" {
	head -c 5000000 /dev/urandom > in
	run bash -c '"$0" -E < in | head -n 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$SIGSHOW"
	assert_output "141"
}

@test "sigshow: with SIGPIPE ignored, EPIPE is status 1 and one message" {
	head -c 5000000 /dev/urandom > in
	run --separate-stderr bash -c 'trap "" PIPE;
	    "$0" -E < in | head -n 1 >/dev/null;
	    echo "${PIPESTATUS[0]}"' "$SIGSHOW"
	assert_output "1"
	assert_equal "$stderr" "sigshow: stdout: Broken pipe"
}

@test "sigshow: read and write errors exit 1 naming the stream" {
	run --separate-stderr "$SIGSHOW" -E < .
	assert_equal "$status" 1
	assert_equal "$stderr" "sigshow: stdin: Is a directory"
	run --separate-stderr bash -c '"$0" -E < /dev/null > /dev/full' "$SIGSHOW"
	assert_equal "$status" 1
	assert_equal "$stderr" "sigshow: stdout: No space left on device"
}
