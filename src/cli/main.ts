#!/usr/bin/env node
// The snapfuse command line. Each command parses, checks its input, calls the library
// or the mount's control file, and maps errors to one line and an exit code in one
// place: 0 done, 1 failed, 2 usage.
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { promises as fs } from 'fs';
import { join } from 'path';
import { DEFAULT_CACHE_SIZE, DEFAULT_CHUNK_SIZE, Store } from '../engine/store';
import { progressReporter } from './progress';
import { DEFAULT_WRITE_BACK } from '../engine/write-back';
import { addOriginFile, formatFiles, isNamedStore, openFiles } from '../engine/open-files';
import { chosenOrigin, ORIGIN_OPTION, originOptions, parseOriginOption, storeFilesOf } from './store-args';
import { parseSize } from './sizes';
import { daemonFinished, runMount, MountArgs } from './mount-command';
import { runUnmount } from './unmount-command';
import { controlCommand, followProgress, listSnapshots, originDirs, readStatus } from './control-client';
import { runCheck } from './check-command';
import { formatRanges } from '../control/diff';
import { parseStatus, StatusInput } from '../control/status';
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

export function cli(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('snapfuse')
    .usage('$0 <command> ...\n\nMany cheap, safe snapshots of a disk image or block device, over FUSE.')
    .command(
      'format <files..>',
      'write an empty snapshot store (the origins are not touched): `format <origin> <cow>` for one origin, ' +
        '`format <cow> --origin <name>=<file> ...` for several named ones',
      (y) =>
        y
          .positional('files', { type: 'string', array: true, demandOption: true, describe: '[<origin>] <cow>' })
          .option('origin', ORIGIN_OPTION)
          .option('chunk-size', sizeOption('copy-out unit: a power of two from 4K to 1M', DEFAULT_CHUNK_SIZE))
          .option('force', { type: 'boolean', default: false, describe: 'overwrite a COW that already holds a store' })
          .check((a) => {
            const n = (a.files as string[]).length;
            if (a.origin?.length) return n === 1 ? true : 'with --origin, give the COW alone';
            return n === 2 ? true : 'give <origin> <cow>, or <cow> --origin <name>=<file> ...';
          }),
      async (a) => {
        const files = a.files as string[];
        const opts = { chunkSize: a['chunk-size'] as unknown as number, force: a.force };
        const origins = originOptions(a.origin);
        if (origins.length === 0) return formatFiles(files[0], files[1], opts);
        for (const o of origins) if (!o.path) throw new UsageError(`give --origin ${o.name}=<file>`);
        await formatFiles(
          origins.map((o) => ({ name: o.name, path: o.path! })),
          files[0],
          opts,
        );
      },
    )
    .command(
      'add-origin <cow> <new>',
      'add origin <name>=<file> to an unmounted store; a store of one origin names that one too, ' +
        'with --origin <name>=<file>, and from then on is given by its COW alone',
      (y) =>
        y
          .positional('cow', { type: 'string', demandOption: true })
          .positional('new', { type: 'string', demandOption: true, describe: '<name>=<file>' })
          .option('origin', ORIGIN_OPTION),
      async (a) => {
        const added = parseOriginOption(a.new);
        if (!added.path) throw new UsageError(`give the new origin as ${added.name}=<file>`);
        const given = originOptions(a.origin);
        if (await isNamedStore(a.cow)) {
          await addOriginFile(storeFilesOf([a.cow], given, true), { name: added.name, path: added.path });
          return;
        }
        const first = given.length === 1 && given[0].path ? { name: given[0].name, path: given[0].path } : null;
        if (!first)
          throw new UsageError(`${a.cow} has one origin, with no name yet: name it with --origin <name>=<file>`);
        await addOriginFile({ origin: first.path, cow: a.cow }, { name: added.name, path: added.path }, first);
      },
    )
    .command(
      'remove-origin <cow> <name>',
      'remove an origin and all its snapshots from an unmounted store, and wait until their space is back ' +
        '(the origin file is left as it is)',
      (y) =>
        y
          .positional('cow', { type: 'string', demandOption: true })
          .positional('name', { type: 'string', demandOption: true })
          .option('origin', ORIGIN_OPTION),
      async (a) => {
        const opened = await openFiles(storeFilesOf([a.cow], originOptions(a.origin), true), { commitInterval: 0 });
        try {
          await opened.store.removeOrigin(a.name);
          await followReclaim(opened.store, `remove-origin ${a.name}`);
        } finally {
          await opened.close();
        }
      },
    )
    .command(
      'mount <files..>',
      'mount the store: `mount <origin> <cow> <mountpoint>` shows <mountpoint>/origin.img, snapshots/<id>.img, ' +
        'control; `mount <cow> <mountpoint>` (named origins) shows <mountpoint>/<name>/ of each',
      (y) =>
        y
          .positional('files', {
            type: 'string',
            array: true,
            demandOption: true,
            describe: '[<origin>] <cow> <mountpoint>',
          })
          .option('origin', ORIGIN_OPTION)
          .check((a) => {
            const n = (a.files as string[]).length;
            return n === 2 || n === 3 ? true : 'give <origin> <cow> <mountpoint>, or <cow> <mountpoint>';
          })
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
      async (a) => {
        const files = a.files as string[];
        const store = storeFilesOf(files.slice(0, -1), originOptions(a.origin), files.length === 2);
        const { origin, cow, paths } = store;
        await runMount({ ...(a as unknown as MountArgs), origin, cow, paths, mountpoint: files[files.length - 1] });
      },
    )
    .command(
      ['unmount <mountpoint>', 'umount'],
      'unmount, and return once the daemon has committed everything and exited',
      (y) =>
        y.positional('mountpoint', { type: 'string', demandOption: true }).option('lazy', {
          type: 'boolean',
          default: false,
          describe: 'detach now even while images are in use (umount -l); waits for the daemon all the same',
        }),
      (a) => runUnmount(a.mountpoint, a.lazy),
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
      'list the snapshots with the space each holds alone and shares (of every origin, at the root of a mount of named origins)',
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
        const list = (s: StatusInput) => (a.json ? `${listJson(s)}\n` : a.tree ? listTree(s) : listTable(s));
        const names = await originDirs(a.mountpoint);
        if (!names) return void process.stdout.write(list(parseStatus(await readStatus(a.mountpoint))));
        // a mount of named origins: each origin's list in turn (JSON: {"<name>": [...]})
        const each = await Promise.all(names.map(async (n) => parseStatus(await readStatus(join(a.mountpoint, n)))));
        if (a.json) {
          const byName = Object.fromEntries(names.map((n, i) => [n, JSON.parse(listJson(each[i]))]));
          return void process.stdout.write(`${JSON.stringify(byName, null, 2)}\n`);
        }
        process.stdout.write(names.map((n, i) => `origin ${n}\n${list(each[i])}`).join('\n'));
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
      'check <files..>',
      'walk every metadata block of an unmounted store and list what is wrong (exit 1 if anything): ' +
        '`check <origin> <cow>`, or `check <cow>` (named origins)',
      (y) =>
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
      async (a) => {
        const paths = a.files as string[];
        const files = storeFilesOf(paths, originOptions(a.origin), paths.length === 1);
        const result = await runCheck(files, a.json, a.data);
        if (a.json) console.log(JSON.stringify(result, null, 2));
        else if (result.clean) console.log(`${files.cow}: clean`);
        else for (const p of result.problems) console.log(p);
        if (!result.clean) throw new ProblemsFound(`${result.problems.length} problem(s) found in ${files.cow}`);
      },
    )
    .command(
      'diff <args..>',
      'print the byte ranges where two images (snapshot ids or "origin") differ: ' +
        '`diff <mountpoint> <from> <to>` through a mount, `diff <origin> <cow> <from> <to>` or ' +
        '`diff <cow> <from> <to> --origin <name>` offline',
      (y) =>
        y
          .positional('args', { type: 'string', array: true, demandOption: true })
          .option('origin', ORIGIN_OPTION)
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'print {"from", "to", "chunkSize", "bytes", "ranges": [{"offset", "length"}]}',
          }),
      async (a) => {
        const args = a.args as string[];
        if (args.length !== 3 && args.length !== 4) {
          throw new UsageError('diff takes <mountpoint> <from> <to>, or <origin> <cow> <from> <to>');
        }
        const origins = originOptions(a.origin);
        const [from, to] = args.slice(-2);
        const d =
          args.length === 3 && (await isDirectory(args[0]))
            ? await runDiffMounted(args[0], from, to)
            : await runDiff(
                storeFilesOf(args.slice(0, -2), origins, args.length === 3),
                chosenOrigin(origins),
                from,
                to,
              );
        if (a.json) console.log(JSON.stringify(d, null, 2));
        else process.stdout.write(formatRanges(d.ranges));
      },
    )
    .command(
      'send <files..>',
      'write a snapshot of an unmounted store to stdout as a stream, whole or the delta --from an earlier one: ' +
        '`send <origin> <cow> <snapshot>`, or `send <cow> <snapshot> --origin <name>`',
      (y) =>
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
      async (a) => {
        const args = a.files as string[];
        const origins = originOptions(a.origin);
        const snapshot = args[args.length - 1];
        const files = storeFilesOf(args.slice(0, -1), origins, args.length === 2);
        const sent = await runSend(files, chosenOrigin(origins), snapshot, a.from);
        if (process.stderr.isTTY) console.error(`sent ${snapshot}: ${sent.bytes} bytes of image`);
      },
    )
    .command(
      'receive <files..>',
      'read a stream from stdin into an unmounted store, as a new snapshot (by default named as it was sent): ' +
        '`receive <origin> <cow> [<snapshot>]`, or `receive <cow> [<snapshot>] --origin <name>`',
      (y) =>
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
          }),
      async (a) => {
        const args = a.files as string[];
        const origins = originOptions(a.origin);
        const named = args.length === 1 || (args.length === 2 && (await isNamedStore(args[0])));
        const files = storeFilesOf(args.slice(0, named ? 1 : 2), origins, named);
        const r = await runReceive(files, chosenOrigin(origins), args[named ? 1 : 2], a['become-origin']);
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

async function isDirectory(path: string): Promise<boolean> {
  return (await fs.stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** Wait for the store's reclaim, with progress; for offline commands that free space. */
async function followReclaim(store: Store, label: string): Promise<void> {
  const reporter = progressReporter(label);
  const timer = setInterval(
    () => reporter.update(Math.round((store.status().reclaim ?? 0) * 100), 100, 'reclaim'),
    200,
  );
  try {
    await store.idle();
    reporter.update(100, 100);
  } finally {
    clearInterval(timer);
    reporter.stop();
  }
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
