//! The Kubernetes/Agones supervisor backend: a zone is started by allocating a standby
//! game server of the zone Fleet (`GameServerAllocation`, created through the `kube`
//! client with the pod's service account), annotated with the zone id and map it must
//! run. The zone pod (`zone-server --agones`) reads the annotations
//! through its SDK sidecar, starts that zone and registers with the orchestrator as
//! any zone does; `open_zone` waits for that registration.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcane_service::RetryPolicy;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::json;

use super::{Supervisor, SupervisorError, ZoneSpec};
pub use arcane_control_api::agones::{CLOSE_AFTER_ANNOTATION, MAP_ANNOTATION, ZONE_ID_ANNOTATION};

/// Where the Fleet is, and how to reach the Kubernetes API.
#[derive(Debug, Clone)]
pub struct AgonesConfig {
    /// The Kubernetes API: `None` infers it (in a pod: the service account's token and
    /// CA; elsewhere: `KUBECONFIG`); `Some(url)` names one (a test's stand-in).
    pub api_server: Option<String>,
    pub namespace: String,
    /// The Fleet of standby zone servers.
    pub fleet: String,
    /// How long to keep asking when no standby server is Ready.
    pub retry_for: Duration,
}

/// Allocates zone game servers from an Agones Fleet.
pub struct AgonesSupervisor {
    config: AgonesConfig,
    allocations: Api<DynamicObject>,
    allocated: Arc<Mutex<BTreeSet<String>>>,
}

/// The `GameServerAllocation` resource (Agones' allocation API group).
fn allocation_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("allocation.agones.dev", "v1", "GameServerAllocation"),
        "gameserverallocations",
    )
}

/// The allocation request for `spec`.
pub fn allocation(fleet: &str, spec: &ZoneSpec) -> serde_json::Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(ZONE_ID_ANNOTATION.into(), json!(spec.zone_id));
    annotations.insert(MAP_ANNOTATION.into(), json!(spec.template));
    if let Some(d) = spec.close_after_empty {
        annotations.insert(
            CLOSE_AFTER_ANNOTATION.into(),
            json!(format!("{}ms", d.as_millis())),
        );
    }
    json!({
        "apiVersion": "allocation.agones.dev/v1",
        "kind": "GameServerAllocation",
        "spec": {
            "selectors": [{ "matchLabels": { "agones.dev/fleet": fleet } }],
            "metadata": { "annotations": annotations },
        },
    })
}

impl AgonesSupervisor {
    /// Connects to the Kubernetes API (must run inside a tokio runtime).
    pub async fn new(config: AgonesConfig) -> anyhow::Result<Self> {
        // The one TLS provider this workspace builds (already set when it returns Err).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = match &config.api_server {
            None => kube::Client::try_default().await?,
            Some(url) => {
                let mut c = kube::Config::new(url.parse()?);
                c.read_timeout = Some(Duration::from_secs(5));
                kube::Client::try_from(c)?
            }
        };
        let resource = allocation_resource();
        let allocations = Api::namespaced_with(client, &config.namespace, &resource);
        Ok(AgonesSupervisor {
            config,
            allocations,
            allocated: Arc::default(),
        })
    }

    /// Allocates one game server for `spec`, retrying while the Fleet has none Ready.
    async fn allocate(
        allocations: Api<DynamicObject>,
        config: AgonesConfig,
        spec: ZoneSpec,
    ) -> anyhow::Result<String> {
        let body: DynamicObject = serde_json::from_value(allocation(&config.fleet, &spec))?;
        let deadline = tokio::time::Instant::now() + config.retry_for;
        let mut backoff =
            RetryPolicy::new(Duration::from_millis(250), Duration::from_secs(2)).backoff();
        loop {
            let created = allocations.create(&PostParams::default(), &body).await?;
            let answer = serde_json::to_value(&created)?;
            let state = answer["status"]["state"].as_str().unwrap_or_default();
            if state == "Allocated" {
                return Ok(answer["status"]["gameServerName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the fleet {} has no Ready game server (allocation state {state:?})",
                config.fleet
            );
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

impl Supervisor for AgonesSupervisor {
    /// Asks for an allocation in the background; `open_zone` waits for the zone to
    /// register. Claims in the shared state keep replicas from allocating one zone twice.
    fn start(&self, spec: ZoneSpec) -> Result<(), SupervisorError> {
        let (allocations, config) = (self.allocations.clone(), self.config.clone());
        let allocated = self.allocated.clone();
        let handle = tokio::runtime::Handle::try_current().map_err(|e| SupervisorError::Spawn {
            zone: spec.zone_id.clone(),
            source: std::io::Error::other(e),
        })?;
        handle.spawn(async move {
            let zone = spec.zone_id.clone();
            match Self::allocate(allocations, config, spec).await {
                Ok(server) => {
                    tracing::info!(%zone, %server, "game server allocated");
                    allocated
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(zone);
                }
                Err(e) => tracing::error!(%zone, "cannot allocate a game server: {e:#}"),
            }
        });
        Ok(())
    }

    fn running(&self) -> Vec<String> {
        self.allocated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}
