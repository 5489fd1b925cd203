// Online rollback through a real mount, as dm's snapshot-merge: once `rollback` returns,
// ext4 is mounted from the origin while the status still shows the copying; it sees the
// snapshot's files, takes new ones, and after the copying has ended e2fsck finds it
// clean and every file as it should be (the copy never overwrote what was written).
import { readFileSync } from 'fs';
import { join } from 'path';
import { canMount, until, World } from '../helpers/e2e';

const MiB = 1 << 20;
const d = canMount ? describe : describe.skip;

d('online rollback', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('ext4 mounted from the origin right after rollback returns, while it copies', async () => {
    const { origin, cow, mnt } = w.store(384 * MiB, 1536 * MiB, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const control = join(mnt, 'control');
    const copying = () => /^rollback good \d+%$/m.test(readFileSync(control, 'utf8'));
    const fsDir = w.path('fs');
    const withFs = (fn: () => void) => {
      const dev = w.losetup(join(mnt, 'origin.img'));
      w.mount(dev, fsDir);
      try {
        fn();
      } finally {
        w.umount(fsDir);
        w.detach(dev);
      }
    };
    w.sh('mkdir', ['-p', fsDir]);
    const dev = w.losetup(join(mnt, 'origin.img'));
    w.sh('mkfs.ext4', ['-q', dev]);
    w.detach(dev);
    const sum = (file: string) => w.sh('md5sum', [join(fsDir, file)]).split(' ')[0];
    let kept = '';
    withFs(() => {
      w.sh('dd', ['if=/dev/urandom', `of=${fsDir}/kept`, 'bs=1M', 'count=16', 'status=none']);
      kept = sum('kept');
    });
    w.ok('create', mnt, 'good');
    // the upgrade that goes wrong: the file goes, a large one comes, and a snapshot of that
    withFs(() => {
      w.sh('rm', [`${fsDir}/kept`]);
      w.sh('dd', ['if=/dev/urandom', `of=${fsDir}/bad`, 'bs=1M', 'count=300', 'status=none']);
    });
    w.ok('create', mnt, 'after');

    const started = Date.now();
    w.ok('rollback', mnt, 'good');
    expect(copying()).toBe(true);
    let written = '';
    withFs(() => {
      expect(copying()).toBe(true); // mounted while the copying runs
      expect(w.sh('ls', [fsDir]).split('\n')).toEqual(['kept', 'lost+found', '']);
      expect(sum('kept')).toBe(kept);
      w.sh('dd', ['if=/dev/urandom', `of=${fsDir}/new`, 'bs=1M', 'count=32', 'conv=fsync', 'status=none']);
      written = sum('new');
    });
    await until(() => !copying(), 120_000);
    console.log(`rollback copied for ${Date.now() - started} ms`);
    expect(readFileSync(control, 'utf8')).toMatch(/^error -$/m);

    const again = w.losetup(join(mnt, 'origin.img'));
    w.sh('e2fsck', ['-fn', again]); // throws unless clean
    w.detach(again);
    withFs(() => {
      expect(sum('kept')).toBe(kept);
      expect(sum('new')).toBe(written);
    });
    // the snapshots stay as they were
    const snap = w.losetup(join(mnt, 'snapshots', 'after.img'));
    w.sh('e2fsck', ['-fn', snap]);
    w.detach(snap);
    w.umount(mnt);
  }, 240_000);
});
