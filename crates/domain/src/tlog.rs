//! The audit trail's Merkle tree, exactly as RFC 9162 §2.1 defines it: leaf and node
//! hashes, the tree head of any size, inclusion proofs and consistency proofs, and their
//! verification.
//!
//! The tree is read through [`Nodes`]: the hash of each *complete* subtree, `(level,
//! index)` covering leaves `index·2^level .. (index+1)·2^level`. A log stores these as
//! leaves arrive (about two a leaf), so a tree head or a proof of any size reads
//! O(log n) of them and never rehashes the whole log.

use sha2::{Digest, Sha256};

/// A SHA-256 hash in the tree.
pub type Hash = [u8; 32];

/// RFC 9162 §2.1.1: the hash of a leaf, `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 9162 §2.1.1: the hash of an interior node, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The head of the empty tree: the hash of no bytes.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Reads the hash of a complete subtree: `level` 0 is a leaf.
pub trait Nodes {
    type Error;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two below `n` (`n` > 1): where RFC 9162 splits a tree of `n`.
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `lo..hi`, where `lo` is a multiple of the largest power of two not
/// above `hi - lo` (always so in RFC 9162's recursion from 0).
fn range_hash<N: Nodes>(nodes: &mut N, lo: u64, hi: u64) -> Result<Hash, N::Error> {
    let n = hi - lo;
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return nodes.node(level, lo >> level);
    }
    let k = split(n);
    let left = range_hash(nodes, lo, lo + k)?;
    let right = range_hash(nodes, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// MTH of the first `size` leaves (RFC 9162 §2.1.1).
pub fn root<N: Nodes>(nodes: &mut N, size: u64) -> Result<Hash, N::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1),
/// from the leaf upwards. `index` must be below `size`.
pub fn inclusion_proof<N: Nodes>(
    nodes: &mut N,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, N::Error> {
    assert!(index < size, "leaf {index} is not in a tree of {size}");
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<N: Nodes>(
    nodes: &mut N,
    m: u64,
    lo: u64,
    hi: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let n = hi - lo;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(nodes, m, lo, lo + k, proof)?;
        proof.push(range_hash(nodes, lo + k, hi)?);
    } else {
        path(nodes, m - k, lo + k, hi, proof)?;
        proof.push(range_hash(nodes, lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` (RFC 9162
/// §2.1.4.1). Empty when `old` is 0 or equals `new`. `old` must not exceed `new`.
pub fn consistency_proof<N: Nodes>(
    nodes: &mut N,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, N::Error> {
    assert!(
        old <= new,
        "a tree of {old} is not a prefix of one of {new}"
    );
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(nodes, old, 0, new, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<N: Nodes>(
    nodes: &mut N,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), N::Error> {
    let n = hi - lo;
    if m == n {
        if !whole {
            proof.push(range_hash(nodes, lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, lo, lo + k, whole, proof)?;
        proof.push(range_hash(nodes, lo + k, hi)?);
    } else {
        subproof(nodes, m - k, lo + k, hi, false, proof)?;
        proof.push(range_hash(nodes, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: whether `proof` shows the leaf `leaf` at `index` in the tree of
/// `size` leaves whose head is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `old` leaves with head `old_root`
/// to be a prefix of the tree of `new` leaves with head `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // The empty tree is a prefix of every tree; there is nothing to prove.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

/// The complete-subtree hashes that appending leaf number `index` (0-based) completes,
/// given its hash: the leaf itself at level 0, then each node it closes, as `(level,
/// index, hash)`. `left` reads an already stored left sibling.
pub fn nodes_closed_by<E>(
    index: u64,
    leaf: Hash,
    mut left: impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<(u32, u64, Hash)>, E> {
    let mut closed = vec![(0, index, leaf)];
    let (mut level, mut i, mut hash) = (0u32, index, leaf);
    // A node at (level, i) with i odd is a right child: its parent is now complete.
    while i & 1 == 1 {
        let sibling = left(level, i - 1)?;
        hash = node_hash(&sibling, &hash);
        level += 1;
        i >>= 1;
        closed.push((level, i, hash));
    }
    Ok(closed)
}

/// The right edge of a tree built leaf by leaf: the last complete subtree at each level.
/// It names the subtrees each new leaf closes and hashes the head of the tree so far, in
/// O(log n) memory, so a verifier can stream a log of any length.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    last: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the subtrees it completes, itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let last = &self.last;
        let closed = nodes_closed_by(self.size, leaf, |level, _| {
            Ok::<_, std::convert::Infallible>(last[level as usize])
        })
        .unwrap_or_else(|never| match never {});
        for &(level, _, hash) in &closed {
            let level = level as usize;
            if self.last.len() <= level {
                self.last.push(hash);
            } else {
                self.last[level] = hash;
            }
        }
        self.size += 1;
        closed
    }

    /// The head of the tree so far: the complete subtrees of its size's binary
    /// decomposition, folded right to left as RFC 9162's recursion does.
    pub fn root(&self) -> Hash {
        let mut root: Option<Hash> = None;
        for level in 0..self.last.len() {
            if self.size >> level & 1 == 1 {
                let left = self.last[level];
                root = Some(match root {
                    None => left,
                    Some(right) => node_hash(&left, &right),
                });
            }
        }
        root.unwrap_or_else(empty_root)
    }
}

/// Every complete subtree of a list of leaf hashes, in memory: for tests, and for
/// checking a stored tree against leaves recomputed from the events.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> Self {
        MemoryTree::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn push(&mut self, leaf: Hash) {
        let index = self.size();
        let levels = &self.levels;
        let closed = nodes_closed_by(index, leaf, |level, i| {
            Ok::<_, std::convert::Infallible>(levels[level as usize][i as usize])
        })
        .unwrap_or_else(|never| match never {});
        for (level, _, hash) in closed {
            let level = level as usize;
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
        }
    }
}

impl Nodes for MemoryTree {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        Ok(self.levels[level as usize][index as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hex_text: &str) -> Hash {
        hex::decode(hex_text).unwrap().try_into().unwrap()
    }

    /// RFC 6962's test leaves, as every CT implementation's tests carry them.
    fn reference_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| hex::decode(x).unwrap())
        .collect()
    }

    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_tree() -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in reference_leaves() {
            tree.push(leaf_hash(&leaf));
        }
        tree
    }

    #[test]
    fn tree_heads_match_rfc_6962() {
        let mut tree = reference_tree();
        for (size, expected) in ROOTS.iter().enumerate() {
            assert_eq!(
                root(&mut tree, size as u64).unwrap(),
                h(expected),
                "size {size}"
            );
        }
    }

    #[test]
    fn proofs_match_the_published_vectors() {
        let mut tree = reference_tree();
        let inclusion: [(u64, u64, &[&str]); 3] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (0, 1, &[]),
        ];
        for (index, size, expected) in inclusion {
            let proof = inclusion_proof(&mut tree, index, size).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            assert_eq!(proof, expected, "inclusion {index} in {size}");
        }
        let consistency: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, expected) in consistency {
            let proof = consistency_proof(&mut tree, old, new).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
            assert_eq!(proof, expected, "consistency {old} to {new}");
        }
    }

    /// Every proof the tree makes verifies, in every size up to 70 (every shape of the
    /// recursion), and a proof for another leaf, size or root does not.
    #[test]
    fn every_proof_verifies_and_no_other_does() {
        let mut tree = MemoryTree::new();
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for leaf in &leaves {
            tree.push(*leaf);
        }
        let roots: Vec<Hash> = (0..=70).map(|n| root(&mut tree, n).unwrap()).collect();
        for size in 1..=70u64 {
            let r = roots[size as usize];
            for index in 0..size {
                let proof = inclusion_proof(&mut tree, index, size).unwrap();
                let leaf = leaves[index as usize];
                assert!(
                    verify_inclusion(index, size, &leaf, &proof, &r),
                    "{index} in {size}"
                );
                let other = leaves[((index + 1) % 70) as usize];
                assert!(!verify_inclusion(index, size, &other, &proof, &r));
                if size > 1 {
                    assert!(!verify_inclusion(
                        (index + 1) % size,
                        size,
                        &leaf,
                        &proof,
                        &r
                    ));
                }
            }
            for old in 0..=size {
                let proof = consistency_proof(&mut tree, old, size).unwrap();
                let o = roots[old as usize];
                assert!(
                    verify_consistency(old, size, &o, &r, &proof),
                    "{old} to {size}"
                );
                if old > 0 && old < size {
                    let wrong = roots[(old - 1) as usize];
                    assert!(!verify_consistency(old, size, &wrong, &r, &proof));
                    assert!(!verify_consistency(old, size, &o, &roots[0], &proof));
                }
            }
        }
    }

    #[test]
    fn the_frontier_agrees_with_the_stored_tree() {
        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for i in 0u32..100 {
            let leaf = leaf_hash(&i.to_le_bytes());
            tree.push(leaf);
            for (level, index, hash) in frontier.push(leaf) {
                assert_eq!(tree.node(level, index).unwrap(), hash);
            }
            assert_eq!(frontier.root(), root(&mut tree, u64::from(i) + 1).unwrap());
        }
    }

    /// The stored nodes are the subtrees RFC 9162 hashes: the head of every size equals
    /// the plain recursive definition over the leaves.
    #[test]
    fn stored_subtrees_give_the_recursive_head() {
        fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => empty_root(),
                1 => leaves[0],
                n => {
                    let k = split(n as u64) as usize;
                    node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&[i as u8, 7])).collect();
        let mut tree = MemoryTree::new();
        for (n, leaf) in leaves.iter().enumerate() {
            tree.push(*leaf);
            assert_eq!(root(&mut tree, n as u64 + 1).unwrap(), mth(&leaves[..=n]));
        }
    }
}
