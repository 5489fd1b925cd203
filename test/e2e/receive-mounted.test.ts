// Replication between two live mounts: ext4 on the source's origin, written all through;
// snapshots sent whole and as deltas, through pipes, into a mounted target, where they
// appear only once whole. A transfer cut on purpose keeps what came (the status, `ls
// receive/` and `list` show it with its token) and is resumed; one is aborted. The
// target's snapshots are the source's bytes and a sound ext4.
import { spawn, spawnSync } from 'child_process';
import { readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { canMount, until, World } from '../helpers/e2e';
import { Random } from '../helpers/random';
import { parseStatus } from '../../src/control/status';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('receive into a mount', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('a live pipe between two mounts, a cut resumed, an abort', async () => {
    const [a, b] = w.twoStores(48 * MiB, 192 * MiB);
    for (const s of [a, b]) {
      w.ok('mount', s.origin, s.cow, s.mnt);
      w.track(s.mnt);
    }
    const status = (mnt: string) => parseStatus(readFileSync(join(mnt, 'control'), 'utf8'));

    // the source: ext4 on its origin, kept mounted and written all through
    const { dev, fs } = w.ext4(join(a.mnt, 'origin.img'));
    writeFileSync(join(fs, 'one'), Buffer.alloc(4 * MiB, 1));
    w.sh('sync', ['-f', join(fs, 'one')]);
    w.sh('fsfreeze', ['-f', fs]); // a consistent ext4 in the snapshot
    w.ok('create', a.mnt, 's1');
    w.sh('fsfreeze', ['-u', fs]);
    const writer = spawn(
      'bash',
      ['-c', `while true; do dd if=/dev/urandom of=${fs}/churn bs=64K count=32 conv=fsync status=none || exit 1; done`],
      { detached: true, stdio: 'ignore' },
    );
    const stopped = new Promise((r) => writer.on('exit', r));
    try {
      const whole = w.pipeline(`snapfuse send ${a.mnt} s1 | snapfuse receive ${b.mnt}`);
      expect(whole.stderr).toMatch(/received s1 \(a whole image\)/);
      expect(whole.status).toBe(0);
      expect(status(b.mnt).snapshots.map((s) => s.id)).toEqual(['s1']);

      writeFileSync(join(fs, 'two'), Buffer.alloc(3 * MiB, 2));
      w.sh('sync', ['-f', join(fs, 'two')]);
      w.sh('fsfreeze', ['-f', fs]);
      w.ok('create', a.mnt, 's2');
      w.sh('fsfreeze', ['-u', fs]);

      // cut on purpose: what came is kept, hidden, and shown with its token
      const cut = w.pipeline(`snapfuse send ${a.mnt} s2 --from s1 | head -c 1500000 | snapfuse receive ${b.mnt}`);
      expect(cut.status).toBe(1);
      const m = /^snapfuse: stream cut after 1500000 bytes; resume token ([A-Za-z0-9_-]+)$/m.exec(cut.stderr);
      expect(m).not.toBeNull();
      const kept = status(b.mnt);
      expect(kept.snapshots.map((s) => s.id)).toEqual(['s1']); // not visible
      expect(kept.receives).toEqual([{ name: 's2', bytes: expect.any(Number), token: m![1] }]);
      expect(kept.receives![0].bytes).toBeGreaterThan(0);
      expect(readdirSync(join(b.mnt, 'receive'))).toEqual(['s2']);
      expect(w.ok('list', b.mnt)).toMatch(/^s2 +partial: \d+ bytes received, resume token \S+$/m);
      // a fresh send is refused while it is kept
      const fresh = w.pipeline(`snapfuse send ${a.mnt} s2 --from s1 | snapfuse receive ${b.mnt}`);
      expect(fresh.status).toBe(1);
      expect(fresh.stderr).toMatch(/a receive of s2 was cut and is kept as s2: resume it/);

      const resumed = w.pipeline(`snapfuse send ${a.mnt} s2 --from s1 --resume ${m![1]} | snapfuse receive ${b.mnt}`);
      expect(resumed.stderr).toMatch(/received s2 \(the delta from s1\)/);
      expect(resumed.status).toBe(0);
      expect(status(b.mnt).receives).toEqual([]);

      // cut again and dropped instead
      w.ok('create', a.mnt, 's3');
      const third = w.pipeline(`snapfuse send ${a.mnt} s3 --from s2 | head -c 300000 | snapfuse receive ${b.mnt}`);
      expect(third.stderr).toMatch(/resume token/);
      expect(w.snapfuse('receive', b.mnt, '--abort', 's3').status).toBe(0);
      expect(status(b.mnt).receives).toEqual([]);
      expect(w.snapfuse('receive', b.mnt, '--abort', 's3').stderr).toMatch(/no cut receive of s3 is kept/);
    } finally {
      process.kill(-writer.pid!, 'SIGKILL'); // the loop and the dd in it
      await stopped;
    }
    // a dd of the killed loop may hold the file system a moment longer
    await until(() => spawnSync('umount', [fs]).status === 0, 10_000);
    w.forget(fs);
    w.detach(dev);

    // the target holds the source's bytes, and a sound ext4 with both files
    for (const id of ['s1', 's2']) {
      expect(w.md5(join(b.mnt, `snapshots/${id}.img`))).toBe(w.md5(join(a.mnt, `snapshots/${id}.img`)));
    }
    const copy = w.losetup(join(b.mnt, 'snapshots/s2.img'));
    w.sh('e2fsck', ['-fn', copy]);
    w.mount(copy, fs, 'ro,noload'); // read-only: s2 stays, unchanged, the base of the next delta
    expect(readFileSync(join(fs, 'two')).equals(Buffer.alloc(3 * MiB, 2))).toBe(true);
    w.umount(fs);
    w.detach(copy);

    // --become-origin through a mount: refused while the origin is open, as rollback is
    const held = w.losetup(join(b.mnt, 'origin.img'));
    const busy = w.pipeline(`snapfuse send ${a.mnt} s3 --from s2 | snapfuse receive ${b.mnt} --become-origin`);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/the origin is open/);
    w.detach(held);
    const become = w.pipeline(`snapfuse send ${a.mnt} s3 --from s2 | snapfuse receive ${b.mnt} --become-origin`);
    expect(become.status).toBe(0);
    await until(() => status(b.mnt).rollback === null, 60_000); // the copying, in the background
    expect(w.md5(join(b.mnt, 'origin.img'))).toBe(w.md5(join(a.mnt, 'snapshots/s3.img')));
    w.umount(b.mnt);
    w.umount(a.mnt);
  });
  // both forms of a broken transfer, through the mount: a stream cut anywhere, and one with
  // a flipped byte; each is resumed (or, refused before anything was kept, sent again) and
  // must give the source's snapshot. A failing seed is printed; replay with SEED=<n>.
  const SEEDS = process.env.SEED ? [Number(process.env.SEED)] : [1, 2, 3];
  test.each(SEEDS)('seed %i: cut or damaged anywhere, resumed through the mount', (seed) => {
    const rnd = new Random(seed);
    const [a, b] = w.twoStores(rnd.bytes(8 * MiB), 64 * MiB, `seed${seed}-`);
    for (const s of [a, b]) {
      w.ok('mount', s.origin, s.cow, s.mnt);
      w.track(s.mnt);
    }
    w.ok('create', a.mnt, 's1');
    expect(w.pipeline(`snapfuse send ${a.mnt} s1 | snapfuse receive ${b.mnt}`).status).toBe(0);
    for (let i = 0; i < 20; i++) {
      writeFileSync(join(a.mnt, 'origin.img'), rnd.bytes(64 * 1024), { flag: 'r+' });
    }
    w.sh('dd', [
      'if=/dev/urandom',
      `of=${join(a.mnt, 'origin.img')}`,
      'bs=16K',
      'count=64',
      `seek=${rnd.int(400)}`,
      'conv=notrunc',
      'status=none',
    ]);
    w.ok('create', a.mnt, 's2');
    const stream = w.path(`s2-${seed}.stream`);
    expect(w.pipeline(`snapfuse send ${a.mnt} s2 --from s1 > ${stream}`).status).toBe(0);
    const whole = readFileSync(stream);
    const want = w.md5(join(a.mnt, 'snapshots/s2.img'));
    const cut = rnd.int(whole.length);
    const flipped = Buffer.from(whole);
    flipped[rnd.int(whole.length)] ^= 1 << rnd.int(8);
    for (const [what, bad] of [
      [`seed ${seed}: cut at byte ${cut}`, whole.subarray(0, cut)],
      [`seed ${seed}: a flipped byte`, flipped],
    ] as const) {
      const file = w.path(`bad-${seed}.stream`);
      writeFileSync(file, bad);
      const got = w.pipeline(`snapfuse receive ${b.mnt} < ${file}`);
      expect({ what, status: got.status }).toEqual({ what, status: 1 });
      expect(parseStatus(readFileSync(join(b.mnt, 'control'), 'utf8')).snapshots.map((x) => x.id)).toEqual(['s1']);
      const token = /resume token ([A-Za-z0-9_-]+)$/m.exec(got.stderr)?.[1];
      const rest = token ? `--resume ${token}` : ''; // refused before anything was kept: sent again whole
      const again = w.pipeline(`snapfuse send ${a.mnt} s2 --from s1 ${rest} | snapfuse receive ${b.mnt}`);
      expect({ what, stderr: again.stderr, status: again.status }).toMatchObject({ what, status: 0 });
      expect({ what, md5: w.md5(join(b.mnt, 'snapshots/s2.img')) }).toEqual({ what, md5: want });
      w.ok('delete', b.mnt, 's2'); // for the next round
    }
    w.umount(b.mnt);
    w.umount(a.mnt);
  });
});
