// `snapfuse create`: take a snapshot through the mount's control file and print its id.
import { controlCommand, listSnapshots } from '../control-client';
import { defineCommand } from '../usage';

export const createCommand = defineCommand({
  command: 'create <mountpoint> [id]',
  describe: 'take a snapshot of the origin, or of --from <snapshot>; prints its id',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('id', { type: 'string', describe: "the new snapshot's id (default: the next number)" })
      .option('from', { type: 'string', describe: 'snapshot to take it of (default: origin)' }),
  handler: async (a) => {
    const before = new Set((await listSnapshots(a.mountpoint)).map((s) => s.id));
    const words = ['create', ...(a.id ? [a.id] : []), ...(a.from ? ['from', a.from] : [])];
    await controlCommand(a.mountpoint, words.join(' '));
    const made = a.id ?? (await listSnapshots(a.mountpoint)).find((s) => !before.has(s.id))?.id;
    if (made) console.log(made);
  },
});
