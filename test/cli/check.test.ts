// `snapfuse check`: clean on a sound store, and damage anywhere in the metadata named
// by block in one line, exit 1.
import { spawnSync } from 'child_process';
import { mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { FileDevice } from '../../src/block/file-device';
import { Store } from '../../src/engine/store';
import { BLOCK_SIZE } from '../../src/format/layout';
import { CLI } from '../helpers/e2e';

const dir = mkdtempSync(join(tmpdir(), 'snapfuse-check-'));
const env = { ...process.env, SNAPFUSE_LOCK_DIR: join(dir, 'locks') };
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
const origin = join(dir, 'o.img');
const cow = join(dir, 'c.cow');

function flip(file: string, pos: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, pos);
  b[0] ^= 0x40;
  writeSync(fd, b, 0, 1, pos);
  closeSync(fd);
}

describe('snapfuse check', () => {
  let roots: { exceptions: number; versions: number };
  beforeAll(async () => {
    writeFileSync(origin, '');
    truncateSync(origin, 4 << 20);
    writeFileSync(cow, '');
    truncateSync(cow, 16 << 20);
    expect(run('format', origin, cow, '--chunk-size', '4K').status).toBe(0);
    // some history: snapshots, copy-outs, snapshot writes, a delete
    const store = await Store.open(await FileDevice.open(origin), await FileDevice.open(cow));
    for (let i = 0; i < 5; i++) {
      await store.volume().create(`s${i}`);
      for (let c = 0; c < 300; c++) await store.volume().write('origin', Buffer.alloc(512, i + c), c * 8192);
      await store.volume().write(`s${i}`, Buffer.alloc(6000, 9), i * 100_000);
    }
    await store.volume().delete('s1');
    await store.idle();
    roots = { exceptions: store.internals.exceptions.tree.root, versions: store.internals.versionTable.root };
    await store.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a sound store is clean, exit 0; --json says so', () => {
    const r = run('check', origin, cow);
    expect(r.stderr).toMatch(/^(check[ a-z]*: \d+%\n)+$/); // not a terminal: a plain line each tenth
    expect(r.stdout.trim()).toBe(`${cow}: clean`);
    expect(r.status).toBe(0);
    expect(JSON.parse(run('check', origin, cow, '--json').stdout)).toMatchObject({ clean: true, problems: [] });
  });

  test('--json counts metadata and copied data, which add up to the used space', async () => {
    const { metadataBytes, dataBytes } = JSON.parse(run('check', origin, cow, '--json').stdout);
    const store = await Store.open(await FileDevice.open(origin), await FileDevice.open(cow), { readOnly: true });
    const { usedBytes } = store.status();
    await store.close();
    // 4 live snapshots each kept the 300 chunks the origin overwrote after it (s1's went with it)
    expect(dataBytes).toBeGreaterThanOrEqual(4 * 300 * 4096);
    expect(dataBytes % 4096).toBe(0);
    expect(metadataBytes).toBeGreaterThan(2 * BLOCK_SIZE); // superblocks and at least the trees' roots
    expect(metadataBytes).toBeLessThan(dataBytes);
    expect(metadataBytes + dataBytes).toBe(usedBytes); // nothing leaked, nothing else owns space
  });

  test('a flipped bit in the exception index is named by block, exit 1', () => {
    flip(cow, roots.exceptions * BLOCK_SIZE + 200);
    const r = run('check', origin, cow, '--json');
    expect(r.status).toBe(1);
    const { clean, problems } = JSON.parse(r.stdout);
    expect(clean).toBe(false);
    expect(problems[0]).toMatch(
      new RegExp(
        `exception index: block ${roots.exceptions}: B-tree node checksum is 0x[0-9a-f]+, should be 0x[0-9a-f]+`,
      ),
    );
    flip(cow, roots.exceptions * BLOCK_SIZE + 200);
    expect(run('check', origin, cow).status).toBe(0);
  });

  test('a rotted data chunk: the scrub names it and the snapshots reading it; a read of it is EIO', async () => {
    expect(run('check', origin, cow, '--data').status).toBe(0);
    // find a COW chunk that snapshot s0 reads, and rot one byte of it
    const store = await Store.open(await FileDevice.open(origin), await FileDevice.open(cow), { readOnly: true });
    const core = store.internals;
    const s0 = core.versions.snapshot(0, 's0')!;
    const found = (await core.exceptions.nearest(0, 0, s0))!;
    expect(found.exception.kind).toBe(1);
    const block = (found.exception as { block: number }).block;
    await store.close();
    flip(cow, block * BLOCK_SIZE + 100);
    expect(run('check', origin, cow).status).toBe(0); // metadata is sound
    const r = run('check', origin, cow, '--data');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        `chunk 0 .*block ${block}: data checksum is 0x[0-9a-f]+, should be 0x[0-9a-f]+; snapshots reading it: s0\\b`,
      ),
    );
    const again = await Store.open(await FileDevice.open(origin), await FileDevice.open(cow));
    await expect(again.volume().read('s0', Buffer.alloc(512), 0)).rejects.toMatchObject({
      code: 'CORRUPTION',
      errno: 'EIO',
    });
    expect((await again.volume().read('origin', Buffer.alloc(512), 0), 'origin reads fine')).toBeTruthy();
    await again.close();
    flip(cow, block * BLOCK_SIZE + 100);
    expect(run('check', origin, cow, '--data').status).toBe(0);
  });

  test('a store that cannot be opened is reported in one line', () => {
    flip(cow, roots.versions * BLOCK_SIZE + 300);
    const r = run('check', origin, cow);
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(new RegExp(`block ${roots.versions}`));
    flip(cow, roots.versions * BLOCK_SIZE + 300);
  });

  test('junk over one superblock is survived, over both it is reported', () => {
    const junk = Buffer.alloc(BLOCK_SIZE, 0x33);
    const fd = openSync(cow, 'r+');
    const saved = Buffer.alloc(2 * BLOCK_SIZE);
    readSync(fd, saved, 0, saved.length, 0);
    writeSync(fd, junk, 0, BLOCK_SIZE, 0);
    closeSync(fd);
    expect(run('check', origin, cow).status).toBe(0);
    const fd2 = openSync(cow, 'r+');
    writeSync(fd2, junk, 0, BLOCK_SIZE, BLOCK_SIZE);
    closeSync(fd2);
    expect(run('check', origin, cow).stdout).toMatch(/holds no snapfuse store/);
    const fd3 = openSync(cow, 'r+');
    writeSync(fd3, saved, 0, saved.length, 0);
    closeSync(fd3);
    expect(run('check', origin, cow).status).toBe(0);
  });
});
