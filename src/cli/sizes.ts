// Sizes on the command line: bytes, or a number with K, M, G or T (powers of 1024).
import { StoreError } from '../errors';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw StoreError.invalid(`bad size "${text}": use bytes or a number with K, M, G or T`);
  return Number(m[1]) * UNITS[m[2].toUpperCase()];
}

/** An option that takes a size, shown with its default in bytes. */
export function sizeOption(desc: string, fallback: number) {
  return { type: 'string' as const, describe: desc, default: String(fallback), coerce: (v: string) => parseSize(v) };
}

/** Bytes as MiB to one decimal, without the unit: 1572864 -> "1.5". */
export function mebibytes(n: number): string {
  return (n / UNITS.M).toFixed(1);
}
