// A transaction manager and space map over a memory device, wired the way the store
// wires them, for the unit tests of the lower layers.
import { MemoryDevice } from '../../src/block/memory-device';
import { BTree } from '../../src/btree/btree';
import { INDEX_VALUE_SIZE, SpaceMap } from '../../src/alloc/space-map';
import { TransactionManager, CommitFields } from '../../src/txn/transaction-manager';

export interface Stack {
  dev: MemoryDevice;
  tm: TransactionManager;
  sm: SpaceMap;
}

export async function freshStack(totalBlocks: number, chunkBlocks = 1, cacheBytes = 1 << 20): Promise<Stack> {
  const dev = new MemoryDevice(totalBlocks * 4096);
  const tm = new TransactionManager(dev, cacheBytes, 0);
  const sm = new SpaceMap(tm, new BTree(tm, INDEX_VALUE_SIZE, 0), 0, totalBlocks, chunkBlocks, totalBlocks);
  tm.spaceMap = sm;
  await sm.markUsed(0);
  await sm.markUsed(1);
  sm.index.root = (await BTree.create(tm, INDEX_VALUE_SIZE)).root;
  return { dev, tm, sm };
}

export function commitFields(): CommitFields {
  return {
    formatVersion: 1,
    uuid: Buffer.alloc(16, 7),
    chunkSize: 4096,
    totalBlocks: 0,
    versionRoot: 0,
    exceptionRoot: 0,
    originRoot: 0,
    nextVersion: 1,
    reclaimRunning: false,
    reclaimCursor: 0,
    rollbackSource: 0,
    rollbackOrigin: 0,
    rollbackCursor: 0,
    schedules: [],
    created: 0,
    whenFull: 0,
  };
}

/** Reopen the space map from what the last commit left on the device. */
export function reopenStack(s: Stack, seq: number, indexRoot: number, free: number, chunkBlocks = 1): Stack {
  const tm = new TransactionManager(s.dev, 1 << 20, seq);
  const sm = new SpaceMap(
    tm,
    new BTree(tm, INDEX_VALUE_SIZE, indexRoot),
    indexRoot,
    s.sm.totalBlocks,
    chunkBlocks,
    free,
  );
  tm.spaceMap = sm;
  return { dev: s.dev, tm, sm };
}
