// The words that the control file's commands and its status share: snapshot ids, the
// origin's name, "-" for none; and how user input is quoted when it is refused. Pure
// functions only (DESIGN.md section 2): a refusal is a StoreError INVALID_ARGUMENT, which
// the FUSE layer answers as EINVAL.

import { StoreError } from '../errors';
import { ID_PATTERN, ORIGIN_IMAGE } from '../engine/volume';

/** Snapshot ids (DESIGN.md): safe as file names, never `.`/`..`, no blanks; the store's rule. */
export { ID_PATTERN };

/** The name of the live origin in `from <src>` and in a snapshot's parent. */
export const ORIGIN = ORIGIN_IMAGE;

/** A field with no value: no parent, nothing running, no error. */
export const NONE = '-';

/** How many characters of user input a message quotes. */
export const QUOTE_LIMIT = 80;

// Control, format, surrogate, private-use, unassigned and line/paragraph separators:
// anything that could break a message or a status line, or hide what it says.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/gu;

/** Make text one printable line: every unprintable character becomes `replacement`. */
export function printable(text: string, replacement: string): string {
  return text.replace(UNPRINTABLE, replacement);
}

/** Quote user input for an error message: at most 80 characters, one printable line. */
export function quote(text: string): string {
  const chars = Array.from(text); // by code point, so a pair is never split
  const cut = chars.length > QUOTE_LIMIT;
  const shown = printable(chars.slice(0, QUOTE_LIMIT).join(''), '?');
  return `"${shown}${cut ? '...' : ''}"`;
}

/** Is `id` a name a snapshot may have? (`origin` is reserved for the origin.) */
export function isSnapshotId(id: string): boolean {
  return ID_PATTERN.test(id) && id !== ORIGIN;
}

/** `id` itself if it may name a snapshot, else INVALID_ARGUMENT saying why. */
export function checkSnapshotId(id: string): string {
  if (id === ORIGIN) throw StoreError.invalid(`"${ORIGIN}" is the origin, not a snapshot id`);
  if (ID_PATTERN.test(id)) return id;
  const length = Array.from(id).length;
  const why = length > 64 ? ` (${length} characters, at most 64)` : '';
  throw StoreError.invalid(
    `invalid snapshot id ${quote(id)}${why}: use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
  );
}
