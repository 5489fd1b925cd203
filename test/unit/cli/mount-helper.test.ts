// The mount helper's call (`snapfuse <cow> <mountpoint> -o <options>`) becomes `snapfuse mount`.
import { mountHelperArgs } from '../../../src/cli/mount-helper';

describe('the mount helper form', () => {
  test('becomes snapfuse mount, passing the mount options and letting mount(8)/systemd options through', () => {
    expect(
      mountHelperArgs([
        '/c.cow',
        '/mnt',
        '-o',
        'rw,nofail,origin=/o.img,write-back=8M,x-systemd.automount,cache-size=1G',
      ]),
    ).toEqual(['mount', '/o.img', '/c.cow', '/mnt', '--write-back', '8M', '--cache-size', '1G']);
  });

  test('without origin=, a store of named origins: the COW alone', () => {
    expect(mountHelperArgs(['/c.cow', '/mnt', '-o', 'nofail'])).toEqual(['mount', '/c.cow', '/mnt']);
  });

  test('when-full= is the policy for a full store', () => {
    expect(mountHelperArgs(['/c.cow', '/mnt', '-o', 'when-full=invalidate,nofail'])).toEqual([
      'mount',
      '/c.cow',
      '/mnt',
      '--when-full',
      'invalidate',
    ]);
  });

  test('other command lines are not a helper call', () => {
    expect(mountHelperArgs(['mount', '/o.img', '/c.cow', '/mnt'])).toBeNull();
    expect(mountHelperArgs(['/c.cow', '/mnt'])).toBeNull();
    expect(mountHelperArgs(['--help', '/mnt', '-o', 'x'])).toBeNull();
  });

  test.each([
    ['origin=', /must name the origin/],
    ['origin=/o.img,ro', /read-only/],
    ['origin=/o.img,colour=blue', /unknown mount option "colour=blue"/],
    ['origin=/o.img,write-back', /unknown mount option "write-back"/],
  ])('refuses -o %s', (options, message) => {
    expect(() => mountHelperArgs(['/c.cow', '/mnt', '-o', options])).toThrow(message);
  });
});
