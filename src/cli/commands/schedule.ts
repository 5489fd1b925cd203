// `snapfuse schedule`: set or stop a schedule of rolling snapshots through the mount's
// control file (the store keeps it, and the mount takes and retires its snapshots).
import { parseInterval } from '../../engine/background/schedule';
import { controlCommand, rootStatus, writeRootCommand } from '../control-client';
import { defineCommand } from '../usage';

export const scheduleCommand = defineCommand({
  command: 'schedule <mountpoint> <name>',
  describe:
    'take a snapshot every --every and keep the last --keep of them (rolling snapshots; at the root of a mount of named origins, of every origin at once); --off stops it',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('name', { type: 'string', demandOption: true, describe: 'the schedule: hourly, daily, ...' })
      .option('every', {
        type: 'string',
        describe: 'interval: 30s, 5m, 1h, 1d, 1w',
        coerce: (v: string) => (parseInterval(v), v),
      })
      .option('keep', { type: 'number', describe: 'how many of its snapshots to keep' })
      .option('off', { type: 'boolean', default: false, describe: 'stop the schedule (its snapshots stay)' })
      .check((a) => {
        if (a.off) return a.every === undefined && a.keep === undefined ? true : 'give --off alone';
        return a.every !== undefined && a.keep !== undefined ? true : 'give --every and --keep, or --off';
      }),
  handler: async (a) => {
    const command = a.off ? `schedule ${a.name} off` : `schedule ${a.name} every ${a.every} keep ${a.keep}`;
    // at the root of a mount of named origins: snapshots of every origin at once
    if (await rootStatus(a.mountpoint)) return writeRootCommand(a.mountpoint, command);
    await controlCommand(a.mountpoint, command);
  },
});
