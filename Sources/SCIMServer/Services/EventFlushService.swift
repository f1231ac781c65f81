import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Writes buffered read and failure events every second, at most `EventBuffer.flushLimit` at a time
/// (again at once while a full batch waits), and everything on graceful shutdown so a clean stop
/// loses none.
struct EventFlushService: Service {
    let buffer: EventBuffer
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush(everything: Task.isShuttingDownGracefully)
        }
    }

    private func flush(everything: Bool) async {
        repeat {
            do {
                try await buffer.flush(client)
            } catch {
                // The events stay buffered (bounded) and go out with the next flush.
                logger.warning("could not write sync events yet", metadata: ["error": "\(String(describing: type(of: error)))"])
                return
            }
        } while buffer.pendingCount >= (everything ? 1 : EventBuffer.flushLimit)
    }
}
