// The Prometheus text of a mount's statuses: label values quoted as the format says,
// series for figures not known yet left out, progress shown only while work runs.
import { formatMetrics, MetricsInput } from '../../../src/control/metrics';
import { parseStatus } from '../../../src/control/status';

const status = parseStatus(
  'origin-size 4096\nchunk-size 4096\nstore 8192 65536 57344\nsnapshots 2\n' +
    'snapshot a origin 2026-12-02T10:00:00Z 4096 valid 0 -\n' +
    'snapshot b a 2026-12-02T11:00:00Z - invalid - hourly\n' +
    'reclaim 40%\nrollback a 25%\nerror -\nspace - \naccounting -\nschedules 0\ndaemon 7\n' +
    'sends 0\nreceives 0\nwhen-full refuse\nio 1 2 3 4 5 6\nwork 7 8 9\n',
);

const input = (mountpoint: string): MetricsInput => ({
  mountpoint,
  store: status,
  origins: [{ name: 'origin', status }],
});

describe('metrics text', () => {
  test('a mountpoint with a quote, a backslash and a newline is escaped in every label', () => {
    const text = formatMetrics(input('/mnt/a"b\\c\nd'));
    expect(text).toContain('snapfuse_store_size_bytes{mountpoint="/mnt/a\\"b\\\\c\\nd"} 65536\n');
    expect(
      text.split('\n').filter((l) => l && !l.startsWith('#') && !l.includes('mountpoint="/mnt/a\\"b\\\\c\\nd"')),
    ).toEqual([]);
  });

  test('figures not known are left out; progress shows while work runs', () => {
    const text = formatMetrics(input('/m'));
    const snap = (id: string, schedule: string) =>
      `{mountpoint="/m",origin="origin",snapshot="${id}",schedule="${schedule}"}`;
    expect(text).toContain(`snapfuse_snapshot_exclusive_bytes${snap('a', '')} 4096\n`);
    expect(text).not.toContain(`snapfuse_snapshot_exclusive_bytes${snap('b', 'hourly')}`);
    expect(text).toContain(`snapfuse_snapshot_valid${snap('b', 'hourly')} 0\n`);
    expect(text).toContain('snapfuse_reclaim_running{mountpoint="/m"} 1\n');
    expect(text).toContain('snapfuse_reclaim_progress_ratio{mountpoint="/m"} 0.4\n');
    expect(text).toContain('snapfuse_rollback_progress_ratio{mountpoint="/m",origin="origin",snapshot="a"} 0.25\n');
    expect(text).not.toContain('snapfuse_recount_progress_ratio{');
    expect(text).toContain('snapfuse_written_bytes_total{mountpoint="/m",origin="origin",image="snapshot"} 4\n');
    expect(text).toContain('snapfuse_commits_total{mountpoint="/m"} 8\n');
    // an older daemon's status, with no io or work lines: those series are left out, with their HELP and TYPE
    const { io: _io, work: _work, ...older } = status;
    const old = formatMetrics({ mountpoint: '/m', store: older, origins: [{ name: 'origin', status: older }] });
    expect(old).not.toMatch(/copy_outs|commits|errors_total|bytes_total/);
  });
});
