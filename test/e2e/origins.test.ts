// Two disks in one store, through a real mount: each origin an ext4 of its own, each
// with its directory, control file and snapshots; a rollback of one leaves the other
// alone; the space and its figures are per origin; origins are removed and added on an
// unmounted store, and on a mounted one without a remount; an origin file that is not the
// one formatted is refused; snapshots and schedules of every origin at once.
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'fs';
import { join } from 'path';
import { canMount, CLI, until, World } from '../helpers/e2e';
import { parseStoreStatus } from '../../src/control/store-status';

const MiB = 2 ** 20;
const d = canMount ? describe : describe.skip;

d('several origins in one store', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  const status = (dir: string) => readFileSync(join(dir, 'control'), 'utf8');
  const unmounted = () => until(() => readdirSync(w.lockDir).length === 0);

  /** Mount the ext4 in `image` on a loop device at `dir`, run `fn`, and take both down. */
  const withFs = (image: string, dir: string, fn: () => void) => {
    mkdirSync(dir, { recursive: true });
    const loop = w.losetup(image);
    w.mount(loop, dir);
    try {
      fn();
    } finally {
      w.umount(dir);
      w.detach(loop);
    }
  };

  test('two ext4 origins: snapshots, a rollback of one, figures per origin, remove and add', () => {
    const disks = { a: w.file('disk-a.img', 32 * MiB), b: w.file('disk-b.img', 32 * MiB) };
    for (const disk of Object.values(disks)) w.sh('mkfs.ext4', ['-q', '-F', disk]);
    const cow = w.file('store.cow', 64 * MiB);
    const mnt = w.path('mnt');
    mkdirSync(mnt);
    w.ok('format', cow, '--origin', `a=${disks.a}`, '--origin', `b=${disks.b}`);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    expect(readdirSync(mnt).sort()).toEqual(['a', 'b', 'control']);
    expect(readdirSync(join(mnt, 'a')).sort()).toEqual([
      'control',
      'diff',
      'origin.img',
      'receive',
      'send',
      'snapshots',
    ]);

    const [fsA, fsB] = [w.path('fs-a'), w.path('fs-b')];
    withFs(join(mnt, 'a/origin.img'), fsA, () => writeFileSync(join(fsA, 'version'), 'a1\n'));
    withFs(join(mnt, 'b/origin.img'), fsB, () => writeFileSync(join(fsB, 'version'), 'b1\n'));
    // the same snapshot name on both: one through the CLI, one through the control file
    expect(w.ok('create', join(mnt, 'a'), 'before').trim()).toBe('before');
    writeFileSync(join(mnt, 'b/control'), 'create before\n');
    withFs(join(mnt, 'a/origin.img'), fsA, () => {
      writeFileSync(join(fsA, 'version'), 'a2\n');
      writeFileSync(join(fsA, 'big'), Buffer.alloc(4 * MiB, 1));
    });
    withFs(join(mnt, 'b/origin.img'), fsB, () => writeFileSync(join(fsB, 'version'), 'b2\n'));
    expect(readdirSync(join(mnt, 'a/snapshots'))).toEqual(['before.img']);

    // figures per origin: a's snapshot holds more alone than b's
    w.ok('list', join(mnt, 'a')); // a table; its figures are checked through --json
    const listed = (o: string) => JSON.parse(w.ok('list', join(mnt, o), '--json')) as Array<{ exclusiveBytes: number }>;
    expect(listed('a')[0].exclusiveBytes).toBeGreaterThan(listed('b')[0].exclusiveBytes);
    const space = (o: string) => Number(/^space \d+ (\d+)/m.exec(status(join(mnt, o)))![1]);
    expect(space('a')).toBe(listed('a')[0].exclusiveBytes);
    expect(status(join(mnt, 'b'))).toMatch(/^origin-size 33554432$/m);
    // at the root: every origin's list; a command needs the origin's directory
    expect(w.ok('list', mnt)).toMatch(/^origin a\nID .*\nbefore .*\n[^]*^origin b\nID .*\nbefore /m);
    expect(Object.keys(JSON.parse(w.ok('list', mnt, '--json')))).toEqual(['a', 'b']);
    expect(w.snapfuse('rollback', mnt, 'before').stderr).toMatch(
      /a mount of named origins: give the origin's directory/,
    );

    // a rollback of a leaves b as it is
    w.ok('rollback', join(mnt, 'a'), 'before', '--wait');
    withFs(join(mnt, 'a/origin.img'), fsA, () => {
      expect(readFileSync(join(fsA, 'version'), 'utf8')).toBe('a1\n');
      expect(readdirSync(fsA)).not.toContain('big');
    });
    withFs(join(mnt, 'b/origin.img'), fsB, () => expect(readFileSync(join(fsB, 'version'), 'utf8')).toBe('b2\n'));
    withFs(join(mnt, 'b/snapshots/before.img'), fsB, () =>
      expect(readFileSync(join(fsB, 'version'), 'utf8')).toBe('b1\n'),
    );
    w.umount(mnt);
  }, 120_000);

  test('origins are removed and added on an unmounted store; a swapped origin file is refused', async () => {
    await unmounted();
    const cow = w.path('store.cow');
    const mnt = w.path('mnt');
    expect(w.ok('check', cow)).toMatch(/clean/);
    w.ok('remove-origin', cow, 'b');
    const c = w.file('disk-c.img', 16 * MiB);
    w.ok('add-origin', cow, `c=${c}`);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    expect(readdirSync(mnt).sort()).toEqual(['a', 'c', 'control']);
    expect(status(join(mnt, 'a'))).toMatch(/^snapshots 1$/m);
    expect(status(join(mnt, 'c'))).toMatch(/^origin-size 16777216$/m);
    w.umount(mnt);
    await unmounted();
    expect(w.ok('check', cow)).toMatch(/clean/);
    // offline, an origin is chosen with --origin: diff, and a snapshot sent and received back
    expect(w.ok('diff', cow, 'before', 'origin', '--origin', 'a')).toMatch(/^\d+ \d+$/m);
    expect(w.snapfuse('diff', cow, 'before', 'origin').stderr).toMatch(/2 origins: name one/);
    // replication between two stores of named origins: a's snapshot into another store's origin a
    const other = w.file('other.cow', 64 * MiB);
    w.ok('format', other, '--origin', `a=${w.file('disk-a2.img', 32 * MiB)}`);
    const cli = `SNAPFUSE_LOCK_DIR=${w.lockDir} ${process.execPath} ${CLI}`;
    const stream = w.path('stream');
    w.sh('sh', ['-c', `${cli} send ${cow} before --origin a > ${stream}`]);
    w.sh('sh', ['-c', `${cli} receive ${other} copy --origin a < ${stream}`]);
    const mnt2 = w.path('mnt2');
    mkdirSync(mnt2);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    w.ok('mount', other, mnt2);
    w.track(mnt2);
    expect(readdirSync(join(mnt2, 'a/snapshots'))).toEqual(['copy.img']);
    expect(w.md5(join(mnt2, 'a/snapshots/copy.img'))).toBe(w.md5(join(mnt, 'a/snapshots/before.img')));
    w.umount(mnt2);
    w.umount(mnt);
    await unmounted();

    // a copy of c in its place: the same size and bytes, another file
    const c2 = w.path('disk-c2.img');
    copyFileSync(c, c2);
    renameSync(c2, c);
    const r = w.snapfuse('mount', cow, mnt);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/another origin c than .*disk-c\.img: it is not the same file/);
    // a store of named origins is not mounted as a store of one
    expect(w.snapfuse('mount', w.path('disk-a.img'), cow, mnt).stderr).toMatch(/store of named origins \(a, c\)/);
  }, 60_000);

  test('one snapshot of every origin at once, at the root: one commit, refused whole, deleted together', () => {
    const [x, y] = [w.file('group-x.img', 8 * MiB), w.file('group-y.img', 8 * MiB)];
    const cow = w.file('group.cow', 32 * MiB);
    const mnt = w.path('group');
    mkdirSync(mnt);
    w.ok('format', cow, '--origin', `x=${x}`, '--origin', `y=${y}`);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    writeFileSync(join(mnt, 'x/origin.img'), Buffer.alloc(MiB, 1), { flag: 'r+' });
    writeFileSync(join(mnt, 'y/origin.img'), Buffer.alloc(MiB, 2), { flag: 'r+' });

    writeFileSync(join(mnt, 'control'), 'create g1\n');
    const root = parseStoreStatus(readFileSync(join(mnt, 'control'), 'utf8'));
    expect(root.origins).toEqual([
      { name: 'x', size: 8 * MiB, snapshots: 1 },
      { name: 'y', size: 8 * MiB, snapshots: 1 },
    ]);
    expect(root.daemon).toBeGreaterThan(0);
    const created = (dir: string) => /\nsnapshot g1 origin (\S+) /.exec(status(join(mnt, dir)))?.[1];
    expect(created('x')).toBe(created('y'));
    expect(
      readFileSync(join(mnt, 'x/snapshots/g1.img'))
        .subarray(0, MiB)
        .every((b) => b === 1),
    ).toBe(true);

    // through the CLI; a name one origin has is refused, and nothing changes
    expect(w.ok('create', mnt, 'g2').trim()).toBe('g2');
    w.ok('create', join(mnt, 'y'), 'only-y');
    const refused = w.snapfuse('create', mnt, 'only-y');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/snapshot only-y already exists in origin y/);
    expect(status(join(mnt, 'x'))).not.toMatch(/snapshot only-y /);
    expect(() => writeFileSync(join(mnt, 'control'), 'rollback g1\n')).toThrow(/EINVAL/);

    w.ok('delete', mnt, 'g1');
    for (const dir of ['x', 'y']) expect(status(join(mnt, dir))).not.toMatch(/snapshot g1 /);
    expect(w.ok('list', mnt)).toMatch(/origin x[\s\S]*g2[\s\S]*origin y[\s\S]*g2/);
    w.umount(mnt);
  });
  test('rolling snapshots of every origin at once: mount --every takes groups, retired together', async () => {
    const [x, y] = [w.file('sched-x.img', 4 * MiB), w.file('sched-y.img', 4 * MiB)];
    const cow = w.file('sched.cow', 32 * MiB);
    const mnt = w.path('sched');
    mkdirSync(mnt);
    w.ok('format', cow, '--origin', `x=${x}`, '--origin', `y=${y}`);
    w.ok('mount', cow, mnt, '--every', '2s', '--keep', '2');
    w.track(mnt);
    const taken = (dir: string) =>
      readdirSync(join(mnt, dir, 'snapshots'))
        .filter((f) => /^auto-\d{8}-\d{6}\.img$/.test(f))
        .sort();
    expect(parseStoreStatus(readFileSync(join(mnt, 'control'), 'utf8')).schedules).toMatchObject([
      { name: 'auto', every: 2, keep: 2 },
    ]);
    await until(() => taken('x').length === 2, 10_000);
    const first = taken('x')[0];
    await until(() => !taken('x').includes(first), 10_000);
    // the same instants in both origins, the oldest retired from both
    expect(taken('y')).toEqual(taken('x'));
    expect(taken('x').length).toBeLessThanOrEqual(2);
    // the origins' own control files show no schedule, and cannot take its name
    expect(status(join(mnt, 'x'))).toMatch(/^schedules 0$/m);
    expect(() => writeFileSync(join(mnt, 'x/control'), 'schedule auto every 1s keep 1\n')).toThrow(/EINVAL/);
    expect(status(join(mnt, 'x'))).toMatch(/^error EINVAL schedule auto takes snapshots of every origin/m);

    w.ok('schedule', mnt, 'auto', '--off');
    expect(w.ok('status', mnt)).toMatch(/^schedules 0$/m);
    const left = taken('x');
    await new Promise((r) => setTimeout(r, 2500));
    expect(taken('x')).toEqual(left);
    w.umount(mnt);
  }, 60_000);
  test('origins added and removed on a mounted store: shown and gone without a remount', async () => {
    const [x, y, z] = [w.file('live-x.img', 4 * MiB), w.file('live-y.img', 4 * MiB), w.file('live-z.img', 6 * MiB)];
    const cow = w.file('live.cow', 32 * MiB);
    const mnt = w.path('live');
    mkdirSync(mnt);
    w.ok('format', cow, '--origin', `x=${x}`, '--origin', `y=${y}`);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    const root = () => parseStoreStatus(readFileSync(join(mnt, 'control'), 'utf8'));

    w.ok('add-origin', mnt, `z=${z}`);
    expect(readdirSync(mnt).sort()).toEqual(['control', 'x', 'y', 'z']);
    expect(statSync(join(mnt, 'z/origin.img')).size).toBe(6 * MiB);
    expect(root().origins.map((o) => o.name)).toEqual(['x', 'y', 'z']);
    writeFileSync(join(mnt, 'z/origin.img'), Buffer.alloc(MiB, 7), { flag: 'r+' });
    w.ok('create', mnt, 'g1'); // the group takes the new origin too
    expect(
      readFileSync(join(mnt, 'z/snapshots/g1.img'))
        .subarray(0, MiB)
        .every((b) => b === 7),
    ).toBe(true);
    // a file the store has already, and a name it has, are refused and change nothing
    expect(w.snapfuse('add-origin', mnt, `w=${x}`).stderr).toMatch(/origin w \(.*\) is the same file as origin x/);
    expect(w.snapfuse('add-origin', mnt, `y=${w.file('live-w.img', MiB)}`).stderr).toMatch(/has an origin y already/);
    expect(root().origins).toHaveLength(3);

    // in use: refused whole
    const fd = openSync(join(mnt, 'z/origin.img'), 'r');
    const busy = w.snapfuse('remove-origin', mnt, 'z');
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/origin z is in use: origin open \(EBUSY\)/);
    closeSync(fd);
    w.ok('remove-origin', mnt, 'z');
    expect(readdirSync(mnt).sort()).toEqual(['control', 'x', 'y']);
    expect(root().origins.map((o) => o.name)).toEqual(['x', 'y']);
    expect(() => writeFileSync(join(mnt, 'x/control'), `add-origin q ${z}\n`)).toThrow(/EINVAL/);
    w.umount(mnt);
    await unmounted();
    expect(w.ok('check', cow)).toMatch(/clean/);
    w.ok('mount', cow, mnt); // the change is in the store
    w.track(mnt);
    expect(readdirSync(mnt).sort()).toEqual(['control', 'x', 'y']);
    w.umount(mnt);
  });

  test('a mount of a store of one origin cannot gain origins while mounted', () => {
    const [origin, cow, mnt] = [w.file('one.img', 4 * MiB), w.file('one.cow', 16 * MiB), w.path('one')];
    mkdirSync(mnt);
    w.ok('format', origin, cow);
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const refused = w.snapfuse('add-origin', mnt, `b=${w.file('one-b.img', MiB)}`);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/is not the root of a mount of named origins/);
    w.umount(mnt);
  });
});
