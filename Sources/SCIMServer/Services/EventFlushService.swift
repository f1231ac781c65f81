import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Writes buffered read and failure events every second: the tenants that are due (see
/// `EventBuffer.minimumBatch`), at most `EventBuffer.flushLimit` events at a time and again at once
/// while full batches come out, `parallelFlushes` at a time; and everything on graceful shutdown, so a
/// clean stop loses none.
struct EventFlushService: Service {
    let buffer: EventBuffer
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if !Task.isShuttingDownGracefully { await flush(everything: false) }
        }
        // Also when the shutdown came in the middle of a periodic flush: that flush may have left
        // events buffered.
        if !Task.isCancelled { await flush(everything: true) }
    }

    private func flush(everything: Bool) async {
        var width = 1
        while true {
            // Each flush takes its own batch from the buffer, so several can run at once.
            let taken = await withTaskGroup(of: Int?.self) { group in
                for _ in 0..<width {
                    group.addTask {
                        do {
                            return try await buffer.flush(client, dueOnly: !everything)
                        } catch {
                            // The events stay buffered (bounded) and go out with the next flush.
                            logger.warning(
                                "could not write sync events yet",
                                metadata: ["error": "\(String(describing: type(of: error)))"])
                            return nil
                        }
                    }
                }
                return await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            guard !taken.contains(nil) else { return }
            let full = taken.contains(EventBuffer.flushLimit)
            guard everything ? taken.contains(where: { $0 != 0 }) : full else { return }
            // Full batches mean the log is behind. Under a load that saturates the machine one INSERT
            // at a time gets one backend's share of the CPU, too little to catch up before the buffer
            // reaches its cap: write `parallelFlushes` at once.
            width = full ? Self.parallelFlushes : 1
        }
    }

    /// How many batches are written at once while the log is behind; each holds one of the background
    /// pool's connections, which has this many (`buildApplication`).
    static let parallelFlushes = 2
}
