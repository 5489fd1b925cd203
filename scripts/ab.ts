// A/B of FUSE mounts that differ in one thing: a kernel-side option (issue 21's knobs),
// or the build of snapfuse. Each target is mounted on a file of its own, side by side;
// the targets of a job take turns run by run, each round starting with the next, as in
// bench.ts, and every ratio is to the first target of the same kind.
//
//   npx tsx scripts/ab.ts --target pt --target pt:max_background=64 \
//                         --target snapfuse --target snapfuse:max_background=64 \
//                         [--target snapfuse@/other/checkout/dist/src/cli/main.js] [--target raw] \
//                         [--jobs 'rand read 4K qd32,seq read 1M'] [--runs 3] [--seconds 8] [--size 1024]
//                         [--snapshots N]   (snapfuse targets get N snapshots, then writes make their chunks their own)
//                         [--first-writes]  (each run of a snapfuse target right after a new snapshot: see below)
//                         [--split]         (where one request's time goes: see below)
//
// A target is `raw`, `pt` (the synchronous passthrough), `pt-async`, `c-pt` (the same
// passthrough in C on libfuse, scripts/c-passthrough.c: needs libfuse-dev), or `snapfuse`
// (this checkout's build, or `@` another build's main.js; `+NAME=value` sets the
// daemon's environment; `~chunk-size=16K` is given to its format, any other `~name=value`,
// such as `~write-back=128M`, to its mount), and after `:` FUSE options
// added to the mount's (snapfuse takes them through SNAPFUSE_FUSE_OPTIONS). Run as root
// after `npx tsc -p tsconfig.json`.
//
// --split runs QD1 jobs (by default 4K random reads and writes, 4K writes with fdatasync,
// 128 KiB O_DIRECT reads and writes) and a loop of stat calls (a request that does
// nothing), with each daemon timing its requests (SNAPFUSE_REQUEST_TIMES,
// src/util/request-times.ts). Per I/O: fio's mean time; the daemon's handler time, from
// fuse-native's call into JavaScript to the answer; and the rest, outside the handler:
// the kernel's FUSE request and reply, libfuse's thread, fuse-native's hand-off to the
// JavaScript thread and back.
//
// --first-writes: before each run of a snapfuse target, a snapshot is taken, and after
// it deleted and its reclaim waited out, so every run measures first writes (bench.ts
// section 2); a random job then writes as many 4 KiB blocks as a quarter of the chunks.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { fio, FioRun, JOBS, REQUEST_JOBS } from './fio-jobs';

function args(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => a === `--${name}` && out.push(process.argv[i + 1]));
  return out;
}
const arg = (name: string, fallback: string) => args(name)[0] ?? fallback;

const ROOT = resolve(__dirname, '..');
const SIZE_MIB = Number(arg('size', '1024'));
const RUNS = Number(arg('runs', '3'));
const SECONDS = Number(arg('seconds', '8'));
const SNAPSHOTS = Number(arg('snapshots', '0'));
const SPLIT = process.argv.includes('--split');
const FIRST_WRITES = process.argv.includes('--first-writes');
const SPLIT_JOBS = [
  'rand read 4K qd1',
  'rand write 4K qd1',
  'rand write 4K fdatasync',
  ...REQUEST_JOBS.map((j) => j.name),
];
const ALL_JOBS = [...JOBS, ...REQUEST_JOBS];
const JOB_NAMES = arg('jobs', (SPLIT ? SPLIT_JOBS : JOBS.map((j) => j.name)).join(',')).split(',');
const STATS = 20_000; // stat calls of the null request
const dir = mkdtempSync('/var/tmp/snapfuse-ab-');
const LOCK_DIR = join(dir, 'locks');
const cleanups: Array<() => Promise<void>> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sh = (cmd: string, a: string[], env?: NodeJS.ProcessEnv) =>
  execFileSync(cmd, a, { encoding: 'utf8', env: { ...process.env, SNAPFUSE_LOCK_DIR: LOCK_DIR, ...env } });
const mounted = (mnt: string) => readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `);

interface Target {
  spec: string;
  kind: string;
  file: string;
  control?: string;
  chunkSize?: number;
  /** With --split: the daemon's pid, and the file its request times go to. */
  daemon?: { pid: number; times: string };
}

/** Request times of a daemon: op -> count and mean µs. */
type Times = Record<string, { count: number; meanUs: number; medianUs: number }>;

/** The daemon's request times since the last call (src/util/request-times.ts). */
async function takeTimes(t: Target): Promise<Times> {
  if (!t.daemon) return {};
  const { pid, times } = t.daemon;
  const seq = () =>
    existsSync(times) ? (JSON.parse(readFileSync(times, 'utf8')) as { sequence: number }).sequence : 0;
  const before = seq();
  process.kill(pid, 'SIGUSR2');
  await waitFor(() => seq() > before, `the request times of ${t.spec}`);
  const { sequence: _, ...out } = JSON.parse(readFileSync(times, 'utf8'));
  return out as Times;
}

/** A file of the origin's size written through with random data (no holes to read). */
function dataFile(name: string): string {
  const path = join(dir, name);
  sh('dd', ['if=/dev/urandom', `of=${path}`, 'bs=1M', `count=${SIZE_MIB}`, 'conv=fsync', 'status=none']);
  return path;
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(50))
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
}

async function mount(spec: string, n: number): Promise<Target> {
  const [kindAtEnv, options = ''] = spec.split(/:(.*)/s);
  const [kindAtEnvs, ...tildes] = kindAtEnv.split('~');
  const [kindAt, ...envs] = kindAtEnvs.split('+');
  const cliOptions = tildes.map((o) => o.split(/=(.*)/s).slice(0, 2));
  const formatOptions = cliOptions.filter(([n]) => n === 'chunk-size').flatMap(([n, v]) => [`--${n}`, v]);
  const mountOptions = cliOptions.filter(([n]) => n !== 'chunk-size').flatMap(([n, v]) => [`--${n}`, v]);
  const [kind, cli = join(ROOT, 'dist/src/cli/main.js')] = kindAt.split('@');
  const env = Object.fromEntries(envs.map((e) => e.split(/=(.*)/s).slice(0, 2)));
  const file = dataFile(`t${n}.img`);
  if (kind === 'raw') return { spec, kind, file };
  const times = join(dir, `times-${n}.json`);
  if (SPLIT) env.SNAPFUSE_REQUEST_TIMES = times;
  const mnt = join(dir, `m${n}`);
  mkdirSync(mnt);
  if (kind === 'c-pt') {
    const bin = join(dir, 'c-passthrough');
    if (!existsSync(bin)) {
      const flags = sh('pkg-config', ['--cflags', '--libs', 'fuse']).trim().split(/\s+/);
      sh('cc', ['-O2', '-o', bin, join(ROOT, 'scripts/c-passthrough.c'), ...flags]);
    }
    const proc: ChildProcess = spawn(bin, [file, mnt, ...(options ? [options] : [])], { stdio: 'ignore' });
    cleanups.push(async () => {
      if (mounted(mnt)) sh('umount', ['-l', mnt]);
      proc.kill(); // by its pid: we started it
    });
    await waitFor(() => mounted(mnt), `the C passthrough at ${mnt}`);
    return { spec, kind, file: join(mnt, 'file.img') };
  }
  if (kind === 'pt' || kind === 'pt-async') {
    const a = ['--import', 'tsx', 'scripts/passthrough.ts', file, mnt, ...(kind === 'pt-async' ? ['--async'] : [])];
    const proc: ChildProcess = spawn(process.execPath, [...a, ...(options ? ['--options', options] : [])], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, ...env },
    });
    cleanups.push(async () => {
      if (mounted(mnt)) sh('umount', ['-l', mnt]);
      proc.kill(); // the passthrough this run started, by its pid
      for (let i = 0; i < 50 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(100);
    });
    await waitFor(() => mounted(mnt), `the passthrough at ${mnt}`);
    return { spec, kind, file: join(mnt, 'file.img'), daemon: SPLIT ? { pid: proc.pid!, times } : undefined };
  }
  if (kind !== 'snapfuse') throw new Error(`unknown target ${spec}`);
  const cow = join(dir, `t${n}.cow`);
  const cowMiB = SIZE_MIB * (SNAPSHOTS ? 2 : 1) + 512;
  sh('dd', ['if=/dev/zero', `of=${cow}`, 'bs=4M', `count=${Math.ceil(cowMiB / 4)}`, 'status=none']);
  sh(process.execPath, [cli, 'format', file, cow, ...formatOptions]);
  sh(process.execPath, [cli, 'mount', file, cow, mnt, ...mountOptions], { ...env, SNAPFUSE_FUSE_OPTIONS: options });
  const st = statSync(cow); // src/block/store-lock.ts names the lock after the COW's device and inode
  const lock = join(LOCK_DIR, `${st.dev}-${st.ino}.lock`);
  cleanups.push(async () => {
    if (mounted(mnt)) sh('umount', [mnt]);
    // the daemon exits once it has closed the store: its lock file goes
    await waitFor(() => !existsSync(lock), 'a daemon to exit', 120_000).catch((e: Error) =>
      console.error(`ab: ${e.message}`),
    );
  });
  const control = join(mnt, 'control');
  for (let i = 0; i < SNAPSHOTS; i++) writeFileSync(control, `create s${i}\n`);
  // every chunk written once since the last snapshot: the jobs then measure writes that need no copy
  if (SNAPSHOTS)
    sh('dd', [
      'if=/dev/urandom',
      `of=${join(mnt, 'origin.img')}`,
      'bs=1M',
      `count=${SIZE_MIB}`,
      'conv=notrunc,fsync',
      'status=none',
    ]);
  const pid = parseInt(readFileSync(lock, 'utf8'), 10); // "<pid> serving <mountpoint>"
  // another build may not time its requests (and SIGUSR2 would end it)
  const timed = SPLIT && !kindAt.includes('@');
  const chunkSize = Number(/^chunk-size (\d+)$/m.exec(readFileSync(control, 'utf8'))![1]);
  return { spec, kind, file: join(mnt, 'origin.img'), control, chunkSize, daemon: timed ? { pid, times } : undefined };
}

const median = (r: number[]) => [...r].sort((a, b) => a - b)[Math.floor(r.length / 2)];
const fmt = (x: number) => x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);
const kindOf = (t: Target) => (t.kind === 'pt-async' || t.kind === 'c-pt' ? 'pt' : t.kind);

async function main(): Promise<void> {
  mkdirSync(LOCK_DIR);
  const specs = args('target');
  if (specs.length < 1) throw new Error('say --target at least once');
  const targets: Target[] = [];
  for (const [i, s] of specs.entries()) targets.push(await mount(s, i));
  const name = (t: Target) => t.spec.replace(/@.*\/([^/]+)\/dist\/.*$/, '@$1');
  const lines = ['| job | target | median MiB/s | min–max | µs per I/O | ratio to the first of its kind |'];
  const split = ['| job | target | µs per I/O | in the handler | outside it |'];
  for (const jobName of JOB_NAMES) {
    const job = ALL_JOBS.find((j) => j.name === jobName.trim());
    if (!job) throw new Error(`no job "${jobName}": ${ALL_JOBS.map((j) => j.name).join(', ')}`);
    const runs = new Map<Target, Array<FioRun & { handlerUs: number }>>(targets.map((t) => [t, []]));
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(r + i) % targets.length];
        const firstWrites = FIRST_WRITES && t.control !== undefined && !job.reads;
        if (firstWrites) writeFileSync(t.control!, 'create ab-first-writes\n');
        sh('sync', []);
        await takeTimes(t); // from here
        const ios = firstWrites && job.bs !== '1M' ? Math.floor((SIZE_MIB * 2 ** 20) / t.chunkSize! / 4) : undefined;
        const fioRun = fio(t.file, job, { sizeMiB: SIZE_MIB, seconds: SECONDS, ios });
        const times = await takeTimes(t);
        const handled = ['read', 'write', 'fsync'].reduce(
          (a, op) => a + (times[op] ? times[op].count * times[op].meanUs : 0),
          0,
        );
        runs.get(t)!.push({ ...fioRun, handlerUs: handled / fioRun.ios });
        if (firstWrites) {
          writeFileSync(t.control!, 'delete ab-first-writes\n');
          await waitFor(() => /^reclaim -$/m.test(readFileSync(t.control!, 'utf8')), 'a reclaim', 300_000);
        }
      }
    }
    for (const t of targets) {
      const r = runs.get(t)!;
      const first = targets.find((f) => kindOf(f) === kindOf(t))!;
      const mibs = r.map((x) => x.mibs).sort((a, b) => a - b);
      const m = median(mibs);
      const ratio = m / median(runs.get(first)!.map((x) => x.mibs));
      const lat = median(r.map((x) => x.latUs));
      lines.push(
        `| ${job.name} | ${name(t)} | ${fmt(m)} | ${fmt(mibs[0])}–${fmt(mibs[mibs.length - 1])} | ${fmt(lat)} | ${ratio.toFixed(2)} |`,
      );
      console.log(lines[lines.length - 1]);
      if (t.daemon) {
        const handler = median(r.map((x) => x.handlerUs));
        split.push(`| ${job.name} | ${name(t)} | ${fmt(lat)} | ${fmt(handler)} | ${fmt(lat - handler)} |`);
      } else split.push(`| ${job.name} | ${name(t)} | ${fmt(lat)} | - | - |`);
    }
  }
  if (SPLIT) {
    for (const t of targets) {
      await takeTimes(t);
      const start = process.hrtime.bigint();
      for (let i = 0; i < STATS; i++) statSync(t.file);
      const us = Number(process.hrtime.bigint() - start) / 1000 / STATS;
      const getattr = (await takeTimes(t)).getattr?.meanUs;
      const inside = getattr === undefined ? '-' : fmt(getattr);
      split.push(
        `| stat (a request that does nothing) | ${name(t)} | ${fmt(us)} | ${inside} | ${getattr === undefined ? '-' : fmt(us - getattr)} |`,
      );
    }
  }
  const table = (rows: string[]) => [rows[0], rows[0].replace(/[^|]+/g, ' --- '), ...rows.slice(1)].join('\n');
  console.log(`\n${table(lines)}`);
  if (SPLIT) console.log(`\n${table(split)}`);
}

async function cleanUp(): Promise<void> {
  for (const undo of cleanups.reverse())
    await undo().catch((e: Error) => console.error(`ab: cleaning up: ${e.message}`));
  if (!existsSync(dir)) return;
  rmSync(dir, { recursive: true, force: true });
}

main()
  .catch((e) => {
    console.error(`ab: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(cleanUp);
