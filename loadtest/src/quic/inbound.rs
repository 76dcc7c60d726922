//! What reaches a link from its connection, decoded: server messages off the stream
//! and out of datagrams (whose sequence numbers count the loss), or the close.

use std::time::Instant;

use arcane_protocol::DATAGRAM_HEADER;
use arcane_protocol::codec::decode_server_message;
use bytes::Bytes;

use crate::frame::{Incoming, Received};

/// Snapshot datagrams one connection received, and the gaps in their sequence
/// numbers (datagrams lost on the way, or still reordered in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramCount {
    pub received: u64,
    pub lost: u64,
}

/// Counts datagrams from their sequence numbers (1, 2, 3… per connection): a late,
/// reordered datagram fills the gap it had opened.
#[derive(Debug, Default)]
struct SeqTracker {
    highest: u32,
    received: u64,
}

impl SeqTracker {
    fn see(&mut self, seq: u32) -> DatagramCount {
        self.received += 1;
        self.highest = self.highest.max(seq);
        DatagramCount {
            received: self.received,
            lost: u64::from(self.highest).saturating_sub(self.received),
        }
    }
}

/// What the endpoint's task tells a link.
pub(super) enum LinkEvent {
    /// A datagram or stream frame, with the receive pass that read it.
    Datagram(Bytes, Instant),
    Frame(Bytes, Instant),
    Malformed(String),
    Closed(Option<String>),
}

/// A connection's received messages, decoded, with its datagram count.
#[derive(Default)]
pub(super) struct Inbound {
    seq: SeqTracker,
    pub(super) count: DatagramCount,
}

impl Inbound {
    pub(super) fn decode(&mut self, event: LinkEvent) -> Incoming {
        match event {
            LinkEvent::Frame(b, at) => match decode_server_message(&b) {
                Ok(m) => Incoming::Message(m, Received { bytes: b.len(), at }),
                Err(e) => Incoming::Malformed(e.to_string()),
            },
            LinkEvent::Datagram(d, at) if d.len() > DATAGRAM_HEADER => {
                let seq = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                self.count = self.seq.see(seq);
                match decode_server_message(&d[DATAGRAM_HEADER..]) {
                    Ok(m) => Incoming::Message(m, Received { bytes: d.len(), at }),
                    Err(e) => Incoming::Malformed(e.to_string()),
                }
            }
            LinkEvent::Datagram(..) => {
                Incoming::Malformed("datagram shorter than its header".into())
            }
            LinkEvent::Malformed(e) => Incoming::Malformed(e),
            LinkEvent::Closed(reason) => Incoming::Closed(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_in_datagram_sequence_numbers_count_as_loss_until_filled() {
        let mut t = SeqTracker::default();
        t.see(1);
        let c = t.see(4);
        assert_eq!(
            c,
            DatagramCount {
                received: 2,
                lost: 2
            }
        );
        // 3 was only reordered.
        let c = t.see(3);
        assert_eq!(
            c,
            DatagramCount {
                received: 3,
                lost: 1
            }
        );
    }
}
