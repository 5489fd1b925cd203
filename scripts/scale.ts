// Scale check for the store (issue: 10,000 live snapshots, 100,000 over the store's life).
//
//   node --expose-gc --import tsx scripts/scale.ts [--live 10000] [--total 100000] [--dir /dev/shm] [--cache 16M]
//
// 1. creates --live snapshots of the origin, then writes every chunk of the origin once:
//    the copy-outs must be one per chunk, not one per chunk per snapshot;
//    then epochs of (create a snapshot, write random chunks): one copy-out per distinct
//    chunk per epoch;
// 2. keeps creating and deleting (rolling) until --total snapshots were made;
// 3. reports heap and RSS against the cache budget plus a record per version.
import { mkdtempSync, rmSync, writeFileSync, truncateSync } from 'fs';
import { join } from 'path';
import { FileDevice } from '../src/block/file-device';
import { Store } from '../src/engine/store';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const size = (s: string) =>
  Number(s.replace(/[KMG]$/i, '')) * ({ K: 1024, M: 1 << 20, G: 1 << 30 }[s.slice(-1).toUpperCase()] ?? 1);

const LIVE = Number(arg('live', '10000'));
const TOTAL = Number(arg('total', '100000'));
const CACHE = size(arg('cache', '16M'));
const CHUNK = 64 * 1024;
const ORIGIN = 64 << 20;
const dir = mkdtempSync(join(arg('dir', '/dev/shm'), 'snapfuse-scale-'));
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const originPath = join(dir, 'origin.img');
  const cowPath = join(dir, 'cow.img');
  writeFileSync(originPath, Buffer.alloc(0));
  truncateSync(originPath, ORIGIN);
  writeFileSync(cowPath, Buffer.alloc(0));
  truncateSync(cowPath, 4 * 2 ** 30);
  const [o, c] = [await FileDevice.open(originPath), await FileDevice.open(cowPath)];
  await Store.format(o, c, { chunkSize: CHUNK });
  await Promise.all([o.close(), c.close()]);
  const store = await Store.open(await FileDevice.open(originPath), await FileDevice.open(cowPath), {
    cacheSize: CACHE,
  });
  const core = store.internals;
  global.gc?.();
  const base = process.memoryUsage();
  let t = Date.now();
  for (let i = 0; i < LIVE; i++) await store.volume().create(`s${i}`);
  const createMs = (Date.now() - t) / LIVE;
  console.log(`created ${LIVE} snapshots: ${createMs.toFixed(2)} ms each`);

  const chunks = ORIGIN / CHUNK;
  const data = Buffer.alloc(CHUNK, 0xab);
  let before = store.status().copyOuts;
  t = Date.now();
  for (let c = 0; c < chunks; c++) await store.volume().write('origin', data, c * CHUNK);
  for (let c = 0; c < chunks; c++) await store.volume().write('origin', data, c * CHUNK); // again: no copy-out
  await store.sync(); // held writes are copied out by then: count them all
  let copies = store.status().copyOuts - before;
  console.log(`origin writes over ${LIVE} snapshots: ${copies} copy-outs for ${chunks} chunks (${Date.now() - t} ms)`);
  if (copies !== chunks) throw new Error(`expected ${chunks} copy-outs`);

  let expected = 0;
  before = store.status().copyOuts;
  for (let e = 0; e < 20; e++) {
    await store.volume().create(`epoch${e}`);
    const touched = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const c = Math.floor(Math.random() * chunks);
      touched.add(c);
      await store.volume().write('origin', data.subarray(0, 4096), c * CHUNK + 512);
    }
    expected += touched.size;
  }
  await store.sync(); // the last epoch's held writes too
  copies = store.status().copyOuts - before;
  console.log(`20 epochs: ${copies} copy-outs, ${expected} distinct chunks per epoch summed`);
  if (copies !== expected) throw new Error(`expected ${expected} copy-outs`);

  await store.volume().sync();
  global.gc?.();
  const mem = process.memoryUsage();
  const versions = core.versions.size;
  console.log(
    `memory with ${versions} versions: heap +${mib(mem.heapUsed - base.heapUsed)}, rss ${mib(mem.rss)}; ` +
      `cache budget ${mib(CACHE)}, cached ${mib(core.tm.cachedBytes)}, ` +
      `${Math.round((mem.heapUsed - base.heapUsed - core.tm.cachedBytes) / versions)} bytes per version beyond the cache`,
  );

  // rolling: keep LIVE live while creating up to TOTAL over the store's life
  t = Date.now();
  const queue = Array.from({ length: LIVE }, (_, i) => `s${i}`);
  let made = LIVE + 20;
  while (made < TOTAL) {
    const name = `r${made++}`;
    await store.volume().create(name);
    queue.push(name);
    await store.volume().delete(queue.shift()!);
  }
  const pairs = made - LIVE - 20;
  const rollMs = Date.now() - t;
  console.log(`rolling: ${pairs} create+delete pairs, ${(rollMs / Math.max(1, pairs)).toFixed(2)} ms a pair`);
  t = Date.now();
  await store.idle();
  console.log(`reclaim after the last delete: ${Date.now() - t} ms; ${store.volume().snapshots().length} live`);
  await store.close();
  console.log(`summary: ${made} snapshots made, ${LIVE} live at peak, copy-outs as expected`);
}

main()
  .catch((e) => {
    console.error(`scale: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
