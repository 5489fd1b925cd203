// Background reclaim: deleting a snapshot only marks it; this pass returns its space.
//
// A pass takes the deleted leaves present when it starts (their state becomes
// RECLAIMING, committed with the pass's cursor), then walks the exception index in
// chunk order, a batch per commit. Per chunk, with the tree contracted as if those
// leaves were gone:
//   - entries of removed versions (the leaves, and interior versions left with no live
//     child) are freed;
//   - an interior version left with one child is merged into its heir (the first
//     descendant down that chain that is not merged): the entry nearest the heir is
//     kept and moved to it; the others on the chain can no longer be read and are freed.
// Reads stay right throughout: merged versions stay in the tree until the pass ends, so
// chunks not yet visited still find their entries through them. The cursor is committed
// with each batch, so a crash resumes the pass; redoing a visited chunk changes nothing.
// Deletes made during a pass wait for the next one.
import createDebug from 'debug';
import { ExceptionKind, unpackException, VersionKind, VersionState } from '../../format/records';
import { Version, VersionTree } from '../../snap/version-tree';
import { Core } from '../metadata/core';
import { ReclaimRecord, RecordPart } from '../metadata/background-record';
import { Faults } from '../faults';
import type { Accounting } from './accounting';
import { backgroundTurn, sliceEnds } from '../../util/time-slice';

const debug = createDebug('snapfuse:reclaim');
// chunks scanned per commit: a commit of a few hundred chunks' changes is written in a few ms, so a
// delete or create that comes while one is written does not wait long for it
const BATCH_ENTRIES = 512;

/** What a pass does to each version it affects: null = removed, else the heir. */
export type PassPlan = Map<number, Version | null>;

export function planPass(versions: VersionTree): PassPlan {
  const plan: PassPlan = new Map();
  const gone = (v: Version) => plan.has(v.id) && plan.get(v.id) === null;
  // upward from each leaf in the pass: a parent all of whose children are gone goes too
  const touched = new Set<Version>();
  for (const v of versions.withState(VersionState.RECLAIMING)) {
    plan.set(v.id, null);
    for (let p = v.parentNode; p && !plan.has(p.id); p = p.parentNode) {
      if (!p.children.every(gone)) {
        touched.add(p);
        break;
      }
      plan.set(p.id, null);
    }
  }
  // a parent left with one child merges into it, and on down a chain of such parents
  for (const p of touched) {
    const chain: Version[] = [];
    let heir = p;
    for (;;) {
      const known = plan.get(heir.id);
      if (known) {
        heir = known;
        break;
      }
      const survivors = heir.children.filter((c) => !gone(c));
      if (heir.kind !== VersionKind.INTERIOR || survivors.length !== 1) break;
      chain.push(heir);
      heir = survivors[0];
    }
    for (const v of chain) plan.set(v.id, heir);
  }
  return plan;
}

/** What reclaim works with. */
export type ReclaimParts = Pick<
  Core,
  'chunks' | 'pin' | 'meta' | 'commit' | 'exceptions' | 'versions' | 'origins' | 'sm'
>;

export class Reclaimer {
  private running: Promise<void> | null = null;
  private stopping = false;
  /** Fraction of the running pass done, 0..1, or null when idle. */
  progress: number | null = null;
  /** Why the last pass stopped early, if it did; the next kick retries. */
  lastError: Error | null = null;
  private plan: PassPlan | null = null; // the running pass's

  constructor(
    private readonly core: ReclaimParts,
    /** The pass in progress, as the superblock keeps it: this reclaimer's alone to set. */
    private readonly record: RecordPart<ReclaimRecord>,
    /** Keeps the snapshots' figures exact around each chunk reclaimed. */
    private readonly accounting: Accounting,
    private readonly faults: Faults,
  ) {}

  /** Is a pass under way (committed, so a crash resumes it)? */
  get passRunning(): boolean {
    return this.record.value.running;
  }

  /**
   * Where a copy-out's entry for version `v` must go: a version the running pass merges
   * away would take the entry with it in chunks the pass has visited, so it goes to the
   * heir. Ask under the pin (shared): the plan is made holding it exclusive.
   */
  heirOf(v: Version): Version {
    return this.plan?.get(v.id) ?? v;
  }

  /** Start a pass if deleted snapshots wait and none runs. */
  kick(): void {
    if (this.running || this.stopping) return;
    this.progress = 0; // shown at once: a delete's caller may look before the pass's first batch
    this.running = this.loop().finally(() => {
      this.running = null;
      this.progress = null;
    });
    this.running.then(
      () => (this.lastError = null),
      (e: Error) => {
        this.lastError = e;
        this.faults.record('reclaim', e, false);
      },
    );
  }

  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }

  /** Stop at the next batch boundary (close). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  private async loop(): Promise<void> {
    const { core } = this;
    for (;;) {
      if (this.stopping) return;
      if (!this.passRunning && !(await this.startPass())) return;
      // Copy-outs choose the version that keeps a chunk's old data, copy, then record it,
      // all under the pin. One that chose a version this plan merges away before the plan
      // existed, and recorded it after the pass went by that chunk, would leave its entry
      // on a version the pass then removes: the snapshots below would read the origin's
      // new data. So the plan is made between copy-outs; later ones give it to the heir.
      const release = await core.pin.acquireExclusive();
      let plan: PassPlan;
      try {
        plan = await core.meta.run(async () => (this.plan = planPass(core.versions)));
      } finally {
        release();
      }
      while (this.passRunning && !this.stopping) await this.batch(plan);
    }
  }

  private async startPass(): Promise<boolean> {
    const { core } = this;
    const started = await core.meta.run(async () => {
      const waiting = core.versions.withState(VersionState.DELETED);
      if (waiting.length === 0) return false;
      for (const v of waiting) core.versions.setState(v, VersionState.RECLAIMING);
      this.record.set({ running: true, cursor: 0 });
      debug('pass starts for %d deleted versions', waiting.length);
      return true;
    });
    if (started) await core.commit();
    return started;
  }

  private async batch(plan: PassPlan): Promise<void> {
    const { core } = this;
    await backgroundTurn();
    // the chunks from the cursor on that hold an entry of a version this pass affects
    const { keys, scanned } = await core.meta.run(() =>
      core.exceptions.chunkKeys(
        this.record.value.cursor,
        Number.MAX_SAFE_INTEGER,
        BATCH_ENTRIES,
        (vid) => plan.has(vid),
        sliceEnds(),
      ),
    );
    for (const key of keys) {
      await backgroundTurn();
      const unlock = await core.chunks.acquire(key, true);
      try {
        await core.meta.run(() => this.accounting.change(key, () => this.reclaimChunk(key, plan)));
      } finally {
        unlock();
      }
    }
    await core.meta.run(async () => {
      if (scanned >= 0) {
        const next = scanned + 1;
        this.record.set({ running: true, cursor: next });
        this.progress = core.origins.keyProgress(next);
      } else this.finishPass(plan);
    });
    await core.commit();
  }

  private async reclaimChunk(key: number, plan: PassPlan): Promise<void> {
    const { core } = this;
    const entries: Array<[number, Buffer]> = [];
    for await (const [, vid, value] of core.exceptions.tree.entries([key, 0], [key + 1, 0])) entries.push([vid, value]);
    const claimed = new Set<number>();
    // nearest first: on any chain the deepest version has the greatest id
    for (const [vid, value] of entries.sort((a, b) => b[0] - a[0])) {
      const target = plan.has(vid) ? plan.get(vid)! : (core.versions.get(vid) ?? null);
      const e = unpackException(value);
      if (target && !claimed.has(target.id)) {
        claimed.add(target.id);
        if (target.id === vid) continue;
        await core.exceptions.tree.remove(key, vid);
        await core.exceptions.tree.insert(key, target.id, value);
      } else {
        await core.exceptions.tree.remove(key, vid);
        if (e.kind === ExceptionKind.CHUNK) await core.sm.freeChunk(e.block);
      }
    }
  }

  /** Every chunk is visited: take the pass's versions out of the tree. */
  private finishPass(plan: PassPlan): void {
    const { core } = this;
    const gone = [...plan.keys()].sort((a, b) => b - a).map((id) => core.versions.get(id)!);
    for (const v of gone) core.versions.remove(v);
    core.origins.dropRemoved();
    this.plan = null;
    this.record.set({ running: false, cursor: 0 });
    debug('pass done: %d versions removed or merged', gone.length);
  }
}
