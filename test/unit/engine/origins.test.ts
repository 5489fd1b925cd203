// Several named origins in one store: each is a volume of its own (images, snapshot
// names, schedules, space figures), all share the space; origins are added and removed;
// each is checked to be the file it was at format.
import { MemoryDevice } from '../../../src/block/memory-device';
import { NamedOrigin, OriginOpener, Store } from '../../../src/engine/store';
import { checkStore } from '../../../src/engine/tools/check';
import { isStoreError } from '../../../src/errors';

const CHUNK = 4096;
const SIZE = 16 * CHUNK;

function origin(name: string, fill: number, size = SIZE): NamedOrigin & { device: MemoryDevice } {
  return { name, device: new MemoryDevice(Buffer.alloc(size, fill)), path: `/images/${name}.img`, identity: id(fill) };
}

function id(ino: number) {
  return { dev: 1, ino, rdev: 0 };
}

/** The identity each test origin's file has: its inode is its fill byte at format. */
const INO: Record<string, number> = { a: 1, b: 2 };

/** Opens each origin from `files` by name, as open-files does by path. */
function opener(files: Map<string, MemoryDevice>, identity = (name: string) => id(INO[name])) {
  const open: OriginOpener = async (o) => ({
    device: new MemoryDevice(files.get(o.name)!.image()),
    identity: identity(o.name),
  });
  return open;
}

async function twoOrigins(cowBlocks = 1024) {
  const a = origin('a', 1);
  const b = origin('b', 2);
  const cow = new MemoryDevice(cowBlocks * 4096);
  await Store.format([a, b], cow, { chunkSize: CHUNK });
  const files = new Map([
    ['a', a.device],
    ['b', b.device],
  ]);
  const open = () => Store.open(opener(files), new MemoryDevice(cow.image()), { commitInterval: 0 });
  return { files, cow, open };
}

async function expectCode(code: string, p: Promise<unknown>) {
  await expect(p).rejects.toMatchObject({ code });
}

describe('a store of named origins', () => {
  test('each origin has its own images and snapshot names; both survive a reopen', async () => {
    const { open } = await twoOrigins();
    let store = await open();
    expect(store.named).toBe(true);
    expect(store.volumes().map((v) => v.name)).toEqual(['a', 'b']);
    const [a, b] = [store.volume('a'), store.volume('b')];
    expect(await a.create('before')).toBe('before');
    expect(await b.create('before')).toBe('before'); // the same name, another origin
    expect(await b.create()).toBe('1');
    await a.write('origin', Buffer.alloc(CHUNK, 0xaa), 0);
    await b.write('before', Buffer.alloc(CHUNK, 0xbb), CHUNK);
    await store.close();

    store = await open();
    const read = async (o: string, image: string, pos: number) => {
      const buf = Buffer.alloc(CHUNK);
      await store.volume(o).read(image, buf, pos);
      return buf[0];
    };
    expect(await read('a', 'origin', 0)).toBe(0xaa);
    expect(await read('a', 'before', 0)).toBe(1);
    expect(await read('b', 'origin', CHUNK)).toBe(2);
    expect(await read('b', 'before', CHUNK)).toBe(0xbb);
    expect(
      store
        .volume('a')
        .snapshots()
        .map((s) => s.id),
    ).toEqual(['before']);
    expect(
      store
        .volume('b')
        .snapshots()
        .map((s) => s.id),
    ).toEqual(['before', '1']);
    await expectCode('NOT_FOUND', store.volume('a').delete('1'));
    expect(() => store.volume('c')).toThrow(/no origin c/);
    expect(() => store.volume()).toThrow(/2 origins: name one/);
    expect(store.originPath('b')).toBe('/images/b.img');
    await store.close();
  });

  test('space figures are per origin and add up to the store', async () => {
    const { open } = await twoOrigins();
    const store = await open();
    const [a, b] = [store.volume('a'), store.volume('b')];
    await a.create('s');
    await b.create('s');
    await a.write('origin', Buffer.alloc(3 * CHUNK, 9), 0);
    await b.write('origin', Buffer.alloc(5 * CHUNK, 9), 0);
    await store.idle();
    expect(a.status().space.exclusive).toBe(3 * CHUNK);
    expect(b.status().space.exclusive).toBe(5 * CHUNK);
    expect(b.space('s')).toEqual({ exclusive: 5 * CHUNK, shared: 0 });
    expect(store.status().space.exclusive).toBe(8 * CHUNK);
    await store.close();
  });

  test("one origin's copy-outs use the space another's delete freed", async () => {
    const { open } = await twoOrigins(190);
    const store = await open();
    const [a, b] = [store.volume('a'), store.volume('b')];
    await b.create('s');
    // fill the store with a's copy-outs
    await a.create('s');
    let filled = 0;
    for (let round = 0; ; round++) {
      const ok = await (async () => {
        await a.create(`t${round}`);
        await a.write('origin', Buffer.alloc(SIZE, round), 0);
      })().then(
        () => true,
        (e) => (isStoreError(e, 'NO_SPACE') ? false : Promise.reject(e)),
      );
      if (!ok) break;
      filled++;
    }
    expect(filled).toBeGreaterThan(0);
    await expectCode('NO_SPACE', b.write('origin', Buffer.alloc(SIZE, 7), 0));
    for (const s of a.snapshots()) await a.delete(s.id);
    await store.idle();
    await b.write('origin', Buffer.alloc(SIZE, 7), 0); // b's copy-outs fit now
    await store.idle(); // held writes copied out
    expect(b.space('s').exclusive).toBe(SIZE);
    expect(await checkStore(store.internals)).toEqual([]);
    await store.close();
  });

  test('each origin is checked to be the file it was: size and identity', async () => {
    const { files, cow } = await twoOrigins();
    const other = new Map(files).set('b', new MemoryDevice(SIZE + CHUNK));
    await expectCode(
      'WRONG_ORIGIN',
      Store.open(
        opener(other, () => id(2)),
        new MemoryDevice(cow.image()),
      ),
    );
    await expect(
      Store.open(
        opener(files, (name) => id(name === 'b' ? 99 : 1)),
        new MemoryDevice(cow.image()),
      ),
    ).rejects.toThrow(/another origin b than memory: it is not the same file/);
    // a store of named origins is not opened as a store of one
    await expectCode('WRONG_ORIGIN', Store.open(files.get('a')!, new MemoryDevice(cow.image())));
  });

  test('a schedule belongs to its origin: the same name on two origins is two schedules', async () => {
    const { open } = await twoOrigins();
    let store = await open();
    await store.volume('a').setSchedule({ name: 'hourly', every: 3600, keep: 24 });
    await store.volume('b').setSchedule({ name: 'hourly', every: 60, keep: 5 });
    await store.volume('b').removeSchedule('hourly');
    await expectCode('NOT_FOUND', store.volume('b').removeSchedule('hourly'));
    await store.close();
    store = await open();
    expect(store.volume('a').schedules()).toEqual([{ name: 'hourly', every: 3600, keep: 24, origin: 0 }]);
    expect(store.volume('b').schedules()).toEqual([]);
    await store.close();
  });
});

describe('adding and removing origins', () => {
  test('a store of one origin names it and becomes a store of named origins', async () => {
    const first = new MemoryDevice(Buffer.alloc(SIZE, 1));
    const cow = new MemoryDevice(1024 * 4096);
    await Store.format(first, cow, { chunkSize: CHUNK, originIdentity: id(1) });
    let store = await Store.open(first, cow, { commitInterval: 0, originIdentity: id(1) });
    await store.volume().create('kept');
    await store.volume().write('origin', Buffer.alloc(CHUNK, 5), 0);
    const b = origin('b', 2);
    await expect(store.addOrigin(b)).rejects.toThrow(/name the store's first origin too/);
    await expect(store.addOrigin({ ...b, name: 'Bad/Name' }, { name: 'a', path: '/a' })).rejects.toThrow(
      /bad origin name/,
    );
    await store.addOrigin(b, { name: 'a', path: '/images/a.img' });
    await expectCode('EXISTS', store.addOrigin(origin('a', 3)));
    expect(store.named).toBe(true);
    await store.close();

    const files = new Map([
      ['a', first],
      ['b', b.device],
    ]);
    await expectCode('WRONG_ORIGIN', Store.open(first, new MemoryDevice(cow.image())));
    store = await Store.open(opener(files), new MemoryDevice(cow.image()), { commitInterval: 0 });
    expect(store.volumes().map((v) => v.name)).toEqual(['a', 'b']);
    const buf = Buffer.alloc(CHUNK);
    await store.volume('a').read('kept', buf, 0);
    expect(buf[0]).toBe(1);
    await store.volume('a').read('origin', buf, 0);
    expect(buf[0]).toBe(5);
    await store.volume('b').read('origin', buf, 0);
    expect(buf[0]).toBe(2);
    await store.close();
  });

  test('removing an origin deletes its snapshots, gives back their space, and leaves the others', async () => {
    const { files, open } = await twoOrigins();
    let store = await open();
    const used = () => store.status().usedBytes;
    const empty = used();
    await store.volume('a').create('s');
    await store.volume('a').write('origin', Buffer.alloc(SIZE, 9), 0);
    await store.volume('b').create('s');
    await store.volume('b').write('origin', Buffer.alloc(4 * CHUNK, 8), 0);
    await store.idle();
    const withB = used();
    await store.removeOrigin('a');
    expect(store.volumes().map((v) => v.name)).toEqual(['b']);
    expect(() => store.volume('a')).toThrow(/no origin a/);
    await store.idle();
    expect(used()).toBeLessThan(withB - SIZE + 1);
    expect(store.internals.origins.size).toBe(1); // the record went with its last version
    expect(await checkStore(store.internals)).toEqual([]);
    await expectCode('INVALID_ARGUMENT', store.removeOrigin('b')); // the last one stays
    await store.close();

    store = await open(); // a's file is no longer asked for
    const buf = Buffer.alloc(CHUNK);
    await store.volume('b').read('s', buf, 0);
    expect(buf[0]).toBe(2);
    await store.volume('b').delete('s');
    await store.idle();
    expect(used()).toBeLessThanOrEqual(empty + 4096 * 4);
    expect(files.get('a')!.image()[0]).toBe(9); // the origin file is left as it was
    await store.close();
  });

  test('a removal cut short by a close finishes at the next open', async () => {
    const { open } = await twoOrigins();
    let store = await open();
    await store.volume('a').create('s');
    await store.volume('a').write('origin', Buffer.alloc(SIZE, 9), 0);
    await store.removeOrigin('a');
    await store.close(); // reclaim stops at a batch boundary, perhaps before it began
    store = await open();
    expect(store.volumes().map((v) => v.name)).toEqual(['b']);
    await store.idle();
    expect(store.internals.origins.size).toBe(1);
    expect(await checkStore(store.internals)).toEqual([]);
    await store.close();
  });
});

describe('a snapshot of every origin at once', () => {
  test('one commit for all; refused whole if any origin has the name; deleted together', async () => {
    const { cow, files, open } = await twoOrigins();
    const store = await open();
    const [a, b] = [store.volume('a'), store.volume('b')];
    await a.write('origin', Buffer.alloc(CHUNK, 0x11), 0);
    await b.write('origin', Buffer.alloc(CHUNK, 0x22), 0);
    const commits = store.status().commits;
    await store.groups.create('g1');
    expect(store.status().commits - commits).toBeLessThanOrEqual(3); // the origins' syncs, then the group's one
    const at = (v: typeof a) =>
      v
        .snapshots()
        .find((s) => s.id === 'g1')!
        .created.getTime();
    expect(at(a)).toBe(at(b));
    // the group sees what each origin held at that instant
    await a.write('origin', Buffer.alloc(CHUNK, 0x33), 0);
    const seen = Buffer.alloc(CHUNK);
    await a.read('g1', seen, 0);
    expect(seen.every((x) => x === 0x11)).toBe(true);

    // a name one origin has already: refused, and nothing changed in the other
    await b.create('only-b');
    await expectCode('EXISTS', store.groups.create('only-b'));
    expect(a.snapshot('only-b')).toBeNull();
    await expect(store.groups.create('only-b')).rejects.toThrow(/snapshot only-b already exists in origin b/);

    await store.groups.delete('g1');
    expect([a.snapshot('g1'), b.snapshot('g1')]).toEqual([null, null]);
    await expectCode('NOT_FOUND', store.groups.delete('g1'));
    await store.groups.delete('only-b'); // where it exists
    expect(b.snapshot('only-b')).toBeNull();
    await store.idle();
    expect(await checkStore(store.internals)).toEqual([]);
    await store.close();

    // durable: a reopen sees the same
    const again = await Store.open(opener(files), new MemoryDevice(cow.image()), { commitInterval: 0 });
    expect(again.volumes().map((v) => v.snapshots().map((s) => s.id))).toEqual([[], []]);
    await again.close();
  });
  test('an origin cannot be named "control": the root of the mount has its control file there', async () => {
    const { open } = await twoOrigins();
    const store = await open();
    await expectCode('INVALID_ARGUMENT', store.addOrigin(origin('control', 5)));
    expect(store.volumes().map((v) => v.name)).toEqual(['a', 'b']);
    await store.close();
  });

  test('a schedule of every origin: one name for the store, its snapshots counted once, kept over a reopen', async () => {
    const { cow, files, open } = await twoOrigins();
    const store = await open();
    const [a, b] = [store.volume('a'), store.volume('b')];
    await a.setSchedule({ name: 'auto', every: 60, keep: 3 });
    await a.create('auto-20261201-000000', 'origin', 'auto'); // taken by the origin's own schedule
    // the store's schedule of that name replaces the origin's, and retires what it took
    await store.groups.setSchedule({ name: 'auto', every: 300, keep: 2 });
    expect(a.schedules()).toEqual([]);
    expect(store.groups.schedules()).toEqual([{ name: 'auto', every: 300, keep: 2, origin: 0xffff }]);
    await expectCode('INVALID_ARGUMENT', b.setSchedule({ name: 'auto', every: 60, keep: 1 }));
    await expect(b.setSchedule({ name: 'auto', every: 60, keep: 1 })).rejects.toThrow(/change it at the root/);

    await store.groups.create('auto-20261201-000500', 'auto');
    const taken = store.groups.taken('auto');
    expect(taken.map((t) => t.id)).toEqual(['auto-20261201-000000', 'auto-20261201-000500']);
    expect(b.taken('auto').map((t) => t.id)).toEqual(['auto-20261201-000500']);
    await store.groups.delete('auto-20261201-000000'); // in a alone
    expect(store.groups.taken('auto').map((t) => t.id)).toEqual(['auto-20261201-000500']);
    await store.close();

    const again = await Store.open(opener(files), new MemoryDevice(cow.image()), { commitInterval: 0 });
    expect(again.groups.schedules().map((s) => s.name)).toEqual(['auto']);
    await again.groups.removeSchedule('auto');
    await expectCode('NOT_FOUND', again.groups.removeSchedule('auto'));
    expect(again.groups.schedules()).toEqual([]);
    await again.close();
  });
});
