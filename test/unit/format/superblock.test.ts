import { BLOCK_SIZE } from '../../../src/format/layout';
import { chooseSuperblock, FORMAT_VERSION, packSuperblock, Superblock } from '../../../src/format/superblock';

function sb(seq: number, over: Partial<Superblock> = {}): Superblock {
  return {
    seq,
    formatVersion: FORMAT_VERSION,
    uuid: Buffer.alloc(16, 1),
    chunkSize: 65536,
    totalBlocks: 1000,
    freeBlocks: 900,
    spaceIndexRoot: 2,
    versionRoot: 3,
    exceptionRoot: 4,
    originRoot: 5,
    nextVersion: 2,
    reclaimRunning: false,
    reclaimCursor: 0,
    rollbackSource: 0,
    rollbackOrigin: 0,
    rollbackCursor: 0,
    created: 1,
    committed: 2,
    schedules: [],
    whenFull: 0,
    ...over,
  };
}

describe('superblock choice', () => {
  test('schedules survive a round trip; a block from before them reads as none', () => {
    const schedules = [
      { name: 'hourly', every: 3600, keep: 24, origin: 0 },
      { name: 'frequent', every: 300, keep: 288, origin: 3 },
    ];
    expect(chooseSuperblock([packSuperblock(sb(8, { schedules })), packSuperblock(sb(7))], 'cow').schedules).toEqual(
      schedules,
    );
    expect(chooseSuperblock([packSuperblock(sb(8)), packSuperblock(sb(7))], 'cow').schedules).toEqual([]);
  });

  test('the sound copy with the higher seq wins', () => {
    const copies = [packSuperblock(sb(8)), packSuperblock(sb(7))];
    expect(chooseSuperblock(copies, 'cow').seq).toBe(8);
  });

  test('a torn newer copy falls back to the older one', () => {
    const newer = packSuperblock(sb(9));
    newer.fill(0xaa, 512, 1024); // one sector of the write did not land
    expect(chooseSuperblock([packSuperblock(sb(8)), newer], 'cow').seq).toBe(8);
  });

  test('a flipped bit is caught by the checksum', () => {
    const a = packSuperblock(sb(8));
    const b = packSuperblock(sb(7));
    a[100] ^= 1;
    b[200] ^= 4;
    expect(() => chooseSuperblock([a, b], 'cow')).toThrow(/both superblocks are damaged.*checksum/);
  });

  test('a copy found at the wrong place is refused', () => {
    // seq 8 belongs at block 0; put it at block 1
    expect(() => chooseSuperblock([Buffer.alloc(BLOCK_SIZE), packSuperblock(sb(8))], 'cow')).toThrow(
      /belongs at block 0/,
    );
  });

  test('zeros or junk are not a store', () => {
    expect(() => chooseSuperblock([Buffer.alloc(BLOCK_SIZE), Buffer.alloc(BLOCK_SIZE)], 'cow')).toThrow(
      expect.objectContaining({ code: 'NOT_A_STORE' }),
    );
    const junk = Buffer.alloc(BLOCK_SIZE, 0x5a);
    expect(() => chooseSuperblock([junk, junk], 'cow')).toThrow(expect.objectContaining({ code: 'NOT_A_STORE' }));
  });

  test('a newer format is refused with NEWER_FORMAT', () => {
    const copies = [packSuperblock(sb(2, { formatVersion: FORMAT_VERSION + 1 })), Buffer.alloc(BLOCK_SIZE)];
    expect(() => chooseSuperblock(copies, 'cow')).toThrow(expect.objectContaining({ code: 'NEWER_FORMAT' }));
  });

  test('fields round-trip', () => {
    const want = sb(12, { reclaimRunning: true, reclaimCursor: 2 ** 45 + 3, rollbackSource: 77, rollbackCursor: 9 });
    const got = chooseSuperblock([packSuperblock(want), Buffer.alloc(BLOCK_SIZE)], 'cow');
    expect(got).toEqual(want);
  });
});
