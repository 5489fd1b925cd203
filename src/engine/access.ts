// Whether the store takes a request: it is open or closed, and writable unless it was
// opened for inspection or a failure where data is at stake turned it read-only.
import { StoreError } from '../errors';
import { Faults } from './faults';

export class Access {
  private closed = false;

  constructor(
    /** Opened for inspection (check): no background work, no commits, writes refused. */
    readonly readOnly: boolean,
    private readonly faults: Faults,
  ) {}

  /** From now on every request is refused with CLOSED. */
  close(): void {
    this.closed = true;
  }

  assertOpen(): void {
    if (this.closed) throw new StoreError('CLOSED', 'the store is closed');
  }

  assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new StoreError('READ_ONLY', 'the store is open read-only');
    this.faults.assertWritable();
  }
}
