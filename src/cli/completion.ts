// What `snapfuse completion`'s script offers for the word under the cursor: the snapfuse
// mounts for a command's mountpoint, the mount's snapshot ids where a command takes one
// (from its control file's status), and yargs' own completion of commands and options
// elsewhere. A completion prints no error and never hangs: whatever cannot be read in
// time offers nothing, and the shell falls back to completing file names.
import { execFile } from 'child_process';
import { dirname, join, resolve } from 'path';
import { snapfuseMounts } from '../fuse/mount';
import { parseStatus } from '../control/status';
import { parseStoreStatus } from '../control/store-status';

/**
 * The option yargs' completion script passes before the words of the command line, the
 * program's name first. Declared a flag, so that yargs' parser does not take that name
 * for its value: the command named next would run, and after a completion that reads
 * (asynchronously) yargs would go on to check its arguments and fail them.
 */
export const COMPLETION_KEY = 'get-yargs-completions';
export const COMPLETION_FLAG = { type: 'boolean', hidden: true } as const;
/** How long a read of a mount's control file may take before the completion gives up on it. */
const READ_MS = 1000;

/**
 * Which mounts a command's first argument may name: `any` (also the root of a mount of
 * named origins, and its origins' directories), `origin` (one origin: a mount of one, or
 * an origin's directory), `root` (what was mounted).
 */
type MountKind = 'any' | 'origin' | 'root';

/** The commands whose first argument is a mount; `id`: the second is one of its snapshots. */
const COMMANDS: Record<string, { mount: MountKind; id?: boolean; from?: boolean }> = {
  delete: { mount: 'any', id: true }, // at the root: of every origin that has it
  rollback: { mount: 'origin', id: true },
  send: { mount: 'origin', id: true, from: true },
  create: { mount: 'any', from: true },
  status: { mount: 'any' },
  list: { mount: 'any' },
  schedule: { mount: 'any' },
  unmount: { mount: 'root' },
  umount: { mount: 'root' },
};

/** Options of these commands that take a value (the word after them is no positional). */
const VALUED = new Set(['--from', '--resume', '--origin', '--every', '--keep']);

export type Target =
  | { complete: 'mountpoint'; mount: MountKind }
  | { complete: 'id'; of: string; root: boolean } // root: the root of a mount of named origins takes it
  | { complete: 'nothing' } // an option's value: the shell completes a file name
  | { complete: 'default' }; // yargs' commands and options

/**
 * What the last of `words` (the command line after the program's name, as the shell
 * split it: bash makes `--from=x` three words, `--from`, `=`, `x`) is to be completed with.
 */
export function completionTarget(words: readonly string[]): Target {
  const [command, ...rest] = words;
  const spec = COMMANDS[command];
  if (words.length < 2 || !spec) return { complete: 'default' };
  const current = rest.pop() ?? '';
  const before = rest[rest.length - 1] === '=' ? rest.slice(0, -1) : rest; // `--from=`
  const valueOf = VALUED.has(before[before.length - 1] ?? '') ? before[before.length - 1] : null;
  const positionals: string[] = [];
  for (let i = 0; i < before.length - (valueOf ? 1 : 0); i++) {
    if (VALUED.has(before[i])) i += before[i + 1] === '=' ? 2 : 1;
    else if (!before[i].startsWith('-')) positionals.push(before[i]);
  }
  if (valueOf === '--from')
    return spec.from && positionals.length
      ? { complete: 'id', of: positionals[0], root: false }
      : { complete: 'nothing' };
  if (valueOf) return { complete: 'nothing' };
  if (current.startsWith('-')) return { complete: 'default' };
  if (positionals.length === 0) return { complete: 'mountpoint', mount: spec.mount };
  if (positionals.length === 1 && spec.id) return { complete: 'id', of: positionals[0], root: spec.mount === 'any' };
  return { complete: 'default' };
}

/**
 * The status in `dir`'s control file, or null if it cannot be read within READ_MS. Read
 * by a `cat` killed at the end of that time, not by node: a read stuck in a mount whose
 * daemon does not answer would keep node from exiting (at exit it waits for its threads).
 */
function readControl(dir: string): Promise<string | null> {
  return new Promise((settle) =>
    execFile('cat', [join(dir, 'control')], { timeout: READ_MS, killSignal: 'SIGKILL' }, (err, text) =>
      settle(err ? null : text),
    ),
  );
}

/** The origins of the mount whose control file says `text`, if it is the root of a mount of named origins. */
function originsIn(text: string | null): string[] | null {
  return text?.startsWith('origins ') ? parseStoreStatus(text).origins.map((o) => o.name) : null;
}

function idsIn(text: string | null): string[] {
  return text === null || text.startsWith('origins ') ? [] : parseStatus(text).snapshots.map((s) => s.id);
}

async function ourMounts(): Promise<Set<string>> {
  return snapfuseMounts().catch(() => new Set<string>());
}

/** The snapfuse mounts a command's mountpoint may be, with the origins' directories of mounts of named origins. */
async function mountpoints(mount: MountKind): Promise<string[]> {
  const roots = [...(await ourMounts())].sort();
  if (mount === 'root') return roots;
  const each = await Promise.all(roots.map(async (m) => originsIn(await readControl(m))));
  return roots.flatMap((m, i) => {
    const names = each[i];
    return names ? [...(mount === 'any' ? [m] : []), ...names.map((n) => join(m, n))] : [m];
  });
}

/** The ids of the snapshots at `path`: a snapfuse mount, or an origin's directory in one; else none. */
async function snapshotIds(path: string, root: boolean): Promise<string[]> {
  const dir = resolve(path);
  const ours = await ourMounts();
  // read nothing that is no mount of ours: a directory elsewhere may be slow to answer
  if (!ours.has(dir) && !ours.has(dirname(dir))) return [];
  const text = await readControl(dir);
  const names = originsIn(text);
  if (!names) return idsIn(text);
  if (!root) return [];
  const each = await Promise.all(names.map(async (n) => idsIn(await readControl(join(dir, n)))));
  return [...new Set(each.flat())];
}

type Done = (completions: string[]) => void;

/**
 * yargs' completion function (its fallback form: yargs' own completion where this one
 * has nothing to say), for the command line `argv` yargs was handed.
 */
export function completion(argv: readonly string[]) {
  const words = argv.slice(argv.indexOf(`--${COMPLETION_KEY}`) + 2); // past the key and the program's name
  return (_current: string, _argv: unknown, defaultCompletion: () => void, done: Done): void => {
    const target = completionTarget(words);
    if (target.complete === 'default') return defaultCompletion();
    const offered =
      target.complete === 'mountpoint'
        ? mountpoints(target.mount)
        : target.complete === 'id'
          ? snapshotIds(target.of, target.root)
          : Promise.resolve([]);
    void offered.catch(() => []).then(done);
  };
}
