// Helpers for end-to-end tests through a real mount, as root: the CLI, loop devices
// and mounts, each tracked so that cleanup() undoes them even when a test fails.
import { execFileSync, spawnSync, SpawnSyncReturns } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

export const CLI = resolve(__dirname, '../../dist/src/cli/main.js');

export const canMount =
  process.getuid?.() === 0 &&
  (() => {
    try {
      readFileSync('/dev/fuse', { flag: 'r' });
    } catch (e) {
      return (e as NodeJS.ErrnoException).code !== 'ENOENT';
    }
    return true;
  })();

export class World {
  private made: string | null = null;
  private loops: string[] = [];
  private mounts: string[] = [];

  /** Made on first use, so a skipped or filtered-out suite leaves nothing behind. */
  get dir(): string {
    if (!this.made) {
      this.made = mkdtempSync(join(tmpdir(), 'snapfuse-e2e-'));
      mkdirSync(join(this.made, 'locks'));
    }
    return this.made;
  }

  get lockDir(): string {
    return join(this.dir, 'locks');
  }

  snapfuse(...args: string[]): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      env: { ...process.env, SNAPFUSE_LOCK_DIR: this.lockDir },
      timeout: 120_000,
    });
  }

  /** A shell pipeline of snapfuse commands (`snapfuse` stands for the CLI), with pipefail. */
  pipeline(line: string): SpawnSyncReturns<string> {
    return spawnSync('bash', ['-o', 'pipefail', '-c', line.replace(/snapfuse /g, `${process.execPath} ${CLI} `)], {
      encoding: 'utf8',
      env: { ...process.env, SNAPFUSE_LOCK_DIR: this.lockDir },
      timeout: 120_000,
    });
  }

  /** Run the CLI; throw with its stderr unless it exits 0. */
  ok(...args: string[]): string {
    const r = this.snapfuse(...args);
    if (r.status !== 0) throw new Error(`snapfuse ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  sh(cmd: string, args: string[]): string {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A sparse file of `bytes` (or holding `bytes`), made in this world. */
  file(name: string, bytes: number | Buffer): string {
    const path = this.path(name);
    writeFileSync(path, typeof bytes === 'number' ? '' : bytes);
    if (typeof bytes === 'number') truncateSync(path, bytes);
    return path;
  }

  /** An origin, a COW formatted for it, and an empty mountpoint; nothing mounted yet. */
  store(
    origin: number | Buffer,
    cowBytes: number,
    ...formatArgs: string[]
  ): { origin: string; cow: string; mnt: string } {
    const paths = { origin: this.file('o.img', origin), cow: this.file('c.cow', cowBytes), mnt: this.path('mnt') };
    mkdirSync(paths.mnt);
    this.ok('format', paths.origin, paths.cow, ...formatArgs);
    return paths;
  }

  /** Two stores `a` and `b` (a sender and a receiver; names after `prefix`), 16 KiB chunks, nothing mounted yet. */
  twoStores(
    origin: number | Buffer,
    cowBytes: number,
    prefix = '',
  ): Array<{ origin: string; cow: string; mnt: string }> {
    return [`${prefix}a`, `${prefix}b`].map((n, i) => {
      const paths = {
        origin: this.file(`${n}.img`, i === 0 || typeof origin === 'number' ? origin : origin.length),
        cow: this.file(`${n}.cow`, cowBytes),
        mnt: this.path(n),
      };
      mkdirSync(paths.mnt);
      this.ok('format', paths.origin, paths.cow, '--chunk-size', '16K');
      return paths;
    });
  }

  /** A fresh ext4 on `image` through a loop device, mounted at a new directory `name`. */
  ext4(image: string, name = 'fs'): { dev: string; fs: string } {
    const dev = this.losetup(image);
    this.sh('mkfs.ext4', ['-q', dev]);
    const fs = this.path(name);
    mkdirSync(fs);
    this.mount(dev, fs);
    return { dev, fs };
  }

  losetup(file: string): string {
    const dev = this.sh('losetup', ['-f', '--show', file]).trim();
    this.loops.push(dev);
    return dev;
  }

  detach(dev: string): void {
    this.sh('losetup', ['-d', dev]);
    this.loops = this.loops.filter((d) => d !== dev);
  }

  mount(source: string, target: string, options?: string): void {
    this.sh('mount', options ? ['-o', options, source, target] : [source, target]);
    this.mounts.push(target);
  }

  umount(target: string): void {
    this.sh('umount', [target]);
    this.mounts = this.mounts.filter((m) => m !== target);
  }

  /** A mount taken down by the test itself. */
  forget(target: string): void {
    this.mounts = this.mounts.filter((m) => m !== target);
  }

  /** A snapfuse mount the world must take down at the end. */
  track(mountpoint: string): void {
    this.mounts.push(mountpoint);
  }

  md5(file: string): string {
    return this.sh('md5sum', [file]).split(' ')[0];
  }

  /** Undo everything, newest first; kill only daemons this world started (their pids are in its lock dir). */
  cleanup(): void {
    if (!this.made) return;
    for (const m of [...this.mounts].reverse()) spawnSync('umount', [m]);
    for (const d of [...this.loops].reverse()) spawnSync('losetup', ['-d', d]);
    for (const m of [...this.mounts].reverse()) spawnSync('umount', ['-l', m]);
    // daemons exit by themselves once unmounted; give them a moment to commit and go
    const end = Date.now() + 3000;
    while (Date.now() < end && readdirSync(this.lockDir, { withFileTypes: false }).length > 0) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    try {
      for (const f of readdirSync(this.lockDir)) {
        const pid = parseInt(readFileSync(join(this.lockDir, f), 'utf8'), 10); // "<pid> [serving <mnt>|closing]"
        if (pid) spawnSync('kill', ['-9', String(pid)]);
      }
    } catch {
      // no lock dir: no daemon left
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Wait until `cond` holds (polling), or fail after `ms`. */
export async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}
