// How commands name a store's files. A store of one origin: `<origin> <cow>`, as always.
// A store of named origins: `<cow>` alone, each origin found at the path recorded for
// it; `--origin <name>` chooses the origin a command acts on, and
// `--origin <name>=<file>` says where an origin is (when it moved, or when it is formatted
// or added).
import { StoreError } from '../errors';
import { StoreFiles } from '../engine/open-files';

export interface OriginOption {
  name: string;
  path?: string;
}

export const ORIGIN_OPTION = {
  type: 'string' as const,
  array: true,
  describe: 'a named origin: <name> chooses it, <name>=<file> says where it is (repeat for several)',
};

/** "<name>" or "<name>=<file>". */
export function parseOriginOption(text: string): OriginOption {
  const eq = text.indexOf('=');
  const [name, path] = eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
  if (!name || path === '')
    throw StoreError.invalid(`bad --origin ${JSON.stringify(text)}: give <name> or <name>=<file>`);
  return { name, path };
}

export function originOptions(values: unknown): OriginOption[] {
  return ((values as string[] | undefined) ?? []).map(parseOriginOption);
}

/**
 * The store's files from a command's leading positionals: `[cow]` for a store of named
 * origins (`named`), `[origin, cow]` for one of one origin.
 */
export function storeFilesOf(positionals: readonly string[], origins: OriginOption[], named: boolean): StoreFiles {
  if (!named) {
    if (origins.length) throw StoreError.invalid('--origin is for a store of named origins, given by its COW alone');
    return { origin: positionals[0], cow: positionals[1] };
  }
  const paths = new Map(origins.filter((o) => o.path).map((o) => [o.name, o.path!]));
  return { cow: positionals[0], paths };
}

/** The origin a command acts on: the one --origin names (alone or with a file), if any. */
export function chosenOrigin(origins: OriginOption[]): string | undefined {
  if (origins.length <= 1) return origins[0]?.name;
  const bare = origins.filter((o) => !o.path);
  if (bare.length !== 1) throw StoreError.invalid('choose one origin: give --origin <name> once, without =<file>');
  return bare[0].name;
}
