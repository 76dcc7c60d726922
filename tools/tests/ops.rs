//! Validates everything in `ops/` against the code, since no container engine or
//! cluster runs here: every manifest parses; the flags and environment variables the
//! manifests give the binaries are ones those binaries accept, with values that parse;
//! ports agree between the Fleet, compose, Prometheus, the Dockerfile and the server's
//! settings; the generated ConfigMaps match the content and dashboard they come from;
//! and, from a zone and an orchestrator scraped while a QUIC and WebSocket bot swarm
//! plays, every metric the dashboard and the runbook name exists, with sensible values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly by design

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use arcane_loadtest::client::Transport;
use arcane_loadtest::scrape;
use arcane_loadtest::swarm::{SwarmConfig, run_swarm_blocking};
use arcane_orchestrator::cli::OrchestratorArgs;
use arcane_zone_server::ZoneServerConfig;
use clap::{CommandFactory, Parser};
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

#[derive(Parser)]
struct ZoneCli {
    #[command(flatten)]
    config: ZoneServerConfig,
}

#[derive(Parser)]
struct OrchestratorCli {
    #[command(flatten)]
    args: OrchestratorArgs,
}

/// Environment variables a binary reads through clap: name → long flag.
fn env_flags<C: CommandFactory>() -> HashMap<String, String> {
    C::command()
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_string();
            Some((env, a.get_long()?.to_string()))
        })
        .collect()
}

/// Variables read outside clap (logging, the Agones sidecar port).
const OTHER_ENV: [&str; 3] = ["ARCANE_LOG_FORMAT", "RUST_LOG", "AGONES_SDK_HTTP_PORT"];

/// Checks that `args` plus `env` (as the flags they stand for) parse for binary `C`,
/// and returns the parsed value. Secrets from `secretKeyRef` are given a placeholder.
fn parses<C: Parser + CommandFactory>(what: &str, args: &[String], env: &[(String, String)]) -> C {
    let flags = env_flags::<C>();
    let mut argv = vec!["bin".to_string()];
    argv.extend(args.iter().cloned());
    for (name, value) in env {
        if OTHER_ENV.contains(&name.as_str()) {
            continue;
        }
        let long = flags
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no flag reads the environment variable {name}"));
        // A flag on the command line wins over its variable, as in clap.
        let given = args
            .iter()
            .any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
        if !given {
            argv.push(format!("--{long}={value}"));
        }
    }
    C::try_parse_from(&argv).unwrap_or_else(|e| panic!("{what}: {argv:?} does not parse: {e}"))
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn list(y: &Yaml) -> Vec<Yaml> {
    y.as_vec().cloned().unwrap_or_default()
}

/// A Kubernetes container's args and environment (secret references get a value).
fn container_cli(c: &Yaml) -> (Vec<String>, Vec<(String, String)>) {
    let args = list(&c["args"]).iter().map(s).collect();
    let env = list(&c["env"])
        .iter()
        .map(|e| {
            let value = match &e["value"] {
                Yaml::BadValue => "from-a-secret".to_string(),
                v => s(v),
            };
            (s(&e["name"]), value)
        })
        .collect();
    (args, env)
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

fn docs_by_kind(rel: &str) -> HashMap<String, Yaml> {
    yaml(rel).into_iter().map(|d| (s(&d["kind"]), d)).collect()
}

#[test]
fn kubernetes_manifests_name_flags_ports_and_files_that_exist() {
    // The kustomization lists files that exist, and nothing in k8s/ is left out.
    let kustomization = &yaml("ops/k8s/kustomization.yaml")[0];
    let resources: Vec<String> = list(&kustomization["resources"]).iter().map(s).collect();
    for r in &resources {
        assert!(
            root().join("ops/k8s").join(r).exists(),
            "kustomization lists missing {r}"
        );
    }
    for f in std::fs::read_dir(root().join("ops/k8s")).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                resources.contains(&name),
                "{name} is not in the kustomization"
            );
        }
    }

    // The Fleet: the zone server accepts its args and environment, and the ports it
    // listens on are the ones the Fleet exposes and Prometheus scrapes.
    let fleet = docs_by_kind("ops/k8s/fleet.yaml").remove("Fleet").unwrap();
    let gs = &fleet["spec"]["template"]["spec"];
    let container = &gs["template"]["spec"]["containers"][0];
    let (args, env) = container_cli(container);
    let zone: ZoneCli = parses("fleet zone-server", &args, &env);
    assert!(zone.config.agones, "Fleet zones run in Agones mode");
    let ports: HashMap<String, (u16, String)> = list(&gs["ports"])
        .iter()
        .map(|p| {
            let port = p["containerPort"].as_i64().unwrap() as u16;
            (s(&p["name"]), (port, s(&p["protocol"])))
        })
        .collect();
    assert_eq!(ports["ws"], (zone.config.ws_addr.port(), "TCP".into()));
    assert_eq!(ports["quic"], (zone.config.quic_addr.port(), "UDP".into()));
    let admin = zone.config.admin_addr.port();
    let container_ports: Vec<i64> = list(&container["ports"])
        .iter()
        .map(|p| p["containerPort"].as_i64().unwrap())
        .collect();
    assert!(container_ports.contains(&i64::from(admin)));
    let annotations = &gs["template"]["metadata"]["annotations"];
    assert_eq!(s(&annotations["prometheus.io/port"]), admin.to_string());
    assert_eq!(s(&container["livenessProbe"]["httpGet"]["path"]), "/livez");
    // The drain fits in the pod's grace period.
    let grace = gs["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap();
    assert!(
        zone.config.drain_grace < Duration::from_secs(grace as u64),
        "drain {:?} ≥ pod grace {grace}s",
        zone.config.drain_grace
    );
    // Content mounts are the generated ConfigMaps.
    let volumes: Vec<String> = list(&gs["template"]["spec"]["volumes"])
        .iter()
        .filter_map(|v| v["configMap"]["name"].as_str().map(String::from))
        .collect();
    assert_eq!(volumes, ["arcane-content", "arcane-content-zones"]);
    assert_eq!(
        zone.config.content,
        PathBuf::from("/app/content"),
        "the mount path is where the zone reads content"
    );

    let autoscaler = docs_by_kind("ops/k8s/fleetautoscaler.yaml")
        .remove("FleetAutoscaler")
        .unwrap();
    assert_eq!(
        s(&autoscaler["spec"]["fleetName"]),
        s(&fleet["metadata"]["name"])
    );
    assert_eq!(s(&autoscaler["spec"]["policy"]["type"]), "Buffer");

    // The orchestrator: flags parse, it allocates from this Fleet, probes exist.
    let deployment = docs_by_kind("ops/k8s/orchestrator.yaml")
        .remove("Deployment")
        .unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let (args, env) = container_cli(container);
    let orch: OrchestratorCli = parses("orchestrator", &args, &env);
    assert_eq!(
        orch.args.agones_fleet.as_deref(),
        Some(s(&fleet["metadata"]["name"]).as_str())
    );
    assert_eq!(port_of(&orch.args.addr.to_string()), 8080);
    // Two listeners: only the public one (logins) behind the public Service; the
    // internal one (registry, transfers, metrics) on a cluster-only Service that the
    // zones call and Prometheus scrapes, with the control secret on both sides.
    let internal_port = orch.args.internal_addr.port();
    assert_ne!(internal_port, orch.args.addr.port());
    let pod_annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        s(&pod_annotations["prometheus.io/port"]),
        internal_port.to_string()
    );
    let services: Vec<Yaml> = yaml("ops/k8s/orchestrator.yaml")
        .into_iter()
        .filter(|d| s(&d["kind"]) == "Service")
        .collect();
    let service_ports = |name: &str| -> Vec<i64> {
        let svc = services
            .iter()
            .find(|d| s(&d["metadata"]["name"]) == name)
            .unwrap_or_else(|| panic!("no Service {name}"));
        list(&svc["spec"]["ports"])
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(service_ports("arcane-orchestrator"), [8080]);
    assert_eq!(
        service_ports("arcane-orchestrator-internal"),
        [i64::from(internal_port)]
    );
    assert_eq!(
        zone.config.orchestrator.as_deref(),
        Some(format!("http://arcane-orchestrator-internal:{internal_port}").as_str())
    );
    let secret_env = |c: &Yaml| {
        list(&c["env"])
            .iter()
            .any(|e| s(&e["name"]) == "ARCANE_CONTROL_SECRET")
    };
    assert!(
        secret_env(container),
        "the orchestrator has the control secret"
    );
    assert_eq!(
        zone.config.control_secret, "from-a-secret",
        "Fleet zones sign with the control secret"
    );
    assert_eq!(
        s(&container["readinessProbe"]["httpGet"]["path"]),
        "/readyz"
    );
    // The Kubernetes API is reached with the pod's service account (the kube crate):
    // no kubectl sidecar, whose image tags moved.
    assert_eq!(
        list(&pod["containers"]).len(),
        1,
        "one container, no sidecar"
    );
    assert_eq!(orch.args.kube_api, None);
    assert_eq!(
        s(&pod["serviceAccountName"]),
        "arcane-orchestrator",
        "allocations need the service account the Role is bound to"
    );

    let rbac: Vec<Yaml> = yaml("ops/k8s/rbac.yaml");
    assert!(rbac.iter().any(|d| s(&d["kind"]) == "Role"
        && list(&d["rules"]).iter().any(|r| {
            list(&r["resources"])
                .iter()
                .map(s)
                .any(|x| x == "gameserverallocations")
        })));

    // Optional extra: kubectl builds the kustomization when it is installed.
    if let Ok(out) = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(root().join("ops/k8s"))
        .output()
    {
        assert!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for kind in [
            "Fleet",
            "FleetAutoscaler",
            "Deployment",
            "ConfigMap",
            "Role",
        ] {
            assert!(
                text.contains(&format!("kind: {kind}\n")),
                "kustomize output lacks {kind}"
            );
        }
    }
}

#[test]
fn generated_configmaps_are_up_to_date() {
    for (name, want) in arcane_tools::ops::generated_configmaps(&root()).unwrap() {
        let rel = format!("ops/k8s/generated/{name}");
        let have = std::fs::read_to_string(root().join(&rel)).unwrap_or_default();
        assert!(
            have == want,
            "{rel} is stale: run `cargo run -p arcane-tools -- ops-configmaps`"
        );
        let doc: serde_json::Value = serde_json::from_str(&have).unwrap();
        let kind = if name == "prometheus-rules.json" {
            "PrometheusRule"
        } else {
            "ConfigMap"
        };
        assert_eq!(doc["kind"], kind);
    }
    // The monitoring kustomization takes the generated rules and scrapes the ports the
    // zone and orchestrator manifests name.
    let monitoring = read("ops/k8s/monitoring/kustomization.yaml");
    assert!(monitoring.contains("../generated/prometheus-rules.json"));
    let monitors = yaml("ops/k8s/monitoring/podmonitors.yaml");
    let ports: Vec<String> = monitors
        .iter()
        .map(|m| s(&m["spec"]["podMetricsEndpoints"][0]["port"]))
        .collect();
    assert_eq!(ports, ["admin", "internal"]);
    assert!(read("ops/k8s/fleet.yaml").contains("name: admin"));
    assert!(read("ops/k8s/orchestrator.yaml").contains("name: internal"));
}

#[test]
fn compose_prometheus_and_dockerfile_agree_with_the_binaries() {
    let compose = &yaml("ops/compose.yaml")[0];
    let services = compose["services"].as_hash().unwrap();
    let names: BTreeSet<String> = services.keys().map(s).collect();
    for want in [
        "postgres",
        "redis",
        "orchestrator",
        "zone-meadow",
        "zone-forest",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(want), "compose has no {want}");
    }
    let cli = |svc: &Yaml| -> (Vec<String>, Vec<(String, String)>) {
        let args = list(&svc["command"]).iter().map(s).collect();
        let env = svc["environment"]
            .as_hash()
            .map(|h| h.iter().map(|(k, v)| (s(k), s(v))).collect())
            .unwrap_or_default();
        (args, env)
    };
    // Image defaults (Dockerfile ENV) plus the service's own settings.
    let dockerfile = read("ops/Dockerfile");
    let image_env = |target: &str| -> Vec<(String, String)> {
        let stage = dockerfile
            .split("FROM ")
            .find(|st| st.contains(&format!("AS {target}")))
            .unwrap();
        let runtime = dockerfile
            .split("FROM ")
            .find(|st| st.contains("AS runtime"))
            .unwrap();
        [runtime, stage]
            .iter()
            .flat_map(|st| st.lines())
            .filter_map(|l| {
                let l = l
                    .trim()
                    .trim_start_matches("ENV ")
                    .trim_end_matches('\\')
                    .trim();
                let (k, v) = l.split_once('=')?;
                k.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
                    .then(|| (k.to_string(), v.to_string()))
            })
            .collect()
    };
    let mut zone_admin = HashMap::new();
    for name in ["zone-meadow", "zone-forest"] {
        let svc = &compose["services"][name];
        let (args, mut env) = cli(svc);
        let mut all = image_env("zone-server");
        all.append(&mut env);
        let zone: ZoneCli = parses(name, &args, &all);
        // Published ports map to the ports the server listens on.
        let published: Vec<String> = list(&svc["ports"]).iter().map(s).collect();
        for (port, proto) in [
            (zone.config.ws_addr.port(), "tcp"),
            (zone.config.quic_addr.port(), "udp"),
        ] {
            assert!(
                published
                    .iter()
                    .any(|p| p.ends_with(&format!(":{port}/{proto}"))),
                "{name} does not publish {port}/{proto}: {published:?}"
            );
        }
        zone_admin.insert(name.to_string(), zone.config.admin_addr.port());
    }
    let (args, mut env) = cli(&compose["services"]["orchestrator"]);
    let mut all = image_env("orchestrator");
    all.append(&mut env);
    let orch: OrchestratorCli = parses("compose orchestrator", &args, &all);
    // Metrics are on the internal listener; compose publishes only the public one.
    let orch_port = orch.args.internal_addr.port();
    let published: Vec<String> = list(&compose["services"]["orchestrator"]["ports"])
        .iter()
        .map(s)
        .collect();
    assert_eq!(
        published,
        [format!("{0}:{0}", orch.args.addr.port())],
        "only logins are published"
    );

    // Prometheus scrapes those services on those ports.
    let prom = &yaml("ops/prometheus/prometheus.yml")[0];
    let targets: Vec<String> = list(&prom["scrape_configs"])
        .iter()
        .flat_map(|j| list(&j["static_configs"]))
        .flat_map(|c| list(&c["targets"]))
        .map(|t| s(&t))
        .collect();
    assert!(
        targets.contains(&format!("orchestrator:{orch_port}")),
        "{targets:?}"
    );
    for (svc, port) in &zone_admin {
        assert!(
            targets.contains(&format!("{svc}:{port}")),
            "{svc}:{port} not scraped: {targets:?}"
        );
    }
    // Grafana's provisioning points at the dashboards folder compose mounts.
    let provider = &yaml("ops/grafana/provisioning/dashboards/arcane.yaml")[0];
    let path = s(&provider["providers"][0]["options"]["path"]);
    let mounts: Vec<String> = list(&compose["services"]["grafana"]["volumes"])
        .iter()
        .map(s)
        .collect();
    assert!(
        mounts.iter().any(|m| m.ends_with(&format!("{path}:ro"))),
        "{mounts:?}"
    );
    for m in &mounts {
        let local = m.split(':').next().unwrap();
        assert!(
            root().join("ops").join(local).exists(),
            "compose mounts missing {local}"
        );
    }

    // The Dockerfile copies what exists and builds binaries the workspace has.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        for src in line
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .split_last()
            .unwrap()
            .1
        {
            assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
        }
    }
    for bin in ["zone-server", "orchestrator", "arcane"] {
        assert!(dockerfile.contains(&format!("target/release/{bin}")));
    }
    for expose in ["7777/tcp", "7778/udp", "9100/tcp", "8080/tcp"] {
        assert!(
            dockerfile.contains(expose),
            "Dockerfile does not expose {expose}"
        );
    }
}

/// Metric names in PromQL or prose: `arcane_…` and `process_…` identifiers.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text
        .match_indices("arcane_")
        .chain(text.match_indices("process_"))
    {
        if i > 0 && text.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_runbook_name_only_metrics_a_loaded_zone_exports() {
    // A zone and an orchestrator, and a swarm of bots on both transports.
    let content = tempfile::Builder::new()
        .prefix("arcane-ops-")
        .tempdir()
        .unwrap();
    arcane_engine::content::ContentSources::shipped()
        .write_to(content.path())
        .unwrap();
    let mut config = ZoneServerConfig::local(content.path().to_path_buf(), "meadow");
    config.watch_content = false;
    let zone = arcane_zone_server::start(config).await.unwrap();
    let metrics_url = format!("http://{}/metrics", zone.admin_addr);
    for (transport, target, first) in [
        (Transport::Ws, format!("ws://{}", zone.ws_addr), 1),
        (Transport::Quic, zone.quic_endpoint.clone().unwrap(), 101),
    ] {
        let swarm = SwarmConfig {
            chat_every: Duration::from_secs(5),
            ws_tasks: false,
            target,
            bots: 20,
            duration: Duration::from_secs(3),
            ramp: Duration::from_millis(200),
            metrics: None,
            zone: "meadow".into(),
            ticket_secret: arcane_zone_server::config::DEV_TICKET_SECRET.into(),
            first_player: first,
            tier: arcane_protocol::ClientTier::Desktop,
            input_hz: 20,
            live: false,
            input_lead: Duration::from_millis(20),
            input_margin: Some(Duration::from_millis(5)),
            behaviour: arcane_loadtest::behaviour::BehaviourMix::Wanderer,
            orchestrator: None,
            transport,
            impairment: None,
            idp_secret: None,
        };
        let report = tokio::task::spawn_blocking(move || run_swarm_blocking(swarm))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.connected, 20, "{transport:?}: {report:?}");
        // The bot process's own delays are measured and reported apart.
        assert!(
            report.latency_ms.p50 > 0.0
                && report.bot_queue_ms.max > 0.0
                && report.bot_send_delay_ms.max > 0.0,
            "{transport:?}: {report:?}"
        );
    }
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let orchestrator = {
        let m = arcane_orchestrator::metrics::OrchestratorMetrics::new();
        m.observe_zones(&[]);
        m.encode()
    };
    let mut names = exposed(&text);
    names.extend(exposed(&orchestrator));

    // Sensible values for what the issue names.
    let v = |n: &str| scrape::sum_of(&text, n);
    assert!(v("arcane_tick_duration_seconds_count") > 20.0);
    assert!(v("arcane_ticks_total") > 20.0);
    assert!(
        v("arcane_players") >= 0.0 && v("arcane_entities") > 1000.0,
        "meadow's NPCs"
    );
    for t in ["ws", "quic"] {
        assert!(
            scrape::labelled(&text, "arcane_sent_bytes_total", "transport", t) > 0.0,
            "{t}"
        );
        assert!(
            scrape::labelled(&text, "arcane_messages_received_total", "transport", t) > 0.0,
            "{t}"
        );
    }
    assert!(v("arcane_snapshot_size_bytes_count") > 0.0);
    assert!(v("arcane_snapshot_datagrams_total") > 0.0);
    assert!(v("arcane_quic_packets_sent_total") > 0.0);
    assert!(v("arcane_quic_datagrams_received_total") > 0.0);
    assert!(v("arcane_quic_packets_lost_total") >= 0.0);
    assert_eq!(
        scrape::labelled(&text, "arcane_kicks_total", "reason", "slow_client"),
        0.0
    );
    assert_eq!(v("arcane_content_info"), 1.0, "one content version series");
    for (family, label, value) in [
        ("arcane_kicks_total", "reason", "server_shutdown"),
        ("arcane_inputs_rejected_total", "reason", "flood"),
        ("arcane_transfers_total", "result", "aborted"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(family) && l.contains(&format!("{label}=\"{value}\""))),
            "{family}{{{label}={value}}} is exported before it happens"
        );
    }
    for n in [
        "arcane_tick_overruns_total",
        "arcane_outbox_drops_total",
        "arcane_rate_limited_frames_total",
        "arcane_transfer_duration_seconds_bucket",
        "arcane_orchestrator_transfers_total",
        "arcane_orchestrator_logins_total",
    ] {
        assert!(names.contains(n), "{n} is not exported");
    }

    // No per-player labels anywhere.
    assert!(!text.contains("player=\""), "per-player labels");

    // Every metric the dashboard queries and the runbook names exists.
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("ops/grafana/dashboards/arcane.json")).unwrap();
    let mut exprs = String::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"].as_str() {
            exprs.push_str(q);
        }
    }
    assert!(
        !exprs.contains("job="),
        "dashboards select by the zone label, not by a deployment's scrape job name"
    );
    let used = metric_names(&exprs);
    assert!(used.len() > 20, "{used:?}");
    // Every alert rule queries exported series, and Prometheus loads the rules.
    let alerts = read("ops/prometheus/alerts.yml");
    let alerted = metric_names(&alerts);
    let missing: Vec<_> = alerted.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "alerts on metrics nobody exports: {missing:?}"
    );
    for want in [
        "arcane_system_faults_total",
        "arcane_lease_pauses_total",
        "arcane_orchestrator_control_refused_total",
        "process_start_time_seconds",
    ] {
        assert!(alerted.contains(want), "no alert on {want}");
    }
    assert!(read("ops/prometheus/prometheus.yml").contains("/etc/prometheus/alerts.yml"));
    assert!(
        read("ops/compose.yaml").contains("./prometheus/alerts.yml:/etc/prometheus/alerts.yml")
    );
    for n in [
        "arcane_build_info",
        "arcane_orchestrator_build_info",
        "arcane_content_info",
    ] {
        assert!(names.contains(n), "{n} is not exported");
    }
    let missing: Vec<_> = used.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics nobody exports: {missing:?}"
    );
    // Prose may name a histogram by its family name.
    let runbook = metric_names(&read("ops/RUNBOOK.md"));
    let missing: Vec<_> = runbook
        .iter()
        .filter(|n| !names.contains(*n) && !names.contains(&format!("{n}_bucket")))
        .collect();
    assert!(
        missing.is_empty(),
        "RUNBOOK.md names metrics nobody exports: {missing:?}"
    );
    // The dashboard covers what operators watch.
    for want in [
        "arcane_tick_duration_seconds_bucket",
        "arcane_players",
        "arcane_sent_bytes_total",
        "arcane_outbox_drops_total",
        "arcane_inputs_rejected_total",
        "arcane_transfers_total",
    ] {
        assert!(used.contains(want), "the dashboard has no panel on {want}");
    }
    zone.shutdown();
    zone.wait().await;
}

#[test]
fn json_logs_carry_the_zone() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_arcane"))
        .args(["zone", "--zone", "test_area", "--watch-content", "false"])
        .args([
            "--ws-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--quic-addr",
            "127.0.0.1:0",
        ])
        .arg("--content")
        .arg(root().join("content"))
        .env("ARCANE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // A watchdog, so a zone that never logs cannot hang the test.
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    });
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let listening = v["message"] == "zone server listening";
        lines.push(v);
        if listening {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    drop(watchdog);
    let listening = lines
        .iter()
        .find(|l| l["message"] == "zone server listening");
    assert_eq!(listening.expect("no listening line")["zone"], "test_area");
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    // Lines from inside the tick carry the zone from their span.
    assert!(
        lines.iter().any(|l| l["span"]["zone"] == "test_area"),
        "{lines:?}"
    );
}
