// The CLI side of the control file: write one command, read the status. A failed
// command's errno comes back as the write's error; its text is in the status.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../errors';
import { parseStatus } from '../fuse/control';

function controlPath(mountpoint: string): string {
  return join(mountpoint, 'control');
}

export async function readStatus(mountpoint: string): Promise<string> {
  try {
    return await fs.readFile(controlPath(mountpoint), 'utf8');
  } catch (e) {
    throw StoreError.invalid(`${mountpoint} is not a snapfuse mount (${(e as NodeJS.ErrnoException).code})`);
  }
}

export async function listSnapshots(mountpoint: string) {
  return parseStatus(await readStatus(mountpoint)).snapshots;
}

export async function controlCommand(mountpoint: string, command: string): Promise<void> {
  await readStatus(mountpoint); // a clear error when this is no mount of ours
  try {
    await fs.writeFile(controlPath(mountpoint), `${command}\n`);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const last = parseStatus(await readStatus(mountpoint)).lastError;
    throw new StoreError('FAILED', last ? `${last.message} (${last.errno})` : `${command}: ${errno}`);
  }
}
