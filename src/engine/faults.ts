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

export class Faults {
  /** The newest failure, or null. */
  last: Fault | null = null;
  /** Why the store refuses writes now, or null while it takes them. */
  fatal: StoreError | null = null;

  /**
   * Record that `what` failed. With `dataAtStake` the store turns read-only: a write could
   * no longer keep the copy-out rule, or the origin is half rolled back.
   */
  record(what: string, e: unknown, dataAtStake: boolean): void {
    const err = StoreError.of(e);
    debug('%s failed: %s', what, e instanceof Error ? e.stack : String(e));
    const message = `${what}: ${err.message}`;
    this.last = { errno: err.errno, message, at: Date.now() };
    if (dataAtStake && !this.fatal) {
      this.fatal = new StoreError('FAILED', `read-only since ${message}; remount to resume`, { cause: e });
      this.last.message = this.fatal.message;
    }
  }

  /** Refuse a change once the store turned read-only. */
  assertWritable(): void {
    if (this.fatal) throw this.fatal;
  }
}
