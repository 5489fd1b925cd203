// How a command of the CLI is declared: its usage line, its help text, the yargs builder
// of its options and its handler, in commands/<verb>.ts; main.ts registers them. A
// handler that finds the command line itself wrong throws a UsageError.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

/** The command line is wrong: main prints this, points to --help, and exits 2. */
export class UsageError extends Error {}

/** A command for main.ts to register; the handler's arguments are typed by the builder's options. */
export function defineCommand<U>(module: {
  command: string | readonly string[];
  describe: string;
  builder: (y: Argv) => Argv<U>;
  handler: (a: ArgumentsCamelCase<U>) => void | Promise<void>;
}): CommandModule<{}, U> {
  return module;
}
