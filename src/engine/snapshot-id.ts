// Snapshot ids (DESIGN.md): safe as file names, never `.`/`..`, no blanks, and never
// "origin", the live origin's name. The store's one rule and one message, whichever way
// a name comes in: the control file, the CLI or the library.
import { StoreError } from '../errors';
import { quote } from '../util/text';

/** The live origin's name: its image, and the parent of a snapshot taken of it. */
export const ORIGIN_IMAGE = 'origin';
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Is `id` a name a snapshot may have? */
export function isSnapshotId(id: string): boolean {
  return ID_PATTERN.test(id) && id !== ORIGIN_IMAGE;
}

/** `id` itself if it may name a snapshot, else INVALID_ARGUMENT saying why. */
export function checkSnapshotId(id: string): string {
  if (id === ORIGIN_IMAGE) throw StoreError.invalid(`"${ORIGIN_IMAGE}" is the origin, not a snapshot id`);
  if (ID_PATTERN.test(id)) return id;
  const length = Array.from(id).length;
  const why = length > 64 ? ` (${length} characters, at most 64)` : '';
  throw StoreError.invalid(
    `invalid snapshot id ${quote(id)}${why}: use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
  );
}
