import Foundation
import Logging
import SCIMStore
import ServiceLifecycle

/// Deletes OAuth access tokens that expired more than `OAuthClientStore.accessTokenPurgeMargin` ago:
/// once shortly after start, then every `EVENT_PURGE_INTERVAL_SECONDS`, beside the event purge.
///
/// Without it `control.oauth_access_tokens` would keep a row for every token ever issued. Deletes go
/// in batches (`OAuthClientStore.accessTokenPurgeBatch`), one short statement each. Every replica runs
/// one; they skip each other's locked rows, so each row is deleted once and no replica waits. Expiry
/// is measured by the store's clock (`AppConfiguration.clock`). On graceful shutdown the purger stops
/// between batches; a failing pass is logged and retried at the next interval.
public struct AccessTokenPurger: Service, CustomStringConvertible {
    let oauth: OAuthClientStore
    let interval: Duration
    let initialDelay: Duration
    let batchSize: Int
    /// The organisations whose tokens it purges: every one in service.
    let scope: OrganisationScope
    let metrics: ServiceMetrics
    let logger: Logger

    /// - Parameter scope: whose tokens it purges. Tests that share one database and move the store's
    ///   clock name their own organisation, so they delete no other test's tokens.
    public init(
        oauth: OAuthClientStore, interval: Duration, initialDelay: Duration = .seconds(30),
        batchSize: Int = OAuthClientStore.accessTokenPurgeBatch, scope: OrganisationScope = .all,
        metrics: ServiceMetrics,
        logger: Logger
    ) {
        self.oauth = oauth
        self.interval = interval
        self.initialDelay = min(initialDelay, interval)
        self.batchSize = batchSize
        self.scope = scope
        self.metrics = metrics
        self.logger = logger
    }

    /// How service-lifecycle logs name this service (not a dump of its fields).
    public var description: String { "AccessTokenPurger" }

    public func run() async {
        await runPeriodically(
            initialDelay: initialDelay, interval: interval, logger: logger, failure: "access token purge failed"
        ) {
            _ = try await self.purgeOnce()
        }
    }

    /// One pass: deletes due access tokens batch by batch until a batch comes back short.
    /// - Returns: how many rows this pass deleted; also added to `scim_oauth_access_tokens_purged_total`.
    /// - Throws: `CancellationError` when stopped between batches; the database's error.
    @discardableResult
    public func purgeOnce() async throws -> Int {
        var purged = 0
        while true {
            try Task.checkCancellation()
            let deleted = try await oauth.purgeExpiredAccessTokens(limit: batchSize, scope: scope)
            purged += deleted
            metrics.recordAccessTokensPurged(deleted)
            if deleted < batchSize { break }
        }
        logger.log(
            level: purged > 0 ? .info : .debug, "access token purge pass finished",
            metadata: ["scim.oauth.tokens_purged": "\(purged)"])
        return purged
    }
}
