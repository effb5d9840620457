//! An installed entry's outgoing ifindexes as the backend remembers them: most entries have
//! one, kept inline (16 bytes, no allocation); longer lists take a slice of exactly their
//! length.
use std::ops::Deref;

/// Outgoing ifindexes, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum OifList {
    /// One interface, no allocation.
    One(u32),
    /// None or several.
    Many(Box<[u32]>),
}

impl From<&[u32]> for OifList {
    fn from(oifs: &[u32]) -> Self {
        match oifs {
            [one] => OifList::One(*one),
            _ => OifList::Many(oifs.into()),
        }
    }
}

impl Deref for OifList {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            OifList::One(one) => std::slice::from_ref(one),
            OifList::Many(many) => many,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OifList;

    #[test]
    fn a_single_interface_is_inline() {
        let one = OifList::from(&[7][..]);
        assert_eq!(one, OifList::One(7));
        assert_eq!(*one, [7]);
        assert_eq!(*OifList::from(&[3, 5][..]), [3, 5]);
        assert!(OifList::from(&[][..]).is_empty());
        assert_eq!(size_of::<OifList>(), 16);
    }
}
