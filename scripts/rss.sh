#!/usr/bin/env bash
# rss.sh BINARY [SECONDS [DEVICES]]: run a tinymapper binary standalone on the
# simulated board with DEVICES (default deploy/examples/i2c.yaml) for SECONDS
# (default 10), then print its peak and current resident memory (VmHWM, VmRSS
# from /proc/PID/status). `make size` runs it on the amd64 release binary; the
# DaemonSet's memory request and limit in deploy/kubernetes are sized from it.
set -euo pipefail
bin=$1
secs=${2:-10}
devices=${3:-deploy/examples/i2c.yaml}
tokdir=$(mktemp -d)
"$bin" --board sim --devices "$devices" --http 127.0.0.1:0 --token-file "$tokdir/token" --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tokdir"' EXIT
sleep "$secs"
if ! kill -0 "$pid" 2>/dev/null; then
	echo "rss.sh: $bin exited early" >&2
	exit 1
fi
hwm=$(awk '/^VmHWM:/ {print $2}' /proc/$pid/status)
rss=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
threads=$(awk '/^Threads:/ {print $2}' /proc/$pid/status)
kill -TERM "$pid"
wait "$pid"
trap - EXIT
awk -v b="$bin" -v d="$devices" -v s="$secs" -v h="$hwm" -v r="$rss" -v t="$threads" 'BEGIN {
	printf "%s standalone with %s for %s s: VmHWM %d KiB (%.1f MiB), VmRSS %d KiB, %d threads\n", b, d, s, h, h / 1024, r, t
}'
