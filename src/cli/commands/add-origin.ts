// `snapfuse add-origin`: add a named origin to a store. Given a mountpoint (of named
// origins), through its root control: the mount shows the new origin at once. Given the
// COW of an unmounted store: a store of one origin names its own at the same time and
// becomes a store of named origins.
import { resolve } from 'path';
import { addOriginFile, isNamedStore } from '../../engine/open-files';
import { ORIGIN_OPTION, originOptions, parseOriginOption, storeFilesOf } from '../store-args';
import { defineCommand, UsageError } from '../usage';
import { liveStore } from '../control-client';

export const addOriginCommand = defineCommand({
  command: 'add-origin <cow|mountpoint> <new>',
  describe:
    'add origin <name>=<file> to a mount of named origins (it shows at once), or to an unmounted store; ' +
    'a store of one origin (unmounted) names that one too, with --origin <name>=<file>, and from then on is given by its COW alone',
  builder: (y) =>
    y
      .positional('cow', { type: 'string', demandOption: true, describe: 'the COW, or the mountpoint' })
      .positional('new', { type: 'string', demandOption: true, describe: '<name>=<file>' })
      .option('origin', ORIGIN_OPTION),
  handler: async (a) => {
    const added = parseOriginOption(a.new);
    if (!added.path) throw new UsageError(`give the new origin as ${added.name}=<file>`);
    const live = await liveStore(a.cow);
    if (live) return live(`add-origin ${added.name} ${resolve(added.path)}`);
    const given = originOptions(a.origin);
    if (await isNamedStore(a.cow)) {
      await addOriginFile(storeFilesOf([a.cow], given, true), { name: added.name, path: added.path });
      return;
    }
    const first = given.length === 1 && given[0].path ? { name: given[0].name, path: given[0].path } : null;
    if (!first) throw new UsageError(`${a.cow} has one origin, with no name yet: name it with --origin <name>=<file>`);
    await addOriginFile({ origin: first.path, cow: a.cow }, { name: added.name, path: added.path }, first);
  },
});
