// Send from a mount while it serves: a whole snapshot and a delta are streamed through
// the mount while a writer keeps overwriting the origin; received offline into another
// store they are the same bytes as the snapshots at the source. While a send holds a
// snapshot (its send/ file open) the snapshot and its base cannot be deleted, and the
// status names the send.
import { spawn } from 'child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { randomBytes } from 'crypto';
import { canMount, World } from '../helpers/e2e';
import { parseStatus } from '../../src/control/status';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('send from a mount', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  const pipeline = (line: string) => w.pipeline(line);

  test('whole and delta, under a write load; a snapshot being sent is not deleted', async () => {
    const [a, b] = w.twoStores(randomBytes(24 * MiB), 128 * MiB);
    w.ok('mount', a.origin, a.cow, a.mnt);
    w.track(a.mnt);
    const origin = join(a.mnt, 'origin.img');
    w.ok('create', a.mnt, 's1');
    const fd = openSync(origin, 'r+');
    for (let i = 0; i < 40; i++) writeFileSync(fd, randomBytes(64 * 1024), { encoding: null, flag: 'r+' });
    closeSync(fd);
    w.sh('dd', [`if=/dev/urandom`, `of=${origin}`, 'bs=64K', 'count=50', 'seek=100', 'conv=notrunc', 'status=none']);
    w.ok('create', a.mnt, 's2');
    const md5 = { s1: w.md5(join(a.mnt, 'snapshots/s1.img')), s2: w.md5(join(a.mnt, 'snapshots/s2.img')) };

    // a writer overwrites the origin all through the sends: every write a copy-out
    const writer = spawn(
      'bash',
      [
        '-c',
        `while true; do dd if=/dev/urandom of=${origin} bs=64K count=64 seek=$((RANDOM % 300)) conv=notrunc status=none || exit 1; done`,
      ],
      { detached: true, stdio: 'ignore' }, // its own group: the loop and its dd are stopped together
    );
    const stopped = new Promise((r) => writer.on('exit', r));
    try {
      const full = w.path('full.stream');
      const delta = w.path('delta.stream');
      expect(pipeline(`snapfuse send ${a.mnt} s1 > ${full}`).status).toBe(0);
      const sent = pipeline(`snapfuse send ${a.mnt} s2 --from s1 > ${delta}`);
      expect(sent.stderr).toMatch(/send s2: 100%/);
      expect(sent.status).toBe(0);
      expect(readFileSync(delta).length).toBeLessThan(readFileSync(full).length / 2);

      // the plan, as the mount gives it
      const plan = readFileSync(join(a.mnt, 'send', 's1..s2'), 'utf8');
      expect(plan).toMatch(/^send 1\nstore [0-9a-f]{32}\norigin-size 25165824\nchunk-size 16384\nsnapshot s2 /);
      expect(plan).toMatch(/\nbase s1 [0-9a-f]{32} /);

      // held: a send's file open keeps its snapshot and its base
      const hold = openSync(join(a.mnt, 'send', 's1..s2'), 'r');
      try {
        const status = parseStatus(readFileSync(join(a.mnt, 'control'), 'utf8'));
        expect(status.sends).toEqual([{ snapshot: 's2', base: 's1' }]);
        for (const id of ['s1', 's2']) {
          const refused = w.snapfuse('delete', a.mnt, id);
          expect(refused.status).toBe(1);
          expect(refused.stderr).toMatch(new RegExp(`snapshot ${id} is being sent \\(send s2 from s1\\)`));
        }
      } finally {
        closeSync(hold);
      }
      expect(parseStatus(readFileSync(join(a.mnt, 'control'), 'utf8')).sends).toEqual([]);
      const refusedOnce = w.snapfuse('send', a.mnt, 'nope');
      expect(refusedOnce.status).toBe(1);
      expect(refusedOnce.stderr).toMatch(/no snapshot nope/);

      // received offline into another store: the same bytes as at the source. The delta
      // arrives cut first: what came is kept, and the rest is sent with the token
      expect(pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${full}`).status).toBe(0);
      const cut = w.path('cut.stream');
      const size = readFileSync(delta).length;
      writeFileSync(cut, readFileSync(delta).subarray(0, Math.floor(size * 0.6)));
      const first = pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${cut}`);
      expect(first.status).toBe(1);
      const m = /^snapfuse: stream cut after (\d+) bytes; resume token ([A-Za-z0-9_-]+)$/m.exec(first.stderr);
      expect(m && Number(m[1])).toBe(Math.floor(size * 0.6));
      const token = m![2];
      // the token only says where to start: a sender asked for another snapshot refuses it
      const other = pipeline(`snapfuse send ${a.mnt} s1 --resume ${token} > /dev/null`);
      expect(other.status).toBe(1);
      expect(other.stderr).toMatch(/the token is for another snapshot/);
      const rest = w.path('rest.stream');
      expect(pipeline(`snapfuse send ${a.mnt} s2 --from s1 --resume ${token} > ${rest}`).status).toBe(0);
      expect(readFileSync(rest).length).toBeLessThan(size * 0.6);
      const resumed = pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${rest}`);
      expect(resumed.stderr).toMatch(/received s2 \(the delta from s1\)/);
      expect(resumed.status).toBe(0);

      // a cut receive can be dropped instead
      w.ok('create', a.mnt, 's3');
      const third = w.path('third.stream');
      expect(pipeline(`snapfuse send ${a.mnt} s3 --from s2 | head -c 100000 > ${third}`).status).not.toBe(2);
      expect(pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${third}`).stderr).toMatch(/resume token/);
      const again = pipeline(`snapfuse receive ${b.origin} ${b.cow} < ${third}`);
      expect(again.stderr).toMatch(/a receive of s3 was cut and is kept as s3: resume it/);
      expect(w.ok('receive', b.origin, b.cow, '--abort', 's3')).toBe('');
      expect(w.snapfuse('receive', b.origin, b.cow, '--abort', 's3').stderr).toMatch(/no cut receive of s3 is kept/);
    } finally {
      process.kill(-writer.pid!, 'SIGTERM');
      await stopped;
    }
    w.ok('mount', b.origin, b.cow, b.mnt);
    w.track(b.mnt);
    expect(w.md5(join(b.mnt, 'snapshots/s1.img'))).toBe(md5.s1);
    expect(w.md5(join(b.mnt, 'snapshots/s2.img'))).toBe(md5.s2);
    // and the source's snapshots are still what they were
    expect(w.md5(join(a.mnt, 'snapshots/s2.img'))).toBe(md5.s2);
    w.ok('delete', a.mnt, 's1'); // no send holds it now
    w.umount(b.mnt);
    w.umount(a.mnt);
  });
});
