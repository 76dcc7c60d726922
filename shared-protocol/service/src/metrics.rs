//! One declaration per metric: [`metric_set!`](crate::metric_set) writes the struct,
//! makes each metric and registers it with its name and help, so a metric cannot be
//! added to one of the three places and forgotten in another.

/// The `Content-Type` of a `/metrics` answer in the text form `prometheus_client`
/// encodes.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Declares a struct of Prometheus metrics and its `register` constructor.
///
/// ```
/// use arcane_service::metric_set;
/// use arcane_service::prometheus_client::metrics::{counter::Counter, histogram::Histogram};
///
/// metric_set! {
///     /// What a toy service exports.
///     pub struct ToyMetrics {
///         /// Requests served.
///         requests: Counter => "requests", "Requests served";
///         latency: Histogram = Histogram::new([0.1, 1.0]) => "latency", "Time per request", Seconds;
///     }
/// }
///
/// let mut registry = arcane_service::prometheus_client::registry::Registry::default();
/// let m = ToyMetrics::register(&mut registry);
/// m.requests.inc();
/// ```
///
/// A field is `name: Type => "metric", "help";` (made with `Default`) or
/// `name: Type = init => "metric", "help";`, optionally followed by a unit
/// (`, Seconds`, `, Bytes`: a `prometheus_client::registry::Unit` variant).
#[macro_export]
macro_rules! metric_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty $(= $init:expr)? => $metric:literal, $help:literal $(, $unit:ident)?;
            )*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(
                $(#[$fmeta])*
                #[doc = $help]
                pub $field: $ty,
            )*
        }

        impl $name {
            /// Makes every metric and registers it in `registry`.
            pub fn register(registry: &mut $crate::prometheus_client::registry::Registry) -> Self {
                let set = $name {
                    $( $field: $crate::metric_set!(@init $ty $(, $init)?), )*
                };
                $(
                    $crate::metric_set!(@register registry, $metric, $help, set.$field.clone() $(, $unit)?);
                )*
                set
            }
        }
    };
    (@init $ty:ty) => { <$ty as ::std::default::Default>::default() };
    (@init $ty:ty, $init:expr) => { $init };
    (@register $registry:ident, $metric:literal, $help:literal, $value:expr) => {
        $registry.register($metric, $help, $value)
    };
    (@register $registry:ident, $metric:literal, $help:literal, $value:expr, $unit:ident) => {
        $registry.register_with_unit(
            $metric,
            $help,
            $crate::prometheus_client::registry::Unit::$unit,
            $value,
        )
    };
}

/// What every service exports about itself: `<prefix>_build_info{version} 1` and
/// `process_start_time_seconds` (when this process started, Unix seconds), so alerts can
/// tell a restart from a crash loop and dashboards which build runs where.
pub struct ProcessInfo;

/// The `version` label of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct BuildLabel {
    version: String,
}

impl ProcessInfo {
    /// Registers `build_info` (in `service`, which has the service's prefix) and
    /// `process_start_time_seconds` (in `process`, prefixed `process`).
    pub fn register(
        service: &mut prometheus_client::registry::Registry,
        process: &mut prometheus_client::registry::Registry,
        version: &str,
    ) {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        let build: Family<BuildLabel, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabel {
                version: version.to_string(),
            })
            .set(1);
        service.register("build_info", "The build this process runs (value 1)", build);
        let started: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
        started.set(process_start_unix_secs());
        process.register_with_unit(
            "start_time",
            "When this process started, in seconds since the Unix epoch",
            prometheus_client::registry::Unit::Seconds,
            started,
        );
    }
}

/// When this process started (from `/proc`: boot time plus the start tick), or now.
fn process_start_unix_secs() -> f64 {
    let from_proc = || -> Option<f64> {
        let start = procfs::process::Process::myself()
            .ok()?
            .stat()
            .ok()?
            .starttime;
        let boot = procfs::boot_time_secs().ok()?;
        Some(boot as f64 + start as f64 / procfs::ticks_per_second() as f64)
    };
    from_proc().unwrap_or_else(|| crate::unix_ms() as f64 / 1e3)
}

/// Encodes several registries as one exposition (one `# EOF` at the end).
pub fn encode_registries(registries: &[&prometheus_client::registry::Registry]) -> String {
    let mut out = String::new();
    for (i, r) in registries.iter().enumerate() {
        if prometheus_client::encoding::text::encode(&mut out, r).is_err() {
            return String::new();
        }
        if i + 1 < registries.len()
            && let Some(stripped) = out.strip_suffix("# EOF\n")
        {
            out.truncate(stripped.len());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    crate::metric_set! {
        struct Probe {
            hits: Counter => "hits", "Things hit";
            wait: Histogram = Histogram::new([1.0]) => "wait", "Time waited", Seconds;
        }
    }

    #[test]
    fn every_declared_metric_is_registered_with_its_help_and_unit() {
        let mut registry = Registry::with_prefix("probe");
        let p = Probe::register(&mut registry);
        p.hits.inc();
        p.wait.observe(0.5);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("# HELP probe_hits Things hit."), "{text}");
        assert!(text.contains("probe_hits_total 1"), "{text}");
        assert!(text.contains("# UNIT probe_wait_seconds seconds"), "{text}");
        assert!(text.contains("probe_wait_seconds_count 1"), "{text}");
    }
}

#[cfg(test)]
mod process_info_tests {
    use super::*;

    #[test]
    fn build_info_and_start_time_are_exported_once_each() {
        let mut service = prometheus_client::registry::Registry::with_prefix("arcane_test");
        let mut process = prometheus_client::registry::Registry::with_prefix("process");
        ProcessInfo::register(&mut service, &mut process, "1.2.3");
        let text = encode_registries(&[&process, &service]);
        assert!(
            text.contains("arcane_test_build_info{version=\"1.2.3\"} 1"),
            "{text}"
        );
        let start: f64 = text
            .lines()
            .find(|l| l.starts_with("process_start_time_seconds "))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap();
        let now = crate::unix_ms() as f64 / 1e3;
        assert!(
            start > now - 3600.0 && start <= now + 1.0,
            "{start} vs {now}"
        );
        assert_eq!(text.matches("# EOF").count(), 1);
        assert!(text.ends_with("# EOF\n"));
    }
}
