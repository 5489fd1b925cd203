// `snapfuse delete`: delete a snapshot through the mount's control file; with --wait, stay
// until reclaim has given its space back and the space figures are counted again.
import { controlCommand, followProgress, waitOption } from '../control-client';
import { defineCommand } from '../usage';

export const deleteCommand = defineCommand({
  command: 'delete <mountpoint> <id>',
  describe: 'delete a snapshot (its space returns in the background)',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('id', { type: 'string', demandOption: true })
      .option('wait', waitOption('until its space is back and the space figures are counted again')),
  handler: async (a) => {
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
