// `snapfuse metrics <mountpoint>`: the mount's figures in Prometheus's text format, for
// node_exporter's textfile collector (README: Monitoring). Made from the control files'
// statuses: the root's and each origin's in a mount of named origins.
import { basename, dirname, join, resolve } from 'path';
import { formatMetrics, MetricsInput } from '../../control/metrics';
import { mountStatus, rootStatus } from '../control-client';
import { defineCommand } from '../usage';

export const metricsCommand = defineCommand({
  command: 'metrics <mountpoint>',
  describe: "print the mount's figures in Prometheus's text exposition format",
  builder: (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
  handler: async (a) => {
    process.stdout.write(formatMetrics(await metricsOf(resolve(a.mountpoint))));
  },
});

async function metricsOf(mountpoint: string): Promise<MetricsInput> {
  const root = await rootStatus(mountpoint);
  if (root) {
    const origins = [];
    for (const { name } of root.origins) origins.push({ name, status: await mountStatus(join(mountpoint, name)) });
    return { mountpoint, store: root, origins };
  }
  const status = await mountStatus(mountpoint);
  // one origin's directory in a mount of named origins is labelled with its name
  const named = (await rootStatus(dirname(mountpoint)))?.origins.some((o) => o.name === basename(mountpoint));
  return { mountpoint, store: status, origins: [{ name: named ? basename(mountpoint) : 'origin', status }] };
}
