import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Writes buffered read and failure events every second: the tenants that are due (see
/// `EventBuffer.minimumBatch`), at most `EventBuffer.flushLimit` events at a time and again at once
/// while full batches come out; and everything on graceful shutdown, so a clean stop loses none.
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
        var taken = 0
        repeat {
            do {
                taken = try await buffer.flush(client, dueOnly: !everything)
            } catch {
                // The events stay buffered (bounded) and go out with the next flush.
                logger.warning("could not write sync events yet", metadata: ["error": "\(String(describing: type(of: error)))"])
                return
            }
        } while everything ? taken > 0 : taken == EventBuffer.flushLimit
    }
}
