// One error model for every layer: a stable UPPERCASE code, a one-line message for
// people, an optional cause. Codes map to an errno (FUSE, control file) in one place.

export type ErrorCode =
  | 'INVALID_ARGUMENT' // malformed id, out-of-range offset, bad option
  | 'NOT_FOUND' // unknown snapshot id
  | 'EXISTS' // id taken
  | 'BUSY' // rollback of an open origin, delete of an open snapshot
  | 'NO_SPACE' // the COW store is full
  | 'NOT_A_STORE' // the COW holds no snapfuse store
  | 'WRONG_ORIGIN' // the store was made for another origin
  | 'NEWER_FORMAT' // made by a newer snapfuse
  | 'CORRUPTION' // a metadata block failed its checks
  | 'IO_ERROR' // the device failed a read, write or sync
  | 'LOCKED' // the store is open in another process
  | 'CLOSED' // the store was closed
  | 'READ_ONLY' // opened for inspection only
  | 'FAILED' // an earlier commit failed: reopen the store
  | 'BAD_STREAM'; // a replication stream is cut, damaged, or not one

const ERRNO: Record<ErrorCode, string> = {
  INVALID_ARGUMENT: 'EINVAL',
  NOT_FOUND: 'ENOENT',
  EXISTS: 'EEXIST',
  BUSY: 'EBUSY',
  NO_SPACE: 'ENOSPC',
  NOT_A_STORE: 'EINVAL',
  WRONG_ORIGIN: 'EINVAL',
  NEWER_FORMAT: 'EINVAL',
  CORRUPTION: 'EIO',
  IO_ERROR: 'EIO',
  LOCKED: 'EBUSY',
  CLOSED: 'EIO',
  READ_ONLY: 'EROFS',
  FAILED: 'EIO',
  BAD_STREAM: 'EBADMSG',
};

export class StoreError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }

  /** The errno name (EINVAL, ENOENT, ...) this error stands for. */
  get errno(): string {
    return ERRNO[this.code];
  }

  static invalid(message: string): StoreError {
    return new StoreError('INVALID_ARGUMENT', message);
  }

  static corruption(message: string): StoreError {
    return new StoreError('CORRUPTION', message);
  }

  static io(message: string, cause?: unknown): StoreError {
    return new StoreError('IO_ERROR', message, { cause });
  }

  /** `e` itself if it is one; anything else (a bug, a library's error) as IO_ERROR with its message. */
  static of(e: unknown): StoreError {
    return e instanceof StoreError ? e : StoreError.io(e instanceof Error ? e.message : String(e), e);
  }

  static noSpace(message = 'the COW store is full'): StoreError {
    return new StoreError('NO_SPACE', message);
  }
}

export function isStoreError(e: unknown, code?: ErrorCode): e is StoreError {
  return e instanceof StoreError && (code === undefined || e.code === code);
}
