// `snapfuse create`: take a snapshot through the mount's control file and print its id.
// Without an id the mount picks the next number: the new id is the one in the status
// after the command that was not in the status before it (each parsed once).
import { StoreError } from '../../errors';
import { mountStatus, rootStatus, writeCommand, writeRootCommand } from '../control-client';
import { defineCommand } from '../usage';

export const createCommand = defineCommand({
  command: 'create <mountpoint> [id]',
  describe:
    'take a snapshot of the origin, or of --from <snapshot>; prints its id (at the root of a mount of named origins: one of every origin at once)',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .positional('id', { type: 'string', describe: "the new snapshot's id (default: the next number)" })
      .option('from', { type: 'string', describe: 'snapshot to take it of (default: origin)' }),
  handler: async (a) => {
    if (await rootStatus(a.mountpoint)) {
      // the root of a mount of named origins: one snapshot of every origin, in one commit
      if (!a.id || a.from)
        throw StoreError.invalid('at the root of a mount of named origins, give an id and no --from');
      await writeRootCommand(a.mountpoint, `create ${a.id}`);
      return void console.log(a.id);
    }
    const before = await mountStatus(a.mountpoint); // also: a clear error when this is no mount of ours
    const words = ['create', ...(a.id ? [a.id] : []), ...(a.from ? ['from', a.from] : [])];
    await writeCommand(a.mountpoint, words.join(' '));
    const made = a.id ?? newSnapshot(before.snapshots, (await mountStatus(a.mountpoint)).snapshots);
    if (made) console.log(made);
  },
});

/** The first snapshot of `after` that `before` does not have, if any. */
function newSnapshot(before: readonly { id: string }[], after: readonly { id: string }[]): string | undefined {
  const known = new Set(before.map((s) => s.id));
  return after.find((s) => !known.has(s.id))?.id;
}
