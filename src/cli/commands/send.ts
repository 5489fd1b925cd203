// `snapfuse send`: a snapshot (whole, or the delta from an earlier one) as a stream on
// stdout, never a terminal; progress goes to stderr when that is one. From an unmounted
// store, opened for it; or from a mount while it serves: the mount's send/ file gives the
// plan (and, held open, keeps the snapshots from being deleted), and the data is read
// from the snapshot's image like any reader's.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../../errors';
import { StoreFiles } from '../../engine/open-files';
import { resumeOffset, sendSnapshot, SendSummary, writeStream } from '../../engine/tools/replication';
import { parseSendPlan } from '../../control/send-plan';
import { isDirectory, mountStatus } from '../control-client';
import { withStore } from '../offline-store';
import { streamProgress } from '../progress';
import { chosenOrigin, ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';

export const sendCommand = defineCommand({
  command: 'send <files..>',
  describe:
    'write a snapshot to stdout as a stream, whole or the delta --from an earlier one: ' +
    '`send <mountpoint> <snapshot>` from a mount while it serves (`<mountpoint>/<name>` for a named origin), ' +
    '`send <origin> <cow> <snapshot>` or `send <cow> <snapshot> --origin <name>` from an unmounted store',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: '<mountpoint> <snapshot>, or [<origin>] <cow> <snapshot>',
      })
      .option('origin', ORIGIN_OPTION)
      .option('from', { type: 'string', describe: 'send only what changed since this snapshot' })
      .option('resume', {
        type: 'string',
        describe: 'send only the rest of a send whose receive was cut: the token the receive printed',
      })
      .check((a) => {
        const n = (a.files as string[]).length;
        return n === 2 || n === 3
          ? true
          : 'give <mountpoint> <snapshot>, <origin> <cow> <snapshot>, or <cow> <snapshot>';
      }),
  handler: async (a) => {
    const args = a.files as string[];
    const origins = originOptions(a.origin);
    const snapshot = args[args.length - 1];
    const mounted = args.length === 2 && (await isDirectory(args[0]));
    if (mounted && origins.length)
      throw StoreError.invalid("--origin is for an unmounted store: give the origin's directory");
    const sent = mounted
      ? await runSendMounted(args[0], snapshot, a.from, a.resume)
      : await runSend(
          storeFilesOf(args.slice(0, -1), origins, args.length === 2),
          chosenOrigin(origins),
          snapshot,
          a.from,
          a.resume,
        );
    if (process.stderr.isTTY) console.error(`sent ${snapshot}: ${sent.bytes} bytes of image`);
  },
});

/** Write to stdout, waiting while the pipe is full; a reader gone away is an error. */
function stdoutSink(): (buf: Buffer) => Promise<void> {
  return (buf) =>
    new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(StoreError.io(`cannot write the stream: ${e.message}`, e));
      process.stdout.once('error', onError);
      process.stdout.write(buf, (e) => {
        process.stdout.off('error', onError);
        if (e) onError(e);
        else resolve();
      });
    });
}

function refuseTerminal(): void {
  if (process.stdout.isTTY)
    throw StoreError.invalid('the stream would go to a terminal: redirect it to a file or pipe');
}

export async function runSend(
  files: StoreFiles,
  origin: string | undefined,
  snapshot: string,
  base?: string,
  resume?: string,
): Promise<SendSummary> {
  refuseTerminal();
  const bar = streamProgress(`send ${snapshot}`, true);
  try {
    return await withStore(files, true, ({ store }) =>
      sendSnapshot(store, snapshot, stdoutSink(), { base, origin, resume, progress: bar.progress }),
    );
  } finally {
    bar.stop();
  }
}

/**
 * The same stream, from a mount while it serves: the plan from `send/<base>..<snapshot>`
 * (held open until the stream is written, so neither snapshot can be deleted meanwhile),
 * the data from `snapshots/<snapshot>.img`.
 */
export async function runSendMounted(
  dir: string,
  snapshot: string,
  base?: string,
  resume?: string,
): Promise<SendSummary> {
  refuseTerminal();
  const status = await mountStatus(dir); // a clear error when this is no mount of ours
  for (const id of base === undefined ? [snapshot] : [snapshot, base]) {
    if (!status.snapshots.some((s) => s.id === id)) throw new StoreError('NOT_FOUND', `no snapshot ${id}`);
  }
  if (base === snapshot) throw StoreError.invalid('a snapshot cannot be sent as a delta from itself');
  const planFile = await openMounted(join(dir, 'send', base === undefined ? snapshot : `${base}..${snapshot}`));
  try {
    const plan = parseSendPlan(await planFile.readFile('utf8'));
    const from = resume === undefined ? undefined : resumeOffset(plan, resume);
    const image = await openMounted(join(dir, 'snapshots', `${snapshot}.img`));
    const bar = streamProgress(`send ${snapshot}`, true);
    try {
      return await writeStream(plan, (buf, pos) => readFully(image, buf, pos), stdoutSink(), bar.progress, from);
    } finally {
      bar.stop();
      await image.close();
    }
  } finally {
    await planFile.close();
  }
}

async function openMounted(path: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StoreError('NOT_FOUND', `${path} is gone: was the snapshot deleted?`);
    throw StoreError.io(`cannot open ${path}: ${code}`, e);
  }
}

/** Read `buf.length` bytes at `pos`; an image read short (or failing) is an error. */
async function readFully(image: fs.FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let at = 0; at < buf.length;) {
    const { bytesRead } = await image.read(buf, at, buf.length - at, pos + at).catch((e: NodeJS.ErrnoException) => {
      throw StoreError.io(`cannot read the snapshot's image at byte ${pos + at}: ${e.code}`, e);
    });
    if (bytesRead === 0) throw StoreError.io(`the snapshot's image ends at byte ${pos + at}`);
    at += bytesRead;
  }
}
