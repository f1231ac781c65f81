import Foundation
import Logging
import Postgres
import SCIMStore
import ServiceLifecycle

/// Refreshes the per-organisation gauges behind the operators' alerts (`scim_organisation_scim_enabled`,
/// `…_last_success_timestamp_seconds`, `…_token_expiry_timestamp_seconds`) from the database: shortly
/// after start, then every `interval`.
///
/// Each pass is one aggregate query over the control schema and one index-only `max(occurred_at)` per
/// organisation, on the background pool, each a short query of its own. The figures come from the
/// database, not from this replica's traffic, so every replica publishes the same values whichever
/// replica served the requests: aggregate them with `max by (organisation)` (or `min`). A failing pass
/// is logged and retried at the next interval; it never stops the service.
///
/// `scope` is every organisation in service; tests name their own organisations, whose series are
/// then the only ones published.
struct OrganisationMetricsService: Service, CustomStringConvertible {
    let store: OrganisationSignalsStore
    let metrics: ServiceMetrics
    let interval: Duration
    /// The delay before the first pass: short-lived instances (tests) rarely run one, a replica
    /// publishes within seconds of starting.
    let initialDelay: Duration
    let scope: OrganisationScope
    let logger: Logger

    init(
        client: PostgresClient, metrics: ServiceMetrics, interval: Duration, initialDelay: Duration = .seconds(15),
        scope: OrganisationScope = .all, logger: Logger
    ) {
        self.store = OrganisationSignalsStore(client: client)
        self.metrics = metrics
        self.interval = interval
        self.initialDelay = min(initialDelay, interval)
        self.scope = scope
        self.logger = logger
    }

    var description: String { "OrganisationMetricsService" }

    func run() async {
        await runPeriodically(
            initialDelay: initialDelay, interval: interval, logger: logger,
            failure: "organisation metrics refresh failed"
        ) {
            _ = try await self.refreshOnce()
        }
    }

    /// One pass over every organisation in scope; publishes what it read.
    /// - Returns: The samples published.
    /// - Throws: `CancellationError` when stopped; the error reading the control schema. An
    ///   organisation whose event log cannot be read (its schema dropped meanwhile) keeps its previous
    ///   last-success value, and the others are still read.
    @discardableResult
    func refreshOnce(now: Date = Date()) async throws -> [ServiceMetrics.OrganisationSample] {
        var samples: [ServiceMetrics.OrganisationSample] = []
        let refresh = metrics.startOrganisationRefresh()
        for organisation in try await store.organisations() where scope.contains(slug: organisation.slug) {
            try Task.checkCancellation()
            var lastSuccess = ServiceMetrics.OrganisationSample.LastSuccess.none
            if organisation.everConnected {
                do {
                    let latest = try await store.lastSuccess(in: organisation.schema)
                    lastSuccess = .at(latest ?? Date(timeIntervalSince1970: 0))
                } catch {
                    lastSuccess = .unread
                    logger.debug(
                        "organisation metrics: event log not read",
                        metadata: [
                            "scim.org": "\(organisation.slug)", "error": "\(String(describing: type(of: error)))",
                        ])
                }
            }
            samples.append(
                .init(
                    slug: organisation.slug, scimEnabled: organisation.scimEnabled, lastSuccess: lastSuccess,
                    tokenExpiry: organisation.earliestTokenExpiry))
        }
        metrics.publishOrganisations(samples, of: refresh, now: now)
        return samples
    }
}
