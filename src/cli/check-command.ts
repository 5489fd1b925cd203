// `snapfuse check <origin> <cow>` (or `check <cow>`, named origins): open the store read-only (refusing one that is
// mounted), walk all its metadata, and list what is wrong. A store that cannot even be
// opened is reported the same way, in one line. With --json the result also says how much
// of the store is metadata and how much copied data (absent when the store did not open).
import { openFiles, StoreFiles } from '../engine/open-files';
import { checkStoreReport, scrubData, SpaceUsage } from '../engine/check';
import { isStoreError } from '../errors';
import { progressReporter } from './progress';

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
