import fc from 'fast-check';
import { Command, formatCommand, MAX_COMMAND_BYTES, parseCommand } from '../../../src/control/command';
import { checkSnapshotId, ID_PATTERN } from '../../../src/control/words';
import { isStoreError } from '../../../src/errors';
import { idArb, ONE_PRINTABLE_LINE, refusal } from './helpers';

/** Refused as INVALID_ARGUMENT, with a one-line message containing every `parts`. */
function expectRefused(input: Buffer | string, ...parts: string[]): void {
  const e = refusal(() => parseCommand(input));
  expect(e.code).toBe('INVALID_ARGUMENT');
  expect(e.errno).toBe('EINVAL');
  expect(e.message).toMatch(ONE_PRINTABLE_LINE);
  for (const p of parts) expect(e.message).toContain(p);
}

describe('control commands: valid forms', () => {
  test.each<[string, Command]>([
    ['create', { op: 'create' }],
    ['create a', { op: 'create', id: 'a' }],
    ['create before-upgrade', { op: 'create', id: 'before-upgrade' }],
    ['create from origin', { op: 'create' }],
    ['create from snap1', { op: 'create', from: 'snap1' }],
    ['create x from origin', { op: 'create', id: 'x' }],
    ['create test1 from before-upgrade', { op: 'create', id: 'test1', from: 'before-upgrade' }],
    ['create from from origin', { op: 'create', id: 'from' }],
    ['create 0 from 1', { op: 'create', id: '0', from: '1' }],
    ['delete test1', { op: 'delete', id: 'test1' }],
    ['rollback before-upgrade', { op: 'rollback', id: 'before-upgrade' }],
    ['delete from', { op: 'delete', id: 'from' }],
    ['create A.b_c-9', { op: 'create', id: 'A.b_c-9' }],
    ['create ' + 'a'.repeat(64), { op: 'create', id: 'a'.repeat(64) }],
    ['schedule hourly every 1h keep 24', { op: 'schedule', name: 'hourly', every: 3600, keep: 24 }],
    ['schedule frequent every 5m keep 288', { op: 'schedule', name: 'frequent', every: 300, keep: 288 }],
    ['schedule t1 every 90s keep 1', { op: 'schedule', name: 't1', every: 90, keep: 1 }],
    ['schedule weekly every 1w keep 52', { op: 'schedule', name: 'weekly', every: 604800, keep: 52 }],
    ['schedule hourly off', { op: 'unschedule', name: 'hourly' }],
    ['add-origin log /var/lib/log.img', { op: 'add-origin', name: 'log', path: '/var/lib/log.img' }],
    ['add-origin db2  /srv/my disks/db 2.img ', { op: 'add-origin', name: 'db2', path: '/srv/my disks/db 2.img' }],
    ['remove-origin log', { op: 'remove-origin', name: 'log' }],
  ])('%j parses', (text, expected) => {
    expect(parseCommand(text)).toEqual(expected);
    expect(parseCommand(Buffer.from(text))).toEqual(expected);
  });

  test('the trailing newline that echo writes is accepted, as is "\\r\\n"', () => {
    expect(parseCommand('create snap\n')).toEqual({ op: 'create', id: 'snap' });
    expect(parseCommand(Buffer.from('delete snap\r\n'))).toEqual({ op: 'delete', id: 'snap' });
  });

  test('runs of spaces and tabs separate words; leading and trailing blanks are ignored', () => {
    expect(parseCommand(' \tcreate \t\t x   from\ty  \t\n')).toEqual({ op: 'create', id: 'x', from: 'y' });
  });

  test('a command of exactly the maximum size is accepted', () => {
    const text = 'create a' + ' '.repeat(MAX_COMMAND_BYTES - 'create a\n'.length) + '\n';
    expect(Buffer.byteLength(text)).toBe(MAX_COMMAND_BYTES);
    expect(parseCommand(text)).toEqual({ op: 'create', id: 'a' });
  });

  test('formatCommand writes text that parses back to the same command', () => {
    const cmds: Command[] = [
      { op: 'create' },
      { op: 'create', id: 'a' },
      { op: 'create', from: 'b' },
      { op: 'create', id: 'a', from: 'b' },
      { op: 'delete', id: 'a' },
      { op: 'rollback', id: 'a' },
      { op: 'schedule', name: 'daily', every: 86400, keep: 7 },
      { op: 'schedule', name: 'odd', every: 61, keep: 3 },
      { op: 'unschedule', name: 'daily' },
      { op: 'add-origin', name: 'a.b', path: '/x/y z.img' },
      { op: 'remove-origin', name: 'a.b' },
    ];
    for (const c of cmds) expect(parseCommand(formatCommand(c))).toEqual(c);
    expect(formatCommand({ op: 'create', id: 'a', from: 'b' })).toBe('create a from b\n');
  });
});

describe('control commands: refusals', () => {
  test('empty input, or only blanks and a newline, is refused', () => {
    for (const text of ['', '\n', '   \t ', '\r\n']) expectRefused(text, 'empty command');
    expectRefused(Buffer.alloc(0), 'empty command');
  });

  test('an unknown word is refused and quoted', () => {
    expectRefused('snapshot a', 'unknown command', '"snapshot"');
    expectRefused('CREATE a', '"CREATE"');
    expectRefused('create\u00a0a', 'unknown command');
  });

  test('a missing argument is refused and the command quoted', () => {
    expectRefused('delete', 'missing snapshot id', '"delete"');
    expectRefused('rollback\n', 'missing snapshot id', '"rollback"');
    expectRefused('create from', 'after "from"', '"create from"');
    expectRefused('create x from', 'after "from"', '"create x from"');
  });

  test('extra or misplaced arguments are refused and quoted', () => {
    expectRefused('delete a b', 'too many arguments', '"delete a b"');
    expectRefused('rollback a b', 'too many arguments');
    expectRefused('create a b', '"b"', '"create a b"');
    expectRefused('create a to b', '"to"');
    expectRefused('create a from b c', 'too many arguments');
  });

  test('a schedule needs a name, an interval with its unit and a count to keep', () => {
    expectRefused('schedule', 'missing schedule name');
    expectRefused('schedule Hourly every 1h keep 24', 'invalid schedule name "Hourly"');
    expectRefused('schedule hourly every 1h', 'expected "schedule <name> every <interval> keep <n>"');
    expectRefused('schedule hourly every 60 keep 24', 'bad interval "60"');
    expectRefused('schedule hourly every 0s keep 24', 'bad interval "0s"');
    expectRefused('schedule hourly every 367d keep 24', 'at most 366d');
    expectRefused('schedule hourly every 1h keep 0', 'invalid count to keep "0"');
    expectRefused('schedule hourly every 1h keep 100001', 'invalid count to keep');
    expectRefused('schedule hourly of', 'expected "schedule <name> every');
  });

  test('an origin command needs a good name, and add-origin an absolute path', () => {
    expectRefused('add-origin', 'missing origin name');
    expectRefused('add-origin Log /x.img', 'bad origin name "Log"');
    expectRefused('add-origin log', 'the file as an absolute path');
    expectRefused('add-origin log x.img', 'the file as an absolute path');
    expectRefused('remove-origin', 'missing origin name');
    expectRefused('remove-origin a b', 'too many arguments');
  });

  test('bad ids are refused and quoted: path tricks, too long, bad characters', () => {
    expectRefused('create ../x', 'invalid snapshot id', '"../x"');
    expectRefused('delete .hidden', '".hidden"');
    expectRefused('delete a/b', '"a/b"');
    expectRefused('create -x', '"-x"');
    expectRefused('create a'.padEnd(7 + 65, 'b'), '65 characters, at most 64');
    expectRefused('create from ../x', '"../x"');
    expectRefused('rollback caf\u00e9', '"caf\u00e9"');
    expectRefused('delete ""', 'invalid snapshot id');
  });

  test('an empty id is not a snapshot id', () => {
    const e = refusal(() => checkSnapshotId(''));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('""');
  });

  test('"origin" is not a snapshot id, but is a source', () => {
    expectRefused('create origin', '"origin"');
    expectRefused('delete origin', '"origin"');
    expectRefused('rollback origin', '"origin"');
    expectRefused('create origin from origin', '"origin"');
    expect(parseCommand('create x from origin')).toEqual({ op: 'create', id: 'x' });
  });

  test('several commands in one write are refused as a whole', () => {
    expectRefused('create a\ncreate b\n', 'one command per write', '"create a?create b"');
    expectRefused('delete a\r\ndelete b', 'one command per write');
    expectRefused('create\n\n', 'one command per write');
  });

  test('NUL bytes are refused', () => {
    expectRefused(Buffer.from('create a\0b\n'), 'NUL', '"create a?b');
    expectRefused('\0', 'NUL');
  });

  test('other control characters are refused and shown as "?"', () => {
    expectRefused('create a\rb', 'control character', '"create a?b"');
    expectRefused('create \u001b[31mred', 'control character', '"create ?[31mred"');
    expectRefused('create a\r', 'control character');
  });

  test('input that is not valid UTF-8 is refused', () => {
    expectRefused(Buffer.from([0x63, 0x72, 0xff, 0x0a]), 'not valid UTF-8');
    expectRefused(Buffer.from([0xc3]), 'not valid UTF-8');
    expectRefused(Buffer.from([0xed, 0xa0, 0x80]), 'not valid UTF-8'); // an encoded surrogate
    expectRefused('create \ud800', 'not valid UTF-8');
  });

  test('input longer than 4096 bytes is refused before anything else, quoted short', () => {
    const text = 'create ' + 'x'.repeat(MAX_COMMAND_BYTES);
    const e = refusal(() => parseCommand(text));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('command too long');
    expect(e.message).toContain('"create xxx');
    expect(e.message).toMatch(ONE_PRINTABLE_LINE);
    expect(e.message.length).toBeLessThan(200);
    expectRefused(Buffer.alloc(MAX_COMMAND_BYTES + 1, 0xff), 'command too long');
    // multi-byte characters count as bytes, not characters
    expectRefused('\u00e9'.repeat(MAX_COMMAND_BYTES / 2 + 1), 'command too long');
  });

  test('quoted input is cut to 80 characters', () => {
    const word = 'z'.repeat(200);
    const e = refusal(() => parseCommand(word));
    expect(e.message).toContain(`"${'z'.repeat(80)}..."`);
    expect(e.message).not.toContain('z'.repeat(81));
  });

  test('unicode line separators and invisible characters never reach the message', () => {
    expectRefused('create a\u2028b', '"a?b"');
    expectRefused('\ufeffcreate', '"?create"');
    expectRefused('create a\u202eb', '"a?b"');
  });
});

// ---------------------------------------------------------------------------
// fuzzing: parseCommand either returns a well-formed command or refuses cleanly

/** Whatever happens, it is one of the two allowed outcomes (the property fails otherwise). */
function checkOutcome(input: Buffer | string): void {
  let cmd: Command;
  try {
    cmd = parseCommand(input);
  } catch (e) {
    if (!isStoreError(e, 'INVALID_ARGUMENT')) throw e;
    if (!ONE_PRINTABLE_LINE.test(e.message)) throw new Error(`message is not one printable line: ${e.message}`);
    if (e.message.length > 400) throw new Error(`message too long: ${e.message.length}`);
    return;
  }
  if (cmd.op === 'schedule' || cmd.op === 'unschedule') {
    if (!/^[a-z][a-z0-9]{0,15}$/.test(cmd.name)) throw new Error(`bad schedule name accepted: ${cmd.name}`);
    return;
  }
  if (cmd.op === 'add-origin' || cmd.op === 'remove-origin') {
    if (!/^[a-z0-9][a-z0-9._-]{0,31}$/.test(cmd.name)) throw new Error(`bad origin name accepted: ${cmd.name}`);
    if (cmd.op === 'add-origin' && !cmd.path.startsWith('/')) throw new Error(`relative path accepted: ${cmd.path}`);
    return;
  }
  const ids = [cmd.id, cmd.op === 'create' ? cmd.from : undefined].filter((x): x is string => x !== undefined);
  for (const id of ids) {
    if (!ID_PATTERN.test(id) || id === 'origin') throw new Error(`bad id accepted: ${JSON.stringify(id)}`);
  }
}

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), id: idArb, from: idArb }, { requiredKeys: ['op'] }),
  fc.record({ op: fc.constant('delete' as const), id: idArb }),
  fc.record({ op: fc.constant('rollback' as const), id: idArb }),
);

// Characters most likely to matter, plus anything at all (lone surrogates included).
const nastyChar = fc.oneof(
  fc.constantFrom(
    ' ',
    '\t',
    '\n',
    '\r',
    '\0',
    '/',
    '.',
    '-',
    '_',
    'a',
    'Z',
    '9',
    '\u00e9',
    '\u2028',
    '\ufeff',
    '\ud800',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
);

type Mutation = { kind: 'insert' | 'delete' | 'replace'; at: number; char: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('insert' as const, 'delete' as const, 'replace' as const),
  at: fc.nat(),
  char: nastyChar,
});

function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % (text.length + (m.kind === 'insert' ? 1 : 0));
  const tail = m.kind === 'insert' ? text.slice(at) : text.slice(at + 1);
  return text.slice(0, at) + (m.kind === 'delete' ? '' : m.char) + tail;
}

describe('control commands: fuzzing', () => {
  const runs = { numRuns: 2000 };

  test('valid commands, with blanks and an optional newline, parse to themselves', () => {
    const blanks = fc.stringMatching(/^[ \t]{0,3}$/);
    fc.assert(
      fc.property(commandArb, blanks, blanks, fc.constantFrom('', '\n', '\r\n'), (cmd, pre, post, eol) => {
        const text = pre + formatCommand(cmd).trimEnd().replace(/ /g, ' \t') + post + eol;
        expect(parseCommand(text)).toEqual(cmd);
      }),
      runs,
    );
  });

  test('random strings are parsed or refused cleanly', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: nastyChar }), fc.string()), (s) =>
        checkOutcome(s),
      ),
      runs,
    );
  });

  test('random bytes are parsed or refused cleanly', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ minLength: MAX_COMMAND_BYTES - 8, maxLength: MAX_COMMAND_BYTES + 8 }),
      fc
        .tuple(fc.constantFrom('create ', 'delete ', 'rollback ', 'create a from '), fc.uint8Array({ maxLength: 16 }))
        .map(([head, tail]) => Buffer.concat([Buffer.from(head), tail])),
    );
    fc.assert(
      fc.property(bytes, (b) => checkOutcome(Buffer.from(b))),
      runs,
    );
  });

  test('mutations of valid commands are parsed or refused cleanly', () => {
    fc.assert(
      fc.property(commandArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (cmd, ms) => {
        const text = ms.reduce(mutate, formatCommand(cmd));
        checkOutcome(text);
        checkOutcome(Buffer.from(text));
      }),
      runs,
    );
  });
});
