// The schedule rules: intervals in and out, names that sort by time, and the limits a
// schedule is checked against before it is kept.
import { formatInterval, parseInterval, scheduledName, withSchedule } from '../../../../src/engine/background/schedule';
import { isStoreError } from '../../../../src/errors';

const refused = (fn: () => unknown): boolean => {
  try {
    fn();
    return false;
  } catch (e) {
    return isStoreError(e, 'INVALID_ARGUMENT');
  }
};

describe('schedule rules', () => {
  test('intervals', () => {
    expect(parseInterval('30s')).toBe(30);
    expect(parseInterval('5m')).toBe(300);
    expect(parseInterval('2w')).toBe(1209600);
    expect(formatInterval(300)).toBe('5m');
    expect(formatInterval(90)).toBe('90s');
    expect(formatInterval(86400 * 7)).toBe('1w');
    for (const bad of ['0s', '5', 'm', '1y', '367d', '-1h', '1.5h'])
      expect(refused(() => parseInterval(bad))).toBe(true);
  });

  test('names are UTC and sort by time', () => {
    const a = scheduledName('hourly', new Date('2026-12-02T01:02:03.456Z'));
    expect(a).toBe('hourly-20261202-010203');
    const b = scheduledName('hourly', new Date('2026-12-02T10:00:00Z'));
    expect([b, a].sort()).toEqual([a, b]);
  });

  test('a schedule replaces its namesake of the same origin; bad ones and a ninth are refused', () => {
    let list = withSchedule([], { name: 'hourly', every: 3600, keep: 24, origin: 0 });
    list = withSchedule(list, { name: 'hourly', every: 60, keep: 5, origin: 0 });
    list = withSchedule(list, { name: 'hourly', every: 60, keep: 5, origin: 1 });
    expect(list).toEqual([
      { name: 'hourly', every: 60, keep: 5, origin: 0 },
      { name: 'hourly', every: 60, keep: 5, origin: 1 },
    ]);
    expect(refused(() => withSchedule([], { name: 'Hourly', every: 60, keep: 5, origin: 0 }))).toBe(true);
    expect(refused(() => withSchedule([], { name: 'h', every: 60, keep: 0, origin: 0 }))).toBe(true);
    const eight = Array.from({ length: 8 }, (_, i) => ({ name: `s${i}`, every: 60, keep: 1, origin: 0 }));
    expect(refused(() => withSchedule(eight, { name: 'ninth', every: 60, keep: 1, origin: 0 }))).toBe(true);
    expect(withSchedule(eight, { name: 'ninth', every: 60, keep: 1, origin: 1 })).toHaveLength(9);
  });
});
