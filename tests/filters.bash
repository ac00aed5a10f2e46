# filters.bash: helpers shared by the filter suites (tests/filter-*.bats),
# loaded after helpers.bash.

# all_bytes: prints the 256 byte values in order.
all_bytes() {
	local i
	for ((i = 0; i < 256; i++)); do
		# shellcheck disable=SC2059 # the format is the escape
		printf "\\$(printf %03o "$i")"
	done
}

# no_lsan CMD...: runs CMD with LeakSanitizer off, which cannot work under
# ptrace; other sanitizer options are kept.  No effect on a plain build.
no_lsan() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"
}

# eintr_trace LOG CMD...: runs CMD under strace, logging reads and writes
# to LOG, with EINTR injected into every other read from the first read
# of stdin on and every other write from the second on.  The reads made
# before stdin (the dynamic loader's, a sanitizer's, the time zone file)
# are counted on a dry run first, as an EINTR there is fatal to any
# program (RELIABILITY.md item 6).
eintr_trace() {
	local log=$1 pre
	shift
	no_lsan strace -o "$log.pre" -e trace=read "$@" < /dev/null > /dev/null
	pre=$(awk '/^read\(0,/ { print n; exit } /^read\(/ { n++ }' "$log.pre")
	no_lsan strace -o "$log" -e trace=read,write \
	    -e inject=read:error=EINTR:when=$((pre + 1))+2 \
	    -e inject=write:error=EINTR:when=2+2 "$@"
}

# sigpipe_ignored: true when this test runs with SIGPIPE ignored, so a
# child cannot be killed by it.
sigpipe_ignored() {
	local mask
	mask=$(awk '/^SigIgn:/ { print $2 }' /proc/self/status)
	(((0x$mask >> 12) & 1))
}

# now_ms: the current time in milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
