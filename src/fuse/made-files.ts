// Read-only files whose text the daemon makes from the metadata when they are looked up:
// a diff's ranges (diff/<a>..<b>), a send's plan (send/<snapshot>). A text is made when
// its size is asked (a lookup, before the open) and read from until it is asked again:
// the size the kernel holds is that text's. While the file is open its text stays, so
// every read of it (cat reads again at the end, after a stat) sees one text, not pieces
// of two.

/** A read of `len` bytes at `pos` of `text` into a FUSE buffer: the count, 0 at its end. */
export function readText(text: Buffer, buf: Buffer, len: number, pos: number): number {
  return pos >= text.length ? 0 : text.copy(buf, 0, pos, Math.min(text.length, pos + len));
}

/** Texts kept that no one has open: the oldest goes first. */
const KEPT = 16;

export class MadeFiles {
  private readonly texts = new Map<string, Buffer>();
  private readonly opens = new Map<string, number>();

  /** The size of `path`'s text for a stat: the one kept while it is open, else made now by `make`. */
  async size(path: string, make: () => Promise<string>): Promise<number> {
    const kept = this.opens.has(path) ? this.texts.get(path) : undefined;
    if (kept) return kept.length;
    const text = Buffer.from(await make());
    this.texts.delete(path); // newest last
    this.texts.set(path, text);
    for (const old of this.texts.keys()) {
      if (this.texts.size <= KEPT) break;
      if (!this.opens.has(old)) this.texts.delete(old);
    }
    return text.length;
  }

  open(path: string): void {
    this.opens.set(path, (this.opens.get(path) ?? 0) + 1);
  }

  /** The release of `path`: false if it is not an open made file. */
  release(path: string): boolean {
    const opens = this.opens.get(path);
    if (opens === undefined) return false;
    if (opens > 1) this.opens.set(path, opens - 1);
    else this.opens.delete(path);
    return true;
  }

  /** Copy the text's bytes at `pos` into `buf`; the count, 0 at its end. */
  read(path: string, buf: Buffer, len: number, pos: number): number {
    const text = this.texts.get(path);
    return text ? readText(text, buf, len, pos) : 0;
  }
}
