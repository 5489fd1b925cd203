// A full store, through a real mount. The policy: an origin write that needs a copy
// the store has no room for fails with ENOSPC before it changes anything; snapshots
// keep their data, the status and df say what happened, and deleting a snapshot
// gives the room back.
import { spawnSync } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { canMount, until, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('a full store', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('refuses origin writes with ENOSPC, says so, loses nothing, and recovers after a delete', async () => {
    const { origin, cow, mnt } = w.store(Buffer.alloc(8 * MiB, 7), 2 * MiB, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const originImg = join(mnt, 'origin.img');
    const snap = join(mnt, 'snapshots', 'keep.img');
    w.ok('create', mnt, 'keep');
    const kept = w.md5(snap);
    writeFileSync(w.path('ones'), Buffer.alloc(8 * MiB, 1));
    const dd = spawnSync('dd', [`if=${w.path('ones')}`, `of=${originImg}`, 'bs=64K', 'conv=fsync,notrunc'], {
      encoding: 'utf8',
    });
    expect(dd.status).not.toBe(0);
    expect(dd.stderr).toMatch(/No space left on device/);
    const status = readFileSync(join(mnt, 'control'), 'utf8');
    expect(status).toMatch(/^error ENOSPC write to origin\.img: the COW store is full$/m);
    const [size, avail] = w
      .sh('df', ['-B1', '--output=size,avail', mnt])
      .trim()
      .split('\n')[1]
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(size).toBe(2 * MiB);
    expect(avail).toBeLessThan(size / 4);
    expect(w.md5(snap)).toBe(kept); // never other data
    // what was acknowledged is there after a remount
    const written = w.md5(originImg);
    w.umount(mnt);
    await until(() => w.snapfuse('mount', origin, cow, mnt).status === 0);
    expect(w.md5(originImg)).toBe(written);
    expect(w.md5(snap)).toBe(kept);
    // deleting the snapshot gives the room back: the write goes through now
    w.ok('delete', mnt, 'keep');
    await until(() => /^reclaim -$/m.test(readFileSync(join(mnt, 'control'), 'utf8')));
    w.sh('dd', [`if=${w.path('ones')}`, `of=${originImg}`, 'bs=64K', 'conv=fsync,notrunc', 'status=none']);
    expect(w.md5(originImg)).toBe(w.md5(w.path('ones')));
    w.umount(mnt);
    await until(() => w.snapfuse('check', origin, cow).status === 0);
  });
});
