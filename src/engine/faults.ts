// What went wrong where no caller waits: background work (held writes, reclaim, the
// recount, rollback copying, timed commits) and the process itself. Nothing here ends
// the daemon: a failure is logged, kept for the status's error line and, where data is
// at stake, turns the store read-only (the reason stays until the store is reopened).
import createDebug from 'debug';
import { StoreError } from '../errors';

const debug = createDebug('snapfuse:fault');

export interface Fault {
  errno: string;
  message: string;
  /** When it happened (ms since the epoch), so the status shows the newest error. */
  at: number;
}

/** `e` as a fault of now; its message after "`what`: " if given. */
export function faultOf(e: unknown, what?: string): Fault {
  const err = StoreError.of(e);
  return { errno: err.errno, message: what ? `${what}: ${err.message}` : err.message, at: Date.now() };
}

/** The later of two faults, either of which may be none. */
export function newestFault(a: Fault | null, b: Fault | null): Fault | null {
  if (!a || !b) return a ?? b;
  return b.at > a.at ? b : a;
}

export class Faults {
  /** The newest failure, or null. */
  last: Fault | null = null;
  /** Why the store refuses writes now, or null while it takes them. */
  fatal: StoreError | null = null;
  /** Failures recorded since the store opened. */
  count = 0;

  /**
   * Record that `what` failed. With `dataAtStake` the store turns read-only: a write could
   * no longer keep the copy-out rule, or the origin is half rolled back.
   */
  record(what: string, e: unknown, dataAtStake: boolean): void {
    debug('%s failed: %s', what, e instanceof Error ? e.stack : String(e));
    this.last = faultOf(e, what);
    this.count++;
    if (dataAtStake && !this.fatal) {
      this.fatal = new StoreError('FAILED', `read-only since ${this.last.message}; remount to resume`, { cause: e });
      this.last.message = this.fatal.message;
    }
  }

  /** Refuse a change once the store turned read-only. */
  assertWritable(): void {
    if (this.fatal) throw this.fatal;
  }
}
