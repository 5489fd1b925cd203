// `snapfuse mount`: by default the daemon detaches, and this process returns once the
// mount answers (or prints why it did not). The daemon reports through an inherited
// pipe on fd 3: "ready", or "error <message>".
import createDebug from 'debug';
import { spawn } from 'child_process';
import { closeSync, writeSync } from 'fs';
import { StoreError } from '../../errors';
import { Mount } from '../../fuse/mount';
import { StoreFiles } from '../../engine/open-files';
import { DEFAULT_CACHE_SIZE } from '../../engine/store';
import { DEFAULT_WRITE_BACK } from '../../engine/io/write-back';
import { parseInterval } from '../../engine/background/schedule';
import { parseWhenFull, WhenFull } from '../../engine/full-store';
import { ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { sizeOption } from '../sizes';
import { defineCommand } from '../usage';

export interface MountArgs extends StoreFiles {
  mountpoint: string;
  foreground: boolean;
  'cache-size': number;
  'write-back': number;
  every?: string;
  keep?: number;
  'schedule-name': string;
  'when-full'?: WhenFull;
  'ready-fd'?: number;
}

export const mountCommand = defineCommand({
  command: 'mount <files..>',
  describe:
    'mount the store: `mount <origin> <cow> <mountpoint>` shows <mountpoint>/origin.img, snapshots/<id>.img, ' +
    'control; `mount <cow> <mountpoint>` (named origins) shows <mountpoint>/<name>/ of each',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: '[<origin>] <cow> <mountpoint>',
      })
      .option('origin', ORIGIN_OPTION)
      .check((a) => {
        const n = (a.files as string[]).length;
        return n === 2 || n === 3 ? true : 'give <origin> <cow> <mountpoint>, or <cow> <mountpoint>';
      })
      .option('foreground', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: 'stay attached; log to stderr',
      })
      .option('cache-size', sizeOption('metadata cache budget', DEFAULT_CACHE_SIZE))
      .option(
        'write-back',
        sizeOption('origin writes held while their copy-out commits; 0: each such write waits', DEFAULT_WRITE_BACK),
      )
      .option('every', {
        type: 'string',
        describe:
          'take a snapshot this often (30s, 5m, 1h, 1d, 1w): schedule --schedule-name, kept in the store (of every origin at once, in a store of named origins)',
        coerce: (v: string) => (parseInterval(v), v),
      })
      .option('keep', { type: 'number', describe: 'with --every: how many of its snapshots to keep' })
      .option('schedule-name', { type: 'string', default: 'auto', describe: 'with --every: the schedule set' })
      .implies('every', 'keep')
      .implies('keep', 'every')
      .option('when-full', {
        type: 'string',
        describe:
          'when an origin write finds the store full: refuse (ENOSPC), retire (delete the oldest scheduled snapshot; the default with a schedule) or invalidate (mark the snapshots that need the copy invalid); kept in the store',
        coerce: (v: string) => parseWhenFull(v),
      })
      .option('ready-fd', { type: 'number', hidden: true }),
  handler: async (a) => {
    const files = a.files as string[];
    const store = storeFilesOf(files.slice(0, -1), originOptions(a.origin), files.length === 2);
    const { origin, cow, paths } = store;
    await runMount({ ...(a as unknown as MountArgs), origin, cow, paths, mountpoint: files[files.length - 1] });
  },
});

const debug = createDebug('snapfuse:daemon');
let finished = false;

/** True once a foreground mount has ended and closed its store. */
export function daemonFinished(): boolean {
  return finished;
}

export async function runMount(a: MountArgs): Promise<void> {
  if (!a.foreground) return detach(a);
  const report = (line: string) => {
    if (a['ready-fd'] === undefined) return;
    writeSync(a['ready-fd'], `${line}\n`);
    closeSync(a['ready-fd']);
  };
  let mount: Mount;
  try {
    mount = await Mount.start(a, a.mountpoint, {
      cacheSize: a['cache-size'],
      writeBack: a['write-back'],
    });
    const policy = a['when-full'];
    if (policy) {
      await mount.store.full.setPolicy(policy).catch(async (e: Error) => {
        await mount.unmount(true).catch(() => undefined);
        throw e;
      });
    }
    if (a.every !== undefined) {
      // as `echo schedule ... > control` would, before the mount is said to be ready: in a
      // store of named origins at the root's, so that each takes snapshots of every origin
      const cmd = Buffer.from(`schedule ${a['schedule-name']} every ${a.every} keep ${a.keep}`);
      const { handlers } = mount;
      await (handlers.named ? handlers.rootCommand(cmd) : handlers.view().control(cmd)).catch(async (e: Error) => {
        await mount.unmount(true).catch(() => undefined);
        throw e;
      });
    }
  } catch (e) {
    report(`error ${(e as Error).message}`);
    throw e;
  }
  report('ready');
  keepServing(mount);
  let signals = 0;
  const stop = () => {
    // the first signal unmounts as umount would; a second one detaches lazily
    mount.unmount(++signals > 1).catch((e: Error) => console.error(`snapfuse: ${e.message}; still mounted`));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await mount.done;
  finished = true;
}

/**
 * The daemon never ends on its own: an exception nobody caught, or a rejected promise
 * nobody awaited, is logged and shown in every control file's status, and the mount goes on.
 */
function keepServing(mount: Mount): void {
  const survive = (what: string) => (e: unknown) => {
    debug('%s: %s', what, e instanceof Error ? e.stack : String(e));
    console.error(`snapfuse: ${what}: ${e instanceof Error ? e.message : String(e)}`);
    mount.handlers.fail(what, e);
  };
  process.on('uncaughtException', survive('an exception nobody caught'));
  process.on('unhandledRejection', survive('a failure nobody awaited'));
}

async function detach(a: MountArgs): Promise<void> {
  const args = [
    ...process.execArgv,
    process.argv[1],
    'mount',
    ...(a.origin !== undefined ? [a.origin] : []),
    a.cow,
    a.mountpoint,
    ...[...(a.paths ?? [])].flatMap(([name, path]) => ['--origin', `${name}=${path}`]),
    '--foreground',
    '--cache-size',
    String(a['cache-size']),
    '--write-back',
    String(a['write-back']),
    ...(a.every !== undefined
      ? ['--every', a.every, '--keep', String(a.keep), '--schedule-name', a['schedule-name']]
      : []),
    ...(a['when-full'] ? ['--when-full', a['when-full']] : []),
    '--ready-fd',
    '3',
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  let said = '';
  pipe.on('data', (d: Buffer) => (said += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  await new Promise<void>((r) => pipe.on('end', r));
  const line = said.trim();
  if (line === 'ready') {
    child.unref();
    return;
  }
  const code = line ? null : await exited;
  throw new StoreError('FAILED', line.replace(/^error /, '') || `the mount daemon exited (${code})`);
}
