// CopyOut: a chunk needs a copy only while another version reads the origin's data of it;
// the copy goes to the version nearest the origin on its path (or the root), with the
// old data's crc, and a marker on the origin leaf ends the need; the snapshot's figures
// count it; a version reclaim merges away hands the copy to its heir.
import { crc32c } from '@node-rs/crc32';
import { MemoryDevice } from '../../../../src/block/memory-device';
import { chunkKey, ExceptionKind } from '../../../../src/format/records';
import { Store } from '../../../../src/engine/store';
import { CopyOut } from '../../../../src/engine/io/copy-out';
import { BufferPool } from '../../../../src/util/buffer-pool';
import { checkStore } from '../../../../src/engine/tools/check';
import { Version } from '../../../../src/snap/version-tree';
import { Accounting } from '../../../../src/engine/background/accounting';
import { Faults } from '../../../../src/engine/faults';

const CHUNK = 4096;

describe('copy-out', () => {
  test('the keeper, the copy and its entries', async () => {
    const originImage = Buffer.alloc(8 * CHUNK);
    for (let i = 0; i < originImage.length; i++) originImage[i] = (i * 7) & 0xff;
    const origin = new MemoryDevice(Buffer.from(originImage));
    const cow = new MemoryDevice(8 << 20);
    await Store.format(origin, cow, { chunkSize: CHUNK });
    const store = await Store.open(origin, cow, { commitInterval: 0, writeBack: 0 });
    try {
      const core = store.internals;
      let heirs = new Map<Version, Version>();
      // its own figures (the store's stop following the tree): they must see the copy too
      const accounting = new Accounting(core, new Faults());
      accounting.kick();
      await accounting.idle();
      const copyOut = new CopyOut(core, accounting, new BufferPool(CHUNK, 4), { heirOf: (v) => heirs.get(v) ?? v });
      const keeper = (chunk: number) => core.meta.run(() => copyOut.keeper(0, chunk));

      expect(await keeper(3)).toBeNull(); // no snapshot: nobody else reads the origin
      await store.volume().create('s');
      const leaf = core.versions.originLeaf(0);
      const root = core.versions.root(leaf);
      expect(await keeper(3)).toBe(root);

      // reclaim merging the root away would hand the copy to its heir: here the origin itself
      heirs = new Map([[root, leaf]]);
      expect(await keeper(3)).toBeNull();
      heirs = new Map();

      const space = core.space.reserveChunks(1);
      const [old] = await copyOut.run([{ key: chunkKey(0, 3), space }]);
      space.release();
      const before = originImage.subarray(3 * CHUNK, 4 * CHUNK);
      expect(old.equals(before)).toBe(true);
      expect([copyOut.countOf(0), copyOut.countOf(1), copyOut.countOf()]).toEqual([1, 0, 1]);
      expect(await keeper(3)).toBeNull(); // the origin's marker: copied once only
      expect(await keeper(4)).toBe(root); // other chunks still need theirs

      const snap = core.versions.snapshot(0, 's')!;
      expect(accounting.of(snap)).toEqual({ exclusive: CHUNK, shared: 0 });
      const found = await core.meta.run(() => core.exceptions.nearest(0, 3, snap));
      expect(found?.version).toBe(root);
      expect(found?.exception).toMatchObject({ kind: ExceptionKind.CHUNK, crc: crc32c(before) });
      const mine = await core.meta.run(() => core.exceptions.nearest(0, 3, leaf));
      expect(mine?.version).toBe(leaf);
      expect(mine?.exception.kind).toBe(ExceptionKind.MARKER);

      await core.commit();
      // the origin overwritten: the snapshot reads the copy
      await origin.write(Buffer.alloc(CHUNK, 0xee), 3 * CHUNK);
      const read = Buffer.alloc(CHUNK);
      await store.volume().read('s', read, 3 * CHUNK);
      expect(read.equals(before)).toBe(true);
      expect(await checkStore(core)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
