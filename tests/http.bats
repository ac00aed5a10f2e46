#!/usr/bin/env bats
# pipevisor up --http: the status page as a browser renders it, the JSON and
# the Prometheus metrics (issue 4: "a test loads the page in headless
# Chromium and checks the rendered table").

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PIPEVISOR_RUNDIR=$BATS_TEST_TMPDIR/run
	MARK=$((1000 + RANDOM % 8000)).$BATS_TEST_NUMBER$$
	cat > pipevisor.conf <<-EOF
	[service web]
	command = sleep $MARK
	[service oneshot]
	command = sh -c 'exit 3'
	restart = never
	EOF
	# A random high port; a clash makes up exit 1 and we try another.
	local tries
	for tries in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 30000))
		"$PIPEVISOR" up --http "127.0.0.1:$PORT" > up.log 2>&1 3>&- &
		SUP=$!
		if wait_for 10 up_ready; then
			return 0
		fi
		kill -TERM "$SUP" 2>/dev/null || true
	done
	return 1
}

teardown() {
	kill -TERM "$SUP" 2>/dev/null || true
	wait_for 10 pid_gone "$SUP" || kill -KILL "$SUP" 2>/dev/null
	pkill -KILL -f "$MARK" 2>/dev/null || true
}

up_ready() {
	kill -0 "$SUP" 2>/dev/null &&
	    "$PIPEVISOR" ctl status oneshot 2>/dev/null | grep -q exited
}

# get PATH: the raw HTTP response for PATH.
get() {
	printf 'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' "$1" |
	    timeout 10 socat - "TCP:127.0.0.1:$PORT"
}

@test "http: headless Chromium renders the services table" {
	command -v chromium >/dev/null || skip "chromium not installed"
	run timeout 90 chromium --headless --no-sandbox --disable-gpu \
	    --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync \
	    --user-data-dir="$BATS_TEST_TMPDIR/chromium" \
	    --dump-dom "http://127.0.0.1:$PORT/"
	assert_success
	# The DOM after rendering: one row per service with its state.
	assert_output --partial '<table id="services">'
	assert_output --regexp '<tr><td class="name">web</td><td class="state ready">ready</td><td class="num pid">[0-9]+</td>'
	assert_output --regexp '<tr><td class="name">oneshot</td><td class="state exited">exited</td>.*<td class="last">exit 3</td></tr>'
	[ "$(grep -c '<tr><td class="name">' <<<"$output")" -eq 2 ]
}

@test "http: /status.json and /metrics" {
	run get /status.json
	assert_success
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Content-Type: application/json\r'
	assert_output --regexp '"name":"web","state":"ready","pid":[0-9]+'
	assert_output --partial '"name":"oneshot","state":"exited","pid":null'
	run get /metrics
	assert_success
	assert_line 'pipevisor_service_up{service="web"} 1'
	assert_line 'pipevisor_service_up{service="oneshot"} 0'
	assert_line 'pipevisor_service_last_exit_status{service="oneshot"} 3'
	assert_line '# TYPE pipevisor_service_restarts_total counter'
}

@test "http: unknown paths are 404, other methods 405" {
	run get /nope
	assert_line --index 0 $'HTTP/1.1 404 Not Found\r'
	run bash -c "printf 'POST / HTTP/1.0\r\n\r\n' | timeout 10 socat - TCP:127.0.0.1:$PORT"
	assert_line --index 0 $'HTTP/1.1 405 Method Not Allowed\r'
}

@test "http: the page follows state changes" {
	run "$PIPEVISOR" ctl stop web
	assert_success
	run get /status.json
	assert_output --partial '"name":"web","state":"stopped"'
}
