#!/usr/bin/env node
// The snapfuse command line. Each command parses, checks its input, calls the library
// or the mount's control file, and maps errors to one line and an exit code in one
// place: 0 done, 1 failed, 2 usage.
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_CACHE_SIZE, DEFAULT_CHUNK_SIZE } from '../engine/store';
import { DEFAULT_WRITE_BACK } from '../engine/write-back';
import { formatFiles } from '../engine/open-files';
import { parseSize } from './sizes';
import { daemonFinished, runMount, MountArgs } from './mount-command';
import { controlCommand, followProgress, listSnapshots, readStatus } from './control-client';
import { runCheck } from './check-command';
import { formatRanges, parseStatus } from '../fuse/control';
import { parseInterval } from '../engine/schedule';
import { listJson, listTable, listTree } from './list-command';
import { mountHelperArgs } from './mount-helper';
import { describeReceive, runDiff, runDiffMounted, runReceive, runSend } from './replicate-command';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function sizeOption(desc: string, fallback: number) {
  return { type: 'string' as const, describe: desc, default: String(fallback), coerce: (v: string) => parseSize(v) };
}

function waitOption(until: string) {
  return {
    type: 'boolean' as const,
    default: false,
    describe: `wait ${until}, with a progress bar (plain lines when stderr is not a terminal)`,
  };
}

/** The two files of a store: the first positionals of the commands that open it. */
function storeFiles<T>(y: Argv<T>) {
  return y
    .positional('origin', { type: 'string', demandOption: true })
    .positional('cow', { type: 'string', demandOption: true });
}

export function cli(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('snapfuse')
    .usage('$0 <command> ...\n\nMany cheap, safe snapshots of a disk image or block device, over FUSE.')
    .command(
      'format <origin> <cow>',
      'write an empty snapshot store on <cow> for <origin> (the origin is not touched)',
      (y) =>
        y
          .positional('origin', { type: 'string', demandOption: true, describe: 'origin file or block device' })
          .positional('cow', {
            type: 'string',
            demandOption: true,
            describe: "COW file or block device (its size is the store's)",
          })
          .option('chunk-size', sizeOption('copy-out unit: a power of two from 4K to 1M', DEFAULT_CHUNK_SIZE))
          .option('force', { type: 'boolean', default: false, describe: 'overwrite a COW that already holds a store' }),
      async (a) => {
        await formatFiles(a.origin, a.cow, { chunkSize: a['chunk-size'] as unknown as number, force: a.force });
      },
    )
    .command(
      'mount <origin> <cow> <mountpoint>',
      'mount the store: <mountpoint>/origin.img, snapshots/<id>.img, control',
      (y) =>
        storeFiles(y)
          .positional('mountpoint', { type: 'string', demandOption: true })
          .option('foreground', {
            alias: 'f',
            type: 'boolean',
            default: false,
            describe: 'stay attached; log to stderr',
          })
          .option('cache-size', sizeOption('metadata cache budget', DEFAULT_CACHE_SIZE))
          .option(
            'write-back',
            sizeOption('origin writes held while their copy-out commits; 0: each such write waits', DEFAULT_WRITE_BACK),
          )
          .option('every', {
            type: 'string',
            describe: 'take a snapshot this often (30s, 5m, 1h, 1d, 1w): schedule --schedule-name, kept in the store',
            coerce: (v: string) => (parseInterval(v), v),
          })
          .option('keep', { type: 'number', describe: 'with --every: how many of its snapshots to keep' })
          .option('schedule-name', { type: 'string', default: 'auto', describe: 'with --every: the schedule set' })
          .implies('every', 'keep')
          .implies('keep', 'every')
          .option('ready-fd', { type: 'number', hidden: true }),
      async (a) => runMount(a as unknown as MountArgs),
    )
    .command(
      'create <mountpoint> [id]',
      'take a snapshot of the origin, or of --from <snapshot>; prints its id',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .positional('id', { type: 'string', describe: "the new snapshot's id (default: the next number)" })
          .option('from', { type: 'string', describe: 'snapshot to take it of (default: origin)' }),
      async (a) => {
        const before = new Set((await listSnapshots(a.mountpoint)).map((s) => s.id));
        const words = ['create', ...(a.id ? [a.id] : []), ...(a.from ? ['from', a.from] : [])];
        await controlCommand(a.mountpoint, words.join(' '));
        const made = a.id ?? (await listSnapshots(a.mountpoint)).find((s) => !before.has(s.id))?.id;
        if (made) console.log(made);
      },
    )
    .command(
      'delete <mountpoint> <id>',
      'delete a snapshot (its space returns in the background)',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .positional('id', { type: 'string', demandOption: true })
          .option('wait', waitOption('until its space is back and the space figures are counted again')),
      async (a) => {
        await controlCommand(a.mountpoint, `delete ${a.id}`);
        if (a.wait) {
          await followProgress(
            a.mountpoint,
            (s) =>
              s.reclaim !== null
                ? { what: 'reclaim', done: s.reclaim }
                : s.accounting !== null
                  ? { what: 'accounting', done: s.accounting }
                  : null,
            `delete ${a.id}`,
          );
        }
      },
    )
    .command(
      'rollback <mountpoint> <id>',
      "make the origin's content the snapshot's (the origin must not be in use)",
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .positional('id', { type: 'string', demandOption: true })
          .option('wait', waitOption('until the copying is done')),
      async (a) => {
        await controlCommand(a.mountpoint, `rollback ${a.id}`);
        if (a.wait) {
          await followProgress(
            a.mountpoint,
            (s) => (s.rollback ? { what: '', done: s.rollback.done } : null),
            `rollback ${a.id}`,
          );
        }
      },
    )
    .command(
      'schedule <mountpoint> <name>',
      'take a snapshot every --every and keep the last --keep of them (rolling snapshots); --off stops it',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .positional('name', { type: 'string', demandOption: true, describe: 'the schedule: hourly, daily, ...' })
          .option('every', {
            type: 'string',
            describe: 'interval: 30s, 5m, 1h, 1d, 1w',
            coerce: (v: string) => (parseInterval(v), v),
          })
          .option('keep', { type: 'number', describe: 'how many of its snapshots to keep' })
          .option('off', { type: 'boolean', default: false, describe: 'stop the schedule (its snapshots stay)' })
          .check((a) => {
            if (a.off) return a.every === undefined && a.keep === undefined ? true : 'give --off alone';
            return a.every !== undefined && a.keep !== undefined ? true : 'give --every and --keep, or --off';
          }),
      async (a) =>
        controlCommand(
          a.mountpoint,
          a.off ? `schedule ${a.name} off` : `schedule ${a.name} every ${a.every} keep ${a.keep}`,
        ),
    )
    .command(
      'list <mountpoint>',
      'list the snapshots with the space each holds alone and shares',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .option('tree', { type: 'boolean', default: false, describe: 'draw what each snapshot was taken of' })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print [{"id", "parent", "created", "exclusiveBytes", "sharedBytes", "schedule", ...}]',
          })
          .check((a) => (a.tree && a.json ? 'give --tree or --json, not both' : true)),
      async (a) => {
        const s = parseStatus(await readStatus(a.mountpoint));
        process.stdout.write(a.json ? `${listJson(s)}\n` : a.tree ? listTree(s) : listTable(s));
      },
    )
    .command(
      'status <mountpoint>',
      'print the status, one fact per line',
      (y) =>
        y
          .positional('mountpoint', { type: 'string', demandOption: true })
          .option('json', { type: 'boolean', default: false, describe: 'print the status as one JSON object' }),
      async (a) => {
        const text = await readStatus(a.mountpoint);
        process.stdout.write(a.json ? `${JSON.stringify(parseStatus(text), null, 2)}\n` : text);
      },
    )
    .command(
      'check <origin> <cow>',
      'walk every metadata block of an unmounted store and list what is wrong (exit 1 if anything)',
      (y) =>
        storeFiles(y)
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
      async (a) => {
        const result = await runCheck(a.origin, a.cow, a.json, a.data);
        if (a.json) console.log(JSON.stringify(result, null, 2));
        else if (result.clean) console.log(`${a.cow}: clean`);
        else for (const p of result.problems) console.log(p);
        if (!result.clean) throw new ProblemsFound(`${result.problems.length} problem(s) found in ${a.cow}`);
      },
    )
    .command(
      'diff <args..>',
      'print the byte ranges where two images (snapshot ids or "origin") differ: ' +
        '`diff <mountpoint> <from> <to>` through a mount, `diff <origin> <cow> <from> <to>` offline',
      (y) =>
        y.positional('args', { type: 'string', array: true, demandOption: true }).option('json', {
          type: 'boolean',
          default: false,
          describe: 'print {"from", "to", "chunkSize", "bytes", "ranges": [{"offset", "length"}]}',
        }),
      async (a) => {
        const args = a.args as string[];
        if (args.length !== 3 && args.length !== 4) {
          throw new UsageError('diff takes <mountpoint> <from> <to>, or <origin> <cow> <from> <to>');
        }
        const d =
          args.length === 3
            ? await runDiffMounted(args[0], args[1], args[2])
            : await runDiff(...(args as [string, string, string, string]));
        if (a.json) console.log(JSON.stringify(d, null, 2));
        else process.stdout.write(formatRanges(d.ranges));
      },
    )
    .command(
      'send <origin> <cow> <snapshot>',
      'write a snapshot of an unmounted store to stdout as a stream: whole, or the delta --from an earlier one',
      (y) =>
        storeFiles(y)
          .positional('snapshot', { type: 'string', demandOption: true })
          .option('from', { type: 'string', describe: 'send only what changed since this snapshot' }),
      async (a) => {
        const sent = await runSend(a.origin, a.cow, a.snapshot, a.from);
        if (process.stderr.isTTY) console.error(`sent ${a.snapshot}: ${sent.bytes} bytes of image`);
      },
    )
    .command(
      'receive <origin> <cow> [snapshot]',
      'read a stream from stdin into an unmounted store, as a new snapshot (by default named as it was sent)',
      (y) =>
        storeFiles(y)
          .positional('snapshot', { type: 'string', describe: 'the name to give it here' })
          .option('become-origin', {
            type: 'boolean',
            default: false,
            describe: 'then make the origin this snapshot (a rollback to it, started in the same commit)',
          }),
      async (a) => {
        const r = await runReceive(a.origin, a.cow, a.snapshot, a['become-origin']);
        console.error(describeReceive(r, a['become-origin']));
      },
    )
    .completion('completion', 'print a bash or zsh completion script (snapfuse completion >> ~/.bashrc)')
    .demandCommand(1, 'name a command')
    .strict()
    .version()
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100));
}

/** Run the CLI; resolves to the exit code. Handlers never exit the process themselves. */
class UsageError extends Error {}
/** check found problems: already printed; exit 1 with a summary line. */
class ProblemsFound extends Error {}

export async function main(argv: string[]): Promise<number> {
  try {
    await cli(mountHelperArgs(argv) ?? argv)
      .fail((msg, err) => {
        // throwing here stops yargs before any command runs
        throw err ?? new UsageError(msg);
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
