//! Postings: which IOCs a key (a hash, a block, a domain, a pattern) stands for.
//!
//! Only IOC ids: a hit looks the IOC up in the registry for its definition (whose Enabled
//! flag is checked) and its expiry. Hits are rare and the registry lookup is cheap next to
//! keeping those 16 bytes beside every key of every structure; and expiry and definition
//! changes never touch a compiled structure.

/// The IOCs of one key. Nearly every key has exactly one IOC, kept inline (16 bytes in all);
/// several IOCs (of different definitions) may share a value, and all of them must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Postings {
    #[default]
    Empty,
    One(i64),
    // Boxed on purpose: a thin pointer keeps the enum at 16 bytes, a bare Vec would make it 32.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<i64>>),
}

impl Postings {
    pub fn new() -> Postings {
        Postings::Empty
    }

    pub fn as_slice(&self) -> &[i64] {
        match self {
            Postings::Empty => &[],
            Postings::One(id) => std::slice::from_ref(id),
            Postings::Many(ids) => ids,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.as_slice().iter().copied()
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Postings::Empty)
    }

    pub fn push(&mut self, id: i64) {
        *self = match std::mem::take(self) {
            Postings::Empty => Postings::One(id),
            Postings::One(first) => Postings::Many(Box::new(vec![first, id])),
            Postings::Many(mut ids) => {
                ids.push(id);
                Postings::Many(ids)
            }
        };
    }

    /// Removes one posting of `id` (a bulk load may briefly hold two: see
    /// `Inner::load`); returns whether there was one.
    pub fn remove(&mut self, id: i64) -> bool {
        let before = self.len();
        *self = match std::mem::take(self) {
            Postings::One(first) if first == id => Postings::Empty,
            Postings::Many(mut ids) => {
                if let Some(at) = ids.iter().position(|i| *i == id) {
                    ids.remove(at);
                }
                match ids.len() {
                    0 => Postings::Empty,
                    1 => Postings::One(ids[0]),
                    _ => Postings::Many(ids),
                }
            }
            other => other,
        };
        self.len() != before
    }

    /// Heap bytes beyond the inline 16.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Postings::Many(ids) => 24 + ids.capacity() * 8,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_inline_then_boxed_and_back() {
        assert_eq!(std::mem::size_of::<Postings>(), 16);
        let mut p = Postings::new();
        assert!(p.is_empty() && !p.remove(1));
        p.push(1);
        assert_eq!(p, Postings::One(1));
        p.push(2);
        p.push(3);
        assert_eq!(p.as_slice(), &[1, 2, 3]);
        assert!(p.remove(2) && !p.remove(2));
        assert_eq!(p.as_slice(), &[1, 3]);
        assert!(p.remove(1));
        assert_eq!(p, Postings::One(3));
        p.push(3);
        assert!(p.remove(3), "one posting of 3 removed, one left");
        assert_eq!(p, Postings::One(3));
        assert!(p.remove(3));
        assert!(p.is_empty());
    }
}
