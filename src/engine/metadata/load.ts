// The metadata of a store, made new on an empty COW (format) or read back from its
// newest sound superblock (open): the transaction manager, the space map, the tables,
// the version tree and the exception index, and the origins' records. No origin is
// opened here.
import { StoreError } from '../../errors';
import { BLOCK_SIZE } from '../../format/layout';
import { chooseSuperblock, Superblock } from '../../format/superblock';
import {
  EXCEPTION_SIZE,
  ORIGIN_SIZE,
  OriginRecord,
  unpackOrigin,
  unpackOriginPath,
  unpackVersion,
  VERSION_SIZE,
  VersionRecord,
} from '../../format/records';
import { BlockDevice } from '../../block/block-device';
import { BTree } from '../../btree/btree';
import { INDEX_VALUE_SIZE, SpaceMap } from '../../alloc/space-map';
import { TransactionManager } from '../../txn/transaction-manager';
import { VersionTree } from '../../snap/version-tree';
import { ExceptionIndex } from '../../snap/exceptions';

export const MIN_CHUNK = 4096;
export const MAX_CHUNK = 1024 * 1024;

/** The pieces `Core` is made of, as found on the COW. */
export interface Metadata {
  tm: TransactionManager;
  sm: SpaceMap;
  versionTable: BTree;
  originTable: BTree;
  exceptions: ExceptionIndex;
  versions: VersionTree;
}

/** An empty store's metadata on `cow`, in its first transaction (nothing is committed yet). */
export async function newMetadata(
  cow: BlockDevice,
  chunkSize: number,
  totalBlocks: number,
  cacheSize: number,
): Promise<Metadata> {
  const tm = new TransactionManager(cow, cacheSize, 0);
  const sm = new SpaceMap(tm, new BTree(tm, INDEX_VALUE_SIZE, 0), 0, totalBlocks, chunkSize / BLOCK_SIZE, totalBlocks);
  tm.spaceMap = sm;
  await sm.markUsed(0);
  await sm.markUsed(1);
  sm.index.root = (await BTree.create(tm, INDEX_VALUE_SIZE)).root;
  const versions = new VersionTree([], 1);
  return {
    tm,
    sm,
    versionTable: await BTree.create(tm, VERSION_SIZE),
    originTable: await BTree.create(tm, ORIGIN_SIZE),
    exceptions: new ExceptionIndex(await BTree.create(tm, EXCEPTION_SIZE), versions),
    versions,
  };
}

/** The store on `cow` as its newest sound superblock has it, with its origins' records. */
export async function loadMetadata(
  cow: BlockDevice,
  cacheSize: number,
): Promise<Metadata & { sb: Superblock; origins: Map<number, OriginRecord> }> {
  const sb = chooseSuperblock(await readSuperblocks(cow), cow.name);
  checkGeometry(sb, cow);
  const tm = new TransactionManager(cow, cacheSize, sb.seq);
  const sm = new SpaceMap(
    tm,
    new BTree(tm, INDEX_VALUE_SIZE, sb.spaceIndexRoot),
    sb.spaceIndexRoot,
    sb.totalBlocks,
    sb.chunkSize / BLOCK_SIZE,
    sb.freeBlocks,
  );
  tm.spaceMap = sm;
  const versionTable = new BTree(tm, VERSION_SIZE, sb.versionRoot);
  const records: VersionRecord[] = [];
  for await (const [id, , value] of versionTable.entries()) records.push(unpackVersion(id, value));
  const versions = new VersionTree(records, sb.nextVersion);
  const originTable = new BTree(tm, ORIGIN_SIZE, sb.originRoot);
  const origins = await readOrigins(originTable);
  if (origins.size === 0) throw StoreError.corruption(`${cow.name}: the store has no origin record`);
  const exceptions = new ExceptionIndex(new BTree(tm, EXCEPTION_SIZE, sb.exceptionRoot), versions);
  return { sb, tm, sm, versionTable, originTable, exceptions, versions, origins };
}

/** The superblock `cow` holds now, or NOT_A_STORE (or CORRUPTION: a store's, damaged). */
export async function readSuperblock(cow: BlockDevice): Promise<Superblock> {
  return chooseSuperblock(await readSuperblocks(cow), cow.name);
}

/** The origin table: each record, with its path put together from the entries after it. */
async function readOrigins(table: BTree): Promise<Map<number, OriginRecord>> {
  const origins = new Map<number, OriginRecord>();
  const pieces = new Map<number, Buffer[]>();
  for await (const [id, k, value] of table.entries()) {
    if (k === 0) origins.set(id, unpackOrigin(value));
    else pieces.set(id, [...(pieces.get(id) ?? []), value]);
  }
  for (const [id, o] of origins) o.path = unpackOriginPath(pieces.get(id) ?? []);
  return origins;
}

async function readSuperblocks(cow: BlockDevice): Promise<Buffer[]> {
  if (cow.size < 2 * BLOCK_SIZE) throw new StoreError('NOT_A_STORE', `${cow.name} holds no snapfuse store`);
  const both = Buffer.alloc(2 * BLOCK_SIZE);
  await cow.read(both, 0);
  return [both.subarray(0, BLOCK_SIZE), both.subarray(BLOCK_SIZE)];
}

function checkGeometry(sb: Superblock, cow: BlockDevice): void {
  const cs = sb.chunkSize;
  if (cs < MIN_CHUNK || cs > MAX_CHUNK || cs & (cs - 1)) {
    throw StoreError.corruption(`${cow.name}: superblock names chunk size ${cs}`);
  }
  if (sb.totalBlocks * BLOCK_SIZE > cow.size) {
    throw StoreError.invalid(
      `${cow.name} is smaller (${cow.size} bytes) than the store on it (${sb.totalBlocks * BLOCK_SIZE})`,
    );
  }
}
