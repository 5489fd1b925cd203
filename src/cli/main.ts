#!/usr/bin/env node
// The snapfuse command line. Each command, in commands/<verb>.ts, parses, checks its
// input, and calls the library or the mount's control file; errors become one line and
// an exit code here, in one place: 0 done, 1 failed, 2 usage.
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { completion, COMPLETION_FLAG, COMPLETION_KEY } from './completion';
import { mountHelperArgs } from './mount-helper';
import { UsageError } from './usage';
import { formatCommand } from './commands/format';
import { addOriginCommand } from './commands/add-origin';
import { removeOriginCommand } from './commands/remove-origin';
import { daemonFinished, mountCommand } from './commands/mount';
import { unmountCommand } from './commands/unmount';
import { createCommand } from './commands/create';
import { deleteCommand } from './commands/delete';
import { rollbackCommand } from './commands/rollback';
import { scheduleCommand } from './commands/schedule';
import { listCommand } from './commands/list';
import { statusCommand } from './commands/status';
import { metricsCommand } from './commands/metrics';
import { checkCommand } from './commands/check';
import { diffCommand } from './commands/diff';
import { sendCommand } from './commands/send';
import { receiveCommand } from './commands/receive';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function cli(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('snapfuse')
    .usage('$0 <command> ...\n\nMany cheap, safe snapshots of a disk image or block device, over FUSE.')
    .command(formatCommand)
    .command(addOriginCommand)
    .command(removeOriginCommand)
    .command(mountCommand)
    .command(unmountCommand)
    .command(createCommand)
    .command(deleteCommand)
    .command(rollbackCommand)
    .command(scheduleCommand)
    .command(listCommand)
    .command(statusCommand)
    .command(metricsCommand)
    .command(checkCommand)
    .command(diffCommand)
    .command(sendCommand)
    .command(receiveCommand)
    .option(COMPLETION_KEY, COMPLETION_FLAG)
    .completion(
      'completion',
      "print the bash completion script (zsh's when $SHELL is zsh): " +
        'snapfuse completion > ~/.local/share/bash-completion/completions/snapfuse',
      completion(argv),
    )
    .demandCommand(1, 'name a command')
    .strict()
    .version()
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100));
}

/** Run the CLI; resolves to the exit code. Handlers never exit the process themselves. */
export async function main(argv: string[]): Promise<number> {
  try {
    await cli(mountHelperArgs(argv) ?? argv)
      .fail((msg, err) => {
        // throwing here stops yargs before any command runs
        throw err instanceof Error ? err : new UsageError(msg); // a .check's refusal comes as a string
      })
      .parseAsync();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`snapfuse: ${e.message}\nTry 'snapfuse --help'.`);
      return EXIT_USAGE;
    }
    console.error(`snapfuse: ${(e as Error).message}`);
    return EXIT_FAILED;
  }
  return 0;
}

if (require.main === module) {
  main(hideBin(process.argv)).then((code) => {
    process.exitCode = code;
    // a mount daemon whose mount is gone has closed its store; fuse-native's native
    // thread would keep it alive
    if (daemonFinished()) process.exit(code);
  });
}
