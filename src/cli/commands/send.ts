// `snapfuse send`: a snapshot of an unmounted store (whole, or the delta from an earlier
// one) as a stream on stdout, never a terminal; progress goes to stderr when that is one.
import { StoreError } from '../../errors';
import { StoreFiles } from '../../engine/open-files';
import { sendSnapshot, SendSummary } from '../../engine/tools/replication';
import { withStore } from '../offline-store';
import { streamProgress } from '../progress';
import { chosenOrigin, ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';

export const sendCommand = defineCommand({
  command: 'send <files..>',
  describe:
    'write a snapshot of an unmounted store to stdout as a stream, whole or the delta --from an earlier one: ' +
    '`send <origin> <cow> <snapshot>`, or `send <cow> <snapshot> --origin <name>`',
  builder: (y) =>
    y
      .positional('files', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: '[<origin>] <cow> <snapshot>',
      })
      .option('origin', ORIGIN_OPTION)
      .option('from', { type: 'string', describe: 'send only what changed since this snapshot' })
      .check((a) => {
        const n = (a.files as string[]).length;
        return n === 2 || n === 3 ? true : 'give <origin> <cow> <snapshot>, or <cow> <snapshot>';
      }),
  handler: async (a) => {
    const args = a.files as string[];
    const origins = originOptions(a.origin);
    const snapshot = args[args.length - 1];
    const files = storeFilesOf(args.slice(0, -1), origins, args.length === 2);
    const sent = await runSend(files, chosenOrigin(origins), snapshot, a.from);
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

export async function runSend(
  files: StoreFiles,
  origin: string | undefined,
  snapshot: string,
  base?: string,
): Promise<SendSummary> {
  if (process.stdout.isTTY)
    throw StoreError.invalid('the stream would go to a terminal: redirect it to a file or pipe');
  const bar = streamProgress(`send ${snapshot}`, true);
  try {
    return await withStore(files, true, ({ store }) =>
      sendSnapshot(store, snapshot, stdoutSink(), { base, origin, progress: bar.progress }),
    );
  } finally {
    bar.stop();
  }
}
