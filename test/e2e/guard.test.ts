// Nothing ends the daemon: operations made to fail as a bug would (the test-only hook
// SNAPFUSE_TEST_FAULT) through a real mount. Each failed request is answered with EIO,
// the next one is served, and the status's error line names what failed.
import { closeSync, openSync, readFileSync, readSync, statSync, statfsSync } from 'fs';
import { join } from 'path';
import { canMount, until, World } from '../helpers/e2e';

const MiB = 1 << 20;
const d = canMount ? describe : describe.skip;

d('the guard over every request, through a real mount', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  test('a throw in getattr, in read, and a rejection nobody awaits: answered, logged, served on', async () => {
    const { origin, cow, mnt } = w.store(8 * MiB, 32 * MiB);
    process.env.SNAPFUSE_TEST_FAULT = 'throw:getattr:/control,throw:read:/origin.img:2,reject:statfs:/';
    try {
      w.ok('mount', origin, cow, mnt);
    } finally {
      delete process.env.SNAPFUSE_TEST_FAULT;
    }
    w.track(mnt);
    const control = join(mnt, 'control');
    const status = () => readFileSync(control).toString();

    // getattr of control throws once: that stat fails with EIO, the next is answered
    expect(() => statSync(control)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(statSync(control).size).toBeGreaterThan(0);
    expect(status()).toMatch(/^error EIO getattr \/control: test fault in getattr \/control$/m);

    // a read of the origin throws once: EIO for it, the same read again is served
    const fd = openSync(join(mnt, 'origin.img'), 'r');
    try {
      const buf = Buffer.alloc(4096);
      // twice: the kernel's readahead fails, then its read of the one page
      expect(() => readSync(fd, buf, 0, 4096, 0)).toThrow(expect.objectContaining({ code: 'EIO' }));
      expect(readSync(fd, buf, 0, 4096, 0)).toBe(4096);
    } finally {
      closeSync(fd);
    }
    expect(status()).toMatch(/^error EIO read \/origin\.img: test fault in read \/origin\.img$/m);

    // a rejected promise nobody awaits: the process goes on, the request is answered
    expect(statfsSync(mnt).blocks).toBeGreaterThan(0);
    await until(() => /^error EIO a failure nobody awaited: test fault in statfs \/$/m.test(status()));

    // and the mount still does its work
    w.ok('create', mnt, 'after');
    expect(status()).toMatch(/^error -$/m);
    expect(JSON.parse(w.ok('list', mnt, '--json')).map((s: { id: string }) => s.id)).toEqual(['after']);
  });
});
