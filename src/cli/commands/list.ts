// `snapfuse list`: the snapshots of a mount, from its status, as a table with the space
// each holds, as a tree of what was taken of what, or as JSON.
import { join } from 'path';
import { SnapshotStatus, StatusInput } from '../../control/status';
import { mountStatus, originDirs } from '../control-client';
import { defineCommand } from '../usage';

export const listCommand = defineCommand({
  command: 'list <mountpoint>',
  describe:
    'list the snapshots with the space each holds alone and shares (of every origin, at the root of a mount of named origins)',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .option('tree', { type: 'boolean', default: false, describe: 'draw what each snapshot was taken of' })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print [{"id", "parent", "created", "exclusiveBytes", "sharedBytes", "schedule", ...}]',
      })
      .check((a) => (a.tree && a.json ? 'give --tree or --json, not both' : true)),
  handler: async (a) => {
    const show = (s: StatusInput) => (a.json ? `${listJson(s)}\n` : a.tree ? listTree(s) : listTable(s));
    const names = await originDirs(a.mountpoint);
    if (!names) return void process.stdout.write(show(await mountStatus(a.mountpoint)));
    // a mount of named origins: each origin's list in turn (JSON: {"<name>": [...]})
    const each = await Promise.all(names.map((n) => mountStatus(join(a.mountpoint, n))));
    if (a.json) {
      const byName = Object.fromEntries(names.map((n, i) => [n, JSON.parse(listJson(each[i]))]));
      return void process.stdout.write(`${JSON.stringify(byName, null, 2)}\n`);
    }
    process.stdout.write(names.map((n, i) => `origin ${n}\n${show(each[i])}`).join('\n'));
  },
});

/** 1536 -> "1.5K"; bytes below 1 KiB as they are. */
export function humanBytes(n: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u < 0) return String(n);
  return `${v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[u]}`;
}

const size = (n: number | null) => (n === null ? '-' : humanBytes(n));

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map(
      (r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd() + '\n',
    )
    .join('');
}

export function listTable(s: StatusInput): string {
  const rows = [
    ['ID', 'PARENT', 'CREATED', 'EXCLUSIVE', 'SHARED', 'SCHEDULE'],
    ...s.snapshots.map((x) => [
      x.id,
      x.parent,
      x.created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      size(x.exclusiveBytes),
      size(x.sharedBytes),
      x.schedule ?? '-',
    ]),
  ];
  return table(rows) + partials(s) + footer(s);
}

/** The receives kept cut (or under way): not snapshots yet, each with its resume token. */
function partials(s: StatusInput): string {
  const kept = s.receives ?? [];
  if (kept.length === 0) return '';
  const width = Math.max(...kept.map((r) => r.name.length));
  return (
    '\n' +
    kept.map((r) => `${r.name.padEnd(width)}  partial: ${r.bytes} bytes received, resume token ${r.token}\n`).join('')
  );
}

/** The store's totals under the table or tree. */
function footer(s: StatusInput): string {
  let text = `\nstore: ${humanBytes(s.usedBytes)} used of ${humanBytes(s.totalBytes)}, ${humanBytes(s.freeBytes)} free`;
  if (s.space) {
    const { data, exclusive, shared, unread } = s.space;
    text += `; snapshot data ${humanBytes(data)}: ${humanBytes(exclusive)} held alone, ${humanBytes(shared)} shared`;
    if (unread > 0) text += `, ${humanBytes(unread)} of deleted snapshots being reclaimed`;
  }
  text += '\n';
  if (s.accounting !== null) {
    text += `space figures are being counted again (${Math.round(s.accounting * 100)}%): they are from before the last delete\n`;
  }
  return text;
}

/**
 * The snapshots under what they were taken of: the origin first, then, under a "-" root,
 * those whose source is gone (or whose source's name was given to a newer snapshot).
 */
export function listTree(s: StatusInput): string {
  const children = new Map<string, SnapshotStatus[]>();
  for (const x of s.snapshots) {
    const list = children.get(x.parent) ?? [];
    list.push(x);
    children.set(x.parent, list);
  }
  let text = '';
  const shown = new Set<string>();
  const walk = (id: string, prefix: string) => {
    const below = (children.get(id) ?? []).filter((x) => !shown.has(x.id));
    below.forEach((x) => shown.add(x.id));
    below.forEach((x, i) => {
      const last = i === below.length - 1;
      const figures = `${size(x.exclusiveBytes)} alone, ${size(x.sharedBytes)} shared`;
      const schedule = x.schedule ? `, ${x.schedule}` : '';
      text += `${prefix}${last ? '└── ' : '├── '}${x.id}  (${figures}${schedule})\n`;
      walk(x.id, prefix + (last ? '    ' : '│   '));
    });
  };
  text += 'origin\n';
  walk('origin', '');
  let left = s.snapshots.filter((x) => !shown.has(x.id));
  if (left.length) text += '- (taken of a snapshot since deleted)\n';
  while (left.length) {
    const ids = new Set(left.map((x) => x.id));
    const roots = left.filter((x) => !ids.has(x.parent));
    children.set('-', roots.length ? roots : left.slice(0, 1)); // a loop of reused names: cut it anywhere
    walk('-', '');
    left = left.filter((x) => !shown.has(x.id));
  }
  return text + partials(s) + footer(s);
}

/**
 * One object per snapshot, oldest first, after one per receive kept cut (`partial: true`,
 * first, so that the last entry is always the newest snapshot); byte counts as numbers,
 * null when not known.
 */
export function listJson(s: StatusInput): string {
  return JSON.stringify(
    [
      ...(s.receives ?? []).map((r) => ({ id: r.name, partial: true, receivedBytes: r.bytes, token: r.token })),
      ...s.snapshots.map((x) => ({ ...x, created: x.created.toISOString() })),
    ],
    null,
    2,
  );
}
