import Foundation
import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Purges offboarded organisations whose grace period has ended (`OrganisationLifecycle.purgeDue`):
/// once shortly after start, then every `EVENT_PURGE_INTERVAL_SECONDS`, beside the event purge.
///
/// Every replica runs one; they share the due organisations through row locks, so each is purged
/// exactly once. A failing pass is logged and retried at the next interval: it never stops the service.
///
/// `scope` is every organisation in service; a test that runs passes on a clock of its own names its
/// organisations, so those passes leave other tests' organisations alone.
public struct OrganisationPurger: Service, CustomStringConvertible {
    let lifecycle: OrganisationLifecycle
    let interval: Duration
    let initialDelay: Duration
    let scope: OrganisationScope
    let logger: Logger

    public init(
        lifecycle: OrganisationLifecycle, interval: Duration, initialDelay: Duration = .seconds(30),
        scope: OrganisationScope = .all, logger: Logger
    ) {
        self.lifecycle = lifecycle
        self.interval = interval
        self.initialDelay = min(initialDelay, interval)
        self.scope = scope
        self.logger = logger
    }

    /// How service-lifecycle logs name this service (not a dump of its fields).
    public var description: String { "OrganisationPurger" }

    public func run() async {
        await runPeriodically(
            initialDelay: initialDelay, interval: interval, logger: logger, failure: "organisation purge failed"
        ) {
            _ = try await self.purgeOnce()
        }
    }

    /// One pass: purges every organisation in scope due before `now`, and logs each (slug only).
    /// - Returns: the purged organisations' receipts.
    @discardableResult
    public func purgeOnce(now: Date = Date()) async throws -> [OrganisationLifecycle.PurgeReceipt] {
        let (purged, failed) = try await lifecycle.purgeDue(now: now, scope: scope)
        for receipt in purged {
            logger.notice("purged an offboarded organisation", metadata: ["scim.org": "\(receipt.slug)"])
        }
        for failure in failed {
            logger.warning(
                "purging an offboarded organisation failed; retried next pass",
                metadata: ["scim.org": "\(failure.slug)", "error": "\(failure.error)"])
        }
        return purged
    }
}
