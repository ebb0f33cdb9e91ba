//! Disjoint sets over dense ids: the one union-find behind region labelling, the streamed change
//! detector's grouping of runs across strips, the drone stitcher's joins across tiles and the
//! segmentation's merges.

/// Disjoint sets of the ids `0..len()`, with path halving on `find`.
#[derive(Debug, Clone, Default)]
pub struct DisjointSets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl DisjointSets {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        DisjointSets { parent: (0..n).collect(), size: vec![1; n] }
    }

    /// Adds a singleton and returns its id.
    pub fn push(&mut self) -> usize {
        let id = self.parent.len();
        self.parent.push(id);
        self.size.push(1);
        id
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Number of ids in the set rooted at `root` (meaningful for roots only).
    pub fn size(&self, root: usize) -> usize {
        self.size[root]
    }

    /// The root of `x`'s set.
    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            let grand = self.parent[self.parent[x]];
            self.parent[x] = grand;
            x = grand;
        }
        x
    }

    /// Joins the sets of `a` and `b` under the lower of their roots: the set keeps the id first seen,
    /// so ids numbered in scan order stay in that order whatever the joins. Returns the root.
    pub fn join_to_lower(&mut self, a: usize, b: usize) -> usize {
        let (ra, rb) = (self.find(a), self.find(b));
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        if lo != hi {
            self.parent[hi] = lo;
            self.size[lo] += self.size[hi];
        }
        lo
    }

    /// Joins two roots under the one of the larger set (the first on a tie), which keeps finds short
    /// when sets grow by repeated merges. Returns the new root.
    pub fn join_roots_by_size(&mut self, a: usize, b: usize) -> usize {
        let (big, small) = if self.size[a] >= self.size[b] { (a, b) } else { (b, a) };
        self.parent[small] = big;
        self.size[big] += self.size[small];
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_to_the_lower_root_keep_first_ids() {
        let mut sets = DisjointSets::new(5);
        assert_eq!(sets.join_to_lower(4, 2), 2);
        assert_eq!(sets.join_to_lower(3, 4), 2);
        assert_eq!(sets.find(4), 2);
        assert_eq!(sets.find(3), 2);
        assert_eq!(sets.find(1), 1);
        assert_eq!(sets.push(), 5);
        assert_eq!(sets.join_to_lower(5, 0), 0);
        assert_eq!(sets.join_to_lower(2, 5), 0);
        assert!((0..6).filter(|&x| x != 1).all(|x| sets.find(x) == 0));
        assert_eq!(sets.len(), 6);
    }

    #[test]
    fn joins_by_size_root_the_larger_set() {
        let mut sets = DisjointSets::new(4);
        let r = sets.join_roots_by_size(0, 1);
        assert_eq!(r, 0);
        let r = sets.join_roots_by_size(2, r);
        assert_eq!(r, 0, "the pair outweighs the singleton");
        assert_eq!(sets.find(2), 0);
        assert_eq!(sets.size(0), 3);
        assert_eq!(sets.join_roots_by_size(3, 3 - 3), 0);
    }
}
