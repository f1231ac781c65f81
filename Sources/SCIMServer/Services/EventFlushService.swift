import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Writes buffered read and failure events every second, and once more on graceful shutdown so a
/// clean stop loses none.
struct EventFlushService: Service {
    let buffer: EventBuffer
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
        }
    }

    private func flush() async {
        do {
            try await buffer.flush(client)
        } catch {
            // The events stay buffered (bounded) and go out with the next flush.
            logger.warning("could not write sync events yet", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
    }
}
