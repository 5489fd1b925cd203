// The checker: walks every metadata block and reports, one line each, what is wrong.
//   - every B-tree: checksums, own locations, key order and bounds, equal leaf depth;
//   - versions: one origin leaf per origin, the origin table agrees, no childless
//     interior version outside a reclaim pass;
//   - exceptions: their version exists, the chunk lies in the origin, a COW chunk is
//     aligned and inside the COW, and the origin leaf never reads a COW chunk;
//   - space: every referenced block owned once and marked used, every used block
//     owned (no leak), the free count true.
// It reads the current state (committed plus this transaction): run it on a quiet store.
// On the way it counts what the space holds: metadata blocks and referenced COW chunks.
import { BLOCK_SIZE, readU64 } from '../../format/layout';
import { ExceptionKind, unpackException, VersionKind } from '../../format/records';
import { BTree } from '../../btree/btree';
import { splitKey } from '../origins';
import { Core } from '../metadata/core';
import { CowChunks } from '../io/cow-chunks';

export type Progress = (phase: string, done: number, total: number) => void;

/** What the store's space holds, as far as the walk could read it. */
export interface SpaceUsage {
  /** Blocks owned by superblocks, B-tree nodes and space-map bitmaps, in bytes. */
  metadataBytes: number;
  /** COW chunks referenced by exceptions, in bytes: whole chunks, even for the origin's short last one. */
  dataBytes: number;
}

export interface CheckReport extends SpaceUsage {
  problems: string[];
}

/** The problems of the store, one line each; none when it is sound. */
export async function checkStore(core: Core, progress: Progress = () => undefined): Promise<string[]> {
  return (await checkStoreReport(core, progress)).problems;
}

/** The problems, and the space usage counted on the way. */
export async function checkStoreReport(core: Core, progress: Progress = () => undefined): Promise<CheckReport> {
  // as a commit does: wait out any chunk allocated and not yet recorded (a copy-out, a
  // snapshot write), so that what is checked is a state a commit could write
  return core.pin.withExclusive(() => core.meta.run(() => walkStore(core, progress)));
}

async function walkStore(core: Core, progress: Progress): Promise<CheckReport> {
  const problems: string[] = [];
  const owner = new Map<number, string>();
  let metadataBlocks = 0;
  let dataChunks = 0;
  const own = (b: number, who: string) => {
    const had = owner.get(b);
    if (had) problems.push(`block ${b} is owned twice: by ${had} and by ${who}`);
    else owner.set(b, who);
  };
  const ownMetadata = (b: number, who: string) => {
    metadataBlocks++;
    own(b, who);
  };
  ownMetadata(0, 'superblock 0');
  ownMetadata(1, 'superblock 1');

  // ---- trees -------------------------------------------------------------------
  const trees: Array<[string, BTree]> = [
    ['space-map index', core.sm.index],
    ['version table', core.versionTable],
    ['origin table', core.originTable],
    ['exception index', core.exceptions.tree],
  ];
  const sound = new Set<BTree>();
  for (const [name, tree] of trees) {
    try {
      await tree.walk((loc) => ownMetadata(loc, `${name} node`));
      sound.add(tree);
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (sound.has(core.sm.index)) {
    for await (const [i, , value] of core.sm.index.entries()) ownMetadata(readU64(value, 0), `space-map bitmap ${i}`);
  }

  // ---- versions ----------------------------------------------------------------
  const { versions } = core;
  for (const [id, o] of core.origins.entries()) {
    const leaf = versions.originLeaf(id);
    if (o.leaf !== leaf.id)
      problems.push(`origin ${id}: the origin table names leaf ${o.leaf}, the versions ${leaf.id}`);
  }
  if (!core.record.reclaim.value.running) {
    for (const v of versions.all()) {
      if (v.kind === VersionKind.INTERIOR && v.children.length === 0)
        problems.push(`version ${v.id}: interior with no child`);
    }
  }

  // ---- exceptions --------------------------------------------------------------
  if (sound.has(core.exceptions.tree)) {
    const total = await core.exceptions.tree.count();
    let done = 0;
    let lastKey = -1;
    for await (const [key, vid, value] of core.exceptions.tree.entries()) {
      if (++done % 4096 === 0) progress('exceptions', done, total);
      const { origin, chunk } = splitKey(key);
      const where = `exception (origin ${origin}, chunk ${chunk}, version ${vid})`;
      const o = core.origins.find(origin);
      if (!o) problems.push(`${where}: no such origin`);
      else if (chunk * core.chunkSize >= o.size) problems.push(`${where}: the chunk lies past the origin's end`);
      if (!versions.get(vid)) problems.push(`${where}: no such version`);
      let e;
      try {
        e = unpackException(value);
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
        continue;
      }
      if (e.kind === ExceptionKind.CHUNK) {
        if (e.block % core.chunkBlocks !== 0 || e.block + core.chunkBlocks > core.sb.totalBlocks) {
          problems.push(`${where}: COW chunk at block ${e.block} is misaligned or outside the COW`);
          continue;
        }
        dataChunks++;
        for (let b = e.block; b < e.block + core.chunkBlocks; b++) own(b, where);
      }
      if (key !== lastKey && o) {
        lastKey = key;
        const found = await core.exceptions.nearest(origin, chunk, versions.originLeaf(origin));
        if (found?.exception.kind === ExceptionKind.CHUNK) {
          problems.push(
            `origin ${origin} chunk ${chunk}: the origin leaf reads a COW chunk (version ${found.version.id})`,
          );
        }
      }
    }
    progress('exceptions', total, total);
  }

  // ---- space -------------------------------------------------------------------
  if (sound.size === trees.length) {
    let used = 0;
    const total = core.sb.totalBlocks;
    for (let b = 0; b < total; b++) {
      if (b % 65536 === 0) progress('space map', b, total);
      const isUsed = await core.sm.isUsed(b);
      if (isUsed) used++;
      if (isUsed && !owner.has(b)) problems.push(`block ${b} is used but nothing owns it (leak)`);
      if (!isUsed && owner.has(b)) problems.push(`block ${b} is free but owned by ${owner.get(b)}`);
    }
    progress('space map', total, total);
    const counts = core.sm.counts();
    if (counts.total - counts.free !== used) {
      problems.push(`space map counts ${counts.total - counts.free} used blocks, its bits say ${used}`);
    }
  }
  return { problems, metadataBytes: metadataBlocks * BLOCK_SIZE, dataBytes: dataChunks * core.chunkSize };
}

/**
 * The scrub: read every COW chunk and check it against the crc32c its entry keeps.
 * A chunk that rotted is named with the snapshots that read it.
 */
export async function scrubData(core: Core, progress: Progress = () => undefined): Promise<string[]> {
  const problems: string[] = [];
  const cowChunks = new CowChunks(core.cow);
  const entries: Array<[number, number, Buffer]> = [];
  await core.meta.run(async () => {
    for await (const entry of core.exceptions.tree.entries()) entries.push(entry);
  });
  let done = 0;
  for (const [key, vid, value] of entries) {
    if (++done % 256 === 0) progress('data', done, entries.length);
    const e = unpackException(value);
    if (e.kind !== ExceptionKind.CHUNK) continue;
    const { origin, chunk } = splitKey(key);
    try {
      await cowChunks.read(e.block, core.origins.chunkLength(origin, chunk), e.crc);
    } catch (err) {
      const readers: string[] = [];
      await core.meta.run(async () => {
        for (const s of core.versions.snapshots(origin)) {
          if ((await core.exceptions.nearest(origin, chunk, s))?.version.id === vid) readers.push(s.name);
        }
      });
      const who = readers.length ? `snapshots reading it: ${readers.join(', ')}` : 'no snapshot reads it';
      problems.push(`origin ${origin} chunk ${chunk} (version ${vid}): ${(err as Error).message}; ${who}`);
    }
  }
  progress('data', entries.length, entries.length);
  return problems;
}
