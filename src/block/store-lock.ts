// One process at a time has a store open. Node has no flock, so the lock is a file
// named after the COW's device and inode, holding the holder's pid; a lock whose pid is
// gone (a crashed daemon) is stale and taken over. /run is emptied at boot.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../errors';

const LOCK_DIR = process.env.SNAPFUSE_LOCK_DIR ?? '/run/snapfuse';

export interface StoreLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the lock of the store on `cowPath`, waiting up to `waitMs` for a holder to finish. */
export async function lockStore(cowPath: string, waitMs = 5000): Promise<StoreLock> {
  const st = await fs.stat(cowPath);
  const id = st.isBlockDevice() ? `rdev-${st.rdev}` : `${st.dev}-${st.ino}`;
  const file = join(LOCK_DIR, `${id}.lock`);
  await fs.mkdir(LOCK_DIR, { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => fs.rm(file, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (!pid || !alive(pid)) {
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new StoreError('LOCKED', `store in use by process ${pid} (${cowPath})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
