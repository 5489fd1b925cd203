// The send plan a mount's send/ files hold: it reads back to what was written, and text
// that is not a whole, sound plan is refused rather than half used.
import fc from 'fast-check';
import { formatSendPlan, parseSendPlan, SendPlanText } from '../../../src/control/send-plan';
import { idArb, refusal } from './helpers';

const sample: SendPlanText = {
  header: {
    store: '0123456789abcdef0123456789abcdef',
    originSize: 1 << 24,
    chunkSize: 65536,
    snapshot: { name: 's2', uuid: 'ffeeddccbbaa99887766554433221100', created: '2026-12-02T01:02:03.456Z' },
    base: { name: 'before.upgrade', uuid: '00112233445566778899aabbccddeeff', created: '2026-12-01T00:00:00.000Z' },
  },
  ranges: [
    { offset: 0, length: 65536 },
    { offset: 1 << 20, length: 3 * 65536 },
  ],
};

describe('send plan', () => {
  test('the text, exactly', () => {
    expect(formatSendPlan(sample)).toBe(
      'send 1\nstore 0123456789abcdef0123456789abcdef\norigin-size 16777216\nchunk-size 65536\n' +
        'snapshot s2 ffeeddccbbaa99887766554433221100 2026-12-02T01:02:03.456Z\n' +
        'base before.upgrade 00112233445566778899aabbccddeeff 2026-12-01T00:00:00.000Z\n' +
        'ranges 2\n0 65536\n1048576 196608\n',
    );
    expect(formatSendPlan({ ...sample, header: { ...sample.header, base: null } })).toContain('\nbase -\n');
  });

  test('any plan reads back to itself', () => {
    const uuid = fc.stringMatching(/^[0-9a-f]{32}$/);
    const who = fc.record({
      name: idArb.filter((id) => id !== 'origin'),
      uuid,
      created: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
    });
    const plan = fc
      .record({
        store: uuid,
        chunkSize: fc.constantFrom(4096, 65536),
        snapshot: who,
        base: fc.option(who),
        starts: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { maxLength: 20 }),
      })
      .map(({ starts, ...h }) => ({
        header: { ...h, originSize: 1001 * h.chunkSize },
        ranges: [...starts].sort((x, y) => x - y).map((c) => ({ offset: c * h.chunkSize, length: h.chunkSize })),
      }));
    fc.assert(fc.property(plan, (p) => expect(parseSendPlan(formatSendPlan(p))).toEqual(p)));
  });

  test('a plan cut short, damaged or of a newer version is refused', () => {
    const text = formatSendPlan(sample);
    const cases: Array<[string, RegExp]> = [
      ['', /expected a "send" line/],
      [text.replace('send 1', 'send 2'), /version "2"/],
      [text.slice(0, text.indexOf('ranges')), /expected a "ranges" line/],
      [text.replace('\n1048576 196608\n', '\n'), /2 ranges announced, 1 given/],
      [text.replace('1048576 196608', '16777216 65536'), /outside the image/],
      [text.replace('0 65536', '0 0'), /outside the image/],
      [text.replace('snapshot s2 ', 'snapshot ../x '), /invalid snapshot id/],
      [text.replace('store 0123', 'store 0x23'), /not a store's uuid/],
      [text.replace('chunk-size 65536', 'chunk-size 064'), /not a count/],
    ];
    for (const [bad, why] of cases) {
      const e = refusal(() => parseSendPlan(bad));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(why);
    }
  });
});
