// An /etc/fstab line mounts a store: mount(8) reads a fstab-style file (mount -T),
// runs /sbin/mount.fuse for the type fuse.snapfuse, which runs `snapfuse <cow>
// <mountpoint> -o <options>` from the PATH. The helper's refusals are single lines.
import { spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { join } from 'path';
import { canMount, CLI, until, World } from '../helpers/e2e';

const MiB = 2 ** 20;
const d = canMount && existsSync('/sbin/mount.fuse') ? describe : describe.skip;

d('an fstab line', () => {
  const w = new World();
  // `snapfuse` on the PATH, as `npm link` or a package puts it. mount(8) runs its helper
  // with PATH taken out of the environment (util-linux sanitizes it), so /bin/sh looks in
  // its default PATH: a link in /usr/local/bin, made for this test if none is there.
  const LINK = '/usr/local/bin/snapfuse';
  let linked = false;
  afterAll(() => {
    if (linked) rmSync(LINK, { force: true });
    w.cleanup();
  });
  const path = () => {
    const bin = w.path('bin');
    if (!existsSync(bin)) {
      mkdirSync(bin);
      chmodSync(CLI, 0o755);
      symlinkSync(CLI, join(bin, 'snapfuse'));
      if (!existsSync(LINK)) {
        symlinkSync(CLI, LINK);
        linked = true;
      }
    }
    return `${bin}:${process.env.PATH}`;
  };
  const mount = (fstab: string, mnt: string) =>
    spawnSync('mount', ['-T', fstab, mnt], {
      encoding: 'utf8',
      env: { ...process.env, PATH: path(), SNAPFUSE_LOCK_DIR: w.lockDir },
    });

  test('mounts the store with the options it names, and umount ends the daemon', async () => {
    const { origin, cow, mnt } = w.store(4 * MiB, 16 * MiB);
    const fstab = w.path('fstab');
    writeFileSync(
      fstab,
      `# a comment line\n${cow} ${mnt} fuse.snapfuse origin=${origin},write-back=1M,nofail,x-systemd.automount 0 0\n`,
    );
    const r = mount(fstab, mnt);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    w.track(mnt);
    expect(readdirSync(mnt).sort()).toEqual(['control', 'diff', 'origin.img', 'receive', 'send', 'snapshots']);
    writeFileSync(join(mnt, 'control'), 'create before\n');
    expect(readdirSync(join(mnt, 'snapshots'))).toEqual(['before.img']);

    w.umount(mnt);
    await until(() => readdirSync(w.lockDir).length === 0);
    // the snapshot is in the store: an offline diff finds it
    expect(w.snapfuse('diff', origin, cow, 'before', 'origin').status).toBe(0);
    expect(w.snapfuse('diff', origin, cow, 'nosuch', 'origin').status).toBe(1);
  });

  test('a line without the origin, or with an unknown option, is refused in one line', () => {
    const { cow, mnt } = { cow: w.path('c.cow'), mnt: w.path('mnt') };
    for (const [options, message] of [
      ['nofail', /is a store of one origin: name the origin file too/],
      [`origin=${w.path('o.img')},colour=blue`, /unknown mount option "colour=blue"/],
    ] as const) {
      const fstab = w.path('fstab-bad');
      writeFileSync(fstab, `${cow} ${mnt} fuse.snapfuse ${options} 0 0\n`);
      const r = mount(fstab, mnt);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
});
