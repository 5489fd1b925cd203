// Benchmarks, in one run on the same disk: fio on a raw file, on a bare fuse-native
// passthrough of one file (scripts/passthrough.ts, same mount options) and on snapfuse.
// Medians with min–max over several runs, and ratios to the passthrough measured in the
// same run. The sections (issue 5):
//
//   1. origin jobs with no snapshot: seq 1M read/write, rand 4K read/write at qd1 and qd32, 4K writes each with fdatasync
//   2. the write jobs right after a snapshot (every write a first write: a copy-out)
//   3. the write jobs with 1, 100 and 1,000 snapshots: the cost must not grow
//   4. reads of a snapshot image whose data was copied to the COW, and of one still shared
//   5. create and delete latency with 10 and 10,000 snapshots
//   6. peak RSS of the mount daemon, after writes spread over 1,000 snapshots
//   7. metadata bytes per copied chunk, from `snapfuse check --json` after each workload
//   8. delete latency with data: 10,000 snapshots and 1 GiB copied out, deletes one after
//      another while the reclaim and recount of the ones before still run
//   9. pgbench on ext4 on a loop device: a raw file, the passthrough, snapfuse with no
//      snapshot, right after one, with 100, and with a snapshot taken every 5 s under the load
//
//   npx tsx scripts/bench.ts [--size 1024] [--runs 3] [--quick] [--sections 1,2,3,4,5,6,7,8,9]
//                            [--dir /var/tmp] [--out docs/bench.md]
//                            [--chunk-size 64K] [--write-back 32M]
//                            [--pg-scale 8] [--pg-clients 4] [--pg-seconds 20] [--pg-size 2048]
//
// --size is the origin's size in MiB; --runs the fio runs per job and target (and the
// pgbench runs per target). --quick skips the slow parts: 1,000 snapshots instead of
// 10,000 in section 5, 100 instead of 1,000 in section 6, pgbench at scale 4 for 10 s in
// section 9. The chart goes next to --out, as bench-snapshots.svg. --chunk-size goes to
// `snapfuse format`, --write-back to `snapfuse mount` (defaults when not given). The
// --pg-* options set section 9's pgbench: `pgbench -i -s <scale>`, then `-c <clients>
// -T <seconds>`, on an ext4 of --pg-size MiB.
//
// Run as root (FUSE, drop_caches, loop devices) after `npx tsc -p tsconfig.json`: it mounts
// dist/src/cli/main.js. Section 9 needs Debian's PostgreSQL (`apt-get install -y
// postgresql`) and runs it as the postgres user. The machine is shared: read ratios, not
// absolutes.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'fs';
import { cpus, release, totalmem } from 'os';
import { dirname, join, resolve } from 'path';
import { performance } from 'perf_hooks';
import { fio, Job, JOBS } from './fio-jobs';

// ---- options --------------------------------------------------------------------

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const SIZE_MIB = Number(arg('size', '1024'));
const RUNS = Number(arg('runs', '3'));
const QUICK = process.argv.includes('--quick');
const SECTIONS = new Set(arg('sections', '1,2,3,4,5,6,7,8,9').split(',').map(Number));
const BASE_DIR = arg('dir', '/var/tmp');
const CHUNK_SIZE = arg('chunk-size', ''); // '' : the format's default
const WRITE_BACK = arg('write-back', ''); // '' : the mount's default

const SNAPSHOT_COUNTS = [1, 100, 1000]; // section 3
const LATENCY_COUNTS = [10, QUICK ? 1000 : 10_000]; // section 5
const LATENCY_SAMPLES = 20;
const RSS_SNAPSHOTS = QUICK ? 100 : 1000; // section 6
const RSS_WRITE_MIB = 4 * SIZE_MIB; // written to the origin across those snapshots: several GiB by default
const DATA_SNAPSHOTS = QUICK ? 1000 : 10_000; // section 8
const DATA_DELETES = 1000; // every tenth snapshot
const PG_SCALE = Number(arg('pg-scale', QUICK ? '4' : '8')); // section 9
const PG_CLIENTS = Number(arg('pg-clients', '4'));
const PG_SECONDS = Number(arg('pg-seconds', QUICK ? '10' : '20'));
const PG_SIZE_MIB = Number(arg('pg-size', '2048')); // the ext4's device: scale 8 fills about 300 MiB of it
const PG_SNAPSHOTS = 100; // the many-snapshots target
const PG_BURST = 20; // transactions of the burst before each of them, so that they differ
const PG_EVERY_MS = 5000; // the snapshot-under-load target

const ROOT = resolve(__dirname, '..');
const OUT = resolve(ROOT, arg('out', 'docs/bench.md'));
const CHART = join(dirname(OUT), 'bench-snapshots.svg');
const CLI = join(ROOT, 'dist/src/cli/main.js');

const dir = mkdtempSync(join(BASE_DIR, 'snapfuse-bench-'));
// A lock directory of our own: the daemon's pid is found there, and no other store is.
const LOCK_DIR = join(dir, 'locks');
const ENV = { ...process.env, SNAPFUSE_LOCK_DIR: LOCK_DIR };

// ---- small helpers ----------------------------------------------------------------

const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', env: ENV, maxBuffer: 2 ** 26 });
const snapfuse = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (n: number) => n.toLocaleString('en-US');
const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(0)} s`;

let interrupted = false;
/** Stop at the next safe point, so that `finally` unmounts what this run mounted. */
function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    checkInterrupted();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function sparse(path: string, mib: number): string {
  writeFileSync(path, '');
  truncateSync(path, mib * 2 ** 20);
  return path;
}

/**
 * A COW file written through with zeros, as a store on a device or a thick logical volume
 * is: in a sparse or fallocated file the first write to each block also costs the file
 * system (ext4 converts unwritten extents in its journal: 476 against 675 MiB/s for
 * 64 KiB writes with an fdatasync per 4 MiB), and stores that keep more copied data (more
 * snapshots) reach new blocks more often, which section 3 would count against the snapshots.
 */
function preallocated(path: string, mib: number): string {
  run('dd', ['if=/dev/zero', `of=${path}`, 'bs=4M', `count=${Math.ceil(mib / 4)}`, 'status=none']);
  return path;
}

/** Write random data over the first `mib` MiB of a file, so reads are not of holes (or so every chunk changes). */
function fill(path: string, mib = SIZE_MIB): void {
  run('dd', ['if=/dev/urandom', `of=${path}`, 'bs=1M', `count=${mib}`, 'conv=notrunc,fsync', 'status=none']);
}

const mounted = (mnt: string) => readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `);

function umount(mnt: string): void {
  try {
    run('umount', [mnt]);
  } catch {
    run('umount', ['-l', mnt]); // busy after a failure: let the kernel finish it
  }
}

/** Time a synchronous call, in ms. */
function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

// ---- statistics -------------------------------------------------------------------

/** Results of one job on one target: MiB/s of each run, sorted. */
type Runs = number[];
const median = (r: number[]) => r[Math.floor(r.length / 2)];
const fmt = (x: number) => x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);
const spread = (r: number[]) => `${fmt(r[0])}–${fmt(r[r.length - 1])}`;
const ratio = (a: Runs | undefined, b: Runs | undefined) => (a && b ? (median(a) / median(b)).toFixed(2) : '-');

const results = new Map<string, Runs>();
const key = (target: string, job: Job) => `${target}: ${job.name}`;

// ---- fio ------------------------------------------------------------------------

const WRITE_JOBS = JOBS.filter((j) => !j.reads);
const READ_JOBS = JOBS.filter((j) => j.reads);

/** fio's JSON of a job of its own (section 6): the runtime in ms. */
function fioJson(file: string, args: string[]): { write: { runtime: number } } {
  const out = run('fio', [
    '--name=bench',
    `--filename=${file}`,
    `--size=${SIZE_MIB}M`,
    ...args,
    '--output-format=json',
  ]);
  return JSON.parse(out).jobs[0];
}

/** MiB/s of one fio run of `job` on `file` (fio-jobs.ts): 8 s, or for `ios` I/Os (first writes: a quarter of the chunks). */
const fioMibs = (file: string, job: Job, ios?: number) => fio(file, job, { sizeMiB: SIZE_MIB, ios, env: ENV }).mibs;

/** Where a job runs. On a snapfuse mount, `store` is set: background work is waited out before each run. */
interface Target {
  name: string;
  file: string;
  store?: SnapfuseMount;
  before?: () => Promise<void>; // called before each run
  after?: () => void; // called after each run
  firstWrites?: boolean; // random writes: as many as a quarter of the chunks, not 8 s
}

/** Every snapfuse store mounted now: each run waits until none has background work. */
const mountedStores = new Set<SnapfuseMount>();

/**
 * Run `job` on each target, RUNS times, the targets taking turns run by run, and each
 * round starting with the next target: the machine drifts over minutes, and turns spread
 * that drift, and whatever a run leaves to the one after it, over every target alike.
 * Before each run, every store's background work is waited out and dirty pages written.
 */
async function measure(job: Job, targets: Target[]): Promise<void> {
  const runs = new Map<Target, Runs>(targets.map((t) => [t, []]));
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(r + i) % targets.length];
      checkInterrupted();
      await t.before?.();
      for (const store of mountedStores) await store.quiesce();
      run('sync', []);
      try {
        const ios = t.firstWrites && t.store ? Math.floor((SIZE_MIB * 2 ** 20) / t.store.chunkSize / 4) : undefined;
        runs.get(t)!.push(fioMibs(t.file, job, ios));
      } catch (e) {
        // say what the store said, if it was the store that refused
        if (t.store) console.error(t.store.statusLines(/^(store|error) /));
        throw e;
      }
      t.after?.();
    }
  }
  for (const [t, r] of runs) {
    r.sort((a, b) => a - b);
    results.set(key(t.name, job), r);
    console.log(`${job.name} | ${t.name}: ${r.map(fmt).join(' ')} MiB/s`);
  }
}

// ---- snapfuse -------------------------------------------------------------------

/** `snapfuse check --json`, with the two space fields. */
interface CheckJson {
  clean: boolean;
  problems: string[];
  metadataBytes: number;
  dataBytes: number;
}

/** What a store's life showed: for the tables of sections 6 and 7. */
interface StoreReport {
  workload: string;
  snapshots: number;
  chunkSize: number;
  peakMiB: number; // VmHWM of the mount daemon
  endMiB: number; // VmRSS just before the unmount
  check?: CheckJson;
}
const storeReports: StoreReport[] = [];

/** Undo what a failed run left: called in reverse order in `finally`. */
const cleanups: Array<() => Promise<void>> = [];

let origin = ''; // one origin file serves every store but section 3's: format does not touch it

/** A store on a fresh COW file over the origin, mounted at its own mountpoint. */
class SnapfuseMount {
  readonly control: string;
  readonly originImg: string;
  readonly chunkSize: number;
  private readonly lockFile: string;
  private isMounted = true;

  private constructor(
    readonly mnt: string,
    readonly cow: string,
    readonly originFile: string,
    private readonly keepCow: boolean,
  ) {
    this.control = join(mnt, 'control');
    this.originImg = join(mnt, 'origin.img');
    this.chunkSize = Number(this.statusLines(/^chunk-size /)[0].split(' ')[1]);
    // src/block/store-lock.ts names the lock after the COW's device and inode; it holds the daemon's pid
    const st = statSync(cow);
    this.lockFile = join(LOCK_DIR, `${st.dev}-${st.ino}.lock`);
  }

  /**
   * Format a COW over `originFile` and mount it: a new one of `cow` MiB (preallocated), or
   * given a path, that COW file formatted again (`--force`; it stays when the store closes).
   */
  static mount(name: string, cow: number | string, originFile = origin): SnapfuseMount {
    const reuse = typeof cow === 'string';
    const cowFile = reuse ? cow : preallocated(join(dir, `${name}.cow`), cow);
    snapfuse(
      'format',
      originFile,
      cowFile,
      ...(reuse ? ['--force'] : []),
      ...(CHUNK_SIZE ? ['--chunk-size', CHUNK_SIZE] : []),
    );
    const mnt = join(dir, name);
    mkdirSync(mnt);
    snapfuse('mount', originFile, cowFile, mnt, ...(WRITE_BACK ? ['--write-back', WRITE_BACK] : []));
    let store: SnapfuseMount | undefined;
    cleanups.push(async () => (store ? store.abandon() : umount(mnt)));
    store = new SnapfuseMount(mnt, cowFile, originFile, reuse);
    mountedStores.add(store);
    return store;
  }

  /** One control command; a refusal names what the status says. */
  command(line: string): void {
    try {
      writeFileSync(this.control, `${line}\n`);
    } catch (e) {
      throw new Error(`${line}: ${(e as Error).message} (${this.statusLines(/^error /)[0]})`);
    }
  }

  status(): string {
    return readFileSync(this.control, 'utf8');
  }

  statusLines(re: RegExp): string[] {
    return this.status()
      .split('\n')
      .filter((l) => re.test(l));
  }

  snapshotCount(): number {
    return Number(this.statusLines(/^snapshots /)[0].split(' ')[1]);
  }

  /** Create `n` snapshots named <prefix><i>, printing progress; returns the mean ms per create. */
  createMany(n: number, prefix: string, from = 0): number {
    const start = performance.now();
    const step = Math.max(1000, Math.ceil(n / 10));
    for (let i = from; i < from + n; i++) {
      if ((i - from) % 100 === 0) checkInterrupted();
      this.command(`create ${prefix}${i}`);
      if ((i - from + 1) % step === 0)
        console.log(`  ${count(i - from + 1)} of ${count(n)} snapshots (${elapsed(start)})`);
    }
    return n ? (performance.now() - start) / n : 0;
  }

  /** Wait until no background work runs: a reclaim after a delete would disturb the next measurement. */
  async quiesce(): Promise<void> {
    const idle = () => this.statusLines(/^(reclaim|rollback) /).every((l) => / -( -)?$/.test(l));
    await waitFor(idle, 'background reclaim to finish', 600_000);
  }

  /** Peak and current resident memory of the mount daemon, in MiB. */
  memory(): { peakMiB: number; endMiB: number } {
    const pid = parseInt(readFileSync(this.lockFile, 'utf8'), 10); // "<pid> serving <mountpoint>"
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
    return { peakMiB: kib('VmHWM') / 1024, endMiB: kib('VmRSS') / 1024 };
  }

  /** Plain umount, then wait for the daemon to commit, close the store and exit: its lock file goes. */
  async unmount(): Promise<void> {
    if (!this.isMounted) return;
    this.isMounted = false;
    mountedStores.delete(this);
    umount(this.mnt);
    await waitFor(() => !existsSync(this.lockFile), 'the mount daemon to exit', 300_000);
  }

  /** Record memory, unmount, check offline (section 7), and give the COW's space back (unless it is kept). */
  async close(workload: string): Promise<StoreReport> {
    const report: StoreReport = {
      workload,
      snapshots: this.snapshotCount(),
      chunkSize: this.chunkSize,
      ...this.memory(),
    };
    await this.unmount();
    if (SECTIONS.has(7)) report.check = this.check();
    if (!this.keepCow) rmSync(this.cow, { force: true });
    storeReports.push(report);
    return report;
  }

  private check(): CheckJson {
    try {
      return JSON.parse(snapfuse('check', this.originFile, this.cow, '--json'));
    } catch (e) {
      // exit 1: problems found; the JSON is on stdout all the same
      const out = (e as { stdout?: string }).stdout;
      if (out) return JSON.parse(out);
      throw e;
    }
  }

  /** After a failure: unmount, and if the daemon does not exit, end it by its pid (we started it). */
  private async abandon(): Promise<void> {
    if (this.isMounted && mounted(this.mnt)) umount(this.mnt);
    this.isMounted = false;
    const deadline = Date.now() + 60_000;
    while (existsSync(this.lockFile) && Date.now() < deadline) await sleep(100);
    if (!existsSync(this.lockFile)) return;
    const pid = parseInt(readFileSync(this.lockFile, 'utf8'), 10); // "<pid> serving <mountpoint>"
    console.error(`bench: the daemon ${pid} did not exit after the unmount; SIGTERM`);
    if (pid > 0) process.kill(pid, 'SIGTERM');
  }
}

/** What the store may copy, plus the origin's size and 1 GiB of slack (metadata, held copies). Preallocated. */
const cowMiB = (copiesMiB: number) => copiesMiB + SIZE_MIB + 1024;
/**
 * What a store of the write jobs may hold copied at once: each run's copies are freed
 * (its snapshot replaced, the reclaim waited out) before the next run, so one run's, the
 * origin at most, plus the origin once more for the old snapshots of section 3.
 */
const writeJobsCopies = 2 * SIZE_MIB;

/**
 * Before each run, a new snapshot replaces the one the last run took: every write of the
 * run is a first write since a snapshot (a copy-out), and the number of snapshots stays.
 * `drop()` deletes the last one.
 */
function freshSnapshots(store: SnapfuseMount): { before: () => Promise<void>; drop: () => void } {
  let made = 0;
  let last: string | null = null;
  const drop = () => {
    if (last) store.command(`delete ${last}`);
    last = null;
  };
  const before = async () => {
    drop();
    last = `fresh${made++}`;
    store.command(`create ${last}`);
  };
  return { before, drop };
}

// ---- the passthrough ----------------------------------------------------------------

const ASYNC_PT = 'passthrough, async';

/**
 * The passthrough: synchronous I/O (the base of every ratio), or with `async`, libuv's
 * thread pool. Its file is of `mib` MiB, filled; `name` names it and its mountpoint.
 */
async function startPassthrough(async = false, mib = SIZE_MIB, name = async ? 'pt-async' : 'pt'): Promise<string> {
  const file = sparse(join(dir, `${name}.img`), mib);
  fill(file, mib);
  const mnt = join(dir, name);
  mkdirSync(mnt);
  const args = ['--import', 'tsx', 'scripts/passthrough.ts', file, mnt, ...(async ? ['--async'] : [])];
  const proc: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: 'ignore',
  });
  cleanups.push(async () => {
    if (mounted(mnt)) umount(mnt);
    proc.kill(); // the passthrough this run started, by its pid: it does not notice an umount
    for (let i = 0; i < 50 && proc.exitCode === null && proc.signalCode === null; i++) await sleep(100);
  });
  await waitFor(() => mounted(mnt), 'the passthrough mount');
  return join(mnt, 'file.img');
}

// ---- the report -------------------------------------------------------------------

interface Table {
  section: number;
  title: string;
  text: string;
  head: string[];
  rows: string[][];
}
const tables: Table[] = [];

function markdownTable(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

// ---- sections 1 and 2 ---------------------------------------------------------------

/**
 * The raw file and the passthrough (the baseline every ratio uses), snapfuse with no
 * snapshot (section 1) and right after one (section 2), job by job, so that the targets
 * of one job run close in time.
 */
async function originJobs(raw: string, pt: string, ptAsync: string | null): Promise<void> {
  const store = SECTIONS.has(1) || SECTIONS.has(2) ? SnapfuseMount.mount('origin', cowMiB(writeJobsCopies)) : null;
  const fresh = store && freshSnapshots(store);
  for (const job of JOBS) {
    const targets: Target[] = [
      { name: 'raw file', file: raw },
      { name: 'passthrough', file: pt },
      ...(ptAsync ? [{ name: ASYNC_PT, file: ptAsync }] : []),
    ];
    if (store && SECTIONS.has(1)) targets.push({ name: 'snapfuse', file: store.originImg, store });
    if (store && fresh && SECTIONS.has(2) && !job.reads) {
      targets.push({
        name: 'after a snapshot',
        file: store.originImg,
        store,
        before: fresh.before,
        after: fresh.drop, // the next target finds no snapshot
        firstWrites: true,
      });
    }
    await measure(job, targets);
  }
  if (store) await store.close('sections 1–2: origin jobs, first writes after a snapshot');

  const pts = (job: Job) => results.get(key('passthrough', job));
  const row = (job: Job, target: string) => {
    const r = results.get(key(target, job))!;
    return [job.name, target, fmt(median(r)), spread(r), ratio(r, pts(job))];
  };
  const targets = ['raw file', 'passthrough', ...(ptAsync ? [ASYNC_PT] : []), ...(SECTIONS.has(1) ? ['snapfuse'] : [])];
  tables.push({
    section: 1,
    title: 'Origin jobs, no snapshot',
    text: "fio on a raw file, on the passthrough (synchronous reads and writes: the base of every ratio), on the same passthrough through libuv's thread pool, and on snapfuse's `origin.img` with no snapshot.",
    head: ['job', 'target', 'median MiB/s', 'min–max', 'ratio to passthrough'],
    rows: JOBS.flatMap((job) => targets.map((t) => row(job, t))),
  });
  if (!SECTIONS.has(2)) return;
  tables.push({
    section: 2,
    title: 'First writes after a snapshot',
    text:
      "Each run starts right after a new snapshot (the previous run's is deleted first, and its reclaim waited out), " +
      'so the first write to each chunk is a copy-out: every write of the sequential job; the random jobs write as ' +
      'many 4 KiB blocks as a quarter of the chunks, so most of their writes are first writes too. The ' +
      'passthrough ratio compares with its 8 s random runs.',
    head: ['job', 'median MiB/s', 'min–max', 'ratio to passthrough', 'ratio to no snapshot'],
    rows: WRITE_JOBS.map((job) => {
      const r = results.get(key('after a snapshot', job))!;
      return [job.name, fmt(median(r)), spread(r), ratio(r, pts(job)), ratio(r, results.get(key('snapfuse', job)))];
    }),
  });
}

// ---- section 3 ------------------------------------------------------------------

const countTarget = (n: number) => `${count(n)} snapshot${n === 1 ? '' : 's'}`;

/**
 * The write jobs with N snapshots existing: N-1 old ones and the fresh one each run starts
 * after. A store per count, each on its own copy of the origin, all mounted at once, so
 * that the counts take turns run by run.
 */
async function snapshotCounts(): Promise<void> {
  const stores = SNAPSHOT_COUNTS.map((n) => {
    const own = join(dir, `origin-count${n}.img`);
    run('cp', [origin, own]);
    cleanups.push(async () => rmSync(own, { force: true }));
    const store = SnapfuseMount.mount(`count${n}`, cowMiB(writeJobsCopies), own);
    console.log(`section 3: ${count(n)} snapshots`);
    store.createMany(n - 1, 'old');
    return { n, store, fresh: freshSnapshots(store) };
  });
  for (const job of WRITE_JOBS) {
    await measure(
      job,
      stores.map(({ n, store, fresh }) => ({
        name: countTarget(n),
        file: store.originImg,
        store,
        before: fresh.before,
        firstWrites: true,
      })),
    );
  }
  for (const { n, store } of stores) await store.close(`section 3: write jobs with ${countTarget(n)}`);
  const first = countTarget(SNAPSHOT_COUNTS[0]);
  tables.push({
    section: 3,
    title: 'Writes with many snapshots',
    text:
      `For each count N, a new store on its own copy of the origin gets N-1 snapshots; the stores are mounted at ` +
      `once and take turns run by run. Each run of a write job starts right after one more snapshot ` +
      `(replacing the previous run's), so N exist while it runs and the writes copy out as in section 2. ` +
      `One copy serves every snapshot, so the cost must not grow with N: the last column is the ratio to ${first}.\n\n` +
      '![origin write throughput against the number of snapshots](bench-snapshots.svg)',
    head: ['job', 'snapshots', 'median MiB/s', 'min–max', 'ratio to passthrough', `ratio to ${first}`],
    rows: WRITE_JOBS.flatMap((job) =>
      SNAPSHOT_COUNTS.map((n) => {
        const r = results.get(key(countTarget(n), job))!;
        const pt = results.get(key('passthrough', job));
        return [job.name, count(n), fmt(median(r)), spread(r), ratio(r, pt), ratio(r, results.get(key(first, job)))];
      }),
    ),
  });
}

// ---- section 4 ------------------------------------------------------------------

const PT_READS = 'passthrough, beside the snapshot reads';

/**
 * Reads of two snapshot images: one whose every chunk is in the COW, one that shares all
 * with the origin; the passthrough takes its turns with them, for the ratios.
 */
async function snapshotReads(pt: string): Promise<void> {
  const store = SnapfuseMount.mount('reads', cowMiB(SIZE_MIB));
  store.command('create copied');
  console.log('section 4: rewriting the origin');
  fill(store.originImg); // every chunk changes: `copied` reads them all from the COW
  store.command('create shared'); // reads every chunk from the origin file
  const images = ['copied', 'shared'];
  for (const job of READ_JOBS) {
    const image = (id: string) => join(store.mnt, 'snapshots', `${id}.img`);
    await measure(job, [
      { name: PT_READS, file: pt },
      ...images.map((id) => ({ name: `snapshot ${id}`, file: image(id), store })),
    ]);
  }
  await store.close('section 4: a snapshot copied whole, one shared, reads');
  const what: Record<string, string> = { copied: 'all in the COW', shared: 'all shared with the origin' };
  tables.push({
    section: 4,
    title: 'Snapshot image reads',
    text:
      'Read jobs on `snapshots/<id>.img`: `copied` was taken before the whole origin was rewritten, so every chunk ' +
      "it reads is a COW chunk; `shared` was taken after, so every chunk it reads is still the origin's. " +
      'The passthrough took its turns with them, run by run: its row is the base of the ratios.',
    head: ['job', 'snapshot', 'median MiB/s', 'min–max', 'ratio to passthrough'],
    rows: READ_JOBS.flatMap((job) => {
      const pt = results.get(key(PT_READS, job))!;
      return [
        [job.name, 'passthrough', fmt(median(pt)), spread(pt), '1.00'],
        ...images.map((id) => {
          const r = results.get(key(`snapshot ${id}`, job))!;
          return [job.name, `${id} (${what[id]})`, fmt(median(r)), spread(r), ratio(r, pt)];
        }),
      ];
    }),
  });
}

// ---- section 5 ------------------------------------------------------------------

/** Create and delete through the control file, timed from here (open, write, close), with few and many snapshots. */
async function createDeleteLatency(): Promise<void> {
  const store = SnapfuseMount.mount('latency', cowMiB(0));
  const rows: string[][] = [];
  let made = 0;
  for (const n of LATENCY_COUNTS) {
    console.log(`section 5: growing to ${count(n)} snapshots`);
    const bulk = store.createMany(n - made, 'keep', made);
    made = n;
    const creates: number[] = [];
    const deletes: number[] = [];
    const stats: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      await store.quiesce(); // the last delete's reclaim
      creates.push(timed(() => store.command(`create lat${n}-${i}`)));
      deletes.push(timed(() => store.command(`delete lat${n}-${i}`)));
      // a getattr of the control file renders the whole status (one line per snapshot): its share of the above
      stats.push(timed(() => statSync(store.control)));
    }
    console.log(
      `  creates ${creates.map((x) => x.toFixed(0)).join(' ')}; deletes ${deletes.map((x) => x.toFixed(0)).join(' ')}`,
    );
    for (const r of [creates, deletes, stats]) r.sort((a, b) => a - b);
    const ms = (x: number) => x.toFixed(1);
    const max = (r: number[]) => r[r.length - 1];
    const row = [count(n), ms(median(creates)), ms(max(creates)), ms(median(deletes)), ms(max(deletes))];
    row.push(ms(bulk), ms(median(stats)));
    console.log(`  ${row.join(' | ')}`);
    rows.push(row);
  }
  await store.close(`section 5: ${count(made)} snapshots, no data written`);
  tables.push({
    section: 5,
    title: 'Snapshot create and delete latency',
    text:
      `\`echo create lat > control\` and \`echo delete lat > control\` as \`writeFileSync\` calls from the bench, ` +
      `${LATENCY_SAMPLES} of each with N snapshots existing (each delete's reclaim waited out before the next ` +
      'create). The snapshots share all their data with the origin. "Bulk create" is the mean of the creates that ' +
      'made the N; "stat of control" the median time of a `stat` of the control file, which renders the status, ' +
      'one line per snapshot.',
    head: [
      'snapshots',
      'create median ms',
      'create max ms',
      'delete median ms',
      'delete max ms',
      'bulk create ms each',
      'stat of control ms',
    ],
    rows,
  });
}

// ---- section 6 ------------------------------------------------------------------

/** Many snapshots with random origin writes between them; the daemon's peak memory at the end. */
async function memoryUnderWrites(): Promise<void> {
  const store = SnapfuseMount.mount('memory', cowMiB(RSS_WRITE_MIB));
  const chunk = store.chunkSize;
  // chunk-sized writes, so each is one copy-out (with the default sizes: 4 MiB between snapshots)
  const perSnapshot = Math.max(1, Math.round((RSS_WRITE_MIB * 2 ** 20) / RSS_SNAPSHOTS / chunk)) * chunk;
  const writtenMiB = (perSnapshot * RSS_SNAPSHOTS) / 2 ** 20;
  console.log(`section 6: ${count(RSS_SNAPSHOTS)} snapshots, ${perSnapshot / 1024} KiB of random writes after each`);
  const start = performance.now();
  let writingMs = 0; // fio's own time writing: without the creates and fio's start-up (about 0.3 s each)
  for (let i = 0; i < RSS_SNAPSHOTS; i++) {
    checkInterrupted();
    store.command(`create w${i}`);
    // a different seed each time, so the writes spread over the origin
    writingMs += fioJson(store.originImg, [
      '--rw=randwrite',
      `--bs=${chunk}`,
      `--io_size=${perSnapshot}`,
      `--randseed=${i + 1}`,
      '--ioengine=libaio',
      '--direct=1',
      '--iodepth=16',
    ]).write.runtime;
    if ((i + 1) % Math.ceil(RSS_SNAPSHOTS / 10) === 0) console.log(`  ${count(i + 1)} snapshots (${elapsed(start)})`);
  }
  const seconds = (performance.now() - start) / 1000;
  const report = await store.close(
    `section 6: ${count(RSS_SNAPSHOTS)} snapshots, ${count(writtenMiB)} MiB of random writes between them`,
  );
  const cacheSize = mountDefaults().get('cache-size');
  tables.push({
    section: 6,
    title: 'Memory of the mount daemon',
    text:
      `The workload: ${count(RSS_SNAPSHOTS)} snapshots, each followed by ${perSnapshot / 1024} KiB of random ` +
      `${chunk / 1024} KiB writes to the origin (fio, O_DIRECT, qd16, each write a copy-out), ` +
      `${count(writtenMiB)} MiB in all, in ${seconds.toFixed(0)} s with the creates and fio's start-ups; the writes ` +
      `themselves ran at ${fmt(writtenMiB / (writingMs / 1000))} MiB/s. Its daemon's peak RSS: **${report.peakMiB.toFixed(0)} MiB** (metadata cache budget ` +
      `${cacheSize ? `${Number(cacheSize) / 2 ** 20} MiB` : 'default'}). Each store of this run had a daemon of its ` +
      'own: VmHWM and VmRSS from /proc/<pid>/status just before its unmount.',
    head: ['store', 'snapshots at the end', 'peak RSS MiB (VmHWM)', 'RSS at the end MiB'],
    rows: [], // filled at the end, from every store
  });
}

// ---- section 8 ------------------------------------------------------------------

/**
 * Deletes through the control file with many snapshots that hold data: the origin is
 * written over once, a piece after each create, so the snapshots hold its old data (the
 * origin's size copied out, 1 GiB by default). Then deletes one after another, 20 ms
 * apart, without waiting for the reclaim and recount each one starts.
 */
async function deletesWithData(): Promise<void> {
  const store = SnapfuseMount.mount('deletes', cowMiB(SIZE_MIB));
  console.log(`section 8: ${count(DATA_SNAPSHOTS)} snapshots, the origin written over once between them`);
  const start = performance.now();
  const piece = Math.ceil((SIZE_MIB * 2 ** 20) / DATA_SNAPSHOTS / 4096) * 4096;
  const data = Buffer.alloc(piece, 0x5a);
  const fd = openSync(store.originImg, 'r+');
  try {
    for (let i = 0; i < DATA_SNAPSHOTS; i++) {
      if (i % 100 === 0) checkInterrupted();
      store.command(`create d${i}`);
      const at = i * piece;
      if (at < SIZE_MIB * 2 ** 20) writeSync(fd, data, 0, Math.min(piece, SIZE_MIB * 2 ** 20 - at), at);
      if ((i + 1) % Math.ceil(DATA_SNAPSHOTS / 10) === 0) console.log(`  ${count(i + 1)} (${elapsed(start)})`);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  await store.quiesce();
  const copied = Number(store.statusLines(/^space /)[0]?.split(' ')[1] ?? 0);
  // a delete is one commit: two fdatasyncs of the COW. The host's disk stalls now and then
  // (100-200 ms, a few times a minute on a shared machine), so a raw commit of the same
  // shape on the same file system takes turns with the deletes: its tail is the floor
  const raw = join(dir, 'raw-commit.bin');
  const rawFd = openSync(raw, 'w+');
  const block = Buffer.alloc(4096, 0x5a);
  for (let i = 0; i < 1024; i++) writeSync(rawFd, block, 0, block.length, i * block.length);
  fsyncSync(rawFd);
  const rawCommit = (i: number) => {
    writeSync(rawFd, block, 0, block.length, (2 + (i % 1000)) * block.length);
    fdatasyncSync(rawFd);
    writeSync(rawFd, block, 0, block.length, (i & 1) * block.length);
    fdatasyncSync(rawFd);
  };
  const deletes: number[] = [];
  const raws: number[] = [];
  const every = Math.floor(DATA_SNAPSHOTS / DATA_DELETES);
  try {
    for (let i = 0; i < DATA_DELETES; i++) {
      checkInterrupted();
      deletes.push(timed(() => store.command(`delete d${i * every}`)));
      await sleep(10);
      raws.push(timed(() => rawCommit(i)));
      await sleep(10);
    }
  } finally {
    closeSync(rawFd);
    rmSync(raw);
  }
  const busy = store.statusLines(/^(reclaim|accounting) /).join(', ');
  const over = (xs: number[]) => xs.filter((x) => x > 20).length;
  console.log(`  deletes over 20 ms: ${over(deletes)}, raw commits over 20 ms: ${over(raws)}; after the last: ${busy}`);
  const quantiles = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return [at(0.5), at(0.9), at(0.99), sorted[sorted.length - 1]].map((x) => x.toFixed(1));
  };
  await store.close(`section 8: ${count(DATA_SNAPSHOTS)} snapshots, ${fmt(copied / 2 ** 20)} MiB copied out, deletes`);
  tables.push({
    section: 8,
    title: 'Delete latency with data',
    text:
      `${count(DATA_SNAPSHOTS)} snapshots, the origin written over once between them (${piece / 1024} KiB after ` +
      `each create), so that they hold ${fmt(copied / 2 ** 20)} MiB copied out. Then ${count(DATA_DELETES)} ` +
      '`echo delete <id> > control` as `writeFileSync` calls, 20 ms apart, each timed from here; none waits for the ' +
      'reclaim and recount the ones before started. Between them, taking turns, a raw commit of the same shape on ' +
      'the same file system (a 4 KiB write and an `fdatasync`, twice): the floor the disk gives. The target: p99 ' +
      'under 20 ms.',
    head: ['', 'count', 'median ms', 'p90 ms', 'p99 ms', 'max ms', 'over 20 ms'],
    rows: [
      [
        `delete (${count(DATA_SNAPSHOTS)} snapshots, ${fmt(copied / 2 ** 20)} MiB copied out)`,
        count(DATA_DELETES),
        ...quantiles(deletes),
        count(over(deletes)),
      ],
      ['raw commit, same file system', count(raws.length), ...quantiles(raws), count(over(raws))],
    ],
  });
}

// ---- section 9 ------------------------------------------------------------------

/** Debian's PostgreSQL: the programs of its newest version and the postgres user. */
interface Postgres {
  bin: string;
  version: string; // `PostgreSQL 15.18 (Debian 15.18-0+deb12u1)`
  uid: number;
  gid: number;
}

let postgres: Postgres | null = null; // found when section 9 is asked for; the header names its version
const PG_PORT = 5432; // it only names the socket, in a directory of our own: no TCP (listen_addresses is empty)
const PG_THREADS = Math.min(2, PG_CLIENTS); // pgbench -j
const PG_COW_MIB = PG_SIZE_MIB + 1024; // what a store may copy: the ext4 once over, and room for the bursts

/** /usr/lib/postgresql/<version>/bin of the newest version, and the postgres user; or fail saying what to install. */
function findPostgres(): Postgres {
  const root = '/usr/lib/postgresql';
  const programs = ['initdb', 'pg_ctl', 'postgres', 'psql', 'pgbench'];
  const versions = (existsSync(root) ? readdirSync(root) : [])
    .filter((v) => programs.every((p) => existsSync(join(root, v, 'bin', p))))
    .sort((a, b) => parseFloat(a) - parseFloat(b));
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(tryRun('id', [flag, 'postgres'])));
  if (!versions.length || !Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`section 9 needs PostgreSQL in ${root}/<version>/bin and its user: apt-get install -y postgresql`);
  const bin = join(root, versions[versions.length - 1], 'bin');
  const version = run(join(bin, 'postgres'), ['--version'])
    .trim()
    .replace(/^postgres \(PostgreSQL\)/, 'PostgreSQL');
  return { bin, version, uid, gid };
}

/** A PostgreSQL server run as the postgres user: its data in <fs>/data, its socket (and log) in `sock`, no TCP. */
class PgServer {
  readonly data: string;
  private readonly conn: string[];

  constructor(
    private readonly pg: Postgres,
    fs: string,
    private readonly sock: string,
  ) {
    this.data = join(fs, 'data');
    this.conn = ['-h', sock, '-p', String(PG_PORT)];
  }

  /** A PostgreSQL program, as the postgres user (in a directory it may enter); its stdout. */
  private as(program: string, args: string[]): string {
    return execFileSync('runuser', ['-u', 'postgres', '--', join(this.pg.bin, program), ...args], {
      encoding: 'utf8',
      cwd: this.sock,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 2 ** 26,
    });
  }

  /** initdb with its defaults: fsync, synchronous_commit and full_page_writes on (they are the point). */
  initdb(): void {
    this.as('initdb', ['-D', this.data, '-A', 'trust', '-E', 'UTF8', '--no-locale']);
  }

  start(): void {
    const log = join(this.sock, 'log');
    try {
      const opts = `-k ${this.sock} -p ${PG_PORT} -c listen_addresses=''`;
      this.as('pg_ctl', ['-D', this.data, '-l', log, '-o', opts, '-w', 'start']);
    } catch (e) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
      throw new Error(`${(e as Error).message.trim()}${tail ? `\n${tail}` : ''}`);
    }
  }

  /** Stop the server this run started, by its data directory: fast (a shutdown checkpoint), else immediate. */
  stop(): void {
    if (!existsSync(join(this.data, 'postmaster.pid'))) return; // never started, or stopped
    try {
      this.as('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '120', 'stop']);
    } catch (e) {
      console.error(`bench: pg_ctl stop -m fast: ${(e as Error).message.trim()}; -m immediate`);
      this.as('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
    }
  }

  sql(query: string): string {
    return this.as('psql', [...this.conn, '-At', '-c', query, 'postgres']).trim();
  }

  pgbench(args: string[]): string {
    return this.as('pgbench', [...this.conn, ...args, 'postgres']);
  }

  /**
   * pgbench as a child of ours, so that the bench can act while it runs: its stdout once it
   * exits; a failure, or no exit by `timeoutMs` (then it is ended, by its pid), rejects.
   */
  load(args: string[], timeoutMs: number): Promise<string> {
    const proc = spawn(
      'runuser',
      ['-u', 'postgres', '--', join(this.pg.bin, 'pgbench'), ...this.conn, ...args, 'postgres'],
      {
        cwd: this.sock,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => proc.kill(), timeoutMs); // runuser passes the SIGTERM on to pgbench
    return new Promise((resolve, reject) => {
      proc.on('error', reject);
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve(out);
        const last = err.trim().split('\n').slice(-3).join('; ');
        reject(new Error(`pgbench ${args.join(' ')}: ${signal ?? `exit ${code}`}: ${last}`));
      });
    });
  }
}

/** Where pgbench runs: a file (the raw one, the passthrough's), or snapfuse, a store of its own each run. */
interface PgTarget {
  name: string;
  file?: string;
  /** snapfuse: none; one right before the load; 100 (the last one right before the load); every 5 s under it */
  snapshots?: 'none' | 'one' | 'many' | 'every';
}

/** What section 9 shares between its runs: where they make their directories, the origin and COW of the stores. */
interface PgPlace {
  pg: Postgres;
  base: string;
  origin: string;
  cow: string;
}

interface PgRun {
  tps: number;
  /** The snapshots taken under the load, and the slowest of their creates (ms). */
  taken: number;
  slowestCreateMs: number;
}

/** The setting of the server the report states, read once. */
let pgSettings = '';

/**
 * One pgbench run on `t`: a loop device on its image, a new ext4, initdb, `pgbench -i`,
 * then the load. Before the load, a checkpoint and `sync`, so that every target starts
 * from the same clean state; on snapfuse the snapshot (the last of the 100) comes after
 * that, right before the load. Each step is undone, in reverse, also when one fails:
 * the server stopped by its data directory, the ext4 unmounted, the loop device detached.
 */
async function pgRun(t: PgTarget, r: number, place: PgPlace): Promise<PgRun> {
  const tag = `${t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${r + 1}`;
  const store = t.snapshots ? SnapfuseMount.mount(`pg-${tag}`, place.cow, place.origin) : undefined;
  const image = store ? store.originImg : t.file!;
  const undo: Array<() => void> = [];
  const result: PgRun = { tps: 0, taken: 0, slowestCreateMs: 0 };
  const start = performance.now();
  const burst = ['-n', '-t', String(PG_BURST)]; // -n: no vacuum first
  try {
    const dev = run('losetup', ['--find', '--show', image]).trim();
    undo.push(() => run('losetup', ['-d', dev])); // the device we attached, by its name
    // written whole now (no discard, no lazy init): no ext4lazyinit thread writing under the load
    run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', dev]);
    const fs = join(place.base, `fs-${tag}`);
    mkdirSync(fs);
    run('mount', ['-t', 'ext4', dev, fs]);
    undo.push(() => umount(fs));
    chownSync(fs, place.pg.uid, place.pg.gid);
    const sock = mkdtempSync(join(place.base, 'sock-'));
    chownSync(sock, place.pg.uid, place.pg.gid);
    const server = new PgServer(place.pg, fs, sock);
    server.initdb();
    undo.push(() => server.stop()); // before start: a start that fails may leave a server
    server.start();
    checkInterrupted();
    const initMs = timed(() => server.pgbench(['-i', '-s', String(PG_SCALE), '-q']));
    if (!pgSettings) {
      const names = [
        'fsync',
        'synchronous_commit',
        'full_page_writes',
        'wal_sync_method',
        'shared_buffers',
        'max_wal_size',
      ];
      pgSettings = server.sql(
        `select string_agg(name || ' ' || current_setting(name), ', ' order by name) from pg_settings ` +
          `where name in (${names.map((n) => `'${n}'`).join(', ')})`,
      );
    }
    if (t.snapshots === 'many') {
      const since = performance.now();
      for (let i = 0; i < PG_SNAPSHOTS - 1; i++) {
        if (i % 10 === 0) checkInterrupted();
        server.pgbench(burst);
        store!.command(`create pg${i}`);
      }
      server.pgbench(burst); // the last snapshot differs from the one before it too
      console.log(`  ${PG_SNAPSHOTS - 1} snapshots, ${PG_BURST} transactions before each (${elapsed(since)})`);
    }
    server.sql('CHECKPOINT');
    if (store) await store.quiesce();
    run('sync', []);
    checkInterrupted();
    if (t.snapshots === 'one') store!.command('create before-load');
    if (t.snapshots === 'many') store!.command(`create pg${PG_SNAPSHOTS - 1}`);
    const loadArgs = ['-c', String(PG_CLIENTS), '-j', String(PG_THREADS), '-T', String(PG_SECONDS)];
    const load = server.load(loadArgs, (PG_SECONDS + 120) * 1000);
    load.catch(() => {}); // awaited below; a cleanup after a failed create must not meet an unhandled rejection
    if (t.snapshots === 'every') Object.assign(result, await snapshotsUnderLoad(store!, load));
    const out = await load;
    const tps = /^tps = ([\d.]+) \(without initial connection time\)$/m.exec(out);
    if (!tps)
      throw new Error(`pgbench on ${t.name}: no tps in its output: ${out.trim().split('\n').slice(-3).join('; ')}`);
    result.tps = Number(tps[1]);
    const failed = Number(/^number of failed transactions: (\d+)/m.exec(out)?.[1] ?? 0);
    if (failed) console.error(`bench: pgbench on ${t.name}: ${failed} failed transactions`);
    const used = run('df', ['-m', '--output=used', fs]).trim().split('\n').pop()!.trim();
    const storeUsed = store
      ? `, store ${fmt(Number(store.statusLines(/^store /)[0].split(' ')[1]) / 2 ** 20)} MiB used`
      : '';
    console.log(
      `pgbench | ${t.name}, run ${r + 1}: ${fmt(result.tps)} tps` +
        (t.snapshots === 'every'
          ? ` (${result.taken} snapshots, slowest create ${result.slowestCreateMs.toFixed(0)} ms)`
          : '') +
        ` (pgbench -i ${(initMs / 1000).toFixed(1)} s; ext4 ${used} MiB used${storeUsed}; ${elapsed(start)} in all)`,
    );
  } catch (e) {
    // say what the store said, if it was the store that refused
    if (store && mounted(store.mnt)) console.error(tryStatus(store));
    throw new Error(`pgbench on ${t.name}, run ${r + 1}: ${(e as Error).message.trim()}`);
  } finally {
    for (const u of undo.reverse()) {
      try {
        u();
      } catch (e) {
        console.error(`bench: cleaning up after pgbench on ${t.name}: ${(e as Error).message.trim()}`);
      }
    }
  }
  if (store) await store.close(`section 9: pgbench, ${t.name}, run ${r + 1}`);
  return result;
}

/** The store's `store` and `error` lines, or why they cannot be read: for a failure's message. */
function tryStatus(store: SnapfuseMount): string {
  try {
    return store.statusLines(/^(store|error) /).join('; ');
  } catch (e) {
    return `status of ${store.mnt}: ${(e as Error).message}`;
  }
}

/** A snapshot through the control file every PG_EVERY_MS, counted from the load's start, until the load ends. */
async function snapshotsUnderLoad(store: SnapfuseMount, load: Promise<string>): Promise<Omit<PgRun, 'tps'>> {
  const start = performance.now();
  let done = false;
  const ended = load.then(
    () => (done = true),
    () => (done = true),
  );
  let taken = 0;
  let slowestCreateMs = 0;
  for (;;) {
    await Promise.race([sleep(Math.max(0, start + (taken + 1) * PG_EVERY_MS - performance.now())), ended]);
    if (done) return { taken, slowestCreateMs };
    slowestCreateMs = Math.max(
      slowestCreateMs,
      timed(() => store.command(`create load${taken}`)),
    );
    taken++;
  }
}

/**
 * pgbench on ext4 on a loop device, on each target, RUNS times, the targets taking turns
 * run by run as in `measure`. Each run starts from a new ext4 (and on snapfuse a new store,
 * formatted again on one COW file), so no run inherits another's database or snapshots.
 */
async function pgbenchJobs(): Promise<void> {
  const pg = postgres!;
  chmodSync(dir, 0o711); // the postgres user reaches its data and socket below, and lists nothing here
  const base = join(dir, 'pg');
  mkdirSync(base);
  chmodSync(base, 0o755);
  console.log(
    `section 9: ${pg.version}, pgbench -i -s ${PG_SCALE}, then -c ${PG_CLIENTS} -j ${PG_THREADS} -T ${PG_SECONDS}, ` +
      `on ext4 of ${count(PG_SIZE_MIB)} MiB`,
  );
  const section = performance.now();
  const raw = sparse(join(dir, 'pg-raw.img'), PG_SIZE_MIB);
  fill(raw, PG_SIZE_MIB);
  const pgOrigin = sparse(join(dir, 'pg-origin.img'), PG_SIZE_MIB);
  fill(pgOrigin, PG_SIZE_MIB);
  const pt = await startPassthrough(false, PG_SIZE_MIB, 'pt-pg');
  const place: PgPlace = { pg, base, origin: pgOrigin, cow: preallocated(join(dir, 'pg.cow'), PG_COW_MIB) };
  const every = `a snapshot every ${PG_EVERY_MS / 1000} s`;
  const targets: PgTarget[] = [
    { name: 'raw file', file: raw },
    { name: 'passthrough', file: pt },
    { name: 'snapfuse', snapshots: 'none' },
    { name: 'after a snapshot', snapshots: 'one' },
    { name: countTarget(PG_SNAPSHOTS), snapshots: 'many' },
    { name: every, snapshots: 'every' },
  ];
  const runs = new Map<PgTarget, PgRun[]>(targets.map((t) => [t, []]));
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(r + i) % targets.length];
      checkInterrupted();
      runs.get(t)!.push(await pgRun(t, r, place));
    }
  }
  console.log(`section 9: ${elapsed(section)}`);
  const tps = (t: PgTarget) =>
    runs
      .get(t)!
      .map((x) => x.tps)
      .sort((a, b) => a - b);
  const job = `pgbench -c ${PG_CLIENTS} -j ${PG_THREADS} -T ${PG_SECONDS}`;
  const taken = runs.get(targets[5])!.map((x) => x.taken);
  const slowest = Math.max(...runs.get(targets[5])!.map((x) => x.slowestCreateMs));
  const takenText = `${Math.min(...taken)}${Math.max(...taken) > Math.min(...taken) ? `–${Math.max(...taken)}` : ''}`;
  tables.push({
    section: 9,
    title: 'pgbench on ext4 on a loop device',
    text:
      `${pg.version} as the postgres user, with initdb's defaults (${pgSettings}); its data on ext4 ` +
      `(\`mkfs.ext4 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0\`, ${count(PG_SIZE_MIB)} MiB) on a loop ` +
      `device (\`losetup\`'s defaults: buffered) of each target's image. Each run starts from a new file system: ` +
      `initdb, \`pgbench -i -s ${PG_SCALE}\`, a \`CHECKPOINT\` and \`sync\`, then \`${job}\` (TPC-B-like, ` +
      `${PG_CLIENTS} clients); tps without the initial connection time, the median of ${RUNS} run${RUNS === 1 ? '' : 's'} ` +
      `with min–max, the targets taking turns run by run. On snapfuse each run has a new store: "after a snapshot" ` +
      `takes one right before the load; "${countTarget(PG_SNAPSHOTS)}" makes ${PG_SNAPSHOTS - 1} after \`pgbench -i\`, each ` +
      `after a burst of ${PG_BURST} transactions (\`pgbench -n -t ${PG_BURST}\`) so that they differ, and the last right ` +
      `before the load; "${every}" creates one through the control file every ${PG_EVERY_MS / 1000} s of the load: ` +
      `${takenText} per run (slowest create ${slowest.toFixed(0)} ms). The goals (issue 21): at least 0.95 of the ` +
      `passthrough with no snapshot, 0.9 with ${PG_SNAPSHOTS}.`,
    head: ['job', 'target', 'median tps', 'min–max', 'ratio to passthrough'],
    rows: targets.map((t) => {
      const r = tps(t);
      return [job, t.name, fmt(median(r)), spread(r), ratio(r, tps(targets[1]))];
    }),
  });
}

// ---- tables from every store: 6 and 7 -------------------------------------------------

function storeTables(): void {
  const memory = tables.find((t) => t.section === 6);
  const rows = storeReports.map((s) => [s.workload, count(s.snapshots), s.peakMiB.toFixed(0), s.endMiB.toFixed(0)]);
  if (memory) memory.rows = rows;
  else
    tables.push({
      section: 6,
      title: 'Memory of the mount daemons',
      text: "VmHWM and VmRSS from /proc/<pid>/status of each store's daemon just before its unmount.",
      head: ['store', 'snapshots at the end', 'peak RSS MiB (VmHWM)', 'RSS at the end MiB'],
      rows,
    });
  if (!SECTIONS.has(7)) return;
  const checked = storeReports.filter((s) => s.check);
  tables.push({
    section: 7,
    title: 'Metadata per copied chunk',
    text:
      'After each workload the store is unmounted and `snapfuse check --json` run offline: `metadataBytes` is the ' +
      'space of superblocks, B-tree nodes and space-map bitmaps, `dataBytes` that of the COW chunks exceptions ' +
      'reference.',
    head: [
      'store',
      'snapshots',
      'copied chunks',
      'copied MiB',
      'metadata MiB',
      'metadata bytes per chunk',
      'metadata / copied',
      'check',
    ],
    rows: checked.map((s) => {
      const c = s.check!;
      const chunks = c.dataBytes / s.chunkSize;
      return [
        s.workload,
        count(s.snapshots),
        count(chunks),
        fmt(c.dataBytes / 2 ** 20),
        fmt(c.metadataBytes / 2 ** 20),
        chunks ? count(Math.round(c.metadataBytes / chunks)) : '-',
        c.dataBytes ? `${((100 * c.metadataBytes) / c.dataBytes).toFixed(2)}%` : '-',
        c.clean ? 'clean' : `${c.problems.length} problems: ${c.problems[0]}`,
      ];
    }),
  });
}

// ---- the chart --------------------------------------------------------------------

/** Medians of each write job against the number of snapshots: 0 from section 1, the rest from section 3. */
function chartSeries(): Array<{ name: string; points: Array<{ n: number; r: Runs }> }> {
  const targets: Array<[number, string]> = [
    [0, 'snapfuse'],
    ...SNAPSHOT_COUNTS.map((n): [number, string] => [n, countTarget(n)]),
  ];
  return WRITE_JOBS.map((job) => ({
    name: job.name,
    points: targets.flatMap(([n, t]) => {
      const r = results.get(key(t, job));
      return r ? [{ n, r }] : [];
    }),
  }));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A line chart, hand-written: categorical x (the snapshot counts), log y (throughputs differ 100-fold), min–max whiskers. */
function chartSvg(series: ReturnType<typeof chartSeries>): string {
  const W = 720;
  const H = 440;
  const left = 80;
  const right = 190;
  const top = 60;
  const bottom = 70;
  const xs = [0, ...SNAPSHOT_COUNTS];
  const x = (n: number) => left + ((xs.indexOf(n) + 0.5) * (W - left - right)) / xs.length;
  const values = series.flatMap((s) => s.points.flatMap((p) => p.r));
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const y = (v: number) => top + ((hi - Math.log10(v)) * (H - top - bottom)) / Math.max(1, hi - lo);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">snapfuse origin writes against existing snapshots</text>`,
    `<text x="${W / 2}" y="42" text-anchor="middle" fill="#555">0: no snapshot, no copy-out; 1 and more: first writes after the newest (copy-outs)</text>`,
  ];
  const label = (v: number) => (v >= 1 ? count(v) : String(Number(v.toPrecision(1))));
  for (let d = lo; d <= hi; d++) {
    const v = 10 ** d;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ccc"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${label(v)}</text>`);
    if (d === hi) break;
    for (const m of [2, 5]) {
      // minor ticks: with only a decade or two, the eye needs more than the powers of ten
      out.push(`<line x1="${left}" x2="${W - right}" y1="${y(m * v)}" y2="${y(m * v)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 8}" y="${y(m * v) + 4}" text-anchor="end" fill="#777">${label(m * v)}</text>`);
    }
  }
  for (const n of xs) out.push(`<text x="${x(n)}" y="${H - bottom + 20}" text-anchor="middle">${count(n)}</text>`);
  out.push(
    `<line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="black"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 20}" text-anchor="middle">snapshots existing while the job runs</text>`,
    `<text transform="translate(22 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">median MiB/s (log scale; bars: min–max)</text>`,
  );
  series.forEach((s, i) => {
    const c = colours[i % colours.length];
    const pts = s.points.map((p) => `${x(p.n).toFixed(1)},${y(median(p.r)).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of s.points) {
      const [px, min, max] = [x(p.n), p.r[0], p.r[p.r.length - 1]];
      out.push(`<line x1="${px}" x2="${px}" y1="${y(min)}" y2="${y(max)}" stroke="${c}"/>`);
      out.push(`<circle cx="${px}" cy="${y(median(p.r))}" r="3.5" fill="${c}"/>`);
    }
    const ly = top + 10 + i * 22;
    out.push(
      `<line x1="${W - right + 20}" x2="${W - right + 44}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`,
    );
    out.push(`<text x="${W - right + 50}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}

// ---- the header -------------------------------------------------------------------

/** The mount command's options and their defaults, from its --help (yargs wraps the default onto the next line). */
function mountDefaults(): Map<string, string> {
  const help = snapfuse('mount', '--help').replace(/\s+/g, ' ');
  const found = new Map<string, string>();
  for (const m of help.matchAll(/--([a-z][a-z-]*) (?:(?!--[a-z]).)*?\[default: "?([^"\]]*)"?\]/g))
    found.set(m[1], m[2]);
  return found;
}

const tryRun = (cmd: string, args: string[]) => {
  try {
    return run(cmd, args).trim();
  } catch {
    return '?';
  }
};

function header(chunkSize: number | undefined, minutes: number): string[] {
  const pkg = (p: string) => JSON.parse(readFileSync(join(ROOT, p), 'utf8')).version;
  const commit = tryRun('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  // --no-optional-locks: read only, never refresh the index someone else may be using
  const dirty = tryRun('git', ['-C', ROOT, '--no-optional-locks', 'status', '--porcelain', '--untracked-files=no']);
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const defaults = mountDefaults();
  const mib = (bytes: string) => `${Number(bytes) / 2 ** 20} MiB`;
  const writeBack = WRITE_BACK
    ? `--write-back ${WRITE_BACK}`
    : defaults.has('write-back')
      ? `--write-back ${mib(defaults.get('write-back')!)} (default)`
      : 'no --write-back option in this build';
  const options = [
    chunkSize
      ? `chunk size ${chunkSize / 1024} KiB${CHUNK_SIZE ? '' : ' (format default)'}`
      : 'chunk size: no store made',
    writeBack,
    defaults.has('cache-size') ? `--cache-size ${mib(defaults.get('cache-size')!)} (default)` : '',
  ].filter(Boolean);
  const args = process.argv.slice(2).join(' ');
  return [
    '# Benchmarks',
    '',
    `Made by \`npx tsx scripts/bench.ts${args ? ` ${args}` : ''}\` on ${new Date().toISOString().slice(0, 10)}, ` +
      `in ${minutes.toFixed(0)} minutes.`,
    '',
    ...markdownTable(
      ['', ''],
      [
        ['machine', `Linux ${release()}, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`],
        [
          'files',
          `on ${BASE_DIR} (${tryRun('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '--target', BASE_DIR]).replace(/\s+/, ' on ')})`,
        ],
        [
          'versions',
          `snapfuse ${pkg('package.json')} (${commit}${dirty ? ' with uncommitted changes' : ''}), Node ${process.version}, ` +
            `${tryRun('fio', ['--version'])}, fuse-native ${pkg('node_modules/fuse-native/package.json')}, ` +
            `libfuse ${tryRun('dpkg-query', ['-W', '-f', '${Version}', 'libfuse2'])}` +
            (postgres ? `, ${postgres.version}` : ''),
        ],
        ['snapfuse options', options.join(', ')],
        ['sizes', `origin ${count(SIZE_MIB)} MiB; ${RUNS} run${RUNS === 1 ? '' : 's'} of each job and target`],
      ],
    ),
    '',
    'Sequential jobs are buffered and end in fsync; random ones are O_DIRECT with libaio, 8 s each, but for the fdatasync job: buffered 4K writes, each followed by fdatasync. Read jobs start ' +
      'with dropped caches. Before every run the bench waits until no background work runs (`reclaim -` ' +
      'in the status of every store mounted), then runs `sync`. COW files are written through with zeros first, as a ' +
      'store on a device or a thick logical volume is (a sparse or fallocated file pays the file system for the first write of each block). The targets of a job take turns run by run, each round starting with ' +
      'the next target (raw, passthrough, snapfuse; passthrough, snapfuse, raw; ...), so that drift over minutes, and ' +
      'what a run leaves to the next, hit them alike. Throughput is the median of the runs, with min–max. The machine is shared and noisy: read the ' +
      'ratios to the passthrough (a bare fuse-native file with the same mount options, measured in the same run), not ' +
      'the absolutes.',
    '',
  ];
}

function report(chunkSize: number | undefined, minutes: number): string {
  const body = tables
    .sort((a, b) => a.section - b.section)
    .flatMap((t) => [`## ${t.section}. ${t.title}`, '', t.text, '', ...markdownTable(t.head, t.rows), '']);
  // what each lever gave, measured while the code changed: kept by hand beside the script
  const levers = join(ROOT, 'docs/bench-levers.md');
  const notes = existsSync(levers) ? [readFileSync(levers, 'utf8')] : [];
  return [...header(chunkSize, minutes), ...body, ...notes].join('\n');
}

// ---- main -------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!Number.isInteger(SIZE_MIB) || SIZE_MIB < 16 || !Number.isInteger(RUNS) || RUNS < 1)
    throw new Error('--size takes whole MiB from 16, --runs a whole number from 1');
  if (!existsSync(CLI)) throw new Error(`no ${CLI}: run npx tsc -p tsconfig.json first`);
  if (SECTIONS.has(9)) {
    const whole = [PG_SCALE, PG_CLIENTS, PG_SECONDS].every((n) => Number.isInteger(n) && n >= 1);
    if (!whole || !Number.isInteger(PG_SIZE_MIB) || PG_SIZE_MIB < 256)
      throw new Error(
        '--pg-scale, --pg-clients and --pg-seconds take whole numbers from 1, --pg-size whole MiB from 256',
      );
    postgres = findPostgres(); // before anything runs: fail at once if it is missing
  }
  const start = performance.now();
  origin = sparse(join(dir, 'origin.img'), SIZE_MIB);
  fill(origin);
  const baseline = [1, 2, 3, 4].some((s) => SECTIONS.has(s));
  let pt = '';
  if (baseline) {
    const raw = sparse(join(dir, 'raw.img'), SIZE_MIB);
    fill(raw);
    pt = await startPassthrough();
    await originJobs(raw, pt, SECTIONS.has(1) ? await startPassthrough(true) : null);
  }
  if (SECTIONS.has(3)) await snapshotCounts();
  if (SECTIONS.has(4)) await snapshotReads(pt);
  if (SECTIONS.has(5)) await createDeleteLatency();
  if (SECTIONS.has(6)) await memoryUnderWrites();
  if (SECTIONS.has(8)) await deletesWithData();
  if (SECTIONS.has(9)) await pgbenchJobs();
  storeTables();

  const chunkSize = storeReports[0]?.chunkSize;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report(chunkSize, (performance.now() - start) / 60_000));
  console.log(`\nwrote ${OUT}`);
  if (SECTIONS.has(1) && SECTIONS.has(3)) {
    writeFileSync(CHART, chartSvg(chartSeries()));
    console.log(`wrote ${CHART}`);
  }
}

async function cleanUp(): Promise<void> {
  for (const undo of cleanups.reverse()) {
    try {
      await undo();
    } catch (e) {
      console.error(`bench: cleaning up: ${(e as Error).message}`);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

// Ctrl-C also reaches fio (same process group), which fails the run: then `finally` cleans up.
process.on('SIGINT', () => (interrupted = true));
process.on('SIGTERM', () => (interrupted = true));

main()
  .catch((e) => {
    console.error(`bench: ${(e as Error).message}`);
    process.exitCode = 1;
  })
  .finally(cleanUp);
