// `snapfuse delete`: delete a snapshot through the mount's control file; with --wait, stay
// until reclaim has given its space back and the space figures are counted again.
import { controlCommand, followProgress, rootStatus, waitOption, writeRootCommand } from '../control-client';
import { defineCommand } from '../usage';

export const deleteCommand = defineCommand({
  command: 'delete <mountpoint> <id>',
  describe:
    'delete a snapshot (its space returns in the background; at the root of a mount of named origins, of every origin that has it)',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('id', { type: 'string', demandOption: true })
      .option('wait', waitOption('until its space is back and the space figures are counted again')),
  handler: async (a) => {
    if (await rootStatus(a.mountpoint)) return writeRootCommand(a.mountpoint, `delete ${a.id}`); // of every origin
    await controlCommand(a.mountpoint, `delete ${a.id}`);
    if (a.wait) {
      await followProgress(
        a.mountpoint,
        (s) =>
          s.reclaim !== null
            ? { what: 'reclaim', done: s.reclaim }
            : s.accounting !== null
              ? { what: 'accounting', done: s.accounting }
              : null,
        `delete ${a.id}`,
      );
    }
  },
});
