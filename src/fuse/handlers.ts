// The FUSE surface of one origin as a plain object of operations over its Volume: no
// mount here, so the handlers can be tested without one. Paths are the volume's own:
// a store of named origins shows each volume's tree under /<name> (see router.ts).
//
//   /                    directory
//   /origin.img          the origin, read-write, its size fixed
//   /snapshots/          one <id>.img per live snapshot, read-write
//   /control             write one command; read the status
//   /diff/<a>..<b>       read-only: the byte ranges where images a and b differ (ids or
//                        "origin"), an "offset length" line each; the directory lists nothing
//   /send/<s>, /send/<b>..<s>
//                        read-only: the plan of a send of snapshot s, whole or from b
//                        (control/send-plan.ts); while it is open, s and b cannot be deleted
//   /receive/<s>, /receive/<s>@origin
//                        write-only: a stream written in is received as snapshot s (and
//                        with @origin becomes the origin); fsync answers how it went. The
//                        directory lists the receives kept cut; unlink drops one
//
// Buffers that FUSE hands to read and write wrap native memory valid only until the
// callback: the store is done with them before we call back.
import createDebug from 'debug';
import { constants as osConstants } from 'os';
import { constants } from 'fs';
import type { Operations, Stat } from 'fuse-native';
import { StoreError } from '../errors';
import { ORIGIN_IMAGE, Volume } from '../engine/store';
import { Fault, faultOf } from '../engine/faults';
import { Scheduler, ScheduleHost } from '../engine/background/schedule';
import { MAX_COMMAND_BYTES, parseCommand } from '../control/command';
import { formatRanges } from '../control/diff';
import { formatSendPlan } from '../control/send-plan';
import { abortPartial, planSend, resumeTokenOf } from '../engine/tools/replication';
import { isSnapshotId } from '../control/words';
import type { IoStatus } from '../control/status';
import { StatusText } from './status-text';
import { MadeFiles, readText } from './made-files';
import { Sends } from './sends';
import { Receives } from './receives';
import { errnoOf, guard } from './guard';
import { foreground } from '../util/time-slice';

const debug = createDebug('snapfuse:fuse');
const O_ACCMODE = 3; // the access mode bits of open flags; not in fs.constants
const debugIo = createDebug('snapfuse:io'); // one line per image read and write
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

const E = (name: keyof typeof osConstants.errno) => -osConstants.errno[name];

type Node =
  | { kind: 'root' }
  | { kind: 'dir' }
  | { kind: 'control' }
  | { kind: 'image'; image: string }
  | { kind: 'diff'; from: string; to: string }
  | { kind: 'send'; snapshot: string; base: string | null }
  | { kind: 'receive'; name: string; becomeOrigin: boolean };

export class Handlers {
  private readonly opens = new Map<string, number>(); // image -> open handles
  private nextFd = 1;
  private readonly mounted = new Date();
  private readonly scheduler = new Scheduler(this.scheduleHost());
  // the newest failure of a command or request here; the status shows it, or the store's
  // newest background failure if that came later
  private lastError: Fault | null = null;
  // what the requests to this origin's files did since the mount (the status's io line)
  private readonly io: IoStatus = {
    originRead: 0,
    originWritten: 0,
    snapshotRead: 0,
    snapshotWritten: 0,
    refusedWrites: 0,
    errors: 0,
  };
  private readonly made = new MadeFiles(); // diff/ and send/ files
  private readonly sends = new Sends();
  private readonly receives: Receives;
  private doorsClosed = false;

  private readonly status: StatusText;

  constructor(private readonly volume: Volume) {
    this.receives = new Receives(
      volume,
      (e) => this.noteFault(faultOf(e)),
      () => this.assertOriginClosed(),
    );
    this.status = new StatusText(
      volume,
      () => ({
        lastError: this.lastError,
        schedules: volume.schedules().map((x) => ({ ...x, next: new Date(this.scheduler.due(x)) })),
        sends: this.sends.list(),
        receives: volume.staging.partials().map((p) => ({ name: p.name, bytes: p.received, token: resumeTokenOf(p) })),
        io: this.io,
      }),
      (e) => this.fail('status', e),
    );
  }

  /** Is this image open (by a loop device, a program...)? */
  isOpen(image: string): boolean {
    return (this.opens.get(image) ?? 0) > 0;
  }

  /** The status as the control file shows it, made now. */
  renderStatus(): Buffer {
    this.status.update();
    return this.status.bytes();
  }

  /** Carry out one control command; errors are recorded for the status and thrown. */
  async control(input: Buffer): Promise<void> {
    await this.recorded(async () => {
      const cmd = parseCommand(input);
      debug('control: %o', cmd);
      switch (cmd.op) {
        case 'create':
          await this.volume.create(cmd.id, cmd.from);
          break;
        case 'delete':
          await this.deleteSnapshot(cmd.id);
          break;
        case 'rollback':
          this.volume.snapshotExists(cmd.id);
          if (!(await this.closed(ORIGIN_IMAGE))) throw new StoreError('BUSY', 'the origin is open');
          await this.volume.rollback(cmd.id);
          break;
        case 'schedule':
          await this.volume.setSchedule(cmd);
          this.scheduler.wake();
          break;
        case 'unschedule':
          await this.volume.removeSchedule(cmd.name);
          break;
        case 'add-origin':
        case 'remove-origin':
          throw StoreError.invalid(`${cmd.op} is a command of the root's control (of a mount of named origins)`);
      }
    });
  }

  /** Take scheduled snapshots from now on, until `stopSchedules`. */
  startSchedules(): void {
    this.scheduler.wake();
  }

  stopSchedules(): Promise<void> {
    return this.scheduler.stop();
  }

  /** The rolling snapshots act as a person at the control file would: refusals recorded alike. */
  private scheduleHost(): ScheduleHost {
    return {
      schedules: () => this.volume.schedules(),
      taken: (name) => this.volume.taken(name),
      create: (id, schedule) => this.recorded(() => this.volume.create(id, ORIGIN_IMAGE, schedule)),
      delete: (id) => this.recorded(() => this.deleteSnapshot(id)),
      fail: (e) => this.fail('schedules', e),
    };
  }

  private async deleteSnapshot(id: string): Promise<void> {
    this.volume.snapshotExists(id);
    await this.assertDeletable(id);
    await this.volume.delete(id);
  }

  /** While this origin is being removed, nothing of it opens (ENOENT), so nothing is in use when it goes. */
  closeDoors(closed: boolean): void {
    this.doorsClosed = closed;
  }

  /** Is snapshot `id` of origin `origin` (if it is this one's) open or being sent? */
  holds(origin: number, id: string): boolean {
    return this.volume.origin === origin && (this.isOpen(id) || this.sends.holder(id) !== null);
  }

  /** BUSY if any image of this origin is open, or a send or receive of it is under way. */
  assertUnused(): void {
    const busy = [...this.opens.keys()];
    if (busy.length) throw new StoreError('BUSY', `origin ${this.volume.name} is in use: ${busy.join(', ')} open`);
    const sending = this.sends.list();
    if (sending.length)
      throw new StoreError('BUSY', `origin ${this.volume.name} is in use: a send of ${sending[0].snapshot}`);
    if (this.receives.underWay) throw new StoreError('BUSY', `origin ${this.volume.name} is in use: a receive`);
  }

  /** BUSY if snapshot `id` is open or being sent (and does not stop within a moment). */
  async assertDeletable(id: string): Promise<void> {
    const where = this.volume.name ? ` in origin ${this.volume.name}` : '';
    if (!(await this.closed(id))) throw new StoreError('BUSY', `snapshot ${id} is open${where}`);
    if (!(await this.soon(() => this.sends.holder(id) === null))) {
      throw new StoreError('BUSY', `snapshot ${id} is being sent${where} (${this.sends.holder(id)})`);
    }
  }

  /**
   * Is this image closed, or does it close within a moment? The kernel sends the RELEASE
   * of a file after close() has returned: `md5sum x.img; echo delete x > control` must
   * not find x open.
   */
  private closed(image: string): Promise<boolean> {
    return this.soon(() => !this.isOpen(image));
  }

  /** A rollback of the origin may start only while no one has it open. */
  private assertOriginClosed(): void {
    if (this.isOpen(ORIGIN_IMAGE)) throw new StoreError('BUSY', 'the origin is open');
  }

  /** Is `done` true, or does it come true within a late release's time? */
  private async soon(done: () => boolean): Promise<boolean> {
    for (let waited = 0; !done(); waited += 10) {
      if (waited >= LATE_RELEASE_MS) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  /** Run a command: its error, or none, becomes the status's last error. */
  private async recorded(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
      this.lastError = null;
    } catch (e) {
      this.noteFault(faultOf(e));
      throw StoreError.of(e);
    }
  }

  private resolve(path: string): Node | null {
    if (path === '/') return { kind: 'root' };
    if (path === '/snapshots') return { kind: 'dir' };
    if (path === '/control') return { kind: 'control' };
    if (path === '/diff') return { kind: 'dir' };
    const d = /^\/diff\/(.+)$/.exec(path);
    if (d) return this.diffNode(d[1]);
    if (path === '/send' || path === '/receive') return { kind: 'dir' };
    const sent = /^\/send\/(.+)$/.exec(path);
    if (sent) return this.sendNode(sent[1]);
    const got = /^\/receive\/(.+?)(@origin)?$/.exec(path);
    if (got && isSnapshotId(got[1])) return { kind: 'receive', name: got[1], becomeOrigin: got[2] !== undefined };
    if (path === '/origin.img') return { kind: 'image', image: ORIGIN_IMAGE };
    const m = /^\/snapshots\/(.+)\.img$/.exec(path);
    if (m && this.volume.snapshot(m[1])) return { kind: 'image', image: m[1] };
    return null;
  }

  private diffNode(name: string): Node | null {
    const pair = this.pairOf(name, (id) => id === ORIGIN_IMAGE || this.volume.snapshot(id) !== null);
    return pair && { kind: 'diff', from: pair[0], to: pair[1] };
  }

  /** "<snapshot>" or "<base>..<snapshot>": snapshots only (the origin is not sent). */
  private sendNode(name: string): Node | null {
    const exists = (id: string) => id !== ORIGIN_IMAGE && this.volume.snapshot(id) !== null;
    if (exists(name)) return { kind: 'send', snapshot: name, base: null };
    const pair = this.pairOf(name, exists);
    return pair && { kind: 'send', snapshot: pair[1], base: pair[0] };
  }

  /** "<a>..<b>", where ids may hold dots themselves: the split where both sides are images. */
  private pairOf(name: string, exists: (id: string) => boolean): [string, string] | null {
    for (let i = name.indexOf('..'); i > 0; i = name.indexOf('..', i + 1)) {
      const [a, b] = [name.slice(0, i), name.slice(i + 2)];
      if (exists(a) && exists(b)) return [a, b];
    }
    return null;
  }

  /** A diff/ or send/ file's text, made from the metadata. */
  private async madeText(node: Extract<Node, { kind: 'diff' | 'send' }>): Promise<string> {
    if (node.kind === 'send') return formatSendPlan(await planSend(this.volume, node.snapshot, node.base ?? undefined));
    const ranges = [];
    for await (const r of this.volume.diff(node.from, node.to)) ranges.push(r);
    return formatRanges(ranges);
  }

  private stat(node: Node, madeSize = 0): Stat {
    const base = {
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      atime: this.mounted,
      ctime: this.mounted,
    };
    if (node.kind === 'root' || node.kind === 'dir') {
      return { ...base, mode: S_IFDIR | 0o755, size: 4096, nlink: 2, mtime: this.mounted };
    }
    if (node.kind === 'control') {
      return { ...base, mode: S_IFREG | 0o600, size: this.status.update(), mtime: new Date() };
    }
    if (node.kind === 'diff' || node.kind === 'send') {
      return { ...base, mode: S_IFREG | 0o400, size: madeSize, mtime: new Date() };
    }
    if (node.kind === 'receive') return { ...base, mode: S_IFREG | 0o200, size: 0, mtime: new Date() };
    const created = this.volume.snapshot(node.image)?.created ?? this.mounted;
    const size = this.volume.originSize;
    return { ...base, mode: S_IFREG | 0o600, size, mtime: created, blksize: 4096, blocks: Math.ceil(size / 512) };
  }

  /** The operations object for fuse-native. */
  operations(): Operations {
    // a failed image read, write or sync is also the status's last error, so that a
    // refusal (a full store, a failing device) is seen there and not only by the caller
    const run = (what: string, cb: (r: number) => void, fn: () => Promise<number>) => {
      fn().then(cb, (e: unknown) => {
        if (!(e instanceof StoreError)) debug('%s failed: %s', what, (e as Error).stack);
        if (what !== 'control' && what !== 'receive') this.fail(what, e); // those record their own
        cb(errnoOf(e));
      });
    };
    return guard(
      this.bareOperations(run),
      (op, path, e) => this.fail(`${op} ${path}`, e),
      (_op, path) => path === '/control' && foreground(), // background work waits while a command runs
    );
  }

  /** Record a failure of `what` for the status's error line. */
  fail(what: string, e: unknown): void {
    this.noteFault(faultOf(e, what));
  }

  private noteFault(f: Fault): void {
    this.lastError = f;
    this.io.errors++;
  }

  private bareOperations(run: (what: string, cb: (r: number) => void, fn: () => Promise<number>) => void): Operations {
    return {
      getattr: (path, cb) => {
        const node = this.resolve(path);
        if (!node) return cb(E('ENOENT'));
        if (node.kind !== 'diff' && node.kind !== 'send') return cb(0, this.stat(node));
        this.made
          .size(path, () => this.madeText(node))
          .then(
            (size) => cb(0, this.stat(node, size)),
            (e: unknown) => {
              if (!(e instanceof StoreError)) this.fail(path.slice(1), e);
              cb(errnoOf(e));
            },
          );
      },
      readdir: (path, cb) => {
        if (path === '/') return cb(0, ['origin.img', 'snapshots', 'control', 'diff', 'send', 'receive']);
        if (path === '/diff' || path === '/send') return cb(0, []);
        if (path === '/receive')
          return cb(
            0,
            this.volume.staging.partials().map((p) => p.name),
          );
        if (path === '/snapshots')
          return cb(
            0,
            this.volume.snapshots().map((s) => `${s.id}.img`),
          );
        cb(E('ENOTDIR'));
      },
      statfs: (_path, cb) => {
        const s = this.volume.status();
        const blocks = s.totalBytes / 4096;
        const free = s.freeBytes / 4096;
        cb(0, {
          bsize: 4096,
          frsize: 4096,
          blocks,
          bfree: free,
          bavail: free,
          files: 2 + s.snapshotCount,
          ffree: 0,
          favail: 0,
          fsid: 0,
          flag: 0,
          namemax: 68,
        });
      },
      open: (path, flags, cb) => {
        const node = this.doorsClosed ? null : this.resolve(path);
        if (!node) return cb(E('ENOENT'));
        if (node.kind === 'root' || node.kind === 'dir') return cb(E('EISDIR'));
        const made = node.kind === 'diff' || node.kind === 'send';
        if (made && (flags & O_ACCMODE) !== constants.O_RDONLY) return cb(E('EACCES'));
        if (node.kind === 'receive') {
          if ((flags & O_ACCMODE) !== constants.O_WRONLY) return cb(E('EACCES'));
          // a rollback's start is refused while the origin is open: so is one that a receive would
          // start (asked again as it starts, at the end of the stream)
          if (node.becomeOrigin) {
            try {
              this.assertOriginClosed();
            } catch (e) {
              this.fail('receive', e);
              return cb(errnoOf(e));
            }
          }
          const fd = this.nextFd++;
          this.receives.open(fd, node.name, node.becomeOrigin);
          return cb(0, fd);
        }
        if (node.kind === 'image') this.opens.set(node.image, (this.opens.get(node.image) ?? 0) + 1);
        else if (made) {
          this.made.open(path);
          if (node.kind === 'send') this.sends.opened(path, node);
        } else if ((flags & O_ACCMODE) !== constants.O_WRONLY) this.status.update(); // what its reads will see
        cb(0, this.nextFd++);
      },
      release: (path, fd, cb) => {
        if (this.made.release(path)) {
          this.sends.released(path);
          return cb(0);
        }
        if (this.receives.has(fd)) return cb((this.receives.release(fd), 0));
        const node = this.resolve(path) ?? this.imageOfPath(path);
        if (node?.kind === 'image') {
          const n = (this.opens.get(node.image) ?? 1) - 1;
          if (n > 0) this.opens.set(node.image, n);
          else this.opens.delete(node.image);
        }
        cb(0);
      },
      read: (path, _fd, buf, len, pos, cb) => {
        const node = this.resolve(path);
        if (!node) return cb(E('ENOENT'));
        if (node.kind === 'control') {
          return cb(readText(this.status.bytes(), buf, len, pos));
        }
        if (node.kind === 'diff' || node.kind === 'send') return cb(this.made.read(path, buf, len, pos));
        if (node.kind === 'receive') return cb(E('EACCES'));
        if (node.kind !== 'image') return cb(E('EISDIR'));
        const n = Math.max(0, Math.min(len, this.volume.originSize - pos));
        debugIo('read %s %d at %d', path, len, pos);
        if (n === 0) return cb(0);
        run(`read of ${path.slice(1)}`, cb, async () => {
          await this.volume.read(node.image, buf.subarray(0, n), pos);
          if (node.image === ORIGIN_IMAGE) this.io.originRead += n;
          else this.io.snapshotRead += n;
          return n;
        });
      },
      write: (path, fd, buf, len, pos, cb) => {
        const node = this.resolve(path);
        if (!node) return cb(E('ENOENT'));
        if (node.kind === 'control') {
          // the kernel splits a long write into page-sized requests: a request of a
          // whole page or more is a piece of a command too long to take
          if (len >= MAX_COMMAND_BYTES) {
            this.noteFault({ errno: 'EINVAL', message: 'command too long', at: Date.now() });
            return cb(E('EINVAL'));
          }
          const input = Buffer.from(buf.subarray(0, len));
          return run('control', cb, async () => {
            await this.control(input);
            return len;
          });
        }
        if (node.kind === 'receive') {
          if (!this.receives.has(fd)) return cb(E('EBADF'));
          const piece = buf.subarray(0, len);
          return run('receive', cb, async () => (await this.receives.write(fd, piece, pos), len));
        }
        if (node.kind !== 'image') return cb(E('EISDIR'));
        // like a block device: what lies past the end is not written
        const n = Math.max(0, Math.min(len, this.volume.originSize - pos));
        debugIo('write %s %d at %d', path, len, pos);
        if (n === 0) {
          this.io.refusedWrites++;
          this.io.errors++;
          return cb(E('ENOSPC'));
        }
        run(`write to ${path.slice(1)}`, cb, async () => {
          try {
            await this.volume.write(node.image, buf.subarray(0, n), pos);
          } catch (e) {
            this.io.refusedWrites++;
            throw e;
          }
          if (node.image === ORIGIN_IMAGE) this.io.originWritten += n;
          else this.io.snapshotWritten += n;
          return n;
        });
      },
      fsync: (_path, _datasync, fd, cb) => {
        if (this.receives.has(fd)) return run('receive', cb, async () => (await this.receives.finish(fd), 0));
        run('fsync', cb, async () => (await this.volume.sync(), 0));
      },
      unlink: (path, cb) => {
        const node = this.resolve(path);
        if (node?.kind !== 'receive') return cb(E(node ? 'EPERM' : 'ENOENT'));
        run('unlink', cb, async () => (await this.recorded(() => abortPartial(this.volume, node.name)), 0));
      },
      flush: (_path, _fd, cb) => cb(0),
      truncate: (path, size, cb) => cb(this.truncate(path, size)),
      ftruncate: (path, _fd, size, cb) => cb(this.truncate(path, size)),
      utimens: (_path, _atime, _mtime, cb) => cb(0),
      chmod: (_path, _mode, cb) => cb(E('EPERM')),
    };
  }

  /**
   * Sizes are fixed. Truncating an image to its own size, or the control file, is
   * harmless; so is truncating to 0, which is how open(O_TRUNC) arrives (`cp` onto an
   * image): like a block device, the image ignores it. Any other size is refused.
   */
  private truncate(path: string, size: number): number {
    const node = this.resolve(path);
    if (!node) return E('ENOENT');
    if (node.kind === 'control') return 0;
    if (node.kind === 'diff' || node.kind === 'send') return E('EACCES');
    if (node.kind === 'receive') return size === 0 ? 0 : E('EINVAL'); // open(O_TRUNC): nothing to cut
    if (node.kind !== 'image') return E('EISDIR');
    return size === this.volume.originSize || size === 0 ? 0 : E('EINVAL');
  }

  /** A snapshot deleted while open is still released by its path. */
  private imageOfPath(path: string): Node | null {
    const m = /^\/snapshots\/(.+)\.img$/.exec(path);
    return m ? { kind: 'image', image: m[1] } : null;
  }
}

/** How long a delete or rollback waits for the kernel's late RELEASE of an image just closed. */
const LATE_RELEASE_MS = 200;
