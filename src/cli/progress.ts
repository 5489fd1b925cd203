// Progress of long work on stderr: a bar on a terminal (cli-progress), else a plain line
// at each tenth of the way, so that logs and pipes get a record without escape codes
// (none when the total is not known ahead: the caller's summary line says what was done).
import { SingleBar } from 'cli-progress';
import type { Progress } from '../engine/tools/replication';
import { mebibytes } from './sizes';

export interface ProgressReporter {
  /** `done` of `total` (bytes, chunks, ...); `what` names the phase, if the work has several. */
  update(done: number, total: number, what?: string): void;
  stop(): void;
}

/** `detail` shows the amounts after the percentage, e.g. "12.0/64.0 MiB". */
export function progressReporter(
  label: string,
  detail: (done: number, total: number) => string = () => '',
  stream: NodeJS.WriteStream = process.stderr,
): ProgressReporter {
  if (stream.isTTY) {
    const bar = new SingleBar({ format: `${label}{what} [{bar}] {percentage}% {detail}`, stream, hideCursor: true });
    let started = false;
    return {
      update(done, total, what = '') {
        const payload = { what: what && ` ${what}`, detail: detail(done, total) };
        if (!started) bar.start(Math.max(total, 1), 0, payload);
        started = true;
        bar.setTotal(Math.max(total, 1));
        bar.update(done, payload);
      },
      stop: () => started && bar.stop(),
    };
  }
  let shown = '';
  return {
    update(done, total, what = '') {
      if (total <= 0) return;
      const tenth = Math.floor((10 * done) / Math.max(total, 1));
      const key = `${what}/${tenth}`;
      if (key === shown) return;
      shown = key;
      const amounts = detail(done, total);
      stream.write(`${label}${what && ` ${what}`}: ${tenth * 10}%${amounts && ` ${amounts}`}\n`);
    },
    stop: () => undefined,
  };
}

/** A stream's progress in MiB; `total` false: the size is not known ahead (a stream coming in), bytes only. */
export function streamProgress(what: string, total: boolean): { progress: Progress; stop: () => void } {
  const reporter = progressReporter(what, (done, all) =>
    total ? `${mebibytes(done)}/${mebibytes(all)} MiB` : `${mebibytes(done)} MiB`,
  );
  return { progress: (done, all) => reporter.update(total ? done : 0, total ? all : 0), stop: () => reporter.stop() };
}
