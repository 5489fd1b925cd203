// The words that the control file's commands and its status share: snapshot ids, the
// origin's name, "-" for none; and how user input is quoted when it is refused. Pure
// functions only (DESIGN.md section 2): a refusal is a StoreError INVALID_ARGUMENT, which
// the FUSE layer answers as EINVAL.

import { ORIGIN_IMAGE } from '../engine/snapshot-id';

/** Snapshot ids: the store's rule and its one message (engine/snapshot-id.ts). */
export { checkSnapshotId, ID_PATTERN, isSnapshotId } from '../engine/snapshot-id';
/** Quoting user input in a message (util/text.ts). */
export { printable, quote, QUOTE_LIMIT } from '../util/text';

/** The name of the live origin in `from <src>` and in a snapshot's parent. */
export const ORIGIN = ORIGIN_IMAGE;

/** A field with no value: no parent, nothing running, no error. */
export const NONE = '-';
