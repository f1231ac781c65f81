import Foundation
import Postgres
import Prometheus
import SCIM
import SCIMStore
import Synchronization

/// The service's own Prometheus metrics, kept in a registry that the composition root owns.
///
/// Every label value is bounded: route templates (`/scim/v2/Users/{id}`, never the raw path), a fixed
/// set of methods and status classes. The `scim_organisation_*` series alone carry an `organisation`
/// label, the slug: a handful of series per organisation that exists in `control.organisations`
/// (a removed organisation's series go at the next refresh), never one per user, token or request.
/// No user name or id ever becomes a label.
///
/// The registry is passed in rather than taken from a global so tests can build several applications,
/// each with its own counts. `scim-server serve` also bootstraps swift-metrics with a factory over the
/// same registry, which is how the Postgres client's query `Timer` (`scim_db_query_duration_seconds`)
/// reaches `/metrics` in production.
public final class ServiceMetrics: Sendable {
    /// Which connection pool a `scim_db_pool_*` gauge describes: the requests' (`DB_POOL_SIZE`), or the
    /// background writers' (the event log's flushes and purge, 2 connections).
    enum PoolRole: String, CaseIterable, Sendable {
        case request, background
    }

    public let registry: PrometheusCollectorRegistry

    private let eventsPurged: Counter
    private let accessTokensPurged: Counter
    private let pools: [PoolRole: PoolGauges]
    private let eventsPending: Gauge
    private let eventsDropped: Gauge
    private let requestSeries: Mutex<[RequestKey: RequestSeries]>
    private let rewriteCounters = Mutex<[RewriteKind: Counter]>([:])
    private let connectionsOpen: Gauge
    private let connectionsRefused: Counter
    private let connectionTimeouts: [ConnectionDeadlines.Phase: Counter]
    private let organisations = Mutex(OrganisationSeriesCache())
    private let organisationsRefreshed: Gauge

    /// Request latency buckets, in seconds: 5 ms to 10 s.
    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        eventsPurged = registry.makeCounter(descriptor: Self.eventsPurgedName)
        accessTokensPurged = registry.makeCounter(descriptor: Self.accessTokensPurgedName)
        pools = Dictionary(
            uniqueKeysWithValues: PoolRole.allCases.map { ($0, PoolGauges(registry: registry, role: $0)) })
        eventsPending = registry.makeGauge(descriptor: Self.eventsPendingName)
        eventsDropped = registry.makeGauge(descriptor: Self.eventsDroppedName)
        requestSeries = Mutex([:])
        connectionsOpen = registry.makeGauge(descriptor: Self.connectionsOpenName)
        connectionsRefused = registry.makeCounter(descriptor: Self.connectionsRefusedName)
        connectionTimeouts = Dictionary(
            uniqueKeysWithValues: ConnectionDeadlines.Phase.allCases.filter { $0 != .responding }.map {
                ($0, registry.makeCounter(descriptor: Self.connectionTimeoutsName, labels: [("phase", $0.rawValue)]))
            })
        organisationsRefreshed = registry.makeGauge(descriptor: Self.organisationsRefreshedName)
    }

    /// `scim_http_connections_open`, up by one.
    func connectionOpened() {
        connectionsOpen.increment()
    }

    /// `scim_http_connections_open`, down by one.
    func connectionClosed() {
        connectionsOpen.decrement()
    }

    /// Adds to `scim_http_connections_refused_total`: a connection past `MAX_CONNECTIONS`.
    func connectionRefused() {
        connectionsRefused.increment()
    }

    /// Adds to `scim_http_connection_timeouts_total{phase}`: a connection closed by a deadline.
    func connectionTimedOut(_ phase: ConnectionDeadlines.Phase) {
        connectionTimeouts[phase]?.increment()
    }

    /// Counts one HTTP request and records its latency.
    /// - Parameters:
    ///   - route: The matched route template (`context.endpointPath`), or `NotFound` when none matched.
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = RequestKey(method: Self.boundedMethod(method), route: route, statusClass: Self.statusClass(status))
        let series = requestSeries.withLock { cache in
            if let series = cache[key] { return series }
            let labels = [("method", key.method), ("route", key.route), ("status_class", key.statusClass)]
            let series = RequestSeries(
                count: registry.makeCounter(descriptor: Self.requestsName, labels: labels),
                latency: registry.makeDurationHistogram(
                    descriptor: Self.requestDurationName, labels: labels, buckets: Self.latencyBuckets))
            cache[key] = series
            return series
        }
        series.count.increment()
        series.latency.record(duration)
    }

    /// Counts the identity-provider quirks the normaliser and PATCH engine had to fix, by kind
    /// (`RewriteKind`): a fixed, code-defined set, so labels stay bounded.
    func recordRewrites(_ rewrites: [RewriteKind: Int]) {
        for (kind, count) in rewrites where count > 0 {
            let counter = rewriteCounters.withLock { counters in
                if let counter = counters[kind] { return counter }
                let counter = registry.makeCounter(descriptor: Self.rewritesName, labels: [("kind", kind.rawValue)])
                counters[kind] = counter
                return counter
            }
            counter.increment(by: Int64(count))
        }
    }

    /// Counts one SCIM request of an organisation in `scim_organisation_requests_total`, as its sync
    /// event records it: `success` below status 400, `error` from 400 on.
    func recordOrganisationRequest(slug: String, failed: Bool) {
        let series = organisations.withLock { cache in
            if let series = cache.series[slug] { return series }
            return makeOrganisationSeries(slug, in: &cache)
        }
        (failed ? series.failed : series.succeeded).increment()
    }

    /// Marks the start of a refresh, before it lists the organisations: the refresh then keeps the
    /// series created after this mark even when its listing does not hold them (an organisation's first
    /// requests while the refresh ran, counted from the first one on).
    func startOrganisationRefresh() -> OrganisationRefresh {
        organisations.withLock { cache in
            cache.refreshesStarted += 1
            return OrganisationRefresh(number: cache.refreshesStarted)
        }
    }

    /// Publishes a refresh of every organisation's signals: sets their gauges, creates their request
    /// counters at 0 (so the first error of an organisation is an increase Prometheus sees), and
    /// unregisters the series of organisations that no longer exist.
    /// - Parameters:
    ///   - refresh: the mark taken before the organisations were listed; `nil` when the samples
    ///     list every organisation there is (tests).
    ///   - now: the refresh's time, published as `scim_organisation_signals_refreshed_timestamp_seconds`.
    func publishOrganisations(_ samples: [OrganisationSample], of refresh: OrganisationRefresh? = nil, now: Date) {
        organisations.withLock { cache in
            var seen = Set<String>()
            for sample in samples {
                seen.insert(sample.slug)
                var series: OrganisationSeries
                if let cached = cache.series[sample.slug] {
                    series = cached
                } else {
                    series = makeOrganisationSeries(sample.slug, in: &cache)
                }
                series.scimEnabled.set(to: sample.scimEnabled ? 1 : 0)
                let labels = [("organisation", sample.slug)]
                let lastSuccessName = Self.organisationLastSuccessName
                let tokenExpiryName = Self.organisationTokenExpiryName
                switch sample.lastSuccess {
                case .at(let date):
                    let gauge = series.lastSuccess ?? registry.makeGauge(descriptor: lastSuccessName, labels: labels)
                    gauge.set(to: date.timeIntervalSince1970)
                    series.lastSuccess = gauge
                case .none:
                    if let gauge = series.lastSuccess { registry.unregisterGauge(gauge) }
                    series.lastSuccess = nil
                case .unread:
                    break
                }
                if let expiry = sample.tokenExpiry {
                    let gauge = series.tokenExpiry ?? registry.makeGauge(descriptor: tokenExpiryName, labels: labels)
                    gauge.set(to: expiry.timeIntervalSince1970)
                    series.tokenExpiry = gauge
                } else if let gauge = series.tokenExpiry {
                    registry.unregisterGauge(gauge)
                    series.tokenExpiry = nil
                }
                cache.series[sample.slug] = series
            }
            let listing = refresh?.number ?? cache.refreshesStarted + 1
            for (slug, series) in cache.series where !seen.contains(slug) && series.refreshesBefore < listing {
                series.unregister(from: registry)
                cache.series[slug] = nil
            }
        }
        organisationsRefreshed.set(to: now.timeIntervalSince1970)
    }

    /// Creates an organisation's counters and `scim_enabled` gauge and caches them; called under the lock.
    private func makeOrganisationSeries(
        _ slug: String, in cache: inout OrganisationSeriesCache
    ) -> OrganisationSeries {
        let labels = [("organisation", slug)]
        let requests = Self.organisationRequestsName
        let series = OrganisationSeries(
            succeeded: registry.makeCounter(descriptor: requests, labels: labels + [("outcome", "success")]),
            failed: registry.makeCounter(descriptor: requests, labels: labels + [("outcome", "error")]),
            scimEnabled: registry.makeGauge(descriptor: Self.organisationSCIMEnabledName, labels: labels),
            refreshesBefore: cache.refreshesStarted)
        cache.series[slug] = series
        return series
    }

    /// Adds to `scim_events_purged_total`.
    func recordPurged(_ count: Int) {
        if count > 0 { eventsPurged.increment(by: Int64(count)) }
    }

    /// Adds to `scim_oauth_access_tokens_purged_total`.
    func recordAccessTokensPurged(_ count: Int) {
        if count > 0 { accessTokensPurged.increment(by: Int64(count)) }
    }

    /// Copies a snapshot of a connection pool into its `pool`-labelled gauges; called at scrape time.
    func samplePool(_ pool: PostgresClient.PoolMetrics, role: PoolRole) {
        pools[role]?.set(pool)
    }

    /// Copies the sync-event buffer's figures into their gauges; called at scrape time.
    func sampleEvents(_ buffer: EventBuffer) {
        eventsPending.set(to: Double(buffer.pendingCount))
        eventsDropped.set(to: Double(buffer.droppedCount))
    }

    /// The Prometheus text exposition of everything in the registry.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// Methods outside the standard set (any token is a valid HTTP method) collapse into `OTHER`.
    static func boundedMethod(_ method: String) -> String {
        switch method {
        case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS": method
        default: "OTHER"
        }
    }

    static func statusClass(_ status: Int) -> String {
        (100..<600).contains(status) ? "\(status / 100)xx" : "other"
    }

    private struct RequestKey: Hashable {
        var method: String
        var route: String
        var statusClass: String
    }

    /// One organisation's refreshed signals, as `OrganisationMetricsService` read them.
    struct OrganisationSample: Sendable, Equatable {
        /// What `scim_organisation_last_success_timestamp_seconds` shows.
        enum LastSuccess: Sendable, Equatable {
            /// The time of the latest success (the Unix epoch when the identity provider connected once
            /// but the retained event log holds no success).
            case at(Date)
            /// No series: the identity provider never connected.
            case none
            /// The event log could not be read this time: the series keeps its value.
            case unread
        }

        var slug: String
        var scimEnabled: Bool
        var lastSuccess: LastSuccess
        var tokenExpiry: Date?
    }

    /// A refresh of the organisations' signals, numbered in the order they started.
    struct OrganisationRefresh: Sendable {
        fileprivate var number: Int
    }

    /// Every organisation's series, and how many refreshes have started.
    private struct OrganisationSeriesCache: Sendable {
        var series: [String: OrganisationSeries] = [:]
        var refreshesStarted = 0
    }

    /// One organisation's series; the two gauges exist only while they have a value.
    private struct OrganisationSeries: Sendable {
        var succeeded: Counter
        var failed: Counter
        var scimEnabled: Gauge
        var lastSuccess: Gauge? = nil
        var tokenExpiry: Gauge? = nil
        /// How many refreshes had started when the series was created: a refresh that started later
        /// listed its organisation, if it still existed.
        var refreshesBefore: Int

        func unregister(from registry: PrometheusCollectorRegistry) {
            registry.unregisterCounter(succeeded)
            registry.unregisterCounter(failed)
            registry.unregisterGauge(scimEnabled)
            if let lastSuccess { registry.unregisterGauge(lastSuccess) }
            if let tokenExpiry { registry.unregisterGauge(tokenExpiry) }
        }
    }

    private struct RequestSeries: Sendable {
        var count: Counter
        var latency: DurationHistogram
    }

    // Metric names. Computed, as `MetricNameDescriptor` is not `Sendable`.
    static var requestsName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "http", metricName: "requests", unitName: "total",
            helpText: "HTTP requests by method, route template and status class.")
    }
    static var requestDurationName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "HTTP request latency by method, route template and status class.")
    }
    static var rewritesName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", metricName: "normalisation_rewrites", unitName: "total",
            helpText: "Lenient rewrites of client input (Okta/Entra quirks) by kind.")
    }
    static var connectionsOpenName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "http", metricName: "connections_open", unitName: "",
            helpText: "Client connections open now (at most MAX_CONNECTIONS).")
    }
    static var connectionsRefusedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "http", metricName: "connections_refused", unitName: "total",
            helpText: "Client connections closed at once because MAX_CONNECTIONS were open.")
    }
    static var connectionTimeoutsName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "http", metricName: "connection_timeouts", unitName: "total",
            helpText: "Client connections closed by a deadline: idle keep-alive, request headers or request body.")
    }
    static var eventsPurgedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", metricName: "events_purged", unitName: "total",
            helpText: "Sync events deleted by the retention purger.")
    }
    static var accessTokensPurgedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "oauth", metricName: "access_tokens_purged", unitName: "total",
            helpText: "Expired OAuth access tokens deleted by the background purge on this replica.")
    }
    static var organisationRequestsName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "organisation", metricName: "requests", unitName: "total",
            helpText: "SCIM requests of one organisation on this replica, by outcome (error: status 400 or above).")
    }
    static var organisationLastSuccessName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "organisation", metricName: "last_success_timestamp", unitName: "seconds",
            helpText:
                "Time of the organisation's latest successful SCIM request in its event log; 0 when none is kept.")
    }
    static var organisationTokenExpiryName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "organisation", metricName: "token_expiry_timestamp", unitName: "seconds",
            helpText: "Earliest expiry among the organisation's live SCIM tokens; absent when none expires.")
    }
    static var organisationSCIMEnabledName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "organisation", metricName: "scim_enabled", unitName: "",
            helpText: "1 when SCIM provisioning is switched on for the organisation, else 0.")
    }
    static var organisationsRefreshedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "organisation", metricName: "signals_refreshed_timestamp",
            unitName: "seconds",
            helpText: "Time this replica last refreshed the scim_organisation_* gauges from the database.")
    }
    /// The gauges of one connection pool, labelled `pool="request"` or `pool="background"`.
    private struct PoolGauges: Sendable {
        let inUse, idle, waiting, opened, statementsPrepared, visitedLeases, statementMismatches: Gauge

        init(registry: PrometheusCollectorRegistry, role: PoolRole) {
            let labels = [("pool", role.rawValue)]
            inUse = registry.makeGauge(descriptor: ServiceMetrics.poolInUseName, labels: labels)
            idle = registry.makeGauge(descriptor: ServiceMetrics.poolIdleName, labels: labels)
            waiting = registry.makeGauge(descriptor: ServiceMetrics.poolWaitingName, labels: labels)
            opened = registry.makeGauge(descriptor: ServiceMetrics.poolOpenedName, labels: labels)
            statementsPrepared = registry.makeGauge(
                descriptor: ServiceMetrics.poolStatementsPreparedName, labels: labels)
            visitedLeases = registry.makeGauge(descriptor: ServiceMetrics.poolVisitedLeasesName, labels: labels)
            statementMismatches = registry.makeGauge(
                descriptor: ServiceMetrics.poolStatementMismatchesName, labels: labels)
        }

        func set(_ pool: PostgresClient.PoolMetrics) {
            inUse.set(to: Double(pool.inUse))
            idle.set(to: Double(pool.idle))
            waiting.set(to: Double(pool.waiting))
            opened.set(to: Double(pool.connectionsOpened))
            statementsPrepared.set(to: Double(pool.statementsPrepared))
            visitedLeases.set(to: Double(pool.visitedLeases))
            statementMismatches.set(to: Double(pool.statementMismatches))
        }
    }

    static var poolInUseName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "connections_in_use", unitName: "",
            helpText: "Database connections (or connection attempts) held by callers.")
    }
    static var poolIdleName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "connections_idle", unitName: "",
            helpText: "Open database connections waiting in the pool.")
    }
    static var poolWaitingName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "waiting", unitName: "",
            helpText: "Callers queued for a database connection.")
    }
    static var eventsPendingName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "events", metricName: "pending", unitName: "",
            helpText:
                "Sync events of reads and failures waiting to be written (each second once 50 wait for an organisation, else within 5 s)."
        )
    }
    static var eventsDroppedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "events", metricName: "dropped", unitName: "",
            helpText: "Sync events dropped since start: the buffer was full, or the database refused them.")
    }
    static var poolOpenedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "connections_opened", unitName: "",
            helpText: "Database connections opened since start; a steady climb means connections keep breaking.")
    }
    static var poolStatementsPreparedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "statements_prepared", unitName: "",
            helpText:
                "Statements prepared since start, over all connections; climbing with steady traffic means DB_STATEMENT_CACHE_SIZE is too small."
        )
    }
    static var poolStatementMismatchesName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "prepared_statement_mismatches", unitName: "",
            helpText:
                "Prepared statements a server session had when the connection expected not, or the reverse, since start."
        )
    }
    static var poolVisitedLeasesName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "scim", subsystem: "db_pool", metricName: "visited_leases", unitName: "",
            helpText: "Requests served by a connection whose home is another bucket of organisations, since start.")
    }
}
