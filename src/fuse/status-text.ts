// The control file's status text, kept made. With thousands of snapshots a status is
// asked for often (every stat of control, and a command's truncate asks for one), so:
//   - a line per snapshot is kept, and only a line whose facts changed is made again;
//   - a stat needs only the text's length: the lines are joined into one text only when
//     someone reads it, once per state;
//   - while reclaim or a recount runs, every step of theirs moves the figures of many
//     snapshots: the lines keep the figures of one moment, made again at most once a
//     second, in slices of background time (at 10,000 snapshots all the lines take some
//     30-40 ms, which no request should wait for); the totals stay exact.
import type { Volume } from '../engine/store';
import { Fault, newestFault } from '../engine/faults';
import type { StatusInput } from '../control/status';
import { snapshotLineFrame, statusFrame } from '../control/status';
import { backgroundTurn, sliceEnds } from '../util/time-slice';

const FIGURES_WHILE_SETTLING_MS = 1000;

/** What the status shows that the volume does not know. */
export interface StatusExtras {
  lastError: Fault | null;
  schedules: StatusInput['schedules'];
  sends: StatusInput['sends'];
  receives: StatusInput['receives'];
  io: StatusInput['io'];
}

interface KeptLine {
  frame: ReturnType<typeof snapshotLineFrame>;
  state: 'valid' | 'invalid';
  exclusive: number;
  shared: number;
  bytes: Buffer;
}

/** The text as of one state: its head and tail, and the whole once someone reads it. */
interface Shown {
  key: string;
  head: Buffer;
  tail: Buffer;
  length: number;
  joined: Buffer | null;
}

type Figures = { exclusive: number; shared: number };

export class StatusText {
  // a line per live snapshot, in the status's order: a create or delete changes one
  private readonly lines = new Map<string, KeptLine>();
  private linesBytes = 0;
  private linesMade = 0; // bumped whenever a line changes: a text shown stays as it was joined
  private listed = -1; // the volume's snapshotsChanged the lines follow
  private figures = -1; // the accounting's generation whose figures the lines show
  private figuresAt = 0; // when they were made
  private refreshing = false;
  private refreshed: { figures: number; made: Map<KeptLine, { bytes: Buffer; now: Figures }> } | null = null;
  private shown: Shown = { key: '', head: Buffer.alloc(0), tail: Buffer.alloc(0), length: 0, joined: null };

  constructor(
    private readonly volume: Volume,
    private readonly extras: () => StatusExtras,
    private readonly fail: (e: unknown) => void,
  ) {}

  /** Bring the text up to the volume's state; its length in bytes. */
  update(): number {
    const s = this.volume.status();
    this.followList();
    const settling = s.reclaim !== null || s.accounting !== null;
    if (this.refreshed) {
      const { figures, made } = this.refreshed;
      this.refreshed = null;
      this.figures = figures;
      this.remakeAll((_, line) => made.get(line)); // a line made anew meanwhile keeps its own
    }
    if (!settling && this.figures !== this.volume.spaceChanged) {
      // every snapshot's figures may have moved (a copy-out, a write to a snapshot)
      this.figures = this.volume.spaceChanged;
      this.remakeAll((name) => this.volume.space(name));
    } else if (settling && !this.refreshing && Date.now() - this.figuresAt >= FIGURES_WHILE_SETTLING_MS) {
      this.refreshSoon();
    }
    const { lastError, schedules, sends, receives, io } = this.extras();
    const input: Omit<StatusInput, 'snapshots'> = {
      originSize: s.originSize,
      chunkSize: s.chunkSize,
      totalBytes: s.totalBytes,
      usedBytes: s.usedBytes,
      freeBytes: s.freeBytes,
      reclaim: s.reclaim,
      rollback: s.rollback,
      lastError: newestFault(lastError, s.fault),
      space: s.space,
      accounting: s.accounting,
      schedules,
      daemon: process.pid,
      sends,
      receives,
      whenFull: s.whenFull,
      io,
      work: { copyOuts: s.copyOuts, commits: s.commits, faults: s.faults },
    };
    // the same facts give the same text: made again only when one changed
    const key = JSON.stringify({ ...input, lines: this.linesMade });
    if (key !== this.shown.key) {
      const { head, tail } = statusFrame(input, this.lines.size);
      const [h, t] = [Buffer.from(head), Buffer.from(tail)];
      this.shown = { key, head: h, tail: t, length: h.length + this.linesBytes + t.length, joined: null };
    }
    return this.shown.length;
  }

  /** The text as of the last `update`. */
  bytes(): Buffer {
    // the lines are as they were at that update: a change to them makes a new text there
    const { head, tail, length } = this.shown;
    return (this.shown.joined ??= Buffer.concat([head, ...[...this.lines.values()].map((l) => l.bytes), tail], length));
  }

  /** Follow the creates and deletes since the last update, a line each. */
  private followList(): void {
    const key = this.volume.snapshotsChanged;
    if (key === this.listed) return;
    let changes = this.listed >= 0 ? this.volume.snapshotChangesSince(this.listed) : null;
    if (!changes) {
      this.lines.clear();
      this.linesBytes = 0;
      changes = this.volume.snapshots().map((x) => ({ name: x.id, info: x }));
    }
    for (const { name, info } of changes) {
      this.linesBytes -= this.lines.get(name)?.bytes.length ?? 0;
      if (!info) {
        this.lines.delete(name);
        continue;
      }
      const line: KeptLine = {
        frame: snapshotLineFrame({ ...info, schedule: info.schedule || null }),
        state: info.invalid ? 'invalid' : 'valid',
        exclusive: -1,
        shared: -1,
        bytes: Buffer.alloc(0),
      };
      remake(line, this.volume.space(name));
      this.lines.set(name, line); // a name set anew keeps its place, as in the volume's list
      this.linesBytes += line.bytes.length;
    }
    this.listed = key;
    this.linesMade++;
  }

  /** Every line with these figures (a line made meanwhile keeps its own), and `figures`' moment. */
  private remakeAll(
    figuresOf: (name: string, line: KeptLine) => Figures | { bytes: Buffer; now: Figures } | undefined,
  ): void {
    let bytes = 0;
    for (const [name, line] of this.lines) {
      const now = figuresOf(name, line);
      if (now && 'bytes' in now) keep(line, now.now, now.bytes);
      else if (now) remake(line, now);
      bytes += line.bytes.length;
    }
    this.linesBytes = bytes;
    this.linesMade++;
    this.figuresAt = Date.now();
  }

  /** Make the lines' figures again, one moment's, in slices of background time. */
  private refreshSoon(): void {
    this.refreshing = true;
    this.refresh()
      .catch((e: unknown) => this.fail(e))
      .finally(() => (this.refreshing = false));
  }

  private async refresh(): Promise<void> {
    const figures = this.volume.spaceChanged;
    const space = await this.volume.spaceView();
    const names = [...this.lines.keys()];
    const made = new Map<KeptLine, { bytes: Buffer; now: Figures }>();
    for (let i = 0; i < names.length;) {
      await backgroundTurn();
      const enough = sliceEnds();
      for (; i < names.length && !enough(); i++) {
        const line = this.lines.get(names[i]);
        const now = space(names[i]);
        if (!line || !now) continue; // deleted meanwhile
        if (line.exclusive !== now.exclusive || line.shared !== now.shared)
          made.set(line, { bytes: lineBytes(line, now), now });
      }
    }
    // the next update puts them in (only references change hands): until then a text
    // being read stays whole
    this.refreshed = { figures, made };
  }
}

function lineBytes(line: KeptLine, now: Figures): Buffer {
  return Buffer.from(`${line.frame.line(now.exclusive, line.state, now.shared)}\n`);
}

function remake(line: KeptLine, now: Figures): void {
  if (line.bytes.length && line.exclusive === now.exclusive && line.shared === now.shared) return;
  keep(line, now, lineBytes(line, now));
}

function keep(line: KeptLine, now: Figures, bytes: Buffer): void {
  line.bytes = bytes;
  line.exclusive = now.exclusive;
  line.shared = now.shared;
}
