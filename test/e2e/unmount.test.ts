// The hand-over after an unmount, through a real mount: `snapfuse unmount` returns once
// the daemon has committed and exited; after a plain `umount`, an opener that finds the
// daemon still closing waits for it instead of refusing; a daemon serving a mount is
// refused as before.
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'fs';
import { join } from 'path';
import { parseStatus } from '../../src/control/status';
import { isRunning } from '../../src/util/process';
import { canMount, World } from '../helpers/e2e';
import { Random } from '../helpers/random';

const MiB = 1 << 20;
const d = canMount ? describe : describe.skip;

d('unmount and the hand-over to the next opener', () => {
  const w = new World();
  afterAll(() => w.cleanup());
  const rnd = new Random(5);
  let paths: { origin: string; cow: string; mnt: string };

  /** Mount, take a snapshot and write over the origin, so the daemon has copy-outs to commit at the end. */
  const mountBusy = (): number => {
    w.ok('mount', paths.origin, paths.cow, paths.mnt);
    w.track(paths.mnt);
    writeFileSync(join(paths.mnt, 'control'), 'create');
    const fd = openSync(join(paths.mnt, 'origin.img'), 'r+');
    for (let i = 0; i < 64; i++) writeSync(fd, rnd.bytes(128 * 1024), 0, 128 * 1024, i * 128 * 1024);
    closeSync(fd);
    return parseStatus(readFileSync(join(paths.mnt, 'control')).toString()).daemon!;
  };

  beforeAll(() => {
    paths = w.store(16 * MiB, 64 * MiB, '--chunk-size', '64K');
  });

  test('snapfuse unmount returns once the daemon has exited; the store is free at once', () => {
    const pid = mountBusy();
    expect(isRunning(pid)).toBe(true);
    const r = w.snapfuse('unmount', paths.mnt);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(isRunning(pid)).toBe(false);
    expect(readdirSync(w.lockDir)).toEqual([]);
    const check = w.snapfuse('check', paths.origin, paths.cow);
    expect(check.stderr).not.toMatch(/waiting|in use/); // its progress lines only
    expect(check.status).toBe(0);
  });

  test('after a plain umount, check and mount wait for the closing daemon instead of refusing', () => {
    mountBusy();
    w.sh('umount', [paths.mnt]);
    const check = w.snapfuse('check', paths.origin, paths.cow);
    expect(check.stderr).not.toMatch(/in use/);
    expect(check.status).toBe(0);
    mountBusy();
    w.sh('umount', [paths.mnt]);
    w.ok('mount', paths.origin, paths.cow, paths.mnt); // the next mount, right away
    expect(w.ok('umount', paths.mnt)).toBe('');
  });

  test('a daemon serving a mount is refused, and a busy mount is not unmounted', () => {
    const pid = mountBusy();
    const check = w.snapfuse('check', paths.origin, paths.cow);
    expect(check.status).toBe(1);
    expect(check.stderr).toBe(`snapfuse: store in use by process ${pid} (${paths.cow})\n`);
    const dev = w.losetup(join(paths.mnt, 'origin.img'));
    const busy = w.snapfuse('unmount', paths.mnt);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/^snapfuse: cannot unmount .*\n$/);
    expect(isRunning(pid)).toBe(true);
    w.detach(dev);
    w.ok('unmount', paths.mnt);
    expect(isRunning(pid)).toBe(false);
    const notMounted = w.snapfuse('unmount', paths.mnt);
    expect(notMounted.status).toBe(1);
    expect(notMounted.stderr).toBe(`snapfuse: ${paths.mnt} is not a snapfuse mount\n`);
  });
});
