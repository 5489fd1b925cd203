// `snapfuse status`: the mount's status as the control file shows it, or as one JSON object.
import { mountStatus, readStatus } from '../control-client';
import { defineCommand } from '../usage';

export const statusCommand = defineCommand({
  command: 'status <mountpoint>',
  describe: 'print the status, one fact per line',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'print the status as one JSON object' }),
  handler: async (a) => {
    const text = a.json
      ? `${JSON.stringify(await mountStatus(a.mountpoint), null, 2)}\n`
      : await readStatus(a.mountpoint);
    process.stdout.write(text);
  },
});
