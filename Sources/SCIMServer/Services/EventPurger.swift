import Foundation
import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Deletes sync events older than the retention period from every organisation's schema: once
/// shortly after start, then every `EVENT_PURGE_INTERVAL_SECONDS`.
///
/// Deletes go in batches (`EventRetention.purgeBatch`), one short transaction each, so a large
/// backlog never holds long locks. On graceful shutdown the purger stops between batches; the
/// batch in flight finishes or rolls back on its own, and the next pass picks up where it stopped.
/// A failing pass is logged and retried at the next interval: it never stops the service.
public struct EventPurger: Service, CustomStringConvertible {
    /// What one pass did.
    public struct Summary: Sendable, Equatable {
        /// Organisation schemas visited.
        public var schemas: Int = 0
        /// Events deleted, over all schemas.
        public var purged: Int = 0
        /// Schemas whose purge failed (logged); the next pass retries them.
        public var failedSchemas: Int = 0
    }

    let retention: EventRetention
    let retentionDays: Int
    let interval: Duration
    /// The delay before the first pass: long enough to stay out of the way of start-up and of
    /// short-lived instances (tests), short enough that a service restarted often still purges.
    let initialDelay: Duration
    let batchSize: Int
    let metrics: ServiceMetrics
    let logger: Logger

    public init(
        client: PostgresClient, retentionDays: Int, interval: Duration, initialDelay: Duration = .seconds(30),
        batchSize: Int = EventRetention.defaultBatchSize, metrics: ServiceMetrics, logger: Logger
    ) {
        self.retention = EventRetention(client: client)
        self.retentionDays = retentionDays
        self.interval = interval
        self.initialDelay = min(initialDelay, interval)
        self.batchSize = batchSize
        self.metrics = metrics
        self.logger = logger
    }

    /// How service-lifecycle logs name this service (not a dump of its fields).
    public var description: String { "EventPurger" }

    public func run() async {
        await runPeriodically(
            initialDelay: initialDelay, interval: interval, logger: logger, failure: "event purge failed"
        ) {
            _ = try await self.purgeOnce()
        }
    }

    /// One pass over every organisation: deletes events older than `retentionDays` before `now`.
    /// - Returns: How many schemas were visited and events deleted; also added to `scim_events_purged_total`.
    /// - Throws: `CancellationError` when stopped between batches; the error listing organisations.
    ///   A failure in one schema is logged and counted in `failedSchemas`, and the others still run.
    public func purgeOnce(now: Date = Date()) async throws -> Summary {
        let cutoff = now.addingTimeInterval(-Double(retentionDays) * 86_400)
        let started = ContinuousClock.now
        var summary = Summary()
        for tenant in try await retention.tenants() {
            summary.schemas += 1
            do {
                var purgedHere = 0
                while true {
                    try Task.checkCancellation()
                    let deleted = try await retention.purgeBatch(tenant, olderThan: cutoff, limit: batchSize)
                    purgedHere += deleted
                    metrics.recordPurged(deleted)
                    if deleted < batchSize { break }
                }
                summary.purged += purgedHere
                if purgedHere > 0 {
                    logger.debug(
                        "purged sync events",
                        metadata: ["scim.org": "\(tenant.slug)", "scim.events.purged": "\(purgedHere)"])
                }
            } catch let error as CancellationError {
                throw error
            } catch let error as PostgresError where error.namesMissingRelation {
                // The organisation was purged after the list was read: nothing left to purge.
                summary.schemas -= 1
            } catch {
                summary.failedSchemas += 1
                logger.warning(
                    "event purge failed for an organisation",
                    metadata: ["scim.org": "\(tenant.slug)", "error": "\(String(describing: error))"])
            }
        }
        let elapsed = (ContinuousClock.now - started).components
        let level: Logger.Level = summary.purged > 0 || summary.failedSchemas > 0 ? .info : .debug
        logger.log(
            level: level, "event purge pass finished",
            metadata: [
                "scim.events.purged": "\(summary.purged)", "scim.events.schemas": "\(summary.schemas)",
                "scim.events.failed_schemas": "\(summary.failedSchemas)",
                "scim.events.retention_days": "\(retentionDays)",
                "scim.events.duration_ms": "\(elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000)",
            ])
        return summary
    }
}
