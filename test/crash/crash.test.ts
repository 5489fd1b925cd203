// A slice of the crash harness for every `npm test`; scripts/crash.ts runs the long one.
// A failing cut names its seed: SEED=n replays it.
import { seeds } from '../helpers/random';
import { runCrashSeed } from './harness';

describe('power loss at any point keeps the promise', () => {
  test.each(seeds(4, 1))('seed %i: 60 cut points over 8 rounds', async (seed) => {
    const { cuts, violations } = await runCrashSeed(seed, 8, 60);
    expect(cuts).toBeGreaterThan(30);
    expect(violations).toEqual([]);
  });

  // online rollback: cut while the copying runs and the origin is written over it
  test.each(seeds(3, 100))('seed %i: rollbacks copying while the origin is written, 60 cut points', async (seed) => {
    const { cuts, violations } = await runCrashSeed(seed, 8, 60, { rollbacks: true });
    expect(cuts).toBeGreaterThan(30);
    expect(violations).toEqual([]);
  });
});
