//! The journal's bytes: records come back as written across rotated segments; a
//! tail cut anywhere or a flipped byte is found, reported and cut; no input makes the
//! reader panic; old runs are removed; a writer that cannot write stops cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::path::Path;

use arcane_engine::{PlayerId, ZoneCommand};
use arcane_journal::segment::{MAGIC, encode, segment_name, segments};
use arcane_journal::{
    ContentFiles, Journal, JournalConfig, JournalReader, ReadError, Record, Start, Tail, cut_tail,
};
use arcane_protocol::MoveInput;
use proptest::prelude::*;

fn start() -> Start {
    Start {
        format: arcane_journal::FORMAT_VERSION,
        zone_id: "meadow~2".into(),
        template: "meadow".into(),
        seed: 9,
        content: ContentFiles {
            version: 1,
            files: [("netcode.ron".to_string(), "()".to_string())].into(),
        },
        creature_ids: Some((1 << 40, 1 << 32)),
        lease_generation: Some(3),
        first_tick: 0,
        started_unix_ms: 0,
        writer: "test".into(),
        hash_every: 0,
        rows_every: 0,
    }
}

fn tick(t: u64) -> Record {
    Record::Tick {
        tick: t,
        host_us: t * 50_000,
        commands: (0..20)
            .map(|p| ZoneCommand::Input {
                player: PlayerId(p),
                input: MoveInput {
                    seq: t as u32,
                    dir_x: 127,
                    dir_y: -3,
                },
                received_us: t,
            })
            .collect(),
        epochs: vec![(t, 1)],
    }
}

fn read_all(path: &Path) -> (Vec<Record>, Tail) {
    let mut r = JournalReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next() {
        out.push(rec.unwrap());
    }
    (out, r.tail().clone())
}

/// Writes `n` tick records through a real writer with small segments.
fn write_run(dir: &Path, n: u64, segment_bytes: u64) -> std::path::PathBuf {
    let mut config = JournalConfig::new(dir);
    config.segment_bytes = segment_bytes;
    let mut j = Journal::start(&config, start()).unwrap();
    let run = j.run_dir().to_path_buf();
    for t in 0..n {
        j.record(tick(t));
    }
    j.finish(n, "done");
    run
}

#[test]
fn records_come_back_in_order_across_rotated_segments() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 500, 16 * 1024);
    let segs = segments(&run).unwrap();
    assert!(segs.len() > 3, "{} segments", segs.len());
    for s in &segs {
        // No segment overshoots the cap by more than one record.
        assert!(std::fs::metadata(s).unwrap().len() < 16 * 1024 + 2048);
    }
    let (records, tail) = read_all(&run);
    assert_eq!(tail, Tail::Clean);
    assert_eq!(records.len(), 502);
    assert!(matches!(&records[0], Record::Start(s) if s.zone_id == "meadow~2"));
    for (t, r) in records[1..501].iter().enumerate() {
        assert_eq!(r, &tick(t as u64));
    }
    assert!(matches!(&records[501], Record::End { tick: 500, .. }));
}

#[test]
fn a_merged_run_reads_as_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 300, 8 * 1024);
    let one = dir.path().join("one.journal");
    std::fs::write(&one, arcane_journal::segment::merged(&run).unwrap()).unwrap();
    assert_eq!(read_all(&one), read_all(&run));
    // In small chunks, the same bytes.
    let mut chunked = Vec::new();
    arcane_journal::segment::merged_chunks(&run, 100, |c| {
        assert!(c.len() <= 4096);
        chunked.extend_from_slice(c);
        Ok(())
    })
    .unwrap();
    assert_eq!(chunked, std::fs::read(&one).unwrap());
}

#[test]
fn a_tail_cut_anywhere_is_found_reported_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = MAGIC.to_vec();
    encode(&mut bytes, &Record::Start(Box::new(start()))).unwrap();
    let mut ends = vec![bytes.len()];
    for t in 0..4 {
        encode(&mut bytes, &tick(t)).unwrap();
        ends.push(bytes.len());
    }
    let seg = dir.path().join(segment_name(1));
    for cut in 0..bytes.len() {
        std::fs::write(&seg, &bytes[..cut]).unwrap();
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let (records, tail) = read_all(dir.path());
        assert_eq!(records.len(), whole, "cut at {cut}");
        let clean = cut == MAGIC.len() || ends.contains(&cut);
        match &tail {
            Tail::Clean => assert!(clean, "cut at {cut} not reported"),
            Tail::Torn { offset, .. } => {
                assert!(!clean, "clean cut at {cut} reported torn");
                let expect = ends
                    .iter()
                    .copied()
                    .filter(|&e| e <= cut)
                    .max()
                    .unwrap_or(0);
                assert_eq!(*offset as usize, expect.max(if cut < 8 { 0 } else { 8 }));
            }
        }
        cut_tail(&tail).unwrap();
        if cut >= MAGIC.len() {
            let (again, tail) = read_all(dir.path());
            assert_eq!(
                (again.len(), tail),
                (whole, Tail::Clean),
                "after cutting {cut}"
            );
        } else {
            assert!(!seg.exists(), "an empty segment is removed");
        }
    }
}

#[test]
fn a_flipped_byte_is_a_torn_tail_in_the_last_segment_and_corruption_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 300, 8 * 1024);
    let segs = segments(&run).unwrap();
    let first = &segs[0];
    let mut b = std::fs::read(first).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x40;
    std::fs::write(first, &b).unwrap();
    let mut r = JournalReader::open(&run).unwrap();
    let err = std::iter::from_fn(|| r.next()).find_map(Result::err);
    assert!(
        matches!(err, Some(ReadError::Corrupt { ref path, .. }) if path == first),
        "{err:?}"
    );

    let last = segs.last().unwrap();
    let mut b = std::fs::read(last).unwrap();
    let n = b.len();
    b[n - 3] ^= 0x01;
    std::fs::write(last, &b).unwrap();
    let (records, tail) = read_all(last);
    assert!(matches!(tail, Tail::Torn { .. }));
    assert!(!records.is_empty());
}

#[test]
fn old_runs_beyond_the_kept_number_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = JournalConfig::new(dir.path());
    config.keep_runs = 3;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let j = Journal::start(&config, start()).unwrap();
        runs.push(j.run_dir().to_path_buf());
        j.finish(0, "done");
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let zone_dir = dir.path().join("meadow~2");
    let left: Vec<_> = std::fs::read_dir(&zone_dir).unwrap().collect();
    assert_eq!(left.len(), 3);
    assert!(!runs[0].exists() && !runs[1].exists());
    assert!(runs[2..].iter().all(|r| r.exists()));
}

#[test]
fn a_writer_that_cannot_write_stops_and_what_it_wrote_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = JournalConfig::new(dir.path());
    config.segment_bytes = 4096;
    let mut j = Journal::start(&config, start()).unwrap();
    // The next segment's name is taken by a folder: rotation fails like a full disk.
    std::fs::create_dir(j.run_dir().join(segment_name(2))).unwrap();
    let stats = j.stats();
    for t in 0..200 {
        j.record(tick(t));
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    assert!(!j.is_running(), "the tick side noticed");
    assert!(stats.errors.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let run = j.run_dir().to_path_buf();
    j.finish(200, "done");
    let mut r = JournalReader::open(&run.join(segment_name(1))).unwrap();
    let records: Vec<_> = std::iter::from_fn(|| r.next())
        .map(Result::unwrap)
        .collect();
    assert!(records.len() > 1);
    assert_eq!(r.tail(), &Tail::Clean);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a segment holds, the reader ends without panicking.
    #[test]
    fn arbitrary_segments_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&tail);
        std::fs::write(dir.path().join(segment_name(1)), &bytes).unwrap();
        let mut r = JournalReader::open(dir.path()).unwrap();
        let mut n = 0;
        while let Some(rec) = r.next() {
            n += 1;
            if rec.is_err() || n > 10_000 { break; }
        }
    }

    /// A valid journal with bytes mutated anywhere reads a prefix of it, or stops
    /// with an error: never a record that was not written.
    #[test]
    fn mutated_journals_yield_only_written_records(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = MAGIC.to_vec();
        let written: Vec<Record> = (0..10).map(tick).collect();
        for r in &written { encode(&mut bytes, r).unwrap(); }
        for (i, x) in flips {
            let at = MAGIC.len() + i.index(bytes.len() - MAGIC.len());
            bytes[at] ^= x | 1;
        }
        std::fs::write(dir.path().join(segment_name(1)), &bytes).unwrap();
        let mut r = JournalReader::open(dir.path()).unwrap();
        let mut k = 0;
        while let Some(rec) = r.next() {
            match rec {
                Ok(rec) => { prop_assert_eq!(&rec, &written[k]); k += 1; }
                Err(_) => break,
            }
        }
    }
}
