// The reference model through a real mount (test/helpers/mount-model.ts): seeded random
// writes, creates, deletes (the target of a running rollback too), rollbacks, status and
// list reads and remounts, each image compared byte for byte with a plain Buffer.
// A failure prints SEED=<n> and the steps so far; SEED=n replays one seed, SEEDS=n runs
// more, STEPS=n sets the steps per seed. scripts/mount-model.ts runs many.
import { canMount, World } from '../helpers/e2e';
import { configFor, walk } from '../helpers/mount-model';
import { seeds } from '../helpers/random';

const d = canMount ? describe : describe.skip;
const STEPS = Number(process.env.STEPS ?? 150);

d('a real mount matches a plain model of every image', () => {
  const worlds: World[] = [];
  afterAll(() => {
    for (const w of worlds) w.cleanup(); // any a timed-out test left behind
  });

  test.each(seeds(2))(
    'seed %i',
    async (seed) => {
      const w = new World();
      worlds.push(w);
      try {
        await walk(seed, configFor(seed, STEPS), w);
      } finally {
        worlds.splice(worlds.indexOf(w), 1);
        w.cleanup(); // the mount is taken down here, whatever happened
      }
    },
    300_000,
  );
});
