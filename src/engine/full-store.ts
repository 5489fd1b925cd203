// What a full store does when an origin write needs a copy-out it has no room for: the
// user's policy (`mount --when-full`), kept in the superblock.
//   refuse      the write fails with ENOSPC (what a file system on top then makes of it
//               is its own affair: ext4 turns read-only);
//   retire      the oldest snapshot a schedule took (never one a person made) is deleted,
//               its space reclaimed, and the write tried again, until it fits or no such
//               snapshot is left; then refuse. The default for a store with a schedule;
//   invalidate  the snapshots that would need the copy are marked invalid (they read
//               EIO from then on and can only be deleted) and the write goes through,
//               as dm-snapshot does. Never a snapshot silently showing other data.
// Each such event is logged and shown in the status's error line.
import createDebug from 'debug';
import { isStoreError, StoreError } from '../errors';
import { chunkKey, ExceptionKind, MARKER, VersionKind, VersionState } from '../format/records';
import { Version } from '../snap/version-tree';
import { splitIntoChunks } from './io/data-path';
import type { Core } from './metadata/core';
import type { DataPath } from './io/data-path';
import type { Access } from './access';
import type { Accounting } from './background/accounting';
import type { Reclaimer } from './background/reclaim';
import type { Faults } from './faults';

const debug = createDebug('snapfuse:full');

export const WHEN_FULL = ['refuse', 'retire', 'invalidate'] as const;
export type WhenFull = (typeof WHEN_FULL)[number];

/** "refuse", "retire" or "invalidate"; INVALID_ARGUMENT for anything else. */
export function parseWhenFull(text: string): WhenFull {
  const p = WHEN_FULL.find((w) => w === text);
  if (!p) throw StoreError.invalid(`bad policy "${text.slice(0, 20)}" for a full store: use ${WHEN_FULL.join(', ')}`);
  return p;
}

/** The store's owners a full store works through. */
export interface FullStoreParts {
  readonly core: Core;
  readonly data: DataPath;
  readonly access: Access;
  readonly accounting: Accounting;
  readonly reclaimer: Reclaimer;
  readonly faults: Faults;
}

export class FullStore {
  /** Is snapshot `id` of `origin` in use (open, being sent)? The mount says; retire passes those by. */
  inUse: (origin: number, id: string) => boolean = () => false;
  private making: Promise<boolean> | null = null;

  constructor(private readonly host: FullStoreParts) {}

  /** The policy set for the store, or null if none was (then `policy` is the default). */
  get setting(): WhenFull | null {
    const n = this.host.core.record.whenFull.value;
    return n >= 1 && n <= WHEN_FULL.length ? WHEN_FULL[n - 1] : null;
  }

  /** The policy in force: the one set, else retire in a store with a schedule, refuse in one without. */
  get policy(): WhenFull {
    return this.setting ?? (this.host.core.record.schedules.value.length ? 'retire' : 'refuse');
  }

  /** Set the policy; durable when this returns. */
  async setPolicy(p: WhenFull): Promise<void> {
    this.host.access.assertWritable();
    const { whenFull } = this.host.core.record;
    const n = WHEN_FULL.indexOf(p) + 1;
    if (whenFull.value === n) return;
    await this.host.core.change(() => () => whenFull.set(n));
  }

  /**
   * An origin write of `length` bytes at `pos` met NO_SPACE: make room as the policy says.
   * True if the write should be tried again. Call holding no lock: this changes metadata.
   * Writes that meet a full store together share one go.
   */
  makeRoom(origin: number, pos: number, length: number): Promise<boolean> {
    const policy = this.policy;
    if (policy === 'refuse') return Promise.resolve(false);
    return this.once(() => (policy === 'retire' ? this.retire() : this.invalidate(origin, pos, length)));
  }

  /**
   * A create met NO_SPACE: under `retire`, the oldest scheduled snapshot makes room for it
   * (else a schedule would stop once the store filled, and retire all it took); true if
   * the create should be tried again.
   */
  makeRoomToCreate(): Promise<boolean> {
    return this.policy === 'retire' ? this.once(() => this.retire()) : Promise.resolve(false);
  }

  /** Run `op`; while it fails with NO_SPACE and `make` made room, run it again. */
  async withRoom<T>(op: () => Promise<T>, make: () => Promise<boolean>): Promise<T> {
    for (;;) {
      try {
        return await op();
      } catch (e) {
        if (!isStoreError(e, 'NO_SPACE') || !(await make())) throw e;
      }
    }
  }

  private once(make: () => Promise<boolean>): Promise<boolean> {
    if (this.making) return this.making.then(() => true);
    this.making = make().finally(() => (this.making = null));
    return this.making;
  }

  /** Delete the oldest snapshot a schedule took (of every origin that has it) and reclaim its space. */
  private async retire(): Promise<boolean> {
    const { core, reclaimer } = this.host;
    const oldest = this.oldestScheduled();
    if (!oldest) return false;
    await core.change(() => {
      // again under the gate: what is there now
      const gone = [...core.versions.all()].filter(
        (v) =>
          v.kind === VersionKind.SNAPSHOT &&
          v.state === VersionState.LIVE &&
          v.name === oldest.name &&
          v.schedule &&
          !this.inUse(v.origin, v.name),
      );
      return () => gone.forEach((v) => core.versions.markDeleted(v));
    });
    this.tell(`retired ${oldest.name} (taken by schedule ${oldest.schedule}) to make room`);
    reclaimer.kick();
    await reclaimer.idle();
    return true;
  }

  private oldestScheduled(): Version | null {
    let oldest: Version | null = null;
    for (const v of this.host.core.versions.all()) {
      if (v.kind !== VersionKind.SNAPSHOT || v.state !== VersionState.LIVE || !v.schedule) continue;
      if (this.inUse(v.origin, v.name)) continue;
      if (!oldest || v.created < oldest.created) oldest = v;
    }
    return oldest;
  }

  /**
   * For each chunk of the write that needs a copy-out, mark invalid the snapshots that
   * read the origin's copy of it, and give the origin the chunk as its own (a marker), so
   * the write needs no copy; one commit for all, before the write reaches the origin.
   * A chunk a hidden leaf (a rollback's source, a receive) reads is left: it is refused.
   */
  private async invalidate(origin: number, pos: number, length: number): Promise<boolean> {
    const { core, data, accounting } = this.host;
    const marked = await core.change(async () => {
      const plan: Array<{ chunk: number; readers: Version[] }> = [];
      for (const p of splitIntoChunks(core.chunkSize, pos, length)) {
        // a held write makes its own copy, with space it holds: leave its chunk to it
        if (data.writeBack.has(chunkKey(origin, p.chunk))) continue;
        const keeper = await data.keeper(origin, p.chunk);
        if (!keeper) continue;
        const readers = await this.readersOfOrigin(origin, p.chunk, keeper);
        if (readers.some((v) => v.kind !== VersionKind.SNAPSHOT)) continue;
        plan.push({ chunk: p.chunk, readers });
      }
      return async () => {
        const leaf = core.versions.originLeaf(origin);
        const marked = new Set<Version>();
        for (const { chunk, readers } of plan) {
          for (const v of readers) {
            if (!v.invalid) marked.add(v);
            core.versions.markInvalid(v);
          }
          await accounting.change(chunkKey(origin, chunk), () => core.exceptions.put(origin, chunk, leaf.id, MARKER));
        }
        return plan.length ? [...marked] : null;
      };
    });
    if (!marked) return false;
    if (marked.length)
      this.tell(`snapshot ${marked.map((v) => v.name).join(', ')} marked invalid to let an origin write through`);
    return true;
  }

  /**
   * The live leaves below `keeper`, the origin's aside, that read chunk c from the origin
   * file through an ancestor (one with a marker of its own, a rollback's source, follows
   * the origin by design).
   */
  private async readersOfOrigin(origin: number, chunk: number, keeper: Version): Promise<Version[]> {
    const { core } = this.host;
    const leaf = core.versions.originLeaf(origin);
    const out: Version[] = [];
    const stack = [keeper];
    while (stack.length) {
      const v = stack.pop()!;
      stack.push(...v.children);
      if (v.children.length || v === leaf || v.state !== VersionState.LIVE) continue;
      const found = await core.meta.run(() => core.exceptions.nearest(origin, chunk, v));
      if (found?.exception.kind !== ExceptionKind.CHUNK && found?.version !== v) out.push(v);
    }
    return out;
  }

  /** An event of a full store: logged, and shown in the status's error line. */
  private tell(what: string): void {
    debug(what);
    this.host.faults.record('the store is full', new StoreError('NO_SPACE', what), false);
  }
}
