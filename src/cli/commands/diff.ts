// `snapfuse diff`: the byte ranges where two images differ. Offline, on a store no mount
// holds (the lock says so), like `check`; or through a mount, from its diff/ directory,
// where the daemon computes them.
import { promises as fs } from 'fs';
import { join } from 'path';
import { StoreError } from '../../errors';
import { StoreFiles } from '../../engine/open-files';
import { ORIGIN_IMAGE } from '../../engine/store';
import { formatRanges, parseRanges } from '../../control/diff';
import { isDirectory, mountStatus } from '../control-client';
import { withStore } from '../offline-store';
import { chosenOrigin, ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand, UsageError } from '../usage';

export const diffCommand = defineCommand({
  command: 'diff <args..>',
  describe:
    'print the byte ranges where two images (snapshot ids or "origin") differ: ' +
    '`diff <mountpoint> <from> <to>` through a mount, `diff <origin> <cow> <from> <to>` or ' +
    '`diff <cow> <from> <to> --origin <name>` offline',
  builder: (y) =>
    y
      .positional('args', { type: 'string', array: true, demandOption: true })
      .option('origin', ORIGIN_OPTION)
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print {"from", "to", "chunkSize", "bytes", "ranges": [{"offset", "length"}]}',
      }),
  handler: async (a) => {
    const args = a.args as string[];
    if (args.length !== 3 && args.length !== 4) {
      throw new UsageError('diff takes <mountpoint> <from> <to>, or <origin> <cow> <from> <to>');
    }
    const origins = originOptions(a.origin);
    const [from, to] = args.slice(-2);
    const d =
      args.length === 3 && (await isDirectory(args[0]))
        ? await runDiffMounted(args[0], from, to)
        : await runDiff(storeFilesOf(args.slice(0, -2), origins, args.length === 3), chosenOrigin(origins), from, to);
    if (a.json) console.log(JSON.stringify(d, null, 2));
    else process.stdout.write(formatRanges(d.ranges));
  },
});

export interface DiffResult {
  from: string;
  to: string;
  chunkSize: number;
  bytes: number;
  ranges: Array<{ offset: number; length: number }>;
}

function diffResult(from: string, to: string, chunkSize: number, ranges: DiffResult['ranges']): DiffResult {
  return { from, to, chunkSize, bytes: ranges.reduce((n, r) => n + r.length, 0), ranges };
}

export async function runDiff(
  files: StoreFiles,
  origin: string | undefined,
  from: string,
  to: string,
): Promise<DiffResult> {
  return withStore(files, true, async ({ store }) => {
    const ranges = [];
    for await (const r of store.volume(origin).diff(from, to)) ranges.push(r);
    return diffResult(from, to, store.chunkSize, ranges);
  });
}

/** The same, through a mount: the daemon computes it, and <mountpoint>/diff/<from>..<to> holds it. */
export async function runDiffMounted(mountpoint: string, from: string, to: string): Promise<DiffResult> {
  const status = await mountStatus(mountpoint);
  for (const id of [from, to]) {
    if (id !== ORIGIN_IMAGE && !status.snapshots.some((s) => s.id === id)) {
      throw new StoreError('NOT_FOUND', `no snapshot ${id}`);
    }
  }
  const text = await fs.readFile(join(mountpoint, 'diff', `${from}..${to}`), 'utf8');
  return diffResult(from, to, status.chunkSize, parseRanges(text));
}
