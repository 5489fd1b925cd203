// End to end, as root: the completion script `snapfuse completion` prints, sourced in a
// real bash, with a `snapfuse` on the PATH as after `npm install -g`. Its function is
// called as bash calls it on <TAB> (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT set),
// and what it leaves in COMPREPLY is what bash would offer: the snapshot ids of real
// mounts (of one origin, and of named origins), the mounts themselves, and nothing, with
// nothing on stderr, for a directory that is no mount or a mount that does not answer.
import { spawnSync } from 'child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { parseStatus } from '../../src/control/status';
import { canMount, CLI, World } from '../helpers/e2e';

const d = canMount ? describe : describe.skip;
const MiB = 1 << 20;

d('shell completion in bash', () => {
  const w = new World();
  let one: string; // a mount of one origin
  let named: string; // a mount of named origins a and b
  let bin: string;

  beforeAll(() => {
    bin = w.path('bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'snapfuse'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
    chmodSync(join(bin, 'snapfuse'), 0o755);

    one = w.store(16 * MiB, 32 * MiB).mnt;
    w.ok('mount', w.path('o.img'), w.path('c.cow'), one);
    w.track(one);
    for (const id of ['alpha', 'beta', 'v1.0']) w.ok('create', one, id);

    named = w.path('named');
    mkdirSync(named);
    const cow = w.file('named.cow', 32 * MiB);
    w.ok('format', cow, '--origin', `a=${w.file('a.img', 8 * MiB)}`, '--origin', `b=${w.file('b.img', 8 * MiB)}`);
    w.ok('mount', cow, named);
    w.track(named);
    w.ok('create', named, 'both'); // of every origin
    w.ok('create', join(named, 'a'), 'only-a');
  });
  afterAll(() => w.cleanup());

  /**
   * COMPREPLY (sorted) after <TAB> at the end of `line` (words split at blanks, and at
   * `=` as bash's COMP_WORDBREAKS does), and what went to stderr.
   */
  const complete = (line: string): { reply: string[]; stderr: string; ms: number } => {
    const words = line.split(/ +|(?==)|(?<==)/);
    const script = [
      'source <(snapfuse completion)',
      // the function bash calls for snapfuse: the one the script registered
      `fn=$(complete -p snapfuse | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')`,
      `COMP_LINE=${shellQuote(line)}`,
      'COMP_POINT=${#COMP_LINE}',
      `COMP_WORDS=(${words.map(shellQuote).join(' ')})`,
      `COMP_CWORD=${words.length - 1}`,
      `"$fn" snapfuse ${shellQuote(words[words.length - 1])} ${shellQuote(words[words.length - 2])}`,
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const start = Date.now();
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      timeout: 20_000,
    });
    if (r.status !== 0) throw new Error(`bash exited ${r.status}: ${r.stderr}`);
    return { reply: r.stdout.split('\n').filter(Boolean).sort(), stderr: r.stderr, ms: Date.now() - start };
  };
  const reply = (line: string) => {
    const r = complete(line);
    expect(r.stderr).toBe('');
    return r.reply;
  };

  test("where the README puts it for one user, bash-completion loads it on demand (Debian's package)", () => {
    const home = w.path('home');
    const dir = join(home, '.local/share/bash-completion/completions');
    mkdirSync(dir, { recursive: true });
    const script = [
      'snapfuse completion > ~/.local/share/bash-completion/completions/snapfuse',
      'source /usr/share/bash-completion/bash_completion',
      'complete -p snapfuse 2>/dev/null && exit 3', // not yet: on the first <TAB>
      // what bash runs on the first <TAB> of a command with no completion yet
      "fn=$(complete -p -D | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')",
      '"$fn" snapfuse',
      'complete -p snapfuse',
    ].join('\n');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH}` };
    delete env.XDG_DATA_HOME; // the default, ~/.local/share
    delete env.BASH_COMPLETION_USER_DIR;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8', env, timeout: 20_000 });
    expect(r).toMatchObject({ status: 0, stdout: expect.stringMatching(/-F _snapfuse_yargs_completions snapfuse$/m) });
  });

  test('the commands and options complete as yargs completes them', () => {
    expect(reply('snapfuse roll')).toEqual(['rollback']);
    expect(reply('snapfuse delete /x --w')).toEqual(['--wait']);
  });

  test('delete, rollback and send offer the snapshot ids of the mount', () => {
    const ids = ['alpha', 'beta', 'v1.0'];
    expect(reply(`snapfuse delete ${one} `)).toEqual(ids);
    expect(reply(`snapfuse rollback ${one} `)).toEqual(ids);
    expect(reply(`snapfuse send ${one} `)).toEqual(ids);
    expect(reply(`snapfuse delete ${one} b`)).toEqual(['beta']);
    expect(reply(`snapfuse delete --wait ${one} `)).toEqual(ids);
  });

  test('--from of send and create offers the ids too', () => {
    const ids = ['alpha', 'beta', 'v1.0'];
    expect(reply(`snapfuse send ${one} beta --from `)).toEqual(ids);
    expect(reply(`snapfuse send --from al`)).toEqual([]); // no mount named yet
    expect(reply(`snapfuse send ${one} beta --from al`)).toEqual(['alpha']);
    expect(reply(`snapfuse send ${one} beta --from=v`)).toEqual(['v1.0']);
    expect(reply(`snapfuse create ${one} gamma --from `)).toEqual(ids);
    // after the snapshot (send), and for the new id (create): yargs' options
    expect(reply(`snapfuse send ${one} beta `)).toEqual(expect.arrayContaining(['--from', '--resume']));
    expect(reply(`snapfuse create ${one} `)).toEqual(expect.arrayContaining(['--from']));
    expect(reply(`snapfuse create ${one} `).filter((c) => !c.startsWith('--'))).toEqual([]);
  });

  test('a mount of named origins: each origin its own ids; delete at the root, all of them', () => {
    expect(reply(`snapfuse rollback ${named}/a `)).toEqual(['both', 'only-a']);
    expect(reply(`snapfuse send ${named}/b `)).toEqual(['both']);
    expect(reply(`snapfuse delete ${named} `)).toEqual(['both', 'only-a']);
    // the root takes no rollback, send or create --from
    expect(reply(`snapfuse rollback ${named} `)).toEqual([]);
    expect(reply(`snapfuse create ${named} x --from `)).toEqual([]);
  });

  test('the mountpoint: the snapfuse mounts, and the origins of a mount of named origins', () => {
    const under = `${w.dir}/`; // other mounts on this machine are not this test's
    expect(reply(`snapfuse delete ${under}`)).toEqual([one, named, `${named}/a`, `${named}/b`].sort());
    expect(reply(`snapfuse rollback ${under}`)).toEqual([one, `${named}/a`, `${named}/b`].sort());
    expect(reply(`snapfuse unmount ${under}`)).toEqual([one, named].sort());
    expect(reply(`snapfuse send --from x ${under}`)).toEqual([one, `${named}/a`, `${named}/b`].sort());
  });

  test('a directory that is no mount, or a path that is nothing, offers nothing and says nothing', () => {
    const plain = w.path('plain');
    mkdirSync(join(plain, 'sub'), { recursive: true });
    writeFileSync(join(plain, 'sub', 'control'), 'snapshots 0\n');
    expect(reply(`snapfuse delete ${plain} `)).toEqual([]);
    expect(reply(`snapfuse rollback ${plain}/sub `)).toEqual([]);
    expect(reply(`snapfuse send ${w.path('nothing')} beta --from `)).toEqual([]);
    expect(reply(`snapfuse delete ${one}/snapshots `)).toEqual([]);
  });

  test('a mount whose daemon does not answer offers nothing, at once and without a word', () => {
    const daemon = parseStatus(readFileSync(join(one, 'control'), 'utf8')).daemon!;
    process.kill(daemon, 'SIGSTOP');
    try {
      const r = complete(`snapfuse delete ${one} `);
      expect(r).toEqual({ reply: [], stderr: '', ms: expect.any(Number) });
      expect(r.ms).toBeLessThan(8000);
    } finally {
      process.kill(daemon, 'SIGCONT');
    }
    expect(reply(`snapfuse delete ${one} `)).toEqual(['alpha', 'beta', 'v1.0']); // and answers again
  });
});

function shellQuote(s: string | undefined): string {
  return `'${(s ?? '').replace(/'/g, `'\\''`)}'`;
}
