// `snapfuse receive`: a stream from stdin (never a terminal) into an unmounted store, as
// a new snapshot; progress goes to stderr when that is one, and a summary line after. A
// stream cut part way keeps what arrived and prints the token for `send --resume`;
// `--abort <snapshot>` drops such a cut receive instead.
import { StoreError } from '../../errors';
import { isNamedStore, StoreFiles } from '../../engine/open-files';
import { abortReceive, receiveSnapshot, ReceiveSummary } from '../../engine/tools/replication';
import { withStore } from '../offline-store';
import { streamProgress } from '../progress';
import { mebibytes } from '../sizes';
import { chosenOrigin, ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';

export const receiveCommand = defineCommand({
  command: 'receive <files..>',
  describe:
    'read a stream from stdin into an unmounted store, as a new snapshot (by default named as it was sent): ' +
    '`receive <origin> <cow> [<snapshot>]`, or `receive <cow> [<snapshot>] --origin <name>`; ' +
    'a cut stream keeps what arrived and prints a token for `send --resume`',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: '[<origin>] <cow> [<snapshot>]: the name to give it here',
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

export async function runReceive(
  files: StoreFiles,
  origin: string | undefined,
  name: string | undefined,
  becomeOrigin: boolean,
): Promise<ReceiveSummary> {
  if (process.stdin.isTTY) throw StoreError.invalid('no stream on stdin: pipe `snapfuse send` into it');
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

export function describeReceive(r: ReceiveSummary, becomeOrigin: boolean): string {
  const what = r.base ? `the delta from ${r.base}` : 'a whole image';
  const mib = (n: number) => `${mebibytes(n)} MiB`;
  const origin = becomeOrigin ? '; the origin is now this snapshot' : '';
  return `received ${r.name} (${what}): ${mib(r.bytes)} in the stream, ${mib(r.written)} written${origin}`;
}
