import Logging
import ServiceLifecycle

/// The loop of the background services that run one pass at a time (the event purger, the
/// organisation purger, the organisation metrics): a first pass after `initialDelay`, then one every
/// `interval`, until graceful shutdown or cancellation.
///
/// A failed pass is logged by its error's type only (a database error can quote data) and the next
/// one runs on schedule. Shutdown while sleeping or within a pass ends the loop quietly: every pass
/// is safe to cut short, and the next start picks up where it stopped.
func runPeriodically(
    initialDelay: Duration, interval: Duration, logger: Logger, failure: Logger.Message,
    _ pass: @escaping @Sendable () async throws -> Void
) async {
    do {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: initialDelay)
            while true {
                do {
                    try await pass()
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    logger.warning(failure, metadata: ["error": "\(String(describing: type(of: error)))"])
                }
                try await Task.sleep(for: interval)
            }
        }
    } catch {
        // Only cancellation reaches here: graceful shutdown, or the task group ending.
    }
}
