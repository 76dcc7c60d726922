//! The one place where bytes become messages and back: every encode and decode in the
//! project goes through here, so the wire format can be swapped in one file.
//!
//! The format is bincode 2 with its standard configuration (little endian, variable-length
//! integers: values below 251 take one byte, signed values are zigzag-encoded first).
//! Every decode is given a byte limit, so a hostile length prefix cannot make us allocate.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::{Decode, Encode};

use crate::messages::{ClientMessage, ServerMessage};
use crate::{MAX_CLIENT_FRAME, MAX_MESSAGES_PER_FRAME, MAX_SERVER_FRAME};

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the {limit} byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("frame has {0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("frame batches {0} messages, more than the limit")]
    TooManyMessages(usize),
    #[error("frame carries no message")]
    Empty,
    #[error("encode failed: {0}")]
    Encode(String),
}

type Config<const N: usize> = Configuration<LittleEndian, Varint, Limit<N>>;

const fn config_limited<const N: usize>() -> Config<N> {
    config::standard().with_limit::<N>()
}

/// Appends to a `Vec` directly; bincode's `std::io::Write` path costs a dynamic
/// dispatch per field, which shows on the snapshot hot path.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Encodes any protocol value into `out` (appending). Used for all message kinds.
pub fn encode_into<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::encode_into_writer(value, VecWriter(out), config::standard())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Encodes a value into a fresh buffer.
pub fn encode_to_vec<T: Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes exactly one value from `bytes`, allocating at most `N` bytes, rejecting
/// trailing garbage.
fn decode_exact<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > N {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit: N,
        });
    }
    let (value, read) = bincode::decode_from_slice(bytes, config_limited::<N>())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Encodes a client frame: a batch of one or more client messages.
pub fn encode_client_frame(
    messages: &[ClientMessage],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if messages.is_empty() {
        return Err(CodecError::Empty);
    }
    if messages.len() > MAX_MESSAGES_PER_FRAME {
        return Err(CodecError::TooManyMessages(messages.len()));
    }
    encode_into(&messages, out)
}

/// Decodes a client frame (server side). Never panics; bounded by [`MAX_CLIENT_FRAME`].
pub fn decode_client_frame(bytes: &[u8]) -> Result<Vec<ClientMessage>, CodecError> {
    // The count is checked before decoding so a huge count prefix costs nothing.
    let messages: Vec<ClientMessage> = decode_exact::<_, MAX_CLIENT_FRAME>(bytes)?;
    if messages.is_empty() {
        return Err(CodecError::Empty);
    }
    if messages.len() > MAX_MESSAGES_PER_FRAME {
        return Err(CodecError::TooManyMessages(messages.len()));
    }
    Ok(messages)
}

/// Encodes one server message into `out` (appending).
pub fn encode_server_message(message: &ServerMessage, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_into(message, out)
}

/// Decodes one server message (client side). Never panics; bounded by [`MAX_SERVER_FRAME`].
pub fn decode_server_message(bytes: &[u8]) -> Result<ServerMessage, CodecError> {
    decode_exact::<_, MAX_SERVER_FRAME>(bytes)
}

/// Decodes any protocol value under an explicit byte limit (tickets, tools).
pub fn decode_limited<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_exact::<T, N>(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ClientTier, Hello, MoveInput};

    #[test]
    fn client_frame_round_trips() {
        let frame = vec![
            ClientMessage::Input(MoveInput {
                seq: 7,
                dir_x: 127,
                dir_y: -3,
            }),
            ClientMessage::Ack { snapshot_id: 99 },
        ];
        let mut bytes = Vec::new();
        encode_client_frame(&frame, &mut bytes).unwrap();
        assert_eq!(decode_client_frame(&bytes).unwrap(), frame);
    }

    #[test]
    fn huge_count_prefix_is_rejected_without_allocating() {
        // varint marker 0xFD = u64 follows: claim 2^40 messages.
        let bytes = [0xFD, 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(decode_client_frame(&bytes).is_err());
    }

    #[test]
    fn oversized_and_trailing_frames_are_rejected() {
        let big = vec![0u8; MAX_CLIENT_FRAME + 1];
        assert!(matches!(
            decode_client_frame(&big),
            Err(CodecError::TooLarge { .. })
        ));
        let mut bytes = Vec::new();
        encode_client_frame(&[ClientMessage::Ping { nonce: 1 }], &mut bytes).unwrap();
        bytes.push(0);
        assert_eq!(
            decode_client_frame(&bytes),
            Err(CodecError::TrailingBytes(1))
        );
    }

    #[test]
    fn too_many_messages_are_rejected() {
        let msgs = vec![ClientMessage::Ping { nonce: 1 }; MAX_MESSAGES_PER_FRAME + 1];
        let mut bytes = Vec::new();
        encode_into(&msgs, &mut bytes).unwrap();
        assert_eq!(
            decode_client_frame(&bytes),
            Err(CodecError::TooManyMessages(MAX_MESSAGES_PER_FRAME + 1))
        );
        let hello = ClientMessage::Hello(Hello {
            protocol_version: 1,
            ticket: "x".into(),
            tier: ClientTier::Desktop,
        });
        assert!(encode_client_frame(&vec![hello; 17], &mut Vec::new()).is_err());
    }
}
