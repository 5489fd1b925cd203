import { VersionKind, VersionState } from '../../../src/format/records';
import { VersionTree } from '../../../src/snap/version-tree';
import { planPass } from '../../../src/engine/background/reclaim';

describe('version tree', () => {
  test('a snapshot freezes its source into an interior version with two leaves', () => {
    const t = new VersionTree([], 1);
    t.addOrigin(0, 1);
    const o = t.originLeaf(0);
    const [cont, snap] = t.split(o, VersionKind.SNAPSHOT, 's1', 'origin', 2);
    expect(o.kind).toBe(VersionKind.INTERIOR);
    expect(t.originLeaf(0)).toBe(cont);
    expect(t.snapshot(0, 's1')).toBe(snap);
    expect(cont.id).toBeGreaterThan(o.id);
    expect(t.isAncestorOrSelf(o, cont) && t.isAncestorOrSelf(o, snap)).toBe(true);
    expect(t.isAncestorOrSelf(cont, snap) || t.isAncestorOrSelf(snap, cont)).toBe(false);
  });

  test('ancestor labels stay exact through 30,000-deep chains and relabels', () => {
    const t = new VersionTree([], 1);
    t.addOrigin(0, 1);
    const spine = [t.originLeaf(0)];
    const snaps = [];
    for (let i = 0; i < 30_000; i++) {
      const [cont, snap] = t.split(t.originLeaf(0), VersionKind.SNAPSHOT, `s${i}`, 'origin', i);
      spine.push(cont);
      snaps.push(snap);
    }
    // spot checks: every spine version is an ancestor of everything below it, and of no sibling
    for (const i of [0, 1, 50, 999, 15_000, 29_998]) {
      expect(t.isAncestorOrSelf(spine[i], t.originLeaf(0))).toBe(true);
      expect(t.isAncestorOrSelf(spine[i], snaps[29_999])).toBe(true);
      expect(t.isAncestorOrSelf(spine[i + 1], snaps[i])).toBe(false);
      expect(t.isAncestorOrSelf(snaps[i], snaps[i + 1])).toBe(false);
    }
    // and down a chain of snapshots of snapshots
    let leaf = t.snapshot(0, 's10')!;
    const top = leaf;
    for (let i = 0; i < 500; i++) leaf = t.split(leaf, VersionKind.SNAPSHOT, `d${i}`, 'x', 0)[1];
    expect(t.isAncestorOrSelf(top, leaf)).toBe(true);
    expect(t.isAncestorOrSelf(snaps[11], leaf)).toBe(false);
  });

  test('a reclaim pass removes deleted leaves and merges their parents into the heir', () => {
    const t = new VersionTree([], 1);
    t.addOrigin(0, 1);
    const root = t.originLeaf(0);
    const [, s1] = t.split(root, VersionKind.SNAPSHOT, 's1', 'origin', 2);
    const mid = t.originLeaf(0);
    const [o2, s2] = t.split(mid, VersionKind.SNAPSHOT, 's2', 'origin', 3);
    t.setState(s1, VersionState.RECLAIMING);
    const plan = planPass(t);
    expect(plan.get(s1.id)).toBeNull();
    expect(plan.get(root.id)).toBe(mid); // root keeps mid as its only child
    expect(plan.has(mid.id)).toBe(false);
    t.setState(s2, VersionState.RECLAIMING);
    const both = planPass(t);
    expect(both.get(root.id)).toBe(o2); // the chain root > mid collapses into the origin leaf
    expect(both.get(mid.id)).toBe(o2);
  });
});
