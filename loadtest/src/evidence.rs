//! What a run keeps when a threshold breaks: the report and the zone's journal (from
//! the zone's ops listener, `/journal`, next to `/metrics`), in one folder, so a bug
//! report carries what is needed to replay the zone (`arcane replay --verify`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::report::Report;

/// Where the evidence of a broken run went.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub report: PathBuf,
    pub journal: PathBuf,
    /// Thresholds that broke, one per line, as `broken.txt` holds them.
    pub broken: Vec<String>,
}

/// Writes `report` and the zone's journal under `dir/<zone>-<unix ms>/`; `metrics` is
/// the zone's metrics URL (`http://host:port/metrics`), whose listener serves the
/// journal.
pub async fn save(
    dir: &Path,
    zone: &str,
    metrics: &str,
    report: &Report,
    broken: &[String],
) -> anyhow::Result<Evidence> {
    let base = metrics
        .strip_suffix("/metrics")
        .with_context(|| format!("{metrics} is not a /metrics URL"))?;
    let folder = dir.join(format!("{zone}-{}", unix_ms()));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let report_path = folder.join("report.json");
    std::fs::write(&report_path, crate::report::to_json(report)?)?;
    std::fs::write(folder.join("broken.txt"), broken.join("\n") + "\n")?;
    let url = format!("{base}/journal");
    let resp = reqwest::get(&url)
        .await
        .with_context(|| format!("cannot fetch {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    anyhow::ensure!(
        status.is_success(),
        "{url} answered {status}: {}",
        String::from_utf8_lossy(&body).trim()
    );
    let journal = folder.join(format!("{zone}.journal"));
    std::fs::write(&journal, &body)?;
    Ok(Evidence {
        report: report_path,
        journal,
        broken: broken.to_vec(),
    })
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
