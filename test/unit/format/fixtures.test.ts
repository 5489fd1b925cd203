// Golden fixtures (issue 18): stores as earlier snapfuse wrote them, kept gzipped in
// test/fixtures/ (made once by scripts/make-fixtures.ts; see the README there). Today's
// code must open each, find it sound, show the same snapshots with the same parents and
// the same bytes in every image, and go on using it: a write, a snapshot, a delete, a
// reopen. A failure here means a change broke stores users have: fix the code, never
// the fixtures.
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { gunzipSync } from 'zlib';
import { FileDevice } from '../../../src/block/file-device';
import { checkStoreReport, scrubData } from '../../../src/engine/tools/check';
import { OpenOptions, ORIGIN_IMAGE, Store, Volume } from '../../../src/engine/store';
import { SINGLE_ORIGIN_FORMAT } from '../../../src/format/superblock';
import type { OriginEntry, StoreEntry } from '../../../scripts/make-fixtures';

// the manifest's shape, from the script that writes it (types only: the script does not run)
const FIXTURES = join(__dirname, '../../fixtures');
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { stores: StoreEntry[] };

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'snapfuse-fixtures-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

interface Unpacked {
  cow: string;
  origins: Map<string, string>; // origin name -> file
}

/** The store's files, gunzipped into a directory of their own. */
function unpack(s: StoreEntry, what: string): Unpacked {
  const dir = join(tmp, `${s.name}-${what}`);
  mkdirSync(dir);
  const out = (file: string) => {
    const path = join(dir, file.replace(/\.gz$/, ''));
    writeFileSync(path, gunzipSync(readFileSync(join(FIXTURES, file))));
    return path;
  };
  return { cow: out(s.cow.file), origins: new Map(s.origins.map((o) => [o.name, out(o.file)])) };
}

/** Open as the CLI does: a store of one origin with its file, one of named origins by an opener. */
async function open(s: StoreEntry, files: Unpacked, opts: OpenOptions): Promise<Store> {
  const cow = await FileDevice.open(files.cow);
  try {
    if (s.formatVersion === SINGLE_ORIGIN_FORMAT) {
      const [o] = s.origins;
      const origin = await FileDevice.open(files.origins.get(o.name)!);
      return await Store.open(origin, cow, { ...opts, originIdentity: o.identity }).catch(async (e) => {
        await origin.close();
        throw e;
      });
    }
    return await Store.open(
      async (o) => {
        const entry = s.origins.find((e) => e.name === o.name);
        if (!entry) throw new Error(`the store names an origin ${o.name} the manifest does not`);
        expect({ path: o.path, size: o.size }).toEqual({ path: entry.path, size: entry.size });
        return { device: await FileDevice.open(files.origins.get(o.name)!), identity: entry.identity };
      },
      cow,
      opts,
    );
  } catch (e) {
    await cow.close().catch(() => undefined);
    throw e;
  }
}

function volumeOf(store: Store, o: OriginEntry): Volume {
  return store.named ? store.volume(o.name) : store.volume();
}

async function imageHash(v: Volume, image: string): Promise<string> {
  const buf = Buffer.alloc(v.originSize);
  await v.read(image, buf, 0);
  return sha256(buf);
}

/** The checker and the scrub find nothing wrong. */
async function expectSound(store: Store): Promise<void> {
  const report = await checkStoreReport(store.internals);
  expect(report.problems).toEqual([]);
  expect(report.dataBytes).toBeGreaterThan(0); // the fixtures hold copied data: it is checked
  expect(await scrubData(store.internals)).toEqual([]);
}

/** The store is the one the manifest describes: format, origins, schedules, snapshots, every image's bytes. */
async function expectAsManifest(store: Store, s: StoreEntry): Promise<void> {
  expect(store.internals.sb.formatVersion).toBe(s.formatVersion);
  expect(store.named).toBe(s.formatVersion > SINGLE_ORIGIN_FORMAT);
  expect(store.chunkSize).toBe(s.chunkSize);
  if (store.named) {
    expect(store.volumes().map((v) => v.name)).toEqual(s.origins.map((o) => o.name).sort());
    for (const o of s.origins) expect(store.originPath(o.name)).toBe(o.path);
  }
  for (const o of s.origins) {
    const v = volumeOf(store, o);
    expect(v.name).toBe(o.name);
    expect(v.originSize).toBe(o.size);
    expect(v.schedules().map(({ name, every, keep }) => ({ name, every, keep }))).toEqual(o.schedules);
    expect(v.snapshots().map(({ id, parent, schedule }) => ({ id, parent, schedule }))).toEqual(
      o.snapshots.map(({ id, parent, schedule }) => ({ id, parent, schedule })),
    );
    expect({ image: `${o.name}/origin`, sha256: await imageHash(v, ORIGIN_IMAGE) }).toEqual({
      image: `${o.name}/origin`,
      sha256: o.sha256,
    });
    for (const snap of o.snapshots) {
      expect({ image: `${o.name}/${snap.id}`, sha256: await imageHash(v, snap.id) }).toEqual({
        image: `${o.name}/${snap.id}`,
        sha256: snap.sha256,
      });
    }
  }
}

describe.each(manifest.stores.map((s) => [s.name, s] as const))('fixture %s', (_, s) => {
  test('opens read-only with today’s code, sound, and as the manifest says, changing nothing', async () => {
    const files = unpack(s, 'read');
    const cowBefore = sha256(readFileSync(files.cow));
    const store = await open(s, files, { readOnly: true });
    try {
      await expectSound(store);
      await expectAsManifest(store, s);
    } finally {
      await store.close();
    }
    expect(sha256(readFileSync(files.cow))).toBe(cowBefore);
  });

  test('stays usable: a write, a snapshot and a delete on each origin, then a reopen finds it all', async () => {
    const files = unpack(s, 'use');
    let store = await open(s, files, { commitInterval: 0 });
    const originNow = new Map<string, string>();
    try {
      await expectAsManifest(store, s);
      for (const o of s.origins) {
        const v = volumeOf(store, o);
        expect(await v.create('after-fixture')).toBe('after-fixture');
        const data = Buffer.alloc(s.chunkSize + 100, 0x5a);
        await v.write(ORIGIN_IMAGE, data, 3); // unaligned, across two chunks
        await v.delete(o.snapshots[0].id);
        const back = Buffer.alloc(data.length);
        await v.read(ORIGIN_IMAGE, back, 3);
        expect(back.equals(data)).toBe(true);
        originNow.set(o.name, await imageHash(v, ORIGIN_IMAGE));
      }
      await store.idle();
    } finally {
      await store.close();
    }

    store = await open(s, files, { commitInterval: 0 });
    try {
      await expectSound(store);
      expect(store.internals.sb.formatVersion).toBe(s.formatVersion); // a store of one origin stays format 1
      for (const o of s.origins) {
        const v = volumeOf(store, o);
        const kept = o.snapshots.slice(1);
        expect(v.snapshots().map(({ id, parent }) => ({ id, parent }))).toEqual([
          ...kept.map(({ id, parent }) => ({ id, parent: parent === o.snapshots[0].id ? '-' : parent })),
          { id: 'after-fixture', parent: 'origin' },
        ]);
        expect(await imageHash(v, 'after-fixture')).toBe(o.sha256); // the origin as the fixture had it
        expect(await imageHash(v, ORIGIN_IMAGE)).toBe(originNow.get(o.name));
        expect(originNow.get(o.name)).not.toBe(o.sha256);
        for (const snap of kept) expect(await imageHash(v, snap.id)).toBe(snap.sha256);
      }
    } finally {
      await store.close();
    }
  });
});
