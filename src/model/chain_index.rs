//! Chain name -> position in its table, for the lookups a big ruleset makes per rule.
//!
//! A Kubernetes node's nat table has tens of thousands of chains and every rule names one
//! or two of them. Keyed by the chain's [`Text`], every probe followed the key into the
//! 15 MB evidence text, a cache miss per lookup and per rehash (a fifth of the parse time at
//! 100k rules). Here names of up to [`INLINE`] bytes (iptables allows 28) are copied into
//! the slot itself, so a probe touches only the table; longer names (nft allows 256) are
//! compared through the chain list.

use crate::model::ruleset::{Chain, FxHasher};
use hashbrown::HashTable;
use std::hash::Hasher;

/// Longest name kept in the slot.
const INLINE: usize = 31;

/// The slot's name bytes: the length in byte 0, the name after it; [`LONG`] in byte 0 for a
/// name kept only in its chain.
type Key = [u8; INLINE + 1];
const LONG: u8 = u8::MAX;

#[derive(Debug, Clone, Default)]
pub struct ChainIndex {
    slots: HashTable<(Key, u32)>,
}

fn hash(name: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(name);
    h.finish()
}

fn key(name: &str) -> Key {
    let mut k = [0u8; INLINE + 1];
    if name.len() <= INLINE {
        k[0] = name.len() as u8;
        k[1..=name.len()].copy_from_slice(name.as_bytes());
    } else {
        k[0] = LONG;
    }
    k
}

/// The name a slot stands for.
fn slot_name<'a>(k: &'a Key, i: u32, chains: &'a [Chain]) -> &'a [u8] {
    if k[0] == LONG {
        chains[i as usize].name.as_bytes()
    } else {
        &k[1..=k[0] as usize]
    }
}

impl ChainIndex {
    /// Room for `n` more names without growing.
    pub fn reserve(&mut self, n: usize, chains: &[Chain]) {
        self.slots
            .reserve(n, |(k, i)| hash(slot_name(k, *i, chains)));
    }

    /// The position of `name` in `chains`, the list this index was built for.
    pub fn get(&self, name: &str, chains: &[Chain]) -> Option<usize> {
        let n = name.as_bytes();
        self.slots
            .find(hash(n), |(k, i)| slot_name(k, *i, chains) == n)
            .map(|&(_, i)| i as usize)
    }

    /// Record that `name` is at `position` (the next chain to be pushed onto `chains`), in
    /// one probe; when the name is taken, nothing changes and its position is returned.
    pub fn insert(&mut self, name: &str, position: usize, chains: &[Chain]) -> Result<(), usize> {
        let position = u32::try_from(position).expect("fewer than 4 billion chains");
        let n = name.as_bytes();
        match self.slots.entry(
            hash(n),
            |(k, i)| slot_name(k, *i, chains) == n,
            |(k, i)| hash(slot_name(k, *i, chains)),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => Err(e.get().1 as usize),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((key(name), position));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str) -> Chain {
        Chain {
            name: name.into(),
            base: None,
            rules: Vec::new(),
            line: 0,
        }
    }

    #[test]
    fn finds_short_and_long_names() {
        let names = [
            "DOCKER".to_string(),
            String::new(),
            "KUBE-SEP-ABCDEFGHIJKLMNOP".to_string(),
            "x".repeat(200),
            "y".repeat(31),
        ];
        let mut chains = Vec::new();
        let mut index = ChainIndex::default();
        for (i, n) in names.iter().enumerate() {
            index.insert(n, i, &chains).unwrap();
            chains.push(chain(n));
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.get(n, &chains), Some(i), "{n}");
        }
        assert_eq!(index.get("DOCKER-USER", &chains), None);
        assert_eq!(index.insert("DOCKER", 9, &chains), Err(0));
        assert_eq!(index.get(&"x".repeat(199), &chains), None);
        assert_eq!(index.get(&"y".repeat(32), &chains), None);
    }

    #[test]
    fn survives_growth() {
        let mut chains = Vec::new();
        let mut index = ChainIndex::default();
        for i in 0..5000 {
            let name = if i % 3 == 0 {
                format!("{i:0>40}")
            } else {
                format!("KUBE-SVC-{i}")
            };
            index.insert(&name, i, &chains).unwrap();
            chains.push(chain(&name));
        }
        for (i, c) in chains.iter().enumerate() {
            assert_eq!(index.get(&c.name, &chains), Some(i));
        }
    }
}
