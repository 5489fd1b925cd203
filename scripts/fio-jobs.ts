// The fio jobs of the benchmarks (issue 21's suite), shared by bench.ts and ab.ts:
// buffered sequential jobs ending in fsync (reads with a cold cache), random 4K at QD1
// and QD32 with O_DIRECT, and buffered 4K writes each made durable with fdatasync.
import { execFileSync } from 'child_process';
import { writeFileSync } from 'fs';

export interface Job {
  name: string;
  rw: string;
  bs: string;
  iodepth: number;
  reads: boolean;
  /** Buffered 4K writes, each followed by fdatasync (a database's log), rather than O_DIRECT. */
  fdatasync?: boolean;
}

export const JOBS: Job[] = [
  { name: 'seq write 1M', rw: 'write', bs: '1M', iodepth: 1, reads: false },
  { name: 'seq read 1M', rw: 'read', bs: '1M', iodepth: 1, reads: true },
  { name: 'rand write 4K qd1', rw: 'randwrite', bs: '4k', iodepth: 1, reads: false },
  { name: 'rand write 4K qd32', rw: 'randwrite', bs: '4k', iodepth: 32, reads: false },
  { name: 'rand write 4K fdatasync', rw: 'randwrite', bs: '4k', iodepth: 1, reads: false, fdatasync: true },
  { name: 'rand read 4K qd1', rw: 'randread', bs: '4k', iodepth: 1, reads: true },
  { name: 'rand read 4K qd32', rw: 'randread', bs: '4k', iodepth: 32, reads: true },
];

/** One request of the largest size FUSE takes (128 KiB), O_DIRECT at QD1: for ab.ts --split. */
export const REQUEST_JOBS: Job[] = [
  { name: 'seq write 128K direct qd1', rw: 'write', bs: '128k', iodepth: 1, reads: false },
  { name: 'seq read 128K direct qd1', rw: 'read', bs: '128k', iodepth: 1, reads: true },
];

/** What a run reports: MiB/s, and the mean time of one I/O in µs (with its fdatasync, if any). */
export interface FioRun {
  mibs: number;
  latUs: number;
  ios: number;
}

export interface FioOptions {
  sizeMiB: number;
  /** Seconds of a random job (sequential ones run through the file, 60 s at most). */
  seconds?: number;
  /** A random job of this many I/Os instead of `seconds`. */
  ios?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * One fio run of `job` on `file`. Read jobs start with dropped caches. Sequential jobs
 * are buffered and end in fsync; random ones are O_DIRECT with libaio, but for the
 * fdatasync job: buffered psync writes, each followed by fdatasync.
 */
export function fio(file: string, job: Job, opts: FioOptions): FioRun {
  const seq = job.bs === '1M';
  if (job.reads) writeFileSync('/proc/sys/vm/drop_caches', '3');
  const seconds = String(opts.seconds ?? 8);
  const args = [
    '--name=bench',
    `--filename=${file}`,
    `--size=${opts.sizeMiB}M`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.iodepth}`,
    ...(seq ? ['--ioengine=psync', '--end_fsync=1', '--runtime=60'] : []),
    ...(seq ? [] : job.fdatasync ? ['--ioengine=psync', '--fdatasync=1', `--runtime=${seconds}`] : []),
    ...(seq || job.fdatasync ? [] : ['--ioengine=libaio', '--direct=1', `--runtime=${seconds}`]),
    ...(seq ? [] : opts.ios ? [`--number_ios=${opts.ios}`] : ['--time_based']),
    '--output-format=json',
  ];
  const out = execFileSync('fio', args, { encoding: 'utf8', env: opts.env, maxBuffer: 2 ** 26 });
  const j = JSON.parse(out).jobs[0];
  const side = job.reads ? j.read : j.write;
  const syncUs = job.fdatasync ? j.sync.lat_ns.mean / 1000 : 0;
  return { mibs: side.bw / 1024, latUs: side.lat_ns.mean / 1000 + syncUs, ios: side.total_ios }; // bw in KiB/s
}
