#!/usr/bin/env bats
# pipevisor chat: the chat hub, one forked worker per client, over TCP and
# UDP: the protocol word for word, limits, hostile input, slow and dying
# clients, churn, filter chains, signals and clean shutdown (DESIGN.md
# sections 6 and 8; RELIABILITY.md items 7, 8, 13 and 29 to 34).  Real
# clients on loopback only.
#
# A TCP client is a socket the test opens with bash's /dev/tcp and writes
# to (`say`), and a cat that copies what it reads into NAME.out, so that
# reading never waits for writing.  `reads` waits for the next lines of
# that file and compares them exactly, one by one: every step waits for
# the replies it caused, and a missing, extra or reordered line fails the
# test.  A UDP client is socat under strace (which shows empty datagrams).
# The hub's workers are found by their process titles, wherever they are
# in the tree under the hub.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	HUB=
	PORT=
	UPORT=
	HUBS=()
	CLIENTS=()
	HUB_WRAP=()
	declare -gA CFD=() CPID=() CUR=()
}

# Everything under every hub (its spawner, the workers, their filters,
# each worker leading its own process group) is killed, and no process of
# those groups may be left.  Before that, no zombie may linger under a
# live hub (RELIABILITY.md item 1).
teardown() {
	local n h p bad=0 groups=()
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "$HUB" ]; then
		echo "teardown: the processes under hub $HUB:" >&2
		ps -o pid=,ppid=,pgid=,stat=,args= -p "$HUB" >&2 || true
		for p in $(descendants "$HUB"); do
			ps -o pid=,ppid=,pgid=,stat=,args= -p "$p" >&2 || true
		done
		echo "teardown: the end of hub.err:" >&2
		tail -n 15 hub.err >&2
	fi
	for h in ${HUBS[@]+"${HUBS[@]}"}; do
		ours "$h" && ! pid_gone "$h" || continue
		if ! wait_for 5 no_zombies_under "$h"; then
			echo "teardown: zombies under hub $h:" >&2
			for p in $(descendants "$h"); do
				ps -o pid=,ppid=,stat=,args= -p "$p" >&2 || true
			done
			tail -n 15 hub.err >&2
			bad=1
		fi
		for p in $(descendants "$h"); do
			groups+=("$(ps -o pgid= -p "$p" | tr -d ' ')")
		done
	done
	for n in "${!CFD[@]}"; do eval "exec ${CFD[$n]}>&-"; done
	for p in ${CLIENTS[@]+"${CLIENTS[@]}"}; do ours "$p" && kill_tree "$p"; done
	for p in ${groups[@]+"${groups[@]}"}; do
		[ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null || true
	done
	for h in ${HUBS[@]+"${HUBS[@]}"}; do
		ours "$h" || continue
		kill_tree "$h"
		wait_for 5 pid_gone "$h" || bad=1
	done
	for p in ${groups[@]+"${groups[@]}"}; do
		[ -n "$p" ] || continue
		if ! wait_for 5 group_gone "$p"; then
			echo "teardown: process group $p is still there:" >&2
			ps -g "$p" -o pid=,stat=,args= >&2 || true
			bad=1
		fi
	done
	return "$bad"
}

# --- helpers ------------------------------------------------------------------

# ours PID: PID is still a child of this shell.  Pids are reused quickly
# on a busy machine (pid_max may be 32768): one that exited long ago may
# now be someone else's, which must not be killed.
ours() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$BASHPID" ]
}

# descendants PID: every process under PID (children, grandchildren...).
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2; pid[NR] = $1 }
	    END {
		for (i = 1; i <= NR; i++)
			for (q = parent[pid[i]]; q > 1; q = parent[q])
				if (q == root) { print pid[i]; break }
	    }'
}

# zombies_under PID: how many zombies there are under PID, at any depth
# (the hub's own children: `ps --ppid HUB` included).
zombies_under() {
	local p n=0
	for p in $(descendants "$1"); do
		case $(ps -o stat= -p "$p" 2>/dev/null) in Z*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

no_zombies_under() {
	[ "$(zombies_under "$1")" -eq 0 ] && [ "$(zombies_of "$1")" -eq 0 ]
}

# group_gone PGID: no live process is left in the group (a zombie is
# dead: whoever inherited it reaps it when it likes).
group_gone() {
	! ps -g "$1" -o stat= 2>/dev/null | grep -qv '^Z'
}

# start_hub ARGS...: runs `${HUB_WRAP[@]} pipevisor chat -v ARGS` in the
# background, stderr in hub.err; sets HUB, and PORT (TCP) and UPORT (UDP)
# for the listeners it has, once it is ready.
start_hub() {
	# Emptied here, not by the child's redirection, which may come after
	# the wait below has read the last hub's "ready".
	: >hub.err
	(
		close_clients
		exec "${HUB_WRAP[@]}" "$PIPEVISOR" chat -v "$@" >hub.out \
		    2>hub.err 3>&-
	) &
	HUB=$!
	HUBS+=("$HUB")
	wait_for 5 grep -q 'chat: ready' hub.err || {
		cat hub.err >&2
		return 1
	}
	PORT=$(listen_port t "$HUB")
	UPORT=$(listen_port u "$HUB")
}

# close_clients [NAME]: in a child, closes the test's connections (all
# but NAME's), so that no process holds another client's socket open.
close_clients() {
	local k
	for k in "${!CFD[@]}"; do
		[ "$k" = "${1-}" ] || eval "exec ${CFD[$k]}>&-"
	done
}

# connect NAME: a TCP client NAME.  The test writes to its socket (`say`)
# and a cat of its own copies what it reads into NAME.out, so reading
# never waits for writing, however much is written.
connect() {
	local n=$1 s
	exec {s}<>"/dev/tcp/127.0.0.1/$PORT"
	CFD[$n]=$s
	CUR[$n]=0
	: >"$n.out"
	(
		close_clients "$n"
		exec cat <&"$s" >"$n.out" 3>&-
	) &
	CPID[$n]=$!
	CLIENTS+=("$!")
}

# connect_udp NAME: a UDP client NAME (socat, one datagram per line) under
# strace, whose trace NAME.trace shows the empty datagrams socat drops.
connect_udp() {
	local n=$1 fd
	mkfifo "$n.in"
	(
		close_clients
		exec strace -qq -s 8192 -o "$n.trace" -e trace=read socat -t 0.5 - \
		    "UDP:127.0.0.1:$UPORT" <"$n.in" >"$n.out" 2>"$n.err" 3>&-
	) &
	CPID[$n]=$!
	CLIENTS+=("$!")
	exec {fd}>"$n.in"
	CFD[$n]=$fd
	CUR[$n]=0
}

# hang_up NAME: the client closes its connection.
hang_up() {
	ours "${CPID[$1]}" && kill "${CPID[$1]}" 2>/dev/null || true
	eval "exec ${CFD[$1]}>&-"
	unset "CFD[$1]"
}

# say NAME LINE...: sends the lines to NAME's connection in one write.
say() {
	local n=$1
	shift
	say_raw "$n" "$(printf '%s\n' "$@")"$'\n'
}

# say_raw NAME BYTES: sends BYTES as they are (a write to a client that is
# gone fails the test instead of killing the shell with SIGPIPE).
say_raw() {
	(
		trap '' PIPE
		printf '%s' "$2" >&"${CFD[$1]}"
	)
}

has_lines() {
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# reads NAME LINE...: the next lines NAME reads are exactly these.
reads() {
	local n=$1 want got i
	shift
	for want in "$@"; do
		i=$((CUR[$n] + 1))
		if ! wait_for 10 has_lines "$n.out" "$i"; then
			echo "reads $n: no line $i; wanted: $want; $n.out has:" >&2
			cat -A "$n.out" >&2
			return 1
		fi
		got=$(sed -n "${i}p" "$n.out")
		CUR[$n]=$i
		if [ "$got" != "$want" ]; then
			echo "reads $n: line $i" >&2
			echo "  want: $want" >&2
			echo "  got:  $got" >&2
			return 1
		fi
	done
}

# closed NAME: the hub closed NAME's connection, and NAME read nothing
# after the lines already checked.
closed() {
	local n=$1
	wait_for 10 pid_gone "${CPID[$n]}" || {
		echo "closed $n: the connection is still open" >&2
		return 1
	}
	if [ "$(head -n "${CUR[$n]}" "$n.out" | wc -c)" -ne \
	    "$(wc -c <"$n.out")" ]; then
		echo "closed $n: more after line ${CUR[$n]}:" >&2
		cat -A "$n.out" >&2
		return 1
	fi
}

# name NAME [LOGIN]: says the name (NAME by default) and reads the welcome.
name() {
	say "$1" "${2:-$1}"
	reads "$1" "+ welcome ${2:-$1}"
}

# alice_and_bob_in_g: clients a (alice) and b (bob) of HUB, both in
# group g, each having read the replies and notices that caused.
alice_and_bob_in_g() {
	connect a
	connect b
	name a alice
	name b bob
	say a "join g"
	reads a "+ joined g"
	say b "join g"
	reads b "+ joined g"
	reads a "* bob joined g"
}

# workers: the chat workers under HUB, named "chat worker PEER" by
# setproctitle (whoever forks them: the hub or a spawner).
workers() {
	local p
	for p in $(descendants "$HUB"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null |
		    grep -q 'chat worker ' && echo "$p"
	done
	return 0
}

# workers_are N: exactly N workers run under HUB.
workers_are() {
	[ "$(workers | wc -l)" -eq "$1" ]
}

# worker_of NAME: the pid of the worker serving client NAME: the one whose
# title names the client's address.
worker_of() {
	local lport w
	lport=$(ss -Htnp 2>/dev/null | awk -v p="pid=${CPID[$1]}," \
	    'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$lport" ] || return 1
	for w in $(workers); do
		if tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null |
		    grep -q "chat worker tcp:127\.0\.0\.1:$lport "; then
			echo "$w"
			return 0
		fi
	done
	return 1
}

fd_count() {
	ls "/proc/$1/fd" | wc -l
}

# tree_rss PID: VmRSS of PID and everything under it, in kB.
tree_rss() {
	local p sum=0 kb
	for p in "$1" $(descendants "$1"); do
		kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}

# rss_sampler PID FILE: in the background, writes the largest tree_rss of
# PID seen into FILE every 50 ms, until killed.
rss_sampler() {
	local max=0 now
	echo 0 >"$2"
	while :; do
		now=$(tree_rss "$1")
		if [ "$now" -gt "$max" ]; then
			max=$now
			echo "$max" >"$2"
		fi
		sleep 0.05
	done
}

# rss_ok KB: true when KB is under the ceiling for a hub's tree (50 MB).
# ASan's shadow memory makes any ceiling meaningless: no check there.
rss_ok() {
	[ -n "${PV_SANITIZED:-}" ] || [ "$1" -lt 51200 ]
}

count_in() {
	grep -cxF -- "$2" "$1" || true
}

# count_is N FILE LINE: FILE has exactly N lines equal to LINE.
count_is() {
	[ "$(count_in "$2" "$3")" -eq "$1" ]
}

# flood_lines N FILE: N lines "send g NNNNNN" padded to 100 bytes each.
flood_lines() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
	    printf "send g %06d%s\n", i, substr(sprintf("%100s", ""), 1, 86) }' |
	    tr ' ' . | sed 's/^send\.g\./send g /' >"$2"
}

# hub_gone: for wait_for.
hub_gone() {
	pid_gone "$HUB"
}

# wait_hub: waits for HUB to exit; its status in STATUS.
wait_hub() {
	STATUS=0
	wait "$HUB" || STATUS=$?
}

# --- usage ------------------------------------------------------------------

@test "chat: --help prints the usage on stdout and exits 0" {
	run --separate-stderr "$PIPEVISOR" chat --help
	assert_success
	assert_line --index 0 --partial "usage: pipevisor chat [-hv] [--no-direct] [--tcp ADDR:PORT]..."
	assert_output --partial "[--max-line N]"
	assert_equal "$stderr" ""
}

@test "chat: usage errors exit 2 with one line naming the problem" {
	check() {
		local want=$1
		shift
		run --separate-stderr "$PIPEVISOR" chat "$@"
		assert_equal "$status" 2
		assert_equal "${stderr_lines[0]}" "$want"
		assert_equal "$output" ""
	}
	check "pipevisor: chat: no transport: give --tcp, --fifo, --msgq or --udp"
	check "pipevisor: chat: --max-line must be 16 to 4096: '15'" \
	    --tcp 127.0.0.1:0 --max-line 15
	check "pipevisor: chat: --max-line must be 16 to 4096: '4097'" \
	    --tcp 127.0.0.1:0 --max-line 4097
	check "pipevisor: chat: --max-line must be 16 to 4096: 'ten'" \
	    --tcp 127.0.0.1:0 --max-line ten
	check "pipevisor: chat: --max-groups must be 1 to 4096: '0'" \
	    --tcp 127.0.0.1:0 --max-groups 0
	check "pipevisor: chat: --max-clients must be 1 to 1000000: '0'" \
	    --tcp 127.0.0.1:0 --max-clients 0
	check "pipevisor: chat: --queue must be 4096 to 1073741824: '100'" \
	    --tcp 127.0.0.1:0 --queue 100
	check "pipevisor: chat: --queue must hold a whole line: at least 16448 bytes" \
	    --tcp 127.0.0.1:0 --max-line 4096 --queue 8192
	check "pipevisor: chat: invalid duration for --idle: 'soon'" \
	    --tcp 127.0.0.1:0 --idle soon
	check "pipevisor: chat: invalid duration for --grace: '-1'" \
	    --tcp 127.0.0.1:0 --grace -1
	check "pipevisor: chat: unexpected argument: 'extra'" \
	    --tcp 127.0.0.1:0 extra
	check "pipevisor: chat: --direct and --outbound cannot go together: an outbound chain is written by the worker" \
	    --tcp 127.0.0.1:0 --direct --outbound upper
	check "chat: unrecognized option '--bogus'" --bogus --tcp 127.0.0.1:0
	check "chat: option '--max-line' requires an argument" \
	    --tcp 127.0.0.1:0 --max-line
	run --separate-stderr "$PIPEVISOR" chat --tcp 127.0.0.1:0 --outbound 'upper | | cat'
	assert_equal "$status" 2
	assert_regex "${stderr_lines[0]}" "^pipevisor: chat: --outbound: SPEC column [0-9]+: "
}

@test "chat: a port in use exits 1 with one line; the first hub still serves" {
	start_hub --tcp 127.0.0.1:0
	run --separate-stderr "$PIPEVISOR" chat --tcp "127.0.0.1:$PORT"
	assert_equal "$status" 1
	assert_equal "$stderr" "pipevisor: chat: 127.0.0.1:$PORT: Address already in use"
	connect a
	name a alice
}

# --- the protocol -------------------------------------------------------------

# transcript_tcp [ARGS]: the seed report's exchange, word for word, with
# a hub started with these extra arguments.
transcript_tcp() {
	start_hub --tcp 127.0.0.1:0 "$@"
	connect javad
	connect ali
	name javad
	name ali
	say javad "join 1"
	reads javad "+ joined 1"
	say javad "join 2"
	reads javad "+ joined 2"
	say ali "join 1"
	reads ali "+ joined 1"
	reads javad "* ali joined 1"
	say ali "join 3"
	reads ali "+ joined 3"
	say javad "send 1 hello ali"
	reads javad "[1] javad: hello ali"
	reads ali "[1] javad: hello ali"
	say ali "send 1 hi javad"
	reads ali "[1] ali: hi javad"
	reads javad "[1] ali: hi javad"
	say javad "leave 1"
	reads javad "+ left 1"
	reads ali "* javad left 1"
	# Group 1 traffic no longer reaches javad: the next line javad reads
	# is a private message sent after it.
	say ali "send 1 are you there"
	reads ali "[1] ali: are you there"
	say ali "msg javad psst"
	reads ali "+ sent to javad"
	reads javad "[@ali] psst"
	say javad "send 9 hi"
	reads javad "- not a member of 9"
	say javad quit
	reads javad "+ bye"
	closed javad
	# ali shares no group with javad any more: no "* javad quit" for ali.
	say ali ping
	reads ali "+ pong"
	say ali quit
	reads ali "+ bye"
	closed ali
	# Still up; the names are free again.
	connect next
	name next javad
	say next list
	reads next "+ no groups"
	kill -0 "$HUB"
}

@test "chat: the seeds' transcript: javad and ali over TCP" {
	transcript_tcp
}

@test "chat --no-direct: the seeds' transcript: javad and ali over TCP" {
	transcript_tcp --no-direct
}

@test "chat: names: welcome, taken ignoring case, reserved, bad, CRLF (RELIABILITY 33)" {
	local long32 long33
	long32=$(printf 'n%.0s' {1..32})
	long33=$(printf 'n%.0s' {1..33})
	start_hub --tcp 127.0.0.1:0
	connect a
	name a alice
	connect b
	say b ALICE
	reads b "- name taken: ALICE"
	say b "Alice"
	reads b "- name taken: Alice"
	# A Cyrillic а (U+0430), a name too long, a space: not the name rule.
	say b $'\xd0\xb0lice'
	reads b "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -"
	say b "$long33"
	reads b "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -"
	say b "a b"
	reads b "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -"
	say b "bob!"
	reads b "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -"
	# alice\r: a CRLF line, so it is alice, which is taken.
	say_raw b $'alice\r\n'
	reads b "- name taken: alice"
	say b server
	reads b "- reserved name: server"
	say b SeRvEr
	reads b "- reserved name: SeRvEr"
	say b pipevisor
	reads b "- reserved name: pipevisor"
	# An empty line gets no reply: the next line is the welcome.
	say_raw b $'\n\r\n'
	say b "$long32"
	reads b "+ welcome $long32"
	# A CRLF name is accepted without its CR.
	connect c
	say_raw c $'carol\r\n'
	reads c "+ welcome carol"
	say b "msg carol hi"
	reads b "+ sent to carol"
	reads c "[@$long32] hi"
	say b "msg CAROL again"
	reads b "+ sent to carol"
	reads c "[@$long32] again"
	# The first line of all is the name: a command word is a name too.
	connect d
	say d ping
	reads d "+ welcome ping"
	say d "join x.y-z_0"
	reads d "+ joined x.y-z_0"
}

@test "chat: after names refused by the codec, the name accepted next is served" {
	start_hub --tcp 127.0.0.1:0
	connect a
	# Each refusal is answered before the next line is sent.
	say a "a b"
	reads a "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -"
	say a server
	reads a "- reserved name: server"
	say a bob
	reads a "+ welcome bob"
	say a ping
	reads a "+ pong"
	# And all in one write.
	connect c
	say c "a b" server carol ping
	reads c "- bad name: names are 1-32 of A-Z a-z 0-9 _ . -" \
	    "- reserved name: server" "+ welcome carol" "+ pong"
}

@test "chat: join, leave, --max-groups, and the notices to the other members" {
	start_hub --tcp 127.0.0.1:0 --max-groups 2
	connect a
	connect b
	name a alice
	name b bob
	say a "join g1"
	reads a "+ joined g1"
	say a "join g1"
	reads a "- already a member of g1"
	say a "join G1"
	reads a "- already a member of G1"
	say a "join g2"
	reads a "+ joined g2"
	say a "join g3"
	reads a "- too many groups (max 2)"
	# A group keeps the spelling of its first member.
	say b "join G1"
	reads b "+ joined g1"
	reads a "* bob joined g1"
	say b "leave g1"
	reads b "+ left g1"
	reads a "* bob left g1"
	say b "leave g1"
	reads b "- not a member of g1"
	say b "leave nowhere"
	reads b "- not a member of nowhere"
	say b "send g1 hi"
	reads b "- not a member of g1"
	say b "send g2 hi"
	reads b "- not a member of g2"
	# Leaving makes room under the limit.
	say a "leave g2"
	reads a "+ left g2"
	say a "join g3"
	reads a "+ joined g3"
	say b "join g1"
	reads b "+ joined g1"
	reads a "* bob joined g1"
	say b "who g2"
	reads b "- no such group: g2"
	say b quit
	reads b "+ bye"
	closed b
	reads a "* bob quit"
	say a "who g1"
	reads a "+ members of g1: alice"
}

@test "chat: send, msg, list, who, help, ping and quit, word for word" {
	start_hub --tcp 127.0.0.1:0
	connect a
	connect b
	connect c
	name a alice
	name b bob
	name c carol
	say a list
	reads a "+ no groups"
	say a "join b"
	reads a "+ joined b"
	say a "join a"
	reads a "+ joined a"
	say b "join a"
	reads b "+ joined a"
	reads a "* bob joined a"
	say c "join a"
	reads c "+ joined a"
	reads a "* carol joined a"
	reads b "* carol joined a"
	say c list
	reads c "+ groups: a (3), b (1)"
	say c "who a"
	reads c "+ members of a: alice bob carol"
	say c "who B"
	reads c "+ members of b: alice"
	say c "who nope"
	reads c "- no such group: nope"
	# Delivered to every member, the sender included.
	say b "send a hello   all, with  spaces"
	reads b "[a] bob: hello   all, with  spaces"
	reads a "[a] bob: hello   all, with  spaces"
	reads c "[a] bob: hello   all, with  spaces"
	say a "msg bob just you"
	reads a "+ sent to bob"
	reads b "[@alice] just you"
	say a "msg nobody hi"
	reads a "- no such user: nobody"
	say a help
	reads a "+ commands: join GROUP, leave GROUP, send GROUP TEXT, msg NAME TEXT, list, who GROUP, ping, help, quit"
	say a ping
	reads a "+ pong"
	say a quit
	reads a "+ bye"
	closed a
	reads b "* alice quit"
	reads c "* alice quit"
	say c list
	reads c "+ groups: a (2)"
	# carol got nothing meant for others: the barrier is her own reply.
	say c ping
	reads c "+ pong"
}

@test "chat: usage errors, bad names and unknown commands, word for word" {
	start_hub --tcp 127.0.0.1:0
	connect a
	name a alice
	local -a pairs=(
		"join" "- usage: join GROUP"
		"join a b" "- usage: join GROUP"
		"leave" "- usage: leave GROUP"
		"send" "- usage: send GROUP TEXT"
		"send a" "- usage: send GROUP TEXT"
		"msg" "- usage: msg NAME TEXT"
		"msg bob" "- usage: msg NAME TEXT"
		"who" "- usage: who GROUP"
		"who a b" "- usage: who GROUP"
		"list x" "- usage: list"
		"ping x" "- usage: ping"
		"help me" "- usage: help"
		"quit now" "- usage: quit"
		"bogus" "- unknown command: bogus (try help)"
		"JOIN a" "- unknown command: JOIN (try help)"
		"join b@d" "- bad group name: b@d"
		"msg b@d hi" "- bad name: b@d"
		$'\e[31mred' "- unknown command: \\033[31mred (try help)"
	)
	local i
	for ((i = 0; i < ${#pairs[@]}; i += 2)); do
		say a "${pairs[i]}"
		reads a "${pairs[i + 1]}"
	done
	# Blank lines get no reply at all.
	say_raw a $'\n   \n\r\n'
	say a ping
	reads a "+ pong"
}

@test "chat: a batch of commands in one write gets one reply each, in order" {
	start_hub --tcp 127.0.0.1:0
	connect a
	# The name and twenty commands in one write: the lines after the name
	# must not wait for more input.
	say a alice ping list "join x" "join x" "who x" "send x one" bogus \
	    "" "leave y" "msg alice self" "send x two" help "who" "leave x" \
	    "send x three" list "join y" "who y" "ping" "ping"
	reads a "+ welcome alice" "+ pong" "+ no groups" "+ joined x" \
	    "- already a member of x" "+ members of x: alice" "[x] alice: one" \
	    "- unknown command: bogus (try help)" "- not a member of y" \
	    "[@alice] self" "+ sent to alice" "[x] alice: two" \
	    "+ commands: join GROUP, leave GROUP, send GROUP TEXT, msg NAME TEXT, list, who GROUP, ping, help, quit" \
	    "- usage: who GROUP" "+ left x" "- not a member of x" "+ no groups" \
	    "+ joined y" "+ members of y: alice" "+ pong" "+ pong"
	# Exactly those: a quit shows nothing else came.
	say a quit
	reads a "+ bye"
	closed a
}

# --- hostile input (RELIABILITY.md section D) ----------------------------------

@test "chat: lines of MAX-1, MAX and MAX+1 bytes with --max-line 1024 (RELIABILITY 30)" {
	local x1016 x1017 x1018
	x1016=$(printf 'x%.0s' {1..1016})
	x1017=${x1016}y
	x1018=${x1017}z
	start_hub --tcp 127.0.0.1:0 --max-line 1024
	connect a
	name a alice
	say a "join r"
	reads a "+ joined r"
	# "send r " is 7 bytes: lines of 1023, 1024 and 1025 bytes.
	say a "send r $x1016"
	reads a "[r] alice: $x1016"
	say a "send r $x1017"
	reads a "[r] alice: $x1017"
	say a "send r $x1018"
	reads a "- line too long (max 1024 bytes)"
	say a ping
	reads a "+ pong"
	# The CR of a CRLF line does not count.
	say_raw a "send r $x1017"$'\r\n'
	reads a "[r] alice: $x1017"
	# An overlong line split over two writes is discarded to its LF.
	say_raw a "send r $x1018"
	say_raw a $'more of the same line\nping\n'
	reads a "- line too long (max 1024 bytes)" "+ pong"
}

@test "chat: 10 MB without a newline: an error, a disconnect, memory bounded (RELIABILITY 30)" {
	start_hub --tcp 127.0.0.1:0 --max-line 1024
	connect w
	name w watcher
	say w "join r"
	reads w "+ joined r"
	rss_sampler "$HUB" rss.max &
	local sampler=$! max
	CLIENTS+=("$sampler")
	wait_for 5 test -s rss.max
	connect big
	(
		trap '' PIPE
		printf 'big\njoin r\n'
		head -c 10000000 /dev/zero | tr '\0' x
	) 1>&"${CFD[big]}" 2>/dev/null &
	CLIENTS+=("$!")
	reads big "+ welcome big" "+ joined r" \
	    "- line too long (max 1024 bytes)" \
	    "- too much without a newline, closing"
	closed big
	reads w "* big joined r" "* big quit"
	kill "$sampler"
	max=$(cat rss.max)
	echo "largest RSS of the hub's tree: $max kB" >&3
	rss_ok "$max"
	wait_for 5 workers_are 1
	rss_ok "$(tree_rss "$HUB")"
	say w ping
	reads w "+ pong"
}

@test "chat: a NUL byte rejects the whole line; the connection stays (RELIABILITY 31)" {
	start_hub --tcp 127.0.0.1:0
	connect a
	connect b
	name a alice
	name b bob
	say a "join r"
	reads a "+ joined r"
	say b "join r"
	reads b "+ joined r"
	reads a "* bob joined r"
	# bash cannot hold a NUL in a string: printf makes it.
	printf 'send r hi\0quit\n' >&"${CFD[a]}"
	reads a "- line contains a NUL byte"
	printf 'SEND r hi\0QUIT\n' >&"${CFD[a]}"
	reads a "- line contains a NUL byte"
	printf 'msg bob \0\n' >&"${CFD[a]}"
	reads a "- line contains a NUL byte"
	# Not quit: still connected, and nothing was delivered to bob.
	say a ping
	reads a "+ pong"
	say b ping
	reads b "+ pong"
	kill -0 "${CPID[a]}"
	# A NUL in a name is refused too.
	connect c
	printf 'carol\0x\ncarol\n' >&"${CFD[c]}"
	reads c "- line contains a NUL byte" "+ welcome carol"
}

@test "chat: control characters and U+202E are delivered as visible escapes (RELIABILITY 32)" {
	start_hub --tcp 127.0.0.1:0
	connect a
	connect b
	name a alice
	name b bob
	say a "join r"
	reads a "+ joined r"
	say b "join r"
	reads b "+ joined r"
	reads a "* bob joined r"
	say a "send r "$'\e[2J\r\b\a\xe2\x80\xae'
	reads b '[r] alice: \033[2J\r\b\a\342\200\256'
	reads a '[r] alice: \033[2J\r\b\a\342\200\256'
	# Valid UTF-8 passes; a tab, a backslash, DEL, a C1 control and
	# invalid bytes are escaped.
	say a "send r "$'caf\xc3\xa9 \t \\ \x7f \xc2\x85 \xff \xc3'
	reads b '[r] alice: café \t \\ \177 \302\205 \377 \303'
	reads a '[r] alice: café \t \\ \177 \302\205 \377 \303'
	say a "msg bob "$'\e]0;pwned\a'
	reads a "+ sent to bob"
	reads b '[@alice] \033]0;pwned\a'
	# Nothing raw ever reached a client: no control byte but LF.
	run grep -c $'[\x01-\x09\x0b-\x1f\x7f]' a.out b.out
	assert_output "$(printf 'a.out:0\nb.out:0')"
}

# emfile [ARGS]: 40 clients against a hub with these extra arguments and
# 32 fds.
emfile() {
	HUB_WRAP=(prlimit --nofile=32:32)
	start_hub --tcp 127.0.0.1:0 "$@"
	local i served refused before after
	for i in $(seq 1 40); do
		connect "c$i"
		say "c$i" "c$i"
	done
	settled() {
		served=0
		refused=0
		for i in $(seq 1 40); do
			if grep -qx "+ welcome c$i" "c$i.out"; then
				served=$((served + 1))
			elif pid_gone "${CPID[c$i]}"; then
				refused=$((refused + 1))
			fi
		done
		[ $((served + refused)) -eq 40 ]
	}
	wait_for 20 settled
	echo "served $served, refused $refused" >&3
	[ "$served" -ge 1 ]
	[ "$refused" -ge 1 ]
	# Those turned away read one line at most: the reason.
	for i in $(seq 1 40); do
		if pid_gone "${CPID[c$i]}"; then
			run cat "c$i.out"
			[ -z "$output" ] || assert_output "- server full, try again later"
		fi
	done
	# A spinning loop would burn about 200 ticks in this window; the
	# window is a measurement, not a wait for a condition.
	before=$(cpu_ticks "$HUB")
	sleep 2
	after=$(cpu_ticks "$HUB")
	echo "hub CPU over 2 s: $((after - before)) ticks" >&3
	[ $((after - before)) -le 10 ]
	# The served ones still work.
	for i in $(seq 1 40); do
		if ! pid_gone "${CPID[c$i]}"; then
			say "c$i" ping
			CUR[c$i]=1
			reads "c$i" "+ pong"
		fi
	done
	# Once they go, the hub serves again.
	for i in $(seq 1 40); do
		hang_up "c$i"
	done
	wait_for 10 workers_are 0
	connect again
	name again c1
	say again "join g"
	reads again "+ joined g"
}

@test "chat: EMFILE under prlimit --nofile=32: no spin, excess clients closed, recovery (RELIABILITY 34)" {
	emfile
}

# The hub takes one more fd per TCP client; without one a client is its
# worker's to write to, as with --no-direct.
@test "chat --no-direct: EMFILE under prlimit --nofile=32: no spin, excess clients closed, recovery (RELIABILITY 34)" {
	emfile --no-direct
}

@test "chat: --max-clients turns the excess away with one line, then serves again" {
	start_hub --tcp 127.0.0.1:0 --max-clients 2
	connect a
	connect b
	name a alice
	name b bob
	connect c
	reads c "- server full, try again later"
	closed c
	say b quit
	reads b "+ bye"
	closed b
	wait_for 5 workers_are 1
	connect d
	name d dave
	say d "msg alice back"
	reads d "+ sent to alice"
	reads a "[@dave] back"
}

@test "chat: a client that closes before its reply does not hurt the hub (RELIABILITY 7)" {
	start_hub --tcp 127.0.0.1:0
	connect w
	name w watcher
	say w "join g"
	reads w "+ joined g"
	local i
	for i in $(seq 1 20); do
		# Sends and is gone at once (socat -t 0): the replies go to a
		# closed socket (EPIPE, or a reset).
		printf 'gone%s\njoin g\nhelp\nlist\nhelp\n' "$i" |
		    socat -t 0 - "TCP:127.0.0.1:$PORT" >/dev/null 2>&1 || true
	done
	kill -0 "$HUB"
	wait_for 10 workers_are 1
	# Those that joined went again: the watcher, still served, can tell.
	say w "who g"
	wait_for 10 grep -qx "+ members of g: watcher" w.out
	for i in $(seq 1 20); do
		assert_equal "$(count_in w.out "* gone$i quit")" \
		    "$(count_in w.out "* gone$i joined g")"
	done
	connect a
	name a alice
	say a help
	reads a "+ commands: join GROUP, leave GROUP, send GROUP TEXT, msg NAME TEXT, list, who GROUP, ping, help, quit"
}

@test "chat: workers hold only fds 0-4; the hub's fd count is stable over 50 clients (RELIABILITY 13)" {
	exec 7</dev/null
	start_hub --tcp 127.0.0.1:0
	exec 7<&-
	local w p before after i ok=0
	# The hub itself still has the inherited fd 7: that is the test's.
	[ -e "/proc/$HUB/fd/7" ]
	connect a
	name a alice
	w=$(worker_of a)
	run ls "/proc/$w/fd"
	assert_output "$(printf '0\n1\n2\n3\n4')"
	# Nor anything else the hub forked.
	for p in $(descendants "$HUB"); do
		[ ! -e "/proc/$p/fd/7" ]
	done
	# 0 and 1: the client's socket; 3 and 4: pipes from and to the hub.
	[[ $(readlink "/proc/$w/fd/0") == socket:* ]]
	assert_equal "$(readlink "/proc/$w/fd/1")" "$(readlink "/proc/$w/fd/0")"
	[[ $(readlink "/proc/$w/fd/3") == pipe:* ]]
	[[ $(readlink "/proc/$w/fd/4") == pipe:* ]]
	say a quit
	reads a "+ bye"
	closed a
	wait_for 5 workers_are 0
	before=$(fd_count "$HUB")
	for i in $(seq 1 50); do
		[ "$(printf 'c%s\nquit\n' "$i" |
		    socat -t 5 - "TCP:127.0.0.1:$PORT")" = "$(printf '+ welcome c%s\n+ bye' "$i")" ] &&
		    ok=$((ok + 1))
	done
	assert_equal "$ok" 50
	wait_for 5 workers_are 0
	after=$(fd_count "$HUB")
	assert_equal "$after" "$before"
}

@test "chat: workers start with default signals and an empty mask (RELIABILITY 8)" {
	HUB_WRAP=("$PV_TESTBIN/sigstate" -i TERM -i INT -i HUP -b USR1 -b TERM --)
	start_hub --tcp 127.0.0.1:0 --outbound cat
	connect a
	name a alice
	local w f
	w=$(worker_of a)
	# The worker ignores SIGPIPE itself (bit 13, 0x1000), nothing else.
	run grep -E '^Sig(Blk|Ign):' "/proc/$w/status"
	assert_line --regexp '^SigBlk:[[:space:]]+0+$'
	assert_line --regexp '^SigIgn:[[:space:]]+0+1000$'
	# Its filter: nothing at all.
	f=$(pgrep -P "$w")
	run grep -E '^Sig(Blk|Ign):' "/proc/$f/status"
	assert_line --regexp '^SigBlk:[[:space:]]+0+$'
	assert_line --regexp '^SigIgn:[[:space:]]+0+$'
	# And the hub still stops on TERM, whatever it inherited.
	kill -TERM "$HUB"
	reads a "* server shutting down"
	closed a
	wait_hub
	assert_equal "$STATUS" 0
}

# --- dying and slow clients -----------------------------------------------------

# worker_killed [ARGS]: a worker SIGKILLed mid-conversation, under a hub
# started with these extra arguments.
worker_killed() {
	start_hub --tcp 127.0.0.1:0 "$@"
	alice_and_bob_in_g
	local w
	w=$(worker_of b)
	[ -n "$w" ]
	kill -KILL "$w"
	reads a "* bob quit"
	closed b
	wait_for 5 pid_gone "$w"
	wait_for 5 workers_are 1
	say a "who g"
	reads a "+ members of g: alice"
	# The name is free, the group works.
	connect c
	name c bob
	say c "join g"
	reads c "+ joined g"
	reads a "* bob joined g"
	say a "send g still here"
	reads a "[g] alice: still here"
	reads c "[g] alice: still here"
}

@test "chat: a worker killed with SIGKILL: peers see it quit, its connection closes, the hub serves on" {
	worker_killed
}

# The hub holds a copy of the socket: the connection must close all the
# same when the worker dies, with the copy (the default) or without it.
@test "chat --no-direct: a worker killed with SIGKILL: peers see it quit, its connection closes, the hub serves on" {
	worker_killed --no-direct
}

# churn [ARGS]: 200 clients join and leave in waves of 20, under a hub
# with these extra arguments.
churn() {
	start_hub --tcp 127.0.0.1:0 "$@"
	connect obs
	name obs observer
	say obs "join churn"
	reads obs "+ joined churn"
	local fds0 rss0 wave i p pids ok=0 zombies=0
	fds0=$(fd_count "$HUB")
	rss0=$(tree_rss "$HUB")
	for wave in $(seq 0 9); do
		pids=()
		for i in $(seq $((wave * 20 + 1)) $((wave * 20 + 20))); do
			printf 'c%s\njoin churn\nquit\n' "$i" |
			    socat -t 10 - "TCP:127.0.0.1:$PORT" >"c$i.out" 2>&1 3>&- &
			pids+=("$!")
		done
		# A zombie that stays while a wave runs was not reaped.
		for p in $(descendants "$HUB"); do
			case $(ps -o stat= -p "$p" 2>/dev/null) in Z*) ;; *) continue ;; esac
			wait_for 2 pid_gone_for_good "$p" || zombies=$((zombies + 1))
		done
		wait "${pids[@]}"
	done
	assert_equal "$zombies" 0
	# Each read its welcome, its join, notices of the others, its bye.
	for i in $(seq 1 200); do
		[ "$(sed -n 1p "c$i.out")" = "+ welcome c$i" ] || continue
		[ "$(sed -n 2p "c$i.out")" = "+ joined churn" ] || continue
		[ "$(tail -n 1 "c$i.out")" = "+ bye" ] || continue
		[ "$(sed '1,2d;$d' "c$i.out" |
		    grep -cvE '^\* c[0-9]+ (joined churn|quit)$')" -eq 0 ] || continue
		ok=$((ok + 1))
	done
	assert_equal "$ok" 200
	# The observer saw each of them come and go, once.
	wait_for 10 count_notices 200
	wait_for 10 workers_are 1
	wait_for 5 no_zombies_under "$HUB"
	assert_equal "$(fd_count "$HUB")" "$fds0"
	local rss1
	rss1=$(tree_rss "$HUB")
	echo "tree RSS before $rss0 kB, after $rss1 kB" >&3
	[ -n "${PV_SANITIZED:-}" ] || [ "$rss1" -le $((rss0 + 4096)) ]
	say obs ping
	wait_for 10 grep -qx "+ pong" obs.out
}

@test "chat: churn of 200 clients leaves no zombies, workers, fds or memory behind" {
	churn
}

@test "chat --no-direct: churn of 200 clients leaves no zombies, workers, fds or memory behind" {
	churn --no-direct
}

# pid_gone_for_good PID: PID is no longer there at all, zombie or not.
pid_gone_for_good() {
	! ps -p "$1" >/dev/null 2>&1
}

# count_notices N: the observer saw N joins and N quits of c1..c200.
count_notices() {
	[ "$(grep -c '^\* c[0-9]* joined churn$' obs.out)" -eq "$1" ] &&
	    [ "$(grep -c '^\* c[0-9]* quit$' obs.out)" -eq "$1" ] &&
	    [ "$(grep '^\* c[0-9]* joined churn$' obs.out | sort -u | wc -l)" -eq "$1" ] &&
	    [ "$(grep '^\* c[0-9]* quit$' obs.out | sort -u | wc -l)" -eq "$1" ]
}

# slow_client NAME: a client that names itself NAME, joins g, and then
# never reads: nobody reads its socket, whose receive buffer fills, then
# its worker's socket buffer, then the hub's queue.
slow_client() {
	local s
	exec {s}<>"/dev/tcp/127.0.0.1/$PORT"
	CFD[$1]=$s
	CUR[$1]=0
	say "$1" "$1" "join g"
}

# count_deliveries FILE N [SENDER]: FILE holds N lines from SENDER (fast)
# to g.
count_deliveries() {
	[ "$(grep -c "^\\[g\\] ${3:-fast}: " "$1")" -eq "$2" ]
}

# slow_room ARGS...: a hub (with ARGS) and the room g of fast (sends),
# reader (reads) and slow (never reads).
slow_room() {
	start_hub --tcp 127.0.0.1:0 "$@"
	connect fast
	connect reader
	name fast
	name reader
	say fast "join g"
	reads fast "+ joined g"
	say reader "join g"
	reads reader "+ joined g"
	reads fast "* reader joined g"
	slow_client slow
	reads fast "* slow joined g"
	reads reader "* slow joined g"
	# Holding no client's socket, so that a client's hang-up is one.
	(
		close_clients
		rss_sampler "$HUB" rss.max
	) &
	CLIENTS+=("$!")
	wait_for 5 test -s rss.max
}

# slow_verdict T0: every line reached fast and reader, in order, once;
# slow was dropped, and nobody else; the tree's memory stayed bounded.
slow_verdict() {
	wait_for 30 count_is 1 reader.out "* slow quit"
	wait_for 30 count_deliveries reader.out 10000
	local t1
	t1=$(date +%s%N)
	wait_for 30 count_deliveries fast.out 10000
	echo "10000 lines to the reader in $(((t1 - $1) / 1000000)) ms; largest tree RSS $(cat rss.max) kB" >&3
	run diff <(grep '^\[g\] fast: ' reader.out) \
	    <(sed 's/^send g /[g] fast: /' lines)
	assert_success
	run diff <(grep '^\[g\] fast: ' fast.out) \
	    <(sed 's/^send g /[g] fast: /' lines)
	assert_success
	count_is 1 fast.out "* slow quit"
	rss_ok "$(cat rss.max)"
	# Only the slow one went.
	run grep -c 'gone: too slow' hub.err
	assert_output 1
	grep -q ' slow gone: too slow' hub.err
	say fast "who g"
	wait_for 10 grep -qx "+ members of g: fast reader" fast.out
	wait_for 5 workers_are 2
}

# slow_paced [ARGS]: 10000 lines at about 10000 a second into a room with
# a client that does not read, under a hub with these extra arguments.
slow_paced() {
	slow_room --queue 16384 "$@"
	flood_lines 10000 lines
	local t0 k
	t0=$(date +%s%N)
	# 10000 lines at about 10000 a second, 200 at a time: the pauses set
	# the pace, they synchronise nothing.
	for ((k = 0; k < 50; k++)); do
		sed -n "$((k * 200 + 1)),$((k * 200 + 200))p" lines >&"${CFD[fast]}"
		sleep 0.02
	done
	slow_verdict "$t0"
}

@test "chat: a client that stops reading is dropped; the others get every line (RELIABILITY 29)" {
	slow_paced
}

@test "chat --no-direct: a client that stops reading is dropped; the others get every line (RELIABILITY 29)" {
	slow_paced --no-direct
}

# A burst is routed faster than any reader's worker can forward it: the
# hub must hold the sender back while a reader is merely behind, not drop
# readers that read all the time (nor the sender, which reads its own
# lines), and still drop the one that does not read at all.
# slow_burst [ARGS]: the burst, under a hub with these extra arguments.
slow_burst() {
	slow_room --queue 16384 "$@"
	flood_lines 10000 lines
	local t0
	t0=$(date +%s%N)
	(
		trap '' PIPE
		cat lines >&"${CFD[fast]}"
	) &
	CLIENTS+=("$!")
	slow_verdict "$t0"
}

@test "chat: a burst of 10000 lines in one write: only the client that does not read is dropped (RELIABILITY 29)" {
	slow_burst
}

@test "chat --no-direct: a burst of 10000 lines in one write: only the client that does not read is dropped (RELIABILITY 29)" {
	slow_burst --no-direct
}

# anon_kb PID: PID's own anonymous memory in kB, from smaps_rollup.
anon_kb() {
	awk '/^Anonymous:/ { print $2 }' "/proc/$1/smaps_rollup"
}

# anon_under PID KB: for wait_for.
anon_under() {
	[ "$(anon_kb "$1")" -lt "$2" ]
}

# A client that does not read holds megabytes of queue in the hub (under a
# large --queue); once it leaves, that memory is the system's again.  (A
# queue this big is one mmap of malloc's, so free returns it; the trim
# that returns many small queues' heap pages after a burst to hundreds of
# clients shows in make bench, "PSS/client 1 s later".)
@test "chat: a client's megabytes of queue go back to the system when it leaves" {
	[ -z "${PV_SANITIZED:-}" ] || skip "ASan keeps freed memory in quarantine"
	slow_room --queue 16777216
	local base peak
	base=$(anon_kb "$HUB")
	# 16 MB: the kernel's socket buffers take a few of them.
	flood_lines 160000 lines
	(
		close_clients fast
		trap '' PIPE
		cat lines >&"${CFD[fast]}"
	) &
	CLIENTS+=("$!")
	wait_for 60 count_deliveries reader.out 160000
	peak=$(anon_kb "$HUB")
	echo "hub anonymous memory: $base kB before, $peak kB with the queue" >&3
	# The condition under test: the queue is in the hub's memory.
	[ "$peak" -gt $((base + 1024)) ]
	hang_up slow
	wait_for 10 count_is 1 reader.out "* slow quit"
	wait_for 10 anon_under "$HUB" $((base + 512))
}

# A burst writes a page of the worker's read buffer and of its queue to
# the hub for every 4 KiB that passes at once; 2000 lines in one write
# pass 200 kB.  Those pages go back once the client is quiet (a quarter
# of a second, chat_worker.c): without that, its memory stays some 16 kB
# over what it was.
@test "chat: a sender's worker gives back what a burst wrote once its client is quiet" {
	start_hub --tcp 127.0.0.1:0
	alice_and_bob_in_g
	local w base
	w=$(worker_of a)
	base=$(anon_kb "$w")
	flood_lines 2000 lines
	say_raw a "$(cat lines)"$'\n'
	wait_for 30 count_deliveries b.out 2000 alice
	wait_for 10 anon_under "$w" $((base + 4)) || {
		echo "alice's worker: $base kB before, $(anon_kb "$w") kB now" >&2
		return 1
	}
}

# --- the hub writes to the sockets (without --no-direct) ---------------------

# switches PID: how many times PID has been switched out (it was woken to
# do something, or preempted), from /proc/PID/status.
switches() {
	awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n }' \
	    "/proc/$1/status"
}

# holds_socket PID SOCKET: one of PID's fds is SOCKET ("socket:[INODE]").
holds_socket() {
	local f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "$2" ] && return 0
	done
	return 1
}

# wakeups_per_30 [ARGS]: a hub with these extra arguments, alice and bob
# in group g, and 30 lines from alice, each read by bob before the next
# is sent; sets WAKEUPS to how many times bob's worker was switched out
# meanwhile.  The hub is stopped at the end.
wakeups_per_30() {
	start_hub --tcp 127.0.0.1:0 "$@"
	alice_and_bob_in_g
	local w before i
	w=$(worker_of b)
	before=$(switches "$w")
	for i in $(seq 1 30); do
		say a "send g line $i"
		reads b "[g] alice: line $i"
	done
	WAKEUPS=$(($(switches "$w") - before))
	hang_up a
	hang_up b
	kill -TERM "$HUB"
	wait_hub
	assert_equal "$STATUS" 0
}

# The point of the hub writing: a delivery wakes no worker.  The same
# exchange with --no-direct is the control, and shows that the count sees
# wake-ups.
@test "chat: once named, a client's lines no longer wake its worker (with --no-direct they do)" {
	local with without
	wakeups_per_30
	with=$WAKEUPS
	wakeups_per_30 --no-direct
	without=$WAKEUPS
	echo "bob's worker switched out $with times by default, $without with --no-direct" >&3
	[ "$without" -ge 30 ]
	[ "$with" -le 3 ]
}

# traced PID: a tracer (strace) is attached to PID.
traced() {
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")" != 0 ]
}

# has_alices_lines FILE: FILE has the 200 lines of batching's burst.
has_alices_lines() {
	[ "$(grep -c '^\[g\] alice: line ' "$1")" -eq 200 ]
}

# batching [ARGS]: a hub with these extra arguments, alice and bob in
# group g, and 200 lines from alice in one write.  The worker forwards
# them in one write and the hub reads them in one round, so each of the
# 400 deliveries (alice reads her own) must not cost a write of its own.
# Counts the hub's writes that carry them: to sockets, or with
# --no-direct to the workers' pipes.
batching() {
	start_hub --tcp 127.0.0.1:0 "$@"
	alice_and_bob_in_g
	local i st n
	for i in $(seq -w 1 200); do
		echo "send g line $i"
	done >burst
	strace -qq -p "$HUB" -e trace=sendto,write -o hub.trace &
	st=$!
	wait_for 10 traced "$HUB"
	cat burst >&"${CFD[a]}"
	wait_for 10 has_alices_lines b.out
	wait_for 10 has_alices_lines a.out
	kill "$st"
	wait "$st" || true
	n=$(grep -c '^\(sendto\|write\)([0-9]*, "\[g\] alice: line ' hub.trace || true)
	echo "400 deliveries in $n writes of the hub" >&3
	[ "$n" -ge 2 ]
	[ "$n" -le 8 ]
}

@test "chat: 200 lines that reach the hub together go to each reader in a write or few" {
	batching
}

@test "chat --no-direct: 200 lines that reach the hub together go to each reader's worker in a write or few" {
	batching --no-direct
}

# The hub holds one copy of each named client's socket, and lets it go
# with the client; the worker keeps fds 0-4 all the same.
@test "chat: the hub holds a copy of each client's socket, and none once it left (RELIABILITY 13)" {
	start_hub --tcp 127.0.0.1:0
	local before w sock i ok=0
	before=$(fd_count "$HUB")
	connect a
	name a alice
	w=$(worker_of a)
	run ls "/proc/$w/fd"
	assert_output "$(printf '0\n1\n2\n3\n4')"
	sock=$(readlink "/proc/$w/fd/0")
	[[ $sock == socket:* ]]
	holds_socket "$HUB" "$sock"
	say a quit
	reads a "+ bye"
	closed a
	wait_for 5 workers_are 0
	! holds_socket "$HUB" "$sock"
	assert_equal "$(fd_count "$HUB")" "$before"
	for i in $(seq 1 50); do
		[ "$(printf 'c%s\njoin g\nquit\n' "$i" |
		    socat -t 5 - "TCP:127.0.0.1:$PORT")" = "$(printf '+ welcome c%s\n+ joined g\n+ bye' "$i")" ] &&
		    ok=$((ok + 1))
	done
	assert_equal "$ok" 50
	wait_for 5 workers_are 0
	assert_equal "$(fd_count "$HUB")" "$before"
}

# The hand-over happens while lines for the client are arriving: what
# came before the welcome goes through the worker, what comes after it
# waits for the worker's "O", so nothing is lost, doubled or reordered.
@test "chat: a name, commands and 300 private lines at once: all in order across the hand-over" {
	start_hub --tcp 127.0.0.1:0
	connect a
	name a alice
	local i lines=""
	for i in $(seq -w 1 300); do
		lines+="msg bob $i"$'\n'
	done
	connect b
	# The name and its commands in one write; alice's lines meanwhile.
	say_raw b $'bob\njoin g\nwho g\n'
	say_raw a "$lines"
	wait_for 10 count_is 1 b.out "+ members of g: bob"
	wait_for 10 has_lines a.out 301
	reads b "+ welcome bob"
	# Every line alice got "+ sent to bob" for reached bob, in order, once.
	local sent
	sent=$(grep -c '^+ sent to bob$' a.out || true)
	run diff <(grep '^\[@alice\] ' b.out) \
	    <(seq -w 1 300 | tail -n "$sent" | sed 's/^/[@alice] /')
	assert_success
	assert_equal "$(grep -c '^- no such user: bob$' a.out || true)" $((300 - sent))
	# The replies to bob's own commands, in the order of the commands.
	run grep -v '^\[@alice\] ' b.out
	assert_output "$(printf '+ welcome bob\n+ joined g\n+ members of g: bob')"
	# A name and quit in one write: the bye, then the close.
	connect c
	say c carol quit
	reads c "+ welcome carol" "+ bye"
	closed c
}

# The hub writes to its TCP clients, and still serves FIFO and UDP
# clients through their workers, in the same rooms.
@test "chat: UDP clients share the rooms with TCP clients" {
	start_hub --tcp 127.0.0.1:0 --udp 127.0.0.1:0
	connect a
	connect_udp u
	name a alice
	say u udpuser
	reads u "+ welcome udpuser"
	say a "join g"
	reads a "+ joined g"
	say u "join g"
	reads u "+ joined g"
	reads a "* udpuser joined g"
	say a "send g over tcp"
	reads a "[g] alice: over tcp"
	reads u "[g] alice: over tcp"
	say u "send g over udp"
	reads u "[g] udpuser: over udp"
	reads a "[g] udpuser: over udp"
	say u quit
	reads u "+ bye"
	reads a "* udpuser quit"
}

# --- signals ------------------------------------------------------------------

# term_all [ARGS]: SIGTERM to a hub with these extra arguments and three
# clients, one of them not named yet.
term_all() {
	start_hub --tcp 127.0.0.1:0 "$@"
	alice_and_bob_in_g
	connect c
	# c has not even said its name yet.
	wait_for 5 workers_are 3
	local ws
	ws=$(workers)
	kill -TERM "$HUB"
	reads a "* server shutting down"
	reads b "* server shutting down"
	reads c "* server shutting down"
	closed a
	closed b
	closed c
	wait_hub
	assert_equal "$STATUS" 0
	local w
	for w in $ws; do
		wait_for 5 group_gone "$w"
	done
	grep -q 'chat: SIGTERM: stopping 3 clients' hub.err
}

@test "chat: SIGTERM: every client told, connections closed, exit 0, no worker left" {
	term_all
}

@test "chat --no-direct: SIGTERM: every client told, connections closed, exit 0, no worker left" {
	term_all --no-direct
}

@test "chat: SIGINT and SIGHUP stop it too, with exit status 0" {
	local sig
	for sig in INT HUP; do
		start_hub --tcp 127.0.0.1:0
		connect "$sig"
		name "$sig" "x$sig"
		kill -"$sig" "$HUB"
		reads "$sig" "* server shutting down"
		closed "$sig"
		wait_hub
		assert_equal "$STATUS" 0
	done
}

# stuck_setup ARGS...: a hub (with ARGS) where client slow does not read
# and is owed about 1.4 MB: more than the buffers between its worker and
# it hold (the hub sizes the worker's SO_SNDBUF from --queue), so with
# --no-direct its worker is stuck writing, but less than those and the
# 1 MB --queue, so it is not dropped.  When the hub writes (the default)
# the socket's larger send buffer takes what the pipe took.
stuck_setup() {
	start_hub --tcp 127.0.0.1:0 --queue 1048576 "$@"
	connect fast
	name fast
	say fast "join g"
	reads fast "+ joined g"
	slow_client slow
	reads fast "* slow joined g"
	flood_lines 13000 lines
	local k
	for ((k = 0; k < 65; k++)); do
		sed -n "$((k * 200 + 1)),$((k * 200 + 200))p" lines >&"${CFD[fast]}"
		sleep 0.01
	done
	wait_for 30 count_deliveries fast.out 13000
	CUR[fast]=$(wc -l <fast.out)
	# Not dropped, but backed up: the hub's side of slow's connection
	# has bytes the client has not taken.
	count_is 0 fast.out "* slow quit"
	workers_are 2
	local lport me=$BASHPID
	lport=$(ss -Htnp | awk -v p="pid=$me,fd=${CFD[slow]})" \
	    'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -n "$lport" ]
	[ "$(ss -Htn "dport = :$lport" | awk '{ print $3 }')" -gt 0 ]
}

# The grace is for workers stuck writing: a worker writes its client's
# lines with --no-direct.
@test "chat --no-direct: SIGTERM with a client that does not read: exit 0 within grace + a bound" {
	stuck_setup --no-direct --grace 1
	local t0 t1 ws w
	ws=$(workers)
	t0=$(date +%s%N)
	kill -TERM "$HUB"
	reads fast "* server shutting down"
	closed fast
	wait_for 10 hub_gone
	t1=$(date +%s%N)
	wait_hub
	assert_equal "$STATUS" 0
	echo "stopped in $(((t1 - t0) / 1000000)) ms" >&3
	# The grace is given to the stuck worker, then it is killed.
	[ $(((t1 - t0) / 1000000)) -ge 900 ]
	[ $(((t1 - t0) / 1000000)) -lt 6000 ]
	for w in $ws; do
		wait_for 5 group_gone "$w"
	done
}

@test "chat --no-direct: a second SIGTERM during the grace kills at once" {
	stuck_setup --no-direct --grace 60
	local ws w
	ws=$(workers)
	kill -TERM "$HUB"
	reads fast "* server shutting down"
	closed fast
	wait_for 10 grep -q 'SIGTERM: stopping 2 clients' hub.err
	kill -0 "$HUB"
	kill -TERM "$HUB"
	wait_for 10 hub_gone
	wait_hub
	assert_equal "$STATUS" 0
	for w in $ws; do
		wait_for 5 group_gone "$w"
	done
}

# When the hub writes, what a slow client is owed at SIGTERM is the
# kernel's or, past the socket's buffer, the hub's for up to the grace:
# the client that reads on gets every line, the shutdown line, the end.
@test "chat: SIGTERM with a client behind: it reads every line, then the shutdown line, then end of file" {
	stuck_setup --grace 60
	local got
	kill -TERM "$HUB"
	reads fast "* server shutting down"
	closed fast
	wait_for 10 grep -q 'SIGTERM: stopping 2 clients' hub.err
	# slow reads only now, and must not need the grace's 60 s.
	run timeout 30 cat <&"${CFD[slow]}"
	assert_success
	assert_equal "${#lines[@]}" 13003
	assert_equal "${lines[0]}" "+ welcome slow"
	assert_equal "${lines[1]}" "+ joined g"
	assert_equal "${lines[13002]}" "* server shutting down"
	got=$(printf '%s\n' "${lines[@]:2:13000}" | sed 's/^\[g\] fast: /send g /')
	assert_equal "$got" "$(cat lines)"
	wait_for 10 hub_gone
	wait_hub
	assert_equal "$STATUS" 0
}

# --- UDP ----------------------------------------------------------------------

# empty_datagram NAME: NAME's socat read an empty datagram (not stdin).
empty_datagram() {
	grep -Eq '^read\([1-9][0-9]*, "", [0-9]+\) += 0$' "$1.trace"
}

@test "chat: UDP: name, join, send, quit; + bye and an empty datagram end it" {
	start_hub --tcp 127.0.0.1:0 --udp 127.0.0.1:0
	[ -n "$UPORT" ]
	connect t
	name t tina
	say t "join u"
	reads t "+ joined u"
	connect_udp u
	# One datagram per line.
	name u uma
	say u "join u"
	reads u "+ joined u"
	reads t "* uma joined u"
	say u "send u hi over udp"
	reads u "[u] uma: hi over udp"
	reads t "[u] uma: hi over udp"
	say t "send u hi over tcp"
	reads t "[u] tina: hi over tcp"
	reads u "[u] tina: hi over tcp"
	say u "who u"
	reads u "+ members of u: tina uma"
	run empty_datagram u
	assert_failure
	say u quit
	reads u "+ bye"
	wait_for 10 empty_datagram u
	reads t "* uma quit"
	wait_for 5 workers_are 1
	# Every datagram of the hub was one line ending with LF (socat reads
	# one datagram per read), and the empty one came last.
	local sock
	sock=$(sed -n 's/^read(\([0-9]*\), "+ welcome uma\\n".*/\1/p' u.trace)
	[ -n "$sock" ]
	run grep -E "^read\\($sock, " u.trace
	assert_equal "${#lines[@]}" "$((CUR[u] + 1))"
	run grep -vE '^read\([0-9]+, "[^"]*\\n", [0-9]+\) += [0-9]+$' \
	    <(grep -E "^read\\($sock, " u.trace | sed '$d')
	assert_output ""
	[ "$(tail -c 1 u.out | od -An -c | tr -d ' ')" = '\n' ]
	assert_equal "$(wc -l <u.out)" "${CUR[u]}"
}

@test "chat: UDP: a silent client is expired after --idle; its peers see it quit" {
	start_hub --tcp 127.0.0.1:0 --udp 127.0.0.1:0 --idle 1s
	connect t
	name t tina
	say t "join u"
	reads t "+ joined u"
	connect_udp u
	name u uma
	local t0 t1
	t0=$(date +%s%N)
	say u "join u"
	reads u "+ joined u"
	reads t "* uma joined u"
	# Then silence: expired after a second or so.
	reads t "* uma quit"
	t1=$(date +%s%N)
	echo "expired after $(((t1 - t0) / 1000000)) ms" >&3
	[ $(((t1 - t0) / 1000000)) -ge 1000 ]
	wait_for 5 empty_datagram u
	wait_for 5 workers_are 1
	# The TCP client, silent as long, is still there.
	say t ping
	reads t "+ pong"
	say t "who u"
	reads t "+ members of u: tina"
}

# --- filter chains --------------------------------------------------------------

@test "chat: --outbound upper changes what clients read; the name handshake still works" {
	start_hub --tcp 127.0.0.1:0 --outbound upper
	connect javad
	connect ali
	# The worker reads the welcome before the chain: naming works.
	say javad javad
	reads javad "+ WELCOME JAVAD"
	say ali JAVAD
	reads ali "- NAME TAKEN: JAVAD"
	say ali ali
	reads ali "+ WELCOME ALI"
	# Named: commands work, and what comes back is upper case.
	say javad "join 1"
	reads javad "+ JOINED 1"
	say ali "join 1"
	reads ali "+ JOINED 1"
	reads javad "* ALI JOINED 1"
	say javad "send 1 hi"
	reads javad "[1] JAVAD: HI"
	reads ali "[1] JAVAD: HI"
	say ali quit
	reads ali "+ BYE"
	closed ali
	reads javad "* ALI QUIT"
}

@test "chat: --inbound lower changes what the hub reads; a chain of two stages" {
	start_hub --tcp 127.0.0.1:0 --inbound lower --outbound "stamp -r | upper"
	connect a
	say a JAVAD "JOIN 1" "SEND 1 Hello There"
	wait_for 10 has_lines a.out 3
	run cat a.out
	assert_line --index 0 --regexp '^[0-9]+\.[0-9]{6} \+ WELCOME JAVAD$'
	assert_line --index 1 --regexp '^[0-9]+\.[0-9]{6} \+ JOINED 1$'
	assert_line --index 2 --regexp '^[0-9]+\.[0-9]{6} \[1\] JAVAD: HELLO THERE$'
	assert_equal "${#lines[@]}" 3
	# The hub saw lower case: the name taken is javad, the group 1's
	# member is javad.
	connect b
	say b javad bob "who 1"
	wait_for 10 has_lines b.out 3
	run sed 's/^[0-9]*\.[0-9]* //' b.out
	assert_output "$(printf '%s\n' '- NAME TAKEN: JAVAD' '+ WELCOME BOB' '+ MEMBERS OF 1: JAVAD')"
}

@test "chat: a killed worker takes its filter processes with it" {
	start_hub --tcp 127.0.0.1:0 --inbound lower --outbound upper
	connect a
	connect b
	say a alice
	reads a "+ WELCOME ALICE"
	say b bob
	reads b "+ WELCOME BOB"
	say a "join g"
	reads a "+ JOINED G"
	say b "join g"
	reads b "+ JOINED G"
	reads a "* BOB JOINED G"
	local w filters f
	w=$(worker_of b)
	filters=$(pgrep -P "$w")
	# Two filters, in the worker's process group.
	assert_equal "$(echo "$filters" | wc -l)" 2
	for f in $filters; do
		assert_equal "$(ps -o pgid= -p "$f" | tr -d ' ')" "$w"
	done
	kill -KILL "$w"
	reads a "* BOB QUIT"
	closed b
	for f in $filters; do
		wait_for 5 pid_gone "$f"
	done
	wait_for 5 group_gone "$w"
	say a ping
	reads a "+ PONG"
}

# --- the seeds' clients, IPv6, half-open connections --------------------------

# fifo_client NAME COMMAND...: runs the client COMMAND reading NAME.in,
# its output in NAME.out and its messages in NAME.err; the test holds
# NAME.in open (CFD[NAME]).
fifo_client() {
	local n=$1 fd
	shift
	mkfifo "$n.in"
	"$@" <"$n.in" >"$n.out" 2>"$n.err" 3>&- &
	CLIENTS+=("$!")
	CPID[$n]=$!
	exec {fd}>"$n.in"
	CFD[$n]=$fd
}

# nc_client NAME [HOST]: an nc client (netcat-openbsd) of the hub's PORT.
nc_client() {
	fifo_client "$1" nc -N "${2:-127.0.0.1}" "$PORT"
}

# nc_sees NAME LINE: NAME's nc has printed LINE.
nc_sees() {
	wait_for 10 grep -qxF -- "$2" "$1.out"
}

# seeds_exchange: the seeds' transcript between the connected clients
# javad and ali, up to javad leaving group 1; each step waits for its
# replies.
seeds_exchange() {
	printf 'javad\njoin 1\njoin 2\n' >&"${CFD[javad]}"
	nc_sees javad '+ joined 2'
	printf 'ali\njoin 1\njoin 3\n' >&"${CFD[ali]}"
	nc_sees ali '+ joined 3'
	printf 'send 1 hello ali\n' >&"${CFD[javad]}"
	nc_sees ali '[1] javad: hello ali'
	nc_sees javad '[1] javad: hello ali'
	printf 'send 1 hi javad\n' >&"${CFD[ali]}"
	nc_sees javad '[1] ali: hi javad'
	printf 'leave 1\n' >&"${CFD[javad]}"
	nc_sees ali '* javad left 1'
}

@test "chat: the seeds' transcript with nc, as the seed report ran it" {
	start_hub --tcp 127.0.0.1:0
	nc_client javad
	nc_client ali
	seeds_exchange
	printf 'send 1 gone?\nmsg javad last\n' >&"${CFD[ali]}"
	nc_sees javad '[@ali] last'
	run grep -c 'gone?' javad.out
	assert_output 0
	printf 'quit\n' >&"${CFD[javad]}"
	nc_sees javad '+ bye'
	printf 'quit\n' >&"${CFD[ali]}"
	nc_sees ali '+ bye'
	# The server stays up for the next one.
	nc_client carol
	printf 'carol\n' >&"${CFD[carol]}"
	nc_sees carol '+ welcome carol'
}

# telnet_client NAME: a telnet client (inetutils) of the hub's PORT;
# telnet ends each line with CR LF, as a terminal user's would.
telnet_client() {
	fifo_client "$1" telnet 127.0.0.1 "$PORT"
}

@test "chat: the seeds' transcript with telnet: CR LF lines, CR-free replies" {
	start_hub --tcp 127.0.0.1:0
	telnet_client javad
	nc_client ali
	seeds_exchange
	printf 'quit\n' >&"${CFD[javad]}"
	nc_sees javad '+ bye'
	wait_for 10 grep -qF 'Connection closed by foreign host' javad.err
	# Every line the server wrote to telnet, in order, none with a CR.
	run sed -n '/^Escape character/,$p' javad.out
	assert_output "Escape character is '^]'.
+ welcome javad
+ joined 1
+ joined 2
* ali joined 1
[1] javad: hello ali
[1] ali: hi javad
+ left 1
+ bye"
	printf 'quit\n' >&"${CFD[ali]}"
	nc_sees ali '+ bye'
}

@test "chat: IPv4 and IPv6 listeners at once share the rooms" {
	[ -e /proc/net/if_inet6 ] && ip -6 addr show lo | grep -q '::1' ||
	    skip "no IPv6 loopback"
	start_hub --tcp 127.0.0.1:0 --tcp '[::1]:0'
	local v6
	v6=$(ss -H -ltnp | awk -v p="pid=$HUB," '$0 ~ p && $4 ~ /^\[::1\]:/ {
	    sub(/.*:/, "", $4); print $4; exit }')
	[ -n "$v6" ]
	nc_client four
	PORT=$v6 nc_client six ::1
	printf 'four\njoin x\n' >&"${CFD[four]}"
	nc_sees four '+ joined x'
	printf 'six\njoin x\nsend x from v6\n' >&"${CFD[six]}"
	nc_sees four '[x] six: from v6'
	run grep -E 'tcp:\[::1\]:[0-9]+ connected' hub.err
	assert_success
}

@test "chat: a client's socket is probed when idle, so a half-open one ends" {
	start_hub --tcp 127.0.0.1:0 --idle 7s --timeout 9s
	nc_client quiet
	printf 'quiet\n' >&"${CFD[quiet]}"
	nc_sees quiet '+ welcome quiet'
	# The worker's end of the connection has a keepalive timer armed, due
	# within --idle: probes find a peer that vanished, and --timeout
	# (TCP_USER_TIMEOUT) ends the connection when they go unanswered.
	run ss -H -tnoe state established "( sport = :$PORT )"
	assert_output --regexp 'timer:\(keepalive,[0-9.]+(ms|sec),0\)'
}
