// The CLI side of the control file: write one command, read the status. A failed
// command's errno comes back as the write's error; its text is in the status.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../errors';
import { parseStatus, StatusInput } from '../control/status';
import { parseStoreStatus, StoreStatusInput } from '../control/store-status';
import { progressReporter } from './progress';

function controlPath(mountpoint: string): string {
  return join(mountpoint, 'control');
}

/**
 * The status text. The control file goes through the kernel's page cache, which a
 * concurrent writer of a command, or a status that changes between two reads of one
 * `cat`, can leave torn for a moment: a text that does not parse is read again.
 */
export async function readStatus(mountpoint: string): Promise<string> {
  return (await readAndParse(mountpoint)).text;
}

/** The status, parsed once: read again while torn, as readStatus does. */
export async function mountStatus(mountpoint: string): Promise<StatusInput> {
  const read = await readAndParse(mountpoint);
  if ('torn' in read) throw read.torn; // what is wrong with the last text read
  return read.status;
}

/** The text, and what it says; after 10 torn reads, the last text and why it does not parse. */
async function readAndParse(
  mountpoint: string,
): Promise<{ text: string; status: StatusInput } | { text: string; torn: unknown }> {
  let text = '';
  let torn: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    text = await readControl(mountpoint);
    if (text.startsWith('origins ')) throw await namedMount(mountpoint); // the root's store-wide status
    try {
      return { text, status: parseStatus(text) };
    } catch (e) {
      torn = e;
      await new Promise((r) => setTimeout(r, 10 * (attempt + 1)));
    }
  }
  return { text, torn };
}

async function readControl(mountpoint: string): Promise<string> {
  try {
    return await fs.readFile(controlPath(mountpoint), 'utf8');
  } catch (e) {
    if (await originDirs(mountpoint)) throw await namedMount(mountpoint);
    throw StoreError.invalid(`${mountpoint} is not a snapfuse mount (${(e as NodeJS.ErrnoException).code})`);
  }
}

async function namedMount(mountpoint: string): Promise<StoreError> {
  const choices = ((await originDirs(mountpoint)) ?? []).map((n) => join(mountpoint, n)).join(', ');
  return StoreError.invalid(`${mountpoint} is a mount of named origins: give the origin's directory (${choices})`);
}

/** The store-wide status at the root of a mount of named origins, or null if `mountpoint` is not one. */
export async function rootStatus(mountpoint: string): Promise<StoreStatusInput | null> {
  const text = await fs.readFile(controlPath(mountpoint), 'utf8').catch(() => '');
  if (!text.startsWith('origins ')) return null;
  return parseStoreStatus(text);
}

/** `create <id>` or `delete <id>` of every origin, at the root of a mount of named origins. */
export async function writeRootCommand(mountpoint: string, command: string): Promise<void> {
  await writeCommand(mountpoint, command, async () => (await rootStatus(mountpoint))?.lastError ?? null);
}

/**
 * For a command that takes a store's COW or a mount: given the root of a mount of named
 * origins, what writes a command to its root control; null if `path` is no directory
 * (the COW of an unmounted store). A mount of one origin cannot take the command.
 */
export async function liveStore(path: string): Promise<((command: string) => Promise<void>) | null> {
  if (!(await isDirectory(path))) return null;
  if (await rootStatus(path)) return (command) => writeRootCommand(path, command);
  await readStatus(path); // a clear error when this is no mount of ours
  throw StoreError.invalid(
    `${path} is not the root of a mount of named origins: give that root, or the COW of an unmounted store ` +
      '(a store of one origin gains origins unmounted, naming its own with --origin <name>=<file>)',
  );
}

/** Is `path` a directory: the form in which a command names a mount (or one origin's directory in it)? */
export async function isDirectory(path: string): Promise<boolean> {
  return (await fs.stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** The origins of a mount of named origins (each a directory with its control file), or null. */
export async function originDirs(mountpoint: string): Promise<string[] | null> {
  const all = await fs.readdir(mountpoint, { withFileTypes: true }).catch(() => null);
  // the root of a mount of named origins has its own control file beside their directories
  const entries = all?.filter((e) => !(e.name === 'control' && e.isFile()));
  if (!entries?.length || entries.some((e) => !e.isDirectory())) return null;
  const names = entries.map((e) => e.name).sort();
  const controls = await Promise.all(names.map((n) => fs.stat(controlPath(join(mountpoint, n))).catch(() => null)));
  return controls.every((st) => st?.isFile()) ? names : null;
}

export async function controlCommand(mountpoint: string, command: string): Promise<void> {
  await readStatus(mountpoint); // a clear error when this is no mount of ours
  await writeCommand(mountpoint, command);
}

/**
 * Write one command to a mount whose status was just read (so it is one of ours). A
 * refused command fails with the status's error line, which says why.
 */
export async function writeCommand(
  mountpoint: string,
  command: string,
  lastError = async () => (await mountStatus(mountpoint)).lastError, // where the refusal's reason is
): Promise<void> {
  try {
    await fs.writeFile(controlPath(mountpoint), `${command}\n`);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const last = await lastError();
    throw new StoreError('FAILED', last ? `${last.message} (${last.errno})` : `${command}: ${errno}`);
  }
}

/**
 * Follow the mount's background work until it is done, with a progress bar (or plain
 * lines): `phase` names what runs now and how far it is, or null when nothing is left.
 */
export async function followProgress(
  mountpoint: string,
  phase: (s: StatusInput) => { what: string; done: number } | null,
  label: string,
): Promise<void> {
  const reporter = progressReporter(label);
  try {
    for (;;) {
      const now = phase(await mountStatus(mountpoint));
      if (now === null) break;
      reporter.update(Math.round(now.done * 100), 100, now.what);
      await new Promise((r) => setTimeout(r, 200));
    }
    reporter.update(100, 100);
  } finally {
    reporter.stop();
  }
}

/** `--wait` of a command whose work goes on in the mount: follow it with followProgress. */
export function waitOption(until: string) {
  return {
    type: 'boolean' as const,
    default: false,
    describe: `wait ${until}, with a progress bar (plain lines when stderr is not a terminal)`,
  };
}
