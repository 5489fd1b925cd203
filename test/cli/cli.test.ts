// Every command passes the same checks: help, version, a bad option, a missing
// argument, a missing file. Usage errors exit 2 and run nothing; failures exit 1 with
// one line on stderr.
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { CLI } from '../helpers/e2e';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const COMMANDS = ['format', 'mount', 'create', 'delete', 'rollback', 'list', 'status', 'check'];

describe('the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snapfuse-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('--help names every command, and --version prints the version', () => {
    const help = run('--help');
    expect(help.status).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`snapfuse ${c}`);
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test.each(COMMANDS)('%s --help works, a bad option is a usage error', (c) => {
    expect(run(c, '--help').status).toBe(0);
    const bad = run(c, 'a', 'b', 'c', '--no-such-option');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^snapfuse: Unknown argument/);
  });

  test('a missing argument is a usage error, and nothing runs', () => {
    const r = run('format', join(dir, 'origin.img'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/give <origin> <cow>/);
    expect(run('mount', join(dir, 'cow.img')).stderr).toMatch(/give <origin> <cow> <mountpoint>/);
    expect(run().status).toBe(2);
  });

  test('a missing file fails in one line, exit 1', () => {
    const r = run('format', join(dir, 'nope.img'), join(dir, 'nope.cow'));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^snapfuse: .*nope/);
  });

  test('format refuses a bad chunk size and a store already there, and --force overwrites', () => {
    const origin = join(dir, 'o.img');
    const cow = join(dir, 'c.cow');
    writeFileSync(origin, '');
    truncateSync(origin, 1 << 20);
    writeFileSync(cow, '');
    truncateSync(cow, 4 << 20);
    expect(run('format', origin, cow, '--chunk-size', '3K').stderr).toMatch(/not a power of two/);
    expect(run('format', origin, cow, '--chunk-size', 'lots').stderr).toMatch(/bad size "lots"/);
    expect(run('format', origin, cow).status).toBe(0);
    const again = run('format', origin, cow);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds a snapfuse store/);
    expect(run('format', origin, cow, '--force', '--chunk-size', '256K').status).toBe(0);
    expect(existsSync(cow)).toBe(true);
  });

  test('mount-side commands on a directory that is no mount fail in one line', () => {
    const r = run('list', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not a snapfuse mount/);
  });
});
