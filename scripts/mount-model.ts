// Many seeds of the reference model through a real mount (test/helpers/mount-model.ts), as
// root: `npx tsx scripts/mount-model.ts --seeds 20 --steps 300 [--base 1]`; SEED=n replays
// one. Needs `npm run build` (the CLI runs from dist/). Prints a line per seed and a summary;
// exits 1 if any seed failed, each failure with its SEED=<n> and its steps.
import { canMount, World } from '../test/helpers/e2e';
import { configFor, walk, WalkFailure } from '../test/helpers/mount-model';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`mount-model: --${name} takes a whole number`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  if (!canMount) {
    console.error('mount-model: needs root and /dev/fuse');
    return 2;
  }
  const steps = option('steps', 300);
  const base = option('base', 1);
  const list = process.env.SEED
    ? [Number(process.env.SEED)]
    : Array.from({ length: option('seeds', 20) }, (_, i) => base + i);
  const failed: number[] = [];
  const started = Date.now();
  let stepsRun = 0;
  for (const seed of list) {
    const w = new World();
    const t = Date.now();
    try {
      const r = await walk(seed, configFor(seed, steps), w);
      stepsRun += r.steps;
      const o = Object.entries(r.outcomes)
        .sort()
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      console.log(
        `seed ${seed}: ok, ${r.steps} steps in ${(r.ms / 1000).toFixed(1)} s, ${r.remounts} remounts, ${r.rollbacks} rollbacks (${o})`,
      );
    } catch (e) {
      failed.push(seed);
      console.log(`seed ${seed}: FAILED after ${((Date.now() - t) / 1000).toFixed(1)} s`);
      console.log(e instanceof WalkFailure ? e.message : (e as Error).stack);
    } finally {
      w.cleanup();
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${list.length - failed.length} of ${list.length} seeds passed (${stepsRun} steps of passing seeds) in ${secs} s` +
      (failed.length ? `; failed: ${failed.map((s) => `SEED=${s}`).join(' ')}` : ''),
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
