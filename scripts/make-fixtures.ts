// Golden fixtures (issue 18): small stores as today's code writes them, kept in
// test/fixtures/ so that no later change breaks a store users already have.
//
//   npx tsx scripts/make-fixtures.ts [--out DIR] [--force]
//
// Each store is built from fixed data (a seeded generator, fixed offsets and names), in
// files under a temporary directory, then every file is stored gzip-compressed as
// `<store>.<part>.gz` in DIR (default test/fixtures), with manifest.json: per store its
// format, chunk size, COW size, and per origin its name, recorded path and identity, its
// schedules, its snapshots with their parents, and a sha256 of every image (the origin
// and each snapshot) read whole through the store API. The manifest holds no creation
// times or uuids, which differ from run to run (the store's files do too, in those few
// bytes): a second run makes a byte-identical manifest.
//
// The fixtures stand for stores users have: they are made once and never again to make
// a test pass. This refuses to overwrite them unless given --force.
import { createHash } from 'crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { gzipSync } from 'zlib';
import { FileDevice } from '../src/block/file-device';
import { checkStore } from '../src/engine/tools/check';
import { NamedOrigin, OriginIdentity, ORIGIN_IMAGE, Store, Volume } from '../src/engine/store';

const KiB = 1024;
const MiB = 1024 * KiB;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const OUT = resolve(arg('out') ?? join(__dirname, '../test/fixtures'));
const FORCE = process.argv.includes('--force');

// ---- data ------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every run writes the same bytes. */
function generator(seed: number): (n: number) => Buffer {
  let s = seed >>> 0;
  return (n) => {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      buf[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
    return buf;
  };
}

/**
 * `n` bytes that compress well but differ everywhere that matters: each 4 KiB block
 * starts with a line naming `label` and the block, the rest is a byte of the label's.
 */
function pattern(label: string, n: number): Buffer {
  const fill = createHash('sha256').update(label).digest()[0];
  const buf = Buffer.alloc(n, fill);
  for (let at = 0; at < n; at += 4 * KiB) buf.write(`${label} block ${at / (4 * KiB)}\n`, at, 'latin1');
  return buf;
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

// ---- the manifest (test/unit/format/fixtures.test.ts reads it by these types) ----------

export interface SnapshotEntry {
  id: string;
  parent: string; // "origin", a snapshot id, or "-" where the parent was deleted
  schedule: string;
  sha256: string;
}

export interface OriginEntry {
  name: string; // "" in a store of one origin
  file: string; // the fixture file of the origin's image
  path: string; // the path the store records for it ("" in a store of one origin)
  size: number;
  identity: OriginIdentity;
  sha256: string;
  schedules: Array<{ name: string; every: number; keep: number }>;
  snapshots: SnapshotEntry[];
}

export interface StoreEntry {
  name: string;
  description: string;
  formatVersion: number;
  chunkSize: number;
  cow: { file: string; size: number };
  origins: OriginEntry[];
}

// ---- building --------------------------------------------------------------------

/** A store under construction in a temporary directory, and its files. */
class Building {
  readonly files = new Map<string, string>(); // fixture part -> temporary path

  constructor(
    readonly dir: string,
    readonly name: string,
  ) {}

  /** A file of `size` bytes holding `content` at its start (sparse beyond). */
  file(part: string, size: number, content?: Buffer): string {
    const path = join(this.dir, `${this.name}.${part}`);
    writeFileSync(path, content ?? Buffer.alloc(0));
    truncateSync(path, size);
    this.files.set(part, path);
    return path;
  }
}

/** The origin's first content: a pattern per 4 KiB block, a short last one if the size says so. */
function originContent(label: string, size: number): Buffer {
  return pattern(`${label} at format`, size);
}

async function imageHash(v: Volume, image: string): Promise<string> {
  const buf = Buffer.alloc(v.originSize);
  await v.read(image, buf, 0);
  return sha256(buf);
}

async function describeVolume(
  v: Volume,
  b: Building,
  part: string,
  identity: OriginIdentity,
  path: string,
): Promise<OriginEntry> {
  const snapshots: SnapshotEntry[] = [];
  for (const s of v.snapshots()) {
    snapshots.push({ id: s.id, parent: s.parent, schedule: s.schedule, sha256: await imageHash(v, s.id) });
  }
  return {
    name: v.name,
    file: `${b.name}.${part}.gz`,
    path,
    size: v.originSize,
    identity,
    sha256: await imageHash(v, ORIGIN_IMAGE),
    schedules: v.schedules().map((s) => ({ name: s.name, every: s.every, keep: s.keep })),
    snapshots,
  };
}

/** Background work done (reclaim, held writes), and the checker finds nothing wrong. */
async function finish(store: Store): Promise<void> {
  await store.idle();
  const problems = await checkStore(store.internals);
  if (problems.length) throw new Error(`the store built is not sound:\n${problems.join('\n')}`);
}

// Identities as if the files had been on a real file system at format (the CLI records
// them); the test opens with them, so that the recorded ones are checked too.
const ident = (ino: number): OriginIdentity => ({ dev: 2049, ino, rdev: 0 });

/**
 * Format 1: a store of one unnamed origin of 1 MiB, 4 KiB chunks. Snapshots of the
 * origin and of a snapshot, writes to both between the creates, a snapshot whose parent
 * was deleted, a deleted leaf, a reclaim pass done, a schedule and a snapshot tagged with
 * it (taken here by hand, named as the scheduler names them).
 */
async function format1(dir: string): Promise<StoreEntry> {
  const b = new Building(dir, 'format1');
  const SIZE = 1 * MiB;
  const CHUNK = 4 * KiB;
  const identity = ident(1001);
  const rand = generator(1);
  const originPath = b.file('origin', SIZE, originContent('format1 origin', SIZE));
  const cowPath = b.file('cow', 4 * MiB);
  {
    const [o, c] = [await FileDevice.open(originPath), await FileDevice.open(cowPath)];
    await Store.format(o, c, { chunkSize: CHUNK, originIdentity: identity });
    await Promise.all([o.close(), c.close()]);
  }
  const store = await Store.open(await FileDevice.open(originPath), await FileDevice.open(cowPath), {
    commitInterval: 0,
    originIdentity: identity,
  });
  const v = store.volume();
  await v.create('base');
  await v.write(ORIGIN_IMAGE, rand(5000), 3 * CHUNK + 100); // across chunks 3 and 4, unaligned
  await v.write(ORIGIN_IMAGE, pattern('format1 origin write 1', 2 * CHUNK), 0);
  if ((await v.create()) !== '1') throw new Error('the default snapshot id is not 1');
  await v.write('base', rand(300), 10 * CHUNK); // a snapshot written
  await v.write('base', pattern('format1 base write', CHUNK), 3 * CHUNK); // where the origin changed since
  await v.create('base.child', 'base'); // a snapshot of a snapshot
  await v.write('base.child', rand(100), 10 * CHUNK + 50);
  await v.write(ORIGIN_IMAGE, pattern('format1 origin write 2', 3 * CHUNK + 17), 200 * CHUNK);
  await v.create('mid');
  await v.create('mid.child', 'mid');
  await v.write('mid', rand(200), 50 * CHUNK);
  await v.write(ORIGIN_IMAGE, pattern('format1 origin write 3', CHUNK), 50 * CHUNK);
  await v.delete('mid'); // mid.child's parent is gone
  await v.create('doomed');
  await v.write(ORIGIN_IMAGE, pattern('format1 origin write 4', 2 * CHUNK), 120 * CHUNK);
  await v.write('doomed', rand(64), 0);
  await v.delete('doomed');
  await store.idle(); // the reclaim pass runs to its end
  await v.setSchedule({ name: 'hourly', every: 3600, keep: 24 });
  await v.create('hourly-20250101-000000', ORIGIN_IMAGE, 'hourly');
  await v.write(ORIGIN_IMAGE, rand(CHUNK + 10), SIZE - CHUNK - 10); // up to the last byte
  await finish(store);
  const entry: StoreEntry = {
    name: b.name,
    description: 'a store of one origin (1 MiB, 4 KiB chunks) with snapshots, deletes done and a schedule',
    formatVersion: store.internals.sb.formatVersion,
    chunkSize: store.chunkSize,
    cow: { file: `${b.name}.cow.gz`, size: 4 * MiB },
    origins: [await describeVolume(v, b, 'origin', identity, '')],
  };
  await store.close();
  await pack(b, entry);
  return entry;
}

/**
 * Format 2: a store formatted for two named origins, 64 KiB chunks; beta's size is not
 * a whole number of chunks. Each has snapshots (one name in both), writes to the
 * origins and snapshots, a snapshot of a snapshot; beta a deleted snapshot and a schedule.
 */
async function format2(dir: string): Promise<StoreEntry> {
  const b = new Building(dir, 'format2');
  const CHUNK = 64 * KiB;
  const sizes = { alpha: 512 * KiB, beta: 320 * KiB + 1536 };
  const ids = { alpha: ident(2001), beta: ident(2002) };
  const paths = { alpha: '/srv/images/alpha.img', beta: '/srv/images/beta.img' };
  const rand = generator(2);
  const originPaths = {
    alpha: b.file('alpha', sizes.alpha, originContent('format2 alpha', sizes.alpha)),
    beta: b.file('beta', sizes.beta, originContent('format2 beta', sizes.beta)),
  };
  const cowPath = b.file('cow', 4 * MiB);
  const names = ['alpha', 'beta'] as const;
  {
    const named: NamedOrigin[] = [];
    for (const n of names) {
      named.push({ name: n, device: await FileDevice.open(originPaths[n]), path: paths[n], identity: ids[n] });
    }
    const c = await FileDevice.open(cowPath);
    await Store.format(named, c, { chunkSize: CHUNK });
    await Promise.all([c.close(), ...named.map((o) => o.device.close())]);
  }
  const store = await Store.open(
    async (o) => {
      const n = o.name as (typeof names)[number];
      return { device: await FileDevice.open(originPaths[n]), identity: ids[n] };
    },
    await FileDevice.open(cowPath),
    { commitInterval: 0 },
  );
  const [alpha, beta] = [store.volume('alpha'), store.volume('beta')];
  await alpha.create('before');
  await beta.create('before'); // the same id, another origin
  await alpha.write(ORIGIN_IMAGE, rand(20), CHUNK - 10); // across chunks 0 and 1
  await beta.write(ORIGIN_IMAGE, pattern('format2 beta write 1', CHUNK), 2 * CHUNK);
  await alpha.create('before.clone', 'before');
  await alpha.write('before.clone', rand(500), 3 * CHUNK + 7);
  await alpha.write('before', pattern('format2 alpha before write', 2 * CHUNK), 4 * CHUNK);
  if ((await beta.create()) !== '1') throw new Error('the default snapshot id is not 1');
  await beta.write('1', rand(1000), sizes.beta - 1000); // the short last chunk
  await beta.create('gone');
  await beta.write(ORIGIN_IMAGE, pattern('format2 beta write 2', CHUNK + 1), 0);
  await beta.delete('gone');
  await store.idle();
  await beta.setSchedule({ name: 'frequent', every: 300, keep: 12 });
  await beta.create('frequent-20250101-120000', ORIGIN_IMAGE, 'frequent');
  await alpha.write(ORIGIN_IMAGE, pattern('format2 alpha write 2', CHUNK), sizes.alpha - CHUNK);
  await beta.write(ORIGIN_IMAGE, rand(100), sizes.beta - 100);
  await finish(store);
  const entry: StoreEntry = {
    name: b.name,
    description: 'a store formatted for two named origins (64 KiB chunks) with snapshots, a delete done and a schedule',
    formatVersion: store.internals.sb.formatVersion,
    chunkSize: store.chunkSize,
    cow: { file: `${b.name}.cow.gz`, size: 4 * MiB },
    origins: [
      await describeVolume(alpha, b, 'alpha', ids.alpha, paths.alpha),
      await describeVolume(beta, b, 'beta', ids.beta, paths.beta),
    ],
  };
  await store.close();
  await pack(b, entry);
  return entry;
}

/**
 * Format 2 the other way: a store of one origin (4 KiB chunks) with snapshots, which
 * `addOrigin` made a store of named origins, naming its first; both then had more.
 */
async function converted(dir: string): Promise<StoreEntry> {
  const b = new Building(dir, 'converted');
  const CHUNK = 4 * KiB;
  const sizes = { first: 256 * KiB, second: 128 * KiB };
  const ids = { first: ident(3001), second: ident(3002) };
  const paths = { first: '/srv/images/first.img', second: '/srv/images/second.img' };
  const rand = generator(3);
  const originPaths = {
    first: b.file('first', sizes.first, originContent('converted first', sizes.first)),
    second: b.file('second', sizes.second, originContent('converted second', sizes.second)),
  };
  const cowPath = b.file('cow', 2 * MiB);
  {
    const [o, c] = [await FileDevice.open(originPaths.first), await FileDevice.open(cowPath)];
    await Store.format(o, c, { chunkSize: CHUNK, originIdentity: ids.first });
    await Promise.all([o.close(), c.close()]);
  }
  let store = await Store.open(await FileDevice.open(originPaths.first), await FileDevice.open(cowPath), {
    commitInterval: 0,
    originIdentity: ids.first,
  });
  let first = store.volume();
  await first.create('old');
  await first.write(ORIGIN_IMAGE, pattern('converted first write 1', 3 * CHUNK), 5 * CHUNK);
  await first.create('old.child', 'old');
  await first.write('old', rand(1000), 6 * CHUNK + 1);
  await store.addOrigin(
    { name: 'second', device: await FileDevice.open(originPaths.second), path: paths.second, identity: ids.second },
    { name: 'first', path: paths.first },
  );
  await store.close();
  store = await Store.open(
    async (o) => {
      const n = o.name as 'first' | 'second';
      return { device: await FileDevice.open(originPaths[n]), identity: ids[n] };
    },
    await FileDevice.open(cowPath),
    { commitInterval: 0 },
  );
  first = store.volume('first');
  const second = store.volume('second');
  await second.create('new');
  await second.write(ORIGIN_IMAGE, rand(CHUNK), 0);
  await first.create('after');
  await first.write(ORIGIN_IMAGE, pattern('converted first write 2', CHUNK), 5 * CHUNK);
  await second.write('new', pattern('converted second new write', CHUNK), 10 * CHUNK);
  await finish(store);
  const entry: StoreEntry = {
    name: b.name,
    description: 'a store of one origin (4 KiB chunks) that addOrigin made a store of two named origins',
    formatVersion: store.internals.sb.formatVersion,
    chunkSize: store.chunkSize,
    cow: { file: `${b.name}.cow.gz`, size: 2 * MiB },
    origins: [
      await describeVolume(first, b, 'first', ids.first, paths.first),
      await describeVolume(second, b, 'second', ids.second, paths.second),
    ],
  };
  await store.close();
  await pack(b, entry);
  return entry;
}

/** Gzip each of the store's files into OUT: those its entry names, no more, no fewer. */
async function pack(b: Building, entry: StoreEntry): Promise<void> {
  for (const [part, path] of b.files) {
    writeFileSync(join(OUT, `${b.name}.${part}.gz`), gzipSync(readFileSync(path), { level: 9 }));
  }
  const expected = [entry.cow.file, ...entry.origins.map((o) => o.file)].sort();
  const made = [...b.files.keys()].map((p) => `${b.name}.${p}.gz`).sort();
  if (expected.join() !== made.join()) throw new Error(`${b.name}: made ${made.join()}, the entry names ${expected}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (!FORCE && existsSync(join(OUT, 'manifest.json'))) {
    console.error(`${OUT} holds fixtures already: they stand for stores users have and are not made again`);
    console.error('(--out DIR to make a set elsewhere; --force to overwrite)');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'snapfuse-fixtures-'));
  try {
    const stores = [await format1(dir), await format2(dir), await converted(dir)];
    const manifest = {
      comment: 'Made by scripts/make-fixtures.ts; see README.md. Never regenerate these to make a test pass.',
      stores,
    };
    writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    for (const s of stores) console.log(`${s.name}: format ${s.formatVersion}, ${s.origins.length} origin(s)`);
    console.log(`wrote ${OUT}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
