#!/usr/bin/env bash
# The quick start's demo: a 256 MiB origin with ext4 and a file on it, a COW store,
# a mount at /tmp/snapfuse-demo/mnt and one snapshot, left mounted for you to look at.
# Take it down with: umount /tmp/snapfuse-demo/mnt
set -euo pipefail
demo=${1:-/tmp/snapfuse-demo}
if mountpoint -q "$demo/mnt" 2>/dev/null; then umount "$demo/mnt"; sleep 1; fi
rm -rf "$demo"
mkdir -p "$demo/mnt"
truncate -s 256M "$demo/disk.img"
mkfs.ext4 -q -F "$demo/disk.img"
truncate -s 1G "$demo/disk.cow"

snapfuse format "$demo/disk.img" "$demo/disk.cow"
snapfuse mount "$demo/disk.img" "$demo/disk.cow" "$demo/mnt"
echo "create before-demo" > "$demo/mnt/control"

# change the origin through a loop device: the snapshot keeps the old content
loop=$(losetup -f --show "$demo/mnt/origin.img")
mkdir -p "$demo/fs"
mount "$loop" "$demo/fs"
echo "written after the snapshot" > "$demo/fs/after.txt"
umount "$demo/fs"
losetup -d "$loop"

echo "== ls -l $demo/mnt $demo/mnt/snapshots"
ls -l "$demo/mnt" "$demo/mnt/snapshots"
echo "== snapfuse list $demo/mnt"
snapfuse list "$demo/mnt"
echo "== cat $demo/mnt/control"
cat "$demo/mnt/control"
echo "== md5sum (the snapshot differs from the origin)"
md5sum "$demo/mnt/origin.img" "$demo/mnt/snapshots/before-demo.img"
echo
echo "Mounted at $demo/mnt. Try: echo 'rollback before-demo' > $demo/mnt/control"
echo "Unmount with: umount $demo/mnt"
