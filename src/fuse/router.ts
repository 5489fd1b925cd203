// The whole mount: a store of one origin shows its volume at the root, exactly as
// handlers.ts lays it out; a store of named origins shows a directory per origin, each
// holding that layout (origin.img, snapshots/, control, diff/):
//
//   /<name>/origin.img, /<name>/snapshots/<id>.img, /<name>/control, /<name>/diff/
//
// Each origin's control file takes the same commands and shows the same status as a
// store of one origin's, for that origin: its size, snapshots, space and schedules; the
// store's space and reclaim are shared. The root has a control file of its own, for
// every origin at once (root-control.ts).
import { constants as osConstants } from 'os';
import type { Operations } from 'fuse-native';
import { Store } from '../engine/store';
import { errnoOf, guard } from './guard';
import { readText } from './made-files';
import { Handlers } from './handlers';
import { MAX_COMMAND_BYTES } from '../control/command';
import { RootControl } from './root-control';
import type { OpenedStore } from '../engine/open-files';
import { StoreError } from '../errors';

const E = (name: keyof typeof osConstants.errno) => -osConstants.errno[name];
const S_IFDIR = 0o040000;
/** Operations answered 0 at the root: nothing to do there. */
const HARMLESS = new Set<keyof Operations>(['release', 'flush', 'fsync', 'utimens']);

/** Adding and removing origins of the store being served: its files' owner (open-files.ts). */
export type OriginFiles = Pick<OpenedStore, 'addOrigin' | 'removeOrigin'>;

export class StoreHandlers {
  private readonly views = new Map<string, Handlers>();
  private readonly opsOf = new Map<string, Operations>(); // each view's operations, as routed to
  private readonly mounted = new Date();
  private readonly rootControl: RootControl;
  private rootText: Buffer = Buffer.alloc(0); // the root status, as of its last stat
  private scheduling = false;

  constructor(
    private readonly store: Store,
    private readonly files?: OriginFiles,
  ) {
    for (const v of store.volumes()) this.addView(v.name);
    this.rootControl = new RootControl(store, this.views, this);
    // a full store retires no snapshot someone has open or is sending
    store.full.inUse = (origin, id) => [...this.views.values()].some((h) => h.holds(origin, id));
  }

  /**
   * Origin `name` is added from `path` while mounted: its directory appears at once. Only
   * in a mount of named origins (a store of one would change its layout under its users).
   */
  async addOrigin(name: string, path: string): Promise<void> {
    if (!this.files) throw StoreError.invalid('this mount cannot add origins');
    await this.files.addOrigin({ name, path });
    const view = this.addView(name);
    if (this.scheduling) view.startSchedules();
  }

  /** Origin `name` goes, with its snapshots; BUSY, changing nothing, while any of it is in use. */
  async removeOrigin(name: string): Promise<void> {
    if (!this.files) throw StoreError.invalid('this mount cannot remove origins');
    const view = this.views.get(name);
    if (!view) throw new StoreError('NOT_FOUND', `no origin ${name}`);
    view.assertUnused();
    view.closeDoors(true); // nothing opens while it goes
    try {
      await this.files.removeOrigin(name);
    } catch (e) {
      view.closeDoors(false);
      throw e;
    }
    this.views.delete(name);
    this.opsOf.delete(name);
    await view.stopSchedules();
  }

  private addView(name: string): Handlers {
    const view = new Handlers(this.store.volume(this.store.named ? name : undefined));
    this.views.set(name, view);
    this.opsOf.set(name, view.operations());
    return view;
  }

  /** One origin's handlers: by name, or the only one. */
  view(name?: string): Handlers {
    const v = this.views.get(name ?? this.store.volume().name);
    if (!v) throw new Error(`no origin ${name}`);
    return v;
  }

  startSchedules(): void {
    this.scheduling = true;
    for (const v of this.views.values()) v.startSchedules();
    if (this.store.named) this.rootControl.startSchedules();
  }

  async stopSchedules(): Promise<void> {
    await Promise.all([...this.views.values()].map((v) => v.stopSchedules()));
    await this.rootControl.stopSchedules();
  }

  /** Does the store name its origins (and so have a root control)? */
  get named(): boolean {
    return this.store.named;
  }

  /** The root control's commands (of a mount of named origins): every origin at once. */
  rootCommand(input: Buffer): Promise<void> {
    return this.rootControl.command(input);
  }

  /** A failure of the whole mount (the process's own): every control file's status shows it. */
  fail(what: string, e: unknown): void {
    for (const v of this.views.values()) v.fail(what, e);
  }

  /** The operations object for fuse-native. */
  operations(): Operations {
    if (!this.store.named) return this.opsOf.values().next().value!;
    const ops = this.opsOf; // origins come and go while mounted
    const any = () => ops.values().next().value!;
    // every operation takes the path first and the callback last: hand it to the
    // origin's own handlers with the path inside its directory
    const route =
      (op: keyof Operations) =>
      (path: string, ...rest: unknown[]) => {
        const cb = rest[rest.length - 1] as (r: number, ...more: unknown[]) => void;
        const m = /^\/([^/]+)(\/.*)?$/.exec(path);
        const target = m && ops.get(m[1]);
        if (target) return (target[op] as (...args: unknown[]) => void)(m[2] ?? '/', ...rest);
        if (path === '/control') return this.rootControlFile(op, rest, cb);
        if (path !== '/') return cb(E('ENOENT'));
        // the space is the store's: any origin's answer is the root's
        if (op === 'statfs') return any().statfs!('/', cb as never);
        this.root(op, cb);
      };
    const out: Record<string, unknown> = {};
    for (const op of Object.keys(any())) out[op] = route(op as keyof Operations);
    return guard(out as Operations, (op, path, e) => this.fail(`${op} ${path}`, e));
  }

  /** The root's control file: the store-wide status, and commands for every origin at once. */
  private rootControlFile(op: keyof Operations, args: unknown[], cb: (r: number, ...more: unknown[]) => void): void {
    switch (op) {
      case 'getattr':
        this.rootText = this.rootControl.status(); // the length a read will see
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
        this.rootText = this.rootControl.status();
        return cb(0, 1);
      case 'read': {
        const [, buf, len, pos] = args as [number, Buffer, number, number];
        return cb(readText(this.rootText, buf, len, pos));
      }
      case 'write': {
        const [, buf, len] = args as [number, Buffer, number];
        if (len >= MAX_COMMAND_BYTES) return cb(E('EINVAL'));
        this.rootControl.command(Buffer.from(buf.subarray(0, len))).then(
          () => cb(len),
          (e: unknown) => cb(errnoOf(e)),
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
