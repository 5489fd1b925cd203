// Soak: a real mount under load for N minutes; the daemon must never fail a request
// (DESIGN.md sections 1, 3 and 5).
//
//   npx tsx scripts/soak.ts [--minutes 5] [--origin-size 512M] [--cow-size <4x origin>]
//                           [--dir <work dir>] [--keep] [--zero-cow] [--detach] [--cli <main.js>]
//
// As root, after `npm run build` (it runs dist/src/cli/main.js, or --cli). It
//  1. fills an origin file with random data, makes a COW (sparse, or written through with
//     zeros with --zero-cow), formats it and mounts it (SNAPFUSE_LOCK_DIR=<dir>/locks). By
//     default the daemon runs as `mount --foreground` in its own process group with its
//     stderr and DEBUG=snapfuse:* (less snapfuse:io) in <dir>/daemon.log; --detach mounts
//     with plain `snapfuse mount` as a user would;
//  2. takes snapshots: s1, a and b of the origin, ab of a. s1, b and ab are frozen: nobody
//     writes them, so they must read the origin's first content for the whole run;
//  3. runs at once, for --minutes:
//     - fio rounds on origin.img (libaio, O_DIRECT, qd 8) and on snapshots/a.img (psync,
//       buffered): random writes of 4K and 64K blocks with crc32c verification, each round a
//       fixed-size pass over its region with its own seed (verify_only cannot replay a
//       time_based job, so the last round is what the final verify replays);
//     - a reader of the frozen snapshots, round robin, comparing each MiB to its hash;
//     - a status read of control every 50 ms, parsed strictly;
//     - create / diff / delete churn (some of them snapshots of a, some through the CLI);
//     - `rollback s1` every second, which must fail with EBUSY: this script holds its own fd
//       on origin.img for the whole run, so the origin is open at every moment;
//     - a watchdog: the mount is there and the daemon alive;
//  4. stops the load, verifies every image (fio --verify_only of each job's last round,
//     the frozen snapshots' hashes, the list of snapshots), unmounts, runs `snapfuse check`
//     (must be clean), mounts again, verifies everything again, unmounts and checks again;
//  5. prints the figures and every failed request (bad reads of control and diff/ files
//     counted by kind); exits 1 if there was any.
// Cleans up always (also on SIGINT): unmounts what it mounted, ends only the processes it
// started (by pid), removes what it made unless --keep.
import { ChildProcess, spawn } from 'child_process';
import { createHash } from 'crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'fs';
import { promises as fsp } from 'fs';
import { join, resolve } from 'path';
import { performance } from 'perf_hooks';
import { readStatus as cliReadStatus } from '../src/cli/control-client';

// ---- options ----------------------------------------------------------------------

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
function size(s: string): number {
  const m = /^(\d+)([KMGT]?)$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2].toUpperCase() || ' ');
}

const MINUTES = Number(arg('minutes', '5'));
const ORIGIN_SIZE = size(arg('origin-size', '512M'));
const COW_SIZE = size(arg('cow-size', String(4 * ORIGIN_SIZE)));
const KEEP = flag('keep');
const ZERO_COW = flag('zero-cow');
const DETACH = flag('detach');
const ROOT = resolve(__dirname, '..');
const CLI = resolve(arg('cli', join(ROOT, 'dist/src/cli/main.js')));
const MIB = 1 << 20;
if (!(MINUTES > 0) || ORIGIN_SIZE % MIB !== 0 || ORIGIN_SIZE < 16 * MIB)
  throw new Error('--minutes must be > 0 and --origin-size a whole number of MiB, at least 16M');

const givenDir = arg('dir', '');
const createdDir = !givenDir || !existsSync(givenDir);
const dir = givenDir ? resolve(givenDir) : mkdtempSync('/tmp/snapfuse-soak-');
mkdirSync(dir, { recursive: true });
const ORIGIN = join(dir, 'origin.raw');
const COW = join(dir, 'store.cow');
const MNT = join(dir, 'mnt');
const LOCKS = join(dir, 'locks');
const LOG = join(dir, 'daemon.log');
const ENV = { ...process.env, SNAPFUSE_LOCK_DIR: LOCKS };
const CONTROL = join(MNT, 'control');
const ORIGIN_IMG = join(MNT, 'origin.img');
const img = (id: string) => join(MNT, 'snapshots', `${id}.img`);

const FROZEN = ['s1', 'b', 'ab']; // never written: each must read the origin's first content
const ROLLBACK_TARGET = 's1';
const HASH_UNIT = MIB;

// ---- small helpers ------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
const fmt = (x: number, d = 1) => x.toFixed(d);

let stopping = false; // the load stops
let interrupted = false; // SIGINT/SIGTERM: skip the checks, clean up

interface Failure {
  where: string;
  what: string;
  at: number; // seconds since start
}
const failures: Failure[] = [];
const started = now();
let mountGone = false;

function fail(where: string, what: string): void {
  const at = (now() - started) / 1000;
  failures.push({ where, what, at });
  if (failures.length <= 50) console.error(`FAIL [${where}] at ${fmt(at)} s: ${what}`);
  else if (failures.length === 51) console.error('FAIL ... (further failures counted, not printed)');
  if (/ENOTCONN|Transport endpoint is not connected/.test(what)) {
    mountGone = true;
    stopping = true;
  }
}

function stats(samples: number[]): string {
  if (samples.length === 0) return 'none';
  const s = [...samples].sort((x, y) => x - y);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  return `median ${fmt(q(0.5), 2)} ms, p99 ${fmt(q(0.99), 2)} ms, max ${fmt(s[s.length - 1], 2)} ms`;
}

/** Processes this run started and that are still running, by pid. */
const children = new Set<ChildProcess>();

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command without blocking the event loop (everything here runs at once). */
function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code, signal) => {
      children.delete(child);
      done({ code, signal, stdout, stderr });
    });
  });
}
const snapfuse = (...args: string[]) => exec(process.execPath, [CLI, ...args]);
async function snapfuseOk(...args: string[]): Promise<string> {
  const r = await snapfuse(...args);
  if (r.code !== 0) throw new Error(`snapfuse ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
const firstLine = (s: string) => s.trim().split('\n').slice(-3).join(' | ');

const mounted = () => readFileSync('/proc/mounts', 'utf8').includes(` ${MNT} fuse.snapfuse `);
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---- the status, parsed strictly -------------------------------------------------------

interface Status {
  snapshots: Map<string, { parent: string; state: string }>;
  chunkSize: number;
  used: number;
  error: string;
  reclaim: string;
  rollback: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COUNT = /^(0|[1-9][0-9]*)$/;
const PERCENT = /^(100|[1-9]?[0-9])%$/;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** The status as README.md's control language gives it; throws saying what is wrong. */
function parseStatus(text: string): Status {
  if (!text.endsWith('\n')) throw new Error('does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  let i = 0;
  const take = (key: string, min: number, max = Infinity): string[] => {
    const line = lines[i];
    if (line === undefined) throw new Error(`missing "${key}" line`);
    const f = line.split(' ');
    if (f[0] !== key) throw new Error(`line ${i + 1}: expected "${key}", got ${JSON.stringify(line)}`);
    if (f.length - 1 < min || f.length - 1 > max) throw new Error(`line ${i + 1}: wrong field count: ${line}`);
    i++;
    return f.slice(1);
  };
  const count = (s: string, what: string): number => {
    if (!COUNT.test(s)) throw new Error(`${what} is not a count: ${JSON.stringify(s)}`);
    return Number(s);
  };
  const originSize = count(take('origin-size', 1, 1)[0], 'origin-size');
  if (originSize !== ORIGIN_SIZE) throw new Error(`origin-size ${originSize}, not ${ORIGIN_SIZE}`);
  const chunkSize = count(take('chunk-size', 1, 1)[0], 'chunk-size');
  if (chunkSize & (chunkSize - 1) || chunkSize < 4096) throw new Error(`chunk-size ${chunkSize}`);
  const [used, total, free] = take('store', 3, 3).map((s) => count(s, 'store'));
  if (used > total || free > total) throw new Error(`store ${used} ${total} ${free}`);
  const n = count(take('snapshots', 1, 1)[0], 'snapshots');
  const snapshots = new Map<string, { parent: string; state: string }>();
  for (let k = 0; k < n; k++) {
    const [id, parent, created, exclusive, state, shared, schedule] = take('snapshot', 5);
    if (!ID.test(id) || snapshots.has(id)) throw new Error(`snapshot id ${JSON.stringify(id)}`);
    if (parent !== 'origin' && parent !== '-' && !ID.test(parent)) throw new Error(`parent ${parent}`);
    if (!TIME.test(created) || Number.isNaN(Date.parse(created))) throw new Error(`creation time ${created}`);
    if (exclusive !== '-') count(exclusive, 'exclusive bytes');
    if (state !== 'valid' && state !== 'invalid') throw new Error(`state ${state}`);
    if (shared !== undefined && shared !== '-') count(shared, 'shared bytes');
    if (schedule !== undefined && schedule !== '-') throw new Error(`schedule ${schedule}: none was set`);
    snapshots.set(id, { parent, state });
  }
  const [reclaim] = take('reclaim', 1, 1);
  if (reclaim !== '-' && !PERCENT.test(reclaim)) throw new Error(`reclaim ${reclaim}`);
  const rollback = take('rollback', 2, 2);
  if (!(rollback[0] === '-' && rollback[1] === '-') && !(ID.test(rollback[0]) && PERCENT.test(rollback[1])))
    throw new Error(`rollback ${rollback.join(' ')}`);
  const error = lines[i] ?? '';
  const e = take('error', 1);
  if (!(e.length === 1 && e[0] === '-') && !/^E[A-Z0-9]+$/.test(e[0])) throw new Error(`error line ${error}`);
  const space = take('space', 1, 4);
  if (!(space.length === 1 && space[0] === '-') && !(space.length === 4 && space.every((s) => COUNT.test(s))))
    throw new Error(`space ${space.join(' ')}`);
  const [accounting] = take('accounting', 1, 1);
  if (accounting !== '-' && !PERCENT.test(accounting)) throw new Error(`accounting ${accounting}`);
  const schedules = count(take('schedules', 1, 1)[0], 'schedules');
  if (schedules !== 0) throw new Error(`schedules ${schedules}: none was set`);
  // lines a newer daemon appends: "key value..." each
  for (; i < lines.length; i++) if (!/^[a-z][a-z-]* \S/.test(lines[i])) throw new Error(`line ${lines[i]}`);
  return { snapshots, chunkSize, used, error, reclaim: reclaim, rollback: rollback.join(' ') };
}

/** Read a file to its end as cat does (fs.readFile stops at the size fstat gave, which may be old). */
async function readAll(path: string): Promise<string> {
  const fh = await fsp.open(path, 'r');
  try {
    const parts: Buffer[] = [];
    for (let pos = 0; ;) {
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      parts.push(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return Buffer.concat(parts).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** What kind of bad read a status or diff text is (see the summary). */
function badRead(text: string): string {
  if (/^(create|delete|rollback|schedule)\b/.test(text)) return 'a control command written meanwhile read back';
  if (text.includes('\0')) return 'NUL padding';
  return 'torn: pieces of two versions, or cut short';
}

const shown = (text: string) =>
  `${text.length} bytes: ${JSON.stringify(text.length > 160 ? `${text.slice(0, 80)}...${text.slice(-80)}` : text)}`;

/**
 * The status, read as cat reads it (to the end), or with one read as fs.readFile and the
 * CLI do (`whole`: stops at the size fstat gave).
 */
async function readStatus(how: 'cat' | 'readFile' = 'readFile'): Promise<Status> {
  // 'readFile' reads as the CLI does (src/cli/control-client.ts: again while it does not parse)
  const text = how === 'cat' ? await readAll(CONTROL) : await cliReadStatus(MNT);
  try {
    return parseStatus(text);
  } catch (e) {
    throw Object.assign(new Error(`${(e as Error).message}; ${shown(text)}`), { kind: badRead(text) });
  }
}

/** Where a failed status read is counted: by the kind of bad text, if it was read. */
function statusWhere(e: unknown, how = 'cat'): string {
  const kind = (e as { kind?: string }).kind;
  return kind ? `status read (${how}): ${kind}` : 'status';
}

async function command(line: string): Promise<void> {
  await fsp.writeFile(CONTROL, `${line}\n`);
}

/** A diff file's text: "offset length" lines of whole chunks, in order, inside the image. */
function checkRanges(text: string, chunkSize: number): number {
  if (text === '') return 0;
  if (!text.endsWith('\n')) throw new Error('diff does not end with a newline');
  let end = 0;
  const lines = text.slice(0, -1).split('\n');
  for (const line of lines) {
    const m = /^(0|[1-9]\d*) ([1-9]\d*)$/.exec(line);
    if (!m) throw new Error(`diff line ${JSON.stringify(line)}`);
    const [off, len] = [Number(m[1]), Number(m[2])];
    if (off < end || off % chunkSize !== 0 || off + len > ORIGIN_SIZE) throw new Error(`diff range ${line}`);
    if (len % chunkSize !== 0 && off + len !== ORIGIN_SIZE) throw new Error(`diff range ${line}: not whole chunks`);
    end = off + len;
  }
  return lines.length;
}

// ---- the daemon ------------------------------------------------------------------------

const lockFile = () => {
  const st = statSync(COW);
  return join(LOCKS, `${st.dev}-${st.ino}.lock`);
};

class Daemon {
  pid = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  expectExit = false;

  async start(): Promise<void> {
    this.expectExit = false;
    if (DETACH) {
      await snapfuseOk('mount', ORIGIN, COW, MNT);
      this.pid = parseInt(readFileSync(lockFile(), 'utf8'), 10); // "<pid> serving <mountpoint>"
      return;
    }
    const log = openSync(LOG, 'a');
    writeFileSync(log, `---- soak: mount at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [CLI, 'mount', ORIGIN, COW, MNT, '--foreground'], {
      env: { ...ENV, DEBUG: 'snapfuse:*,-snapfuse:io' },
      stdio: ['ignore', log, log],
      detached: true, // its own process group: a Ctrl-C here does not unmount it under the cleanup
    });
    closeSync(log);
    this.child = child;
    this.pid = child.pid ?? 0;
    children.add(child);
    this.exited = new Promise((done) =>
      child.on('exit', (code, signal) => {
        children.delete(child);
        this.child = null;
        if (!this.expectExit) {
          fail('daemon', `the mount daemon ${this.pid} exited: code ${code}, signal ${signal}; see ${LOG}`);
          mountGone = true;
          stopping = true;
        }
        done();
      }),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!this.child) throw new Error(`the mount daemon exited before the mount answered; see ${LOG}`);
      if (mounted()) {
        try {
          await readStatus();
          return;
        } catch {
          // not answering yet
        }
      }
      if (Date.now() > deadline) throw new Error('the mount did not answer in 60 s');
      await sleep(100);
    }
  }

  isAlive(): boolean {
    return DETACH ? this.pid > 0 && alive(this.pid) : this.child !== null;
  }

  /** Unmount and wait until the daemon has exited (60 s at most). */
  async stop(): Promise<void> {
    this.expectExit = true;
    const t = now();
    const how = (await hasUnmountCommand()) ? 'snapfuse unmount' : 'umount';
    if (mounted()) {
      if (how === 'snapfuse unmount') {
        const r = await snapfuse('unmount', MNT);
        if (r.code !== 0) fail('unmount', `snapfuse unmount: exit ${r.code}: ${firstLine(r.stderr)}`);
      } else {
        const r = await exec('umount', [MNT]);
        if (r.code !== 0) fail('unmount', `umount: exit ${r.code}: ${firstLine(r.stderr)}`);
      }
    }
    const deadline = Date.now() + 60_000;
    while (this.isAlive() && Date.now() < deadline) await sleep(100);
    if (this.isAlive()) fail('unmount', `the daemon ${this.pid} had not exited 60 s after the unmount`);
    else console.log(`  ${how}: the daemon exited ${fmt((now() - t) / 1000)} s after the unmount began`);
    await Promise.race([this.exited, sleep(100)]);
  }

  /** After a failure: unmount however it goes, then end the daemon by its pid if it stays. */
  async abandon(): Promise<void> {
    this.expectExit = true;
    if (mounted()) {
      const r = await exec('umount', [MNT]);
      if (r.code !== 0) await exec('umount', ['-l', MNT]);
    }
    const deadline = Date.now() + 60_000;
    while (this.isAlive() && Date.now() < deadline) await sleep(100);
    if (this.isAlive()) {
      console.error(`soak: the daemon ${this.pid} did not exit after the unmount; SIGTERM`);
      process.kill(this.pid, 'SIGTERM');
      await sleep(2000);
      if (this.isAlive()) process.kill(this.pid, 'SIGKILL');
    }
    // a dead endpoint ("Transport endpoint is not connected") is still a mount
    if (mounted()) await exec('umount', ['-l', MNT]);
  }
}

let unmountCommand: boolean | null = null;
/** `snapfuse unmount` (waits for the daemon), if this build has it: the top-level help also exits 0. */
async function hasUnmountCommand(): Promise<boolean> {
  if (unmountCommand === null) {
    const r = await snapfuse('unmount', '--help');
    unmountCommand = r.code === 0 && /^snapfuse unmount\b/.test(r.stdout.trim());
  }
  return unmountCommand;
}

/** `snapfuse check`, once the store is free (up to 60 s of "store in use"). */
async function check(label: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await snapfuse('check', ORIGIN, COW);
    if (/store in use/.test(r.stderr) && Date.now() < deadline) {
      await sleep(1000);
      continue;
    }
    if (r.code === 0) console.log(`  check ${label}: clean`);
    else
      fail('check', `${label}: exit ${r.code}: ${(r.stdout + r.stderr).trim().split('\n').slice(0, 20).join(' | ')}`);
    return;
  }
}

// ---- fio -------------------------------------------------------------------------------

interface FioTotals {
  rounds: number;
  writeBytes: number;
  writeIos: number;
  writeMs: number;
  readBytes: number; // the verify reads
}

class FioJob {
  lastGoodSeed: number | null = null;
  readonly totals: FioTotals = { rounds: 0, writeBytes: 0, writeIos: 0, writeMs: 0, readBytes: 0 };
  private seed: number;

  constructor(
    readonly name: string,
    readonly file: string,
    private readonly offset: number,
    private readonly length: number,
    private readonly engine: string[],
    seed: number,
  ) {
    this.seed = seed;
  }

  private args(seed: number): string[] {
    return [
      `--name=${this.name}`,
      `--filename=${this.file}`,
      `--offset=${this.offset}`,
      `--size=${this.length}`,
      '--rw=randwrite',
      '--bssplit=4k/50:64k/50',
      ...this.engine,
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      '--verify_backlog=1024',
      '--end_fsync=1',
      '--verify_state_save=0', // it would leave <type>-<job>-<n>-verify.state files in the cwd
      `--randseed=${seed}`,
      '--output-format=json',
    ];
  }

  /** Rounds until the soak stops; each a whole pass over the region, so the last one replays. */
  async loop(): Promise<void> {
    while (!stopping) {
      const seed = this.seed++;
      const r = await exec('fio', this.args(seed));
      if (interrupted) return;
      const j = fioJson(r.stdout);
      if (r.code !== 0 || !j || j.error !== 0) {
        fail(
          `fio ${this.name}`,
          `round ${this.totals.rounds + 1} (seed ${seed}): exit ${r.code}${r.signal ? ` ${r.signal}` : ''}, error ${j?.error}: ${firstLine(r.stderr)}`,
        );
        this.lastGoodSeed = null; // part of the region holds this round's blocks: the next whole round replaces them
        continue;
      }
      this.totals.rounds++;
      this.totals.writeBytes += j.write.io_bytes;
      this.totals.writeIos += j.write.total_ios;
      this.totals.writeMs += j.write.runtime;
      this.totals.readBytes += j.read.io_bytes;
      this.lastGoodSeed = seed;
    }
  }

  /** Read back the last whole round (fio's verify_only replays it) and check every block. */
  async verify(label: string): Promise<void> {
    if (this.lastGoodSeed === null) {
      fail(`fio ${this.name}`, `${label}: no whole round to verify`);
      return;
    }
    const r = await exec('fio', [...this.args(this.lastGoodSeed), '--verify_only']);
    const j = fioJson(r.stdout);
    if (r.code !== 0 || !j || j.error !== 0)
      fail(`fio ${this.name}`, `${label}: verify_only exit ${r.code}, error ${j?.error}: ${firstLine(r.stderr)}`);
    else console.log(`  fio ${this.name} ${label}: verify_only clean (${fmt(j.read.io_bytes / MIB, 0)} MiB read)`);
  }
}

interface FioDir {
  io_bytes: number;
  total_ios: number;
  runtime: number;
}
interface FioJobJson {
  error: number;
  write: FioDir;
  read: FioDir;
}

/** fio's JSON (warnings may come before it on stdout). */
function fioJson(out: string): FioJobJson | null {
  const at = out.indexOf('{');
  if (at < 0) return null;
  try {
    return (JSON.parse(out.slice(at)) as { jobs: FioJobJson[] }).jobs[0] ?? null;
  } catch {
    return null;
  }
}

// ---- the frozen snapshots ---------------------------------------------------------------

/** Hash of each MiB of the origin file as it is now (before the mount). */
function hashFile(path: string): string[] {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(HASH_UNIT);
  const out: string[] = [];
  try {
    for (let off = 0; off < ORIGIN_SIZE; off += HASH_UNIT) {
      const n = readSync(fd, buf, 0, HASH_UNIT, off);
      if (n !== HASH_UNIT) throw new Error(`short read of ${path} at ${off}`);
      out.push(createHash('sha256').update(buf).digest('hex'));
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

let expected: string[] = [];
const frozen = { passes: 0, bytes: 0, ms: 0 };

/** Read one frozen snapshot whole, through a fresh open, against the origin's first content. */
async function verifyFrozen(id: string, label: string): Promise<boolean> {
  const t = now();
  let fh: fsp.FileHandle | null = null;
  const bad: number[] = [];
  try {
    fh = await fsp.open(img(id), 'r');
    const buf = Buffer.alloc(HASH_UNIT);
    for (let k = 0; k < expected.length; k++) {
      if (interrupted || mountGone) return true;
      let got = 0;
      while (got < HASH_UNIT) {
        const { bytesRead } = await fh.read(buf, got, HASH_UNIT - got, k * HASH_UNIT + got);
        if (bytesRead === 0) throw new Error(`short read at ${k * HASH_UNIT + got}`);
        got += bytesRead;
      }
      if (createHash('sha256').update(buf).digest('hex') !== expected[k]) bad.push(k);
    }
    // a read past the end returns nothing
    const { bytesRead } = await fh.read(buf, 0, 4096, ORIGIN_SIZE);
    if (bytesRead !== 0) throw new Error(`read ${bytesRead} bytes past the end`);
  } catch (e) {
    fail(`read ${id}.img`, `${label}: ${errno(e)}`);
    return false;
  } finally {
    await fh?.close().catch((e) => fail(`read ${id}.img`, `close: ${errno(e)}`));
  }
  frozen.passes++;
  frozen.bytes += ORIGIN_SIZE;
  frozen.ms += now() - t;
  if (bad.length) {
    const where = bad
      .slice(0, 8)
      .map((k) => `${k} MiB`)
      .join(', ');
    fail(`read ${id}.img`, `${label}: ${bad.length} MiB changed (at ${where}${bad.length > 8 ? ', ...' : ''})`);
    return false;
  }
  return true;
}

// ---- the load ------------------------------------------------------------------------------

const statusReads = { done: 0, ms: [] as number[] };
const tornRawReads: string[] = []; // raw reads of control to the end that the page cache tore
const creates: number[] = []; // through the control file
const deletes: number[] = [];
const cliRuns: number[] = []; // snapfuse create/delete, node's start-up included
const done = { creates: 0, deletes: 0 }; // all of them, control file and CLI
const diffs = { done: 0, ranges: 0, cli: 0 };
const rollbacks = { refused: 0 };
const errorLines = new Set<string>();
/** The churn snapshots alive now (besides s1, a, b, ab). */
const churnLive = new Set<string>();

async function statusLoop(): Promise<void> {
  for (let n = 0; !stopping; n++) {
    const t = now();
    const how = n % 2 ? 'readFile' : 'cat';
    try {
      const s = await readStatus(how);
      statusReads.ms.push(now() - t);
      statusReads.done++;
      for (const id of ['a', ...FROZEN])
        if (s.snapshots.get(id)?.state !== 'valid')
          fail('status', `snapshot ${id}: ${s.snapshots.get(id)?.state ?? 'missing'}`);
      if (s.rollback !== '- -') fail('status', `rollback ${s.rollback}: none was accepted`);
      // the last error: only the refused rollbacks are expected
      if (s.error !== 'error -' && !/^error EBUSY .*origin.* open/.test(s.error) && !errorLines.has(s.error)) {
        errorLines.add(s.error);
        fail('status', `unexpected ${s.error}`);
      }
    } catch (e) {
      // a raw read to the end may see the page cache torn by a command written or a status
      // changed meanwhile (README: The control file); counted, not failed. The CLI's reads must parse.
      if (how === 'cat' && (e as { kind?: string }).kind) tornRawReads.push((e as { kind: string }).kind);
      else fail(statusWhere(e, how), `read of control (${how}): ${(e as Error).message}`);
    }
    await sleep(50);
  }
}

async function timedCommand(line: string, into: number[]): Promise<boolean> {
  const t = now();
  try {
    await command(line);
    into.push(now() - t);
    return true;
  } catch (e) {
    fail('churn', `${line}: ${errno(e)}`);
    return false;
  }
}

async function churnLoop(): Promise<void> {
  const kept: string[] = [];
  let chunkSize = 65536;
  try {
    chunkSize = (await readStatus()).chunkSize;
  } catch (e) {
    fail(statusWhere(e), `read of control: ${(e as Error).message}`);
  }
  for (let n = 1; !stopping; n++) {
    const id = `c${n}`;
    const from = n % 4 === 0 ? 'a' : 'origin';
    const viaCli = n % 10 === 0;
    if (viaCli) {
      const t = now();
      const r = await snapfuse('create', MNT, id, ...(from === 'a' ? ['--from', 'a'] : []));
      if (r.code !== 0 || r.stdout.trim() !== id) {
        fail('churn', `snapfuse create ${id}: exit ${r.code}: ${firstLine(r.stderr)} ${r.stdout.trim()}`);
        continue;
      }
      cliRuns.push(now() - t);
      done.creates++;
    } else if (await timedCommand(from === 'a' ? `create ${id} from a` : `create ${id}`, creates)) done.creates++;
    else continue;
    churnLive.add(id);
    await sleep(20 + Math.random() * 200); // let some origin writes copy out for it
    try {
      if (viaCli) {
        const r = await snapfuse('diff', MNT, id, from);
        if (r.code !== 0) throw new Error(`snapfuse diff: exit ${r.code}: ${firstLine(r.stderr)}`);
        diffs.ranges += checkRanges(r.stdout, chunkSize);
        diffs.cli++;
      } else {
        const text = await readAll(join(MNT, 'diff', `${id}..${from}`));
        try {
          diffs.ranges += checkRanges(text, chunkSize);
        } catch (e) {
          throw Object.assign(new Error(`${(e as Error).message}; ${shown(text)}`), { kind: badRead(text) });
        }
      }
      diffs.done++;
    } catch (e) {
      const kind = (e as { kind?: string }).kind;
      fail(kind ? `diff read (cat): ${kind}` : 'diff', `diff/${id}..${from}: ${errno(e)}`);
    }
    // half are deleted at once; the others are kept a while, the oldest deleted beyond 3
    const victims: string[] = [];
    if (Math.random() < 0.5) victims.push(id);
    else if (kept.push(id) > 3) victims.push(kept.shift()!);
    for (const v of victims) {
      if (viaCli && v === id) {
        const t = now();
        const r = await snapfuse('delete', MNT, v);
        if (r.code !== 0) fail('churn', `snapfuse delete ${v}: exit ${r.code}: ${firstLine(r.stderr)}`);
        else {
          cliRuns.push(now() - t);
          churnLive.delete(v);
          done.deletes++;
        }
      } else if (await timedCommand(`delete ${v}`, deletes)) {
        churnLive.delete(v);
        done.deletes++;
      }
    }
    await sleep(50);
  }
}

async function rollbackLoop(): Promise<void> {
  for (let n = 1; !stopping; n++) {
    if (n % 10 === 0) {
      const r = await snapfuse('rollback', MNT, ROLLBACK_TARGET);
      if (r.code === 1 && /busy|open/i.test(r.stderr)) rollbacks.refused++;
      else
        fail(
          'rollback',
          `snapfuse rollback ${ROLLBACK_TARGET} with origin.img open: exit ${r.code}: ${firstLine(r.stderr)}`,
        );
    } else {
      try {
        await command(`rollback ${ROLLBACK_TARGET}`);
        fail('rollback', `rollback ${ROLLBACK_TARGET} was accepted with origin.img open`);
      } catch (e) {
        if (errno(e) === 'EBUSY') rollbacks.refused++;
        else fail('rollback', `rollback ${ROLLBACK_TARGET}: ${errno(e)}, not EBUSY`);
      }
    }
    await sleep(1000);
  }
}

async function frozenLoop(): Promise<void> {
  for (let n = 0; !stopping; n++) await verifyFrozen(FROZEN[n % FROZEN.length], 'during the soak');
}

async function watchdog(daemon: Daemon): Promise<void> {
  while (!stopping) {
    if (!mounted()) fail('watchdog', 'the mount is gone');
    else if (!daemon.isAlive()) fail('watchdog', `the daemon ${daemon.pid} is gone (ENOTCONN)`);
    if (!mounted() || !daemon.isAlive()) {
      mountGone = true;
      stopping = true;
    }
    await sleep(1000);
  }
}

// ---- the checks around the soak -------------------------------------------------------------

/** Every image against what it must hold, and the list of snapshots against what this run made. */
async function verifyAll(jobs: FioJob[], label: string): Promise<void> {
  console.log(`verify ${label}:`);
  try {
    const s = await readStatus();
    const want = new Set(['s1', 'a', 'b', 'ab', ...churnLive]);
    const got = new Set(s.snapshots.keys());
    const missing = [...want].filter((x) => !got.has(x));
    const extra = [...got].filter((x) => !want.has(x));
    if (missing.length || extra.length)
      fail('list', `${label}: missing ${missing.join(' ') || '-'}, unexpected ${extra.join(' ') || '-'}`);
    else console.log(`  snapshots: the ${got.size} expected`);
  } catch (e) {
    fail(statusWhere(e), `${label}: read of control: ${(e as Error).message}`);
  }
  for (const job of jobs) await job.verify(label);
  let ok = true;
  for (const id of FROZEN) ok = (await verifyFrozen(id, label)) && ok;
  if (ok) console.log(`  ${FROZEN.join(', ')}: every MiB as the origin was before the soak`);
}

// ---- main ------------------------------------------------------------------------------

const daemon = new Daemon();
let originHold: fsp.FileHandle | null = null;

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
  console.log(`soak: ${MINUTES} min, origin ${ORIGIN_SIZE / MIB} MiB, COW ${COW_SIZE / MIB} MiB, in ${dir}`);
  for (const p of [ORIGIN, COW, MNT]) if (existsSync(p)) throw new Error(`${p} exists: give an empty --dir`);
  mkdirSync(MNT);
  mkdirSync(LOCKS, { recursive: true });
  const dd = await exec('dd', [
    'if=/dev/urandom',
    `of=${ORIGIN}`,
    'bs=1M',
    `count=${ORIGIN_SIZE / MIB}`,
    'status=none',
  ]);
  if (dd.code !== 0) throw new Error(`dd: ${dd.stderr}`);
  expected = hashFile(ORIGIN);
  if (ZERO_COW) {
    const z = await exec('dd', [
      'if=/dev/zero',
      `of=${COW}`,
      'bs=4M',
      `count=${Math.ceil(COW_SIZE / (4 * MIB))}`,
      'status=none',
    ]);
    if (z.code !== 0) throw new Error(`dd: ${z.stderr}`);
  } else {
    writeFileSync(COW, '');
    truncateSync(COW, COW_SIZE);
  }
  await snapfuseOk('format', ORIGIN, COW);
  await daemon.start();
  console.log(`mounted at ${MNT} (daemon ${daemon.pid}${DETACH ? ', detached' : `, log ${LOG}`})`);

  await command('create s1');
  await command('create a');
  await command('create b');
  await command('create ab from a');
  for (const id of FROZEN)
    if (!(await verifyFrozen(id, 'before the soak'))) throw new Error(`snapshot ${id} does not read the origin`);
  console.log(`snapshots s1, a, b, ab; ${FROZEN.join(', ')} read the origin's content (${expected.length} MiB hashed)`);

  // the origin is open for the whole soak, so every rollback must be refused
  originHold = await fsp.open(ORIGIN_IMG, 'r');
  const half = ORIGIN_SIZE / 2;
  const jobs = [
    new FioJob('origin', ORIGIN_IMG, 0, half, ['--ioengine=libaio', '--direct=1', '--iodepth=8'], 1000),
    new FioJob('snapshot-a', img('a'), ORIGIN_SIZE / 4, half, ['--ioengine=psync', '--direct=0'], 2000),
  ];

  const t0 = now();
  const timer = setTimeout(() => (stopping = true), MINUTES * 60_000);
  const progress = setInterval(() => {
    const m = (now() - t0) / 60_000;
    console.log(
      `  ${fmt(m)} min: fio rounds ${jobs.map((j) => `${j.name} ${j.totals.rounds}`).join(', ')}; status ${statusReads.done}, ` +
        `creates ${done.creates}, deletes ${done.deletes}, diffs ${diffs.done}, rollbacks refused ${rollbacks.refused}, ` +
        `frozen passes ${frozen.passes}, failures ${failures.length}`,
    );
  }, 30_000);
  console.log('soak: running');
  try {
    await Promise.all([
      ...jobs.map((j) => j.loop()),
      statusLoop(),
      churnLoop(),
      rollbackLoop(),
      frozenLoop(),
      watchdog(daemon),
    ]);
  } finally {
    clearTimeout(timer);
    clearInterval(progress);
  }
  const soakMin = (now() - t0) / 60_000;
  if (interrupted) throw new Error('interrupted');

  if (!mountGone) {
    await verifyAll(jobs, 'after the soak');
    await originHold.close();
    originHold = null;
    await daemon.stop();
    await check('after the soak');
    await daemon.start();
    await verifyAll(jobs, 'after the remount');
    await daemon.stop();
    await check('after the remount');
  }
  summary(jobs, soakMin);
}

function summary(jobs: FioJob[], soakMin: number): void {
  const sec = soakMin * 60;
  console.log(`\nsummary (${fmt(soakMin, 2)} min of load, origin ${ORIGIN_SIZE / MIB} MiB):`);
  for (const j of jobs) {
    const t = j.totals;
    const w = t.writeMs / 1000;
    console.log(
      `  fio ${j.name}: ${t.rounds} rounds, ${fmt(t.writeBytes / MIB, 0)} MiB written; writes ${fmt(t.writeBytes / MIB / Math.max(w, 1e-9))} MiB/s, ` +
        `${fmt(t.writeIos / Math.max(w, 1e-9), 0)} IOPS (fio's runtime); ${fmt(t.readBytes / MIB, 0)} MiB read back and verified; ` +
        `${fmt(t.writeBytes / MIB / sec)} MiB/s written over the soak`,
    );
  }
  console.log(`  status reads: ${statusReads.done} (${fmt(statusReads.done / sec)}/s), ${stats(statusReads.ms)}`);
  const torn = new Map<string, number>();
  for (const k of tornRawReads) torn.set(k, (torn.get(k) ?? 0) + 1);
  console.log(
    `  raw reads of control torn by the page cache (not failures): ${tornRawReads.length}` +
      (torn.size ? ` (${[...torn].map(([k, n]) => `${n} ${k}`).join(', ')})` : ''),
  );
  console.log(`  creates: ${done.creates}; through the control file ${creates.length}: ${stats(creates)}`);
  console.log(`  deletes: ${done.deletes}; through the control file ${deletes.length}: ${stats(deletes)}`);
  console.log(`  snapfuse create/delete (CLI, node start-up included): ${cliRuns.length}, ${stats(cliRuns)}`);
  console.log(`  diffs: ${diffs.done} (${diffs.cli} through the CLI), ${diffs.ranges} ranges`);
  console.log(`  rollbacks refused with EBUSY: ${rollbacks.refused}`);
  console.log(
    `  frozen snapshot reads: ${frozen.passes} whole images, ${fmt(frozen.bytes / MIB, 0)} MiB at ${fmt(frozen.bytes / MIB / Math.max(frozen.ms / 1000, 1e-9))} MiB/s`,
  );
  console.log(`  failed requests: ${failures.length}`);
  const byWhere = new Map<string, number>();
  for (const f of failures) byWhere.set(f.where, (byWhere.get(f.where) ?? 0) + 1);
  for (const [where, n] of byWhere) console.log(`    ${where}: ${n}`);
}

async function cleanUp(): Promise<void> {
  stopping = true;
  await originHold?.close().catch(() => undefined);
  originHold = null;
  for (const c of children) if (c.pid !== daemon.pid && c.exitCode === null) c.kill('SIGTERM'); // fio, CLI runs
  try {
    if (mounted() || daemon.isAlive()) await daemon.abandon();
  } catch (e) {
    console.error(`soak: cleaning up: ${(e as Error).message}`);
  }
  if (failures.length && existsSync(LOG) && !KEEP) {
    const saved = `/tmp/snapfuse-soak-daemon-${process.pid}.log`;
    copyFileSync(LOG, saved);
    console.error(`soak: the daemon's log is kept in ${saved}`);
    if (failures.some((f) => f.where === 'daemon'))
      console.error(readFileSync(saved, 'utf8').split('\n').slice(-30).join('\n'));
  }
  if (KEEP) console.log(`soak: kept ${dir}`);
  else if (mounted()) console.error(`soak: ${MNT} is still mounted; leaving ${dir}`);
  else if (createdDir) rmSync(dir, { recursive: true, force: true });
  else for (const p of [ORIGIN, COW, MNT, LOCKS, LOG]) rmSync(p, { recursive: true, force: true });
}

function onSignal(sig: string): void {
  if (interrupted) return void console.error(`soak: ${sig} again: still cleaning up`);
  console.error(`soak: ${sig}: stopping and cleaning up`);
  interrupted = true;
  stopping = true;
  for (const c of children) if (c.pid !== daemon.pid && c.exitCode === null) c.kill('SIGTERM');
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

main()
  .catch((e) => {
    if (!interrupted || (e as Error).message !== 'interrupted') fail('soak', (e as Error).message);
  })
  .finally(async () => {
    await cleanUp();
    if (failures.length) console.error(`soak: ${failures.length} failed request(s)`);
    else if (!interrupted) console.log('soak: no failed request');
    process.exitCode = failures.length || interrupted ? 1 : 0;
  });
