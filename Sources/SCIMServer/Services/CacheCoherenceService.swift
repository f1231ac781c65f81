import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Reads `control.cache_epoch` twice a second so this replica's caches hear of changes made on other
/// replicas (or by hand in psql) within a second; see `CacheCoherence`.
///
/// A failed read is only logged: the caches then fall back to one-second entries until reads succeed again.
struct CacheCoherenceService: Service {
    let coherence: CacheCoherence
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .milliseconds(500)

    func run() async throws {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await coherence.refresh(client)
                if failing { logger.info("cache epoch readable again; long-lived caches resume") }
                failing = false
            } catch {
                if !failing {
                    logger.warning(
                        "cannot read the cache epoch; caches fall back to one second",
                        metadata: ["error": "\(String(describing: type(of: error)))"])
                }
                failing = true
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
