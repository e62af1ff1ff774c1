//! The pending-event set: a priority queue with a total order on `(time, seq)`.
//!
//! `seq` is the insertion counter, so events at the same instant pop in the order they were
//! scheduled (FIFO ties), as in ns-3's `EventKey {ts, uid}` and Shadow's event queue.
//!
//! A discrete-event queue is *monotone*: nothing is ever scheduled before the last delivered
//! event. That makes it a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan 1990): bucket `b` holds
//! the events whose time first differs from the last delivered time `last` in bit `b - 1`, and
//! a FIFO holds the events due exactly at `last`. Push is O(1); pop is amortized O(log T) with
//! T the time range (each event moves to a lower bucket at most 64 times). Same-time events
//! always share a bucket and buckets are appended in `seq` order and redistributed in scan
//! order, so ties leave in FIFO order.
//!
//! Cancellation is lazy: [`EventQueue::cancel`] remembers the token's key, and a cancelled
//! entry is dropped when it is met. Deliveries are monotone in `(time, seq)` and a new event
//! is never keyed at or below the last delivered one, so a token is still pending exactly when
//! its key is above the last delivered key and it has not been cancelled; cancelled keys are
//! forgotten once a delivery passes them. The hot path pays one emptiness check for this.

use std::collections::{BTreeSet, VecDeque};

use crate::time::SimTime;

/// A handle to one scheduled event, used to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    time: SimTime,
    seq: u64,
}

impl Token {
    /// When the event is (or was) due.
    pub fn time(self) -> SimTime {
        self.time
    }
}

struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

/// Buckets 1..=64 (index 0 unused: events due at `last` live in `due`).
const BUCKETS: usize = 65;

/// Events of type `E` ordered by `(time, seq)`.
pub struct EventQueue<E> {
    /// Events due exactly at `last`, in `seq` order.
    due: VecDeque<Entry<E>>,
    buckets: Vec<Vec<Entry<E>>>,
    /// Bit `b - 1` set when `buckets[b]` is non-empty.
    nonempty: u64,
    /// The radix base: the time of the last delivered event (zero before any).
    last: SimTime,
    next_seq: u64,
    /// Key of the last delivered entry; `None` before any.
    last_delivered: Option<(SimTime, u64)>,
    /// Keys of cancelled entries not yet passed by a delivery.
    cancelled: BTreeSet<(SimTime, u64)>,
    /// Pending events that are not cancelled.
    live: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A queue whose due-now FIFO starts with room for `n` events.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            due: VecDeque::with_capacity(n.min(1 << 16)),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            nonempty: 0,
            last: SimTime::ZERO,
            next_seq: 0,
            last_delivered: None,
            cancelled: BTreeSet::new(),
            live: 0,
        }
    }

    #[inline]
    fn bucket_of(&self, time: SimTime) -> usize {
        (64 - (time.as_nanos() ^ self.last.as_nanos()).leading_zeros()) as usize
    }

    #[inline]
    fn file(&mut self, entry: Entry<E>) {
        let b = self.bucket_of(entry.time);
        if b == 0 {
            self.due.push_back(entry);
        } else {
            self.buckets[b].push(entry);
            self.nonempty |= 1 << (b - 1);
        }
    }

    #[inline]
    fn is_cancelled(&self, e: &Entry<E>) -> bool {
        !self.cancelled.is_empty() && self.cancelled.contains(&(e.time, e.seq))
    }

    /// Schedules `event` at `time` and returns its cancellation token.
    ///
    /// # Panics
    /// If `time` is before the last delivered event's time: the simulated clock never runs
    /// backwards, so such a push is a bug in the caller.
    pub fn push(&mut self, time: SimTime, event: E) -> Token {
        assert!(
            time >= self.last,
            "event scheduled at {time}, before the current time {}",
            self.last
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        self.live += 1;
        self.file(Entry { time, seq, event });
        Token { time, seq }
    }

    /// Empties the lowest non-empty bucket into lower ones around its earliest live time,
    /// dropping cancelled entries. Returns `false` if no bucket holds anything.
    fn refill(&mut self) -> bool {
        while self.nonempty != 0 {
            let b = self.nonempty.trailing_zeros() as usize + 1;
            self.nonempty &= !(1 << (b - 1));
            let mut bucket = std::mem::take(&mut self.buckets[b]);
            let Some(min) = bucket
                .iter()
                .filter(|e| !self.is_cancelled(e))
                .map(|e| e.time)
                .min()
            else {
                bucket.clear();
                self.buckets[b] = bucket;
                continue;
            };
            // Relative to `min`, every entry differs in a lower bit than `b - 1`, so none
            // lands back in bucket `b`: hand its allocation back for reuse.
            self.last = min;
            for e in bucket.drain(..) {
                if !self.is_cancelled(&e) {
                    self.file(e);
                }
            }
            self.buckets[b] = bucket;
            return true;
        }
        false
    }

    /// The earliest live time in the lowest non-empty bucket, without moving anything.
    fn bucket_min(&self) -> Option<SimTime> {
        let mut mask = self.nonempty;
        while mask != 0 {
            let b = mask.trailing_zeros() as usize + 1;
            mask &= !(1 << (b - 1));
            let min = self.buckets[b]
                .iter()
                .filter(|e| !self.is_cancelled(e))
                .map(|e| e.time)
                .min();
            if min.is_some() {
                return min;
            }
        }
        None
    }

    /// Drops cancelled entries from the front of the due FIFO.
    fn skip_cancelled_due(&mut self) {
        while let Some(front) = self.due.front() {
            if !self.is_cancelled(front) {
                return;
            }
            self.due.pop_front();
        }
    }

    fn deliver(&mut self, e: Entry<E>) -> (SimTime, E) {
        let key = (e.time, e.seq);
        self.last_delivered = Some(key);
        self.live -= 1;
        while self.cancelled.first().is_some_and(|&c| c <= key) {
            self.cancelled.pop_first();
        }
        (e.time, e.event)
    }

    /// Removes and returns the earliest pending event, skipping cancelled ones.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        loop {
            self.skip_cancelled_due();
            if let Some(e) = self.due.pop_front() {
                return Some(self.deliver(e));
            }
            if !self.refill() {
                return None;
            }
        }
    }

    /// Like [`pop`](Self::pop), but only an event due at or before `until`.
    pub fn pop_at_or_before(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        self.skip_cancelled_due();
        if self.due.is_empty() && self.bucket_min()? > until {
            return None;
        }
        self.pop()
    }

    /// The time of the earliest pending event, if any.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.skip_cancelled_due();
        match self.due.front() {
            Some(e) => Some(e.time),
            None => self.bucket_min(),
        }
    }

    /// The earliest pending event, without removing it.
    pub fn peek(&mut self) -> Option<(SimTime, &E)> {
        self.skip_cancelled_due();
        if let Some(e) = self.due.front() {
            return Some((e.time, &e.event));
        }
        let min = self.bucket_min()?;
        let b = self.bucket_of(min);
        // Same-time entries share a bucket in seq order: the first one at `min` is next.
        self.buckets[b]
            .iter()
            .find(|e| e.time == min && !self.is_cancelled(e))
            .map(|e| (e.time, &e.event))
    }

    /// Cancels a pending event. Returns `true` if it was pending (it will now never be
    /// delivered), `false` if it was already delivered or cancelled.
    ///
    /// Tokens must come from this queue; a token from another queue gives a meaningless answer.
    pub fn cancel(&mut self, token: Token) -> bool {
        let key = (token.time, token.seq);
        let delivered = self.last_delivered.is_some_and(|last| key <= last);
        if delivered || token.seq >= self.next_seq || !self.cancelled.insert(key) {
            return false;
        }
        self.live -= 1;
        true
    }

    /// Number of pending (not cancelled) events.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Total number of events ever pushed.
    pub fn scheduled_count(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ns: u64) -> SimTime {
        SimTime::from_nanos(ns)
    }

    #[test]
    fn pops_in_time_order_with_fifo_ties() {
        let mut q = EventQueue::new();
        q.push(t(30), "c");
        q.push(t(10), "a1");
        q.push(t(20), "b");
        q.push(t(10), "a2");
        q.push(t(10), "a3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (t(10), "a1"),
                (t(10), "a2"),
                (t(10), "a3"),
                (t(20), "b"),
                (t(30), "c")
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.scheduled_count(), 5);
    }

    #[test]
    fn cancel_pending_and_delivered() {
        let mut q = EventQueue::new();
        let a = q.push(t(1), 'a');
        let b = q.push(t(2), 'b');
        let c = q.push(t(3), 'c');
        assert_eq!(q.len(), 3);
        assert!(q.cancel(b));
        assert!(!q.cancel(b), "second cancel of the same token");
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some((t(1), 'a')));
        assert!(!q.cancel(a), "already delivered");
        assert_eq!(q.peek_time(), Some(t(3)));
        assert!(!q.cancel(b), "cancelled and skipped");
        assert_eq!(q.pop(), Some((t(3), 'c')));
        assert!(!q.cancel(c));
        assert_eq!(q.pop(), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn same_time_push_after_pop_is_pending_and_cancellable() {
        let mut q = EventQueue::new();
        q.push(t(5), 1);
        assert_eq!(q.pop(), Some((t(5), 1)));
        let tok = q.push(t(5), 2);
        assert!(q.cancel(tok));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn skipping_cancelled_entries_does_not_move_the_clock_floor() {
        let mut q = EventQueue::new();
        q.push(t(1), 'a');
        let late = q.push(t(100), 'z');
        assert!(q.cancel(late));
        assert_eq!(q.pop(), Some((t(1), 'a')));
        assert_eq!(q.peek_time(), None, "only the cancelled entry was left");
        assert!(!q.cancel(late), "still cancelled after being skipped");
        q.push(t(50), 'b');
        assert!(!q.cancel(late));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((t(50), 'b')));
    }

    #[test]
    #[should_panic(expected = "before the current time")]
    fn time_never_runs_backwards() {
        let mut q = EventQueue::new();
        q.push(t(10), ());
        q.pop();
        q.push(t(9), ());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u64),
        Pop,
        PopUntil(u64),
        Peek,
        Cancel(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (0u64..50).prop_map(Op::Push),
                1 => (0u64..1 << 40).prop_map(Op::Push),
                1 => (0u64..100).prop_map(Op::PopUntil),
                3 => Just(Op::Pop),
                1 => Just(Op::Peek),
                1 => (0usize..64).prop_map(Op::Cancel),
            ],
            0..300,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any schedule: every pop returns exactly the earliest live (time, seq) — so pops are
        /// in increasing order and FIFO on ties — cancelled events never come out, and
        /// everything else comes out exactly once.
        #[test]
        fn random_schedules_pop_in_order(ops in ops()) {
            let mut q = EventQueue::new();
            let mut tokens: Vec<Token> = Vec::new();
            let mut now = 0u64;
            let mut cancelled = std::collections::BTreeSet::new();
            let mut delivered = std::collections::BTreeSet::new();
            let mut last: Option<(SimTime, u64)> = None;
            for op in ops {
                match op {
                    Op::Push(dt) => tokens.push(q.push(t(now + dt), tokens.len() as u64)),
                    Op::Pop | Op::PopUntil(_) => {
                        let live = (0..tokens.len() as u64)
                            .filter(|id| !delivered.contains(id) && !cancelled.contains(id))
                            .map(|id| (tokens[id as usize].time(), id))
                            .min();
                        let got = match op {
                            Op::PopUntil(dt) => q.pop_at_or_before(t(now + dt)),
                            _ => q.pop(),
                        };
                        let expect = match op {
                            Op::PopUntil(dt) => live.filter(|(time, _)| time.as_nanos() <= now + dt),
                            _ => live,
                        };
                        prop_assert_eq!(got, expect);
                        if let Some((time, id)) = got {
                            let key = (time, id);
                            prop_assert!(last.is_none_or(|l| key > l), "{:?} after {:?}", key, last);
                            delivered.insert(id);
                            last = Some(key);
                            now = time.as_nanos();
                        }
                    }
                    Op::Peek => {
                        let live = (0..tokens.len() as u64)
                            .filter(|id| !delivered.contains(id) && !cancelled.contains(id))
                            .map(|id| (tokens[id as usize].time(), id))
                            .min();
                        prop_assert_eq!(q.peek_time(), live.map(|(t, _)| t));
                        prop_assert_eq!(q.peek().map(|(t, &id)| (t, id)), live);
                    }
                    Op::Cancel(i) => {
                        if let Some(&tok) = tokens.get(i) {
                            let id = i as u64;
                            let expect = !delivered.contains(&id) && !cancelled.contains(&id);
                            prop_assert_eq!(q.cancel(tok), expect);
                            if expect { cancelled.insert(id); }
                        }
                    }
                }
                prop_assert_eq!(q.len(), tokens.len() - delivered.len() - cancelled.len());
            }
            while let Some((_, id)) = q.pop() {
                prop_assert!(!cancelled.contains(&id));
                prop_assert!(delivered.insert(id));
            }
            prop_assert_eq!(delivered.len() + cancelled.len(), tokens.len());
        }
    }
}
