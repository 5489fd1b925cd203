// A mount's figures in Prometheus's text exposition format (version 0.0.4), for
// `snapfuse metrics`: made from the statuses the control files give, so they say what
// the status says. Every series has a `mountpoint` label, so the files of several
// mounts can sit side by side in node_exporter's textfile collector. Pure functions.
import type { StatusInput, WorkStatus } from './status';

/** The store's facts: from the status of a store of one origin, or the root's of named ones. */
export interface StoreFigures {
  totalBytes: number;
  usedBytes: number;
  freeBytes: number;
  reclaim: number | null;
  /** Absent from an older daemon's status. */
  work?: WorkStatus;
}

export interface MetricsInput {
  mountpoint: string;
  store: StoreFigures;
  /** Each origin's status; a store of one origin has one, named `origin` (its image is origin.img). */
  origins: ReadonlyArray<{ name: string; status: StatusInput }>;
}

type Labels = Record<string, string>;
type Sample = [Labels, number];

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: Sample[];
}

/** The exposition text: a HELP and a TYPE line per family, then its samples. */
export function formatMetrics(m: MetricsInput): string {
  const at: Labels = { mountpoint: m.mountpoint };
  const families: Family[] = [];
  const family = (name: string, type: Family['type'], help: string, samples: Sample[]) =>
    families.push({ name: `snapfuse_${name}`, type, help, samples });
  const perOrigin = (pick: (s: StatusInput) => number | null | undefined): Sample[] =>
    m.origins.flatMap(({ name, status }) => {
      const v = pick(status);
      return v === null || v === undefined ? [] : [[{ ...at, origin: name }, v] as Sample];
    });
  const perImage = (pick: (s: StatusInput) => { origin: number; snapshot: number } | undefined): Sample[] =>
    m.origins.flatMap(({ name, status }) => {
      const v = pick(status);
      if (!v) return [];
      return [
        [{ ...at, origin: name, image: 'origin' }, v.origin],
        [{ ...at, origin: name, image: 'snapshot' }, v.snapshot],
      ] as Sample[];
    });
  const perSnapshot = (pick: (x: StatusInput['snapshots'][number]) => number | null): Sample[] =>
    m.origins.flatMap(({ name, status }) =>
      status.snapshots.flatMap((x) => {
        const v = pick(x);
        if (v === null) return [];
        return [[{ ...at, origin: name, snapshot: x.id, schedule: x.schedule ?? '' }, v] as Sample];
      }),
    );
  const { store } = m;
  const counting = m.origins.find((o) => o.status.accounting !== null)?.status.accounting ?? null;

  family('store_size_bytes', 'gauge', 'Size of the COW store.', [[at, store.totalBytes]]);
  family('store_used_bytes', 'gauge', 'Bytes of the COW store in use (data and metadata).', [[at, store.usedBytes]]);
  family('store_free_bytes', 'gauge', 'Free bytes of the COW store.', [[at, store.freeBytes]]);
  if (store.work) {
    const { work } = store;
    family('commits_total', 'counter', 'Metadata commits since the store was mounted.', [[at, work.commits]]);
    family('background_errors_total', 'counter', 'Failures of background work since the mount.', [[at, work.faults]]);
  }
  family('reclaim_running', 'gauge', 'Whether a reclaim pass runs (1) or not (0).', [
    [at, store.reclaim === null ? 0 : 1],
  ]);
  family(
    'reclaim_progress_ratio',
    'gauge',
    'Fraction done of the running reclaim pass.',
    store.reclaim === null ? [] : [[at, store.reclaim]],
  );
  family('recount_running', 'gauge', 'Whether the space figures are being counted again (1) or not (0).', [
    [at, counting === null ? 0 : 1],
  ]);
  family(
    'recount_progress_ratio',
    'gauge',
    'Fraction done of the recount of the space figures.',
    counting === null ? [] : [[at, counting]],
  );
  family(
    'origin_size_bytes',
    'gauge',
    'Size of the origin.',
    perOrigin((s) => s.originSize),
  );
  family(
    'snapshots',
    'gauge',
    'Snapshots of the origin.',
    perOrigin((s) => s.snapshots.length),
  );
  family(
    'copy_outs_total',
    'counter',
    'Chunks of the origin copied out for its snapshots since the mount.',
    perOrigin((s) => s.work?.copyOuts),
  );
  family(
    'read_bytes_total',
    'counter',
    'Bytes read from the images since the mount, by image kind.',
    perImage((s) => s.io && { origin: s.io.originRead, snapshot: s.io.snapshotRead }),
  );
  family(
    'written_bytes_total',
    'counter',
    'Bytes written to the images since the mount, by image kind.',
    perImage((s) => s.io && { origin: s.io.originWritten, snapshot: s.io.snapshotWritten }),
  );
  family(
    'refused_writes_total',
    'counter',
    'Image writes answered with an error since the mount.',
    perOrigin((s) => s.io?.refusedWrites),
  );
  family(
    'errors_total',
    'counter',
    'Requests and commands of the origin answered with an error since the mount.',
    perOrigin((s) => s.io?.errors),
  );
  family(
    'rollback_running',
    'gauge',
    'Whether a rollback of the origin is copying (1) or not (0).',
    perOrigin((s) => (s.rollback ? 1 : 0)),
  );
  family(
    'rollback_progress_ratio',
    'gauge',
    'Fraction done of the rollback copying.',
    m.origins.flatMap(({ name, status: s }) =>
      s.rollback ? [[{ ...at, origin: name, snapshot: s.rollback.id }, s.rollback.done] as Sample] : [],
    ),
  );
  family(
    'snapshot_exclusive_bytes',
    'gauge',
    'COW bytes only this snapshot reads: what deleting it frees.',
    perSnapshot((x) => x.exclusiveBytes),
  );
  family(
    'snapshot_shared_bytes',
    'gauge',
    'COW bytes this snapshot reads that others read too.',
    perSnapshot((x) => x.sharedBytes),
  );
  family(
    'snapshot_created_timestamp_seconds',
    'gauge',
    'When the snapshot was taken.',
    perSnapshot((x) => x.created.getTime() / 1000),
  );
  family(
    'snapshot_valid',
    'gauge',
    'Whether the snapshot is valid (1), or was given up when the store was full (0).',
    perSnapshot((x) => (x.state === 'valid' ? 1 : 0)),
  );

  return families
    .filter((f) => f.samples.length > 0)
    .map((f) =>
      [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples.map((s) => sampleLine(f.name, s))].join(
        '\n',
      ),
    )
    .join('\n')
    .concat('\n');
}

function sampleLine(name: string, [labels, value]: Sample): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${name}{${pairs.join(',')}} ${value}`;
}

/** A label value as the format quotes it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
