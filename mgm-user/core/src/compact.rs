//! Compact containers for what mgmd keeps per forwarding entry (there may be 100 000 and
//! more of them, README "Memory").

use std::ops::{Deref, DerefMut};

/// A short list that is most often one element long: one element is kept inline, none or
/// several in a slice of exactly their length (no spare capacity). For elements of up to 8
/// bytes the whole list is 16 bytes, the size of the slice alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OneOrMany<T> {
    /// One element, no allocation.
    One(T),
    /// None (no allocation either) or several.
    Many(Box<[T]>),
}

impl<T> OneOrMany<T> {
    /// The empty list.
    pub fn new() -> Self {
        OneOrMany::Many(Box::default())
    }

    /// Inserts `item` at `at` (as [`Vec::insert`]).
    pub fn insert(&mut self, at: usize, item: T) {
        let mut list = std::mem::take(self).into_vec();
        list.insert(at, item);
        *self = list.into();
    }

    /// Removes and returns the element at `at` (as [`Vec::remove`]).
    pub fn remove(&mut self, at: usize) -> T {
        let mut list = std::mem::take(self).into_vec();
        let item = list.remove(at);
        *self = list.into();
        item
    }

    /// Appends `item`.
    pub fn push(&mut self, item: T) {
        let at = self.len();
        self.insert(at, item);
    }

    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many.into_vec(),
        }
    }
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::new()
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(mut list: Vec<T>) -> Self {
        match list.pop() {
            Some(one) if list.is_empty() => OneOrMany::One(one),
            Some(last) => {
                list.push(last);
                OneOrMany::Many(list.into_boxed_slice())
            }
            None => OneOrMany::new(),
        }
    }
}

impl<T: Clone> From<&[T]> for OneOrMany<T> {
    fn from(list: &[T]) -> Self {
        match list {
            [one] => OneOrMany::One(one.clone()),
            _ => OneOrMany::Many(list.into()),
        }
    }
}

impl<T> FromIterator<T> for OneOrMany<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<T> Deref for OneOrMany<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }
}

impl<T> DerefMut for OneOrMany<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            OneOrMany::One(one) => std::slice::from_mut(one),
            OneOrMany::Many(many) => many,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OneOrMany;

    #[test]
    fn one_element_is_inline_and_the_list_is_as_small_as_a_slice() {
        let mut list = OneOrMany::from(&[7u32][..]);
        assert_eq!(list, OneOrMany::One(7));
        assert_eq!(*list, [7]);
        list.push(9);
        list.insert(0, 3);
        assert_eq!(*list, [3, 7, 9]);
        assert_eq!(list.remove(1), 7);
        assert_eq!(list.remove(0), 3);
        assert_eq!(list, OneOrMany::One(9));
        assert_eq!(list.remove(0), 9);
        assert!(list.is_empty());
        assert_eq!(list, OneOrMany::new());
        assert_eq!(*[1u32, 2].into_iter().collect::<OneOrMany<_>>(), [1, 2]);
        assert_eq!(size_of::<OneOrMany<u32>>(), 16);
        assert_eq!(size_of::<OneOrMany<(u32, [u8; 4])>>(), 16);
    }
}
