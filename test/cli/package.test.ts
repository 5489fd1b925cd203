// The library is importable by its package name, as README.md's "The store as a library"
// shows it: from another directory, through node_modules, the compiled entry point (npm
// test compiles first), and its calls work.
import { execFileSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '../..');

describe('the package', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'snapfuse-package-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'snapfuse'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("require('snapfuse') gives the store, its devices and its errors, and they work", () => {
    const script = `
      const { Store, MemoryDevice, StoreError, isStoreError, sendSnapshot } = require('snapfuse');
      (async () => {
        const origin = new MemoryDevice(1 << 20);
        const cow = new MemoryDevice(8 << 20);
        await Store.format(origin, cow, { chunkSize: 64 * 1024 });
        const store = await Store.open(origin, cow, { commitInterval: 0 });
        const disk = store.volume();
        await disk.write('origin', Buffer.alloc(4096, 1), 0);
        await disk.create('before');
        await disk.write('origin', Buffer.alloc(4096, 2), 0);
        const buf = Buffer.alloc(4096);
        await disk.read('before', buf, 0);
        let refused = '';
        try { await disk.create('before'); } catch (e) { refused = isStoreError(e) && e instanceof StoreError ? e.code : 'other'; }
        await store.close();
        console.log(JSON.stringify({ before: buf[0], refused, send: typeof sendSnapshot }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ before: 1, refused: 'EXISTS', send: 'function' });
  });

  test('the entry point is the one package.json names, with its types', () => {
    const pkg = require(join(ROOT, 'package.json'));
    const found = execFileSync(process.execPath, ['-p', "require.resolve('snapfuse')"], { cwd: dir, encoding: 'utf8' });
    expect(found.trim()).toBe(join(ROOT, pkg.main)); // node follows the link to the package itself
    expect(pkg.types).toBe(pkg.main.replace(/\.js$/, '.d.ts'));
    expect(existsSync(join(ROOT, pkg.types))).toBe(true);
  });
});
