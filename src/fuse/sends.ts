// The sends through this mount: a send/<snapshot> or send/<base>..<snapshot> file open
// is a send under way (`snapfuse send <mountpoint>` holds it open while it streams). Its
// snapshot and its base cannot be deleted meanwhile, and the status names each send.

export interface SendUnderWay {
  snapshot: string;
  base: string | null;
}

export class Sends {
  private readonly open = new Map<string, SendUnderWay & { opens: number }>();

  opened(path: string, send: SendUnderWay): void {
    const s = this.open.get(path);
    if (s) s.opens++;
    else this.open.set(path, { ...send, opens: 1 });
  }

  released(path: string): void {
    const s = this.open.get(path);
    if (s && --s.opens === 0) this.open.delete(path);
  }

  /** The send that holds snapshot `id` (as what it sends, or its base), as "send <snapshot> [from <base>]"; null if none. */
  holder(id: string): string | null {
    for (const s of this.open.values()) {
      if (s.snapshot === id || s.base === id)
        return s.base ? `send ${s.snapshot} from ${s.base}` : `send ${s.snapshot}`;
    }
    return null;
  }

  /** The sends under way, in the order they started. */
  list(): SendUnderWay[] {
    return [...this.open.values()].map(({ snapshot, base }) => ({ snapshot, base }));
  }
}
