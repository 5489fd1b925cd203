// Sizes on the command line: bytes, or a number with K, M, G or T (powers of 1024).
import { StoreError } from '../errors';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw StoreError.invalid(`bad size "${text}": use bytes or a number with K, M, G or T`);
  return Number(m[1]) * UNITS[m[2].toUpperCase()];
}
