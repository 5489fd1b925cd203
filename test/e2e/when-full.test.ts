// A store that fills up under an ext4 workload, through a real mount, with each policy
// that keeps the origin going: `retire` (the default with a schedule) deletes the oldest
// scheduled snapshots, `invalidate` marks the snapshots that would need the copy invalid.
// Either way every write of the file system on the origin succeeds, it stays read-write,
// e2fsck finds it clean, and the status's error line says what was done.
import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';
import { canMount, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;
const FILES = 4; // of 4 MiB each, rewritten in place round after round

d('a store that fills up, with a policy that keeps the origin going', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  /** ext4 on the mount's origin: `rounds` rewrites of its files, `between` after each; the failed writes. */
  function workload(mnt: string, rounds: number, between: (round: number) => void): string[] {
    const fsDir = w.path(`fs-${mnt.split('/').pop()}`);
    w.sh('mkdir', ['-p', fsDir]);
    const dev = w.losetup(join(mnt, 'origin.img'));
    const failed: string[] = [];
    try {
      w.sh('mkfs.ext4', ['-q', dev]);
      w.mount(dev, fsDir);
      try {
        for (let round = 0; round < rounds; round++) {
          for (let f = 0; f < FILES; f++) {
            const dd = spawnSync(
              'dd',
              ['if=/dev/urandom', `of=${fsDir}/f${f}`, 'bs=1M', 'count=4', 'conv=fsync,notrunc', 'status=none'],
              { encoding: 'utf8' },
            );
            if (dd.status !== 0) failed.push(`round ${round} f${f}: ${dd.stderr.trim()}`);
          }
          between(round);
        }
        const options = readFileSync('/proc/mounts', 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[1] === fsDir)
          ?.split(' ')[3];
        if (!options?.split(',').includes('rw')) failed.push(`the file system is mounted ${options}`);
      } finally {
        w.umount(fsDir);
      }
      const fsck = spawnSync('e2fsck', ['-fn', dev], { encoding: 'utf8' });
      if (fsck.status !== 0) failed.push(`e2fsck: ${fsck.stdout.trim().split('\n').slice(-2).join('; ')}`);
    } finally {
      w.detach(dev);
    }
    return failed;
  }

  const status = (mnt: string) => readFileSync(join(mnt, 'control'), 'utf8');

  test("retire: the oldest scheduled snapshots go; a person's stays; ext4 sees no error", () => {
    const [origin, cow, mnt] = [w.file('r.img', 64 * MiB), w.file('r.cow', 48 * MiB), w.path('r')];
    w.sh('mkdir', [mnt]);
    w.ok('format', origin, cow, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt, '--every', '1s', '--keep', '1000'); // retire: the default with a schedule
    w.track(mnt);
    expect(status(mnt)).toMatch(/^when-full retire$/m);
    let mine = false;
    const failed = workload(mnt, 14, (round) => {
      if (round === 0) mine = w.snapfuse('create', mnt, 'mine').status === 0;
      spawnSync('sleep', ['0.3']); // the schedule takes its snapshots between rounds
    });
    expect(failed).toEqual([]);
    expect(mine).toBe(true);
    expect(status(mnt)).toMatch(
      /^error ENOSPC the store is full: retired auto-\d{8}-\d{6} \(taken by schedule auto\) to make room$/m,
    );
    expect(w.ok('list', mnt)).toMatch(/^mine /m); // never a person's
    w.umount(mnt);
  }, 180_000);

  test('invalidate: the snapshots that need the copy turn invalid and read EIO; ext4 sees no error', () => {
    const [origin, cow, mnt] = [w.file('i.img', 64 * MiB), w.file('i.cow', 48 * MiB), w.path('i')];
    w.sh('mkdir', [mnt]);
    w.ok('format', origin, cow, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt, '--when-full', 'invalidate');
    w.track(mnt);
    // three snapshots, each holding a round's files once the next round rewrites them: more than the COW
    const failed = workload(mnt, 8, (round) => round < 3 && w.ok('create', mnt, `s${round}`));
    expect(failed).toEqual([]);
    const text = status(mnt);
    expect(text).toMatch(/^when-full invalidate$/m);
    expect(text).toMatch(
      /^error ENOSPC the store is full: snapshot .* marked invalid to let an origin write through$/m,
    );
    const invalid = [...text.matchAll(/^snapshot (\S+) \S+ \S+ \S+ invalid /gm)].map((m) => m[1]);
    expect(invalid.length).toBeGreaterThan(0);
    const read = spawnSync('dd', [`if=${join(mnt, 'snapshots', `${invalid[0]}.img`)}`, 'of=/dev/null', 'bs=64K'], {
      encoding: 'utf8',
    });
    expect(read.status).not.toBe(0);
    expect(read.stderr).toMatch(/Input\/output error/);
    for (const id of invalid) w.ok('delete', mnt, id); // all they can do
    expect(status(mnt)).not.toMatch(/^snapshot \S+ \S+ \S+ \S+ invalid /m);
    w.umount(mnt);
  }, 180_000);
});
