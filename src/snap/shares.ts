// Who reads a chunk's COW copies: the rule behind the space accounting.
//
// A leaf reads chunk c from its nearest ancestor-or-self with an entry for c. So the
// readers of a COW entry at version v are the readers below v (live snapshots and hidden
// leaves; the origin leaf always reads the origin file) minus those below a nearer entry:
//   readers(v) = readersBelow(v) - sum of readersBelow(u) over the entries u nearest below v.
// An entry with one reader is that leaf's alone (deleting it frees the chunk); with more,
// it is shared; with none, it waits for reclaim.
//
// What a leaf reads from the COW in all (its referenced chunks) is kept as a sum along
// its path: each COW entry adds one at its version, and each entry right below a COW
// entry takes that one away again for the leaves below it.
import { ExceptionKind } from '../format/records';
import { Version, VersionTree } from './version-tree';

export interface ChunkEntry {
  version: Version;
  kind: ExceptionKind;
}

/** One chunk's part in the accounting, in chunks. */
export interface ChunkShares {
  /** The leaf each COW entry with one reader belongs to. */
  sole: Version[];
  shared: number; // COW entries with two or more readers
  unread: number; // COW entries no live leaf reads (deleted snapshots, awaiting reclaim)
  /** Per version: the change to what the leaves below it reference. */
  refs: Array<[Version, number]>;
}

export function chunkShares(tree: VersionTree, entries: ChunkEntry[]): ChunkShares {
  const out: ChunkShares = { sole: [], shared: 0, unread: 0, refs: [] };
  if (entries.length === 0) return out;
  // intervals nest along the tree: sorted by their start, a stack finds each entry's
  // nearest entry above
  const sorted = [...entries].sort((a, b) => a.version.lo - b.version.lo);
  const below = new Map<ChunkEntry, ChunkEntry[]>(sorted.map((e) => [e, []]));
  const stack: ChunkEntry[] = [];
  for (const e of sorted) {
    while (stack.length && stack[stack.length - 1].version.hi < e.version.lo) stack.pop();
    const above = stack[stack.length - 1];
    if (above) {
      below.get(above)!.push(e);
      if (above.kind === ExceptionKind.CHUNK) out.refs.push([e.version, -1]);
    }
    stack.push(e);
  }
  for (const e of sorted) {
    if (e.kind !== ExceptionKind.CHUNK) continue;
    out.refs.push([e.version, 1]);
    const nearer = below.get(e)!;
    const readers = tree.readersBelow(e.version) - nearer.reduce((n, u) => n + tree.readersBelow(u.version), 0);
    if (readers === 0) out.unread++;
    else if (readers > 1) out.shared++;
    else out.sole.push(soleReader(tree, e.version, nearer));
  }
  return out;
}

/** The one reader below v that no entry in `nearer` hides: down the branch that holds it. */
function soleReader(tree: VersionTree, v: Version, nearer: ChunkEntry[]): Version {
  let n = v;
  for (;;) {
    if (tree.isReader(n)) return n;
    const next = n.children.find((c) => {
      let r = tree.readersBelow(c);
      for (const u of nearer) if (tree.isAncestorOrSelf(c, u.version)) r -= tree.readersBelow(u.version);
      return r > 0;
    });
    if (!next) throw new Error(`version ${v.id}: one reader counted, none found`);
    n = next;
  }
}
