import fc from 'fast-check';
import { formatStatus, parseStatus, StatusInput } from '../../../src/control/status';
import { idArb, ONE_PRINTABLE_LINE, refusal } from './helpers';

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
  sends: [
    { snapshot: 'test1', base: null },
    { snapshot: 'test1', base: 'before-upgrade' },
  ],
  receives: [{ name: 'monday', bytes: 1048576, token: 'AQ0f_x-9' }],
  whenFull: 'invalidate',
  io: { originRead: 4096, originWritten: 8192, snapshotRead: 131072, snapshotWritten: 0, refusedWrites: 2, errors: 3 },
  work: { copyOuts: 12, commits: 40, faults: 1 },
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
  sends: [],
  receives: [],
  whenFull: null,
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
        'daemon 4242\n' +
        'sends 2\n' +
        'sending test1 -\n' +
        'sending test1 before-upgrade\n' +
        'receives 1\n' +
        'receiving monday 1048576 AQ0f_x-9\n' +
        'when-full invalidate\n' +
        'io 4096 8192 131072 0 2 3\n' +
        'work 12 40 1\n',
    );
    expect(parseStatus(formatStatus(sample)).io).toEqual(sample.io);
    expect(parseStatus(formatStatus(sample)).work).toEqual(sample.work);
  });

  test('nothing running and no error is shown with "-"', () => {
    expect(formatStatus(idle)).toBe(
      'origin-size 4096\nchunk-size 4096\nstore 0 0 0\nsnapshots 0\nreclaim -\nrollback - -\nerror -\n' +
        'space -\naccounting -\nschedules 0\ndaemon -\nsends 0\nreceives 0\nwhen-full -\n',
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
    sends: fc.array(fc.record({ snapshot: idArb, base: fc.option(idArb) }), { maxLength: 4 }),
    receives: fc.array(fc.record({ name: idArb, bytes: count, token: fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/) }), {
      maxLength: 3,
    }),
    whenFull: fc.option(fc.constantFrom('refuse', 'retire', 'invalidate')),
    io: fc.record({
      originRead: count,
      originWritten: count,
      snapshotRead: count,
      snapshotWritten: count,
      refusedWrites: count,
      errors: count,
    }),
    work: fc.record({ copyOuts: count, commits: count, faults: count }),
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
