import Foundation
import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Runs the due passes of recent erasures' follow-ups (`UserErasure.followUp(now:)`): events another
/// replica had buffered when an erasure ran still name the person when they are flushed. Looks for due
/// passes every `interval`, on every replica (a pass runs on one); a failing look is logged and
/// retried at the next one.
public struct ErasureFollowUpService: Service, CustomStringConvertible {
    let erasure: UserErasure
    let interval: Duration
    let logger: Logger

    public init(client: PostgresClient, interval: Duration = .seconds(10), logger: Logger) {
        self.erasure = UserErasure(client: client)
        self.interval = interval
        self.logger = logger
    }

    /// How service-lifecycle logs name this service (not a dump of its fields).
    public var description: String { "ErasureFollowUpService" }

    public func run() async {
        await runPeriodically(
            initialDelay: interval, interval: interval, logger: logger, failure: "erasure follow-up failed"
        ) {
            // The system clock, as the database's `now()` stamped the follow-ups.
            let summary = try await erasure.followUp(now: Date())
            if summary.scrubbed > 0 {
                logger.info("scrubbed sync events written after an erasure", metadata: ["count": "\(summary.scrubbed)"])
            }
        }
    }
}
