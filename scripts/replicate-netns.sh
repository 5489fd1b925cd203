#!/bin/bash
# Continuous replication between two live mounts, across two network namespaces on this
# machine joined by a veth pair, the streams carried by netcat: Zumastor's use. The
# source's origin is under a write load (fio with --verify) all along; a schedule takes a
# snapshot every few seconds; each new one is sent as the delta from the last one the
# target holds, from the mounted source into the mounted target. One transfer is cut on
# purpose and resumed with its token. At the end a last snapshot is sent, the target's
# copy is checked against the source's (md5), both stores are checked offline, and fio's
# verify must have passed.
#
#   scripts/replicate-netns.sh [--seconds 30] [--size-mib 256] [--every 3s] [--rate 8m] [--dir /var/tmp]
#
# Run as root after `npx tsc -p tsconfig.json` (it runs dist/src/cli/main.js); needs `ip`,
# `nc` (apt-get install netcat-openbsd) and fio. Everything it makes is removed at exit.
set -euo pipefail

SECONDS_LOAD=30
SIZE_MIB=256
EVERY=3s
RATE=8m # fio's write rate: the store must hold the copy-outs of the snapshots kept
BASE=/var/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_LOAD=$2; shift 2 ;;
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--size-mib N] [--every 3s] [--rate 8m] [--dir DIR]" >&2; exit 2 ;;
  esac
done
for tool in nc fio ip; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done

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
FIO_PID=

cleanup() {
  [ -n "$FIO_PID" ] && kill "$FIO_PID" 2>/dev/null && wait "$FIO_PID" 2>/dev/null
  for m in "$DIR/a" "$DIR/b"; do mountpoint -q "$m" 2>/dev/null && snapfuse unmount "$m"; done
  ip netns del "$NS_SEND" 2>/dev/null || true
  ip netns del "$NS_RECV" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

# the network: two namespaces, a veth pair between them
ip netns add "$NS_SEND"
ip netns add "$NS_RECV"
ip link add veth-s$$ netns "$NS_SEND" type veth peer name veth-r$$ netns "$NS_RECV"
ip -n "$NS_SEND" addr add "${ADDR_RECV%.2}.1/24" dev veth-s$$
ip -n "$NS_RECV" addr add "$ADDR_RECV/24" dev veth-r$$
for ns in "$NS_SEND" "$NS_RECV"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SEND" link set veth-s$$ up
ip -n "$NS_RECV" link set veth-r$$ up

# two stores, both mounted: the source's origin full of data, the target's empty
mkdir -p "$DIR/a" "$DIR/b" "$SNAPFUSE_LOCK_DIR"
for s in a b; do
  truncate -s "${SIZE_MIB}M" "$DIR/$s.img"
  truncate -s "$((SIZE_MIB * 4))M" "$DIR/$s.cow"
  snapfuse format "$DIR/$s.img" "$DIR/$s.cow"
done
dd if=/dev/urandom of="$DIR/a.img" bs=1M count="$SIZE_MIB" conv=notrunc,fsync status=none
snapfuse mount "$DIR/a.img" "$DIR/a.cow" "$DIR/a"
snapfuse mount "$DIR/b.img" "$DIR/b.cow" "$DIR/b"

mib() { awk "BEGIN { printf \"%.1f\", $1 / 1048576 }"; }
newest() { # the newest snapshot of a mount, or nothing
  snapfuse list "$1" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s).filter(x=>!x.partial);console.log(l.length?l[l.length-1].id:"")})'
}

# one transfer: the target listens in its namespace, the source connects from its own;
# `cut` passes only that many bytes (a transfer cut on purpose)
transfer() { # label, cut bytes (0: none), send args...
  local label=$1 cut=$2
  shift 2
  local pass="cat"
  [ "$cut" -gt 0 ] && pass="head -c $cut"
  ip netns exec "$NS_RECV" bash -o pipefail -c \
    "nc -l -N $ADDR_RECV $PORT | node $CLI receive $DIR/b" 2>"$DIR/receive.log" &
  local receiver=$!
  sleep 0.3
  local start end status=0
  start=$(date +%s.%N)
  ip netns exec "$NS_SEND" bash -o pipefail -c \
    "node $CLI send $DIR/a $* 2>/dev/null | $pass | tee >(wc -c >$DIR/bytes) | nc -N $ADDR_RECV $PORT" || true
  wait "$receiver" || status=$?
  end=$(date +%s.%N)
  sleep 0.1 # the byte count's subshell
  local bytes secs
  bytes=$(cat "$DIR/bytes")
  secs=$(awk "BEGIN { print $end - $start }")
  printf '%-44s stream %8s MiB  %6.2f s  %7.1f MiB/s  %s\n' "$label" "$(mib "$bytes")" "$secs" \
    "$(awk "BEGIN { print $bytes / 1048576 / $secs }")" "$([ $status = 0 ] && echo received || echo cut)"
  return $status
}

echo "continuous replication, mount to mount, over a veth pair between two network namespaces"
echo "origin ${SIZE_MIB} MiB under fio randwrite (${RATE}/s) with --verify for ${SECONDS_LOAD} s, a snapshot every ${EVERY}"

# the first snapshot goes whole, before the load
snapfuse create "$DIR/a" base >/dev/null
transfer "base (whole)" 0 base
LAST=base

fio --name=load --filename="$DIR/a/origin.img" --rw=randwrite --bs=64k --ioengine=libaio --iodepth=4 \
  --direct=1 --size="${SIZE_MIB}M" --rate="$RATE" --time_based --runtime="$SECONDS_LOAD" --verify=crc32c \
  --verify_backlog=256 --verify_state_save=0 --output="$DIR/fio.log" &
FIO_PID=$!
snapfuse schedule "$DIR/a" rep --every "$EVERY" --keep 6 >/dev/null

CUT_DONE=0
while kill -0 "$FIO_PID" 2>/dev/null; do
  NEXT=$(newest "$DIR/a")
  if [ "$NEXT" = "$LAST" ]; then sleep 0.5; continue; fi
  if [ $CUT_DONE = 0 ] && [ "$LAST" != base ]; then
    # this one cut on purpose part way, then resumed from where it got
    if transfer "$NEXT (delta from $LAST), cut" 200000 "$NEXT" --from "$LAST"; then
      echo "the cut transfer was received whole?" >&2; exit 1
    fi
    TOKEN=$(sed -n 's/^snapfuse: stream cut after [0-9]* bytes; resume token \(.*\)$/\1/p' "$DIR/receive.log")
    [ -n "$TOKEN" ] || { echo "no resume token from the cut receive:" >&2; cat "$DIR/receive.log" >&2; exit 1; }
    transfer "$NEXT (delta from $LAST), resumed" 0 "$NEXT" --from "$LAST" --resume "$TOKEN"
    CUT_DONE=1
  else
    transfer "$NEXT (delta from $LAST)" 0 "$NEXT" --from "$LAST"
  fi
  LAST=$NEXT
done
wait "$FIO_PID" || { echo "fio failed (its verify?):" >&2; cat "$DIR/fio.log" >&2; exit 1; }
FIO_PID=
snapfuse schedule "$DIR/a" rep --off >/dev/null
grep -E "^ *(write:|WRITE:)" "$DIR/fio.log" | sed 's/^ */  fio: /'

# the last one, after the load: the target's copy is the source's bytes
snapfuse create "$DIR/a" final >/dev/null
transfer "final (delta from $LAST)" 0 final --from "$LAST"
[ $CUT_DONE = 1 ] || { echo "no transfer was cut: run longer (--seconds)" >&2; exit 1; }
A=$(md5sum <"$DIR/a/snapshots/final.img" | cut -d' ' -f1)
B=$(md5sum <"$DIR/b/snapshots/final.img" | cut -d' ' -f1)
[ "$A" = "$B" ] || { echo "final differs: source $A, target $B" >&2; exit 1; }
echo "the target's newest snapshot matches the source's (md5 $A); $(snapfuse list "$DIR/b" --json | grep -c '"id"') snapshots there"
snapfuse unmount "$DIR/a"
snapfuse unmount "$DIR/b"
for s in a b; do snapfuse check "$DIR/$s.img" "$DIR/$s.cow" >"$DIR/check.log" 2>&1 && echo "check $s: clean" || { cat "$DIR/check.log" >&2; exit 1; }; done
