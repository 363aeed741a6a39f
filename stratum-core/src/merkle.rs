//! The merkle branch of a coinbase: the sibling hashes from the coinbase's leaf to the root.

use crate::serialize::sha256d;

/// The branch for the first leaf of a tree whose other leaves are `tx_hashes` (internal
/// byte order, in block order, coinbase excluded). Miners fold it with
/// [`merkle_root`] after hashing their coinbase.
pub fn merkle_branch(tx_hashes: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // Level 0 with a placeholder for the coinbase; only position 0 is ever unknown.
    let mut level: Vec<[u8; 32]> = std::iter::once([0u8; 32])
        .chain(tx_hashes.iter().copied())
        .collect();
    while level.len() > 1 {
        branch.push(level[1]);
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        level = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                if i == 0 {
                    [0u8; 32]
                } else {
                    hash_pair(&pair[0], &pair[1])
                }
            })
            .collect();
    }
    branch
}

/// The merkle root from the coinbase hash and its branch.
pub fn merkle_root(coinbase_hash: &[u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch
        .iter()
        .fold(*coinbase_hash, |acc, sibling| hash_pair(&acc, sibling))
}

fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut joined = [0u8; 64];
    joined[..32].copy_from_slice(left);
    joined[32..].copy_from_slice(right);
    sha256d(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root computed the plain way, level by level over all leaves.
    fn full_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        let mut level = leaves.to_vec();
        while level.len() > 1 {
            if level.len() % 2 == 1 {
                level.push(level[level.len() - 1]);
            }
            level = level.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        }
        level[0]
    }

    proptest::proptest! {
        #[test]
        fn branch_folds_to_the_full_tree_root(leaves in proptest::collection::vec(proptest::prelude::any::<[u8; 32]>(), 1..40)) {
            let branch = merkle_branch(&leaves[1..]);
            proptest::prop_assert_eq!(merkle_root(&leaves[0], &branch), full_root(&leaves));
        }
    }

    #[test]
    fn coinbase_alone_is_its_own_root() {
        assert!(merkle_branch(&[]).is_empty());
        assert_eq!(merkle_root(&[7u8; 32], &[]), [7u8; 32]);
    }
}
