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

/** Bytes done and to do, for a progress bar. */
export type Progress = (done: number, total: number) => void;

export interface SendOptions {
  base?: string; // send the delta from this snapshot, which the receiver must hold
  progress?: Progress;
  origin?: string; // the origin whose snapshot it is, in a store of several
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
  return writeStream(plan, (buf, pos) => vol.read(id, buf, pos), sink, opts.progress);
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
): Promise<SendSummary> {
  const { ranges } = plan;
  const { chunkSize } = plan.header;
  const total = ranges.reduce((n, r) => n + r.length, 0);
  const w = new StreamWriter(sink);
  await w.header({
    format: 'snapfuse-stream',
    version: STREAM_VERSION,
    ...plan.header,
    sent: new Date().toISOString(),
  });
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

export interface ReceiveOptions {
  name?: string; // the name to give the snapshot here; by default its name where it was sent from
  becomeOrigin?: boolean; // the origin becomes the received snapshot (a rollback to it)
  progress?: Progress; // bytes of the stream read; total 0 when unknown
  origin?: string; // the origin to receive it for, in a store of several
}

export interface ReceiveSummary {
  name: string;
  base: string | null; // the snapshot here the delta applied to
  bytes: number; // image bytes the records covered
  written: number; // bytes that differed and were written
}

/**
 * Read a stream and make the snapshot it carries. Refused before anything changes when
 * the stream does not fit this store (another image size, a base this store lacks, a
 * snapshot it already holds, a name taken); a stream found cut or damaged on the way
 * changes nothing either.
 */
export async function receiveSnapshot(
  store: Store,
  source: AsyncIterable<Buffer>,
  opts: ReceiveOptions = {},
): Promise<ReceiveSummary> {
  const vol = store.volume(opts.origin);
  const reader = new StreamReader(source);
  const h = await reader.readHeader();
  if (h.originSize !== vol.originSize) {
    throw StoreError.invalid(
      `the stream holds an image of ${h.originSize} bytes; this store's origin has ${vol.originSize}`,
    );
  }
  const name = opts.name ?? h.snapshot.name;
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

  const staged = await vol.stage(base ? base.id : ORIGIN_IMAGE);
  let bytes = 0;
  let written = 0;
  try {
    const here = Buffer.allocUnsafe(MAX_RECORD_DATA);
    // write only what differs from what the staged snapshot already reads: a whole
    // stream over a similar origin, or zeros over zeros, costs no COW space
    const apply = async (data: Buffer, offset: number) => {
      const now = here.subarray(0, data.length);
      await vol.readStaged(staged, now, offset);
      if (!now.equals(data)) {
        await vol.writeStaged(staged, data, offset);
        written += data.length;
      }
      bytes += data.length;
    };
    for (let rec = await reader.next(); rec; rec = await reader.next()) {
      if (rec.kind === 'data') await apply(rec.data, rec.offset);
      else {
        for (let at = 0; at < rec.length; at += MAX_RECORD_DATA) {
          await apply(ZEROS.subarray(0, Math.min(MAX_RECORD_DATA, rec.length - at)), rec.offset + at);
        }
      }
      opts.progress?.(reader.position, 0);
    }
    await vol.publish(staged, name, h.snapshot.uuid, new Date(h.snapshot.created), opts.becomeOrigin);
  } catch (e) {
    await vol.discard(staged);
    await store.idle(); // the space the staged snapshot took comes back now
    const why = StoreError.of(e);
    throw new StoreError(why.code, `${why.message}; nothing was received, the store is as it was`, { cause: e });
  }
  return { name, base: base?.id ?? null, bytes, written };
}

const ZEROS = Buffer.alloc(MAX_RECORD_DATA);

function isZero(buf: Buffer): boolean {
  return buf.equals(ZEROS.subarray(0, buf.length));
}
