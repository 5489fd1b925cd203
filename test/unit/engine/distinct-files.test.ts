// One file cannot be two origins, nor the COW one of its own origins: refused at format,
// add-origin and open, in one line, with nothing changed.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, linkSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { addOriginFile, formatFiles, openFiles } from '../../../src/engine/open-files';

const MiB = 1 << 20;

describe('the same file twice', () => {
  let dir: string;
  const file = (name: string, bytes: number) => {
    const p = join(dir, name);
    writeFileSync(p, '');
    truncateSync(p, bytes);
    return p;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'snapfuse-distinct-'));
    process.env.SNAPFUSE_LOCK_DIR = join(dir, 'locks');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('format refuses the COW as its own origin', async () => {
    const cow = file('c.cow', 16 * MiB);
    await expect(formatFiles(cow, cow)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `the origin (${cow}) is the COW itself: a store cannot hold its own origin`,
    });
    const alias = join(dir, 'alias.cow');
    linkSync(cow, alias); // another name, the same inode
    await expect(formatFiles([{ name: 'a', path: alias }], cow)).rejects.toMatchObject({
      message: `origin a (${alias}) is the COW itself: a store cannot hold its own origin`,
    });
    expect(readFileSync(cow).every((b) => b === 0)).toBe(true); // nothing written
  });

  test('format refuses one file as two named origins', async () => {
    const [x, cow] = [file('x.img', MiB), file('c.cow', 16 * MiB)];
    await expect(
      formatFiles(
        [
          { name: 'a', path: x },
          { name: 'b', path: x },
        ],
        cow,
      ),
    ).rejects.toMatchObject({ message: `origin b (${x}) is the same file as origin a (${x})` });
  });

  test('add-origin refuses a file that is already an origin, or the COW', async () => {
    const [x, cow] = [file('x.img', MiB), file('c.cow', 16 * MiB)];
    await formatFiles(x, cow);
    await expect(
      addOriginFile({ origin: x, cow }, { name: 'b', path: x }, { name: 'a', path: x }),
    ).rejects.toMatchObject({ message: `origin b (${x}) is the same file as origin a (${x})` });
    await expect(
      addOriginFile({ origin: x, cow }, { name: 'b', path: cow }, { name: 'a', path: x }),
    ).rejects.toMatchObject({ message: `origin b (${cow}) is the COW itself: a store cannot hold its own origin` });
    // the store is as it was: still one unnamed origin
    const opened = await openFiles({ origin: x, cow });
    expect(opened.store.named).toBe(false);
    await opened.close();
  });

  test('an open that is given one file for two origins is refused', async () => {
    const [x, y, cow] = [file('x.img', MiB), file('y.img', MiB), file('c.cow', 16 * MiB)];
    await formatFiles(
      [
        { name: 'a', path: x },
        { name: 'b', path: y },
      ],
      cow,
    );
    await expect(openFiles({ cow, paths: new Map([['b', x]]) })).rejects.toMatchObject({
      message: `origin b (${x}) is the same file as origin a (${x})`,
    });
    const opened = await openFiles({ cow }); // and the lock was given back
    await opened.close();
  });
});
