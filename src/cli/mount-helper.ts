// mount(8) and /etc/fstab: `mount -t fuse.snapfuse <cow> <mountpoint> -o origin=<file>`
// (no origin= for a store of named origins, which finds its own) runs /sbin/mount.fuse, which runs `snapfuse <cow> <mountpoint> -o <options>` through the
// shell with the PATH. That call is turned into `snapfuse mount` here. Options that
// mount(8) and systemd keep for themselves are let through; any other is refused.
import { StoreError } from '../errors';

/** Options mount(8), mount.fuse or systemd use: the mount helper is handed them and ignores them. */
const GENERIC = new Set([
  'rw',
  'defaults',
  'auto',
  'noauto',
  'nofail',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  '_netdev',
  'dev',
  'nodev',
  'suid',
  'nosuid',
  'exec',
  'noexec',
  'atime',
  'noatime',
  'relatime',
  'strictatime',
  'nodiratime',
  'async',
]);

/** Options given to `snapfuse mount` as `--<name> <value>`. */
const PASSED = new Set(['cache-size', 'write-back', 'when-full']);

/**
 * The arguments of `snapfuse mount` if `argv` is a mount helper's call,
 * `<cow> <mountpoint> -o <options>` (no snapfuse command takes -o); else null.
 */
export function mountHelperArgs(argv: readonly string[]): string[] | null {
  if (argv.length !== 4 || argv[2] !== '-o' || argv[0].startsWith('-')) return null;
  const [cow, mountpoint, , options] = argv;
  let origin: string | undefined;
  const passed: string[] = [];
  for (const option of options.split(',')) {
    const eq = option.indexOf('=');
    const [name, value] = eq < 0 ? [option, ''] : [option.slice(0, eq), option.slice(eq + 1)];
    if (name === 'origin') {
      if (!value) throw StoreError.invalid('the mount option origin= must name the origin file or device');
      origin = value;
    } else if (PASSED.has(name) && value) passed.push(`--${name}`, value);
    else if (name === 'ro') throw StoreError.invalid('a read-only mount is not supported: mount rw');
    else if (!GENERIC.has(name) && !name.startsWith('x-') && name !== 'comment' && name !== '') {
      throw StoreError.invalid(
        `unknown mount option ${JSON.stringify(option)} (snapfuse takes origin=, cache-size=, write-back=, when-full=)`,
      );
    }
  }
  return ['mount', ...(origin ? [origin] : []), cow, mountpoint, ...passed];
}
