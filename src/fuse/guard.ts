// One guard over every FUSE operation. fuse-native calls an operation from its native
// callback: an exception thrown there, or a second answer to one request, ends the
// process and leaves a dead mount. Guarded, a throw answers its request (the
// StoreError's errno, else EIO), is logged with its stack under DEBUG=snapfuse:*, and is
// reported (the status's error line); every request is answered exactly once.
//
// A test-only hook makes an operation fail as a bug would: SNAPFUSE_TEST_FAULT=
// "<throw|reject>:<op>:<path>[:<times>]" (several, comma-separated) throws a plain Error
// in the operation, or leaves a rejected promise nobody awaits, the first <times>
// (default 1) calls of <op> on <path> (the mount's own path, e.g. /control).
import createDebug from 'debug';
import { constants as osConstants } from 'os';
import type { Operations } from 'fuse-native';
import { StoreError } from '../errors';

const debug = createDebug('snapfuse:guard');

/** -errno for FUSE, from our error model (anything unexpected is EIO). */
export function errnoOf(e: unknown): number {
  const name = e instanceof StoreError ? e.errno : 'EIO';
  return -((osConstants.errno as Record<string, number>)[name] ?? osConstants.errno.EIO);
}

/** Told of each failure the guard caught: the operation, its path, the error. */
export type Report = (op: string, path: string, e: unknown) => void;

type Callback = (...result: unknown[]) => void;

interface TestFault {
  kind: 'throw' | 'reject';
  op: string;
  path: string;
  left: number;
}

function testFaults(spec = process.env.SNAPFUSE_TEST_FAULT ?? ''): TestFault[] {
  const out: TestFault[] = [];
  for (const one of spec.split(',')) {
    const m = /^(throw|reject):([a-z]+):(\/[^:]*)(?::(\d+))?$/.exec(one);
    if (m) out.push({ kind: m[1] as TestFault['kind'], op: m[2], path: m[3], left: m[4] ? Number(m[4]) : 1 });
  }
  return out;
}

/** `ops`, each operation guarded; every operation takes the path first and the callback last. */
export function guard(ops: Operations, report: Report, onRequest?: (op: string, path: string) => void): Operations {
  const faults = testFaults();
  const out: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops) as Array<[string, (...args: unknown[]) => void]>) {
    out[name] = (...args: unknown[]) => {
      const path = typeof args[0] === 'string' ? args[0] : '';
      const cb = args[args.length - 1] as Callback;
      let answered = false;
      const once: Callback = (...result) => {
        if (answered) return void debug('%s %s answered twice', name, path);
        answered = true;
        cb(...result);
      };
      try {
        onRequest?.(name, path);
        const fault = faults.find((f) => f.left > 0 && f.op === name && f.path === path);
        if (fault) {
          fault.left--;
          const e = new Error(`test fault in ${name} ${path}`);
          if (fault.kind === 'throw') throw e;
          void Promise.reject(e);
        }
        op(...args.slice(0, -1), once);
      } catch (e) {
        debug('%s %s threw: %s', name, path, (e as Error)?.stack ?? e);
        report(name, path, e);
        try {
          if (!answered) once(errnoOf(e));
        } catch (again) {
          debug('%s %s: the answer failed too: %s', name, path, again);
        }
      }
    };
  }
  return out as Operations;
}
