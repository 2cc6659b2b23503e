//! A tiny generational slab: the one indexed store the runtime uses for tasks, timers
//! and in-flight io_uring operations.
//!
//! Owns: a `Vec` of slots and a free list. A key is `(index, generation)`; removing a
//! value bumps the slot's generation, so a stale key (a task id left in a ready queue
//! after the task was killed, a timer key after the timer fired) never reaches a newer
//! value that reuses the slot.
//!
//! Must never: move a value once inserted other than by `remove` (values are moved
//! with the `Vec` when it grows, so anything the kernel points at must live on the
//! heap behind the value, never inline in it).
//!
//! Invariants: `len` equals the number of occupied slots; every index on the free list
//! names a vacant slot; generations only grow, wrapping from [`GENERATION_MAX`] to 0
//! (31 bits, so that an io_uring op tag, 64 bits with a flag, the index and a part bit,
//! carries a whole key: `uring/ring.rs` checks it at compile time).

/// Bits of a slot's generation. A key whose generation had more bits than an op tag
/// keeps would, after 2^31 reuses of one slot (hours at queue depth 1, the free list
/// being LIFO), no longer match its own slot when its completion arrives.
pub(crate) const GENERATION_BITS: u32 = 31;
/// The last generation before the wrap to 0.
pub(crate) const GENERATION_MAX: u32 = (1 << GENERATION_BITS) - 1;

fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & GENERATION_MAX
}

/// A key into a [`Slab`]: slot index and the generation the value was inserted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// Generation of a newly created slot (0; tests start it near the wrap).
    generation_start: u32,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::new()
    }
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            generation_start: 0,
        }
    }

    pub(crate) fn with_capacity(capacity: usize) -> Slab<T> {
        Slab {
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            len: 0,
            generation_start: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Inserts the value built by `make`, which is told the key it will live under.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Key) -> T) -> Key {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).expect("slab index fits u32");
                self.slots.push(Slot {
                    generation: self.generation_start,
                    value: None,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        assert!(
            slot.value.is_none(),
            "slab free list named an occupied slot"
        );
        let key = Key {
            index,
            generation: slot.generation,
        };
        slot.value = Some(make(key));
        self.len += 1;
        key
    }

    /// Test hook: slots created from now on start at `generation`, so a test reaches
    /// the generation wrap in a few reuses instead of 2^31.
    #[cfg(test)]
    pub(crate) fn start_generations_at(&mut self, generation: u32) {
        assert!(
            generation <= GENERATION_MAX,
            "generation {generation} too wide"
        );
        self.generation_start = generation;
    }

    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.insert_with(|_| value)
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_mut()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = next_generation(slot.generation);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Removes every value for which `pred` is true and pushes it onto `out`, in index
    /// order (deterministic).
    pub(crate) fn remove_where(&mut self, mut pred: impl FnMut(&T) -> bool, out: &mut Vec<T>) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.value.as_ref().is_some_and(&mut pred) {
                out.extend(slot.value.take());
                slot.generation = next_generation(slot.generation);
                self.free
                    .push(u32::try_from(i).expect("slab index fits u32"));
                self.len -= 1;
            }
        }
    }

    /// Iterates over occupied slots in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let key = Key {
                index: i as u32,
                generation: s.generation,
            };
            s.value.as_ref().map(|v| (key, v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss() {
        let mut s = Slab::new();
        let a = s.insert(1);
        assert_eq!(s.remove(a), Some(1));
        let b = s.insert(2);
        assert_eq!(a.index, b.index);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&2));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        let mut s = Slab::new();
        s.start_generations_at(GENERATION_MAX - 1);
        let mut keys = Vec::new();
        for i in 0..4 {
            let k = s.insert(i);
            assert_eq!(s.remove(k), Some(i));
            keys.push(k);
        }
        let gens: Vec<u32> = keys.iter().map(|k| k.generation).collect();
        assert_eq!(gens, [GENERATION_MAX - 1, GENERATION_MAX, 0, 1]);
        assert!(keys.iter().all(|k| k.index == 0));
    }

    #[test]
    fn remove_where_in_order() {
        let mut s = Slab::new();
        for i in 0..10 {
            s.insert(i);
        }
        let mut out = Vec::new();
        s.remove_where(|v| v % 3 == 0, &mut out);
        assert_eq!(out, vec![0, 3, 6, 9]);
        assert_eq!(s.len(), 6);
        assert_eq!(s.iter().count(), 6);
    }
}
