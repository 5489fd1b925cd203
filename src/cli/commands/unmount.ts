// `snapfuse unmount <mountpoint>`: unmount, then wait for the daemon to commit
// everything and exit, so that what runs next (a script's `check`, systemd's next start)
// finds the store free. A plain `umount` returns once the kernel let go; the kernel does
// not wait for the daemon (FUSE-NOTES.md). The daemon's pid is in the status.
import { execFile } from 'child_process';
import { resolve } from 'path';
import { promisify } from 'util';
import { StoreError } from '../../errors';
import { isRunning } from '../../util/process';
import { snapfuseMounts } from '../../fuse/mount';
import { mountStatus, originDirs } from '../control-client';
import { defineCommand } from '../usage';

export const unmountCommand = defineCommand({
  command: ['unmount <mountpoint>', 'umount'],
  describe: 'unmount, and return once the daemon has committed everything and exited',
  builder: (y) =>
    y.positional('mountpoint', { type: 'string', demandOption: true }).option('lazy', {
      type: 'boolean',
      default: false,
      describe: 'detach now even while images are in use (umount -l); waits for the daemon all the same',
    }),
  handler: (a) => runUnmount(a.mountpoint, a.lazy),
});

const run = promisify(execFile);

/** The pid of the daemon serving the mount at `mnt` (a mount of named origins: any origin's status). */
async function daemonOf(mnt: string): Promise<number | null> {
  const names = await originDirs(mnt);
  return (await mountStatus(names ? resolve(mnt, names[0]) : mnt)).daemon ?? null;
}

export async function runUnmount(mountpoint: string, lazy: boolean): Promise<void> {
  const mnt = resolve(mountpoint);
  if (!(await snapfuseMounts()).has(mnt)) throw StoreError.invalid(`${mnt} is not a snapfuse mount`);
  const pid = await daemonOf(mnt).catch(() => null);
  await run('umount', [...(lazy ? ['-l'] : []), mnt]).catch((e: Error & { stderr?: string }) => {
    const why = (e.stderr ?? e.message)
      .trim()
      .split('\n')[0]
      .replace(/^umount: /, '');
    throw new StoreError('BUSY', `cannot unmount ${why} (a loop device or a program still uses an image?)`);
  });
  if (pid === null) return; // an older daemon that does not say: the kernel has let go, at least
  let said = false;
  const start = Date.now();
  while (isRunning(pid)) {
    if (!said && Date.now() - start > 2000) {
      process.stderr.write(`snapfuse: waiting for the daemon (process ${pid}) to commit and exit\n`);
      said = true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
