// `snapfuse format`: write an empty store on a COW, for one origin or several named ones.
import { DEFAULT_CHUNK_SIZE } from '../../engine/store';
import { formatFiles } from '../../engine/open-files';
import { ORIGIN_OPTION, originOptions } from '../store-args';
import { sizeOption } from '../sizes';
import { defineCommand, UsageError } from '../usage';

export const formatCommand = defineCommand({
  command: 'format <files..>',
  describe:
    'write an empty snapshot store (the origins are not touched): `format <origin> <cow>` for one origin, ' +
    '`format <cow> --origin <name>=<file> ...` for several named ones',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, demandOption: true, describe: '[<origin>] <cow>' })
      .option('origin', ORIGIN_OPTION)
      .option('chunk-size', sizeOption('copy-out unit: a power of two from 4K to 1M', DEFAULT_CHUNK_SIZE))
      .option('force', { type: 'boolean', default: false, describe: 'overwrite a COW that already holds a store' })
      .check((a) => {
        const n = (a.files as string[]).length;
        if (a.origin?.length) return n === 1 ? true : 'with --origin, give the COW alone';
        return n === 2 ? true : 'give <origin> <cow>, or <cow> --origin <name>=<file> ...';
      }),
  handler: async (a) => {
    const files = a.files as string[];
    const opts = { chunkSize: a['chunk-size'] as unknown as number, force: a.force };
    const origins = originOptions(a.origin);
    if (origins.length === 0) return formatFiles(files[0], files[1], opts);
    for (const o of origins) if (!o.path) throw new UsageError(`give --origin ${o.name}=<file>`);
    await formatFiles(
      origins.map((o) => ({ name: o.name, path: o.path! })),
      files[0],
      opts,
    );
  },
});
