// The systemd units in contrib/systemd/ load cleanly: `systemd-analyze verify` has nothing
// to say about them (it needs no systemd as PID 1). It also checks that each Exec*= program
// exists, so the units are verified as copies in a directory of the test's own that name
// a `snapfuse` there (the compiled CLI) instead of /usr/local/bin/snapfuse. The snapfuse
// commands they run exist, the mount unit's options pass the mount helper, and README.md's
// and the man page's copies of the mount unit are the file.
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { mountHelperArgs } from '../../src/cli/mount-helper';
import { CLI } from '../helpers/e2e';

const ROOT = resolve(__dirname, '../..');
const DIR = join(ROOT, 'contrib/systemd');
/** Where the units expect snapfuse (README.md says how to link it there). */
const SNAPFUSE = '/usr/local/bin/snapfuse';
const ANALYZE = '/usr/bin/systemd-analyze';
const UNITS = readdirSync(DIR).sort();
const text = (unit: string) => readFileSync(join(DIR, unit), 'utf8');

/** `name=value` lines of one section of a unit. */
function section(unit: string, name: string): Map<string, string> {
  const body =
    text(unit)
      .split(/^\[/m)
      .find((s) => s.startsWith(`${name}]`)) ?? '';
  return new Map([...body.matchAll(/^(\w+)=(.*)$/gm)].map(([, key, value]) => [key, value] as [string, string]));
}

/** The snapfuse commands that the units' Exec*= lines run (also inside `sh -c`), with the path each names. */
function snapfuseCalls(): { unit: string; path: string; args: string[] }[] {
  return UNITS.flatMap((unit) =>
    [...text(unit).matchAll(/^Exec\w*=(.*)$/gm)].flatMap(([, line]) =>
      [...line.matchAll(/([^\s']*)snapfuse ([^'&|;>]*)/g)].map(([, dir, args]) => ({
        unit,
        path: `${dir}snapfuse`,
        args: args.trim().split(/\s+/),
      })),
    ),
  );
}

/** Commands the units run that the CLI does not have yet (none now: metrics landed). */
const PENDING = new Set<string>();

describe('the systemd units in contrib/systemd', () => {
  test('are the mount unit, the service, and the metrics timer with its service', () => {
    expect(UNITS).toEqual(['mnt-snap.mount', 'snapfuse-metrics.service', 'snapfuse-metrics.timer', 'snapfuse.service']);
  });

  const found = existsSync(ANALYZE);
  (found ? describe : describe.skip)(
    `systemd-analyze verify${found ? '' : ` (skipped: no ${ANALYZE}, Debian's systemd)`}`,
    () => {
      let dir: string;
      beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'snapfuse-systemd-'));
        mkdirSync(join(dir, 'bin'));
        // dist/'s main.js is not executable; systemd only checks that the program is
        writeFileSync(join(dir, 'bin/snapfuse'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, {
          mode: 0o755,
        });
        mkdirSync(join(dir, 'units'));
        for (const unit of UNITS)
          writeFileSync(join(dir, 'units', unit), text(unit).split(SNAPFUSE).join(join(dir, 'bin/snapfuse')));
      });
      afterAll(() => rmSync(dir, { recursive: true, force: true }));

      test.each(UNITS)('finds nothing to say about %s', (unit) => {
        const r = spawnSync(ANALYZE, ['verify', join(dir, 'units', unit)], { encoding: 'utf8', cwd: dir });
        // what it says of other units (the host's own) is not these units' business
        const said = r.stderr.split('\n').filter((l) => UNITS.some((u) => l.includes(u)) || l.includes(dir));
        expect(said).toEqual([]);
        expect(r.status).toBe(0);
      });
    },
  );

  test('run snapfuse by the path they expect, with commands `snapfuse --help` lists', () => {
    const calls = snapfuseCalls();
    expect(calls.map((c) => `${c.unit}: ${c.args[0]}`)).toEqual([
      'snapfuse-metrics.service: metrics',
      'snapfuse.service: mount',
      'snapfuse.service: unmount',
    ]);
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    const commands = new Set([...help.stdout.matchAll(/^ {2}snapfuse ([a-z-]+)/gm)].map((m) => m[1]));
    expect(commands.has('mount')).toBe(true);
    expect(calls.filter((c) => c.path !== SNAPFUSE)).toEqual([]);
    const missing = calls.filter((c) => !commands.has(c.args[0]) && !PENDING.has(c.args[0]));
    expect(missing).toEqual([]);
    // once a pending command is in --help, it is checked like the others: drop it from PENDING
    expect([...PENDING.keys()].filter((c) => commands.has(c))).toEqual([]);
  });

  test("the mount unit's options pass the mount helper, and the service mounts the same store", () => {
    const mount = section('mnt-snap.mount', 'Mount');
    expect(mount.get('Type')).toBe('fuse.snapfuse');
    // as mount.fuse calls it: `snapfuse <What> <Where> -o <Options>`
    const args = mountHelperArgs([mount.get('What')!, mount.get('Where')!, '-o', mount.get('Options')!]);
    expect(args).toEqual(['mount', '/var/lib/disk.img', '/var/lib/disk.cow', '/mnt/snap', '--write-back', '32M']);
    const service = snapfuseCalls().filter((c) => c.unit === 'snapfuse.service');
    expect(service.map((c) => c.args)).toEqual([args!.slice(0, 4), ['unmount', '/mnt/snap']]);
  });

  test("README.md's and man/snapfuse.8's copies of the mount unit are the file", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const atBoot = readme.slice(readme.indexOf('### At boot'));
    expect(/```ini\n([^`]*)```/.exec(atBoot)?.[1]).toBe(text('mnt-snap.mount'));
    const man = readFileSync(join(ROOT, 'man/snapfuse.8'), 'utf8');
    const fstab = man.slice(man.indexOf('.SH FSTAB AND SYSTEMD'));
    const copy = /\.nf\n(\[Unit\][^]*?)\.fi\n/.exec(fstab)?.[1];
    expect(copy?.replace(/\\-/g, '-')).toBe(text('mnt-snap.mount'));
  });
});
