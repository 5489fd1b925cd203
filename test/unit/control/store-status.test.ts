// The root control's store-wide status: the text, exactly; it reads back to what was
// written; text that is not one is refused.
import { formatStoreStatus, parseStoreStatus, StoreStatusInput } from '../../../src/control/store-status';
import { refusal } from './helpers';

const sample: StoreStatusInput = {
  origins: [
    { name: 'data', size: 1 << 30, snapshots: 3 },
    { name: 'log', size: 1 << 28, snapshots: 3 },
  ],
  usedBytes: 4096,
  totalBytes: 2 ** 31,
  freeBytes: 2 ** 31 - 4096,
  reclaim: 0.42,
  lastError: { errno: 'EEXIST', message: 'snapshot g1 already exists in origin log' },
  daemon: 4242,
  schedules: [{ name: 'hourly', every: 3600, keep: 24, next: new Date('2026-12-02T05:00:00.000Z') }],
  whenFull: 'retire',
  work: { copyOuts: 7, commits: 90, faults: 0 },
};

describe('store status', () => {
  test('the text, and back', () => {
    const text = formatStoreStatus(sample);
    expect(text).toBe(
      'origins 2\norigin data 1073741824 3\norigin log 268435456 3\nstore 4096 2147483648 2147479552\n' +
        'reclaim 42%\nerror EEXIST snapshot g1 already exists in origin log\ndaemon 4242\n' +
        'schedules 1\nschedule hourly 1h 24 2026-12-02T05:00:00Z\nwhen-full retire\nwork 7 90 0\n',
    );
    expect(parseStoreStatus(text)).toEqual(sample);
    const idle = { ...sample, origins: [], reclaim: null, lastError: null, daemon: null, schedules: [] };
    expect(parseStoreStatus(formatStoreStatus(idle))).toEqual(idle);
    // an older daemon's status ends at its daemon line
    const { work: _, ...older } = sample;
    expect(parseStoreStatus(text.slice(0, text.indexOf('schedules')))).toEqual({
      ...older,
      schedules: [],
      whenFull: null,
    });
  });

  test('what is not a store status is refused', () => {
    for (const bad of ['', 'origin-size 4096\n', formatStoreStatus(sample).replace('origin log', 'origin Log')]) {
      expect(refusal(() => parseStoreStatus(bad)).code).toBe('INVALID_ARGUMENT');
    }
  });
});
