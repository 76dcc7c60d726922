//! Frames of messages: a client frame (a batch of client messages) and a server
//! message, each decoded under the size limit of its direction. The bytes underneath
//! are `wire.rs`'s; the two files are the only places bytes become values, so the wire
//! format can be swapped there.

use crate::messages::{ClientMessage, ServerMessage};
use crate::wire::decode_exact;
pub use crate::wire::{CodecError, decode_limited, encode_into, encode_to_vec};
use crate::{MAX_CLIENT_FRAME, MAX_MESSAGES_PER_FRAME, MAX_SERVER_FRAME};

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
