// The lowest layer: positional reads and writes on a file, a block device or memory,
// and a barrier. Every call either does all it was asked or throws IO_ERROR.

/**
 * Who waits for an I/O: a request being served ('foreground', the default: done at once,
 * holding the event loop for the few microseconds a page-cache hit takes), or background
 * work ('background': handed to another thread, so that the event loop serves requests
 * meanwhile). Devices without threads may treat both alike.
 */
export type IoPriority = 'foreground' | 'background';

export interface BlockDevice {
  /** Size in bytes; fixed while open. */
  readonly size: number;
  /** Human name for messages (a path, or "memory"). */
  readonly name: string;
  read(buf: Buffer, pos: number, priority?: IoPriority): Promise<void>;
  write(buf: Buffer, pos: number, priority?: IoPriority): Promise<void>;
  /** Returns once every completed write is durable (fdatasync); in the background unless told (a file: and it is little). */
  flush(priority?: IoPriority): Promise<void>;
  close(): Promise<void>;
}
