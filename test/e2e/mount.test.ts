// End to end, as root, through a real FUSE mount: ext4 on the origin through a loop
// device, snapshots taken with `echo create > control`, snapshots of snapshots, a
// snapshot mounted read-write, rollback, remount, and every control error.
import { spawn, spawnSync } from 'child_process';
import { closeSync, mkdirSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'fs';
import { join } from 'path';
import { canMount, CLI, until, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('a real mount', () => {
  const w = new World();
  const origin = w.path('disk.img');
  const cow = w.path('disk.cow');
  const mnt = w.path('mnt');
  const fs = w.path('fs');
  const control = join(mnt, 'control');
  const img = (id: string) => join(mnt, 'snapshots', `${id}.img`);
  const originImg = join(mnt, 'origin.img');
  const hashes = new Map<string, string>();

  /** Write into the control file as `echo` does; returns the errno name or 'ok'. */
  const command = (text: string | Buffer): string => {
    try {
      writeFileSync(control, text);
      return 'ok';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'unknown';
    }
  };
  const status = () => readFileSync(control, 'utf8');
  const ids = () =>
    w.ok('list', mnt, '--json') && JSON.parse(w.ok('list', mnt, '--json')).map((s: { id: string }) => s.id);

  /** Mount an image's ext4 through a loop device, run fn on it, take it all down. */
  const onFs = (image: string, fn: () => void) => {
    const dev = w.losetup(image);
    try {
      w.mount(dev, fs);
      try {
        fn();
      } finally {
        w.umount(fs);
      }
    } finally {
      w.detach(dev);
    }
  };

  beforeAll(() => {
    mkdirSync(mnt);
    mkdirSync(fs);
    writeFileSync(origin, '');
    truncateSync(origin, 64 * MiB);
    writeFileSync(cow, '');
    truncateSync(cow, 256 * MiB);
    w.ok('format', origin, cow, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
  });
  afterAll(() => w.cleanup());

  test('an ext4 made on origin.img through a loop device is clean and holds its files', () => {
    const dev = w.losetup(originImg);
    w.sh('mkfs.ext4', ['-q', dev]);
    w.detach(dev);
    onFs(originImg, () => {
      writeFileSync(join(fs, 'hello'), 'hello\n');
      w.sh('cp', ['-r', join(__dirname, '..', '..', 'src'), join(fs, 'src')]);
    });
    w.sh('e2fsck', ['-fn', originImg]);
    hashes.set('before', w.md5(originImg));
  });

  test('echo create takes a snapshot equal to the origin at that moment', () => {
    expect(w.sh('sh', ['-c', `echo create > ${control}`])).toBe('');
    expect(ids()).toEqual(['1']);
    expect(status()).toMatch(/^snapshot 1 origin \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 0 valid 0 -$/m);
    onFs(originImg, () => {
      w.sh('dd', ['if=/dev/urandom', `of=${join(fs, 'big')}`, 'bs=1M', 'count=8', 'status=none']);
      writeFileSync(join(fs, 'hello'), 'changed\n');
    });
    expect(w.md5(originImg)).not.toBe(hashes.get('before'));
    expect(w.md5(img('1'))).toBe(hashes.get('before'));
    w.sh('e2fsck', ['-fn', originImg]);
    w.sh('e2fsck', ['-fn', img('1')]);
  });

  test('a snapshot of a snapshot, mounted read-write and changed, leaves its source alone', () => {
    expect(w.ok('create', mnt, 's2', '--from', '1').trim()).toBe('s2');
    expect(w.md5(img('s2'))).toBe(hashes.get('before'));
    onFs(img('s2'), () => writeFileSync(join(fs, 'hello'), 'from s2\n'));
    expect(w.md5(img('s2'))).not.toBe(hashes.get('before'));
    expect(w.md5(img('1'))).toBe(hashes.get('before'));
    w.sh('e2fsck', ['-fn', img('s2')]);
    onFs(img('s2'), () => expect(readFileSync(join(fs, 'hello'), 'utf8')).toBe('from s2\n'));
    hashes.set('s2', w.md5(img('s2')));
  });

  test('rollback is refused while the origin is open, and works once it is not', async () => {
    hashes.set('changed', w.md5(originImg));
    const dev = w.losetup(originImg);
    expect(command('rollback 1\n')).toBe('EBUSY');
    expect(status()).toMatch(/^error EBUSY the origin is open$/m);
    w.detach(dev);
    expect(command('rollback 1\n')).toBe('ok');
    await until(() => /^rollback - -$/m.test(status()));
    expect(w.md5(originImg)).toBe(hashes.get('before'));
    expect(w.md5(img('1'))).toBe(hashes.get('before'));
    expect(w.md5(img('s2'))).toBe(hashes.get('s2'));
    onFs(originImg, () => expect(readFileSync(join(fs, 'hello'), 'utf8')).toBe('hello\n'));
  });

  test('after umount and a new mount everything is still there, and the origin file is origin.img', async () => {
    hashes.set('origin', w.md5(originImg));
    w.umount(mnt);
    await until(() => w.snapfuse('mount', origin, cow, mnt).status === 0);
    w.track(mnt);
    expect(ids()).toEqual(['1', 's2']);
    expect(w.md5(originImg)).toBe(hashes.get('origin'));
    expect(w.md5(origin)).toBe(hashes.get('origin'));
    expect(w.md5(img('1'))).toBe(hashes.get('before'));
    expect(w.md5(img('s2'))).toBe(hashes.get('s2'));
  });

  test("every control error is the write's errno, changes nothing, and the mount keeps serving", () => {
    const before = status();
    const cases: Array<[string | Buffer, string]> = [
      ['bogus\n', 'EINVAL'],
      ['create ../x\n', 'EINVAL'],
      [`create ${'a'.repeat(65)}\n`, 'EINVAL'],
      ['create \n', 'ok'], // no id: the next number
      ['delete\n', 'EINVAL'],
      ['delete nope\n', 'ENOENT'],
      ['rollback nope\n', 'ENOENT'],
      ['create x from nope\n', 'ENOENT'],
      ['create 1\n', 'EEXIST'],
      ['create origin\n', 'EINVAL'],
      ['create a\ncreate b\n', 'EINVAL'],
      [Buffer.alloc(100_000, 0x61), 'EINVAL'],
      ['', 'ok'],
    ];
    for (const [text, want] of cases)
      expect([String(text).slice(0, 30), command(text)]).toEqual([String(text).slice(0, 30), want]);
    expect(ids()).toEqual(['1', 's2', '2']); // in order of creation
    expect(command('delete 2\n')).toBe('ok');
    expect(
      status()
        .split('\n')
        .filter((l) => l.startsWith('snapshot ')),
    ).toEqual(before.split('\n').filter((l) => l.startsWith('snapshot ')));
    const dev = w.losetup(img('1'));
    expect(command('delete 1\n')).toBe('EBUSY');
    w.detach(dev);
    expect(ids()).toEqual(['1', 's2']);
  });

  test('images keep their size: writes past the end and truncates are refused', () => {
    const size = 64 * MiB;
    const fd = openSync(originImg, 'r+');
    try {
      expect(() => writeSync(fd, Buffer.alloc(10), 0, 10, size)).toThrow(/ENOSPC/);
    } finally {
      closeSync(fd);
    }
    expect(() => truncateSync(originImg, size - 4096)).toThrow(/EINVAL/);
    expect(() => truncateSync(img('1'), size + 4096)).toThrow(/EINVAL/);
    truncateSync(originImg, size);
    expect(w.md5(img('1'))).toBe(hashes.get('before'));
  });

  test('cp onto an image works as onto a disk of the same size', () => {
    expect(w.ok('create', mnt, 'copy').trim()).toBe('copy');
    w.sh('cp', [img('1'), img('copy')]);
    expect(w.md5(img('copy'))).toBe(hashes.get('before'));
    expect(command('delete copy\n')).toBe('ok');
  });

  test('check refuses a mounted store, naming the daemon', () => {
    const r = w.snapfuse('check', origin, cow);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^snapfuse: store in use by process \d+/);
  });

  test('df reports the COW store', () => {
    const out = w.sh('df', ['-B1', '--output=size,avail', mnt]).trim().split('\n')[1].trim().split(/\s+/);
    expect(Number(out[0])).toBe(256 * MiB);
    expect(Number(out[1])).toBeLessThan(256 * MiB);
  });

  test('a COW made for another origin, a COW full of junk, and a busy mountpoint are refused in one line', () => {
    const other = w.path('other.img');
    writeFileSync(other, '');
    truncateSync(other, 32 * MiB);
    // a second store, made for the other origin: this store's COW is locked by its mount
    const otherCow = w.path('other.cow');
    writeFileSync(otherCow, '');
    truncateSync(otherCow, 16 * MiB);
    w.ok('format', other, otherCow);
    const junk = w.path('junk.cow');
    writeFileSync(junk, Buffer.alloc(MiB, 0x5a));
    const spare = w.path('spare');
    mkdirSync(spare);
    for (const [args, pattern] of [
      [[origin, otherCow, spare], /store for another origin/],
      [[other, cow, spare], /store in use by process \d+/],
      [[origin, junk, spare], /holds no snapfuse store/],
      [[origin, cow, mnt], /busy/],
    ] as Array<[string[], RegExp]>) {
      const r = w.snapfuse('mount', ...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

d('large writes', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('big_writes took effect: writes arrive 128 KiB at a time', async () => {
    const { origin, cow, mnt } = w.store(16 * MiB, 64 * MiB);
    const daemon = spawn(process.execPath, [CLI, 'mount', origin, cow, mnt, '--foreground'], {
      env: { ...process.env, DEBUG: 'snapfuse:io', SNAPFUSE_LOCK_DIR: w.lockDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    w.track(mnt);
    let log = '';
    daemon.stderr.on('data', (b: Buffer) => (log += b.toString()));
    await until(() => spawnSync('mountpoint', ['-q', mnt]).status === 0);
    w.sh('dd', [
      'if=/dev/zero',
      `of=${join(mnt, 'origin.img')}`,
      'bs=1M',
      'count=8',
      'conv=fsync,notrunc',
      'status=none',
    ]);
    await until(() => /write \/origin\.img/.test(log)); // the daemon's stderr arrives as events
    const sizes = [...log.matchAll(/write \/origin\.img (\d+) at/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBe(131072);
    w.umount(mnt);
    await new Promise((r) => daemon.on('exit', r));
    // the daemon committed on its way out: the store checks clean
    expect(w.ok('check', origin, cow).trim()).toBe(`${cow}: clean`);
  });
});
