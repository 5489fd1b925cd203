// The commands written into the control file (DESIGN.md section 2): parsed by the mount,
// written by the CLI. Pure functions only: the FUSE layer does the I/O and maps
// StoreError codes to errno, so a refused command reaches `echo` as EINVAL.

import { StoreError } from '../errors';
import { formatInterval, MAX_KEEP, parseInterval, SCHEDULE_NAME } from '../engine/background/schedule';
import { checkSnapshotId, ORIGIN, quote, QUOTE_LIMIT } from './words';
import { checkOriginName } from '../engine/origin-checks';

/** A write longer than this is refused before it is even decoded. */
export const MAX_COMMAND_BYTES = 4096;

export type Command =
  | { op: 'create'; id?: string; from?: string }
  | { op: 'delete'; id: string }
  | { op: 'rollback'; id: string }
  | { op: 'schedule'; name: string; every: number; keep: number }
  | { op: 'unschedule'; name: string }
  // the root's control of a mount of named origins only
  | { op: 'add-origin'; name: string; path: string }
  | { op: 'remove-origin'; name: string };

const USAGE =
  'expected "create [<id>] [from <src>]", "delete <id>", "rollback <id>", ' +
  '"schedule <name> every <interval> keep <n>", "schedule <name> off", ' +
  '"add-origin <name> <file>" or "remove-origin <name>"';
const SCHEDULE_USAGE = 'expected "schedule <name> every <interval> keep <n>" or "schedule <name> off"';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes → text, refusing what `echo` could not have meant: too long, not UTF-8. */
function decode(input: Buffer | string): string {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (bytes > MAX_COMMAND_BYTES) {
    const head =
      typeof input === 'string' ? input.slice(0, QUOTE_LIMIT * 2) : input.subarray(0, QUOTE_LIMIT * 4).toString('utf8');
    throw StoreError.invalid(`command too long (${bytes} bytes, at most ${MAX_COMMAND_BYTES}): ${quote(head)}`);
  }
  if (typeof input === 'string') {
    // A lone surrogate has no UTF-8 form: treat it as the invalid bytes it came from.
    if (/\p{Cs}/u.test(input)) throw StoreError.invalid(`command is not valid UTF-8: ${quote(input)}`);
    return input;
  }
  try {
    return strictUtf8.decode(input);
  } catch {
    throw StoreError.invalid(`command is not valid UTF-8: ${quote(input.toString('utf8'))}`);
  }
}

/** One line of text from a write: one trailing "\n" or "\r\n" allowed, nothing odd inside. */
function singleLine(text: string): string {
  if (text.includes('\0')) throw StoreError.invalid(`command contains a NUL byte: ${quote(text)}`);
  const line = text.replace(/\r?\n$/, '');
  if (line.includes('\n')) {
    const lines = line.split('\n').length;
    throw StoreError.invalid(`one command per write (got ${lines} lines): ${quote(line)}`);
  }
  // Tabs separate words; any other control character (a stray "\r", an escape) is noise.
  if (/[^\P{Cc}\t]/u.test(line)) throw StoreError.invalid(`command contains a control character: ${quote(line)}`);
  return line;
}

function parseCreate(args: string[], line: string): Command {
  const missingSource = (): StoreError =>
    StoreError.invalid(`missing snapshot or "${ORIGIN}" after "from" in ${quote(line)}`);
  const source = (src: string): { from?: string } => (src === ORIGIN ? {} : { from: checkSnapshotId(src) });
  switch (args.length) {
    case 0:
      return { op: 'create' };
    case 1: // `create from` is a forgotten source, not a snapshot named "from"
      if (args[0] === 'from') throw missingSource();
      return { op: 'create', id: checkSnapshotId(args[0]) };
    case 2:
      if (args[1] === 'from') throw missingSource();
      if (args[0] !== 'from')
        throw StoreError.invalid(
          `unexpected ${quote(args[1])} in ${quote(line)}: expected "create [<id>] [from <src>]"`,
        );
      return { op: 'create', ...source(args[1]) };
    case 3:
      if (args[1] !== 'from')
        throw StoreError.invalid(`expected "from" instead of ${quote(args[1])} in ${quote(line)}`);
      return { op: 'create', id: checkSnapshotId(args[0]), ...source(args[2]) };
    default:
      throw StoreError.invalid(`too many arguments in ${quote(line)}: expected "create [<id>] [from <src>]"`);
  }
}

function parseOneId(op: 'delete' | 'rollback', args: string[], line: string): Command {
  if (args.length === 0) throw StoreError.invalid(`missing snapshot id in ${quote(line)}: expected "${op} <id>"`);
  if (args.length > 1) throw StoreError.invalid(`too many arguments in ${quote(line)}: expected "${op} <id>"`);
  return { op, id: checkSnapshotId(args[0]) };
}

function parseSchedule(args: string[], line: string): Command {
  const [name, ...rest] = args;
  if (name === undefined) throw StoreError.invalid(`missing schedule name in ${quote(line)}: ${SCHEDULE_USAGE}`);
  if (!SCHEDULE_NAME.test(name)) {
    throw StoreError.invalid(`invalid schedule name ${quote(name)}: use 1-16 of a-z 0-9, starting with a letter`);
  }
  if (rest.length === 1 && rest[0] === 'off') return { op: 'unschedule', name };
  if (rest.length !== 4 || rest[0] !== 'every' || rest[2] !== 'keep') {
    throw StoreError.invalid(`${quote(line)}: ${SCHEDULE_USAGE}`);
  }
  const keep = /^[1-9][0-9]{0,5}$/.test(rest[3]) ? Number(rest[3]) : NaN;
  if (!(keep <= MAX_KEEP))
    throw StoreError.invalid(`invalid count to keep ${quote(rest[3])}: a whole number from 1 to ${MAX_KEEP}`);
  return { op: 'schedule', name, every: parseInterval(rest[1]), keep };
}

/** `add-origin <name> <file>` (the file: the rest of the line, an absolute path) or `remove-origin <name>`. */
function parseOriginCommand(op: 'add-origin' | 'remove-origin', args: string[], line: string): Command {
  const usage = op === 'add-origin' ? '"add-origin <name> <file>"' : '"remove-origin <name>"';
  const [name] = args;
  if (name === undefined) throw StoreError.invalid(`missing origin name in ${quote(line)}: expected ${usage}`);
  checkOriginName(name, []);
  if (op === 'remove-origin') {
    if (args.length > 1) throw StoreError.invalid(`too many arguments in ${quote(line)}: expected ${usage}`);
    return { op, name };
  }
  const path = line.slice(line.indexOf(name, line.indexOf(op) + op.length) + name.length).trim();
  if (!path.startsWith('/'))
    throw StoreError.invalid(`${quote(line)}: expected ${usage}, the file as an absolute path`);
  return { op, name, path };
}

/**
 * Parse one write to the control file. Throws StoreError INVALID_ARGUMENT, with a
 * one-line message quoting the offending part, for anything but exactly one command.
 */
export function parseCommand(input: Buffer | string): Command {
  const line = singleLine(decode(input));
  const words = line.split(/[ \t]+/).filter((w) => w !== '');
  const [op, ...args] = words;
  if (op === undefined) throw StoreError.invalid(`empty command: ${USAGE}`);
  switch (op) {
    case 'create':
      return parseCreate(args, line);
    case 'delete':
    case 'rollback':
      return parseOneId(op, args, line);
    case 'schedule':
      return parseSchedule(args, line);
    case 'add-origin':
    case 'remove-origin':
      return parseOriginCommand(op, args, line);
    default:
      throw StoreError.invalid(`unknown command ${quote(op)}: ${USAGE}`);
  }
}

/** The canonical text of a command, as the CLI writes it (parseCommand's inverse). */
export function formatCommand(cmd: Command): string {
  if (cmd.op === 'schedule') return `schedule ${cmd.name} every ${formatInterval(cmd.every)} keep ${cmd.keep}\n`;
  if (cmd.op === 'unschedule') return `schedule ${cmd.name} off\n`;
  if (cmd.op === 'add-origin') return `add-origin ${cmd.name} ${cmd.path}\n`;
  if (cmd.op === 'remove-origin') return `remove-origin ${cmd.name}\n`;
  if (cmd.op !== 'create') return `${cmd.op} ${cmd.id}\n`;
  const words = ['create'];
  if (cmd.id !== undefined) words.push(cmd.id);
  if (cmd.from !== undefined) words.push('from', cmd.from);
  return `${words.join(' ')}\n`;
}
