// CowChunks: a COW chunk is returned only if it matches the crc32c its entry keeps; one
// seen sound is remembered by block and crc, so a block rewritten with other data is
// checked again.
import { crc32c } from '@node-rs/crc32';
import { MemoryDevice } from '../../../../src/block/memory-device';
import { BLOCK_SIZE } from '../../../../src/format/layout';
import { CowChunks } from '../../../../src/engine/io/cow-chunks';
import { isStoreError } from '../../../../src/errors';

const LENGTH = 4 * BLOCK_SIZE;

describe('COW chunk reads', () => {
  test('a sound chunk is read and remembered; a rotten one is an error and never remembered', async () => {
    const cow = new MemoryDevice(64 * BLOCK_SIZE);
    const chunks = new CowChunks(cow);
    const data = Buffer.alloc(LENGTH, 0x5a);
    await cow.write(data, 8 * BLOCK_SIZE);
    const crc = crc32c(data);

    expect(chunks.isVerified(8, crc)).toBe(false);
    expect((await chunks.read(8, LENGTH, crc)).equals(data)).toBe(true);
    expect(chunks.isVerified(8, crc)).toBe(true);

    // the block rewritten with other data: its new crc has not been seen sound
    const other = Buffer.alloc(LENGTH, 0x33);
    await cow.write(other, 8 * BLOCK_SIZE);
    expect(chunks.isVerified(8, crc32c(other))).toBe(false);

    // read against the old crc: the data rotted, as far as the entry knows
    let refused: unknown = null;
    await chunks.read(8, LENGTH, crc).catch((e: unknown) => (refused = e));
    expect(isStoreError(refused, 'CORRUPTION')).toBe(true);
    expect((refused as Error).message).toContain('COW chunk at block 8');

    // into a caller's buffer
    const into = Buffer.alloc(LENGTH);
    await chunks.read(8, LENGTH, crc32c(other), into);
    expect(into.equals(other)).toBe(true);
    expect(chunks.isVerified(8, crc32c(other))).toBe(true);
  });
});
