// The space audit: every block the metadata references is owned exactly once, every
// owned block is marked used in the space map, and every used block is owned (no leak).
// Run at a quiet moment; it reads the current state (committed plus this transaction).
import { ExceptionKind, unpackException } from '../format/records';
import { readU64 } from '../format/layout';
import { BTree } from '../btree/btree';
import { Core } from './core';

export async function auditSpace(core: Core): Promise<string[]> {
  return core.meta.run(async () => {
    const problems: string[] = [];
    const owner = new Map<number, string>();
    const own = (b: number, who: string) => {
      const had = owner.get(b);
      if (had) problems.push(`block ${b} is owned twice: by ${had} and by ${who}`);
      else owner.set(b, who);
    };
    own(0, 'superblock 0');
    own(1, 'superblock 1');
    const trees: Array<[string, BTree]> = [
      ['space-map index', core.sm.index],
      ['version table', core.versionTable],
      ['origin table', core.originTable],
      ['exception index', core.exceptions.tree],
    ];
    for (const [name, tree] of trees) await tree.walk((loc) => own(loc, `${name} node`));
    for await (const [i, , value] of core.sm.index.entries()) own(readU64(value, 0), `bitmap ${i}`);
    for await (const [key, vid, value] of core.exceptions.tree.entries()) {
      const { origin, chunk } = core.splitKey(key);
      if (!core.versions.get(vid))
        problems.push(`exception (origin ${origin}, chunk ${chunk}) names missing version ${vid}`);
      const e = unpackException(value);
      if (e.kind !== ExceptionKind.CHUNK) continue;
      for (let b = e.block; b < e.block + core.chunkBlocks; b++) own(b, `chunk ${chunk} of version ${vid}`);
    }
    let used = 0;
    for (let b = 0; b < core.sb.totalBlocks; b++) {
      const isUsed = await core.sm.isUsed(b);
      if (isUsed) used++;
      if (isUsed && !owner.has(b)) problems.push(`block ${b} is used but nothing owns it (leak)`);
      if (!isUsed && owner.has(b)) problems.push(`block ${b} is free but owned by ${owner.get(b)}`);
    }
    const counts = core.sm.counts();
    if (counts.total - counts.free !== used) {
      problems.push(`space map counts ${counts.total - counts.free} used blocks, its bits say ${used}`);
    }
    return problems;
  });
}
