// `snapfuse check <origin> <cow>` (or `check <cow>`, named origins): open the store read-only (refusing one that is
// mounted), walk all its metadata, and list what is wrong. A store that cannot even be
// opened is reported the same way, in one line. With --json the result also says how much
// of the store is metadata and how much copied data (absent when the store did not open).
import { openFiles, StoreFiles } from '../../engine/open-files';
import { checkStoreReport, scrubData, SpaceUsage } from '../../engine/tools/check';
import { isStoreError } from '../../errors';
import { progressReporter } from '../progress';
import { ORIGIN_OPTION, originOptions, storeFilesOf } from '../store-args';
import { defineCommand } from '../usage';

export const checkCommand = defineCommand({
  command: 'check <files..>',
  describe:
    'walk every metadata block of an unmounted store and list what is wrong (exit 1 if anything): ' +
    '`check <origin> <cow>`, or `check <cow>` (named origins)',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, demandOption: true, describe: '[<origin>] <cow>' })
      .option('origin', ORIGIN_OPTION)
      .check((a) => ((a.files as string[]).length <= 2 ? true : 'give <origin> <cow>, or <cow>'))
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print {"clean", "problems", "metadataBytes", "dataBytes"}',
      })
      .option('data', {
        type: 'boolean',
        default: false,
        describe: 'also read every COW chunk and check its crc32c (a scrub)',
      }),
  handler: async (a) => {
    const paths = a.files as string[];
    const files = storeFilesOf(paths, originOptions(a.origin), paths.length === 1);
    const result = await runCheck(files, a.json, a.data);
    if (a.json) console.log(JSON.stringify(result, null, 2));
    else if (result.clean) console.log(`${files.cow}: clean`);
    else for (const p of result.problems) console.log(p);
    if (!result.clean) throw new ProblemsFound(`${result.problems.length} problem(s) found in ${files.cow}`);
  },
});

/** check found problems: already printed; exit 1 with a summary line. */
class ProblemsFound extends Error {}

export interface CheckResult extends Partial<SpaceUsage> {
  clean: boolean;
  problems: string[];
}

export async function runCheck(files: StoreFiles, json: boolean, data: boolean): Promise<CheckResult> {
  let problems: string[];
  let usage: SpaceUsage | undefined;
  const bar = json ? null : progressReporter('check');
  try {
    const opened = await openFiles(files, { readOnly: true }, 0);
    try {
      const progress = (phase: string, done: number, total: number) => bar?.update(done, total, phase);
      const { problems: found, ...counted } = await checkStoreReport(opened.store.internals, progress);
      problems = found;
      usage = counted;
      if (data) problems.push(...(await scrubData(opened.store.internals, progress)));
    } finally {
      bar?.stop();
      await opened.close();
    }
  } catch (e) {
    if (isStoreError(e, 'LOCKED')) throw e; // in use: nothing was checked
    problems = [(e as Error).message];
  }
  return { clean: problems.length === 0, problems, ...usage };
}
