//! [`OneOrMore`]: the value list of a match, which almost always holds one value.
//!
//! `-i docker0`, `-d 10.96.0.10/32`, `--dport 80` name one value; only nft sets and
//! `multiport` name several. Keeping the single value inline saves a heap allocation per
//! match (a third of all allocations on a 100k-rule ruleset) and keeps [`crate::model::Match`]
//! at 32 bytes.

use serde::{Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

/// A list that stores a single element inline. Reads, compares and serialises as a slice.
#[derive(Clone)]
pub enum OneOrMore<T> {
    One(T),
    /// Zero or two and more.
    More(Box<[T]>),
}

impl<T> OneOrMore<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMore::One(v) => std::slice::from_ref(v),
            OneOrMore::More(vs) => vs,
        }
    }
}

impl<T> Deref for OneOrMore<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> From<T> for OneOrMore<T> {
    fn from(v: T) -> OneOrMore<T> {
        OneOrMore::One(v)
    }
}

impl<T> From<Vec<T>> for OneOrMore<T> {
    fn from(mut vs: Vec<T>) -> OneOrMore<T> {
        match vs.len() {
            1 => OneOrMore::One(vs.pop().expect("one element")),
            _ => OneOrMore::More(vs.into_boxed_slice()),
        }
    }
}

impl<T> FromIterator<T> for OneOrMore<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> OneOrMore<T> {
        let mut it = iter.into_iter();
        let Some(first) = it.next() else {
            return OneOrMore::More(Box::default());
        };
        match it.next() {
            None => OneOrMore::One(first),
            Some(second) => {
                let mut vs = vec![first, second];
                vs.extend(it);
                OneOrMore::More(vs.into_boxed_slice())
            }
        }
    }
}

impl<'a, T> IntoIterator for &'a OneOrMore<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<T: PartialEq> PartialEq for OneOrMore<T> {
    fn eq(&self, other: &OneOrMore<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for OneOrMore<T> {}

impl<T: std::hash::Hash> std::hash::Hash for OneOrMore<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for OneOrMore<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: fmt::Debug> fmt::Debug for OneOrMore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Serialize> Serialize for OneOrMore<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_inline_and_reads_as_a_slice() {
        let one: OneOrMore<u16> = vec![80].into();
        assert!(matches!(one, OneOrMore::One(80)));
        assert_eq!(&*one, &[80]);
        let more: OneOrMore<u16> = [80, 443].into_iter().collect();
        assert_eq!(&*more, &[80, 443]);
        let none: OneOrMore<u16> = std::iter::empty().collect();
        assert!(none.is_empty());
        assert_eq!(serde_json::to_string(&more).unwrap(), "[80,443]");
        assert_eq!(serde_json::to_string(&one).unwrap(), "[80]");
    }

    #[test]
    fn equality_does_not_depend_on_the_representation() {
        let a: OneOrMore<u8> = OneOrMore::More(vec![7].into_boxed_slice());
        let b: OneOrMore<u8> = OneOrMore::One(7);
        assert_eq!(a, b);
        assert_eq!(b, vec![7]);
    }
}
