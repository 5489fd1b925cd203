// What the word under the cursor is completed with, from the words of the command line
// (the shell's split, after the program's name; the last is the word being completed).
import { completionTarget } from '../../../src/cli/completion';

const target = (line: string) => completionTarget(line.split(' '));

describe('the completion target', () => {
  test('a command name, and the options, are yargs’ to complete', () => {
    expect(target('')).toEqual({ complete: 'default' });
    expect(target('del')).toEqual({ complete: 'default' });
    expect(target('delete /m --w')).toEqual({ complete: 'default' });
    expect(target('format a ')).toEqual({ complete: 'default' });
  });

  test('the first argument of a command of a mount: the mounts it may name', () => {
    expect(target('delete ')).toEqual({ complete: 'mountpoint', mount: 'any' });
    expect(target('rollback /m')).toEqual({ complete: 'mountpoint', mount: 'origin' });
    expect(target('umount ')).toEqual({ complete: 'mountpoint', mount: 'root' });
    expect(target('send --from x --origin a ')).toEqual({ complete: 'mountpoint', mount: 'origin' });
  });

  test('the snapshot of delete, rollback and send: the ids of the mount named before it', () => {
    expect(target('delete /m ')).toEqual({ complete: 'id', of: '/m', root: true });
    expect(target('delete --wait /m b')).toEqual({ complete: 'id', of: '/m', root: true });
    expect(target('rollback /m/a ')).toEqual({ complete: 'id', of: '/m/a', root: false });
    expect(target('send /m ')).toEqual({ complete: 'id', of: '/m', root: false });
    expect(target('send --from x /m ')).toEqual({ complete: 'id', of: '/m', root: false });
    expect(target('send --from = x /m ')).toEqual({ complete: 'id', of: '/m', root: false });
  });

  test('--from of send and create: the ids, never of the root of a mount of named origins', () => {
    expect(target('send /m b --from ')).toEqual({ complete: 'id', of: '/m', root: false });
    expect(target('send /m b --from = a')).toEqual({ complete: 'id', of: '/m', root: false }); // --from=a
    expect(target('create /m x --from ')).toEqual({ complete: 'id', of: '/m', root: false });
    expect(target('send --from ')).toEqual({ complete: 'nothing' }); // no mount named yet
    expect(target('delete /m --from ')).toEqual({ complete: 'nothing' });
  });

  test('the value of another option, or a word past the last argument', () => {
    expect(target('send /m b --resume ')).toEqual({ complete: 'nothing' });
    expect(target('schedule /m hourly --every ')).toEqual({ complete: 'nothing' });
    expect(target('send /m b ')).toEqual({ complete: 'default' });
    expect(target('create /m ')).toEqual({ complete: 'default' });
  });
});
