// Send and receive: a snapshot, whole or as the delta from an earlier one both stores
// hold, carried by the stream format of format/stream.ts.
//
// The receiver stages the snapshot hidden (of its copy of the base, or of its origin for
// a whole one), writes the records into it, and makes it visible only after the trailer
// proved the stream whole: a cut or damaged stream leaves the receiver as it was, and the
// same send can simply be run again.
import { StoreError } from '../../errors';
import {
  MAX_RECORD_DATA,
  SnapshotIdentity,
  StreamHeader,
  STREAM_VERSION,
  StreamReader,
  StreamWriter,
} from '../../format/stream';
import { ByteRange } from './delta';
import { ORIGIN_IMAGE, SnapshotInfo, Store, Volume } from '../store';
import { checkSnapshotId } from '../snapshot-id';
import type { Incoming, PartialReceive, Staged } from '../staging';
import { packResumeToken, unpackResumeToken } from '../../format/resume-token';

/** Bytes done and to do, for a progress bar. */
export type Progress = (done: number, total: number) => void;

export interface SendOptions {
  base?: string; // send the delta from this snapshot, which the receiver must hold
  progress?: Progress;
  origin?: string; // the origin whose snapshot it is, in a store of several
  resume?: string; // a cut receive's token: send only the rest
}

export interface SendSummary {
  ranges: number;
  bytes: number; // image bytes the stream describes (data and zeros)
  dataBytes: number; // bytes of data records
}

function identity(s: SnapshotInfo): SnapshotIdentity {
  return { name: s.id, uuid: s.uuid, created: s.created.toISOString() };
}

/**
 * What a send of snapshot `id` (whole, or the delta from `base`) consists of: the stream's
 * header but for its time, and the byte ranges of the snapshot it carries. Found from the
 * metadata alone, so that a mount can hand it out and its sender read the data itself.
 */
export interface SendPlan {
  header: Omit<StreamHeader, 'sent' | 'format' | 'version'>;
  ranges: ByteRange[];
}

/** The plan of a send of snapshot `id` of `vol`, from `base` if given. */
export async function planSend(vol: Volume, id: string, base?: string): Promise<SendPlan> {
  const snapshot = vol.snapshot(id);
  if (!snapshot) throw new StoreError('NOT_FOUND', `no snapshot ${id}`);
  const from = base === undefined ? null : vol.snapshot(base);
  if (base !== undefined && !from) throw new StoreError('NOT_FOUND', `no snapshot ${base}`);
  if (from && from.id === snapshot.id) throw StoreError.invalid('a snapshot cannot be sent as a delta from itself');
  const ranges: ByteRange[] = [];
  if (from) for await (const r of vol.diff(from.id, snapshot.id)) ranges.push(r);
  else ranges.push({ offset: 0, length: vol.originSize });
  return {
    header: {
      store: vol.storeUuid,
      originSize: vol.originSize,
      chunkSize: vol.chunkSize,
      snapshot: identity(snapshot),
      base: from ? identity(from) : null,
    },
    ranges,
  };
}

/** Write snapshot `id` to `sink` as a stream: whole, or as the delta from `opts.base`. */
export async function sendSnapshot(
  store: Store,
  id: string,
  sink: (buf: Buffer) => Promise<void>,
  opts: SendOptions = {},
): Promise<SendSummary> {
  const vol = store.volume(opts.origin);
  const plan = await planSend(vol, id, opts.base);
  const from = opts.resume === undefined ? undefined : resumeOffset(plan, opts.resume);
  return writeStream(plan, (buf, pos) => vol.read(id, buf, pos), sink, opts.progress, from);
}

/**
 * Where a send resumed with `token` starts: the token must name the very snapshot and
 * base the sender's own arguments name (it only says where to start, never what to send).
 */
export function resumeOffset(plan: SendPlan, token: string): number {
  const t = unpackResumeToken(token);
  const { store, snapshot, base, originSize } = plan.header;
  if (t.store !== store) throw StoreError.invalid(`the token is for a send from another store (${t.store})`);
  if (t.snapshot !== snapshot.uuid) {
    throw StoreError.invalid(
      `the token is for another snapshot (${t.snapshot}), not ${snapshot.name} (${snapshot.uuid})`,
    );
  }
  if (t.base !== (base?.uuid ?? null)) {
    const was = t.base === null ? 'a whole snapshot' : `the delta from snapshot ${t.base}`;
    throw StoreError.invalid(`the token is for ${was}: give the --from it was made for`);
  }
  if (t.offset > originSize) throw StoreError.invalid('the token names an offset past the image');
  return t.offset;
}

/**
 * Write the stream of `plan` to `sink`, its data read by `read` (the snapshot's bytes at
 * a position: from the store offline, from the snapshot's image through a mount).
 */
export async function writeStream(
  plan: SendPlan,
  read: (buf: Buffer, pos: number) => Promise<void>,
  sink: (buf: Buffer) => Promise<void>,
  progress?: Progress,
  resume?: number,
): Promise<SendSummary> {
  // resumed: only what lies from `resume` on, in a stream that says so
  const ranges =
    resume === undefined
      ? plan.ranges
      : plan.ranges
          .filter((r) => r.offset + r.length > resume)
          .map((r) => (r.offset >= resume ? r : { offset: resume, length: r.offset + r.length - resume }));
  const { chunkSize } = plan.header;
  const total = ranges.reduce((n, r) => n + r.length, 0);
  const w = new StreamWriter(sink);
  const sent = new Date().toISOString();
  const header = { format: 'snapfuse-stream' as const, version: STREAM_VERSION, ...plan.header, sent };
  await w.header(resume === undefined ? header : { ...header, resume: { offset: resume } });
  const piece = Math.max(chunkSize, MAX_RECORD_DATA - (MAX_RECORD_DATA % chunkSize));
  const buf = Buffer.allocUnsafe(piece);
  let done = 0;
  let dataBytes = 0;
  let zeros: ByteRange | null = null; // a run of zero chunks, written when it ends
  const flushZeros = async () => {
    if (zeros) await w.zero(zeros.offset, zeros.length);
    zeros = null;
  };
  for (const r of ranges) {
    for (let at = r.offset; at < r.offset + r.length;) {
      const n = Math.min(piece, r.offset + r.length - at);
      const data = buf.subarray(0, n);
      await read(data, at);
      // zero chunks become ZERO records: a mostly empty image sends little
      for (let i = 0; i < n;) {
        const len = Math.min(chunkSize, n - i);
        let j = i + len;
        if (isZero(data.subarray(i, j))) {
          if (zeros && zeros.offset + zeros.length === at + i) zeros.length += len;
          else {
            await flushZeros();
            zeros = { offset: at + i, length: len };
          }
        } else {
          await flushZeros();
          // a run of data chunks, as one record
          while (j < n && !isZero(data.subarray(j, Math.min(j + chunkSize, n)))) {
            j = Math.min(j + chunkSize, n);
          }
          await w.data(at + i, Buffer.from(data.subarray(i, j)));
          dataBytes += j - i;
        }
        i = j;
      }
      at += n;
      done += n;
      progress?.(done, total);
    }
  }
  await flushZeros();
  await w.end();
  return { ranges: ranges.length, bytes: total, dataBytes };
}

/** Failures a resumed send can mend: what arrived is kept for it. Any other drops the receive. */
const MENDABLE = new Set(['BAD_STREAM', 'NO_SPACE', 'IO_ERROR']);

/** The snapshots (by uuid) each volume is receiving now: one receive of a snapshot at a time. */
const underway = new WeakMap<Volume, Set<string>>();

export interface ReceiveOptions {
  name?: string; // the name to give the snapshot here; by default its name where it was sent from
  becomeOrigin?: boolean; // the origin becomes the received snapshot (a rollback to it)
  /** With `becomeOrigin`: throws (BUSY) if the origin may not be rolled back now; asked as the rollback starts. */
  mayBecomeOrigin?: () => void;
  progress?: Progress; // bytes of the stream read; total 0 when unknown
  origin?: string; // the origin to receive it for, in a store of several
}

export interface ReceiveSummary {
  name: string;
  base: string | null; // the snapshot here the delta applied to
  bytes: number; // image bytes the records covered
  written: number; // bytes that differed and were written
}

/** How often a resumable receive makes its progress durable: every this many image bytes... */
const CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** ...or this often. */
const CHECKPOINT_MS = 2000;

/**
 * Read a stream and make the snapshot it carries. Refused before anything changes when
 * the stream does not fit this store (another image size, a base this store lacks, a
 * snapshot it already holds, a name taken). A stream of format 2 that is cut or damaged
 * on the way keeps, hidden, what arrived whole, and the error gives the resume token for
 * `send --resume`; a resumed stream (its header's `resume`) continues such a receive.
 * One of format 1 found cut or damaged changes nothing.
 */
export async function receiveSnapshot(
  store: Store,
  source: AsyncIterable<Buffer>,
  opts: ReceiveOptions = {},
): Promise<ReceiveSummary> {
  return receiveInto(store.volume(opts.origin), source, opts, () => store.idle());
}

/**
 * The same into volume `vol` (a mount's receive/ files call it); `settle` waits for the
 * space of a dropped receive to come back, if the caller wants that before it answers.
 */
export async function receiveInto(
  vol: Volume,
  source: AsyncIterable<Buffer>,
  opts: Omit<ReceiveOptions, 'origin'> = {},
  settle: () => Promise<void> = async () => undefined,
): Promise<ReceiveSummary> {
  const reader = new StreamReader(source);
  const h = await reader.readHeader();
  if (h.originSize !== vol.originSize) {
    throw StoreError.invalid(
      `the stream holds an image of ${h.originSize} bytes; this store's origin has ${vol.originSize}`,
    );
  }
  const busy = underway.get(vol) ?? new Set<string>();
  underway.set(vol, busy);
  if (busy.has(h.snapshot.uuid)) throw new StoreError('BUSY', `a receive of ${h.snapshot.name} is under way already`);
  busy.add(h.snapshot.uuid);
  try {
    return await receiveClaimed(vol, reader, h, opts, settle);
  } finally {
    busy.delete(h.snapshot.uuid);
  }
}

/** Is snapshot `uuid` being received into `vol` now? */
function isUnderway(vol: Volume, uuid: string): boolean {
  return underway.get(vol)?.has(uuid) ?? false;
}

async function receiveClaimed(
  vol: Volume,
  reader: StreamReader,
  h: StreamHeader,
  opts: Omit<ReceiveOptions, 'origin'>,
  settle: () => Promise<void>,
): Promise<ReceiveSummary> {
  const resumable = reader.formatVersion >= 2;
  const partial = vol.staging.partials().find((p) => p.uuid === h.snapshot.uuid) ?? null;
  const target = h.resume ? resumedTarget(vol, h, partial, opts.name) : await freshTarget(vol, h, partial, opts.name);
  const staged =
    target.staged ??
    (await vol.staging.stage(target.base ? target.base.id : ORIGIN_IMAGE, resumable ? target.incoming : undefined));
  let bytes = 0;
  let written = 0;
  let received = target.received; // image bytes from 0 that arrived whole
  let checked = { at: received, time: Date.now() };
  try {
    const here = Buffer.allocUnsafe(MAX_RECORD_DATA);
    // write only what differs from what the staged snapshot already reads: a whole
    // stream over a similar origin, or zeros over zeros, costs no COW space
    const apply = async (data: Buffer, offset: number) => {
      const now = here.subarray(0, data.length);
      await vol.staging.read(staged, now, offset);
      if (!now.equals(data)) {
        await vol.staging.write(staged, data, offset);
        written += data.length;
      }
      bytes += data.length;
    };
    for (let rec = await reader.next(); rec; rec = await reader.next()) {
      const length = rec.kind === 'data' ? rec.data.length : rec.length;
      if (rec.kind === 'data') await apply(rec.data, rec.offset);
      else {
        for (let at = 0; at < rec.length; at += MAX_RECORD_DATA) {
          await apply(ZEROS.subarray(0, Math.min(MAX_RECORD_DATA, rec.length - at)), rec.offset + at);
        }
      }
      received = Math.max(received, rec.offset + length);
      if (resumable && (received - checked.at >= CHECKPOINT_BYTES || Date.now() - checked.time >= CHECKPOINT_MS)) {
        await vol.staging.markReceived(staged, received);
        checked = { at: received, time: Date.now() };
      }
      opts.progress?.(reader.position, 0);
    }
    const created = new Date(h.snapshot.created);
    await vol.staging.publish(staged, target.name, h.snapshot.uuid, created, opts.becomeOrigin, opts.mayBecomeOrigin);
  } catch (e) {
    const why = StoreError.of(e);
    if (resumable && MENDABLE.has(why.code)) {
      // what arrived was checked record by record: keep it for a resumed send
      try {
        await vol.staging.markReceived(staged, received);
      } catch {
        throw new StoreError(why.code, `${why.message}; what arrived could not be kept either`, { cause: e });
      }
      const token = packResumeToken({
        store: h.store,
        snapshot: h.snapshot.uuid,
        base: h.base?.uuid ?? null,
        offset: received,
      });
      const head = reader.cut ? `stream cut after ${reader.position} bytes` : why.message;
      throw new StoreError(why.code, `${head}; resume token ${token}`, { cause: e });
    }
    await vol.staging.discard(staged);
    await settle(); // the space the staged snapshot took comes back now
    throw new StoreError(why.code, `${why.message}; nothing was received, the store is as it was`, { cause: e });
  }
  return { name: target.name, base: target.base?.id ?? null, bytes, written };
}

interface Target {
  name: string;
  base: SnapshotInfo | null; // the snapshot here the stream applies to, if one
  incoming: Incoming;
  staged: Staged | null; // a partial receive resumed
  received: number;
}

/** A stream that starts a receive: refused if it does not fit, before anything changes. */
async function freshTarget(
  vol: Volume,
  h: StreamHeader,
  partial: PartialReceive | null,
  wanted?: string,
): Promise<Target> {
  if (partial) {
    const token = resumeTokenOf(partial);
    throw new StoreError(
      'EXISTS',
      `a receive of ${h.snapshot.name} was cut and is kept as ${partial.name}: ` +
        `resume it (send --resume ${token}) or drop it (receive --abort ${partial.name})`,
    );
  }
  const name = checkSnapshotId(wanted ?? h.snapshot.name);
  if (vol.snapshot(name)) throw new StoreError('EXISTS', `snapshot ${name} already exists`);
  const held = vol.snapshotByUuid(h.snapshot.uuid);
  if (held) throw new StoreError('EXISTS', `this store already holds snapshot ${h.snapshot.name}, as ${held.id}`);
  let base: SnapshotInfo | null = null;
  if (h.base) {
    base = vol.snapshotByUuid(h.base.uuid);
    if (!base) {
      throw new StoreError(
        'NOT_FOUND',
        `this store lacks the stream's base snapshot ${h.base.name} (${h.base.uuid}): send it first, or from a snapshot both hold`,
      );
    }
  }
  const incoming = {
    name,
    uuid: h.snapshot.uuid,
    created: new Date(h.snapshot.created),
    store: h.store,
    base: h.base?.uuid ?? null,
  };
  return { name, base, incoming, staged: null, received: 0 };
}

/** A resumed stream: it must continue a partial receive of the same snapshot and base, with no gap. */
function resumedTarget(vol: Volume, h: StreamHeader, partial: PartialReceive | null, wanted?: string): Target {
  const offset = h.resume!.offset;
  if (!partial) {
    throw new StoreError(
      'NOT_FOUND',
      `this store holds no cut receive of ${h.snapshot.name} (${h.snapshot.uuid}) to resume: send it whole again, without --resume`,
    );
  }
  if (partial.store !== h.store) {
    throw StoreError.invalid(`the resumed stream comes from another store than the cut receive of ${partial.name}`);
  }
  if (partial.base !== (h.base?.uuid ?? null)) {
    throw StoreError.invalid(`the resumed stream has another base than the cut receive of ${partial.name}`);
  }
  if (offset > partial.received) {
    throw StoreError.invalid(
      `the stream resumes at byte ${offset} of the image, but only ${partial.received} arrived here: use the newest token`,
    );
  }
  if (wanted !== undefined && wanted !== partial.name) {
    throw StoreError.invalid(`the cut receive is kept as ${partial.name}: resume it under that name`);
  }
  const base = partial.base ? vol.snapshotByUuid(partial.base) : null;
  const from = base ? base.id : h.base ? h.base.name : ORIGIN_IMAGE; // the parent it shows
  const { staged, received, ...incoming } = partial;
  return { name: partial.name, base, incoming, staged: { leaf: staged.leaf, from }, received };
}

/** The token that resumes a cut receive from where it got. */
export function resumeTokenOf(p: PartialReceive): string {
  return packResumeToken({ store: p.store, snapshot: p.uuid, base: p.base, offset: p.received });
}

/** Drop a cut receive kept as `name`: its space returns in the background. */
export async function abortReceive(store: Store, name: string, origin?: string): Promise<void> {
  await abortPartial(store.volume(origin), name);
  await store.idle(); // its space comes back now
}

export async function abortPartial(vol: Volume, name: string): Promise<void> {
  const partial = vol.staging.partials().find((p) => p.name === name);
  if (!partial) throw new StoreError('NOT_FOUND', `no cut receive of ${name} is kept`);
  if (isUnderway(vol, partial.uuid)) {
    throw new StoreError('BUSY', `the receive of ${name} is under way: end its sender first, then drop it`);
  }
  await vol.staging.discard(partial.staged);
}

const ZEROS = Buffer.alloc(MAX_RECORD_DATA);

function isZero(buf: Buffer): boolean {
  return buf.equals(ZEROS.subarray(0, buf.length));
}
