import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Reads `control.cache_epoch` twice a second so this replica's caches hear of changes made on other
/// replicas (or by hand in psql) within a second; see `CacheCoherence`.
///
/// A failed read is only logged, once reads have failed for `patience` (the first reads may come
/// before start-up's migrations have created the table): the caches fall back to one-second entries
/// until reads succeed again.
struct CacheCoherenceService: Service {
    let coherence: CacheCoherence
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .milliseconds(500)
    var patience: Duration = .seconds(5)

    func run() async throws {
        var failingSince: ContinuousClock.Instant?
        var warned = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await coherence.refresh(client)
                if warned { logger.info("cache epoch readable again; long-lived caches resume") }
                failingSince = nil
                warned = false
            } catch {
                let since = failingSince ?? .now
                failingSince = since
                if !warned, ContinuousClock.now - since >= patience {
                    logger.warning(
                        "cannot read the cache epoch; caches fall back to one second",
                        metadata: ["error": "\(String(describing: type(of: error)))"])
                    warned = true
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
