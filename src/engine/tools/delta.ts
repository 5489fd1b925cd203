// Where two versions differ, from the metadata alone: a chunk no version has an entry
// for reads the origin file in every version, so only chunks with entries are looked
// at, and of those only the ones the two versions find in different places (the origin
// file, or different COW chunks). Unchanged data is never read. Two COW chunks may
// happen to hold the same bytes: such a chunk is reported, which costs a send some
// bytes and never loses a change.
import { ExceptionKind, chunkKey, MAX_CHUNKS } from '../../format/records';
import { Version } from '../../snap/version-tree';
import type { Core } from '../metadata/core';

/** Chunk keys looked at per turn of the metadata lock. */
const PAGE = 1024;

/** A run of bytes of an image. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Where version `v` reads chunk c from: -1 for the origin file, else the COW block. */
/** What a delta is found from: the metadata alone. */
type DeltaParts = Pick<Core, 'meta' | 'exceptions' | 'versions'>;

async function placeOf(core: DeltaParts, origin: number, chunk: number, v: Version): Promise<number> {
  if (v === core.versions.originLeaf(origin)) return -1;
  const found = await core.exceptions.nearest(origin, chunk, v);
  return found?.exception.kind === ExceptionKind.CHUNK ? found.exception.block : -1;
}

/** The chunks of `origin` that versions `a` and `b` read from different places, ascending. */
export async function* differingChunks(
  core: DeltaParts,
  origin: number,
  a: Version,
  b: Version,
): AsyncGenerator<number> {
  const end = chunkKey(origin + 1, 0);
  let from = chunkKey(origin, 0);
  for (;;) {
    const page = await core.meta.run(async () => {
      const { keys, scanned } = await core.exceptions.chunkKeys(from, end, PAGE);
      const differ: number[] = [];
      for (const key of keys) {
        const chunk = key % MAX_CHUNKS;
        if ((await placeOf(core, origin, chunk, a)) !== (await placeOf(core, origin, chunk, b))) differ.push(chunk);
      }
      return { differ, scanned };
    });
    yield* page.differ;
    if (page.scanned < 0) return;
    from = page.scanned + 1;
  }
}

/** Runs of consecutive chunks as byte ranges, the last one cut at the image's end. */
export async function* chunkRanges(
  chunks: AsyncIterable<number>,
  chunkSize: number,
  size: number,
): AsyncGenerator<ByteRange> {
  let run: { first: number; next: number } | null = null;
  const range = (r: { first: number; next: number }) => {
    const offset = r.first * chunkSize;
    return { offset, length: Math.min(r.next * chunkSize, size) - offset };
  };
  for await (const c of chunks) {
    if (run && c === run.next) run.next++;
    else {
      if (run) yield range(run);
      run = { first: c, next: c + 1 };
    }
  }
  if (run) yield range(run);
}
