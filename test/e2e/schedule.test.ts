// Rolling snapshots through a real mount: a schedule with an interval of seconds takes
// snapshots named by time and retires the oldest beyond its count, never a snapshot a
// person made; the schedule is in the store, so it goes on after a remount.
import { readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { canMount, until, World } from '../helpers/e2e';

const MiB = 2 ** 20;
const d = canMount ? describe : describe.skip;
const TAKEN = /^t-\d{8}-\d{6}\.img$/;

d('rolling snapshots', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  const snapshots = (mnt: string) => readdirSync(join(mnt, 'snapshots')).sort();
  const taken = (mnt: string) => snapshots(mnt).filter((f) => TAKEN.test(f));
  const status = (mnt: string) => readFileSync(join(mnt, 'control'), 'utf8');

  test('a schedule of seconds takes and retires snapshots, and goes on after a remount', async () => {
    const { origin, cow, mnt } = w.store(4 * MiB, 16 * MiB);
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    writeFileSync(join(mnt, 'control'), 'create mine\n');
    w.ok('schedule', mnt, 't', '--every', '2s', '--keep', '2');
    expect(status(mnt)).toMatch(/^schedule t 2s 2 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    // one at once, then one every 2 s; the third makes the first go
    await until(() => taken(mnt).length === 2, 10_000);
    const first = taken(mnt)[0];
    await until(() => !taken(mnt).includes(first), 10_000);
    expect(taken(mnt)).toHaveLength(2);
    expect(snapshots(mnt)).toContain('mine.img'); // a person's snapshot is never retired
    expect(status(mnt)).toMatch(/^snapshot t-\d{8}-\d{6} origin \S+ \d+ valid \d+ t$/m);

    const before = new Set(taken(mnt));
    w.umount(mnt);
    await until(() => readdirSync(w.lockDir).length === 0);
    await new Promise((r) => setTimeout(r, 2500)); // due while unmounted: taken at the mount
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    await until(() => taken(mnt).some((f) => !before.has(f)), 5_000);
    await until(() => taken(mnt).length === 2, 5_000);
    expect(snapshots(mnt)).toContain('mine.img');

    w.ok('schedule', mnt, 't', '--off');
    expect(status(mnt)).toMatch(/^schedules 0$/m);
    const left = taken(mnt);
    await new Promise((r) => setTimeout(r, 2500));
    expect(taken(mnt)).toEqual(left); // stopped: its snapshots stay as they are
  }, 60_000);
});
