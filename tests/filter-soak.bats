#!/usr/bin/env bats
# soak(1): read everything, then replace FILE atomically (temporary file
# in the same directory, mode and owner kept, rename); -a; stdout and
# non-regular targets; full disk and file size limit; signals before and
# during the held rename; binary data, huge lines, EPIPE, exit statuses.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	SOAK=$PV_FILTERS/soak
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

# temps: the temporary files soak left in the current directory.
temps() {
	find . -maxdepth 1 -name '.*.soak-*' | sort
}

has_temp() {
	[ -n "$(temps)" ]
}

# can_strace: strace can trace a child here (ptrace may be forbidden).
can_strace() {
	command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null
}

@test "soak: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$SOAK" --help
	assert_success
	assert_equal "${lines[0]}" "usage: soak [-a] [file]"
	assert_equal "$stderr" ""
}

@test "soak: --version" {
	run --separate-stderr "$SOAK" --version
	assert_success
	assert_output "soak (pipevisor) 0.1.0"
}

@test "soak: usage errors exit 2 with the mistake and the usage line" {
	run --separate-stderr "$SOAK" a b < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "soak: unexpected argument: b"
	assert_equal "${stderr_lines[1]}" "usage: soak [-a] [file]"
	run --separate-stderr "$SOAK" -x f < /dev/null
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "soak: invalid option -- 'x'"
	assert_equal "${stderr_lines[1]}" "usage: soak [-a] [file]"
	[ ! -e a ] && [ ! -e f ]
}

@test "soak: a pipeline reads a file and writes it back (upper < f | soak f)" {
	printf 'hello\nworld\n' > f
	if [ -x "$PV_FILTERS/upper" ]; then
		"$PV_FILTERS/upper" < f | "$SOAK" f
	else
		tr a-z A-Z < f | "$SOAK" f
	fi
	assert_equal "$(cat f)" "$(printf 'HELLO\nWORLD')"
	assert_equal "$(temps)" ""
}

@test "soak: the same through pipevisor run" {
	[ -x "$PIPEVISOR" ] || skip "pipevisor is not built"
	[ -x "$PV_FILTERS/upper" ] || skip "upper is not built"
	printf 'hello\n' > f
	run "$PIPEVISOR" run 'upper < f | soak f'
	assert_success
	assert_equal "$(cat f)" "HELLO"
}

@test "soak: input far larger than a pipe is all read before the replace" {
	seq 1000000 | sort -r > f
	sort -n f | "$SOAK" f
	cmp <(seq 1000000) f
}

@test "soak: the file is replaced by rename (a new inode), mode kept" {
	seq 3 > f
	chmod 640 f
	local ino
	ino=$(stat -c %i f)
	seq 5 | "$SOAK" f
	assert_equal "$(cat f)" "$(seq 5)"
	assert_equal "$(stat -c %a f)" 640
	[ "$(stat -c %i f)" != "$ino" ]
	assert_equal "$(temps)" ""
}

@test "soak: a new file gets 0666 less the umask" {
	(umask 027 && echo x | "$SOAK" new)
	assert_equal "$(stat -c %a new)" 640
	(umask 002 && echo x | "$SOAK" new2)
	assert_equal "$(stat -c %a new2)" 664
	assert_equal "$(cat new)" x
}

@test "soak: the owner and group are kept when permitted (root)" {
	[ "$(id -u)" = 0 ] || skip "needs root to give a file away"
	seq 3 > f
	chown 1:1 f
	chmod 4750 f
	echo x | "$SOAK" f
	assert_equal "$(stat -c '%u:%g %a' f)" "1:1 4750"
}

@test "soak: a symbolic link is followed and kept" {
	mkdir d
	echo old > d/target
	ln -s d/target link
	echo new | "$SOAK" link
	[ -L link ]
	assert_equal "$(cat d/target)" new
	assert_equal "$(cd d && find . -name '.*.soak-*')" ""
}

@test "soak: -a appends, atomically too" {
	seq 3 > f
	local ino
	ino=$(stat -c %i f)
	seq 4 6 | "$SOAK" -a f
	assert_equal "$(cat f)" "$(seq 6)"
	[ "$(stat -c %i f)" != "$ino" ]
	echo only | "$SOAK" -a missing
	assert_equal "$(cat missing)" only
	assert_equal "$(temps)" ""
}

@test "soak: -a with a file read by the same pipeline" {
	seq 3 > f
	"$SOAK" -a f < f
	assert_equal "$(cat f)" "$(seq 3; seq 3)"
}

@test "soak: without a file it writes to stdout after end of input" {
	run --separate-stderr "$SOAK" < <(seq 3)
	assert_success
	assert_output "$(seq 3)"
	assert_equal "$stderr" ""
	run bash -c 'seq 3 | "$0" -a /dev/stdout | cat' "$SOAK"
	assert_success
	assert_output "$(seq 3)"
}

@test "soak: a FIFO as the file is written, not replaced" {
	mkfifo p
	cat p > got 3>&- &
	local cpid=$!
	PIDS="$PIDS $cpid"
	seq 3 | "$SOAK" p
	reap "$cpid"
	[ -p p ]
	assert_equal "$(cat got)" "$(seq 3)"
}

@test "soak: binary data and a 20 MB line, from a pipe and from a file" {
	{ head -c 20000000 /dev/zero | tr '\0' x; echo;
	    head -c 3000000 /dev/urandom; } > in
	cat in | "$SOAK" f
	cmp in f
	"$SOAK" g < in
	cmp in g
	"$SOAK" < in > h
	cmp in h
	assert_equal "$(temps)" ""
}

@test "soak: a directory is an error; nothing is read" {
	mkdir d
	run --separate-stderr "$SOAK" d < <(echo x)
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: d: Is a directory"
}

@test "soak: no temporary file can be made: status 1 before reading" {
	run --separate-stderr "$SOAK" nodir/f < <(echo x)
	assert_equal "$status" 1
	assert_equal "$stderr" \
	    "soak: cannot create a temporary file in nodir: No such file or directory"
}

@test "soak: a file size limit (EFBIG): message, FILE untouched, no temp" {
	command -v prlimit >/dev/null || skip "prlimit is not installed"
	seq 3 > f
	head -c 1000000 /dev/urandom > in
	# From a pipe (splice) and from a file (read and write).
	run --separate-stderr bash -c 'cat in | prlimit --fsize=65536 "$0" f' \
	    "$SOAK"
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: f: File too large"
	assert_equal "$(cat f)" "$(seq 3)"
	assert_equal "$(temps)" ""
	run --separate-stderr prlimit --fsize=65536 "$SOAK" f < in
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: f: File too large"
	assert_equal "$(cat f)" "$(seq 3)"
	assert_equal "$(temps)" ""
	# With SIGXFSZ ignored as well.
	run --separate-stderr bash -c 'trap "" XFSZ;
	    prlimit --fsize=65536 "$0" f < in' "$SOAK"
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: f: File too large"
	assert_equal "$(temps)" ""
}

@test "soak: a full device as the file: status 1 and a message" {
	run --separate-stderr "$SOAK" /dev/full < <(seq 3)
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: /dev/full: No space left on device"
}

@test "soak: a read error leaves FILE untouched and no temp" {
	seq 3 > f
	run --separate-stderr "$SOAK" f < .
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: stdin: Is a directory"
	assert_equal "$(cat f)" "$(seq 3)"
	assert_equal "$(temps)" ""
}

@test "soak: a closed stdout is status 1 and one message" {
	run --separate-stderr bash -c 'head -c 1000000 /dev/zero | "$0" |
	    head -c 1 >/dev/null; echo "${PIPESTATUS[1]}"' "$SOAK"
	assert_output "1"
	assert_equal "$stderr" "soak: stdout: Broken pipe"
}

# soak_killed_while_reading SIGNAL STATUS: soak reads from a FIFO held
# open by this shell; SIGNAL arrives; FILE must be untouched, no temp left.
soak_killed_while_reading() {
	seq 3 > f
	mkfifo in
	# A script's background job starts with INT and QUIT ignored.
	env --default-signal=INT,QUIT "$SOAK" f < in 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	# The temporary file exists before anything is read.
	wait_for 5 has_temp
	echo "partial input" >&5
	kill -"$1" "$pid"
	reap "$pid"
	exec 5>&-
	assert_equal "$WST" "$2"
	assert_equal "$(cat f)" "$(seq 3)"
	assert_equal "$(temps)" ""
	assert_equal "$(cat err)" ""
}

@test "soak: SIGTERM while reading: temp removed, FILE untouched, 143" {
	soak_killed_while_reading TERM 143
}

@test "soak: SIGINT while reading: 130" {
	soak_killed_while_reading INT 130
}

@test "soak: SIGHUP while reading: 129" {
	soak_killed_while_reading HUP 129
}

@test "soak: SIGQUIT while reading: 131" {
	ulimit -c 0
	soak_killed_while_reading QUIT 131
}

@test "soak: a signal ignored when it started stays ignored (nohup)" {
	seq 3 > f
	mkfifo in
	bash -c 'trap "" HUP; exec "$0" f' "$SOAK" < in 2> err 3>&- &
	local pid=$!
	PIDS="$PIDS $pid"
	exec 5> in
	wait_for 5 has_temp
	echo first >&5
	kill -HUP "$pid"
	# INT too: a script's background job starts with it ignored.
	kill -INT "$pid"
	echo second >&5
	exec 5>&-
	reap "$pid"
	assert_equal "$WST" 0
	assert_equal "$(cat f)" "$(printf 'first\nsecond')"
	assert_equal "$(temps)" ""
}

@test "soak: a signal just before the rename cancels it (status 143)" {
	can_strace || skip "strace cannot trace here"
	seq 3 > f
	# SIGTERM is sent as soak enters fsync of the temporary file.
	run --separate-stderr strace -o /dev/null -e trace=fsync \
	    -e inject=fsync:signal=SIGTERM:when=1 "$SOAK" f < <(echo new)
	assert_equal "$status" 143
	assert_equal "$(cat f)" "$(seq 3)"
	assert_equal "$(temps)" ""
}

@test "soak: a signal during the held rename waits for it (status 143)" {
	can_strace || skip "strace cannot trace here"
	seq 3 > f
	# SIGTERM is sent as soak enters rename: held off until it is done.
	run --separate-stderr strace -o /dev/null \
	    -e trace=rename,renameat,renameat2 \
	    -e inject=rename,renameat,renameat2:signal=SIGTERM "$SOAK" f \
	    < <(echo new)
	assert_equal "$status" 143
	assert_equal "$(cat f)" "new"
	assert_equal "$(temps)" ""
}

@test "soak: a closed stdout is an error; the temporary file is not fd 1" {
	run --separate-stderr bash -c 'seq 3 | "$0" >&-' "$SOAK"
	assert_equal "$status" 1
	assert_equal "$stderr" "soak: stdout: Bad file descriptor"
}
