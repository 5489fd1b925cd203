// What the tests of the control file's language share: refusals, and the ids it takes.
import fc from 'fast-check';
import { StoreError } from '../../../src/errors';

// One printable line: no control, format, surrogate or separator characters.
export const ONE_PRINTABLE_LINE = /^[^\p{C}\p{Zl}\p{Zp}]*$/u;

/** The StoreError that `f` throws (failing the test if it throws none or another kind). */
export function refusal(f: () => unknown): StoreError {
  try {
    f();
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error('expected a StoreError, got none');
}

/** Any snapshot id: what ID_PATTERN matches, except "origin". */
export const idArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).filter((s) => s !== 'origin');
