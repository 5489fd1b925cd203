// The reference model through a REAL mount: plain Buffers, one per image, and a snapfuse
// mount driven by the same seeded random steps, each a real action a user could take
// (writes to origin.img and snapshots/<id>.img, commands written into control, status and
// list reads, umount and mount again), with every image read back through the mount and
// compared byte for byte. The walk is shared by test/e2e/mount-model.test.ts and
// scripts/mount-model.ts; a failure names its seed and lists the steps so far.
//
// The model predicts only what the contract says (DESIGN.md sections 1-2): EEXIST for a
// taken id, ENOENT for an unknown one, EINVAL for bad syntax, EBUSY only for a second
// rollback while one may still be running; a failed command changes nothing.
import { spawn, spawnSync } from 'child_process';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'fs';
import { join } from 'path';
import { parseStatus, StatusInput } from '../../src/control/status';
import { CLI, World } from './e2e';
import { Random } from './random';

export interface WalkConfig {
  chunkSize: number;
  originSize: number;
  cowSize: number;
  steps: number;
  /** Compare every image in full every this many steps (and after remounts, and at the end). */
  fullEvery: number;
  /** Most live snapshots at a time (keeps the COW from filling: ENOSPC is not expected). */
  maxSnapshots: number;
}

/** The configuration of a seed: odd seeds 4 KiB chunks and an origin ending inside a chunk, even seeds 64 KiB. */
export function configFor(seed: number, steps: number): WalkConfig {
  const small = seed % 2 === 1;
  return {
    chunkSize: small ? 4096 : 65536,
    originSize: small ? 4 * 1024 * 1024 + 3 * 512 : 4 * 1024 * 1024,
    cowSize: 64 * 1024 * 1024,
    steps,
    fullEvery: 10,
    maxSnapshots: 8,
  };
}

export interface WalkResult {
  seed: number;
  steps: number;
  ms: number;
  remounts: number;
  rollbacks: number;
  /** Outcomes of commands and writes, counted: "create ok", "delete ENOENT", ... */
  outcomes: Record<string, number>;
}

/** The walk failed: its message names the seed, the failure and every step so far. */
export class WalkFailure extends Error {}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

let unmountCommand: boolean | null = null;
/** Does `snapfuse unmount` exist yet? (`--help` of an unknown command prints the general help and exits 0.) */
function hasUnmount(w: World): boolean {
  if (unmountCommand === null) {
    const r = w.snapfuse('unmount', '--help');
    unmountCommand = r.status === 0 && /^snapfuse unmount\b/.test(r.stdout.trimStart());
  }
  return unmountCommand;
}

/** What a mount answers once its daemon is gone: ECONNABORTED to the requests in flight, ENOTCONN after. */
const DEAD = new Set(['ENOTCONN', 'ECONNABORTED']);

/**
 * A file's text, read as a Buffer: Node 20's readFileSync(path, 'utf8') asserts that close()
 * succeeds and aborts the whole process when it fails, as it does on a mount whose daemon died.
 */
const readText = (path: string): string => readFileSync(path).toString('utf8');

const errnoOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? `unknown (${(e as Error).message})`;

export async function walk(seed: number, cfg: WalkConfig, w: World): Promise<WalkResult> {
  const started = Date.now();
  const rnd = new Random(seed);
  const { chunkSize, originSize } = cfg;
  const log: string[] = [];
  const outcomes: Record<string, number> = {};
  const count = (what: string) => (outcomes[what] = (outcomes[what] ?? 0) + 1);

  // the model: one Buffer per image
  const initial = rnd.bytes(originSize);
  const model = new Map<string, Buffer>([['origin', Buffer.from(initial)]]);
  const snapshots = () => [...model.keys()].filter((k) => k !== 'origin');

  const paths = w.store(initial, cfg.cowSize, '--chunk-size', `${chunkSize / 1024}K`);
  const { mnt } = paths;
  const control = join(mnt, 'control');
  const imagePath = (image: string) =>
    image === 'origin' ? join(mnt, 'origin.img') : join(mnt, 'snapshots', `${image}.img`);
  const daemonLog = process.env.MODEL_DAEMON_LOG ? w.path('daemon.log') : null;

  let tracked = false;
  let remounts = 0;
  let rollbacks = 0;
  let rollbackMayRun = false; // a rollback was started and no status has shown it done since
  let fresh = 0; // names made so far
  const deleted: string[] = []; // names once used, now free: sometimes used again

  const fail = (message: string): never => {
    throw new WalkFailure(message);
  };

  /** Any fs call on the mount: ENOTCONN means the daemon is gone. */
  const onMount = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (DEAD.has(errnoOf(e))) fail(`the daemon died: ${what} got ${errnoOf(e)}`);
      throw e;
    }
  };

  /**
   * Mount; after a plain umount the old daemon may still be finishing its last commit, so
   * `retry` tries again for up to 60 s while the store is in use. After `snapfuse unmount`
   * (which returns once the daemon exited) the mount must succeed at once.
   */
  const mount = async (retry: boolean): Promise<void> => {
    const end = Date.now() + 60_000;
    for (;;) {
      let r: { status: number | null; stderr: string };
      if (daemonLog) {
        r = mountForeground();
      } else {
        r = w.snapfuse('mount', paths.origin, paths.cow, mnt);
      }
      if (!tracked) w.track(mnt);
      tracked = true;
      if (r.status === 0) return;
      if (!retry || !/store in use/.test(r.stderr) || Date.now() > end)
        fail(`snapfuse mount exited ${r.status}: ${r.stderr.trim()}`);
      log.push('  (mount: store in use, retrying)');
      sleep(200);
    }
  };

  /** The daemon in --foreground, its stderr (DEBUG=snapfuse:*) in daemon.log, for evidence. */
  const mountForeground = (): { status: number | null; stderr: string } => {
    const fd = openSync(daemonLog!, 'a');
    const from = readFileSync(daemonLog!).length;
    const child = spawn(process.execPath, [CLI, 'mount', paths.origin, paths.cow, mnt, '--foreground'], {
      env: { ...process.env, SNAPFUSE_LOCK_DIR: w.lockDir, DEBUG: process.env.DEBUG ?? 'snapfuse:*,-snapfuse:io' },
      stdio: ['ignore', 'ignore', fd],
      detached: true,
    });
    child.unref();
    closeSync(fd);
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      if (spawnSync('mountpoint', ['-q', mnt]).status === 0 && existsSync(control)) return { status: 0, stderr: '' };
      // the event loop sleeps here, so the child's exit is not seen: its one-line refusal is
      if (/^snapfuse: /m.test(readFileSync(daemonLog!).subarray(from).toString())) break;
      sleep(100);
    }
    const text = readFileSync(daemonLog!).subarray(from).toString().trim().split('\n');
    return { status: 1, stderr: text.filter((l) => /snapfuse: /.test(l)).pop() ?? text.pop() ?? '' };
  };

  /** Unmount; says whether the daemon is known to be gone (snapfuse unmount) or may still be closing (umount). */
  const unmount = async (): Promise<boolean> => {
    if (hasUnmount(w)) {
      const r = w.snapfuse('unmount', mnt);
      if (r.status !== 0) fail(`snapfuse unmount exited ${r.status}: ${r.stderr.trim()}`);
      return true;
    }
    const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (r.status !== 0) fail(`umount exited ${r.status}: ${r.stderr.trim()}`);
    return false;
  };

  /** Write one command into control as `echo` does: 'ok' or the errno's name. */
  const command = (text: string): string => {
    try {
      writeFileSync(control, text);
      return 'ok';
    } catch (e) {
      const code = errnoOf(e);
      if (DEAD.has(code)) fail(`the daemon died: writing ${JSON.stringify(text)} into control got ${code}`);
      return code;
    }
  };

  /**
   * The status. A raw read can come out torn (pieces of two texts) when the status changes
   * between the reads of one file read (documented in snapfuse-control(5)): read again, as
   * the CLI does, until it parses; count the torn ones.
   */
  const status = (): StatusInput => {
    let text = '';
    let why = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      text = onMount('reading control', () => readText(control));
      try {
        return parseStatus(text);
      } catch (e) {
        why = (e as Error).message;
        count('status read torn (read again)');
        sleep(10 * (attempt + 1));
      }
    }
    return fail(`the status does not parse, 10 reads in a row: ${why}\n${text}`);
  };

  /** The model's ids, sorted, against a list of ids from somewhere. */
  const sameIds = (where: string, ids: string[]) => {
    const got = [...ids].sort().join(' ');
    const want = snapshots().sort().join(' ');
    if (got !== want) fail(`${where} lists snapshots [${got}], the model has [${want}]`);
  };

  /**
   * Run a control command; the outcome must be one of `allowed`; an error must show in the status.
   * An image this walk has closed is not open: the kernel's RELEASE may come after close()
   * returned, and the daemon waits a moment for it before it answers EBUSY.
   */
  const run = (text: string, allowed: string[]): string => {
    const got = command(text);
    const what = (outcome: string) => `${text.trim().split(/\s/)[0] || 'empty'} ${outcome}`;
    count(what(got));
    log[log.length - 1] += ` -> ${got}`;
    if (!allowed.includes(got))
      fail(`${JSON.stringify(text)} returned ${got}, the contract says ${allowed.join(' or ')}`);
    if (got !== 'ok') {
      const e = status().lastError;
      if (e?.errno !== got)
        fail(`${JSON.stringify(text)} failed with ${got} but the status's error line says ${e?.errno ?? '-'}`);
    }
    return got;
  };

  const firstDifference = (got: Buffer, want: Buffer, base = 0): string => {
    if (got.length !== want.length) return `its size is ${got.length}, the model's ${want.length}`;
    let at = 0;
    while (at < got.length && got[at] === want[at]) at++;
    const off = base + at;
    let end = at;
    while (end < got.length && got[end] !== want[end]) end++;
    return (
      `first difference at byte ${off} (chunk ${Math.floor(off / chunkSize)}, ${off % chunkSize} into it), ` +
      `${end - at} bytes differ from there; got ${got.subarray(at, at + 8).toString('hex')}, ` +
      `model ${want.subarray(at, at + 8).toString('hex')}`
    );
  };

  /** What a mismatch looks like: which model image the bytes read match, whether a second read agrees, the status. */
  const diagnose = (image: string, got: Buffer, base: number): string => {
    const want = model.get(image)!.subarray(base, base + got.length);
    let at = 0;
    while (at < got.length && got[at] === want[at]) at++;
    let end = at;
    while (
      end < got.length &&
      (got[end] !== want[end] || got.subarray(end, end + 16).compare(want.subarray(end, end + 16)) !== 0)
    )
      end++;
    const [from, to] = [base + at, base + end];
    const bytes = got.subarray(at, end);
    const like = [...model].filter(([k, b]) => k !== image && b.subarray(from, to).equals(bytes)).map(([k]) => k);
    const like0 = initial.subarray(from, to).equals(bytes) ? ['the initial origin'] : [];
    let again = '';
    try {
      const fd = openSync(imagePath(image), 'r');
      const re = Buffer.alloc(to - from);
      readSync(fd, re, 0, re.length, from);
      closeSync(fd);
      again = re.equals(bytes)
        ? 'a second read gives the same bytes'
        : re.equals(model.get(image)!.subarray(from, to))
          ? 'a second read gives the model'
          : 'a second read gives other bytes';
    } catch (e) {
      again = `a second read failed: ${errnoOf(e)}`;
    }
    let st = '';
    try {
      st = readText(control);
    } catch (e) {
      st = `(control: ${errnoOf(e)})`;
    }
    return (
      `\n  bytes ${from}..${to} (up to where 16 bytes agree again): they equal the model of [${[...like, ...like0].join(', ') || 'no image'}]; ${again}` +
      `\n  status now:\n    ${st.trim().split('\n').join('\n    ')}`
    );
  };

  /** Read an image through the mount, whole, and compare it with the model. */
  const compare = (image: string) => {
    const got = onMount(`reading ${image}`, () => readFileSync(imagePath(image)));
    const want = model.get(image)!;
    if (!got.equals(want))
      fail(
        `image ${image} differs from the model: ${firstDifference(got, want)}${got.length === want.length ? diagnose(image, got, 0) : ''}`,
      );
  };

  /** Read one random window of an image and compare it (cheap, for the images a step did not touch). */
  const sample = (image: string) => {
    const len = Math.min(originSize, chunkSize * (1 + rnd.int(2)));
    const pos = rnd.int(originSize - len + 1);
    const got = Buffer.alloc(len);
    const fd = onMount(`opening ${image}`, () => openSync(imagePath(image), 'r'));
    try {
      let done = 0;
      while (done < len) {
        const n = onMount(`reading ${image}`, () => readSync(fd, got, done, len - done, pos + done));
        if (n === 0) break;
        done += n;
      }
      if (done !== len) fail(`image ${image}: read ${done} of ${len} bytes at ${pos}`);
    } finally {
      closeSync(fd);
    }
    const want = model.get(image)!.subarray(pos, pos + len);
    if (!got.equals(want))
      fail(`image ${image} differs from the model: ${firstDifference(got, want, pos)}${diagnose(image, got, pos)}`);
  };

  const compareAll = () => {
    for (const image of model.keys()) compare(image);
  };

  /** The checks after a step: the status parses and lists the model's ids, the snapshot directory too, images compared. */
  const check = (touched: Set<string>, full: boolean) => {
    const s = status();
    if (s.originSize !== originSize) fail(`status origin-size ${s.originSize}, expected ${originSize}`);
    if (s.chunkSize !== chunkSize) fail(`status chunk-size ${s.chunkSize}, expected ${chunkSize}`);
    sameIds(
      'the status',
      s.snapshots.map((x) => x.id),
    );
    for (const x of s.snapshots) if (x.state !== 'valid') fail(`snapshot ${x.id} is ${x.state}`);
    if (s.rollback === null) rollbackMayRun = false;
    const files = onMount('listing snapshots/', () => readdirSync(join(mnt, 'snapshots')));
    sameIds(
      'snapshots/',
      files.map((f) => f.replace(/\.img$/, '')),
    );
    if (full) compareAll();
    else
      for (const image of model.keys()) {
        if (touched.has(image)) compare(image);
        else sample(image);
      }
  };

  /** `snapfuse list --json` and `snapfuse status --json` agree with the model. */
  const cli = () => {
    const list = w.snapfuse('list', mnt, '--json');
    if (list.status !== 0) fail(`snapfuse list --json exited ${list.status}: ${list.stderr.trim()}`);
    let parsed: Array<{ id: string }>;
    try {
      parsed = JSON.parse(list.stdout);
    } catch {
      return fail(`snapfuse list --json printed no JSON: ${list.stdout.slice(0, 200)}`);
    }
    sameIds(
      'snapfuse list --json',
      parsed.map((x) => x.id),
    );
    const st = w.snapfuse('status', mnt, '--json');
    if (st.status !== 0) fail(`snapfuse status --json exited ${st.status}: ${st.stderr.trim()}`);
    let obj: { snapshots?: Array<{ id: string }>; chunkSize?: number };
    try {
      obj = JSON.parse(st.stdout);
    } catch {
      return fail(`snapfuse status --json printed no JSON: ${st.stdout.slice(0, 200)}`);
    }
    if (!Array.isArray(obj.snapshots)) fail(`snapfuse status --json has no snapshots array`);
    sameIds(
      'snapfuse status --json',
      obj.snapshots!.map((x) => x.id),
    );
    if (obj.chunkSize !== chunkSize) fail(`snapfuse status --json: chunkSize ${obj.chunkSize}`);
  };

  /** A byte range: sometimes chunk-aligned, sometimes spanning chunks, sometimes at the very end. */
  const range = (): [number, number] => {
    const r = rnd.next();
    let len: number;
    if (r < 0.25) len = 1 + rnd.int(3 * chunkSize);
    else if (r < 0.4) len = chunkSize * (1 + rnd.int(2));
    else len = 1 + rnd.int(Math.max(1, chunkSize / 2));
    len = Math.min(len, originSize);
    let pos: number;
    const p = rnd.next();
    if (p < 0.3) pos = Math.floor(rnd.int(originSize) / chunkSize) * chunkSize;
    else if (p < 0.4) pos = originSize - len;
    else pos = rnd.int(originSize);
    return [pos, Math.min(len, originSize - pos)];
  };

  const writeImage = (image: string) => {
    const [pos, len] = range();
    const data = rnd.bytes(len);
    const sync = rnd.next() < 0.2;
    log.push(`write ${image} ${pos}+${len}${sync ? ' fsync' : ''}`);
    const path = imagePath(image);
    const fd = onMount(`opening ${image}`, () => openSync(path, 'r+'));
    try {
      let done = 0;
      while (done < len) done += onMount(`writing ${image}`, () => writeSync(fd, data, done, len - done, pos + done));
      if (sync) onMount(`fsync of ${image}`, () => fsyncSync(fd));
    } finally {
      onMount(`closing ${image}`, () => closeSync(fd));
    }
    data.copy(model.get(image)!, pos);
    count('write ok');
  };

  /** A write wholly past the end fails (ENOSPC or EFBIG) and changes nothing. */
  const writePastEnd = (image: string) => {
    const len = 1 + rnd.int(chunkSize);
    log.push(`write ${image} ${originSize}+${len} (past the end)`);
    const fd = onMount(`opening ${image}`, () => openSync(imagePath(image), 'r+'));
    let got = 'ok';
    try {
      writeSync(fd, Buffer.alloc(len, 0x77), 0, len, originSize);
    } catch (e) {
      got = errnoOf(e);
      if (DEAD.has(got)) fail(`the daemon died: a write past the end of ${image} got ${got}`);
    } finally {
      closeSync(fd);
    }
    log[log.length - 1] += ` -> ${got}`;
    count(`write-past-end ${got}`);
    if (got !== 'ENOSPC' && got !== 'EFBIG') fail(`a write past the end of ${image} returned ${got}, not ENOSPC/EFBIG`);
  };

  const newName = (): string => {
    if (deleted.length && rnd.next() < 0.3) return deleted.splice(rnd.int(deleted.length), 1)[0];
    const n = fresh++;
    return rnd.next() < 0.15 ? `v${n}.x_y-z` : `s${n}`;
  };

  const addSnapshot = (id: string, from: string) => {
    model.set(id, Buffer.from(model.get(from)!));
    const i = deleted.indexOf(id); // an automatic number may take a freed name
    if (i >= 0) deleted.splice(i, 1);
  };
  const dropSnapshot = (id: string) => {
    model.delete(id);
    deleted.push(id);
  };

  const create = (touched: Set<string>) => {
    const live = snapshots();
    const from = live.length && rnd.next() < 0.4 ? rnd.pick(live) : 'origin';
    const r = rnd.next();
    if (r < 0.12 && live.length) {
      // a taken id
      const id = rnd.pick(live);
      const text = from === 'origin' && rnd.next() < 0.5 ? `create ${id}\n` : `create ${id} from ${from}\n`;
      log.push(text.trim());
      run(text, ['EEXIST']);
    } else if (r < 0.2) {
      // an unknown source (and perhaps a taken id too: either refusal is right)
      const id = live.length && rnd.next() < 0.3 ? rnd.pick(live) : newName();
      const text = `create ${id} from nope${fresh}\n`;
      log.push(text.trim());
      run(text, live.includes(id) ? ['ENOENT', 'EEXIST'] : ['ENOENT']);
      if (!live.includes(id)) deleted.push(id);
    } else if (r < 0.4) {
      // no id: the next unused number
      const text =
        from === 'origin' ? (rnd.next() < 0.5 ? 'create\n' : 'create from origin\n') : `create from ${from}\n`;
      log.push(text.trim());
      if (run(text, ['ok']) === 'ok') {
        const made = status()
          .snapshots.map((x) => x.id)
          .filter((id) => !model.has(id));
        if (made.length !== 1) fail(`"${text.trim()}" made [${made.join(' ')}], expected one new snapshot`);
        if (!/^[0-9]+$/.test(made[0])) fail(`"${text.trim()}" named its snapshot ${made[0]}, not a number`);
        log[log.length - 1] += ` (${made[0]})`;
        addSnapshot(made[0], from);
        touched.add(made[0]);
      }
    } else {
      const id = newName();
      const text = from === 'origin' && rnd.next() < 0.5 ? `create ${id}\n` : `create ${id} from ${from}\n`;
      log.push(text.trim());
      if (run(text, ['ok']) === 'ok') {
        addSnapshot(id, from);
        touched.add(id);
      }
    }
  };

  const remove = (id: string) => {
    log.push(`delete ${id}`);
    if (run(`delete ${id}\n`, ['ok']) === 'ok') dropSnapshot(id);
  };

  const rollback = (touched: Set<string>) => {
    const live = snapshots();
    if (!live.length || rnd.next() < 0.1) {
      log.push(`rollback nope`);
      run('rollback nope\n', rollbackMayRun ? ['ENOENT', 'EBUSY'] : ['ENOENT']);
      return;
    }
    const id = rnd.pick(live);
    log.push(`rollback ${id}`);
    // EBUSY only while a rollback may still be running (the contract's "a rollback already running")
    if (run(`rollback ${id}\n`, rollbackMayRun ? ['ok', 'EBUSY'] : ['ok']) !== 'ok') return;
    rollbacks++;
    rollbackMayRun = true;
    model.set('origin', Buffer.from(model.get(id)!));
    touched.add('origin');
    if (rnd.next() < 0.4) {
      // delete the snapshot the rollback is copying from, at once; the status is read right after
      remove(id);
      status();
    }
  };

  const badCommand = () => {
    const text = rnd.pick([
      'bogus\n',
      'create ../x\n',
      'create origin\n',
      'delete\n',
      'delete origin\n',
      'rollback a b\n',
      'create a\ncreate b\n',
      'create x from\n',
      `create ${'a'.repeat(65)}\n`,
    ]);
    log.push(`bad command ${JSON.stringify(text)}`);
    run(text, ['EINVAL']);
  };

  /** Wait (up to 60 s) until no rollback or reclaim runs. */
  const settle = () => {
    log.push('wait for background work');
    const end = Date.now() + 60_000;
    for (;;) {
      const s = status();
      if (s.rollback === null && s.reclaim === null) break;
      if (Date.now() > end)
        fail(`background work still running after 60 s: rollback ${JSON.stringify(s.rollback)} reclaim ${s.reclaim}`);
      sleep(100);
    }
  };

  const remount = async () => {
    const s = status();
    if (s.rollback === null) rollbackMayRun = false;
    const quiet = !rollbackMayRun;
    log.push(`remount (${hasUnmount(w) ? 'snapfuse unmount' : 'umount'}${quiet ? '' : ', a rollback may be running'})`);
    const gone = await unmount();
    await mount(!gone);
    remounts++;
    // the origin file is the live origin: with no rollback copying, it holds what origin.img showed
    if (quiet) {
      const raw = readFileSync(paths.origin);
      if (!raw.equals(model.get('origin')!))
        fail(`the origin file after the remount differs from the model: ${firstDifference(raw, model.get('origin')!)}`);
    }
  };

  try {
    log.push('mount');
    await mount(false);
    check(new Set(), true);
    for (let step = 0; step < cfg.steps; step++) {
      const touched = new Set<string>();
      let full = (step + 1) % cfg.fullEvery === 0;
      const live = snapshots();
      const r = rnd.next();
      if (r < 0.28) {
        writeImage('origin');
        touched.add('origin');
      } else if (r < 0.43 && live.length) {
        const id = rnd.pick(live);
        writeImage(id);
        touched.add(id);
      } else if (r < 0.56) {
        if (live.length >= cfg.maxSnapshots) remove(rnd.pick(live));
        else create(touched);
      } else if (r < 0.64) {
        if (live.length && rnd.next() < 0.9) remove(rnd.pick(live));
        else {
          log.push('delete nope');
          run('delete nope\n', ['ENOENT']);
        }
      } else if (r < 0.72) {
        rollback(touched);
      } else if (r < 0.76) {
        await remount();
        full = true;
      } else if (r < 0.8) {
        badCommand();
      } else if (r < 0.83) {
        writePastEnd(live.length && rnd.next() < 0.5 ? rnd.pick(live) : 'origin');
      } else if (r < 0.88) {
        log.push('snapfuse list --json, status --json');
        cli();
      } else if (r < 0.91) {
        settle();
      } else if (r < 0.94) {
        log.push('read control twice');
        status();
        status();
      } else {
        log.push('compare everything');
        full = true;
      }
      check(touched, full);
    }
    log.push('end: compare everything, list, remount, compare again');
    check(new Set(), true);
    cli();
    await remount();
    check(new Set(), true);
    return { seed, steps: cfg.steps, ms: Date.now() - started, remounts, rollbacks, outcomes };
  } catch (e) {
    const steps = log.map((l, i) => `  ${String(i).padStart(3)}: ${l}`).join('\n');
    const chunk = `${chunkSize / 1024}K chunks, origin ${originSize} bytes`;
    let tail = '';
    if (daemonLog && existsSync(daemonLog)) {
      tail = `\ndaemon log (last 30 lines):\n${readFileSync(daemonLog, 'utf8').trim().split('\n').slice(-30).join('\n')}`;
    }
    throw new WalkFailure(
      `SEED=${seed} failed after ${log.length} steps (${chunk}): ${(e as Error).message}\n${steps}${tail}\n` +
        `replay: SEED=${seed} STEPS=${cfg.steps} npx jest test/e2e/mount-model.test.ts, or ` +
        `SEED=${seed} npx tsx scripts/mount-model.ts --steps ${cfg.steps} (MODEL_DAEMON_LOG=1 keeps the daemon's log); ` +
        `a race may need a few runs`,
    );
  }
}
