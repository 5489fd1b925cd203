// One process at a time has a store open. Node has no flock, so the lock is a file
// named after the COW's device and inode, holding the holder's pid; a lock whose pid is
// gone (a crashed daemon) is stale and taken over. /run is emptied at boot.
//
// A holder that is closing (a daemon whose mount went away, committing its last work)
// says so in the file ("<pid> closing") and touches it while it works: an opener waits
// for it as long as it keeps doing so (up to a minute), instead of refusing. A daemon
// serving a mount says where ("<pid> serving <mountpoint>"): once that mount is gone,
// the daemon is closing even if it has not noticed yet (it looks a few times a second).
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../errors';
import { mounts } from '../util/mountinfo';
import { isRunning } from '../util/process';

const LOCK_DIR = process.env.SNAPFUSE_LOCK_DIR ?? '/run/snapfuse';
/** How long an opener waits for a holder that is closing, at most. */
export const CLOSING_WAIT_MS = 60_000;
const HEARTBEAT_MS = 500;
/** A closing holder that has not touched its lock for this long is no longer making progress. */
const STALLED_MS = 10_000;

export interface StoreLock {
  /** Say that this holder serves a mount at `mountpoint`. */
  serving(mountpoint: string): Promise<void>;
  /** Say that this holder is closing; it then touches the lock until `release`. */
  closing(): Promise<void>;
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  closing: boolean;
  touched: number; // ms
}

/** Who holds the lock, as its file says; null if the file is gone. */
async function holderOf(file: string): Promise<Holder | null> {
  const [text, st] = await Promise.all([fs.readFile(file, 'utf8').catch(() => null), fs.stat(file).catch(() => null)]);
  if (text === null || st === null) return null;
  const m = /^(\d+)(?: (closing|serving) ?(.*))?$/.exec(text.replace(/\n$/, ''));
  if (!m) return { pid: 0, closing: false, touched: st.mtimeMs };
  const gone = m[2] === 'serving' && !(await fuseMounts()).has(m[3]);
  // a serving daemon whose mount is gone closes from that moment on: its progress counts from then
  return { pid: Number(m[1]), closing: m[2] === 'closing' || gone, touched: gone ? Date.now() : st.mtimeMs };
}

/**
 * Take the lock of the store on `cowPath`, waiting up to `waitMs` for a holder that
 * serves it to finish, and for a holder that is closing as long as it makes progress.
 */
export async function lockStore(cowPath: string, waitMs = 5000): Promise<StoreLock> {
  const st = await fs.stat(cowPath);
  const id = st.isBlockDevice() ? `rdev-${st.rdev}` : `${st.dev}-${st.ino}`;
  const file = join(LOCK_DIR, `${id}.lock`);
  await fs.mkdir(LOCK_DIR, { recursive: true });
  const start = Date.now();
  let told = false;
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return held(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await holderOf(file);
    if (!holder) continue;
    if (!holder.pid || !isRunning(holder.pid)) {
      await fs.rm(file, { force: true });
      continue;
    }
    const now = Date.now();
    const progressing = holder.closing && now - holder.touched < STALLED_MS && now - start < CLOSING_WAIT_MS;
    if (progressing && !told) {
      process.stderr.write(`snapfuse: waiting for process ${holder.pid}, which is closing the store (${cowPath})\n`);
      told = true;
    }
    if (!progressing && now - start > waitMs) {
      const why = holder.closing ? ', closing but making no progress' : '';
      throw new StoreError('LOCKED', `store in use by process ${holder.pid}${why} (${cowPath})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function held(file: string): StoreLock {
  let heartbeat: NodeJS.Timeout | null = null;
  return {
    serving: (mountpoint) => fs.writeFile(file, `${process.pid} serving ${mountpoint}\n`),
    closing: async () => {
      if (heartbeat) return;
      await fs.writeFile(file, `${process.pid} closing\n`);
      heartbeat = setInterval(() => {
        const now = new Date();
        fs.utimes(file, now, now).catch(() => undefined);
      }, HEARTBEAT_MS);
      heartbeat.unref();
    },
    release: async () => {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = null;
      await fs.rm(file, { force: true });
    },
  };
}

/** Mount points of FUSE mounts, where a serving holder's mount would be. */
async function fuseMounts(): Promise<Set<string>> {
  const all = await mounts().catch(() => []);
  return new Set(all.filter((m) => m.fstype.startsWith('fuse')).map((m) => m.mountpoint));
}
