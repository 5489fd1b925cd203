import fc from 'fast-check';
import {
  checkSnapshotId,
  Command,
  formatCommand,
  formatStatus,
  ID_PATTERN,
  MAX_COMMAND_BYTES,
  parseCommand,
  parseStatus,
  StatusInput,
} from '../../../src/fuse/control';
import { isStoreError, StoreError } from '../../../src/errors';

// One printable line: no control, format, surrogate or separator characters.
const ONE_PRINTABLE_LINE = /^[^\p{C}\p{Zl}\p{Zp}]*$/u;

/** The StoreError that `f` throws (failing the test if it throws none or another kind). */
function refusal(f: () => unknown): StoreError {
  try {
    f();
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error('expected a StoreError, got none');
}

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
  const ids = [cmd.id, cmd.op === 'create' ? cmd.from : undefined].filter((x): x is string => x !== undefined);
  for (const id of ids) {
    if (!ID_PATTERN.test(id) || id === 'origin') throw new Error(`bad id accepted: ${JSON.stringify(id)}`);
  }
}

const idArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).filter((s) => s !== 'origin');

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

// ---------------------------------------------------------------------------
// status

const sample: StatusInput = {
  originSize: 10737418240,
  chunkSize: 65536,
  totalBytes: 2147483648,
  usedBytes: 1048576,
  freeBytes: 2146435072,
  snapshots: [
    {
      id: 'before-upgrade',
      parent: 'origin',
      created: new Date('2026-11-22T04:40:00Z'),
      exclusiveBytes: 655360,
      state: 'valid',
      sharedBytes: 131072,
      schedule: null,
    },
    {
      id: 'test1',
      parent: 'before-upgrade',
      created: new Date('2026-11-22T05:01:02.999Z'),
      exclusiveBytes: null,
      state: 'invalid',
      sharedBytes: null,
      schedule: 'hourly',
    },
  ],
  reclaim: 0.4299,
  rollback: { id: 'before-upgrade', done: 0.07 },
  lastError: { errno: 'ENOENT', message: 'no snapshot "x"\nat all' },
  space: { data: 786432, exclusive: 655360, shared: 131072, unread: 0 },
  accounting: 0.5,
  schedules: [{ name: 'hourly', every: 3600, keep: 24, next: new Date('2026-11-22T06:01:02Z') }],
  daemon: 4242,
};

const idle: StatusInput = {
  originSize: 4096,
  chunkSize: 4096,
  totalBytes: 0,
  usedBytes: 0,
  freeBytes: 0,
  snapshots: [],
  reclaim: null,
  rollback: null,
  lastError: null,
  space: null,
  accounting: null,
  schedules: [],
  daemon: null,
};

describe('control status', () => {
  test('a busy store formats to the exact expected text', () => {
    expect(formatStatus(sample)).toBe(
      'origin-size 10737418240\n' +
        'chunk-size 65536\n' +
        'store 1048576 2147483648 2146435072\n' +
        'snapshots 2\n' +
        'snapshot before-upgrade origin 2026-11-22T04:40:00Z 655360 valid 131072 -\n' +
        'snapshot test1 before-upgrade 2026-11-22T05:01:02Z - invalid - hourly\n' +
        'reclaim 42%\n' +
        'rollback before-upgrade 7%\n' +
        'error ENOENT no snapshot "x" at all\n' +
        'space 786432 655360 131072 0\n' +
        'accounting 50%\n' +
        'schedules 1\n' +
        'schedule hourly 1h 24 2026-11-22T06:01:02Z\n' +
        'daemon 4242\n',
    );
  });

  test('nothing running and no error is shown with "-"', () => {
    expect(formatStatus(idle)).toBe(
      'origin-size 4096\nchunk-size 4096\nstore 0 0 0\nsnapshots 0\nreclaim -\nrollback - -\nerror -\n' +
        'space -\naccounting -\nschedules 0\ndaemon -\n',
    );
    expect(parseStatus(formatStatus(idle))).toEqual(idle);
  });

  test('percentages are floored integers within 0..100', () => {
    const pct = (reclaim: number): string => formatStatus({ ...idle, reclaim }).split('\n')[4];
    expect(pct(0)).toBe('reclaim 0%');
    expect(pct(0.999)).toBe('reclaim 99%');
    expect(pct(1)).toBe('reclaim 100%');
    expect(pct(0.29)).toBe('reclaim 29%'); // 0.29 * 100 is 28.999... in floating point
    expect(pct(1.5)).toBe('reclaim 100%');
    expect(pct(-0.1)).toBe('reclaim 0%');
  });

  test('a parent that is gone is shown as "-"', () => {
    const s = { ...idle, snapshots: [{ ...sample.snapshots[0], parent: '-' }] };
    expect(formatStatus(s)).toContain('snapshot before-upgrade - 2026-11-22T04:40:00Z 655360 valid 131072 -\n');
    expect(parseStatus(formatStatus(s))).toEqual(s);
  });

  test('an error with an empty message keeps its errno', () => {
    const s = { ...idle, lastError: { errno: 'EIO', message: '' } };
    expect(formatStatus(s)).toContain('\nerror EIO\n');
    expect(parseStatus(formatStatus(s))).toEqual(s);
  });

  test('the sample reads back, with the time to the second and the progress to the percent', () => {
    expect(parseStatus(formatStatus(sample))).toEqual({
      ...sample,
      snapshots: [sample.snapshots[0], { ...sample.snapshots[1], created: new Date('2026-11-22T05:01:02Z') }],
      reclaim: 0.42,
      rollback: { id: 'before-upgrade', done: 0.07 },
      lastError: { errno: 'ENOENT', message: 'no snapshot "x" at all' },
    });
  });

  test('fields and lines a newer daemon appends are ignored', () => {
    const newer = formatStatus(sample)
      .replace('store 1048576 2147483648 2146435072', 'store 1048576 2147483648 2146435072 17')
      .replace('655360 valid 131072 -', '655360 valid 131072 - 1b4e28ba-2fa1-11d2-883f-0016d3cca427')
      .concat('dedup 0\n');
    expect(parseStatus(newer)).toEqual(parseStatus(formatStatus(sample)));
  });

  test("an older daemon's status, without space figures and schedules, reads as none", () => {
    const older =
      'origin-size 4096\nchunk-size 4096\nstore 0 0 0\nsnapshots 1\n' +
      'snapshot a origin 2026-11-22T04:40:00Z - valid\nreclaim -\nrollback - -\nerror -\n';
    expect(parseStatus(older)).toEqual({
      ...idle,
      snapshots: [
        {
          id: 'a',
          parent: 'origin',
          created: new Date('2026-11-22T04:40:00Z'),
          exclusiveBytes: null,
          state: 'valid',
          sharedBytes: null,
          schedule: null,
        },
      ],
    });
  });

  test('status values that could not be read back are refused when formatting', () => {
    const bad: StatusInput[] = [
      { ...idle, originSize: -1 },
      { ...idle, chunkSize: 1.5 },
      { ...idle, usedBytes: Number.NaN },
      { ...idle, snapshots: [{ ...sample.snapshots[0], id: 'has space' }] },
      { ...idle, snapshots: [{ ...sample.snapshots[0], created: new Date(Number.NaN) }] },
      { ...idle, lastError: { errno: 'E INVAL', message: '' } },
      { ...idle, reclaim: Number.NaN },
    ];
    for (const s of bad) expect(refusal(() => formatStatus(s)).code).toBe('INVALID_ARGUMENT');
  });

  test.each([
    ['empty text', ''],
    ['a missing line', 'origin-size 1\nchunk-size 1\n'],
    [
      'lines out of order',
      formatStatus(idle).replace('origin-size 4096\nchunk-size 4096', 'chunk-size 4096\norigin-size 4096'),
    ],
    ['a non-number', formatStatus(idle).replace('store 0 0 0', 'store 0 x 0')],
    ['a leading zero', formatStatus(idle).replace('chunk-size 4096', 'chunk-size 04096')],
    ['a count larger than the snapshot lines', formatStatus(idle).replace('snapshots 0', 'snapshots 1')],
    ['a bad percentage', formatStatus(idle).replace('reclaim -', 'reclaim 101%')],
    ['a bad time', formatStatus(sample).replace('2026-11-22T04:40:00Z', '2026-11-22 04:40:00')],
    ['an impossible date', formatStatus(sample).replace('2026-11-22T04:40:00Z', '2026-02-31T04:40:00Z')],
    ['an unknown state', formatStatus(sample).replace('655360 valid', '655360 broken')],
    ['a bad snapshot id', formatStatus(sample).replace('snapshot test1', 'snapshot ../x')],
    ['a half-empty rollback', formatStatus(idle).replace('rollback - -', 'rollback - 5%')],
    ['a missing errno', formatStatus(idle).replace('error -', 'error')],
  ])('status text with %s is refused', (_what, text) => {
    const e = refusal(() => parseStatus(text));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(ONE_PRINTABLE_LINE);
  });

  // Inputs that survive formatting unchanged: whole seconds, whole percents, one-line messages.
  const count = fc.maxSafeNat();
  const percentArb = fc.integer({ min: 0, max: 100 }).map((p) => p / 100);
  const snapshotArb = fc.record({
    id: idArb,
    parent: fc.oneof(idArb, fc.constantFrom('origin', '-')),
    created: fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000)), // up to 9999-12-31
    exclusiveBytes: fc.option(count),
    state: fc.constantFrom('valid' as const, 'invalid' as const),
    sharedBytes: fc.option(count),
    schedule: fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/)),
  });
  const timeArb = fc.integer({ min: 0, max: 253402300799 }).map((s) => new Date(s * 1000));
  const canonicalStatus: fc.Arbitrary<StatusInput> = fc.record({
    originSize: count,
    chunkSize: count,
    totalBytes: count,
    usedBytes: count,
    freeBytes: count,
    snapshots: fc.array(snapshotArb, { maxLength: 8 }),
    reclaim: fc.option(percentArb),
    rollback: fc.option(fc.record({ id: idArb, done: percentArb })),
    lastError: fc.option(
      fc.record({
        errno: fc.stringMatching(/^E[A-Z0-9_]{1,12}$/),
        message: fc.string({ unit: 'grapheme', maxLength: 60 }).map((m) => m.replace(/[\p{C}\p{Zl}\p{Zp}]/gu, ' ')),
      }),
    ),
    space: fc.option(fc.record({ data: count, exclusive: count, shared: count, unread: count })),
    accounting: fc.option(percentArb),
    schedules: fc.array(
      fc.record({
        name: fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/),
        every: fc.integer({ min: 1, max: 366 * 86400 }),
        keep: fc.integer({ min: 1, max: 100000 }),
        next: timeArb,
      }),
      { maxLength: 8 },
    ),
    daemon: fc.option(fc.integer({ min: 1, max: 2 ** 31 })),
  });

  test('formatStatus then parseStatus gives back the input', () => {
    fc.assert(
      fc.property(canonicalStatus, (s) => {
        expect(parseStatus(formatStatus(s))).toEqual(s);
      }),
      { numRuns: 1000 },
    );
  });

  test('any status, once formatted, reads back to one that formats to the same text', () => {
    const anyStatus = canonicalStatus.chain((s) =>
      fc.record({
        base: fc.constant(s),
        reclaim: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
        ms: fc.integer({ min: 0, max: 999 }),
        message: fc.string({ unit: 'binary', maxLength: 40 }),
      }),
    );
    fc.assert(
      fc.property(anyStatus, ({ base, reclaim, ms, message }) => {
        const s: StatusInput = {
          ...base,
          reclaim,
          snapshots: base.snapshots.map((x) => ({ ...x, created: new Date(x.created.getTime() + ms) })),
          lastError: base.lastError && { ...base.lastError, message },
        };
        const text = formatStatus(s);
        expect(text.split('\n').every((l) => ONE_PRINTABLE_LINE.test(l))).toBe(true);
        expect(formatStatus(parseStatus(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});
