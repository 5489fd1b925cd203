// Snapshots that arrive in pieces (receive), one origin's: each is staged as a hidden leaf
// of its base (or of the origin), written, then made visible in one commit by `publish`,
// or dropped by `discard`. A resumable receive's leaf also records what it will be
// published as and how far it got, committed as it goes, so a receive that is cut is kept
// (a "partial") and resumed later. A plain staged leaf left by a crash is dropped at the
// next open; a partial is kept.
import { StoreError } from '../errors';
import { VersionKind, VersionState } from '../format/records';
import { Version } from '../snap/version-tree';
import type { Core } from './metadata/core';
import type { Access } from './access';
import type { DataPath } from './io/data-path';
import type { Reclaimer } from './background/reclaim';
import type { Rollback } from './background/rollback';
import { checkSnapshotId, ORIGIN_IMAGE } from './snapshot-id';

/** A snapshot being received: see `Staging.stage`. */
export interface Staged {
  readonly leaf: Version;
  readonly from: string;
}

/** The source recorded for a staged leaf; no image has this name. */
export const STAGED_SOURCE = ':staged';

/**
 * The source of a resumable receive's staged leaf: this, then the sending store's uuid and
 * the base's uuid (or "-"), each as 22 characters of base64url.
 */
const RECEIVING_SOURCE = ':recv:';

/** What a resumable receive stages: the snapshot as it will be published, where from, and its base's identity. */
export interface Incoming {
  name: string; // its name here
  uuid: string;
  created: Date;
  store: string; // the sending store's uuid
  base: string | null; // the base's uuid; null for a whole snapshot
}

/** A receive that was cut: kept hidden (taking space) until it is resumed or aborted. */
export interface PartialReceive extends Incoming {
  staged: Staged;
  /** Image bytes, from 0, that arrived whole and are durable. */
  received: number;
}

const compact = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');
const expand = (b64: string) => Buffer.from(b64, 'base64url').toString('hex');

/** The store's owners staging works through. */
export interface StagingParts {
  readonly core: Core;
  readonly data: DataPath;
  readonly access: Access;
  readonly reclaimer: Reclaimer;
  readonly rollback: Rollback;
}

/** What staging asks of its volume. */
export interface StagingVolume {
  leafOf(image: string): Version;
  checkRange(buf: Buffer, pos: number): void;
  assertPresent(): void;
  /** Does the volume hold a live snapshot with this identity? */
  holds(uuid: string): boolean;
}

export class Staging {
  // the status asks at every update: made again only when a version changed
  private partialsKept: { key: number; list: PartialReceive[] } | null = null;

  constructor(
    private readonly host: StagingParts,
    private readonly origin: number,
    private readonly volume: StagingVolume,
  ) {}

  private get core(): Core {
    return this.host.core;
  }

  /**
   * A hidden snapshot of `from` ("origin" or a snapshot id), written with `write`, then
   * made visible by `publish`, or dropped by `discard`. With `incoming`, a resumable
   * receive, kept (see `partials`) with its progress (`markReceived`).
   */
  async stage(from: string, incoming?: Incoming): Promise<Staged> {
    this.host.access.assertWritable();
    const leaf = await this.core.change(async () => {
      const source = this.volume.leafOf(from);
      this.core.space.require(16);
      if (from === ORIGIN_IMAGE) await this.host.data.syncOrigin(this.origin);
      return () => {
        const { versions } = this.core;
        const leaf = versions.split(source, VersionKind.HIDDEN, '', STAGED_SOURCE, Date.now())[1];
        if (incoming) {
          const { name, uuid, created, store, base } = incoming;
          const from = `${RECEIVING_SOURCE}${compact(store)}.${base === null ? '-' : compact(base)}`;
          versions.setReceiving(leaf, name, from, Buffer.from(uuid, 'hex'), created.getTime(), 0);
        }
        return leaf;
      };
    });
    return { leaf, from };
  }

  /** A resumable receive's progress: the image bytes from 0 that arrived whole, durable once this returns. */
  async markReceived(s: Staged, received: number): Promise<void> {
    this.host.access.assertWritable();
    await this.core.change(() => {
      assertStaged(s);
      const { leaf } = s;
      return () => this.core.versions.setReceiving(leaf, leaf.name, leaf.source, leaf.uuid, leaf.created, received);
    });
  }

  /** The receives into this origin that were cut (or are under way) and are kept, oldest first. */
  partials(): readonly PartialReceive[] {
    this.volume.assertPresent();
    const key = this.core.versions.generation;
    if (this.partialsKept?.key !== key) this.partialsKept = { key, list: this.findPartials() };
    return this.partialsKept.list;
  }

  private findPartials(): PartialReceive[] {
    const out: PartialReceive[] = [];
    for (const v of this.core.versions.ofOrigin(this.origin)) {
      if (v.kind !== VersionKind.HIDDEN || v.state !== VersionState.LIVE || !v.source.startsWith(RECEIVING_SOURCE))
        continue;
      const [store, base] = v.source.slice(RECEIVING_SOURCE.length).split('.');
      out.push({
        name: v.name,
        uuid: v.uuid.toString('hex'),
        created: new Date(v.created),
        store: expand(store),
        base: base === '-' ? null : expand(base),
        received: v.received,
        staged: { leaf: v, from: '' },
      });
    }
    return out.sort((a, b) => a.staged.leaf.id - b.staged.leaf.id);
  }

  async read(s: Staged, buf: Buffer, pos: number): Promise<void> {
    this.host.access.assertOpen();
    this.volume.checkRange(buf, pos);
    await this.core.gate.withShared(() => this.host.data.readSnapshot(this.origin, s.leaf, buf, pos));
  }

  async write(s: Staged, buf: Buffer, pos: number): Promise<void> {
    this.host.access.assertWritable();
    this.volume.checkRange(buf, pos);
    assertStaged(s);
    await this.core.gate.withShared(() => this.host.data.writeSnapshot(this.origin, s.leaf, buf, pos));
  }

  /**
   * The staged snapshot becomes snapshot `id`, with the identity and creation time it
   * has where it was made; with `becomeOrigin`, a rollback of the origin to it starts in
   * the same commit (`mayBecomeOrigin` asked first, under the gate). Refused, changing
   * nothing, if `id` or the identity is taken.
   */
  async publish(
    s: Staged,
    id: string,
    uuid: string,
    created: Date,
    becomeOrigin = false,
    mayBecomeOrigin: () => void = () => undefined,
  ): Promise<void> {
    this.host.access.assertWritable();
    checkSnapshotId(id);
    const show = () => {
      assertStaged(s);
      if (becomeOrigin) mayBecomeOrigin(); // asked under the gate, as a rollback's start is
      if (this.core.versions.snapshot(this.origin, id)) throw new StoreError('EXISTS', `snapshot ${id} already exists`);
      if (this.volume.holds(uuid)) throw new StoreError('EXISTS', `this store already holds snapshot ${uuid}`);
      return () => this.core.versions.publish(s.leaf, id, s.from, Buffer.from(uuid, 'hex'), created.getTime());
    };
    if (!becomeOrigin) return void (await this.core.change(show));
    // a rollback's start is a change its owner makes (it sets space aside and starts the job)
    await this.host.rollback.start(this.origin, () => s.leaf, id, show);
  }

  /** Drop a staged snapshot: its space returns in the background, as after a delete. */
  async discard(s: Staged): Promise<void> {
    await this.core.change(() => () => this.core.versions.markDeleted(s.leaf));
    this.host.reclaimer.kick();
  }
}

/** A staged snapshot still hidden and live: not dropped (a receive aborted) nor published meanwhile. */
function assertStaged(s: Staged): void {
  if (s.leaf.kind !== VersionKind.HIDDEN || s.leaf.state !== VersionState.LIVE) {
    throw new StoreError('NOT_FOUND', 'the snapshot being received was dropped or published meanwhile');
  }
}
