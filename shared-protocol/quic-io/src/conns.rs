//! An endpoint's connections by quinn-proto's handle, which of them have work, and one
//! timer heap for all of them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use quinn_proto::{Connection, ConnectionHandle, DatagramEvent, Endpoint, Incoming};

use crate::udp::{Datagram, UdpIo};

/// Every connection's next timeout in one heap. A connection keeps the earliest time
/// it has in the heap (`armed`); an entry that no longer matches when it comes up is
/// stale (the connection's timeout moved earlier since) and skipped.
pub struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// Makes sure `key` comes up by `at`: an entry is added when `at` is earlier than
    /// what the connection has in the heap (`armed`, updated).
    pub fn arm(&mut self, key: K, armed: &mut Option<Instant>, at: Option<Instant>) {
        if let Some(at) = at
            && armed.is_none_or(|a| at < a)
        {
            *armed = Some(at);
            self.heap.push(Reverse((at, key)));
        }
    }

    /// The earliest entry's time.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes the next entry due by `now`: its time and key. The caller checks it
    /// against the connection's `armed` (equal: due; clear `armed` and handle it).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Stale entries go when they come up; when they pile up past `limit`, the heap
    /// is rebuilt from the live ones (`(armed, key)` of every connection).
    pub fn compact(&mut self, limit: usize, live: impl Iterator<Item = (Instant, K)>) {
        if self.heap.len() > limit {
            self.heap = live.map(Reverse).collect();
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Which connection of an endpoint, across the reuse of quinn-proto's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnKey {
    pub slot: usize,
    pub id: u64,
}

impl ConnKey {
    pub fn handle(self) -> ConnectionHandle {
        ConnectionHandle(self.slot)
    }
}

/// What an endpoint keeps per connection, as [`Conns`] needs it.
pub trait Driven {
    fn key(&self) -> ConnKey;
    fn proto(&mut self) -> &mut Connection;
    /// The earliest of the state machine's timeout and the connection's own deadlines.
    fn next_deadline(&mut self) -> Option<Instant>;
}

struct Slot<C> {
    key: ConnKey,
    /// Out of its slot while the endpoint works on it.
    conn: Option<Box<C>>,
    /// The earliest time this connection has in the timer heap.
    armed: Option<Instant>,
    dirty: bool,
}

/// An endpoint's connections by quinn-proto's handle, which of them have work, and
/// their timers. A connection is taken out of its slot for a pass and put back; it is
/// boxed, as a state machine is kilobytes.
pub struct Conns<C> {
    slots: Vec<Option<Slot<C>>>,
    dirty: Vec<usize>,
    timers: Timers<ConnKey>,
    next_id: u64,
}

impl<C> Default for Conns<C> {
    fn default() -> Self {
        Conns {
            slots: Vec::new(),
            dirty: Vec::new(),
            timers: Timers::default(),
            next_id: 0,
        }
    }
}

impl<C: Driven> Conns<C> {
    /// A key for the connection quinn-proto just gave `handle`.
    pub fn new_key(&mut self, handle: ConnectionHandle) -> ConnKey {
        self.next_id += 1;
        ConnKey {
            slot: handle.0,
            id: self.next_id,
        }
    }

    /// Adds a connection (made with [`Conns::new_key`]) with work to do.
    pub fn insert(&mut self, conn: C) {
        let key = conn.key();
        if self.slots.len() <= key.slot {
            self.slots.resize_with(key.slot + 1, || None);
        }
        self.slots[key.slot] = Some(Slot {
            key,
            conn: None,
            armed: None,
            dirty: false,
        });
        self.put(Box::new(conn));
    }

    fn slot(&mut self, key: ConnKey) -> Option<&mut Slot<C>> {
        self.slots
            .get_mut(key.slot)
            .and_then(Option::as_mut)
            .filter(|s| s.key == key)
    }

    /// The connection quinn-proto's `handle` names, when it is in its slot.
    pub fn by_handle(&mut self, handle: ConnectionHandle) -> Option<&mut C> {
        let s = self.slots.get_mut(handle.0)?.as_mut()?;
        s.conn.as_deref_mut()
    }

    pub fn get_mut(&mut self, key: ConnKey) -> Option<&mut C> {
        self.slot(key)?.conn.as_deref_mut()
    }

    /// Hands a received datagram to quinn-proto's `endpoint`: a connection's packet
    /// goes to it (queued for a pass), a stateless answer goes out through `io`, and
    /// the first packet of a new connection comes back to the caller to accept or
    /// refuse. `buf` is scratch for the answer.
    pub fn route(
        &mut self,
        endpoint: &mut Endpoint,
        io: &mut UdpIo,
        d: Datagram,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<Incoming> {
        buf.clear();
        match endpoint.handle(now, d.remote, d.local_ip, d.ecn, d.data, buf)? {
            DatagramEvent::ConnectionEvent(h, event) => {
                if let Some(c) = self.by_handle(h) {
                    c.proto().handle_event(event);
                    self.mark(h.0);
                }
                None
            }
            DatagramEvent::Response(t) => {
                io.send(&t, &buf[..t.size]);
                None
            }
            DatagramEvent::NewConnection(incoming) => Some(incoming),
        }
    }

    /// Queues the connection in `slot` for a pass.
    pub fn mark(&mut self, slot: usize) {
        if let Some(Some(s)) = self.slots.get_mut(slot)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Takes a connection out of its slot to work on it; [`Conns::put`] returns it.
    pub fn take(&mut self, key: ConnKey) -> Option<Box<C>> {
        self.slot(key)?.conn.take()
    }

    /// Returns a connection to its slot and queues it for a pass.
    pub fn put(&mut self, conn: Box<C>) {
        let key = conn.key();
        if let Some(s) = self.slot(key) {
            s.conn = Some(conn);
            self.mark(key.slot);
        }
    }

    /// Takes out the next connection queued for a pass.
    pub fn next_dirty(&mut self) -> Option<Box<C>> {
        while let Some(slot) = self.dirty.pop() {
            if let Some(Some(s)) = self.slots.get_mut(slot) {
                s.dirty = false;
                if let Some(c) = s.conn.take() {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Ends a pass: a drained connection leaves (quinn-proto let go of its handle when
    /// its Drained event was forwarded) and is handed back; any other goes back to its
    /// slot with its next timeout armed.
    pub fn done(&mut self, mut conn: Box<C>) -> Option<Box<C>> {
        let key = conn.key();
        if conn.proto().is_drained() {
            if self.slot(key).is_some() {
                self.slots[key.slot] = None;
            }
            return Some(conn);
        }
        let next = conn.next_deadline();
        let Some(s) = self
            .slots
            .get_mut(key.slot)
            .and_then(Option::as_mut)
            .filter(|s| s.key == key)
        else {
            return Some(conn);
        };
        s.conn = Some(conn);
        self.timers.arm(key, &mut s.armed, next);
        None
    }

    /// When the next timeout is due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Collects into `due` the connections whose timeout is due at `now`; one whose
    /// timeout moved later since it was armed (an ACK cleared the loss timer) is only
    /// armed again.
    pub fn expire(&mut self, now: Instant, due: &mut Vec<ConnKey>) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(s) = self
                .slots
                .get_mut(key.slot)
                .and_then(Option::as_mut)
                .filter(|s| s.key == key && s.armed == Some(at))
            else {
                continue;
            };
            s.armed = None;
            let Some(c) = s.conn.as_deref_mut() else {
                continue;
            };
            let next = c.next_deadline();
            if next.is_none_or(|t| t > now) {
                self.timers.arm(key, &mut s.armed, next);
            } else {
                due.push(key);
            }
        }
        let live = self
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.armed.map(|t| (t, s.key)));
        self.timers.compact(4 * self.slots.len() + 4096, live);
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut C> {
        self.slots
            .iter_mut()
            .flatten()
            .filter_map(|s| s.conn.as_deref_mut())
    }

    pub fn keys(&self) -> Vec<ConnKey> {
        self.slots.iter().flatten().map(|s| s.key).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

/// Hands quinn-proto's endpoint what the connection told it; true when the endpoint
/// answered (the connection then has more to do).
pub fn forward_endpoint_events(
    endpoint: &mut Endpoint,
    key: ConnKey,
    conn: &mut Connection,
) -> bool {
    let mut answered = false;
    while let Some(event) = conn.poll_endpoint_events() {
        if let Some(back) = endpoint.handle_event(key.handle(), event) {
            conn.handle_event(back);
            answered = true;
        }
    }
    answered
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_timer_comes_up_once_at_its_earliest_time_and_stale_entries_are_told_apart() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::default();
        let mut armed = None;
        timers.arm(1u32, &mut armed, Some(ms(30)));
        // Later: nothing new, the 30 ms entry comes first anyway.
        timers.arm(1, &mut armed, Some(ms(40)));
        assert_eq!(timers.len(), 1);
        // Earlier: a new entry; the 30 ms one is now stale.
        timers.arm(1, &mut armed, Some(ms(10)));
        assert_eq!((timers.len(), armed), (2, Some(ms(10))));
        assert_eq!(timers.pop_due(ms(5)), None, "nothing is due yet");
        let (at, key) = timers.pop_due(ms(35)).unwrap();
        assert_eq!((at, key), (ms(10), 1));
        assert_eq!(Some(at), armed, "the live entry");
        armed = None;
        let (at, _) = timers.pop_due(ms(35)).unwrap();
        assert_ne!(Some(at), armed, "the stale one");
        assert!(timers.is_empty());
        // Compacting keeps only what the connections have armed.
        for n in 0..10 {
            timers.arm(2, &mut None, Some(ms(100 - n)));
        }
        timers.compact(4, [(ms(91), 2u32)].into_iter());
        assert_eq!((timers.len(), timers.next()), (1, Some(ms(91))));
    }
}
