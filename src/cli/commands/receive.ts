// `snapfuse receive`: a stream from stdin (never a terminal) into a store, as a new
// snapshot: a mounted one through its receive/<name> file (the daemon reads the stream as
// it is written; the fsync answers how it went), or an unmounted one, opened for it.
// Progress goes to stderr when that is one, and a summary line after. A stream cut part
// way keeps what arrived and prints the token for `send --resume`; `--abort <snapshot>`
// drops such a cut receive instead.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../../errors';
import { isNamedStore, StoreFiles } from '../../engine/open-files';
import { abortReceive, receiveSnapshot, ReceiveSummary } from '../../engine/tools/replication';
import { peekHeader } from '../../format/stream';
import { unpackResumeToken } from '../../format/resume-token';
import { isDirectory, mountStatus } from '../control-client';
import { withStore } from '../offline-store';
import { streamProgress } from '../progress';
import { mebibytes } from '../sizes';
import { chosenOrigin, ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';

export const receiveCommand = defineCommand({
  command: 'receive <files..>',
  describe:
    'read a stream from stdin into a store, as a new snapshot (by default named as it was sent): ' +
    '`receive <mountpoint> [<snapshot>]` into a mount while it serves (`<mountpoint>/<name>` for a named origin), ' +
    '`receive <origin> <cow> [<snapshot>]` or `receive <cow> [<snapshot>] --origin <name>` into an unmounted store; ' +
    'a cut stream keeps what arrived and prints a token for `send --resume`',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: '<mountpoint> [<snapshot>], or [<origin>] <cow> [<snapshot>]: the name to give it here',
      })
      .option('origin', ORIGIN_OPTION)
      .check((a) => ((a.files as string[]).length <= 3 ? true : 'give <origin> <cow> [<snapshot>]'))
      .option('become-origin', {
        type: 'boolean',
        default: false,
        describe: 'then make the origin this snapshot (a rollback to it, started in the same commit)',
      })
      .option('abort', {
        type: 'string',
        describe: 'read no stream: drop the cut receive kept for this snapshot, and free its space',
      }),
  handler: async (a) => {
    const args = a.files as string[];
    const origins = originOptions(a.origin);
    if (args.length <= 2 && (await isDirectory(args[0]))) {
      if (origins.length) throw StoreError.invalid("--origin is for an unmounted store: give the origin's directory");
      if (a.abort !== undefined) {
        await abortMounted(args[0], a.abort);
        return void console.error(`dropped the cut receive of ${a.abort}`);
      }
      const r = await runReceiveMounted(args[0], args[1], a['become-origin']);
      return void console.error(describeReceive(r, a['become-origin']));
    }
    const named = args.length === 1 || (args.length === 2 && (await isNamedStore(args[0])));
    const files = storeFilesOf(args.slice(0, named ? 1 : 2), origins, named);
    if (a.abort !== undefined) {
      await withStore(files, false, ({ store }) => abortReceive(store, a.abort!, chosenOrigin(origins)));
      return void console.error(`dropped the cut receive of ${a.abort}`);
    }
    const r = await runReceive(files, chosenOrigin(origins), args[named ? 1 : 2], a['become-origin']);
    console.error(describeReceive(r, a['become-origin']));
  },
});

function refuseTerminalStdin(): void {
  if (process.stdin.isTTY) throw StoreError.invalid('no stream on stdin: pipe `snapfuse send` into it');
}

export async function runReceive(
  files: StoreFiles,
  origin: string | undefined,
  name: string | undefined,
  becomeOrigin: boolean,
): Promise<ReceiveSummary> {
  refuseTerminalStdin();
  const bar = streamProgress('receive', false);
  try {
    return await withStore(files, false, async ({ store }) => {
      const received = await receiveSnapshot(store, process.stdin, {
        name,
        becomeOrigin,
        origin,
        progress: bar.progress,
      });
      if (becomeOrigin) await store.idle(); // the rollback's copying, done before the store closes
      return received;
    });
  } finally {
    bar.stop();
  }
}

export function describeReceive(r: ReceivedHere, becomeOrigin: boolean): string {
  const what = r.base ? `the delta from ${r.base}` : 'a whole image';
  const mib = (n: number) => `${mebibytes(n)} MiB`;
  const origin = becomeOrigin ? '; the origin is now this snapshot' : '';
  const written = r.written === undefined ? '' : `, ${mib(r.written)} written`;
  return `received ${r.name} (${what}): ${mib(r.bytes)} in the stream${written}${origin}`;
}

/** What a receive says it did; through a mount, the bytes written are the daemon's to know. */
type ReceivedHere = Omit<ReceiveSummary, 'written'> & { written?: number };

/**
 * Receive into a mount: the header read ahead names the snapshot (a resumed stream, the
 * cut receive it continues), then the whole stream goes into receive/<name>, and its
 * fsync answers: a refusal's message (a resume token, if any) is the status's error.
 */
export async function runReceiveMounted(dir: string, wanted: string | undefined, becomeOrigin: boolean) {
  refuseTerminalStdin();
  const status = await mountStatus(dir); // a clear error when this is no mount of ours
  const { header, head, rest } = await peekHeader(process.stdin);
  const kept = (status.receives ?? []).find((r) => unpackResumeToken(r.token).snapshot === header.snapshot.uuid);
  const name = wanted ?? (header.resume && kept ? kept.name : header.snapshot.name);
  const path = join(dir, 'receive', becomeOrigin ? `${name}@origin` : name);
  const fh = await fs.open(path, 'w').catch((e: NodeJS.ErrnoException) => refusal(dir, e));
  const bar = streamProgress('receive', false);
  let bytes = 0;
  try {
    try {
      await fh.write(head);
      bytes += head.length;
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        await fh.write(next.value);
        bytes += next.value.length;
        bar.progress(bytes, 0);
      }
    } catch {
      // the receive refused the stream part way: its fsync tells why
    }
    await fh.sync().catch((e: NodeJS.ErrnoException) => refusal(dir, e));
  } finally {
    bar.stop();
    await fh.close().catch(() => undefined);
  }
  return { name, base: header.base?.name ?? null, bytes };
}

/** A refused receive or abort: the status's error line says why (with a resume token, if any). */
async function refusal(dir: string, e: NodeJS.ErrnoException): Promise<never> {
  const last = (await mountStatus(dir)).lastError;
  throw new StoreError('FAILED', last ? last.message : `${e.code}`, { cause: e });
}

/** Drop a cut receive kept by a mount: unlink its receive/ file. */
async function abortMounted(dir: string, name: string): Promise<void> {
  await mountStatus(dir);
  await fs.unlink(join(dir, 'receive', name)).catch((e: NodeJS.ErrnoException) => refusal(dir, e));
}
