// The whole mount: a store of one origin shows its volume at the root, exactly as
// handlers.ts lays it out; a store of named origins shows a directory per origin, each
// holding that layout (origin.img, snapshots/, control, diff/):
//
//   /<name>/origin.img, /<name>/snapshots/<id>.img, /<name>/control, /<name>/diff/
//
// Each origin's control file takes the same commands and shows the same status as a
// store of one origin's, for that origin: its size, snapshots, space and schedules; the
// store's space and reclaim are shared. The root has a control file of its own: it takes
// `create <id>` and `delete <id>` for every origin at once (one commit: a consistency
// group), and shows the store-wide status (control/store-status.ts).
import { constants as osConstants } from 'os';
import type { Operations } from 'fuse-native';
import { Store } from '../engine/store';
import { errnoOf, guard } from './guard';
import { readText } from './made-files';
import { Handlers } from './handlers';
import { StoreError } from '../errors';
import { parseCommand, MAX_COMMAND_BYTES } from '../control/command';
import { formatStoreStatus } from '../control/store-status';
import type { Fault } from '../engine/faults';

const E = (name: keyof typeof osConstants.errno) => -osConstants.errno[name];
const S_IFDIR = 0o040000;
/** Operations answered 0 at the root: nothing to do there. */
const HARMLESS = new Set<keyof Operations>(['release', 'flush', 'fsync', 'utimens']);

export class StoreHandlers {
  private readonly views = new Map<string, Handlers>();
  private readonly mounted = new Date();
  private lastError: Fault | null = null; // of the root control's commands
  private rootText: Buffer = Buffer.alloc(0); // the root status, as of its last stat

  constructor(private readonly store: Store) {
    for (const v of store.volumes()) this.views.set(v.name, new Handlers(v));
  }

  /** One origin's handlers: by name, or the only one. */
  view(name?: string): Handlers {
    const v = this.views.get(name ?? this.store.volume().name);
    if (!v) throw new Error(`no origin ${name}`);
    return v;
  }

  /** Every origin's handlers, by name. */
  all(): ReadonlyMap<string, Handlers> {
    return this.views;
  }

  startSchedules(): void {
    for (const v of this.views.values()) v.startSchedules();
  }

  async stopSchedules(): Promise<void> {
    await Promise.all([...this.views.values()].map((v) => v.stopSchedules()));
  }

  /** A failure of the whole mount (the process's own): every control file's status shows it. */
  fail(what: string, e: unknown): void {
    for (const v of this.views.values()) v.fail(what, e);
  }

  /** The operations object for fuse-native. */
  operations(): Operations {
    if (!this.store.named) return this.view().operations();
    const ops = new Map([...this.views].map(([name, h]) => [name, h.operations()]));
    const any = ops.values().next().value!;
    // every operation takes the path first and the callback last: hand it to the
    // origin's own handlers with the path inside its directory
    const route =
      (op: keyof Operations) =>
      (path: string, ...rest: unknown[]) => {
        const cb = rest[rest.length - 1] as (r: number, ...more: unknown[]) => void;
        const m = /^\/([^/]+)(\/.*)?$/.exec(path);
        const target = m && ops.get(m[1]);
        if (target) return (target[op] as (...args: unknown[]) => void)(m[2] ?? '/', ...rest);
        if (path === '/control') return this.rootControl(op, rest, cb);
        if (path !== '/') return cb(E('ENOENT'));
        // the space is the store's: any origin's answer is the root's
        if (op === 'statfs') return any.statfs!('/', cb as never);
        this.root(op, cb);
      };
    const out: Record<string, unknown> = {};
    for (const op of Object.keys(any)) out[op] = route(op as keyof Operations);
    return guard(out as Operations, (op, path, e) => this.fail(`${op} ${path}`, e));
  }

  /** The store-wide status, made now. */
  private storeStatus(): Buffer {
    const s = this.store.status();
    const origins = this.store.volumes().map((v) => ({ name: v.name, size: v.originSize, snapshots: v.snapshotCount }));
    const newest = [this.lastError, this.store.faults.last].reduce<Fault | null>(
      (a, b) => (b && (!a || b.at > a.at) ? b : a),
      null,
    );
    const text = formatStoreStatus({
      origins,
      usedBytes: s.usedBytes,
      totalBytes: s.totalBytes,
      freeBytes: s.freeBytes,
      reclaim: s.reclaim,
      lastError: newest,
      daemon: process.pid,
    });
    return Buffer.from(text);
  }

  /** The root's control file: the store-wide status; `create <id>` or `delete <id>` of every origin. */
  private rootControl(op: keyof Operations, args: unknown[], cb: (r: number, ...more: unknown[]) => void): void {
    switch (op) {
      case 'getattr':
        this.rootText = this.storeStatus(); // the length a read will see
        return cb(0, {
          mode: 0o100600,
          size: this.rootText.length,
          nlink: 1,
          uid: process.getuid?.() ?? 0,
          gid: process.getgid?.() ?? 0,
          atime: this.mounted,
          mtime: new Date(),
          ctime: this.mounted,
        });
      case 'open':
        this.rootText = this.storeStatus();
        return cb(0, 1);
      case 'read': {
        const [, buf, len, pos] = args as [number, Buffer, number, number];
        return cb(readText(this.rootText, buf, len, pos));
      }
      case 'write': {
        const [, buf, len] = args as [number, Buffer, number];
        if (len >= MAX_COMMAND_BYTES) return cb(E('EINVAL'));
        const input = Buffer.from(buf.subarray(0, len));
        this.groupCommand(input).then(
          () => cb(len),
          (e: unknown) => {
            const err = StoreError.of(e);
            this.lastError = { errno: err.errno, message: err.message, at: Date.now() };
            cb(errnoOf(err));
          },
        );
        return;
      }
      case 'truncate':
      case 'ftruncate':
        return cb(0);
      default:
        return cb(HARMLESS.has(op) ? 0 : E('EPERM'));
    }
  }

  /** `create <id>` or `delete <id>` for every origin at once, in one commit. */
  private async groupCommand(input: Buffer): Promise<void> {
    const cmd = parseCommand(input);
    if (cmd.op === 'create' && cmd.id !== undefined && cmd.from === undefined) {
      await this.store.createGroup(cmd.id);
    } else if (cmd.op === 'delete') {
      const open = [...this.views].filter(([, h]) => h.isOpen(cmd.id)).map(([name]) => name);
      if (open.length) throw new StoreError('BUSY', `snapshot ${cmd.id} is open in origin ${open.join(', ')}`);
      await this.store.deleteGroup(cmd.id);
    } else {
      throw StoreError.invalid("the root's control takes create <id> and delete <id> (of every origin at once)");
    }
    this.lastError = null;
  }

  /** The root of a store of named origins: a directory of their directories. */
  private root(op: keyof Operations, cb: (r: number, ...more: unknown[]) => void): void {
    switch (op) {
      case 'getattr':
        return cb(0, {
          mode: S_IFDIR | 0o755,
          size: 4096,
          nlink: 2 + this.views.size,
          uid: process.getuid?.() ?? 0,
          gid: process.getgid?.() ?? 0,
          atime: this.mounted,
          mtime: this.mounted,
          ctime: this.mounted,
        });
      case 'readdir':
        return cb(0, ['control', ...this.views.keys()]);
      case 'open':
      case 'read':
      case 'write':
      case 'truncate':
      case 'ftruncate':
        return cb(E('EISDIR'));
      default:
        return cb(HARMLESS.has(op) ? 0 : E('EPERM'));
    }
  }
}
