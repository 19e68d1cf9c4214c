// The jge tree that costs the fewest tests for a given call mix: an optimal alphabetic binary
// tree over the segments (their order is fixed by the numbers), by Knuth's O(n²) dynamic program
// (the best split of [i, j] lies between the best splits of [i, j-1] and [i+1, j]). The tree
// has one jge per boundary whatever its shape, so it is never larger than the balanced one.

/** Weight every segment gets on top of its calls, as a share of all calls split evenly: unseen segments stay balanced among themselves instead of sinking arbitrarily deep. */
const UNSEEN_SHARE = 0.01;

/**
 * For leaves with these call counts, the split of each span [lo, hi] (lo < hi): the first leaf
 * of its jge branch. Undefined when no call falls in any leaf (the balanced tree is then as good
 * as any).
 */
export function weightedSplits(counts: readonly number[]): ((lo: number, hi: number) => number) | undefined {
  const n = counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const floor = (total * UNSEEN_SHARE) / n;
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + counts[i]! + floor;
  // cost[i*n+j]: weighted tests below span [i, j]; root[i*n+j]: its best split.
  const cost = new Float64Array(n * n);
  const root = new Int32Array(n * n);
  for (let i = 0; i + 1 < n; i++) {
    cost[i * n + i + 1] = prefix[i + 2]! - prefix[i]!;
    root[i * n + i + 1] = i + 1;
  }
  for (let len = 2; len < n; len++) {
    for (let i = 0; i + len < n; i++) {
      const j = i + len;
      let best = Infinity;
      let bestK = -1;
      for (let k = root[i * n + j - 1]!; k <= root[(i + 1) * n + j]!; k++) {
        const c = (k - 1 > i ? cost[i * n + k - 1]! : 0) + (k < j ? cost[k * n + j]! : 0);
        if (c < best) { best = c; bestK = k; }
      }
      cost[i * n + j] = best + prefix[j + 1]! - prefix[i]!;
      root[i * n + j] = bestK;
    }
  }
  return (lo, hi) => root[lo * n + hi]!;
}
