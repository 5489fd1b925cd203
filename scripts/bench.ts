// Benchmarks, in one run on the same disk: a raw file, a bare fuse-native passthrough
// of one file (scripts/passthrough.ts, same mount options), and snapfuse's origin.img,
// with no snapshot and right after one (every write a first write: copy-outs). fio,
// several runs each; medians with min and max, and ratios to the passthrough.
//
//   npx tsx scripts/bench.ts [--dir /var/tmp] [--size 1024] [--runs 3] [--out docs/bench.md]
//
// Run as root (FUSE, drop_caches). The machine is shared: read ratios, not absolutes.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const SIZE_MIB = Number(arg('size', '1024'));
const RUNS = Number(arg('runs', '3'));
const OUT = arg('out', 'docs/bench.md');
const ROOT = resolve(__dirname, '..');
const dir = mkdtempSync(join(arg('dir', '/var/tmp'), 'snapfuse-bench-'));

interface Job {
  name: string;
  rw: string;
  bs: string;
  iodepth: number;
  reads: boolean;
}

const JOBS: Job[] = [
  { name: 'seq write 1M', rw: 'write', bs: '1M', iodepth: 1, reads: false },
  { name: 'seq read 1M', rw: 'read', bs: '1M', iodepth: 1, reads: true },
  { name: 'rand write 4K qd1', rw: 'randwrite', bs: '4k', iodepth: 1, reads: false },
  { name: 'rand write 4K qd16', rw: 'randwrite', bs: '4k', iodepth: 16, reads: false },
  { name: 'rand read 4K qd1', rw: 'randread', bs: '4k', iodepth: 1, reads: true },
  { name: 'rand read 4K qd16', rw: 'randread', bs: '4k', iodepth: 16, reads: true },
];

/** MB/s of one fio run on `file`. Sequential jobs are buffered and end in fsync; random ones are O_DIRECT. */
function fio(file: string, job: Job): number {
  const seq = job.bs === '1M';
  if (job.reads) writeFileSync('/proc/sys/vm/drop_caches', '3');
  const out = execFileSync(
    'fio',
    [
      '--name=bench',
      `--filename=${file}`,
      `--rw=${job.rw}`,
      `--bs=${job.bs}`,
      `--size=${SIZE_MIB}M`,
      `--iodepth=${job.iodepth}`,
      seq ? '--ioengine=psync' : '--ioengine=libaio',
      seq ? '--end_fsync=1' : '--direct=1',
      seq ? '--runtime=60' : '--runtime=8',
      ...(seq ? [] : ['--time_based']),
      '--output-format=json',
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const j = JSON.parse(out).jobs[0];
  return (job.reads ? j.read.bw : j.write.bw) / 1024;
}

function sparse(path: string, mib: number): string {
  writeFileSync(path, '');
  truncateSync(path, mib * 2 ** 20);
  return path;
}

/** Fill a file with data, so reads are not of holes. */
function fill(path: string): void {
  execFileSync('dd', [
    'if=/dev/urandom',
    `of=${path}`,
    'bs=1M',
    `count=${SIZE_MIB}`,
    'conv=notrunc,fsync',
    'status=none',
  ]);
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!cond()) throw new Error('timed out waiting for a mount');
}

const mounted = (mnt: string) => execFileSync('cat', ['/proc/mounts'], { encoding: 'utf8' }).includes(` ${mnt} `);

interface Target {
  name: string;
  file: string;
  before?: (job: Job, run: number) => void; // called before each run (snapfuse: take a fresh snapshot)
}

async function main(): Promise<void> {
  const procs: ChildProcess[] = [];
  const mounts: string[] = [];
  try {
    const raw = sparse(join(dir, 'raw.img'), SIZE_MIB);
    fill(raw);
    const pt = sparse(join(dir, 'pt.img'), SIZE_MIB);
    fill(pt);
    const ptMnt = join(dir, 'pt');
    mkdirSync(ptMnt);
    procs.push(
      spawn(process.execPath, ['--import', 'tsx', 'scripts/passthrough.ts', pt, ptMnt], { cwd: ROOT, stdio: 'ignore' }),
    );
    mounts.push(ptMnt);
    await waitFor(() => mounted(ptMnt));

    const origin = sparse(join(dir, 'origin.img'), SIZE_MIB);
    fill(origin);
    const cow = sparse(join(dir, 'origin.cow'), 4 * SIZE_MIB + 256);
    const cli = join(ROOT, 'dist/src/cli/main.js');
    execFileSync(process.execPath, [cli, 'format', origin, cow]);
    const mnt = join(dir, 'snap');
    mkdirSync(mnt);
    execFileSync(process.execPath, [cli, 'mount', origin, cow, mnt]);
    mounts.push(mnt);
    let snaps = 0;
    const control = join(mnt, 'control');

    const targets: Target[] = [
      { name: 'raw file', file: raw },
      { name: 'passthrough', file: join(ptMnt, 'file.img') },
      { name: 'snapfuse', file: join(mnt, 'origin.img') },
      {
        name: 'snapfuse, first writes after a snapshot',
        file: join(mnt, 'origin.img'),
        before: (job, run) => {
          if (job.reads) return;
          // one snapshot at a time: drop the last run's first
          if (run > 0) writeFileSync(control, `delete b${snaps - 1}\n`);
          writeFileSync(control, `create b${snaps++}\n`);
        },
      },
    ];
    const rows: string[] = [];
    const results = new Map<string, Map<string, number[]>>();
    for (const job of JOBS) {
      for (const t of targets) {
        if (t.before && job.reads) continue; // reads after a snapshot are the same reads
        const runs: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          t.before?.(job, r);
          try {
            runs.push(fio(t.file, job));
          } catch (e) {
            // say what the store said, if it was the store that refused
            if (t.file.startsWith(mnt))
              console.error(
                readFileSync(control, 'utf8')
                  .split('\n')
                  .filter((l) => /^(store|error) /.test(l)),
              );
            throw e;
          }
        }
        // the next target must find no snapshot: drop the one the last run took
        if (t.before && snaps > 0) writeFileSync(control, `delete b${snaps - 1}\n`);
        runs.sort((a, b) => a - b);
        if (!results.has(job.name)) results.set(job.name, new Map());
        results.get(job.name)!.set(t.name, runs);
        console.log(`${job.name} | ${t.name}: ${runs.map((x) => x.toFixed(0)).join(' ')} MB/s`);
      }
    }
    for (const [job, byTarget] of results) {
      const pt = byTarget.get('passthrough')!;
      const ptMed = pt[Math.floor(pt.length / 2)];
      for (const [t, runs] of byTarget) {
        const med = runs[Math.floor(runs.length / 2)];
        rows.push(
          `| ${job} | ${t} | ${med.toFixed(0)} | ${runs[0].toFixed(0)}–${runs[runs.length - 1].toFixed(0)} | ${(med / ptMed).toFixed(2)} |`,
        );
      }
    }
    const machine = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
    const report = [
      '# Benchmarks',
      '',
      `Made by \`scripts/bench.ts\` on ${new Date().toISOString().slice(0, 10)}: Linux ${machine}, ${process.version}, ` +
        `fio ${execFileSync('fio', ['--version'], { encoding: 'utf8' }).trim()}, files of ${SIZE_MIB} MiB on ${arg('dir', '/var/tmp')}, ` +
        `${RUNS} runs each, 64 KiB chunks. Sequential jobs are buffered and end in fsync; random ones are O_DIRECT with libaio. ` +
        'The machine is shared and noisy: read the ratios to the passthrough (measured in the same run), not the absolutes.',
      '',
      '| job | target | median MB/s | min–max | ratio to passthrough |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n');
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    writeFileSync(resolve(ROOT, OUT), report);
    console.log(`\nwrote ${OUT}`);
  } finally {
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', [m]);
      } catch {
        execFileSync('umount', ['-l', m]);
      }
    }
    for (const p of procs) p.kill(); // the passthrough this run started, by its pid
    await new Promise((r) => setTimeout(r, 1500));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 1;
});
