# helpers.bash: shared set-up for the bats suites.
#
# PV_BUILD names the build tree to test (make sets it; build/ otherwise).
# Binaries are run by absolute path so a test never picks up an installed
# copy by accident.

PV_BUILD=${PV_BUILD:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build}
PV_BIN=$PV_BUILD/bin
PV_FILTERS=$PV_BUILD/libexec/pipevisor
PV_TESTBIN=$PV_BUILD/tests/bin
# PV_PIPEVISOR runs the suites through a wrapper (tests/eintr-compare).
PIPEVISOR=${PV_PIPEVISOR:-$PV_BIN/pipevisor}
export PV_BUILD PV_BIN PV_FILTERS PV_TESTBIN PIPEVISOR
export PIPEVISOR_FILTERS=$PV_FILTERS

bats_require_minimum_version 1.5.0

load_libs() {
	bats_load_library bats-support
	bats_load_library bats-assert
	bats_load_library bats-file
}
load_libs

# wait_for SECONDS COMMAND...: retry COMMAND every 20 ms until it succeeds
# or SECONDS pass; fails (status 1) on the deadline.
wait_for() {
	local limit=$1 end
	shift
	end=$(($(date +%s%N) + limit * 1000000000))
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$end" ]; then
			echo "wait_for: timed out after ${limit}s: $*" >&2
			return 1
		fi
		sleep 0.02
	done
}

# pid_gone PID: true when PID no longer exists (or is a zombie).
pid_gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	case $st in Z*) return 0 ;; esac
	return 1
}

# gone_after_term SECONDS PID: waits until PID, sent a TERM, is gone or a
# zombie (a zombie is the test shell's to reap: kill -0 still succeeds on
# it, and bash may reap a background job late); else says what the
# process is doing and fails.
gone_after_term() {
	wait_for "$1" pid_gone "$2" && return 0
	echo "process $2 still running $1 s after TERM:" >&2
	grep -E '^(State|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt)' \
	    "/proc/$2/status" >&2 || true
	echo "wchan: $(cat "/proc/$2/wchan" 2>/dev/null)" >&2
	ps -o pid,pgid,stat,args --ppid "$2" >&2 || true
	return 1
}

# zombies_of PID: how many zombie children PID has.
zombies_of() {
	ps --ppid "$1" -o stat= 2>/dev/null | grep -c '^Z' || true
}

# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# listen_port t|u PID: the port PID listens on, TCP (t) or UDP (u).
listen_port() {
	ss -Hl"$1"np 2>/dev/null | awk -v p="pid=$2," \
	    'index($0, p) { n = split($4, a, ":"); print a[n]; exit }'
}

# kill_tree PID...: SIGKILL each pid's process group, if it leads one, and
# the pid; used by teardowns on the pids a test started.
kill_tree() {
	local p
	for p in "$@"; do
		kill -KILL -- "-$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
	done
}
