// `snapfuse rollback`: start a rollback of the origin to a snapshot through the mount's
// control file; with --wait, stay until the copying is done.
import { controlCommand, followProgress, waitOption } from '../control-client';
import { defineCommand } from '../usage';

export const rollbackCommand = defineCommand({
  command: 'rollback <mountpoint> <id>',
  describe: "make the origin's content the snapshot's (the origin must not be in use)",
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('id', { type: 'string', demandOption: true })
      .option('wait', waitOption('until the copying is done')),
  handler: async (a) => {
    await controlCommand(a.mountpoint, `rollback ${a.id}`);
    if (a.wait) {
      await followProgress(
        a.mountpoint,
        (s) => (s.rollback ? { what: '', done: s.rollback.done } : null),
        `rollback ${a.id}`,
      );
    }
  },
});
