// Where a FUSE request's time goes, for the benchmarks (scripts/ab.ts --split): with
// SNAPFUSE_REQUEST_TIMES=<file> set, every operation is timed from the moment fuse-native
// hands it to JavaScript to its answer. On SIGUSR2 the times since the last signal are
// written to <file> as JSON (op -> count, mean and median µs, and a sequence number), and
// counting starts again. Off (and free) when the variable is not set.
import { renameSync, writeFileSync } from 'fs';
import type { Operations } from 'fuse-native';

interface OpTimes {
  samples: number[]; // µs, the first MAX_SAMPLES of each op since the last dump
  count: number;
  totalUs: number;
}

const MAX_SAMPLES = 200_000;

/** `ops` timed, if SNAPFUSE_REQUEST_TIMES names a file; else `ops` itself. */
export function timedOperations(ops: Operations, file = process.env.SNAPFUSE_REQUEST_TIMES): Operations {
  if (!file) return ops;
  let times = new Map<string, OpTimes>();
  let sequence = 0;
  process.on('SIGUSR2', () => {
    const out: Record<string, unknown> = { sequence: ++sequence };
    for (const [op, t] of times) {
      const sorted = t.samples.sort((a, b) => a - b);
      out[op] = { count: t.count, meanUs: t.totalUs / t.count, medianUs: sorted[Math.floor(sorted.length / 2)] };
    }
    times = new Map();
    try {
      writeFileSync(`${file}.new`, JSON.stringify(out));
      renameSync(`${file}.new`, file); // whole, for a reader polling it
    } catch (e) {
      console.error(`request times: cannot write ${file}: ${(e as Error).message}`); // the mount serves on
    }
  });
  const out: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops) as Array<[string, (...args: unknown[]) => void]>) {
    out[name] = (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      const cb = args[args.length - 1] as (...r: unknown[]) => void;
      op(...args.slice(0, -1), (...result: unknown[]) => {
        const us = Number(process.hrtime.bigint() - start) / 1000;
        let t = times.get(name);
        if (!t) times.set(name, (t = { samples: [], count: 0, totalUs: 0 }));
        t.count++;
        t.totalUs += us;
        if (t.samples.length < MAX_SAMPLES) t.samples.push(us);
        cb(...result);
      });
    };
  }
  return out as Operations;
}
