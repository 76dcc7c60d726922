//! The bytes of a journal: a run is a folder of numbered segment files, each an
//! 8-byte magic followed by records framed as `[len: u32 LE][crc32c: u32 LE][payload]`,
//! the payload a postcard-encoded [`Record`].
//!
//! Reading never panics and stops at the first frame that is cut short or fails its
//! checksum. In the last segment that is the torn tail of a killed writer, reported
//! as [`Tail::Torn`] (and cut by [`cut_tail`]); anywhere else it is corruption.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::record::Record;

/// The first bytes of every segment (`ARCJNL`, then the format version).
pub const MAGIC: [u8; 8] = *b"ARCJNL\x00\x01";

/// The largest record accepted (a join carries a saved player; a reload, the content).
pub const MAX_RECORD: u32 = 64 * 1024 * 1024;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Frames `payload` onto `out`.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&CRC.checksum(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Encodes and frames one record.
pub fn encode(out: &mut Vec<u8>, record: &Record) -> Result<(), postcard::Error> {
    let payload = postcard::to_stdvec(record)?;
    frame(out, &payload);
    Ok(())
}

/// The name of segment `n` of a run.
pub fn segment_name(n: u32) -> String {
    format!("{n:08}.journal")
}

/// The segment files of a run folder, in order.
pub fn segments(run: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(run)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_suffix(".journal")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// Why reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Every segment read to its end.
    Clean,
    /// The last segment ends in a frame cut short or failing its checksum, at byte
    /// `offset`: a writer killed mid-write. Everything before it is good.
    Torn { segment: PathBuf, offset: u64 },
}

/// What went wrong reading a journal.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} is not a journal segment (bad magic)")]
    NotJournal(PathBuf),
    #[error("{0} has no segments")]
    Empty(PathBuf),
    #[error("{path}: the record at byte {offset} cannot be read: {why}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
}

/// Reads the records of a run folder (or of one segment file) in order.
pub struct JournalReader {
    segments: Vec<PathBuf>,
    next_segment: usize,
    current: Option<(PathBuf, BufReader<File>, u64)>,
    tail: Tail,
    buf: Vec<u8>,
}

impl JournalReader {
    /// Opens a run folder, or a single segment file.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let segments = if path.is_dir() {
            segments(path).map_err(|e| ReadError::Io(path.to_path_buf(), e))?
        } else {
            vec![path.to_path_buf()]
        };
        if segments.is_empty() {
            return Err(ReadError::Empty(path.to_path_buf()));
        }
        Ok(JournalReader {
            segments,
            next_segment: 0,
            current: None,
            tail: Tail::Clean,
            buf: Vec::new(),
        })
    }

    /// How reading ended (meaningful once `next` returned `None`).
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    fn open_next(&mut self) -> Result<bool, ReadError> {
        let Some(path) = self.segments.get(self.next_segment).cloned() else {
            return Ok(false);
        };
        self.next_segment += 1;
        let file = File::open(&path).map_err(|e| ReadError::Io(path.clone(), e))?;
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        match read_full(&mut r, &mut magic) {
            Ok(8) if magic == MAGIC => {}
            Ok(n) if n < 8 && self.next_segment == self.segments.len() => {
                // A segment created just before the writer was killed.
                self.tail = Tail::Torn {
                    segment: path,
                    offset: 0,
                };
                return Ok(false);
            }
            Ok(_) => return Err(ReadError::NotJournal(path)),
            Err(e) => return Err(ReadError::Io(path, e)),
        }
        self.current = Some((path, r, 8));
        Ok(true)
    }

    /// The next record, `None` at the end (see [`JournalReader::tail`]).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Record, ReadError>> {
        loop {
            if self.current.is_none() {
                match self.open_next() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            }
            let last = self.next_segment == self.segments.len();
            let (path, r, offset) = self.current.as_mut()?;
            match read_frame(r, &mut self.buf) {
                Frame::End => {
                    self.current = None;
                    continue;
                }
                Frame::Bad(why) => {
                    let (path, offset) = (path.clone(), *offset);
                    self.current = None;
                    if last {
                        self.tail = Tail::Torn {
                            segment: path,
                            offset,
                        };
                        return None;
                    }
                    let why = format!("{why} (not in the last segment, so not a torn tail)");
                    return Some(Err(ReadError::Corrupt { path, offset, why }));
                }
                Frame::Io(e) => {
                    let path = path.clone();
                    self.current = None;
                    return Some(Err(ReadError::Io(path, e)));
                }
                Frame::Ok => {
                    let at = *offset;
                    *offset += 8 + self.buf.len() as u64;
                    match postcard::from_bytes::<Record>(&self.buf) {
                        Ok(rec) => return Some(Ok(rec)),
                        Err(e) => {
                            // The checksum held, so the writer wrote it: a record this
                            // reader cannot decode (another format) is corruption.
                            return Some(Err(ReadError::Corrupt {
                                path: path.clone(),
                                offset: at,
                                why: format!(
                                    "its checksum holds but it does not decode ({e}): \
                                     written by another version of the journal format?"
                                ),
                            }));
                        }
                    }
                }
            }
        }
    }
}

enum Frame {
    Ok,
    End,
    Bad(String),
    Io(std::io::Error),
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Frame {
    let mut head = [0u8; 8];
    match read_full(r, &mut head) {
        Ok(0) => return Frame::End,
        Ok(8) => {}
        Ok(n) => return Frame::Bad(format!("header cut short ({n} of 8 bytes)")),
        Err(e) => return Frame::Io(e),
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD {
        return Frame::Bad(format!("length {len} over the {MAX_RECORD}-byte limit"));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    match read_full(r, buf) {
        Ok(n) if n == buf.len() => {}
        Ok(n) => return Frame::Bad(format!("record cut short ({n} of {len} bytes)")),
        Err(e) => return Frame::Io(e),
    }
    if CRC.checksum(buf) != crc {
        return Frame::Bad("checksum mismatch".into());
    }
    Frame::Ok
}

/// A whole run as one segment (the magic, then every segment's records in order),
/// handed to `send` in chunks of up to `chunk` bytes: how a run is handed over in one
/// file. A segment still being written ends wherever its writer is (a reader sees a
/// torn tail there at worst).
pub fn merged_chunks(
    run: &Path,
    chunk: usize,
    mut send: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    send(&MAGIC)?;
    let mut buf = vec![0u8; chunk.max(4096)];
    for s in segments(run)? {
        let mut f = File::open(&s)?;
        let mut magic = [0u8; 8];
        if read_full(&mut f, &mut magic)? < MAGIC.len() || magic != MAGIC {
            continue;
        }
        loop {
            let n = read_full(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            send(&buf[..n])?;
        }
    }
    Ok(())
}

/// [`merged_chunks`] into memory.
pub fn merged(run: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    merged_chunks(run, 1 << 20, |c| {
        out.extend_from_slice(c);
        Ok(())
    })?;
    Ok(out)
}

/// Appends one record to the last segment of a run (after its tail was cut): how a
/// recovery marks the run it recovered.
pub fn append(run: &Path, record: &Record) -> std::io::Result<()> {
    let last = segments(run)?
        .pop()
        .ok_or_else(|| std::io::Error::other("the run has no segment"))?;
    let mut bytes = Vec::new();
    encode(&mut bytes, record).map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new().append(true).open(last)?;
    std::io::Write::write_all(&mut f, &bytes)?;
    f.sync_all()
}

/// Cuts a torn tail off its segment, so the next writer or reader finds a clean end.
pub fn cut_tail(tail: &Tail) -> std::io::Result<()> {
    if let Tail::Torn { segment, offset } = tail {
        if *offset < MAGIC.len() as u64 {
            // Not even a whole magic: the segment holds nothing.
            return std::fs::remove_file(segment);
        }
        let f = std::fs::OpenOptions::new().write(true).open(segment)?;
        f.set_len(*offset)?;
        f.sync_all()?;
    }
    Ok(())
}
