// Replication through the real CLI: a store with ext4 on its origin sends a snapshot
// whole, then a delta, over a pipe to a second store; the received snapshots are the
// same bytes and a sound ext4. A cut stream is refused and keeps what came, hidden,
// until it is dropped; a mounted store is refused.
import { readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { canMount, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('send | receive between two stores', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  const pipeline = (line: string) => w.pipeline(line);

  test('a full send, then a delta, arrive whole; a cut stream and a mounted receiver are refused', () => {
    const [a, b] = w.twoStores(32 * MiB, 128 * MiB);

    // the sender: ext4 on the origin, files, a snapshot; more files, another
    w.ok('mount', a.origin, a.cow, a.mnt);
    w.track(a.mnt);
    const { dev, fs } = w.ext4(join(a.mnt, 'origin.img'));
    writeFileSync(join(fs, 'one'), Buffer.alloc(3 * MiB, 1));
    w.umount(fs);
    w.ok('create', a.mnt, 's1');
    w.mount(dev, fs);
    writeFileSync(join(fs, 'two'), Buffer.alloc(2 * MiB, 2));
    w.umount(fs);
    w.detach(dev);
    w.ok('create', a.mnt, 's2');
    const md5 = { s1: w.md5(join(a.mnt, 'snapshots/s1.img')), s2: w.md5(join(a.mnt, 'snapshots/s2.img')) };
    // what differs between s1 and s2, through the mount: its diff/ directory
    const mounted = JSON.parse(w.ok('diff', a.mnt, 's1', 's2', '--json'));
    expect(readFileSync(join(a.mnt, 'diff', 's1..s2'), 'utf8')).toBe(w.ok('diff', a.mnt, 's1', 's2'));
    expect(() => writeFileSync(join(a.mnt, 'diff', 's1..s2'), 'x')).toThrow(/EACCES/);
    expect(w.snapfuse('diff', a.mnt, 's1', 'nope').stderr).toMatch(/no snapshot nope/);
    w.umount(a.mnt); // the offline tools wait a few seconds for the daemon to let go

    // and offline, from the metadata: the same
    const diff = JSON.parse(w.ok('diff', a.origin, a.cow, 's1', 's2', '--json'));
    expect(diff).toEqual(mounted);
    expect(diff.ranges.length).toBeGreaterThan(0);
    expect(diff.bytes).toBeGreaterThanOrEqual(2 * MiB);
    expect(diff.bytes).toBeLessThan(16 * MiB);

    // whole, then the delta
    const full = pipeline(`snapfuse send ${a.origin} ${a.cow} s1 | snapfuse receive ${b.origin} ${b.cow}`);
    expect(full.stderr).toMatch(/received s1 \(a whole image\)/);
    expect(full.status).toBe(0);
    const delta = w.path('delta.stream');
    const sent = pipeline(`snapfuse send ${a.origin} ${a.cow} s2 --from s1 > ${delta}`);
    expect(sent.status).toBe(0);
    expect(statSync(delta).size).toBeLessThan(diff.bytes + MiB);

    // the delta cut short: refused, what arrived kept hidden; dropped, the whole one goes in
    const cut = w.path('cut.stream');
    writeFileSync(cut, readFileSync(delta).subarray(0, Math.floor(statSync(delta).size / 2)));
    const refused = pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${cut}`);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^snapfuse: stream cut after \d+ bytes; resume token [A-Za-z0-9_-]+$/m);
    expect(w.snapfuse('receive', b.origin, b.cow, '--abort', 's2').status).toBe(0);

    // whole, it goes in
    const ok = pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${delta}`);
    expect(ok.stderr).toMatch(/received s2 \(the delta from s1\)/);
    expect(ok.status).toBe(0);

    // the receiver holds the same bytes, and a sound ext4 with both files
    w.ok('mount', b.origin, b.cow, b.mnt);
    w.track(b.mnt);
    expect(w.ok('list', b.mnt)).toMatch(/s1[\s\S]*s2/);
    expect(w.md5(join(b.mnt, 'snapshots/s1.img'))).toBe(md5.s1);
    expect(w.md5(join(b.mnt, 'snapshots/s2.img'))).toBe(md5.s2);
    const copy = w.losetup(join(b.mnt, 'snapshots/s2.img'));
    w.sh('e2fsck', ['-fn', copy]);
    w.mount(copy, fs);
    expect(readFileSync(join(fs, 'two')).equals(Buffer.alloc(2 * MiB, 2))).toBe(true);
    w.umount(fs);
    w.detach(copy);

    // a mounted store is not received into
    const busy = pipeline(`snapfuse receive ${b.origin} ${b.cow} s3 < ${delta}`);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/in use/);
    w.umount(b.mnt);
  });
});
