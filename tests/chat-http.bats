#!/usr/bin/env bats
# pipevisor chat --http: the hub's status page as a browser renders it
# (rooms with their members, clients, counters), /status.json and
# /metrics (issue 5: "the same kind of status page as pipevisor up").

load helpers
load chat

setup() {
	cd "$BATS_TEST_TMPDIR"
	CLIENTS=()
	declare -gA CFD=()
	local tries extra=()
	# A test that names --no-direct gets a hub with it.
	[[ $BATS_TEST_DESCRIPTION != *--no-direct* ]] || extra=(--no-direct)
	# Random high ports; a clash makes the hub exit 1 and we try again.
	for tries in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 30000))
		HPORT=$((PORT + 1))
		"$PIPEVISOR" chat -v --tcp "127.0.0.1:$PORT" \
		    --http "127.0.0.1:$HPORT" "${extra[@]}" 2> hub.err 3>&- &
		HUB=$!
		if wait_for 10 grep -q 'chat: ready' hub.err; then
			break
		fi
		kill -TERM "$HUB" 2>/dev/null || true
		HUB=
	done
	[ -n "$HUB" ]
	client javad
	client ali
	say javad javad 'join 1' 'join 2'
	sees javad '+ joined 2'
	say ali ali 'join 1' 'join 3'
	sees ali '+ joined 3'
	say javad 'send 1 hello ali'
	sees ali '[1] javad: hello ali'
}

teardown() {
	local n p
	for n in "${!CFD[@]}"; do eval "exec ${CFD[$n]}>&-"; done
	for p in ${CLIENTS[@]+"${CLIENTS[@]}"}; do kill_tree "$p"; done
	if [ -n "$HUB" ]; then
		kill -TERM "$HUB" 2>/dev/null || true
		wait_for 10 pid_gone "$HUB" || kill -KILL "$HUB"
	fi
}

# client NAME: a socat client whose input is NAME.in, output NAME.out.
client() {
	local fd
	mkfifo "$1.in"
	socat - "TCP:127.0.0.1:$PORT" < "$1.in" > "$1.out" 2>/dev/null 3>&- &
	CLIENTS+=($!)
	exec {fd}> "$1.in"
	CFD[$1]=$fd
}

# clients_are N: /status.json lists N clients.
clients_are() {
	[ "$(get /status.json | sed '1,/^\r$/d' | jq '.clients | length')" = "$1" ]
}

# get PATH: the raw HTTP response for PATH.
get() {
	printf 'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' "$1" |
	    timeout 10 socat - "TCP:127.0.0.1:$HPORT"
}

@test "chat --http: headless Chromium renders the rooms and the clients" {
	command -v chromium >/dev/null || skip "chromium not installed"
	run timeout 90 chromium --headless --no-sandbox --disable-gpu \
	    --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync \
	    --user-data-dir="$BATS_TEST_TMPDIR/chromium" \
	    --dump-dom "http://127.0.0.1:$HPORT/"
	assert_success
	assert_output --partial '<table id="rooms">'
	assert_output --partial '<tr><td>1</td><td>2</td><td>javad ali</td></tr>'
	assert_output --partial '<tr><td>2</td><td>1</td><td>javad</td></tr>'
	assert_output --partial '<tr><td>3</td><td>1</td><td>ali</td></tr>'
	assert_output --regexp '<tr><td>javad</td><td>tcp:127\.0\.0\.1:[0-9]+</td><td>[0-9]+</td><td>2</td>'
	assert_output --regexp '<tr><td>ali</td><td>tcp:127\.0\.0\.1:[0-9]+</td><td>[0-9]+</td><td>2</td>'
	assert_output --regexp '<p id="summary">hub pid [0-9]+, 2 clients, 2 named, 1 message, 2 deliveries, 0 dropped</p>'
}

@test "chat --http: /status.json lists the rooms, members and counters" {
	run get /status.json
	assert_success
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Content-Type: application/json\r'
	body=$(sed '1,/^\r$/d' <<<"$output")
	run jq -c '[.rooms[] | {name, members}]' <<<"$body"
	assert_output '[{"name":"1","members":["javad","ali"]},{"name":"2","members":["javad"]},{"name":"3","members":["ali"]}]'
	run jq -c '[.clients[] | .name] | sort' <<<"$body"
	assert_output '["ali","javad"]'
	run jq -c '.counters | {messages, deliveries, dropped}' <<<"$body"
	assert_output '{"messages":1,"deliveries":2,"dropped":0}'
}

@test "chat --http: /status.json and the page say the hub writes to named clients" {
	client carol
	# carol is connected but has not said her name.
	wait_for 10 clients_are 3
	run get /status.json
	assert_success
	body=$(sed '1,/^\r$/d' <<<"$output")
	# javad and ali connect at once: their order is the hub's accept's.
	run jq -c '[.clients[] | select(.name) | {name, writer}] | sort_by(.name)' <<<"$body"
	assert_output '[{"name":"ali","writer":"hub"},{"name":"javad","writer":"hub"}]'
	run jq -c '[.clients[] | select(.name == null) | .writer]' <<<"$body"
	assert_output '["worker"]'
	run get /
	assert_success
	assert_output --regexp '<tr><td>javad</td><td>tcp:127\.0\.0\.1:[0-9]+</td><td>[0-9]+</td><td>2</td><td>[0-9]+s</td><td>0</td><td>hub</td></tr>'
}

@test "chat --http --no-direct: /status.json and the page say every worker writes to its client" {
	run get /status.json
	assert_success
	body=$(sed '1,/^\r$/d' <<<"$output")
	run jq -c '[.clients[] | {name, writer}] | sort_by(.name)' <<<"$body"
	assert_output '[{"name":"ali","writer":"worker"},{"name":"javad","writer":"worker"}]'
	run get /
	assert_success
	assert_output --regexp '<tr><td>javad</td><td>tcp:127\.0\.0\.1:[0-9]+</td><td>[0-9]+</td><td>2</td><td>[0-9]+s</td><td>0</td><td>worker</td></tr>'
}

@test "chat --http: /metrics follows the room as it changes" {
	run get /metrics
	assert_success
	assert_line 'pipevisor_chat_clients 2'
	assert_line 'pipevisor_chat_rooms 3'
	assert_line 'pipevisor_chat_deliveries_total 2'
	assert_line '# TYPE pipevisor_chat_messages_total counter'
	say ali quit
	sees ali '+ bye'
	wait_for 10 sh -c "printf 'GET /metrics HTTP/1.0\r\n\r\n' |
	    socat - TCP:127.0.0.1:$HPORT | grep -qx 'pipevisor_chat_rooms 2'"
	run get /metrics
	assert_line 'pipevisor_chat_named_clients 1'
	run get /nowhere
	assert_line --index 0 $'HTTP/1.1 404 Not Found\r'
}
