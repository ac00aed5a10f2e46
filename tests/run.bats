#!/usr/bin/env bats
# pipevisor run: SPEC grammar, exit statuses, signals, fds and teardown
# (DESIGN.md section 3 and 8; RELIABILITY.md items 1-14, 21, 22, 25, 26).

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	SIGSTATE=$PV_TESTBIN/sigstate
	# A unique argument marks this test's sleeps, so pgrep finds only ours.
	MARK=$((1000 + RANDOM % 8000)).$BATS_TEST_NUMBER$$
}

teardown() {
	pkill -KILL -f "sleep $MARK" 2>/dev/null || true
}

no_sleep_left() {
	! pgrep -f "sleep $MARK" >/dev/null
}

# --- help, version, usage ---------------------------------------------------

@test "run: --help prints the usage on stdout and exits 0" {
	run "$PIPEVISOR" run --help
	assert_success
	assert_output --partial "usage: pipevisor run"
	assert_output --partial "--pipefail"
}

@test "pipevisor: --help and --version" {
	run "$PIPEVISOR" --help
	assert_success
	assert_output --partial "pipevisor run"
	run "$PIPEVISOR" --version
	assert_success
	assert_output --regexp '^pipevisor [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "pipevisor: an unknown subcommand is a usage error (2)" {
	run --separate-stderr "$PIPEVISOR" frobnicate
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "pipevisor: unknown command 'frobnicate'"
	run "$PIPEVISOR"
	assert_equal "$status" 2
}

@test "run: usage errors exit 125 with one line naming the problem" {
	run --separate-stderr "$PIPEVISOR" run
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: run: missing SPEC"
	run --separate-stderr "$PIPEVISOR" run --timeout soon true
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" \
	    "pipevisor: run: invalid duration for --timeout: 'soon'"
	run --separate-stderr "$PIPEVISOR" run --signal NOPE true
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: run: invalid signal: 'NOPE'"
	run --separate-stderr "$PIPEVISOR" run -k x true
	assert_equal "$status" 125
	run --separate-stderr "$PIPEVISOR" run --bogus true
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" "pipevisor: run: unknown option '--bogus'"
	run --separate-stderr "$PIPEVISOR" run -x true
	assert_equal "${stderr_lines[0]}" "pipevisor: run: unknown option '-x'"
	run --separate-stderr "$PIPEVISOR" run true -t
	assert_equal "$status" 125
	run --separate-stderr "$PIPEVISOR" run -t
	assert_equal "${stderr_lines[0]}" \
	    "pipevisor: run: option '-t' needs an argument"
	run --separate-stderr "$PIPEVISOR" run echo hello
	assert_equal "$status" 125
	assert_equal "${stderr_lines[0]}" \
	    "pipevisor: run: one SPEC expected, got another: 'hello' (quote the whole pipeline)"
}

# --- the SPEC grammar --------------------------------------------------------

@test "spec: words, single and double quotes, backslashes" {
	run "$PIPEVISOR" run "printf '[%s]\n' a 'b c' \"d  e\" f\\ g '' \"\" h\\\\i 'j\"k' \"l'm\" \"n\\\"o\""
	assert_success
	assert_output "$(printf '[%s]\n' a 'b c' 'd  e' 'f g' '' '' 'h\i' 'j"k' "l'm" 'n"o')"
}

@test "spec: nothing is expanded or globbed" {
	run "$PIPEVISOR" run "printf '%s\n' '\$HOME' * ~ 'a*'"
	assert_success
	assert_output "$(printf '%s\n' '$HOME' '*' '~' 'a*')"
}

@test "spec: a pipe between stages, data flowing stage to stage" {
	run "$PIPEVISOR" run "printf 'b\na\nb\nc\n' | sort | uniq -c | sort -rn | head -n1"
	assert_success
	assert_output --regexp '^ +2 b$'
}

@test "spec: < > >> redirections" {
	printf 'one\ntwo\n' > in.txt
	run "$PIPEVISOR" run "tr a-z A-Z < in.txt > out.txt"
	assert_success
	assert_equal "$(cat out.txt)" "$(printf 'ONE\nTWO')"
	run "$PIPEVISOR" run "echo three >> out.txt"
	assert_success
	assert_equal "$(cat out.txt)" "$(printf 'ONE\nTWO\nthree')"
	run "$PIPEVISOR" run "echo four >out.txt"
	assert_equal "$(cat out.txt)" "four"
}

@test "spec: 2> and 2>&1, applied in order as in sh" {
	run --separate-stderr "$PIPEVISOR" run "sh -c 'echo out; echo err >&2' 2> err.txt"
	assert_success
	assert_equal "$output" "out"
	assert_equal "$(cat err.txt)" "err"
	run --separate-stderr "$PIPEVISOR" run "sh -c 'echo err >&2' 2>&1 | tr a-z A-Z"
	assert_equal "$output" "ERR"
	assert_equal "$stderr" ""
	# > f 2>&1 sends both to f; 2>&1 > f leaves stderr on the old stdout.
	run --separate-stderr "$PIPEVISOR" run "sh -c 'echo o; echo e >&2' > both.txt 2>&1"
	assert_equal "$(sort both.txt | tr '\n' ' ')" "e o "
	run --separate-stderr "$PIPEVISOR" run "sh -c 'echo o; echo e >&2' 2>&1 > only.txt"
	assert_equal "$output" "e"
	assert_equal "$(cat only.txt)" "o"
}

@test "spec: an all-digit word right before > is the fd; otherwise a word" {
	run "$PIPEVISOR" run "echo a2>f.txt"
	assert_success
	assert_equal "$(cat f.txt)" "a2"
	run "$PIPEVISOR" run "echo x 1>g.txt"
	assert_equal "$(cat g.txt)" "x"
}

@test "spec: redirections of fds above 2 reach the stage" {
	run "$PIPEVISOR" run "sh -c 'echo to3 >&3; cat <&4' 3> f3 4< f3"
	assert_success
	assert_equal "$(cat f3)" "to3"
	run "$PIPEVISOR" run "sh -c 'echo both >&3' 3>&1 | cat"
	assert_output "both"
}

@test "spec: N>&M cannot reach pipevisor's own fds" {
	# fds 3 and above exist in pipevisor (epoll, pipes) but are not the
	# stage's: the stage fails as in a shell, and nothing leaks.
	run -1 --separate-stderr "$PIPEVISOR" run -t 5 "sleep 2 2>&5"
	assert_equal "$stderr" \
	    "pipevisor: run: stage 1: sleep: 2>&5: Bad file descriptor"
	run -1 --separate-stderr "$PIPEVISOR" run "cat <&3"
	assert_equal "$stderr" \
	    "pipevisor: run: stage 1: cat: 0>&3: Bad file descriptor"
}

@test "spec: a redirection to a missing file fails that stage with status 1" {
	run --separate-stderr "$PIPEVISOR" run "cat < nosuchfile"
	assert_equal "$status" 1
	assert_equal "$stderr" \
	    "pipevisor: run: stage 1: cat: nosuchfile: No such file or directory"
}

@test "spec: shell syntax that is not implemented is refused with a column" {
	local spec want
	while IFS='|' read -r spec want; do
		run --separate-stderr "$PIPEVISOR" run "$spec"
		assert_equal "$status" 125
		assert_equal "$stderr" "pipevisor: run: SPEC $want"
	done <<-'EOF'
	echo a; echo b|column 7: ';' is not supported (use --shell)
	sleep 1 &|column 9: '&' is not supported (use --shell)
	echo $HOME|column 6: '$' expansion is not supported: quote it, or use --shell
	echo "$(id)"|column 7: '$' expansion is not supported: quote it, or use --shell
	echo `id`|column 6: command substitution is not supported (use --shell)
	echo 'oops|column 6: unterminated single quote
	echo "oops|column 6: unterminated double quote
	EOF
}

@test "spec: empty stages, missing files and bad fds are errors (125)" {
	local spec want
	while IFS='#' read -r spec want; do
		run --separate-stderr "$PIPEVISOR" run "$spec"
		assert_equal "$status" 125
		assert_equal "$stderr" "pipevisor: run: SPEC $want"
	done <<-'EOF'
	#column 1: stage 1 is empty
	| cat#column 1: stage 1 is empty
	cat |#column 6: stage 2 is empty
	cat | | cat#column 7: stage 2 is empty
	true || false#column 6: '||' is not supported: one pipeline per SPEC
	cat >#column 6: missing file name after '>'
	cat 2>&x#column 8: 'x' is not a file descriptor
	> out#column 1: stage 1 has no command
	EOF
}

@test "spec: --shell runs each stage under /bin/sh -c" {
	run "$PIPEVISOR" run --shell 'echo "$((6 * 7))" | sed "s/^/answer /"'
	assert_success
	assert_output "answer 42"
	run "$PIPEVISOR" run --shell "echo 'a|b' | tr '|' -"
	assert_output "a-b"
}

# --- exit statuses -----------------------------------------------------------

@test "status: the last stage's status by default" {
	run "$PIPEVISOR" run "sh -c 'exit 3' | sh -c 'exit 4'"
	assert_equal "$status" 4
	run "$PIPEVISOR" run "false | true"
	assert_equal "$status" 0
	run "$PIPEVISOR" run "sh -c 'exit 2'"
	assert_equal "$status" 2
}

@test "status: --pipefail gives the rightmost non-zero status" {
	run "$PIPEVISOR" run --pipefail "sh -c 'exit 3' | sh -c 'exit 5' | true"
	assert_equal "$status" 5
	run "$PIPEVISOR" run --pipefail "true | true"
	assert_equal "$status" 0
}

@test "status: a stage killed by signal N gives 128+N" {
	run "$PIPEVISOR" run "sh -c 'kill -KILL \$\$'"
	assert_equal "$status" 137
	run "$PIPEVISOR" run "sh -c 'kill -TERM \$\$'"
	assert_equal "$status" 143
}

@test "status: 127 command not found, with one message naming it" {
	run --separate-stderr "$PIPEVISOR" run "echo hi | nosuchcmd-$$ | cat"
	assert_equal "$status" 0
	run -127 --separate-stderr "$PIPEVISOR" run "echo hi | nosuchcmd-$$"
	assert_equal "$status" 127
	assert_equal "$stderr" "pipevisor: run: stage 2: nosuchcmd-$$: command not found"
	run -127 --separate-stderr "$PIPEVISOR" run "/nonexistent/prog"
	assert_equal "$status" 127
	assert_equal "$stderr" \
	    "pipevisor: run: stage 1: /nonexistent/prog: No such file or directory"
}

@test "status: 126 found but not executable" {
	printf 'data\n' > notexec
	chmod 644 notexec
	run --separate-stderr "$PIPEVISOR" run "./notexec"
	assert_equal "$status" 126
	assert_equal "$stderr" "pipevisor: run: stage 1: ./notexec: Permission denied"
	run --separate-stderr "$PIPEVISOR" run "/etc"
	assert_equal "$status" 126
}

@test "status: a program that itself exits 127 is not 'not found'" {
	run -127 --separate-stderr "$PIPEVISOR" run "sh -c 'exit 127'"
	assert_equal "$status" 127
	assert_equal "$stderr" ""
}

@test "status: a script without #! runs under /bin/sh, as execvp does" {
	printf 'echo from-script "$1"\n' > script
	chmod 755 script
	run "$PIPEVISOR" run "./script arg"
	assert_success
	assert_output "from-script arg"
}

@test "timeout: 124 when the timeout expired" {
	run "$PIPEVISOR" run --timeout 0.2 "sleep $MARK"
	assert_equal "$status" 124
	run "$PIPEVISOR" run -t 200ms "sleep $MARK | cat"
	assert_equal "$status" 124
	no_sleep_left
}

@test "timeout: 137 when SIGKILL was needed; --preserve-status keeps 128+N" {
	run "$PIPEVISOR" run -t 0.2 -k 0.3 "sh -c 'trap \"\" TERM; sleep $MARK'"
	assert_equal "$status" 137
	run "$PIPEVISOR" run --preserve-status -t 0.2 "sleep $MARK"
	assert_equal "$status" 143
	run "$PIPEVISOR" run --preserve-status -t 0.2 -k 0.2 \
	    "sh -c 'trap \"\" TERM; sleep $MARK'"
	assert_equal "$status" 137
	no_sleep_left
}

@test "timeout: --kill-after 0 is off, as in coreutils timeout" {
	run "$PIPEVISOR" run -t 0.2 -k 0 "sleep $MARK"
	assert_equal "$status" 124
}

@test "timeout: --signal chooses the signal sent" {
	run "$PIPEVISOR" run --preserve-status -t 0.2 -s INT "sleep $MARK"
	assert_equal "$status" 130
	run "$PIPEVISOR" run --preserve-status -t 0.2 -s 1 "sleep $MARK"
	assert_equal "$status" 129
	run "$PIPEVISOR" run -t 0.2 -s KILL "sleep $MARK"
	assert_equal "$status" 137
}

@test "timeout: a pipeline that ends in time keeps its own status" {
	run "$PIPEVISOR" run -t 10 "sh -c 'exit 6'"
	assert_equal "$status" 6
}

@test "timeout: the whole process group dies, grandchildren included" {
	run "$PIPEVISOR" run -t 0.3 "sh -c 'sleep $MARK & sleep $MARK & wait'"
	assert_equal "$status" 124
	wait_for 2 no_sleep_left
}

@test "timeout: a stage ignoring TERM is gone within kill-after + 1 s" {
	local start end
	start=$(date +%s%N)
	run "$PIPEVISOR" run -t 0.2 -k 0.5 "sh -c 'trap \"\" TERM; sleep $MARK & wait'"
	end=$(date +%s%N)
	assert_equal "$status" 137
	[ $(((end - start) / 1000000)) -lt 1700 ]
	wait_for 2 no_sleep_left
}

# --- shell-exact behaviour ---------------------------------------------------

@test "sigpipe: yes | head -n1 ends at once with status 0" {
	run timeout 5 "$PIPEVISOR" run "yes | head -n1"
	assert_success
	assert_output "y"
	run timeout 5 "$PIPEVISOR" run --status "yes | head -n1"
	assert_output --regexp "signal PIPE +[0-9.]+s +yes"
}

@test "stdin: the first stage reads pipevisor's stdin" {
	run bash -c "printf 'x\ny\n' | '$PIPEVISOR' run 'wc -l'"
	assert_success
	assert_output --regexp '^ *2$'
}

@test "fds: no fd the caller had open reaches any stage" {
	run bash -c "exec 7</dev/null 9>/dev/null; '$PIPEVISOR' run \
	    '$PV_TESTBIN/fdlist | cat' 3>&-"
	assert_success
	assert_equal "$(echo "$output" | tr '\n' ' ')" "0 1 2 "
	run bash -c "exec 7</dev/null; '$PIPEVISOR' run \
	    'cat | $PV_TESTBIN/fdlist 2>&1 | cat' 3>&- </dev/null"
	assert_equal "$(echo "$output" | tr '\n' ' ')" "0 1 2 "
}

@test "fds: started with 0, 1 and 2 closed, wiring still works" {
	run bash -c "'$PIPEVISOR' run 'echo ok > out.txt' <&- >&- 2>&-; echo \$?"
	assert_output "0"
	assert_equal "$(cat out.txt)" "ok"
	run bash -c "'$PIPEVISOR' run '$PV_TESTBIN/fdlist > fds.txt' <&- 3>&-"
	assert_success
	assert_equal "$(tr '\n' ' ' < fds.txt)" "0 1 2 "
}

@test "signals: stages start with the state a shell's child would have" {
	# Not pipevisor's own (SIGPIPE ignored, TERM and others caught and
	# blocked): exactly what a plain child of this shell sees.  (Under GNU
	# make that includes signals 32 and 33 ignored.)
	local want
	want=$(grep -E '^Sig(Ign|Blk)' /proc/self/status)
	run "$PIPEVISOR" run "grep -E '^Sig(Ign|Blk)' /proc/self/status"
	assert_success
	assert_output "$want"
}

# sigign_with N: this shell's inherited SigIgn with signal N added.
sigign_with() {
	local base
	base=$(awk '/^SigIgn:/ { print $2 }' /proc/self/status)
	printf 'SigIgn:\t%016x\n' $((0x$base | (1 << ($1 - 1))))
}

@test "signals: an inherited trap '' PIPE still reaches stages, like a shell" {
	run "$SIGSTATE" -i PIPE -- "$PIPEVISOR" run \
	    "grep -E '^SigIgn' /proc/self/status"
	assert_success
	assert_output "$(sigign_with 13)"
	run bash -c "trap '' PIPE; '$PIPEVISOR' run \"grep -E '^SigIgn' /proc/self/status\""
	assert_output "$(sigign_with 13)"
}

@test "signals: works when started with SIGCHLD ignored (exit 3 stays 3)" {
	run "$SIGSTATE" -i CHLD -- "$PIPEVISOR" run "sh -c 'exit 3'"
	assert_equal "$status" 3
	run "$SIGSTATE" -i CHLD -- "$PIPEVISOR" run "sh -c 'exit 4' | cat"
	assert_equal "$status" 0
	run "$SIGSTATE" -i CHLD -- "$PIPEVISOR" run --pipefail "sh -c 'exit 4' | cat"
	assert_equal "$status" 4
}

@test "signals: works when started with SIGALRM blocked or ignored" {
	run "$SIGSTATE" -b ALRM -- "$PIPEVISOR" run -t 0.2 "sleep $MARK"
	assert_equal "$status" 124
	run "$SIGSTATE" -i ALRM -- "$PIPEVISOR" run -t 0.2 "sleep $MARK"
	assert_equal "$status" 124
	# and the stage gets the mask pipevisor was started with
	run "$SIGSTATE" -b ALRM -- "$PIPEVISOR" run "grep ^SigBlk /proc/self/status"
	assert_output "SigBlk:	0000000000002000"
}

@test "signals: TERM, INT and HUP reach every stage; pipevisor dies of it" {
	local sig num pid st
	for sig in TERM INT HUP; do
		rm -f got.*
		# bash starts background jobs with INT ignored; undo that.
		env --default-signal=INT,QUIT "$PIPEVISOR" run "sh -c 'trap \"echo 1 > got.a; exit 0\" $sig; \
		    while :; do sleep 0.05; done' | sh -c 'trap \"echo 1 > got.b; \
		    exit 0\" $sig; while :; do sleep 0.05; done'" 3>&- &
		pid=$!
		wait_for 5 pgrep -P "$pid" -f "trap"
		sleep 0.1 # the traps are set once sh runs its first command
		kill -"$sig" "$pid"
		st=0
		wait "$pid" || st=$?
		num=$(kill -l "$sig")
		assert_equal "$st" $((128 + num))
		assert_file_exists got.a
		assert_file_exists got.b
	done
}

@test "signals: SIGTERM mid-run leaves no process behind" {
	local pid
	"$PIPEVISOR" run "sleep $MARK | sh -c 'sleep $MARK & wait' | cat" 3>&- &
	pid=$!
	wait_for 5 pgrep -f "sleep $MARK"
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	assert_equal "$st" 143
	wait_for 2 no_sleep_left
}

@test "signals: USR1 is forwarded to the stages, pipevisor keeps running" {
	local pid
	"$PIPEVISOR" run "sh -c 'trap \"echo usr1 > got.usr1\" USR1; \
	    while [ ! -e stop ]; do sleep 0.05; done'" 3>&- &
	pid=$!
	wait_for 5 pgrep -P "$pid"
	sleep 0.1
	kill -USR1 "$pid"
	wait_for 5 test -e got.usr1
	touch stop
	wait "$pid"
}

# True once PID has exec'd the pipevisor binary (not bash's child, which
# may swallow a TERM in its own handler before exec, nor a wrapper).
is_pipevisor() {
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$PV_BIN/pipevisor")" ]
}

@test "signals: TERM at any moment of start-up is never lost (RELIABILITY 25)" {
	local i pid
	for i in $(seq 1 60); do
		"$PIPEVISOR" run "sleep $MARK | cat" 3>&- &
		pid=$!
		wait_for 5 is_pipevisor "$pid"
		# Sweep the delay from 0 (still in start-up) to 9 ms.
		[ $((i % 3)) -eq 0 ] || sleep "0.00$((i % 10))"
		kill -TERM "$pid"
		gone_after_term 5 "$pid"
	done
	wait_for 2 no_sleep_left
}

@test "signals: TERM after a random 0-20 ms is never lost (RELIABILITY 3)" {
	local i pid
	for i in $(seq 1 150); do
		"$PIPEVISOR" run "sleep $MARK" 3>&- &
		pid=$!
		wait_for 5 is_pipevisor "$pid"
		sleep "0.0$((RANDOM % 21))" 2>/dev/null || sleep 0.02
		kill -TERM "$pid"
		# Generous: a lost TERM would hang for the whole sleep.
		gone_after_term 10 "$pid"
	done
	wait_for 2 no_sleep_left
}

@test "setpgid race: 200 start-then-kill cycles leave no orphan (item 22)" {
	local i
	for i in $(seq 1 200); do
		"$PIPEVISOR" run -t 0.001 -k 0.001 "sleep $MARK | sleep $MARK" \
		    3>&- || true
	done
	wait_for 5 no_sleep_left
}

@test "deadlock: a stage filling stderr while fed 1 MiB ends (item 15)" {
	run timeout 10 bash -c "head -c 1048576 /dev/zero | '$PIPEVISOR' run \
	    \"sh -c 'head -c 1048576 /dev/zero >&2; cat'\" 2>/dev/null | wc -c"
	assert_success
	assert_output 1048576
}

@test "reaping: 50 stages exiting at once are all reaped" {
	local spec i
	spec="true"
	for i in $(seq 2 50); do spec="$spec | true"; done
	run timeout 10 "$PIPEVISOR" run --status "$spec"
	assert_success
	assert_equal "$(echo "$output" | grep -c 'exit 0')" 50
}

@test "reaping: no stage outlives pipevisor, none is a zombie" {
	"$PIPEVISOR" run "sleep 0.2 | sleep 0.3 | cat" 3>&- &
	local pid=$!
	wait_for 5 pgrep -P "$pid" sleep
	local kids
	kids=$(pgrep -P "$pid" | tr '\n' ' ')
	wait "$pid"
	for k in $kids; do
		pid_gone "$k"
		! ps -p "$k" >/dev/null
	done
}

@test "report: --status lists every stage with pid, status and time" {
	run --separate-stderr "$PIPEVISOR" run --status "echo hi | sh -c 'cat; exit 3'"
	assert_equal "$status" 3
	assert_equal "$output" "hi"
	assert_equal "${stderr_lines[0]}" \
	    "stage      pid  status             time  command"
	[[ ${stderr_lines[1]} =~ ^\ +1\ +[0-9]+\ +exit\ 0\ +[0-9]+\.[0-9]{3}s\ +echo\ hi$ ]]
	[[ ${stderr_lines[2]} =~ ^\ +2\ +[0-9]+\ +exit\ 3\ +[0-9]+\.[0-9]{3}s\ +sh\ -c\ \'cat\;\ exit\ 3\'$ ]]
}

@test "report: arguments are shown quoted, control characters escaped" {
	run --separate-stderr "$PIPEVISOR" run --status \
	    "printf '%s\n' \"it's\" 'a b' '' \"x$(printf '\033')y\""
	assert_success
	assert_equal "${#stderr_lines[@]}" 2
	[[ ${stderr_lines[1]} == *"printf '%s\n' 'it'\\''s' 'a b' '' 'x\033y'" ]]
}

@test "terminal: under an interactive shell the pipeline gets the tty" {
	command -v script >/dev/null || skip "script(1) not installed"
	# Job control on: pipevisor and its stages are a foreground job; the
	# stage's group takes the terminal and pipevisor is not stopped.
	run timeout 10 script -qec "bash --norc -ic '\"$PIPEVISOR\" run \
	    \"sh -c \\\"ps -o stat= -p \\\\\$\\\\\$\\\"\"; echo rc=\$?'" /dev/null </dev/null
	assert_success
	assert_output --partial "rc=0"
	# The stage ran in the terminal's foreground group ('+' in STAT).
	assert_output --regexp "S\+|R\+"
}

@test "filters: found after PATH, relative to pipevisor or PIPEVISOR_FILTERS" {
	[ -x "$PV_FILTERS/upper" ] || skip "upper not built"
	run "$PIPEVISOR" run "echo hello | upper"
	assert_success
	assert_output "HELLO"
	# Without PIPEVISOR_FILTERS, ../libexec/pipevisor beside bin/ is used.
	run env -u PIPEVISOR_FILTERS "$PIPEVISOR" run "echo hello | upper"
	assert_output "HELLO"
	# PATH comes first: a system command is never shadowed by a filter.
	mkdir -p bin
	printf '#!/bin/sh\necho shadow\n' > bin/upper
	chmod 755 bin/upper
	run env PATH="$PWD/bin:$PATH" "$PIPEVISOR" run "echo hello | upper"
	assert_output "shadow"
}

@test "valgrind: no memory error, no leak, no fd left open by pipevisor" {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	[ -z "${PV_SANITIZED:-}" ] || skip "valgrind cannot run an ASan build"
	run -127 --separate-stderr valgrind -q --error-exitcode=99 \
	    --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --child-silent-after-fork=yes --track-fds=yes \
	    "$PIPEVISOR" run --status -t 5 "echo hi | cat | nosuchcmd-$$"
	assert_equal "$status" 127
	# Every fd still open at exit must be one pipevisor was given.
	run awk '/^==[0-9]+== Open /{ getline nxt;
	    if (nxt !~ /inherited from parent/) { print; bad = 1 } }
	    END { exit bad }' <<<"$stderr"
	assert_success
}
