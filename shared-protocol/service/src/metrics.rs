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
