//! The reliable stream, either end: reads and writes within quinn-proto's flow control,
//! and its framing (a 4-byte big-endian length, then the frame).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use quinn_proto::{Connection, ReadError, StreamId, WriteError};
use tokio_util::codec::{Encoder as _, LengthDelimitedCodec};

/// Moves queued bytes into stream `id` as far as its flow control allows. False when
/// the stream is gone (stopped or closed: the queue is dropped).
pub fn write_stream(conn: &mut Connection, id: StreamId, out: &mut VecDeque<Bytes>) -> bool {
    while let Some(front) = out.front_mut() {
        match conn.send_stream(id).write(front) {
            Ok(n) if n == front.len() => {
                out.pop_front();
            }
            Ok(n) => {
                let _ = front.split_to(n);
                return true;
            }
            Err(WriteError::Blocked) => return true,
            Err(_) => {
                out.clear();
                return false;
            }
        }
    }
    true
}

/// What [`read_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRead {
    /// Bytes were appended.
    pub got: bool,
    /// The peer ended or reset the stream.
    pub ended: bool,
}

/// Appends what stream `id` has to `into`, stopping once `into` holds `limit` bytes
/// (the rest waits in quinn-proto, within the stream's window).
pub fn read_stream(
    conn: &mut Connection,
    id: StreamId,
    into: &mut BytesMut,
    limit: usize,
) -> StreamRead {
    let mut read = StreamRead {
        got: false,
        ended: false,
    };
    let mut stream = conn.recv_stream(id);
    let Ok(mut chunks) = stream.read(true) else {
        read.ended = true;
        return read;
    };
    while into.len() < limit {
        match chunks.next(limit - into.len()) {
            Ok(Some(chunk)) => {
                into.extend_from_slice(&chunk.bytes);
                read.got = true;
            }
            Ok(None) | Err(ReadError::Reset(_)) => {
                read.ended = true;
                break;
            }
            Err(ReadError::Blocked) => break,
        }
    }
    // Returns the read bytes' flow control credit (sent with the next packet).
    let _ = chunks.finalize();
    read
}

/// The framing of the reliable stream, either direction (`PROTOCOL.md`): a 4-byte
/// big-endian length, then the frame. `max` bounds what a reader accepts before
/// anything is buffered.
pub fn stream_codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(max)
        .new_codec()
}

/// `frame` with its stream framing in front, ready to write; `None` when it is over
/// `max` bytes.
pub fn framed(frame: Bytes, max: usize) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity(4 + frame.len());
    stream_codec(max).encode(frame, &mut out).ok()?;
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_frame_reads_back_and_an_oversized_one_is_refused() {
        let out = framed(Bytes::from_static(b"hello"), 16).unwrap();
        assert_eq!(&out[..], b"\0\0\0\x05hello");
        let mut buf = BytesMut::from(&out[..]);
        let back = tokio_util::codec::Decoder::decode(&mut stream_codec(16), &mut buf);
        assert_eq!(back.unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(framed(Bytes::from(vec![0; 17]), 16), None);
    }
}
