//! Kubernetes ConfigMaps generated from files of this repository — the content
//! designers edit and the Grafana dashboard — written to `ops/k8s/generated/` by
//! `arcane ops-configmaps`. A test regenerates them and fails when the committed ones
//! differ, so the manifests never ship stale content.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

/// `(name, files)` → a ConfigMap as pretty JSON (kubectl and kustomize read JSON).
fn configmap(name: &str, labels: &[(&str, &str)], data: BTreeMap<String, String>) -> String {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "labels": labels },
        "data": data,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Every `*.<ext>` file directly in `dir`, by file name.
fn files(dir: &Path, ext: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("file name is not UTF-8")?
                .to_string();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            out.insert(name, text);
        }
    }
    Ok(out)
}

/// The generated manifests: file name under `ops/k8s/generated/` → its text.
pub fn generated_configmaps(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let part_of = ("app.kubernetes.io/part-of", "arcane");
    Ok(vec![
        (
            "content.json".into(),
            configmap(
                "arcane-content",
                &[part_of],
                files(&root.join("content"), "ron")?,
            ),
        ),
        (
            "content-zones.json".into(),
            configmap(
                "arcane-content-zones",
                &[part_of],
                files(&root.join("content/zones"), "ron")?,
            ),
        ),
        (
            "grafana-dashboard.json".into(),
            configmap(
                "arcane-grafana-dashboard",
                &[part_of, ("grafana_dashboard", "1")],
                files(&root.join("ops/grafana/dashboards"), "json")?,
            ),
        ),
    ])
}
