// `snapfuse mount`: by default the daemon detaches, and this process returns once the
// mount answers (or prints why it did not). The daemon reports through an inherited
// pipe on fd 3: "ready", or "error <message>".
import createDebug from 'debug';
import { spawn } from 'child_process';
import { closeSync, writeSync } from 'fs';
import { StoreError } from '../errors';
import { Mount } from '../fuse/mount';
import { StoreFiles } from '../engine/open-files';

export interface MountArgs extends StoreFiles {
  mountpoint: string;
  foreground: boolean;
  'cache-size': number;
  'write-back': number;
  every?: string;
  keep?: number;
  'schedule-name': string;
  'ready-fd'?: number;
}

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
    if (a.every !== undefined) {
      // as `echo schedule ... > control` would (of each origin), before the mount is said to be ready
      const cmd = Buffer.from(`schedule ${a['schedule-name']} every ${a.every} keep ${a.keep}`);
      for (const view of mount.handlers.all().values()) {
        await view.control(cmd).catch(async (e: Error) => {
          await mount.unmount(true).catch(() => undefined);
          throw e;
        });
      }
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
