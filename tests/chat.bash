# chat.bash: helpers shared by the chat suites (chat-local.bats,
# pvchat.bats, chat-http.bats).  A client's lines go out through the FIFO
# fd in CFD[NAME] (`say`) and come back in NAME.out (`sees`).  chat.bats
# keeps its own: its clients are bare sockets read line by line, in order
# (`reads`), not pvchat processes.  What any suite may use is in
# helpers.bash.

# say NAME LINE...: the client sends the lines.
say() {
	local n=$1 line
	shift
	for line in "$@"; do
		printf '%s\n' "$line" >&"${CFD[$n]}"
	done
}

# sees NAME LINE: waits until the client has received exactly LINE.
sees() {
	wait_for 10 grep -qxF -- "$2" "$1.out" || {
		echo "$1 never saw: $2; it has:" >&2
		cat "$1.out" >&2
		return 1
	}
}

# hangup NAME: closes the client's input (end of file).
hangup() {
	eval "exec ${CFD[$1]}>&-"
	unset "CFD[$1]"
}

# hub_tree PID: the hub's children (spawner, msgq gateway) and theirs
# (the workers).
hub_tree() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		pgrep -P "$c" || true
	done
}

# key_msqid: the id of the queue at ftok(KEY, 'p'), if any.
key_msqid() {
	local key
	key=$(printf '0x%08x' "$(( (0x70 << 24) |
	    (($(stat -c %d "$KEY") & 0xff) << 16) |
	    ($(stat -c %i "$KEY") & 0xffff) ))")
	ipcs -q | awk -v k="$key" '$1 == k { print $2 }'
}
