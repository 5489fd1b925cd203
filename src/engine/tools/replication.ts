// Send and receive: a snapshot, whole or as the delta from an earlier one both stores
// hold, carried by the stream format of format/stream.ts.
//
// The receiver stages the snapshot hidden (of its copy of the base, or of its origin for
// a whole one), writes the records into it, and makes it visible only after the trailer
// proved the stream whole: a cut or damaged stream leaves the receiver as it was, and the
// same send can simply be run again.
import { StoreError } from '../../errors';
import { MAX_RECORD_DATA, SnapshotIdentity, STREAM_VERSION, StreamReader, StreamWriter } from '../../format/stream';
import { ByteRange } from './delta';
import { ORIGIN_IMAGE, SnapshotInfo, Store } from '../store';

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

/** Write snapshot `id` to `sink` as a stream: whole, or as the delta from `opts.base`. */
export async function sendSnapshot(
  store: Store,
  id: string,
  sink: (buf: Buffer) => Promise<void>,
  opts: SendOptions = {},
): Promise<SendSummary> {
  const vol = store.volume(opts.origin);
  const snapshot = vol.snapshot(id);
  if (!snapshot) throw new StoreError('NOT_FOUND', `no snapshot ${id}`);
  const base = opts.base === undefined ? null : vol.snapshot(opts.base);
  if (opts.base !== undefined && !base) throw new StoreError('NOT_FOUND', `no snapshot ${opts.base}`);
  if (base && base.id === snapshot.id) throw StoreError.invalid('a snapshot cannot be sent as a delta from itself');

  // the ranges first (from the metadata only), so that progress has a total
  const ranges: ByteRange[] = [];
  if (base) for await (const r of vol.diff(base.id, snapshot.id)) ranges.push(r);
  else ranges.push({ offset: 0, length: vol.originSize });
  const total = ranges.reduce((n, r) => n + r.length, 0);

  const w = new StreamWriter(sink);
  await w.header({
    format: 'snapfuse-stream',
    version: STREAM_VERSION,
    store: store.uuid,
    originSize: vol.originSize,
    chunkSize: store.chunkSize,
    snapshot: identity(snapshot),
    base: base ? identity(base) : null,
    sent: new Date().toISOString(),
  });
  const piece = Math.max(store.chunkSize, MAX_RECORD_DATA - (MAX_RECORD_DATA % store.chunkSize));
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
      await vol.read(snapshot.id, data, at);
      // zero chunks become ZERO records: a mostly empty image sends little
      for (let i = 0; i < n;) {
        const len = Math.min(store.chunkSize, n - i);
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
          while (j < n && !isZero(data.subarray(j, Math.min(j + store.chunkSize, n)))) {
            j = Math.min(j + store.chunkSize, n);
          }
          await w.data(at + i, Buffer.from(data.subarray(i, j)));
          dataBytes += j - i;
        }
        i = j;
      }
      at += n;
      done += n;
      opts.progress?.(done, total);
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
