//! The bytes under every message: bincode 2 with its standard configuration (little
//! endian, variable-length integers: values below 251 take one byte, signed values
//! are zigzag-encoded first), a byte limit on every decode, and [`StackBytes`] for the
//! hot entity updates. With `codec.rs` (the messages' frames) the only place bytes
//! become values.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::{Decode, Encode};

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("frame of {len} bytes exceeds the {limit} byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A text field was not valid UTF-8 (chat and names must be).
    #[error("malformed frame: a text is not valid UTF-8")]
    InvalidText,
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

/// A few bytes in bincode's standard layout, built on the stack for one hot value and
/// then handed to the encoder's writer in one call. bincode writes each field through
/// a call and a capacity check of its own, which shows for the many tiny entity updates
/// of a snapshot. The bytes are the same as bincode's (tested below).
pub(crate) struct StackBytes<const N: usize> {
    buf: [u8; N],
    len: usize,
}

// `inline(always)` on the writers: they run per field of every entity update, and left
// to itself the compiler kept `u32` a call (callgrind: 2.4 % of a tick).
impl<const N: usize> StackBytes<N> {
    /// bincode's marker bytes of a varint wider than one byte.
    const U16_MARK: u8 = 251;
    const U32_MARK: u8 = 252;

    #[inline]
    pub(crate) fn new() -> Self {
        StackBytes {
            buf: [0; N],
            len: 0,
        }
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Bytes still free.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        N - self.len
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// A `u8`: always one byte.
    #[inline(always)]
    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    /// A `u32` varint: below 251 one byte, else a marker and 2 or 4 little-endian bytes.
    #[inline(always)]
    pub(crate) fn u32(&mut self, v: u32) {
        if v < u32::from(Self::U16_MARK) {
            self.put(&[v as u8]);
        } else if let Ok(v) = u16::try_from(v) {
            self.put(&[Self::U16_MARK]);
            self.put(&v.to_le_bytes());
        } else {
            self.put(&[Self::U32_MARK]);
            self.put(&v.to_le_bytes());
        }
    }

    /// An `i32` varint: zigzag (0, -1, 1, -2, … as 0, 1, 2, 3, …), then as a `u32`.
    #[inline(always)]
    pub(crate) fn i32(&mut self, v: i32) {
        self.u32(((v << 1) ^ (v >> 31)) as u32);
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
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
pub(crate) fn decode_exact<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > N {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit: N,
        });
    }
    let (value, read) =
        bincode::decode_from_slice(bytes, config_limited::<N>()).map_err(|e| match e {
            bincode::error::DecodeError::Utf8 { .. } => CodecError::InvalidText,
            e => CodecError::Malformed(e.to_string()),
        })?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Decodes any protocol value under an explicit byte limit (tickets, tools).
pub fn decode_limited<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_exact::<T, N>(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_bytes_match_bincode() {
        let edges_u32 = [0, 1, 249, 250, 251, 252, 255, 256, 65_535, 65_536, u32::MAX];
        let edges_i32 = [
            0,
            1,
            -1,
            125,
            -125,
            126,
            -126,
            32_767,
            -32_768,
            32_768,
            -32_769,
            i32::MAX,
            i32::MIN,
        ];
        for v in edges_u32 {
            let mut b = StackBytes::<5>::new();
            b.u32(v);
            assert_eq!(b.as_slice(), encode_to_vec(&v).unwrap(), "u32 {v}");
        }
        for v in edges_i32 {
            let mut b = StackBytes::<5>::new();
            b.i32(v);
            assert_eq!(b.as_slice(), encode_to_vec(&v).unwrap(), "i32 {v}");
        }
        let mut b = StackBytes::<3>::new();
        b.u8(7);
        b.u8(251);
        b.u8(255);
        assert_eq!(b.as_slice(), encode_to_vec(&(7u8, 251u8, 255u8)).unwrap());
    }
}
