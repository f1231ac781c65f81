import Logging
import Metrics
import Prometheus

/// Installs the process-wide logging and metrics backends for `scim-server serve`.
///
/// Call once per process, before the first `Logger` is made (a logger keeps the handler it was created
/// with). `buildApplication` never calls this: tests build many applications in one process, and each
/// gets its own `ServiceMetrics` instead.
/// - Returns: The metrics whose registry swift-metrics now reports into; pass it to `buildApplication`
///   so `/metrics` shows the Postgres client's query timer alongside the HTTP and pool metrics.
/// > Warning: swift-log and swift-metrics crash on a second bootstrap.
public func bootstrapObservability(_ configuration: AppConfiguration) -> ServiceMetrics {
    switch configuration.logFormat {
    case .json:
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
    case .text:
        LoggingSystem.bootstrap { label in TextLogHandler(label: label) }
    }
    let metrics = ServiceMetrics()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
    return metrics
}
