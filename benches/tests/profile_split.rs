//! `benches/profile-split.py`, which `PERF=1 benches/scale.sh` runs on the zone's
//! profile: a small `perf script` with one sample of each kind goes in, and each
//! sample must land in its part (kernel stacks by system call, the wake-ups inside
//! writes, user frames by the first frame naming a part, other threads apart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::io::Write;
use std::process::{Command, Stdio};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/profile-split.py");

/// `perf script` text: a header line per sample, then its frames from the leaf up.
const PROFILE: &str = "\
tick-scale 100 [000] 1.000001: 1 cycles:
\tffffffff81000001 tcp_sendmsg_locked+0x12 ([kernel.kallsyms])
\tffffffff81000002 __x64_sys_write+0x1 ([kernel.kallsyms])
\t7f0000000001 __libc_write+0x4 (/usr/lib/x86_64-linux-gnu/libc.so.6)

tick-scale 100 [000] 1.000002: 1 cycles:
\tffffffff81000003 try_to_wake_up+0x2 ([kernel.kallsyms])
\tffffffff81000004 sock_def_readable+0x2 ([kernel.kallsyms])
\tffffffff81000002 __x64_sys_write+0x1 ([kernel.kallsyms])

tick-scale 100 [000] 1.000003: 1 cycles:
\tffffffff81000005 tcp_recvmsg_locked+0x2 ([kernel.kallsyms])
\tffffffff81000006 __x64_sys_recvmsg+0x2 ([kernel.kallsyms])

tick-scale 100 [000] 1.000004: 1 cycles:
\t5555000001 __memmove_avx_unaligned_erms+0x2 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5555000002 arcane_protocol::sender::SnapshotSender::encode_next+0x9 (/x/zone-server)

tick-scale 100 [000] 1.000005: 1 cycles:
\t5555000003 arcane_engine::interest::update_views+0x9 (/x/zone-server)

tick-scale 100 [000] 1.000006: 1 cycles:
\t5555000004 tungstenite::protocol::WebSocketContext::read+0x9 (/x/zone-server)

tick-scale 100 [000] 1.000007: 1 cycles:
\t5555000005 __libc_malloc+0x9 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t5555000006 [unknown] ([unknown])

tokio-runtime-w 101 [000] 1.000008: 1 cycles:
\t5555000003 arcane_engine::interest::update_views+0x9 (/x/zone-server)

tick-scale 100 [000] 1.000009: 1 cycles:
\tffffffff81000007 asm_sysvec_apic_timer_interrupt+0x2 ([kernel.kallsyms])

tick-scale 100 [000] 1.000010: 1 cycles:
\tffffffff81000008 do_nanosleep+0x2 ([kernel.kallsyms])
\tffffffff81000009 __x64_sys_clock_nanosleep+0x2 ([kernel.kallsyms])
";

fn split(input: &str, us: &str) -> String {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(["--us", us])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() || input.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap()
}

/// The share and µs printed for `part`.
fn row<'a>(out: &'a str, part: &str) -> Vec<&'a str> {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(part))
        .unwrap_or_else(|| panic!("no row {part:?} in:\n{out}"));
    line[line.find(part).unwrap() + part.len()..]
        .split_whitespace()
        .collect()
}

#[test]
fn each_sample_lands_in_its_part() {
    // Ten samples at 10 µs per client per tick: each sample is 10 % and 1.00 µs.
    let out = split(PROFILE, "10");
    assert_eq!(row(&out, "kernel: writes (snapshots)"), ["20.0%", "2.00"]);
    assert_eq!(
        row(&out, "of the writes, waking clients (sock_def_readable)"),
        ["10.0%", "1.00"]
    );
    assert_eq!(row(&out, "kernel: reads (inputs)"), ["10.0%", "1.00"]);
    // The copy is charged to the encoder that called it.
    assert_eq!(
        row(&out, "tick: replication (diff, encode)"),
        ["10.0%", "1.00"]
    );
    assert_eq!(row(&out, "tick: interest"), ["10.0%", "1.00"]);
    assert_eq!(
        row(&out, "WebSocket passes (parse, frame, outbox)"),
        ["10.0%", "1.00"]
    );
    // With no named frame above it, an allocation counts as one.
    assert_eq!(row(&out, "copies, allocation"), ["10.0%", "1.00"]);
    // User code on another thread is that thread's, whatever it runs.
    assert_eq!(row(&out, "other threads"), ["10.0%", "1.00"]);
    assert_eq!(
        row(&out, "kernel: interrupts, faults, scheduling"),
        ["10.0%", "1.00"]
    );
    assert_eq!(row(&out, "kernel: sleeping, timers"), ["10.0%", "1.00"]);
    assert!(out.contains("(10 samples)"), "{out}");
}

#[test]
fn an_empty_profile_is_an_error_not_a_table() {
    let out = split("", "10");
    assert!(out.contains("no samples"), "{out}");
}
