// A process crash: kill -9 of a real mount while a loop device writes through it with
// fsync, then a new mount: everything fsynced is there, every snapshot is intact, and
// the store checks clean.
import { spawnSync } from 'child_process';
import { readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { isRunning } from '../../src/util/process';
import { canMount, until, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('kill -9 of the daemon', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('loses nothing that was fsynced, and no snapshot', async () => {
    const { origin, cow, mnt } = w.store(32 * MiB, 128 * MiB, '--chunk-size', '16K');
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const originImg = join(mnt, 'origin.img');
    const data = (n: number) => Buffer.alloc(MiB, n);
    const dd = (file: string, n: number, seekMiB: number) => {
      writeFileSync(w.path(`pattern${n}`), data(n));
      w.sh('dd', [
        `if=${w.path(`pattern${n}`)}`,
        `of=${file}`,
        'bs=1M',
        `seek=${seekMiB}`,
        'conv=fsync,notrunc',
        'status=none',
      ]);
    };
    // an fsynced history: writes, snapshots, more writes (copy-outs), a snapshot written
    for (let i = 0; i < 4; i++) {
      dd(originImg, 10 + i, i * 4);
      w.ok('create', mnt, `s${i}`);
      dd(join(mnt, 'snapshots', `s${i}.img`), 20 + i, 24);
    }
    const expected = new Map([['origin', w.md5(originImg)]]);
    for (let i = 0; i < 4; i++) expected.set(`s${i}`, w.md5(join(mnt, 'snapshots', `s${i}.img`)));
    // load: unsynced writes in flight while the daemon dies
    const loader = spawnSync('sh', [
      '-c',
      `dd if=/dev/urandom of=${join(mnt, 'snapshots', 's3.img')} bs=64K count=64 conv=notrunc status=none & sleep 0.2; kill -9 $(cut -d' ' -f1 ${w.lockDir}/*.lock)`,
    ]);
    expect(loader.status).toBe(0);
    expected.delete('s3'); // written when it died: only its fsynced past is promised
    // a lock holds "<pid> serving <mountpoint>": wait until no such pid runs
    await until(() =>
      readdirSync(w.lockDir).every((f) => !isRunning(parseInt(readFileSync(join(w.lockDir, f), 'utf8'), 10))),
    );
    spawnSync('umount', ['-l', mnt]);
    // a new mount takes over the stale lock and opens the last commit
    await until(() => w.snapfuse('mount', origin, cow, mnt).status === 0);
    expect(w.md5(originImg)).toBe(expected.get('origin'));
    for (let i = 0; i < 3; i++) expect(w.md5(join(mnt, 'snapshots', `s${i}.img`))).toBe(expected.get(`s${i}`));
    expect(w.ok('list', mnt)).toMatch(/s3/);
    w.umount(mnt);
    await until(() => readdirSync(w.lockDir).length === 0);
    expect(w.ok('check', origin, cow, '--data').trim()).toBe(`${cow}: clean`);
  });
});
