// `snapfuse metrics` through a real mount: what the requests did, counted by the daemon,
// checked against what dd did; the text judged by Prometheus's own promtool; the alert
// rules in contrib/ judged by promtool's rule tests.
import { spawnSync } from 'child_process';
import { mkdirSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { canMount, World } from '../helpers/e2e';

const MiB = 2 ** 20;
const K64 = 65536;
const RULES = resolve(__dirname, '../../contrib/prometheus/snapfuse.rules.yml');
const havePromtool = spawnSync('promtool', ['--version']).status === 0;
const d = canMount && havePromtool ? describe : describe.skip;
if (!havePromtool) console.warn('metrics tests skipped: no promtool (apt-get install prometheus)');

/** `name{labels} value` lines, by series, with the HELP and TYPE of each family checked present. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(snapfuse_[a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** Checked by promtool: it exits non-zero on text that is not the exposition format, or breaks its lint rules. */
function promtoolCheck(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: '' });
  return text;
}

d('snapfuse metrics', () => {
  const w = new World();
  afterAll(() => w.cleanup());

  const dd = (...args: string[]) => w.sh('dd', [...args, 'status=none']);

  test('a store of one origin: the counts are what the requests did, and promtool takes the text', () => {
    const origin = w.file('disk.img', 16 * MiB);
    const cow = w.file('disk.cow', 32 * MiB);
    const mnt = w.path('mnt');
    mkdirSync(mnt);
    w.ok('format', origin, cow);
    w.ok('mount', origin, cow, mnt);
    w.track(mnt);
    const image = join(mnt, 'origin.img');
    dd('if=/dev/urandom', `of=${image}`, `bs=${K64}`, 'count=4', 'oflag=direct', 'conv=notrunc');
    w.ok('create', mnt, 'a');
    dd('if=/dev/urandom', `of=${image}`, `bs=${K64}`, 'count=2', 'oflag=direct', 'conv=notrunc'); // 2 copy-outs
    dd(`if=${join(mnt, 'snapshots/a.img')}`, 'of=/dev/null', `bs=${K64}`, 'count=3', 'iflag=direct');
    dd(`if=${image}`, 'of=/dev/null', `bs=${K64}`, 'count=1', 'iflag=direct');
    // a write past the end is refused, and so is a command that names no snapshot
    const past = spawnSync('dd', [
      'if=/dev/zero',
      `of=${image}`,
      'bs=4096',
      'count=1',
      `seek=${4096}`,
      'oflag=direct',
      'conv=notrunc',
    ]);
    expect(past.status).not.toBe(0);
    expect(w.snapfuse('delete', mnt, 'nosuch').status).toBe(1);

    const text = promtoolCheck(w.ok('metrics', mnt));
    const m = samples(text);
    const at = `mountpoint="${mnt}"`;
    const o = `${at},origin="origin"`;
    const snap = `${o},snapshot="a",schedule=""`;
    expect(m.get(`snapfuse_store_size_bytes{${at}}`)).toBe(32 * MiB);
    expect(m.get(`snapfuse_store_used_bytes{${at}}`)! + m.get(`snapfuse_store_free_bytes{${at}}`)!).toBe(32 * MiB);
    expect(m.get(`snapfuse_origin_size_bytes{${o}}`)).toBe(16 * MiB);
    expect(m.get(`snapfuse_snapshots{${o}}`)).toBe(1);
    expect(m.get(`snapfuse_copy_outs_total{${o}}`)).toBe(2);
    expect(m.get(`snapfuse_commits_total{${at}}`)).toBeGreaterThanOrEqual(2); // the create's and the copy-outs'
    expect(m.get(`snapfuse_written_bytes_total{${o},image="origin"}`)).toBe(6 * K64);
    expect(m.get(`snapfuse_written_bytes_total{${o},image="snapshot"}`)).toBe(0);
    expect(m.get(`snapfuse_read_bytes_total{${o},image="snapshot"}`)).toBe(3 * K64);
    expect(m.get(`snapfuse_read_bytes_total{${o},image="origin"}`)).toBe(K64);
    expect(m.get(`snapfuse_refused_writes_total{${o}}`)).toBe(1);
    expect(m.get(`snapfuse_errors_total{${o}}`)).toBe(2);
    expect(m.get(`snapfuse_background_errors_total{${at}}`)).toBe(0);
    expect(m.get(`snapfuse_snapshot_exclusive_bytes{${snap}}`)).toBe(2 * K64);
    expect(m.get(`snapfuse_snapshot_shared_bytes{${snap}}`)).toBe(0);
    expect(m.get(`snapfuse_snapshot_valid{${snap}}`)).toBe(1);
    expect(Math.abs(m.get(`snapfuse_snapshot_created_timestamp_seconds{${snap}}`)! - Date.now() / 1000)).toBeLessThan(
      600,
    );
    expect(m.get(`snapfuse_reclaim_running{${at}}`)).toBe(0);
    expect(m.get(`snapfuse_rollback_running{${o}}`)).toBe(0);
    expect(text).toContain('# TYPE snapfuse_copy_outs_total counter\n');
    expect(text).toContain('# HELP snapfuse_store_used_bytes ');
    w.ok('unmount', mnt);
    w.forget(mnt);
  });

  test('a store of named origins: one text for the root, each origin labelled by its name', () => {
    const a = w.file('a.img', 8 * MiB);
    const b = w.file('b.img', 4 * MiB);
    const cow = w.file('named.cow', 32 * MiB);
    const mnt = w.path('named');
    mkdirSync(mnt);
    w.ok('format', cow, '--origin', `a=${a}`, '--origin', `b=${b}`);
    w.ok('mount', cow, mnt);
    w.track(mnt);
    w.ok('create', mnt, 'g1'); // a snapshot of every origin
    dd('if=/dev/urandom', `of=${join(mnt, 'b/origin.img')}`, `bs=${K64}`, 'count=1', 'oflag=direct', 'conv=notrunc');

    const m = samples(promtoolCheck(w.ok('metrics', mnt)));
    const at = `mountpoint="${mnt}"`;
    expect(m.get(`snapfuse_origin_size_bytes{${at},origin="a"}`)).toBe(8 * MiB);
    expect(m.get(`snapfuse_origin_size_bytes{${at},origin="b"}`)).toBe(4 * MiB);
    expect(m.get(`snapfuse_copy_outs_total{${at},origin="a"}`)).toBe(0);
    expect(m.get(`snapfuse_copy_outs_total{${at},origin="b"}`)).toBe(1);
    expect(m.get(`snapfuse_snapshot_exclusive_bytes{${at},origin="b",snapshot="g1",schedule=""}`)).toBe(K64);
    expect(m.get(`snapfuse_store_size_bytes{${at}}`)).toBe(32 * MiB);
    expect(m.get(`snapfuse_commits_total{${at}}`)).toBeGreaterThanOrEqual(2);

    // one origin's directory: that origin alone, under its own name
    const one = samples(promtoolCheck(w.ok('metrics', join(mnt, 'b'))));
    expect(one.get(`snapfuse_copy_outs_total{mountpoint="${join(mnt, 'b')}",origin="b"}`)).toBe(1);
    expect([...one.keys()].some((k) => k.includes('origin="a"'))).toBe(false);

    w.ok('unmount', mnt);
    w.forget(mnt);
    // not a mount: one line, exit 1
    const r = w.snapfuse('metrics', w.dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^snapfuse: .*not a snapfuse mount.*\n$/);
  });

  test("contrib's alert rules: promtool loads them, and the full-store alert fires over 90% and only then", () => {
    expect(spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' }).status).toBe(0);
    const series = (used: number) => [
      { series: `snapfuse_store_size_bytes{mountpoint="/mnt/snap"}`, values: '100x20' },
      { series: `snapfuse_store_used_bytes{mountpoint="/mnt/snap"}`, values: `${used}x20` },
    ];
    const alert = (used: number) => ({
      interval: '1m',
      input_series: series(used),
      alert_rule_test: [
        {
          eval_time: '10m',
          alertname: 'SnapfuseStoreAlmostFull',
          exp_alerts:
            used > 90
              ? [
                  {
                    exp_labels: { severity: 'warning', mountpoint: '/mnt/snap' },
                    exp_annotations: {
                      summary: `snapfuse store at /mnt/snap is ${used}% full`,
                      description: 'Delete snapshots (snapfuse list shows what each frees), or grow the COW.',
                    },
                  },
                ]
              : [],
        },
      ],
    });
    const file = w.path('rules.test.json'); // promtool reads YAML, and JSON is YAML
    writeFileSync(
      file,
      JSON.stringify({ rule_files: [RULES], evaluation_interval: '1m', tests: [alert(95), alert(89)] }),
    );
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    expect({ status: r.status, out: r.status === 0 ? '' : r.stdout + r.stderr }).toEqual({ status: 0, out: '' });
    // and the test itself can fail: an alert expected where the rule gives none
    writeFileSync(
      file,
      JSON.stringify({
        rule_files: [RULES],
        evaluation_interval: '1m',
        tests: [{ ...alert(95), input_series: series(50) }],
      }),
    );
    expect(spawnSync('promtool', ['test', 'rules', file]).status).not.toBe(0);
  });
});
