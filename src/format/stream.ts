// The replication stream that `snapfuse send` writes and `snapfuse receive` reads: a
// snapshot whole, or the delta from an earlier one. Self-describing and versioned; a
// trailer's checksum covers every byte before it, so a cut or damaged stream is found
// out before the receiver makes its snapshot visible.
//
//   OFFSET SIZE FIELD
//   0      8    magic "SNAPFSTR"
//   8      4    stream format version (2; 1 is still read)
//   12     4    header length H
//   16     H    header: JSON (StreamHeader), UTF-8
//   16+H   4    (format 2) crc32c of the 16+H bytes before it
//   then records, each a type byte and its fields (integers little-endian):
//     1 DATA   u64 offset, u32 length, then length bytes: the image's bytes there
//     2 ZERO   u64 offset, u64 length: the image holds zeros there
//     (format 2: each DATA and ZERO record ends with a u32 crc32c of its bytes before it)
//     3 END    u64 records before it, u64 data bytes, u32 crc32c of every byte before this field
//
// Format 2 checks the header and each record on its own, so that a receiver applies only
// records it knows are whole: a stream cut (or damaged) part way leaves a sound prefix,
// which a resumed send continues (the header's `resume`: the records from that image
// offset on, in a stream of their own).
import { crc32c } from '@node-rs/crc32';
import { StoreError } from '../errors';
import { readU64, writeU64 } from './layout';

export const STREAM_MAGIC = Buffer.from('SNAPFSTR');
export const STREAM_VERSION = 2;
/** The oldest format a reader still takes. */
const OLDEST_VERSION = 1;
/** The largest DATA record: a reader refuses a longer one rather than allocate it. */
export const MAX_RECORD_DATA = 1 << 20;
const MAX_HEADER = 64 * 1024;

enum RecordType {
  DATA = 1,
  ZERO = 2,
  END = 3,
}

export interface SnapshotIdentity {
  name: string;
  uuid: string; // 32 hex digits
  created: string; // ISO time
}

export interface StreamHeader {
  format: 'snapfuse-stream';
  version: number;
  store: string; // the sending store's uuid
  originSize: number;
  chunkSize: number;
  snapshot: SnapshotIdentity;
  base: SnapshotIdentity | null; // an incremental stream's starting point
  sent: string; // ISO time
  /** A resumed send (format 2): only the records from this image offset on follow. */
  resume?: { offset: number };
}

export type StreamRecord =
  { kind: 'data'; offset: number; data: Buffer } | { kind: 'zero'; offset: number; length: number };

const bad = (why: string) => new StoreError('BAD_STREAM', `the stream is damaged: ${why}`);

/** Writes a stream to `sink`, keeping the count and checksum the trailer needs. */
export class StreamWriter {
  private crc = 0;
  private records = 0;
  private dataBytes = 0;

  constructor(private readonly sink: (buf: Buffer) => Promise<void>) {}

  async header(h: StreamHeader): Promise<void> {
    const json = Buffer.from(JSON.stringify(h), 'utf8');
    const fixed = Buffer.alloc(16);
    STREAM_MAGIC.copy(fixed, 0);
    fixed.writeUInt32LE(STREAM_VERSION, 8);
    fixed.writeUInt32LE(json.length, 12);
    await this.put(fixed);
    await this.put(json);
    await this.put(crcField(crc32c(json, crc32c(fixed))));
  }

  async data(offset: number, data: Buffer): Promise<void> {
    if (data.length > MAX_RECORD_DATA) throw new RangeError('record too long');
    const head = Buffer.alloc(13);
    head[0] = RecordType.DATA;
    writeU64(head, 1, offset);
    head.writeUInt32LE(data.length, 9);
    await this.put(head);
    await this.put(data);
    await this.put(crcField(crc32c(data, crc32c(head))));
    this.records++;
    this.dataBytes += data.length;
  }

  async zero(offset: number, length: number): Promise<void> {
    const rec = Buffer.alloc(17);
    rec[0] = RecordType.ZERO;
    writeU64(rec, 1, offset);
    writeU64(rec, 9, length);
    await this.put(rec);
    await this.put(crcField(crc32c(rec)));
    this.records++;
  }

  async end(): Promise<void> {
    const rec = Buffer.alloc(21);
    rec[0] = RecordType.END;
    writeU64(rec, 1, this.records);
    writeU64(rec, 9, this.dataBytes);
    this.crc = crc32c(rec.subarray(0, 17), this.crc);
    rec.writeUInt32LE(this.crc, 17);
    await this.sink(rec);
  }

  private async put(buf: Buffer): Promise<void> {
    this.crc = crc32c(buf, this.crc);
    await this.sink(buf);
  }
}

function crcField(crc: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc, 0);
  return b;
}

/**
 * The header of the stream `source` brings, read ahead without taking it: the bytes read
 * so far (to be passed on whole, header included) and the source to go on with. For a
 * sender of the stream into a mount, which must know the snapshot's name first.
 */
export async function peekHeader(
  source: AsyncIterable<Buffer>,
): Promise<{ header: StreamHeader; head: Buffer; rest: AsyncIterator<Buffer> }> {
  const rest = source[Symbol.asyncIterator]();
  const pulled: Buffer[] = [];
  // the reader's own checks, on chunks that are kept as they are pulled
  const keeping: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const n = await rest.next();
        if (!n.done) pulled.push(n.value);
        return n;
      },
    }),
  };
  const header = await new StreamReader(keeping).readHeader();
  return { header, head: Buffer.concat(pulled), rest };
}

/** Exact reads from a stream of Buffers (stdin, a pipe). */
class ByteReader {
  private pending: Buffer[] = [];
  private have = 0;
  private done = false;
  consumed = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** The next `n` bytes; fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.have < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else {
        this.pending.push(next.value);
        this.have += next.value.length;
      }
    }
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.pending = rest.length ? [rest] : [];
    this.have = rest.length;
    this.consumed += out.length;
    return out;
  }

  /** True if nothing follows. */
  async atEnd(): Promise<boolean> {
    return (await this.read(1)).length === 0;
  }
}

/**
 * Reads a stream: the header first, then the records, then `finish()` checks the
 * trailer. Every problem is a BAD_STREAM error saying what is wrong and where.
 */
export class StreamReader {
  private readonly bytes: ByteReader;
  private crc = 0;
  private records = 0;
  private dataBytes = 0;
  private ended = false;
  private version = 0;
  /** Did the stream end early (rather than hold a wrong byte)? */
  cut = false;
  header!: StreamHeader;

  constructor(source: AsyncIterable<Buffer>) {
    this.bytes = new ByteReader(source[Symbol.asyncIterator]());
  }

  /** Bytes read so far: for progress. */
  get position(): number {
    return this.bytes.consumed;
  }

  async readHeader(): Promise<StreamHeader> {
    const fixed = await this.take(16, 'the header');
    if (!fixed.subarray(0, 8).equals(STREAM_MAGIC)) {
      throw new StoreError('BAD_STREAM', 'not a snapfuse stream (no SNAPFSTR magic at its start)');
    }
    const version = fixed.readUInt32LE(8);
    if (version < OLDEST_VERSION || version > STREAM_VERSION) {
      throw new StoreError(
        'NEWER_FORMAT',
        `stream format ${version}: this snapfuse reads formats ${OLDEST_VERSION} to ${STREAM_VERSION}`,
      );
    }
    this.version = version;
    const length = fixed.readUInt32LE(12);
    if (length > MAX_HEADER) throw bad(`a header of ${length} bytes`);
    const json = await this.take(length, 'the header');
    if (version >= 2) await this.check(crc32c(json, crc32c(fixed)), 'its header');
    let h: StreamHeader;
    try {
      h = JSON.parse(json.toString('utf8'));
    } catch {
      throw bad('its header is not JSON');
    }
    if (h.format !== 'snapfuse-stream' || !h.snapshot?.uuid || !Number.isSafeInteger(h.originSize)) {
      throw bad('its header lacks the snapshot or the origin size');
    }
    if (h.resume !== undefined && (version < 2 || !Number.isSafeInteger(h.resume.offset) || h.resume.offset < 0)) {
      throw bad('its header names a bad resume offset');
    }
    this.header = h;
    return h;
  }

  /** The next record, or null after a sound trailer. */
  async next(): Promise<StreamRecord | null> {
    const at = this.position;
    const type = (await this.take(1, 'a record'))[0];
    if (type === RecordType.DATA) {
      const head = await this.take(12, 'a record');
      const offset = readU64(head, 0);
      const length = head.readUInt32LE(8);
      if (length === 0 || length > MAX_RECORD_DATA) throw bad(`a data record of ${length} bytes at byte ${at}`);
      const data = await this.take(length, 'a data record');
      if (this.version >= 2)
        await this.check(crc32c(data, crc32c(head, crc32c(Buffer.of(type)))), `the record at byte ${at}`);
      this.checkRange(offset, length, at);
      this.records++;
      this.dataBytes += length;
      return { kind: 'data', offset, data };
    }
    if (type === RecordType.ZERO) {
      const rec = await this.take(16, 'a record');
      if (this.version >= 2) await this.check(crc32c(rec, crc32c(Buffer.of(type))), `the record at byte ${at}`);
      const offset = readU64(rec, 0);
      const length = readU64(rec, 8);
      if (length === 0) throw bad(`a zero record of 0 bytes at byte ${at}`);
      this.checkRange(offset, length, at);
      this.records++;
      return { kind: 'zero', offset, length };
    }
    if (type === RecordType.END) {
      const rec = await this.take(16, 'the trailer');
      const crc = await this.bytes.read(4);
      if (crc.length < 4) {
        this.cut = true;
        throw bad('it ends inside the trailer (cut short?)');
      }
      if (crc.readUInt32LE(0) !== this.crc) throw bad('its checksum does not match its bytes');
      if (readU64(rec, 0) !== this.records || readU64(rec, 8) !== this.dataBytes) {
        throw bad('its trailer counts other records than it holds');
      }
      if (!(await this.bytes.atEnd())) throw bad('bytes follow its trailer');
      this.ended = true;
      return null;
    }
    throw bad(`unknown record type ${type} at byte ${at}`);
  }

  /** The stream's format; from 2 on, every record returned was checked on its own. */
  get formatVersion(): number {
    return this.version;
  }

  get complete(): boolean {
    return this.ended;
  }

  private checkRange(offset: number, length: number, at: number): void {
    if (offset + length > this.header.originSize) {
      throw bad(`a record at byte ${at} reaches past the image (${offset}+${length})`);
    }
  }

  /** The next 4 bytes must be `crc`, the checksum of `what`. */
  private async check(crc: number, what: string): Promise<void> {
    const got = await this.take(4, `the checksum of ${what}`);
    if (got.readUInt32LE(0) !== crc) throw bad(`${what} does not match its checksum`);
  }

  /** Exactly `n` bytes, added to the checksum; a shorter read means the stream was cut. */
  private async take(n: number, what: string): Promise<Buffer> {
    const buf = await this.bytes.read(n);
    if (buf.length < n) {
      this.cut = true;
      throw bad(`it ends inside ${what} at byte ${this.bytes.consumed} (cut short?)`);
    }
    this.crc = crc32c(buf, this.crc);
    return buf;
  }
}
