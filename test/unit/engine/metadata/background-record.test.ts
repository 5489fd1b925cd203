// BackgroundRecord: each part set by its owner is what the superblock holds after the
// next commit, and what a reopened store's owners start from.
import { MemoryDevice } from '../../../../src/block/memory-device';
import { BackgroundRecord } from '../../../../src/engine/metadata/background-record';
import { Store } from '../../../../src/engine/store';

describe('background record', () => {
  test('its fields are the parts, and a change is pending until a commit seals it', () => {
    const r = new BackgroundRecord();
    expect(r.hasChanges).toBe(false);
    expect(r.fields()).toEqual({
      reclaimRunning: false,
      reclaimCursor: 0,
      rollbackSource: 0,
      rollbackOrigin: 0,
      rollbackCursor: 0,
      schedules: [],
      whenFull: 0,
    });
    r.reclaim.set({ running: true, cursor: 77 });
    r.rollback.set({ source: 9, origin: 2, cursor: 5 });
    r.whenFull.set(3);
    expect(r.hasChanges).toBe(true);
    const again = new BackgroundRecord(r.fields());
    expect(again.reclaim.value).toEqual({ running: true, cursor: 77 });
    expect(again.rollback.value).toEqual({ source: 9, origin: 2, cursor: 5 });
    expect(again.whenFull.value).toBe(3);
    r.sealed();
    expect(r.hasChanges).toBe(false);
  });

  test('schedules set through a volume survive a reopen', async () => {
    const origin = new MemoryDevice(1 << 20);
    const cow = new MemoryDevice(8 << 20);
    await Store.format(origin, cow);
    let store = await Store.open(origin, cow, { commitInterval: 0 });
    await store.volume().setSchedule({ name: 'hourly', every: 3600, keep: 24 });
    await store.close();
    store = await Store.open(new MemoryDevice(origin.image()), new MemoryDevice(cow.image()), { commitInterval: 0 });
    try {
      expect(store.internals.record.schedules.value).toEqual([{ name: 'hourly', every: 3600, keep: 24, origin: 0 }]);
      expect(store.volume().schedules()).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
