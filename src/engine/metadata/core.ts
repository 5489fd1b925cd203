// The state every part of an open store shares: the transaction manager and space map,
// the trees, the devices, and the locks. Lock order, outermost first:
//
//   gate (shared: every image read and write; exclusive: create, delete, rollback start)
//   chunk lock (shared: a snapshot read; exclusive: a write, reclaim, rollback of it)
//   pin (shared: from allocating a COW chunk to recording it; exclusive: commit)
//   meta (every B-tree access and version tree change; held briefly, never across data I/O)
//
// The gate keeps a snapshot from being taken while a write to its source is half done;
// the pin keeps a commit from recording an allocation without the entry that owns it.
import createDebug from 'debug';
import { BLOCK_SIZE } from '../../format/layout';
import { OriginRecord, packVersion } from '../../format/records';
import { Superblock } from '../../format/superblock';
import { BlockDevice } from '../../block/block-device';
import { BTree } from '../../btree/btree';
import { SpaceMap } from '../../alloc/space-map';
import { TransactionManager } from '../../txn/transaction-manager';
import { VersionTree } from '../../snap/version-tree';
import { ExceptionIndex } from '../../snap/exceptions';
import { KeyedRwLock, Mutex, RwLock } from '../../util/locks';
import { GroupCommit } from './group-commit';
import { BackgroundRecord } from './background-record';
import type { Metadata } from './load';
import { Origins } from '../origins';
import { Space } from '../space';

const debug = createDebug('snapfuse:engine');

/** A change to the metadata, made under the metadata lock (see `Core.change`). */
export type Edit<T> = () => T | Promise<T>;

export class Core {
  readonly gate = new RwLock();
  readonly chunks = new KeyedRwLock();
  readonly pin = new RwLock();
  readonly meta = new Mutex();
  readonly group: GroupCommit;
  readonly chunkBlocks: number;
  readonly origins: Origins;
  readonly space: Space;

  readonly tm: TransactionManager;
  readonly sm: SpaceMap;
  readonly versionTable: BTree;
  readonly originTable: BTree;
  readonly exceptions: ExceptionIndex;
  readonly versions: VersionTree;

  constructor(
    readonly cow: BlockDevice,
    originDevs: Map<number, BlockDevice>,
    metadata: Metadata,
    origins: Map<number, OriginRecord>,
    readonly sb: Pick<Superblock, 'uuid' | 'chunkSize' | 'totalBlocks' | 'created' | 'formatVersion'>,
    /** The superblock's record of work in progress: each part is its owner's to set. */
    readonly record: BackgroundRecord,
  ) {
    ({ tm: this.tm, sm: this.sm, versions: this.versions, exceptions: this.exceptions } = metadata);
    ({ versionTable: this.versionTable, originTable: this.originTable } = metadata);
    this.chunkBlocks = sb.chunkSize / BLOCK_SIZE;
    this.origins = new Origins(origins, originDevs, this.versions, sb.chunkSize);
    this.space = new Space(this.sm, sb.totalBlocks, this.chunkBlocks);
    this.group = new GroupCommit(() => this.commitNow());
  }

  get chunkSize(): number {
    return this.sb.chunkSize;
  }

  // ---- commit ----------------------------------------------------------------------

  get hasChanges(): boolean {
    return this.tm.dirtyBlocks > 0 || this.versions.hasChanges || this.origins.hasChanges || this.record.hasChanges;
  }

  /**
   * The one way a command changes metadata. Holding the gate exclusive (no image read or
   * write is half done), `prepare` checks what the change needs and may wait for I/O (an
   * origin's sync); a throw there changes nothing. The edit it returns runs under the
   * metadata lock, and a commit makes it durable before this resolves.
   */
  async change<T>(prepare: () => Edit<T> | Promise<Edit<T>>): Promise<T> {
    const release = await this.gate.acquireExclusive();
    try {
      const edit = await prepare();
      const result = await this.meta.run(async () => edit());
      await this.commit();
      return result;
    } finally {
      release();
    }
  }

  /** Commit if anything changed; resolves once that is durable. */
  async commit(): Promise<void> {
    if (this.hasChanges) await this.group.request();
  }

  /** Seal the transaction under the locks, then write it while the next one goes on. */
  private async commitNow(): Promise<void> {
    const release = await this.pin.acquireExclusive();
    let write: () => Promise<unknown>;
    try {
      write = await this.meta.run(async () => {
        await this.persistTables();
        const sealed = await this.tm.seal({
          formatVersion: this.sb.formatVersion,
          uuid: this.sb.uuid,
          chunkSize: this.sb.chunkSize,
          totalBlocks: this.sb.totalBlocks,
          versionRoot: this.versionTable.root,
          exceptionRoot: this.exceptions.tree.root,
          originRoot: this.originTable.root,
          nextVersion: this.versions.nextId,
          created: this.sb.created,
          ...this.record.fields(),
        });
        this.record.sealed();
        return sealed;
      });
    } finally {
      release();
    }
    await write();
  }

  /** Write the version and origin records changed since the last commit. */
  private async persistTables(): Promise<void> {
    const { changed, removed } = this.versions.takeChanges();
    for (const v of changed) await this.versionTable.insert(v.id, 0, packVersion(v));
    for (const id of removed) await this.versionTable.remove(id, 0);
    await this.origins.persist(this.originTable);
    if (changed.length || removed.length) debug('persisted %d versions, removed %d', changed.length, removed.length);
  }
}
