// The rules for a store's origins as files: how one is named, what it must be to join a
// store, and how each is found again and recognised at open (its size, and the device
// and inode it had), so a store never serves snapshots of another file's data.
import { StoreError } from '../errors';
import { ORIGIN_PATH_MAX, OriginRecord, MAX_CHUNKS } from '../format/records';
import { SINGLE_ORIGIN_FORMAT, Superblock } from '../format/superblock';
import { BlockDevice } from '../block/block-device';

/** Named origins of one store: a mount shows a directory for each. */
export const ORIGIN_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const MAX_ORIGINS = 256;

/** What the store remembers of an origin to recognise it again. */
export interface OriginIdentity {
  dev: number;
  ino: number;
  rdev: number;
}

/** An origin of a store of several, as it is formatted or added. */
export interface NamedOrigin {
  name: string;
  device: BlockDevice;
  /** Where it is found again at open (an absolute path). */
  path: string;
  identity?: OriginIdentity;
}

/** A stored origin, as `OriginOpener` is asked to open it. */
export interface StoredOrigin {
  name: string;
  path: string;
  size: number;
}

/** Opens each origin of a store of several: its device, and its identity to check. */
export type OriginOpener = (o: StoredOrigin) => Promise<{ device: BlockDevice; identity?: OriginIdentity }>;

export function originRecord(o: NamedOrigin, leaf: number): OriginRecord {
  const id = o.identity ?? { dev: 0, ino: 0, rdev: 0 };
  return { size: o.device.size, ...id, leaf, name: o.name, path: o.path, removing: false };
}

export function checkOriginName(name: string, taken: Array<{ name: string }>): void {
  if (!ORIGIN_NAME.test(name)) {
    throw StoreError.invalid(
      `bad origin name "${name.slice(0, 33)}": use 1-32 of a-z 0-9 . _ -, starting with a-z or 0-9`,
    );
  }
  // the root of a mount of named origins has its own control file beside their directories
  if (name === 'control') throw StoreError.invalid('an origin cannot be named "control": the root\'s control file is');
  if (taken.some((t) => t.name === name)) throw new StoreError('EXISTS', `the store has an origin ${name} already`);
}

/** An origin about to join a store: named if the store names them, not empty, not too large. */
export function checkNewOrigin(
  o: NamedOrigin,
  chunkSize: number,
  named: boolean,
  taken: Array<{ name: string }>,
): void {
  if (named) checkOriginName(o.name, taken);
  if (Buffer.byteLength(o.path) > ORIGIN_PATH_MAX) throw StoreError.invalid(`the path of origin ${o.name} is too long`);
  const what = named ? `origin ${o.name} (${o.device.name})` : `origin ${o.device.name}`;
  if (o.device.size === 0) throw StoreError.invalid(`${what} is empty`);
  if (Math.ceil(o.device.size / chunkSize) > MAX_CHUNKS) throw StoreError.invalid(`${what} is too large`);
}

/**
 * The devices of the store's origins (not those being removed), each checked to be the
 * one recorded. The two ways to give them (a store of one origin takes its device, one of
 * named origins an opener) meet here: from the first check on, every origin is opened
 * and checked alike. Devices the opener opened are closed again if any check fails.
 */
export async function openOrigins(
  records: Map<number, OriginRecord>,
  given: BlockDevice | OriginOpener,
  cow: BlockDevice,
  sb: Superblock,
  identity?: OriginIdentity,
): Promise<Map<number, BlockDevice>> {
  const live = [...records].filter(([, o]) => !o.removing);
  const named = sb.formatVersion > SINGLE_ORIGIN_FORMAT;
  const opener = typeof given === 'function';
  if (!named && opener) {
    throw StoreError.invalid(`${cow.name} is a store of one origin: name the origin file too (origin= in fstab)`);
  }
  if (named && !opener) {
    const names = live.map(([, o]) => o.name).join(', ');
    throw new StoreError(
      'WRONG_ORIGIN',
      `${cow.name} is a store of named origins (${names}), not of ${given.name} alone`,
    );
  }
  const open: OriginOpener = opener ? given : async () => ({ device: given, identity });
  const devices = new Map<number, BlockDevice>();
  try {
    for (const [id, record] of live) {
      const { device, identity } = await open({ name: record.name, path: record.path, size: record.size });
      devices.set(id, device);
      checkOrigin(record, device, cow, identity);
    }
  } catch (e) {
    if (opener) await Promise.all([...devices.values()].map((d) => d.close().catch(() => undefined)));
    throw e;
  }
  return devices;
}

export function checkOrigin(record: OriginRecord, origin: BlockDevice, cow: BlockDevice, id?: OriginIdentity): void {
  const whose = record.name ? `origin ${record.name}` : 'origin';
  const other = (why: string) =>
    new StoreError('WRONG_ORIGIN', `${cow.name} is a store for another ${whose} than ${origin.name}: ${why}`);
  if (record.size !== origin.size) throw other(`size is ${origin.size} bytes, the store's origin had ${record.size}`);
  if (id && (record.dev || record.ino || record.rdev)) {
    if (record.rdev !== id.rdev || (!record.rdev && (record.dev !== id.dev || record.ino !== id.ino))) {
      throw other('it is not the same file (device and inode differ)');
    }
  }
}
