// The reference model: the real store and plain buffers (one per image) driven by the
// same random operations, compared byte for byte after every step. A failure prints the
// seed and the steps so far; SEED=n replays one seed, SEEDS=n runs more.
import { MemoryDevice } from '../../src/block/memory-device';
import { Store } from '../../src/engine/store';
import { checkStore } from '../../src/engine/tools/check';
import { isStoreError } from '../../src/errors';
import { Random, seeds } from '../helpers/random';

interface Config {
  chunkSize: number;
  originSize: number;
  cowSize: number;
  cacheSize: number;
  steps: number;
  /** The COW is small enough to fill: NO_SPACE is allowed, and must change nothing. */
  mayFill?: boolean;
  /** Bytes of origin writes held for their copy-out (default: the store's). */
  writeBack?: number;
  /** Named origins in one store (default: one, unnamed); origins are then added and removed too. */
  origins?: number;
  /**
   * The full store's policy. `retire`: some creates are a schedule's, and those may vanish
   * (never another); `invalidate`: a snapshot may turn invalid (then it must read EIO, and
   * the model deletes it). Either way every other image matches exactly.
   */
  whenFull?: 'retire' | 'invalidate';
}

const SMALL: Config = { chunkSize: 4096, originSize: 24 * 4096, cowSize: 4 << 20, cacheSize: 16 * 4096, steps: 250 };
// chunks of 8 KiB and an origin that ends inside a chunk
const ODD: Config = {
  chunkSize: 8192,
  originSize: 11 * 8192 + 3000,
  cowSize: 6 << 20,
  cacheSize: 24 * 4096,
  steps: 200,
};

// a COW that fills up: writes, creates and rollbacks meet NO_SPACE
const FULL: Config = {
  chunkSize: 4096,
  originSize: 32 * 4096,
  cowSize: 150 * 4096,
  cacheSize: 16 * 4096,
  steps: 250,
  mayFill: true,
};

/** The store's origins, each with its plain model: one image per name. */
class Origin {
  images = new Map<string, Buffer>();
  constructor(
    readonly name: string, // "" in a store of one origin
    readonly image: Buffer, // the origin file's bytes, kept across reopens
  ) {
    this.images.set('origin', Buffer.from(image));
  }
}

/** Rollbacks whose origin was written while their copying still went on, over all seeds run. */
let duringCopy = 0;
/** Snapshots a full store retired or made invalid, over all seeds run. */
const fullEvents = { retired: 0, invalidated: 0 };

async function runSeed(seed: number, cfg: Config): Promise<number> {
  const rnd = new Random(seed);
  const named = (cfg.origins ?? 1) > 1;
  let originsMade = 0; // names are never reused
  const newOrigin = () => new Origin(named ? `o${originsMade++}` : '', rnd.bytes(cfg.originSize));
  const origins: Origin[] = [];
  for (let i = 0; i < (cfg.origins ?? 1); i++) origins.push(newOrigin());
  const cowImage = Buffer.alloc(cfg.cowSize);
  const named0 = origins.map((o) => ({ name: o.name, device: new MemoryDevice(o.image), path: `/dev/${o.name}` }));
  await Store.format(named ? named0 : named0[0].device, new MemoryDevice(cowImage), { chunkSize: cfg.chunkSize });
  const opts = { cacheSize: cfg.cacheSize, commitInterval: 0, writeBack: cfg.writeBack };
  const open = () =>
    Store.open(
      named
        ? async (o: { name: string }) => ({ device: new MemoryDevice(origins.find((x) => x.name === o.name)!.image) })
        : new MemoryDevice(origins[0].image),
      new MemoryDevice(cowImage),
      opts,
    );
  let store = await open();
  if (cfg.whenFull) await store.full.setPolicy(cfg.whenFull);
  const scheduled = new Set<string>(); // `${origin}/${name}` of the snapshots "a schedule" took
  const log: string[] = [];
  let names = 0;

  const range = (): [number, number] => {
    const pos = rnd.int(cfg.originSize);
    const max = Math.min(cfg.originSize - pos, rnd.next() < 0.3 ? 3 * cfg.chunkSize : cfg.chunkSize / 2);
    return [pos, 1 + rnd.int(max)];
  };
  // which origin a step acts on: drawn only when there are several, so that the seeds of
  // a store of one origin run as they always did
  const pick = (): Origin => (named ? rnd.pick(origins) : origins[0]);
  const volumeOf = (o: Origin) => store.volume(named ? o.name : undefined);
  const label = (o: Origin, image: string) => (named ? `${o.name}:${image}` : image);

  let refusals = 0;
  /** Run `op`; on NO_SPACE (where allowed) report false: the model must not change. */
  const attempt = async (op: () => Promise<unknown>): Promise<boolean> => {
    try {
      await op();
      return true;
    } catch (e) {
      if (cfg.mayFill && isStoreError(e, 'NO_SPACE')) {
        refusals++;
        log.push('  -> NO_SPACE');
        return false;
      }
      throw e;
    }
  };

  const expectError = async (code: string, op: () => Promise<unknown>) => {
    try {
      await op();
    } catch (e) {
      if (isStoreError(e) && e.code === code) return;
      throw e;
    }
    throw new Error(`expected ${code}`);
  };

  try {
    for (let step = 0; step < cfg.steps; step++) {
      const r = rnd.next();
      const o = pick();
      const vol = volumeOf(o);
      const model = o.images;
      const live = [...model.keys()].filter((k) => k !== 'origin');
      if (r < 0.3) {
        const [pos, len] = range();
        const data = rnd.bytes(len);
        log.push(`write ${label(o, 'origin')} ${pos}+${len}`);
        if (await attempt(() => vol.write('origin', data, pos))) data.copy(model.get('origin')!, pos);
      } else if (r < 0.45 && live.length) {
        const name = rnd.pick(live);
        const [pos, len] = range();
        const data = rnd.bytes(len);
        log.push(`write ${label(o, name)} ${pos}+${len}`);
        if (await attempt(() => vol.write(name, data, pos))) data.copy(model.get(name)!, pos);
      } else if (r < 0.52) {
        // a burst of writes to different chunks of different images (of any origin), all in flight at once
        const chunks = cfg.originSize / cfg.chunkSize;
        const used = new Set<string>();
        const writes: Array<Promise<void>> = [];
        for (let i = 0; i < 6; i++) {
          const w = pick();
          const c = rnd.int(Math.floor(chunks));
          if (used.has(`${w.name}/${c}`)) continue;
          used.add(`${w.name}/${c}`);
          const image = rnd.pick([...w.images.keys()]);
          const len = 1 + rnd.int(cfg.chunkSize);
          const data = rnd.bytes(len);
          const pos = c * cfg.chunkSize;
          log.push(`burst write ${label(w, image)} ${pos}+${len}`);
          writes.push(
            attempt(() => volumeOf(w).write(image, data, pos)).then((ok) => {
              if (ok) data.copy(w.images.get(image)!, pos);
            }),
          );
        }
        await Promise.all(writes);
      } else if (r < 0.67) {
        const from = rnd.next() < 0.6 || !live.length ? 'origin' : rnd.pick(live);
        const name = rnd.next() < 0.3 ? undefined : `s${names++}`;
        log.push(`create ${label(o, name ?? '(auto)')} from ${from}`);
        let made = '';
        const schedule = cfg.whenFull === 'retire' && from === 'origin' && name && rnd.next() < 0.7 ? 'auto' : '';
        if (await attempt(async () => (made = await vol.create(name, from, schedule)))) {
          model.set(made, Buffer.from(model.get(from)!));
          if (schedule) scheduled.add(`${o.name}/${made}`);
        }
      } else if (r < 0.79 && live.length) {
        const name = rnd.pick(live);
        log.push(`delete ${label(o, name)}`);
        await vol.delete(name);
        model.delete(name);
      } else if (r < 0.84 && live.length) {
        const name = rnd.pick(live);
        log.push(`rollback ${label(o, name)}`);
        if (await attempt(() => vol.rollback(name))) {
          model.set('origin', Buffer.from(model.get(name)!));
          // online: the origin is read and written while the copying goes on
          const copying = vol.status().rollback !== null;
          if (copying) duringCopy++;
          const writes: Array<Promise<void>> = [];
          const taken: Array<[number, number]> = [];
          for (let i = 1 + rnd.int(4); i > 0; i--) {
            const [pos, len] = range();
            // in flight together: ranges that overlap would land in either order
            if (taken.some(([p, l]) => pos < p + l && p < pos + len)) continue;
            taken.push([pos, len]);
            const data = rnd.bytes(len);
            log.push(`  write ${label(o, 'origin')} ${pos}+${len}${copying ? ' while copying' : ''}`);
            writes.push(
              attempt(() => vol.write('origin', data, pos)).then((ok) => {
                if (ok) data.copy(model.get('origin')!, pos);
              }),
            );
          }
          await Promise.all(writes);
        }
      } else if (r < 0.88) {
        log.push('reopen');
        await store.close();
        store = await open();
      } else if (r < 0.91) {
        log.push('idle + audit');
        await store.idle();
        const problems = await checkStore(store.internals);
        if (problems.length) throw new Error(`space audit: ${problems.slice(0, 5).join('; ')}`);
      } else if (r < 0.94) {
        log.push('sync');
        await (named && rnd.next() < 0.5 ? vol.sync() : store.sync());
      } else if (named && r < 0.96) {
        // an origin comes or goes; the store keeps at least one
        if (origins.length > 1 && rnd.next() < 0.5) {
          log.push(`remove origin ${o.name}`);
          await store.removeOrigin(o.name).catch(async (e: unknown) => {
            if (!isStoreError(e, 'BUSY')) throw e; // its rollback still copies: once it is done
            await store.idle();
            await store.removeOrigin(o.name);
          });
          origins.splice(origins.indexOf(o), 1);
        } else {
          const added = newOrigin();
          log.push(`add origin ${added.name}`);
          const device = new MemoryDevice(added.image);
          if (await attempt(() => store.addOrigin({ name: added.name, device, path: `/dev/${added.name}` })))
            origins.push(added);
        }
      } else {
        // bad input changes nothing
        const name = live.length ? rnd.pick(live) : 'nope';
        log.push(`bad input`);
        await expectError('NOT_FOUND', () => vol.delete('missing-one'));
        await expectError('INVALID_ARGUMENT', () => vol.create('../x'));
        await expectError('INVALID_ARGUMENT', () => vol.write('origin', Buffer.alloc(10), cfg.originSize - 5));
        if (live.length) await expectError('EXISTS', () => vol.create(name));
        await expectError('NOT_FOUND', () => vol.rollback('missing-one'));
        if (named) await expectError('NOT_FOUND', () => store.removeOrigin('missing-one'));
      }
      if (process.env.AUDIT) {
        const problems = await checkStore(store.internals);
        if (problems.length) throw new Error(`space audit: ${problems.slice(0, 5).join('; ')}`);
      }
      // compare every image of every origin, byte for byte
      const shown = store.volumes().map((v) => v.name);
      if (
        shown.join() !==
        origins
          .map((x) => x.name)
          .sort()
          .join()
      )
        throw new Error(`origins ${shown} != model ${origins.map((x) => x.name)}`);
      for (const each of origins) {
        for (const s of volumeOf(each).snapshots()) {
          if (!s.invalid) continue;
          if (cfg.whenFull !== 'invalidate') throw new Error(`snapshot ${s.id} is invalid`);
          // it reads EIO, and can only be deleted
          const err = await volumeOf(each)
            .read(s.id, Buffer.alloc(1), 0)
            .then(
              () => null,
              (e: unknown) => e,
            );
          if (!isStoreError(err, 'IO_ERROR')) throw new Error(`invalid snapshot ${s.id} reads`);
          log.push(`  -> ${label(each, s.id)} invalid: deleted`);
          fullEvents.invalidated++;
          await volumeOf(each).delete(s.id);
          each.images.delete(s.id);
        }
        if (cfg.whenFull === 'retire') {
          // what the full store retired: a schedule's snapshots alone
          const there = new Set(
            volumeOf(each)
              .snapshots()
              .map((x) => x.id),
          );
          for (const name of [...each.images.keys()].filter((k) => k !== 'origin' && !there.has(k))) {
            if (!scheduled.has(`${each.name}/${name}`)) throw new Error(`snapshot ${name}, a person's, vanished`);
            log.push(`  -> ${label(each, name)} retired`);
            fullEvents.retired++;
            each.images.delete(name);
          }
        }
        const listed = volumeOf(each)
          .snapshots()
          .map((x) => x.id)
          .sort();
        const expected = [...each.images.keys()].filter((k) => k !== 'origin').sort();
        if (listed.join() !== expected.join()) throw new Error(`${each.name} snapshots ${listed} != model ${expected}`);
        for (const [name, want] of each.images) {
          const got = Buffer.alloc(cfg.originSize);
          await volumeOf(each).read(name, got, 0);
          if (!got.equals(want)) {
            let at = 0;
            while (got[at] === want[at]) at++;
            throw new Error(
              `image ${label(each, name)} differs from the model at byte ${at} (chunk ${Math.floor(at / cfg.chunkSize)})`,
            );
          }
        }
      }
    }
    await store.idle();
    const problems = await checkStore(store.internals);
    if (problems.length) throw new Error(`space audit: ${problems.slice(0, 5).join('; ')}`);
    await store.close();
    return refusals;
  } catch (e) {
    const tail = log.slice(-15).map((l, i) => `  ${log.length - Math.min(15, log.length) + i}: ${l}`);
    throw new Error(
      `seed ${seed} failed at step ${log.length - 1}: ${(e as Error).message}\n${tail.join('\n')}\nreplay: SEED=${seed} npx jest test/model`,
    );
  }
}

describe('the store matches a plain model of every image', () => {
  test.each(seeds(12))('4 KiB chunks, seed %i', async (seed) => {
    await runSeed(seed, SMALL);
  });

  test('the origin was written while a rollback copied, in the seeds above', () => {
    if (!process.env.SEED) expect(duringCopy).toBeGreaterThan(0);
  });

  test.each(seeds(8, 1000))('8 KiB chunks, odd origin size, seed %i', async (seed) => {
    await runSeed(seed, ODD);
  });

  // room for two held chunks: writes wait for the drain; none: writes wait for their copy's commit
  test.each(seeds(6, 3000))('a write-back buffer of two chunks, seed %i', async (seed) => {
    await runSeed(seed, { ...SMALL, writeBack: 2 * 4096 });
  });

  test.each(seeds(6, 4000))('no write-back buffer, odd origin size, seed %i', async (seed) => {
    await runSeed(seed, { ...ODD, writeBack: 0 });
  });

  test.each(seeds(8, 2000))('a COW that fills up, seed %i', async (seed) => {
    const refusals = await runSeed(seed, FULL);
    if (!process.env.SEED) expect(refusals).toBeGreaterThan(0);
  });

  test.each(seeds(8, 5000))('three named origins in one store, added and removed, seed %i', async (seed) => {
    await runSeed(seed, { ...SMALL, origins: 3, steps: 300 });
  });

  // a full store's policies: the origin's writes go through, every snapshot left is exact
  test.each(seeds(6, 7000))('a COW that fills up, retiring scheduled snapshots, seed %i', async (seed) => {
    await runSeed(seed, { ...FULL, whenFull: 'retire' });
  });

  test.each(seeds(6, 7100))('a COW that fills up, invalidating snapshots, seed %i', async (seed) => {
    await runSeed(seed, { ...FULL, whenFull: 'invalidate' });
  });

  test.each(seeds(4, 7200))('two named origins filling up, invalidating snapshots, seed %i', async (seed) => {
    await runSeed(seed, { ...FULL, origins: 2, steps: 300, whenFull: 'invalidate' });
  });

  test('the seeds above retired and invalidated snapshots', () => {
    if (process.env.SEED) return;
    expect(fullEvents.retired).toBeGreaterThan(0);
    expect(fullEvents.invalidated).toBeGreaterThan(0);
  });

  // the origins share the space: one's copy-outs use what another's deletes freed
  test.each(seeds(6, 6000))('two named origins in a COW that fills up, seed %i', async (seed) => {
    const refusals = await runSeed(seed, { ...FULL, origins: 2, steps: 300 });
    if (!process.env.SEED) expect(refusals).toBeGreaterThan(0);
  });
});
