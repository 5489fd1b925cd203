// `snapfuse status`: the mount's status as the control file shows it, or as one JSON object.
import { mountStatus, readStatus, rootStatus } from '../control-client';
import { formatStoreStatus as rootText } from '../../control/store-status';
import { defineCommand } from '../usage';

export const statusCommand = defineCommand({
  command: 'status <mountpoint>',
  describe: 'print the status, one fact per line (at the root of a mount of named origins: the store-wide status)',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'print the status as one JSON object' }),
  handler: async (a) => {
    const root = await rootStatus(a.mountpoint);
    if (root) return void process.stdout.write(a.json ? `${JSON.stringify(root, null, 2)}\n` : rootText(root));
    const text = a.json
      ? `${JSON.stringify(await mountStatus(a.mountpoint), null, 2)}\n`
      : await readStatus(a.mountpoint);
    process.stdout.write(text);
  },
});
