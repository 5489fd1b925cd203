// The long crash run: many seeds, many cut points each, and one summary line.
//
//   npx tsx scripts/crash.ts [--seeds 60] [--cuts 250] [--rounds 16] [--first 1] [--rollbacks]
//
// --rollbacks: one op in four a rollback, so that cuts fall while its copying runs
// and the origin is written over it.
import { runCrashSeed } from '../test/crash/harness';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const [seeds, cuts, rounds, first] = [arg('seeds', 60), arg('cuts', 250), arg('rounds', 16), arg('first', 1)];
  let tried = 0;
  const violations: string[] = [];
  const t = Date.now();
  for (let seed = first; seed < first + seeds; seed++) {
    const r = await runCrashSeed(seed, rounds, cuts, { rollbacks: process.argv.includes('--rollbacks') });
    tried += r.cuts;
    violations.push(...r.violations);
    for (const v of r.violations.slice(0, 5)) console.log(v);
  }
  console.log(
    `crash run${process.argv.includes('--rollbacks') ? ' (rollbacks)' : ''}: ${seeds} seeds, ${tried} cut points tried, ${violations.length} violations (${Math.round((Date.now() - t) / 1000)} s)`,
  );
  if (violations.length) process.exitCode = 1;
}

void main();
