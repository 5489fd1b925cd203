// `snapfuse status`: the mount's status as the control file shows it, or as one JSON object.
import { parseStatus } from '../../control/status';
import { readStatus } from '../control-client';
import { defineCommand } from '../usage';

export const statusCommand = defineCommand({
  command: 'status <mountpoint>',
  describe: 'print the status, one fact per line',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'print the status as one JSON object' }),
  handler: async (a) => {
    const text = await readStatus(a.mountpoint);
    process.stdout.write(a.json ? `${JSON.stringify(parseStatus(text), null, 2)}\n` : text);
  },
});
