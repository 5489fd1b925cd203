// The exception index: (origin, chunk, version) -> a COW chunk or an origin marker, in
// one B-tree. A leaf reads chunk c from the entry of its nearest ancestor-or-self that
// has one. Because ids grow from root to leaves, the nearest is the ancestor with the
// greatest id: scan the chunk's entries downward from the reader's id and stop at the
// first ancestor.
import { BTree } from '../btree/btree';
import { chunkKey, Exception, packException, unpackException } from '../format/records';
import { Version, VersionTree } from './version-tree';

export interface Found {
  version: Version;
  exception: Exception;
}

export class ExceptionIndex {
  constructor(
    readonly tree: BTree,
    private readonly versions: VersionTree,
  ) {}

  async nearest(origin: number, chunk: number, reader: Version): Promise<Found | null> {
    const key = chunkKey(origin, chunk);
    for await (const [, vid, value] of this.tree.entriesDescending([key, reader.id], [key, 0])) {
      const version = this.versions.get(vid);
      if (version && this.versions.isAncestorOrSelf(version, reader)) {
        return { version, exception: unpackException(value) };
      }
    }
    return null;
  }

  /**
   * The chunk keys in [from, to) that hold entries, at most `limit` of them, keeping
   * only those with an entry `wanted` accepts. `scanned` is the last key looked at
   * in full (-1 if none): a scan resumes after it.
   */
  async chunkKeys(
    from: number,
    to: number,
    limit: number,
    wanted: (vid: number) => boolean = () => true,
    enough: () => boolean = () => false,
  ): Promise<{ keys: number[]; scanned: number }> {
    const keys: number[] = [];
    let scanned = -1;
    let seen = 0;
    for await (const [k1, vid] of this.tree.entries([from, 0], [to, 0])) {
      // `enough` may end the scan early, but never before one key is whole: progress
      if (k1 !== scanned && (++seen > limit || (seen > 1 && enough()))) break;
      scanned = k1;
      if (keys[keys.length - 1] !== k1 && wanted(vid)) keys.push(k1);
    }
    return { keys, scanned };
  }

  async get(origin: number, chunk: number, vid: number): Promise<Exception | null> {
    const value = await this.tree.lookup(chunkKey(origin, chunk), vid);
    return value ? unpackException(value) : null;
  }

  put(origin: number, chunk: number, vid: number, e: Exception): Promise<void> {
    return this.tree.insert(chunkKey(origin, chunk), vid, packException(e));
  }

  remove(origin: number, chunk: number, vid: number): Promise<boolean> {
    return this.tree.remove(chunkKey(origin, chunk), vid);
  }
}
