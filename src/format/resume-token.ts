// A resume token: what a cut receive kept, so that `snapfuse send --resume <token>` sends
// only the rest. It names the sending store, the snapshot's and the base's identities and
// the image offset the rest starts at; the sender checks all three against itself and
// what its own command line names, and never sends anything else. Printed as base64url of:
//
//   OFFSET SIZE FIELD
//   0      1    token format (1)
//   1      16   the sending store's uuid
//   17     16   the snapshot's uuid
//   33     16   the base's uuid (zeros: a whole snapshot)
//   49     8    the image offset the rest starts at
//   57     4    crc32c of the bytes before it (a mistyped token is refused)
import { crc32c } from '@node-rs/crc32';
import { StoreError } from '../errors';
import { readU64, writeU64 } from './layout';

export interface ResumeToken {
  store: string; // uuid, 32 hex digits
  snapshot: string;
  base: string | null;
  offset: number;
}

const TOKEN_FORMAT = 1;
const SIZE = 61;
const NO_BASE = '0'.repeat(32);

export function packResumeToken(t: ResumeToken): string {
  const buf = Buffer.alloc(SIZE);
  buf[0] = TOKEN_FORMAT;
  Buffer.from(t.store, 'hex').copy(buf, 1);
  Buffer.from(t.snapshot, 'hex').copy(buf, 17);
  Buffer.from(t.base ?? NO_BASE, 'hex').copy(buf, 33);
  writeU64(buf, 49, t.offset);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 57)), 57);
  return buf.toString('base64url');
}

export function unpackResumeToken(text: string): ResumeToken {
  const buf = /^[A-Za-z0-9_-]+$/.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
  if (buf.length !== SIZE || buf[0] !== TOKEN_FORMAT || buf.readUInt32LE(57) !== crc32c(buf.subarray(0, 57))) {
    throw StoreError.invalid('not a resume token (cut or mistyped?): copy it whole from where the receive printed it');
  }
  const base = buf.toString('hex', 33, 49);
  const [store, snapshot] = [buf.toString('hex', 1, 17), buf.toString('hex', 17, 33)];
  return { store, snapshot, base: base === NO_BASE ? null : base, offset: readU64(buf, 49) };
}
