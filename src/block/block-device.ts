// The lowest layer: positional reads and writes on a file, a block device or memory,
// and a barrier. Every call either does all it was asked or throws IO_ERROR.

export interface BlockDevice {
  /** Size in bytes; fixed while open. */
  readonly size: number;
  /** Human name for messages (a path, or "memory"). */
  readonly name: string;
  read(buf: Buffer, pos: number): Promise<void>;
  write(buf: Buffer, pos: number): Promise<void>;
  /** Returns once every completed write is durable (fdatasync). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
