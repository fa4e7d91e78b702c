//! RFC 6962 / RFC 9162 Merkle trees: the hashes, roots, inclusion and consistency proofs, and the compact
//! append-only state ([`Frontier`]) that lets the ledger keep one tree over every transaction ever ordered.
//!
//! The ledger-wide tree has millions of leaves, so nothing here needs all of them in memory. Everything is
//! computed from *perfect nodes*: the root of the aligned perfect subtree at `(level k, index i)` covers the
//! leaves `[i·2^k, (i+1)·2^k)`. Every perfect subtree that appears in RFC 6962's recursive definition of
//! `MTH(D[lo..hi])` is aligned in this way, so any root costs O(log n) node lookups and any proof
//! O(log² n). The store persists the nodes that [`Frontier::append`] completes and serves them back through
//! [`NodeSource`]; [`MemoryTree`] is the in-memory twin used for per-block trees and tests.
//!
//! The verifiers ([`verify_inclusion`], [`verify_consistency`]) need no source and follow RFC 9162
//! §2.1.3.2 and §2.1.4.2.

use std::convert::Infallible;

use medledger_types::Hash;
use sha2::{Digest, Sha256};

use crate::sha256;

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1), so a leaf can never pose as an inner node.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an inner node hash (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

/// Most perfect nodes on a tree's right edge: one per bit of a `u64` size.
pub const FRONTIER_NODES_COUNT_MAX: usize = 64;

/// `SHA-256(0x00 || data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    // Incremental, so that a large entry (an envelope of up to 256 KiB) is not copied to prepend one byte.
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// `SHA-256(0x01 || left || right)`: the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    sha256(&buf)
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// What went wrong building or checking a proof. `E` is the [`NodeSource`]'s error; the verifiers, which
/// use no source, return `ProofError<Infallible>` (the default).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E = Infallible> {
    /// An inclusion proof was asked for or checked with a leaf index outside the tree.
    #[error("leaf index {index} is out of range for a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof needs `0 < old_size <= new_size`: nothing is consistent with the empty tree in
    /// a way a proof can show (RFC 9162 §2.1.4.2), and a tree never shrinks.
    #[error(
        "no consistency proof from {old_size} to {new_size} leaves (needs 0 < old size <= new size)"
    )]
    BadTreeSizes { old_size: u64, new_size: u64 },
    /// The proof has the wrong number of hashes for the index and size(s) it claims.
    #[error("proof has {actual} hashes, expected {expected}")]
    BadProofLength { expected: usize, actual: usize },
    /// The proof is well formed but does not lead to the given root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The node source could not deliver a node.
    #[error("node source failed")]
    Source(#[source] E),
}

/// Where perfect nodes come from: the store implements it over a table of `(level, index) -> hash`.
///
/// The functions of this module only ask for nodes wholly inside the tree size they are given, so a source
/// that holds every node [`Frontier::append`] ever returned for at least that many leaves never fails.
pub trait NodeSource {
    type Error;
    /// The root of the perfect subtree over leaves `[index·2^level, (index+1)·2^level)`; at level 0 the
    /// leaf hash itself.
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    type Error = T::Error;
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).perfect_node(level, index)
    }
}

/// The largest power of two strictly less than `n` (RFC 6962's `k`), for `n >= 2`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up `[lo, lo + len)`, largest (leftmost) first, as `(level, index)`.
///
/// Valid for every range that occurs in RFC 6962's recursion: there `lo` is a multiple of the smallest power
/// of two `>= len`, so each power-of-two block of `len`'s binary expansion, laid out from `lo`, is aligned.
fn perfect_decomposition(lo: u64, len: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut offset = lo;
    (0..64u8).rev().filter_map(move |level| {
        let width = 1u64 << level;
        if len & width == 0 {
            return None;
        }
        let node = (level, offset >> level);
        offset = offset.wrapping_add(width);
        Some(node)
    })
}

/// RFC 6962's `MTH(D[lo..lo+len])` for a range that occurs in its recursion, from perfect nodes only.
fn subtree_root<S: NodeSource + ?Sized>(src: &S, lo: u64, len: u64) -> Result<Hash, S::Error> {
    if len == 0 {
        return Ok(empty_root());
    }
    // The tree over a non-perfect range leans left: fold the perfect pieces from the right.
    let mut pieces = [Hash::ZERO; FRONTIER_NODES_COUNT_MAX];
    let mut count = 0;
    for (level, index) in perfect_decomposition(lo, len) {
        pieces[count] = src.perfect_node(level, index)?;
        count += 1;
    }
    Ok(fold_right(&pieces[..count]))
}

/// Combines the perfect pieces of a right edge (largest first) into one root: `p0 · (p1 · (… · pn))`.
fn fold_right(pieces: &[Hash]) -> Hash {
    let mut iter = pieces.iter().rev();
    match iter.next() {
        None => empty_root(),
        Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// The root of the first `size` leaves.
pub fn root_at<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    subtree_root(src, 0, size)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1 `PATH`), the
/// sibling nearest the leaf first.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // PATH recursed from the root down; each step adds the sibling of the half that holds the leaf.
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, size));
    let (mut lo, mut len) = (0u64, size);
    while len > 1 {
        let k = split(len);
        if index < lo + k {
            proof.push(subtree_root(src, lo + k, len - k).map_err(ProofError::Source)?);
            len = k;
        } else {
            proof.push(subtree_root(src, lo, k).map_err(ProofError::Source)?);
            lo += k;
            len -= k;
        }
    }
    // The recursion appends the outer sibling after the inner path: the root-level sibling comes last.
    proof.reverse();
    Ok(proof)
}

/// The consistency proof from the tree of the first `old_size` leaves to the tree of the first `new_size`
/// (RFC 6962 §2.1.2 `PROOF(m, D[n])`). Empty when the sizes are equal.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadTreeSizes { old_size, new_size });
    }
    // SUBPROOF(m, D[lo..lo+len], b), unrolled: `complete` is RFC 6962's `b`, true while the old tree's root
    // is still a node the verifier already knows (it then need not be sent).
    let mut proof = Vec::with_capacity(consistency_proof_len(old_size, new_size));
    let (mut lo, mut len, mut m, mut complete) = (0u64, new_size, old_size, true);
    loop {
        if m == len {
            if !complete {
                proof.push(subtree_root(src, lo, len).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split(len);
        if m <= k {
            proof.push(subtree_root(src, lo + k, len - k).map_err(ProofError::Source)?);
            len = k;
        } else {
            proof.push(subtree_root(src, lo, k).map_err(ProofError::Source)?);
            lo += k;
            len -= k;
            m -= k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Number of hashes in the inclusion proof of `index` in a tree of `size` leaves (`index < size`).
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut lo, mut len, mut count) = (0u64, size, 0usize);
    while len > 1 {
        let k = split(len);
        if index < lo + k {
            len = k;
        } else {
            lo += k;
            len -= k;
        }
        count += 1;
    }
    count
}

/// Number of hashes in the consistency proof from `old_size` to `new_size` (`0 < old_size <= new_size`).
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let (mut len, mut m, mut complete, mut count) = (new_size, old_size, true, 0usize);
    while m != len {
        let k = split(len);
        if m <= k {
            len = k;
        } else {
            len -= k;
            m -= k;
            complete = false;
        }
        count += 1;
    }
    count + usize::from(!complete)
}

/// Checks that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // RFC 9162 detects a wrong length only as a failed verification; checking it first gives a precise error.
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // `node` is the current node's index at its level, `last` the index of the right edge at that level.
    let (mut node, mut last) = (index, size - 1);
    let mut acc = *leaf;
    for sibling in proof {
        if last == 0 {
            return Err(ProofError::BadProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if node & 1 == 1 || node == last {
            acc = node_hash(sibling, &acc);
            if node & 1 == 0 {
                // A right-edge node with no right sibling is carried up unchanged until it is a right child.
                while node & 1 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            acc = node_hash(&acc, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if acc != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of `old_size` leaves
/// with root `old_root` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadTreeSizes { old_size, new_size });
    }
    let expected = consistency_proof_len(old_size, new_size);
    if proof.len() != expected {
        return Err(ProofError::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_size == new_size {
        // RFC 9162's algorithm rejects an empty path; for equal sizes the proof is empty by definition.
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // When the old tree is perfect its root is a node of the new tree that the proof leaves out.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => {
                return Err(ProofError::BadProofLength {
                    expected,
                    actual: 0,
                });
            }
        }
    };
    let (mut node, mut last) = (old_size - 1, new_size - 1);
    // Climb to the old tree's last perfect node: the one the path starts from.
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let (mut old_acc, mut new_acc) = (*first, *first);
    for c in rest {
        if last == 0 {
            return Err(ProofError::BadProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if node & 1 == 1 || node == last {
            old_acc = node_hash(c, &old_acc);
            new_acc = node_hash(c, &new_acc);
            if node & 1 == 0 {
                while node & 1 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            // Right of the old tree's edge: only the new tree contains it.
            new_acc = node_hash(&new_acc, c);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::BadProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_acc != *old_root || new_acc != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The compact state of an append-only tree: its size and the perfect nodes on its right edge, one per set
/// bit of the size, largest first. Enough to append and to compute the root; at most
/// [`FRONTIER_NODES_COUNT_MAX`] hashes, whatever the size.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// `nodes[j]` is the perfect node for the j-th highest set bit of `size`.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds the frontier of the first `size` leaves from stored perfect nodes (after a restart).
    pub fn from_source<S: NodeSource + ?Sized>(size: u64, src: &S) -> Result<Self, S::Error> {
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        for (level, index) in perfect_decomposition(0, size) {
            nodes.push(src.perfect_node(level, index)?);
        }
        Ok(Frontier { size, nodes })
    }

    /// Appends one leaf hash and returns every perfect node the append completed, as `(level, index, hash)`
    /// from the leaf (level 0) upwards, so that the caller can store them for proofs.
    ///
    /// # Panics
    /// If the tree already holds `u64::MAX` leaves (at 5,000 leaves a second, 10⁸ years away).
    pub fn append(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        assert!(self.size < u64::MAX, "Merkle tree is full");
        let mut completed = Vec::with_capacity(self.size.trailing_ones() as usize + 1);
        let (mut level, mut index, mut carry) = (0u8, self.size, leaf);
        completed.push((level, index, carry));
        // Each trailing one bit of the size is a perfect node of the carry's level to its left: merge them.
        while self.size & (1u64 << level) != 0 {
            let Some(left) = self.nodes.pop() else {
                // Unreachable: `nodes` has one entry per set bit of `size` (checked by the tests).
                break;
            };
            carry = node_hash(&left, &carry);
            level += 1;
            index >>= 1;
            completed.push((level, index, carry));
        }
        self.nodes.push(carry);
        self.size += 1;
        completed
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root ([`empty_root`] for no leaves).
    pub fn root(&self) -> Hash {
        fold_right(&self.nodes)
    }

    /// The perfect nodes of the right edge, largest first, as `(level, index, hash)`.
    pub fn nodes(&self) -> impl Iterator<Item = (u8, u64, Hash)> + '_ {
        perfect_decomposition(0, self.size)
            .zip(&self.nodes)
            .map(|((level, index), hash)| (level, index, *hash))
    }
}

/// A perfect node that a [`MemoryTree`] does not hold: it lies beyond the tree's leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no perfect node at level {level}, index {index} in this tree")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

/// A whole tree in memory: every perfect node, level by level. For per-block trees and tests; the
/// ledger-wide tree lives in the store.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[k][i]` is the perfect node `(k, i)`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// A tree over the given leaf hashes, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash (see [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        for (level, _index, hash) in self.frontier.append(leaf) {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Nodes complete in index order at every level, so the index is the next position.
            self.levels[level].push(hash);
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.frontier.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root over all leaves.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The compact append state of this tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The inclusion proof of leaf `index` in the whole tree.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, ProofError<MissingNode>> {
        inclusion_proof(self, index, self.len())
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

/// The root of a tree over the given leaf hashes, without keeping the tree.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.append(*leaf);
    }
    frontier.root()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;

    use super::*;

    fn h(hex: &str) -> Hash {
        hex.parse().expect("test vector is 64 hex digits")
    }

    fn bytes(hex: &str) -> Vec<u8> {
        hex::decode(hex).expect("test vector is hex")
    }

    /// The eight standard leaf inputs of the RFC 6962 test vectors.
    const VECTOR_INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    fn vector_leaves() -> Vec<Hash> {
        VECTOR_INPUTS.iter().map(|x| leaf_hash(&bytes(x))).collect()
    }

    // --- A slow reference written directly from RFC 6962 §2.1 over a slice of leaf hashes. ---

    fn ref_k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn ref_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = ref_k(n);
                node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
            }
        }
    }

    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return vec![];
        }
        let k = ref_k(n);
        if m < k {
            let mut p = ref_path(m, &d[..k]);
            p.push(ref_mth(&d[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &d[k..]);
            p.push(ref_mth(&d[..k]));
            p
        }
    }

    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![ref_mth(d)] };
        }
        let k = ref_k(n);
        if m <= k {
            let mut p = ref_subproof(m, &d[..k], b);
            p.push(ref_mth(&d[k..]));
            p
        } else {
            let mut p = ref_subproof(m - k, &d[k..], false);
            p.push(ref_mth(&d[..k]));
            p
        }
    }

    fn ref_proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        ref_subproof(m, d, true)
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn flip(hash: &mut Hash, bit: usize) {
        hash.0[(bit / 8) % 32] ^= 1 << (bit % 8);
    }

    // --- The vectors of /work/shared/data/rfc6962-vectors.md. ---

    #[test]
    fn known_answer_hashes() {
        assert_eq!(
            leaf_hash(b"L123456"),
            h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
        );
        // HashChildren over raw inputs: our node_hash takes 32-byte hashes, so hash the prefix form directly.
        let mut raw = vec![NODE_PREFIX];
        raw.extend_from_slice(b"N123");
        raw.extend_from_slice(b"N456");
        assert_eq!(
            sha256(&raw),
            h("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
        );
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(root_of(&[]), empty_root());
        assert_eq!(root_at(&MemoryTree::new(), 0), Ok(empty_root()));
    }

    #[test]
    fn node_hash_is_prefixed_concatenation() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut raw = vec![NODE_PREFIX];
        raw.extend_from_slice(&a.0);
        raw.extend_from_slice(&b.0);
        assert_eq!(node_hash(&a, &b), sha256(&raw));
    }

    #[test]
    fn vector_leaf_hashes() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ];
        let got = vector_leaves();
        for (i, hex) in expected.iter().enumerate() {
            assert_eq!(got[i], h(hex), "leaf {i}");
        }
    }

    #[test]
    fn vector_roots() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let mut frontier = Frontier::new();
        for (i, hex) in expected.iter().enumerate() {
            let n = i + 1;
            frontier.append(all[i]);
            assert_eq!(root_of(&all[..n]), h(hex), "root_of n={n}");
            assert_eq!(root_at(&tree, n as u64), Ok(h(hex)), "root_at n={n}");
            assert_eq!(frontier.root(), h(hex), "frontier n={n}");
            assert_eq!(ref_mth(&all[..n]), h(hex), "reference n={n}");
        }
    }

    /// (leaf number, 1-based; tree size; proof)
    const VECTOR_INCLUSION: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
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
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    #[test]
    fn vector_inclusion_proofs() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        for &(leaf, size, proof) in VECTOR_INCLUSION {
            let index = leaf - 1;
            let expected: Vec<Hash> = proof.iter().map(|x| h(x)).collect();
            assert_eq!(
                inclusion_proof(&tree, index, size),
                Ok(expected.clone()),
                "leaf {leaf} size {size}"
            );
            assert_eq!(ref_path(index as usize, &all[..size as usize]), expected);
            let root = root_of(&all[..size as usize]);
            assert_eq!(
                verify_inclusion(&all[index as usize], index, size, &expected, &root),
                Ok(())
            );
        }
    }

    /// (m, n, PROOF(m, D[n]))
    const VECTOR_CONSISTENCY: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
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
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    #[test]
    fn vector_consistency_proofs() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        for &(m, n, proof) in VECTOR_CONSISTENCY {
            let expected: Vec<Hash> = proof.iter().map(|x| h(x)).collect();
            assert_eq!(
                consistency_proof(&tree, m, n),
                Ok(expected.clone()),
                "{m} -> {n}"
            );
            assert_eq!(ref_proof(m as usize, &all[..n as usize]), expected);
            let (old_root, new_root) = (root_of(&all[..m as usize]), root_of(&all[..n as usize]));
            assert_eq!(
                verify_consistency(m, n, &old_root, &new_root, &expected),
                Ok(()),
                "{m} -> {n}"
            );
        }
    }

    #[test]
    fn consistency_from_empty_tree_is_an_error() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        assert_eq!(
            consistency_proof(&tree, 0, 8),
            Err(ProofError::BadTreeSizes {
                old_size: 0,
                new_size: 8
            })
        );
        assert_eq!(
            verify_consistency(0, 8, &empty_root(), &tree.root(), &[]),
            Err(ProofError::BadTreeSizes {
                old_size: 0,
                new_size: 8
            })
        );
        assert_eq!(
            consistency_proof(&tree, 5, 4),
            Err(ProofError::BadTreeSizes {
                old_size: 5,
                new_size: 4
            })
        );
        assert_eq!(
            verify_consistency(5, 4, &tree.root(), &tree.root(), &[]),
            Err(ProofError::BadTreeSizes {
                old_size: 5,
                new_size: 4
            })
        );
    }

    // --- Errors. ---

    #[test]
    fn index_out_of_range() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let root = tree.root();
        assert_eq!(
            inclusion_proof(&tree, 8, 8),
            Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
        );
        assert_eq!(
            inclusion_proof(&tree, 0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_inclusion(&all[0], 8, 8, &[], &root),
            Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
        );
        assert_eq!(
            verify_inclusion(&all[0], u64::MAX, 0, &[], &root),
            Err(ProofError::IndexOutOfRange {
                index: u64::MAX,
                size: 0
            })
        );
    }

    #[test]
    fn wrong_proof_length() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let root = tree.root();
        let proof = tree.inclusion_proof(5).expect("in range");
        let mut long = proof.clone();
        long.push(root);
        assert_eq!(
            verify_inclusion(&all[5], 5, 8, &long, &root),
            Err(ProofError::BadProofLength {
                expected: 3,
                actual: 4
            })
        );
        assert_eq!(
            verify_inclusion(&all[5], 5, 8, &proof[..2], &root),
            Err(ProofError::BadProofLength {
                expected: 3,
                actual: 2
            })
        );
        // A one-leaf tree's root is the leaf: any proof hash is too many.
        assert_eq!(
            verify_inclusion(&all[0], 0, 1, &[all[1]], &all[0]),
            Err(ProofError::BadProofLength {
                expected: 0,
                actual: 1
            })
        );
        let old = root_of(&all[..6]);
        let cons = consistency_proof(&tree, 6, 8).expect("valid sizes");
        assert_eq!(
            verify_consistency(6, 8, &old, &root, &cons[1..]),
            Err(ProofError::BadProofLength {
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            verify_consistency(6, 8, &old, &root, &[]),
            Err(ProofError::BadProofLength {
                expected: 3,
                actual: 0
            })
        );
        assert_eq!(
            verify_consistency(8, 8, &root, &root, &[root]),
            Err(ProofError::BadProofLength {
                expected: 0,
                actual: 1
            })
        );
    }

    #[test]
    fn root_mismatch() {
        let all = vector_leaves();
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let root = tree.root();
        let proof = tree.inclusion_proof(2).expect("in range");
        // Right proof, wrong leaf; right leaf at the wrong index; wrong root.
        assert_eq!(
            verify_inclusion(&all[3], 2, 8, &proof, &root),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&all[2], 3, 8, &proof, &root),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&all[2], 2, 8, &proof, &all[0]),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &root, &all[0], &[]),
            Err(ProofError::RootMismatch)
        );
        let cons = consistency_proof(&tree, 3, 8).expect("valid sizes");
        assert_eq!(
            verify_consistency(3, 8, &root, &root, &cons),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn memory_tree_reports_missing_nodes() {
        let tree = MemoryTree::from_leaves(leaves(5));
        assert_eq!(
            tree.perfect_node(0, 5),
            Err(MissingNode { level: 0, index: 5 })
        );
        assert_eq!(
            tree.perfect_node(1, 2),
            Err(MissingNode { level: 1, index: 2 })
        );
        assert_eq!(
            tree.perfect_node(3, 0),
            Err(MissingNode { level: 3, index: 0 })
        );
        assert_eq!(
            tree.perfect_node(63, u64::MAX),
            Err(MissingNode {
                level: 63,
                index: u64::MAX
            })
        );
        assert!(matches!(root_at(&tree, 6), Err(MissingNode { .. })));
        assert!(matches!(
            inclusion_proof(&tree, 0, 6),
            Err(ProofError::Source(MissingNode { .. }))
        ));
        assert!(matches!(
            consistency_proof(&tree, 2, 6),
            Err(ProofError::Source(MissingNode { .. }))
        ));
        assert!(Frontier::from_source(6, &tree).is_err());
    }

    // --- Exhaustive agreement with the reference on small trees. ---

    #[test]
    fn exhaustive_small_trees_match_reference() {
        let all = leaves(40);
        let tree = MemoryTree::from_leaves(all.iter().copied());
        for n in 1..=all.len() {
            let d = &all[..n];
            let root = ref_mth(d);
            assert_eq!(root_at(&tree, n as u64), Ok(root));
            for i in 0..n {
                let proof = inclusion_proof(&tree, i as u64, n as u64).expect("in range");
                assert_eq!(proof, ref_path(i, d), "PATH({i}, D[{n}])");
                assert_eq!(
                    verify_inclusion(&d[i], i as u64, n as u64, &proof, &root),
                    Ok(())
                );
            }
            for m in 1..=n {
                let proof = consistency_proof(&tree, m as u64, n as u64).expect("valid sizes");
                assert_eq!(proof, ref_proof(m, d), "PROOF({m}, D[{n}])");
                assert_eq!(
                    verify_consistency(m as u64, n as u64, &ref_mth(&d[..m]), &root, &proof),
                    Ok(())
                );
            }
        }
    }

    #[test]
    fn frontier_matches_memory_tree_at_every_size() {
        let all = leaves(300);
        let tree = MemoryTree::from_leaves(all.iter().copied());
        let mut frontier = Frontier::new();
        let mut stored = MemoryTree::new();
        for n in 0..=all.len() {
            assert_eq!(frontier.size(), n as u64);
            assert_eq!(frontier.root(), ref_mth(&all[..n]), "size {n}");
            assert_eq!(root_at(&tree, n as u64), Ok(frontier.root()), "size {n}");
            assert_eq!(
                Frontier::from_source(n as u64, &tree).as_ref(),
                Ok(&frontier),
                "size {n}"
            );
            assert_eq!(frontier.nodes().count(), (n as u64).count_ones() as usize);
            for (level, index, hash) in frontier.nodes() {
                assert_eq!(tree.perfect_node(level, index), Ok(hash));
            }
            if n == all.len() {
                break;
            }
            // What append reports is exactly what a store needs: the leaf and each completed parent.
            let completed = frontier.append(all[n]);
            assert_eq!(completed.len(), (n as u64).trailing_ones() as usize + 1);
            assert_eq!(completed[0], (0, n as u64, all[n]));
            for &(level, index, hash) in &completed {
                assert_eq!(
                    tree.perfect_node(level, index),
                    Ok(hash),
                    "level {level} index {index}"
                );
            }
            stored.push(all[n]);
        }
        assert_eq!(stored.root(), tree.root());
    }

    /// Counts lookups, to check the O(log² n) bound that makes proofs over a store cheap.
    struct Counting<'a> {
        inner: &'a MemoryTree,
        lookups: Cell<usize>,
    }

    impl NodeSource for Counting<'_> {
        type Error = MissingNode;
        fn perfect_node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
            self.lookups.set(self.lookups.get() + 1);
            self.inner.perfect_node(level, index)
        }
    }

    #[test]
    fn proofs_need_few_lookups() {
        let tree = MemoryTree::from_leaves(leaves(1000));
        let src = Counting {
            inner: &tree,
            lookups: Cell::new(0),
        };
        for n in [1u64, 2, 3, 7, 8, 9, 255, 511, 513, 999, 1000] {
            let log = 64 - n.leading_zeros() as usize;
            for i in [0, n / 3, n / 2, n - 1] {
                src.lookups.set(0);
                inclusion_proof(&src, i, n).expect("in range");
                assert!(
                    src.lookups.get() <= log * log,
                    "PATH({i}, {n}) took {} lookups",
                    src.lookups.get()
                );
                src.lookups.set(0);
                consistency_proof(&src, i + 1, n).expect("valid sizes");
                assert!(
                    src.lookups.get() <= log * log + 1,
                    "PROOF({}, {n}) took {}",
                    i + 1,
                    src.lookups.get()
                );
            }
            src.lookups.set(0);
            root_at(&src, n).expect("in range");
            assert_eq!(src.lookups.get(), n.count_ones() as usize);
        }
    }

    /// A tree whose leaves are all equal: its perfect node at level k is the same at every index, so any size
    /// up to 2^64 - 1 can be served without storing anything.
    struct Uniform {
        levels: Vec<Hash>,
    }

    impl Uniform {
        fn new() -> Self {
            let mut levels = vec![leaf_hash(b"same")];
            for k in 1..64 {
                let below = levels[k - 1];
                levels.push(node_hash(&below, &below));
            }
            Uniform { levels }
        }
    }

    impl NodeSource for Uniform {
        type Error = Infallible;
        fn perfect_node(&self, level: u8, _index: u64) -> Result<Hash, Infallible> {
            Ok(self.levels[usize::from(level)])
        }
    }

    #[test]
    fn huge_trees_prove_and_verify() {
        let src = Uniform::new();
        let leaf = src.levels[0];
        for size in [1u64 << 40, (1 << 40) + 1, (1 << 63) + 12_345, u64::MAX] {
            let root = root_at(&src, size).expect("infallible");
            assert_eq!(
                Frontier::from_source(size, &src)
                    .expect("infallible")
                    .root(),
                root
            );
            for index in [0, 1, size / 2, size - 2, size - 1] {
                let proof = inclusion_proof(&src, index, size).expect("in range");
                assert!(proof.len() <= 64);
                assert_eq!(
                    verify_inclusion(&leaf, index, size, &proof, &root),
                    Ok(()),
                    "{index} of {size}"
                );
            }
            for old in [1, 2, 3, size / 3, size - 1, size] {
                let proof = consistency_proof(&src, old, size).expect("valid sizes");
                let old_root = root_at(&src, old).expect("infallible");
                assert_eq!(
                    verify_consistency(old, size, &old_root, &root, &proof),
                    Ok(()),
                    "{old} -> {size}"
                );
            }
        }
        let mut full = Frontier::from_source(u64::MAX - 1, &src).expect("infallible");
        let completed = full.append(leaf);
        assert_eq!(completed.len(), 1);
        assert_eq!(full.root(), root_at(&src, u64::MAX).expect("infallible"));
    }

    // --- Random sizes up to 300. ---

    fn tree_and_index() -> impl Strategy<Value = (usize, usize)> {
        (1usize..300).prop_flat_map(|n| (Just(n), 0..n))
    }

    fn tree_and_sizes() -> impl Strategy<Value = (usize, usize)> {
        (1usize..300).prop_flat_map(|n| (1..=n, Just(n)))
    }

    proptest! {
        #[test]
        fn inclusion_proofs_verify_and_match_reference((n, i) in tree_and_index(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
            let all = leaves(n);
            let tree = MemoryTree::from_leaves(all.iter().copied());
            let root = tree.root();
            prop_assert_eq!(root, ref_mth(&all));
            let proof = tree.inclusion_proof(i as u64).expect("in range");
            prop_assert_eq!(&proof, &ref_path(i, &all));
            prop_assert_eq!(verify_inclusion(&all[i], i as u64, n as u64, &proof, &root), Ok(()));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = pick.index(bad.len());
                flip(&mut bad[at], bit);
                prop_assert_eq!(verify_inclusion(&all[i], i as u64, n as u64, &bad, &root), Err(ProofError::RootMismatch));
            }
            let mut bad_leaf = all[i];
            flip(&mut bad_leaf, bit);
            prop_assert_eq!(verify_inclusion(&bad_leaf, i as u64, n as u64, &proof, &root), Err(ProofError::RootMismatch));
        }

        #[test]
        fn consistency_proofs_verify_and_match_reference((m, n) in tree_and_sizes(), bit in 0usize..256, pick in any::<prop::sample::Index>()) {
            let all = leaves(n);
            let tree = MemoryTree::from_leaves(all.iter().copied());
            let (old_root, new_root) = (ref_mth(&all[..m]), tree.root());
            prop_assert_eq!(root_at(&tree, m as u64), Ok(old_root));
            let proof = consistency_proof(&tree, m as u64, n as u64).expect("valid sizes");
            prop_assert_eq!(&proof, &ref_proof(m, &all));
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof), Ok(()));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = pick.index(bad.len());
                flip(&mut bad[at], bit);
                prop_assert_eq!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &bad), Err(ProofError::RootMismatch));
            }
            let mut bad_old = old_root;
            flip(&mut bad_old, bit);
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &bad_old, &new_root, &proof), Err(ProofError::RootMismatch));
        }
    }
}
