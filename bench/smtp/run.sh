#!/usr/bin/env bash
# SMTP throughput benchmark (issue 2): the same load through rampart
# (pass-through pipeline) and through Postfix alone, both relaying to one
# smtp-sink, in one run; prints messages/s (accepted and delivered),
# p50/p99 latency, CPU per message and the rampart/postfix ratios.
#
#   bash bench/smtp/run.sh [BUILD_DIR] [-n MESSAGES] [-c "8 32"] [-s SIZE]
#                          [-r ROUNDS] [-t PHASE_TIMEOUT] [--cooldown SECONDS]
#                          [--out FILE] [--keep]
#
# Everything runs on 127.0.0.1 under one temporary directory that is
# removed on exit. Postfix runs as a private instance (its own
# config_directory, queue_directory and data_directory there); the system's
# /etc/postfix is only read (master.cf.proto as the template), never changed.
# Every phase (system x concurrency x round) starts a fresh server with an
# empty queue/spool; phases alternate which system goes first.
# Both servers make a message durable before answering 250: rampart
# fsyncs the spool file and its directory, Postfix's cleanup fsyncs the
# queue file (default durable behaviour, left as is).
# On ext4 without a journal, creating a file skips (and scans past) every
# inode freed in the last 60 s, so a phase that follows another one pays
# for the other's deleted queue files; there, phases are separated by a
# cool-down (default 65 s, --cooldown 0 turns it off).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=build messages=5000 concs="8 32" size=4096 rounds=1 phase_timeout=600
out="" keep=0 cooldown=auto
while [ $# -gt 0 ]; do
	case "$1" in
	-n | --messages) messages=$2; shift 2 ;;
	-c | --concurrency) concs=$2; shift 2 ;;
	-s | --size) size=$2; shift 2 ;;
	-r | --rounds) rounds=$2; shift 2 ;;
	-t | --timeout) phase_timeout=$2; shift 2 ;;
	-o | --out) out=$2; shift 2 ;;
	--cooldown) cooldown=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1; shift ;;
	esac
done
case "$build" in /*) ;; *) build="$top/$build" ;; esac
case "$out" in "" | /*) ;; *) out="$PWD/$out" ;; esac
for f in "$build/rampartd" "$build/rampart" /usr/sbin/postfix /usr/sbin/smtp-sink; do
	[ -x "$f" ] || { echo "run.sh: missing $f (make build; scripts/deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: a private Postfix instance needs root" >&2; exit 1; }
[ -f /etc/postfix/master.cf.proto ] || { echo "run.sh: no /etc/postfix/master.cf.proto" >&2; exit 1; }

tmp=$(mktemp -d /tmp/rampart-bench.XXXXXX)
chmod 755 "$tmp" # Postfix daemons run as user postfix below it
sink_pid="" rampart_pid="" postfix_dir="" postfix_version="?" loadgen_pid=""

cleanup() {
	set +e
	[ -n "$loadgen_pid" ] && kill "$loadgen_pid" 2>/dev/null && wait "$loadgen_pid" 2>/dev/null
	[ -n "$rampart_pid" ] && stop_rampart
	[ -n "$postfix_dir" ] && stop_postfix
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	if [ "$keep" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until SECONDS CMD...: polls CMD every 50 ms.
wait_until() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.05
	done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }

# ---- the sink: one smtp-sink for every phase, counting messages ----
sink_port=$(free_port)
# (as root smtp-sink must be told which user to become)
/usr/sbin/smtp-sink -c -u nobody "127.0.0.1:$sink_port" 1024 >"$tmp/sink.count" 2>"$tmp/sink.err" &
sink_pid=$!
wait_until 10 port_open "$sink_port" || { echo "run.sh: smtp-sink did not start" >&2; exit 1; }

gcc -O2 -std=c11 -Wall -Wextra -Werror -o "$tmp/loadgen" "$here/loadgen.c"

# ---- rampart ----
start_rampart() { # DIR PORT
	local d=$1 port=$2
	mkdir -p "$d"
	cat >"$d/rampart.conf" <<CONF
data_dir = $d/data
smtp_listen = 127.0.0.1:$port
http_listen = 127.0.0.1:$(free_port)
hostname = bench-rampart.test
log_level = info
# loopback only: no DNS query may leave the machine
dns_servers = 127.0.0.1:$(free_port)
CONF
	"$build/rampart" -c "$d/rampart.conf" domain add example.test \
		--destination "smtp:127.0.0.1:$sink_port" >/dev/null
	"$build/rampartd" -c "$d/rampart.conf" >"$d/rampartd.log" 2>&1 &
	rampart_pid=$!
	wait_until 30 port_open "$port" && wait_until 10 test -S "$d/data/rampart.sock" || {
		echo "run.sh: rampartd did not start:" >&2; tail -20 "$d/rampartd.log" >&2; exit 1; }
	server_pid=$rampart_pid
}

stop_rampart() {
	kill -TERM "$rampart_pid" 2>/dev/null
	wait_until 40 dead "$rampart_pid" || kill -KILL "$rampart_pid" 2>/dev/null
	wait "$rampart_pid" 2>/dev/null || true
	rampart_pid=""
}

# ---- Postfix: a private instance under DIR ----
start_postfix() { # DIR PORT
	local d=$1 port=$2
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/log"
	chown postfix "$d/data"
	cat >"$d/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.test
relayhost = [127.0.0.1]:$sink_port
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = none
smtp_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
biff = no
multi_instance_enable = no
maillog_file = $d/log/maillog
maillog_file_prefixes = $d/log
CONF
	# Debian's master.cf with chroot off everywhere and smtpd on our port.
	awk -v port="$port" 'BEGIN { OFS = "  " }
		/^[ \t#]/ || NF < 8 { print; next }
		{ if ($1 == "smtp" && $2 == "inet") $1 = "127.0.0.1:" port; $5 = "n"; print }' \
		/etc/postfix/master.cf.proto >"$d/etc/master.cf"
	postfix_dir=$d
	# postfix reports errors on a terminal only; its log file has them
	/usr/sbin/postfix -c "$d/etc" start >/dev/null 2>&1 || {
		echo "run.sh: postfix did not start:" >&2; tail -20 "$d/log/maillog" >&2; exit 1; }
	wait_until 30 test -s "$d/queue/pid/master.pid" && wait_until 30 port_open "$port" || {
		echo "run.sh: postfix did not listen" >&2; tail -20 "$d/log/maillog" >&2; exit 1; }
	server_pid=$(tr -d ' \n' <"$d/queue/pid/master.pid")
	postfix_version=$(/usr/sbin/postconf -c "$d/etc" -h mail_version 2>/dev/null || echo "?")
}

stop_postfix() {
	local d=$postfix_dir master pids
	master=$(tr -d ' \n' <"$d/queue/pid/master.pid" 2>/dev/null || true)
	pids="$master $(pgrep -P "${master:-0}" 2>/dev/null | tr '\n' ' ')"
	/usr/sbin/postfix -c "$d/etc" stop >/dev/null 2>&1 || true
	# the master's children exit on their own once it tells them to
	if ! wait_until 30 all_dead $pids; then
		/usr/sbin/postfix -c "$d/etc" abort >/dev/null 2>&1 || true
		kill -KILL $pids 2>/dev/null || true
	fi
	postfix_dir=""
}

all_dead() {
	local p
	for p in "$@"; do
		alive "$p" && return 1
	done
	return 0
}

# ---- one phase ----
results="$tmp/results.jsonl"
: >"$results"

run_phase() { # SYSTEM CONCURRENCY ROUND
	local sys=$1 c=$2 round=$3 d="$tmp/$1-c$2-r$3" port
	sync # the previous phase's dirty pages must not be written back during this one
	if [ "$cooldown" -gt 0 ] && [ "$phases" -gt 0 ]; then
		sleep "$cooldown" &
		wait $!
	fi
	phases=$((phases + 1))
	port=$(free_port)
	"start_$sys" "$d" "$port"
	echo "  $sys: $messages messages, $c sessions (round $round)" >&2
	# in the background so that a signal to this script is handled at once
	timeout $((phase_timeout + 30)) "$tmp/loadgen" -p "$port" -n "$messages" -c "$c" \
		-s "$size" -k "$tmp/sink.count" -P "$server_pid" -t "$phase_timeout" \
		-l "$sys" >"$d.json" &
	loadgen_pid=$!
	if ! wait "$loadgen_pid"; then
		loadgen_pid=""
		echo "run.sh: $sys phase failed; server log tail:" >&2
		tail -20 "$d/rampartd.log" "$d/log/maillog" 2>/dev/null >&2
		exit 1
	fi
	loadgen_pid=""
	cat "$d.json" >>"$results"
	"stop_$sys"
	[ "$keep" = 1 ] || rm -rf "$d"
}

# ext4 keeps no journal on this file system: see the note at the top
ext4_nojournal() {
	local src fstype
	read -r src fstype < <(findmnt -no SOURCE,FSTYPE -T "$tmp" 2>/dev/null) || return 1
	[ "$fstype" = ext4 ] && ! compgen -G "/proc/fs/jbd2/$(basename "$src")-*" >/dev/null
}
if [ "$cooldown" = auto ]; then
	cooldown=0
	if ext4_nojournal; then
		cooldown=65
		echo "note: $tmp is on ext4 without a journal: ${cooldown}s cool-down between phases" >&2
	fi
fi
phases=0

nproc=$(nproc)
echo "rampart SMTP benchmark: $messages messages of ~$size bytes, sessions: $concs," \
	"rounds: $rounds, $nproc CPUs" >&2
i=0
for round in $(seq 1 "$rounds"); do
	for c in $concs; do
		if [ $((i % 2)) = 0 ]; then order="rampart postfix"; else order="postfix rampart"; fi
		i=$((i + 1))
		for sys in $order; do
			run_phase "$sys" "$c" "$round"
		done
	done
done

/usr/bin/python3 "$here/report.py" "$results" "$out" \
	"$postfix_version" "$nproc" "$messages" "$size"
