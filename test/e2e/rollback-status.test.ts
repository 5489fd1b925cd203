// The two sequences that ended the daemon while it showed a rollback's status (the
// status asked the background record for the rollback's snapshot after the job had
// cleared it, and the formatter refused the "-" it got). Both run through a real mount;
// the control file is read as fast as it answers while the copying runs and ends.
import { execFileSync, spawn, spawnSync } from 'child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'fs';
import { join } from 'path';
import { canMount, World } from '../helpers/e2e';
import { Random } from '../helpers/random';

const MiB = 1 << 20;

/** PostgreSQL's server programs, if this machine has them. */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const version = readdirSync(root).sort().pop();
  const bin = version && join(root, version, 'bin');
  return bin && existsSync(join(bin, 'pg_ctl')) ? bin : null;
}

const d = canMount ? describe : describe.skip;

d('the status of a rollback, through a real mount', () => {
  let w: World;
  beforeEach(() => (w = new World()));
  afterEach(() => w.cleanup());

  /** Read control until the rollback is over; every read must be answered. Returns the reads. */
  async function readUntilRolledBack(control: string): Promise<number> {
    let reads = 0;
    const end = Date.now() + 60_000;
    for (;;) {
      // a Buffer first: Node's utf8 fast path aborts the process when close fails (ENOTCONN)
      const text = readFileSync(control).toString();
      reads++;
      expect(text).toMatch(/^rollback (\S+ \d+%|- -)$/m);
      if (/^rollback - -$/m.test(text)) return reads;
      if (Date.now() > end) throw new Error('the rollback did not end');
      if (reads % 20 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /** Write `n` random chunks of 64 KiB at random places of an image. */
  const rnd = new Random(17);
  const scatter = (image: string, n: number) => {
    const fd = openSync(image, 'r+');
    for (let i = 0; i < n; i++) writeSync(fd, rnd.bytes(65536), 0, 65536, rnd.int(256) * 65536);
    closeSync(fd);
  };

  test('writes to X, rollback X, delete X while it copies, then reads of control', async () => {
    const { origin, cow, mnt } = w.store(rnd.bytes(16 * MiB), 128 * MiB, '--chunk-size', '64K');
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const control = join(mnt, 'control');
    const originImg = join(mnt, 'origin.img');
    for (let round = 0; round < 3; round++) {
      const x = `x${round}`;
      writeFileSync(control, `create ${x}`);
      const image = join(mnt, 'snapshots', `${x}.img`);
      // X gets chunks of its own, and the origin moves on so X's old data is copied out
      scatter(image, 32);
      scatter(originImg, 64);
      const want = w.md5(image);
      writeFileSync(control, `rollback ${x}`);
      writeFileSync(control, `delete ${x}`);
      expect(await readUntilRolledBack(control)).toBeGreaterThan(0);
      expect(w.md5(originImg)).toBe(want);
      expect(readFileSync(control, 'utf8')).toMatch(/^error -$/m);
    }
    const list = JSON.parse(w.ok('list', mnt, '--json')) as Array<{ id: string }>;
    expect(list).toEqual([]);
  });

  const pg = postgresBin();
  (pg ? test : test.skip)(
    'PostgreSQL on ext4: snapshots under pgbench, each mounted read-write, then a rollback',
    async () => {
      const { origin, cow, mnt } = w.store(256 * MiB, 1024 * MiB, '--chunk-size', '64K');
      w.ok('mount', origin, cow, mnt);
      w.track(mnt);
      const control = join(mnt, 'control');
      chmodSync(w.dir, 0o755); // the postgres user reaches its data and socket through it
      const server = new Postgres(pg!, w.path('sock'));
      const fsDir = w.path('fs');
      const snapFs = w.path('snapfs');
      mkdirSync(fsDir);
      mkdirSync(snapFs);

      const dev = w.losetup(join(mnt, 'origin.img'));
      w.sh('mkfs.ext4', ['-q', dev]);
      w.mount(dev, fsDir);
      server.init(fsDir);
      server.start(fsDir);
      server.run('pgbench', ['-i', '-s', '4', '-q']);
      // snapshots taken while pgbench writes: what each holds is a crash image of the server
      const load = spawn(
        'runuser',
        ['-u', 'postgres', '--', join(pg!, 'pgbench'), ...server.conn, '-c', '4', '-T', '8', 'postgres'],
        {
          stdio: 'ignore',
        },
      );
      const loadDone = new Promise<number | null>((r) => load.on('exit', r));
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1500));
        writeFileSync(control, `create s${i}`);
      }
      expect(await loadDone).toBe(0);
      const live = server.sql('select sum(abalance) from pgbench_accounts');
      server.stop(fsDir);
      w.umount(fsDir);
      w.detach(dev);

      // each snapshot mounted read-write: ext4's journal replay and PostgreSQL's recovery write to it
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        const sdev = w.losetup(join(mnt, 'snapshots', `s${i}.img`));
        w.mount(sdev, snapFs);
        server.start(snapFs);
        seen.push(server.sql('select sum(abalance) from pgbench_accounts'));
        server.stop(snapFs);
        w.umount(snapFs);
        w.detach(sdev);
      }
      expect(seen).not.toContain(live); // the load went on after the last snapshot

      writeFileSync(control, 'rollback s1');
      await readUntilRolledBack(control);
      expect(readFileSync(control, 'utf8')).toMatch(/^error -$/m);

      // the origin is s1 as it was after its recovery: the server starts on it and agrees
      const dev2 = w.losetup(join(mnt, 'origin.img'));
      expect(spawnSync('e2fsck', ['-fn', dev2]).status).toBe(0);
      w.mount(dev2, fsDir);
      server.start(fsDir);
      expect(server.sql('select sum(abalance) from pgbench_accounts')).toBe(seen[1]);
      server.stop(fsDir);
      w.umount(fsDir);
      w.detach(dev2);
    },
    180_000,
  );
});

/** A PostgreSQL server run as the postgres user, its data in <fs>/pg, on a socket only. */
class Postgres {
  readonly conn: string[];
  private readonly user: number;
  private readonly group: number;

  constructor(
    private readonly bin: string,
    private readonly socket: string,
  ) {
    this.conn = ['-h', socket];
    this.user = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    this.group = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    mkdirSync(socket);
    chownSync(socket, this.user, this.group);
  }

  run(program: string, args: string[]): string {
    return execFileSync('runuser', ['-u', 'postgres', '--', join(this.bin, program), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PGHOST: this.socket },
    });
  }

  init(fs: string): void {
    mkdirSync(join(fs, 'pg'));
    chownSync(join(fs, 'pg'), this.user, this.group);
    this.run('initdb', ['-D', join(fs, 'pg'), '-A', 'trust']);
  }

  start(fs: string): void {
    const opts = `-k ${this.socket} -c listen_addresses=`;
    const log = join(this.socket, 'log');
    // a snapshot holds the pid file of the server that ran when it was taken; that server
    // may linger here as a zombie (nothing reaps it in this container), so the new one
    // would take it for a live one
    rmSync(join(fs, 'pg', 'postmaster.pid'), { force: true });
    try {
      this.run('pg_ctl', ['-D', join(fs, 'pg'), '-w', '-l', log, '-o', opts, 'start']);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${readFileSync(log, 'utf8').split('\n').slice(-8).join('\n')}`);
    }
  }

  stop(fs: string): void {
    this.run('pg_ctl', ['-D', join(fs, 'pg'), '-w', '-m', 'fast', 'stop']);
  }

  sql(query: string): string {
    return this.run('psql', ['-At', '-c', query, 'postgres']).trim();
  }
}
