#!/bin/bash
# Replication between two network namespaces on this machine: a sender and a receiver,
# joined by a veth pair, the stream carried by netcat. Sends a snapshot whole, then the
# delta to a second one, and prints for each the stream's bytes against the delta's size
# (from `snapfuse diff`) and the throughput; then checks the received snapshots are the
# sender's bytes.
#
#   scripts/replicate-netns.sh [--size-mib 256] [--change-mib 32] [--dir /var/tmp]
#
# Run as root after `npx tsc -p tsconfig.json` (it runs dist/src/cli/main.js); needs
# `ip` and `nc` (apt-get install netcat-openbsd). Everything it makes is removed at exit.
set -euo pipefail

SIZE_MIB=256
CHANGE_MIB=32
BASE=/var/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --change-mib) CHANGE_MIB=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mib N] [--change-mib N] [--dir DIR]" >&2; exit 2 ;;
  esac
done
command -v nc >/dev/null || { echo "$0: needs nc (apt-get install netcat-openbsd)" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI="$ROOT/dist/src/cli/main.js"
[ -f "$CLI" ] || { echo "$0: no $CLI: run npx tsc -p tsconfig.json first" >&2; exit 1; }
snapfuse() { node "$CLI" "$@"; }

DIR=$(mktemp -d "$BASE/snapfuse-netns-XXXXXX")
export SNAPFUSE_LOCK_DIR="$DIR/locks"
NS_SEND="snapfuse-send-$$"
NS_RECV="snapfuse-recv-$$"
ADDR_RECV=10.199.$(($$ % 250)).2
PORT=7607

cleanup() {
  for m in "$DIR/a" "$DIR/b"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  ip netns del "$NS_SEND" 2>/dev/null || true
  ip netns del "$NS_RECV" 2>/dev/null || true
  sleep 1 # the daemons commit and exit after an unmount
  rm -rf "$DIR"
}
trap cleanup EXIT

# the network: two namespaces, a veth pair between them
ip netns add "$NS_SEND"
ip netns add "$NS_RECV"
ip link add veth-s$$ netns "$NS_SEND" type veth peer name veth-r$$ netns "$NS_RECV"
ip -n "$NS_SEND" addr add "${ADDR_RECV%.2}.1/24" dev veth-s$$
ip -n "$NS_RECV" addr add "$ADDR_RECV/24" dev veth-r$$
for ns in "$NS_SEND" "$NS_RECV"; do
  ip -n "$ns" link set lo up
done
ip -n "$NS_SEND" link set veth-s$$ up
ip -n "$NS_RECV" link set veth-r$$ up

# two stores: the sender's origin full of data, the receiver's empty
mkdir -p "$DIR/a" "$DIR/b" "$SNAPFUSE_LOCK_DIR"
for s in a b; do
  truncate -s "${SIZE_MIB}M" "$DIR/$s.img"
  truncate -s "$((SIZE_MIB * 3))M" "$DIR/$s.cow"
  snapfuse format "$DIR/$s.img" "$DIR/$s.cow"
done
dd if=/dev/urandom of="$DIR/a.img" bs=1M count="$SIZE_MIB" conv=notrunc,fsync status=none

snapfuse mount "$DIR/a.img" "$DIR/a.cow" "$DIR/a"
snapfuse create "$DIR/a" s1 >/dev/null
# the change: CHANGE_MIB in 1 MiB pieces at random places
for i in $(seq 1 "$CHANGE_MIB"); do
  dd if=/dev/urandom of="$DIR/a/origin.img" bs=1M count=1 seek=$((RANDOM % SIZE_MIB)) conv=notrunc status=none
done
sync "$DIR/a/origin.img"
snapfuse create "$DIR/a" s2 >/dev/null
MD5_S1=$(md5sum <"$DIR/a/snapshots/s1.img" | cut -d' ' -f1)
MD5_S2=$(md5sum <"$DIR/a/snapshots/s2.img" | cut -d' ' -f1)
umount "$DIR/a"

mib() { awk "BEGIN { printf \"%.1f\", $1 / 1048576 }"; }

# one transfer: the receiver listens in its namespace, the sender connects from its own
transfer() { # label, delta bytes, send args...
  local label=$1 delta=$2
  shift 2
  ip netns exec "$NS_RECV" bash -o pipefail -c \
    "nc -l -N $ADDR_RECV $PORT | node $CLI receive $DIR/b.img $DIR/b.cow" 2>"$DIR/receive.log" &
  local receiver=$!
  sleep 0.5
  local start end
  start=$(date +%s.%N)
  ip netns exec "$NS_SEND" bash -o pipefail -c \
    "node $CLI send $DIR/a.img $DIR/a.cow $* | tee >(wc -c >$DIR/bytes) | nc -N $ADDR_RECV $PORT"
  wait "$receiver"
  end=$(date +%s.%N)
  sleep 0.2 # the byte count's subshell
  local bytes secs
  bytes=$(cat "$DIR/bytes")
  secs=$(awk "BEGIN { print $end - $start }")
  printf '%-22s delta %8s MiB  stream %8s MiB (%5.2f of the delta)  %6.2f s  %7.1f MiB/s\n' \
    "$label" "$(mib "$delta")" "$(mib "$bytes")" "$(awk "BEGIN { print $bytes / $delta }")" "$secs" \
    "$(awk "BEGIN { print $bytes / 1048576 / $secs }")"
  sed 's/^/  receiver: /' "$DIR/receive.log"
}

DELTA=$(snapfuse diff "$DIR/a.img" "$DIR/a.cow" s1 s2 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).bytes))')
echo "replication over a veth pair between two network namespaces, netcat, origin ${SIZE_MIB} MiB, ${CHANGE_MIB} x 1 MiB rewritten"
transfer "s1 (whole)" $((SIZE_MIB * 1048576)) s1
transfer "s2 (delta from s1)" "$DELTA" s2 --from s1

# the receiver holds the sender's bytes
snapfuse mount "$DIR/b.img" "$DIR/b.cow" "$DIR/b"
[ "$(md5sum <"$DIR/b/snapshots/s1.img" | cut -d' ' -f1)" = "$MD5_S1" ] || { echo "s1 differs" >&2; exit 1; }
[ "$(md5sum <"$DIR/b/snapshots/s2.img" | cut -d' ' -f1)" = "$MD5_S2" ] || { echo "s2 differs" >&2; exit 1; }
umount "$DIR/b"
echo "received snapshots match the sender's (md5)"
