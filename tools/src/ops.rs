//! Kubernetes manifests generated from files of this repository — ConfigMaps of the
//! content designers edit and of the Grafana dashboard, and the PrometheusRule of
//! `ops/prometheus/alerts.yml` — written to `ops/k8s/generated/` by
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

/// A YAML value as JSON (the rule file holds maps, lists, strings and numbers).
fn yaml_to_json(y: &yaml_rust2::Yaml) -> serde_json::Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Hash(h) => serde_json::Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Array(a) => serde_json::Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::String(s) => serde_json::Value::String(s.clone()),
        Yaml::Integer(i) => serde_json::Value::from(*i),
        Yaml::Real(r) => r.parse::<f64>().map_or_else(
            |_| serde_json::Value::String(r.clone()),
            serde_json::Value::from,
        ),
        Yaml::Boolean(b) => serde_json::Value::Bool(*b),
        _ => serde_json::Value::Null,
    }
}

/// The PrometheusRule (Prometheus Operator) holding the rule groups of `alerts`.
fn prometheus_rule(alerts: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(alerts)
        .with_context(|| format!("cannot read {}", alerts.display()))?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .with_context(|| format!("{} is not YAML", alerts.display()))?;
    let rules = docs.first().map(yaml_to_json).unwrap_or_default();
    let doc = serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": { "name": "arcane-alerts", "labels": { "app.kubernetes.io/part-of": "arcane" } },
        "spec": { "groups": rules["groups"] },
    });
    let mut out = serde_json::to_string_pretty(&doc)?;
    out.push('\n');
    Ok(out)
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
            "prometheus-rules.json".into(),
            prometheus_rule(&root.join("ops/prometheus/alerts.yml"))?,
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
