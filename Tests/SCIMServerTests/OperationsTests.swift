import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import SCIM
import SCIMStore
import ServiceLifecycle
import Synchronization
import Testing

@testable import SCIMServer

@Suite("Operations: metrics, retention, structured logs")
struct OperationsTests {
    // MARK: - /metrics

    @Test("/metrics counts requests by route template, method and status class, never by raw path")
    func metricsByRouteTemplate() async throws {
        try await withApp { client in
            let organisation = try await client.organisation("ops")
            let id = try await organisation.createUser("metrics.\(UUID().uuidString.prefix(8))@example.com")
            // A text is prepared on a connection that has run it twice (four times on another tenant's
            // home connection); background reads share the pool, so the GETs may land on any of its 4
            // connections: 13 make one of them run it at least 4 times.
            let gets = 13
            for _ in 0..<gets { try await organisation.scim(.get, "/Users/\(id)") }
            try await organisation.scim(.get, "/Users/\(UUID().uuidString.lowercased())")  // 404
            try await client.request(.get, "/no/such/\(organisation.slug)", bearer: nil)

            let scrape = try await client.request(.get, "/metrics", bearer: nil)
            #expect(scrape.status == .ok)
            #expect(scrape.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = scrape.text
            #expect(text.contains("# TYPE scim_http_requests_total counter"))
            #expect(
                Self.value(
                    in: text, #"scim_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status_class="2xx"}"#)
                    == Double(gets))
            #expect(
                Self.value(
                    in: text, #"scim_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status_class="4xx"}"#)
                    == 1)
            #expect(
                Self.value(
                    in: text, #"scim_http_requests_total{method="POST",route="/scim/v2/Users",status_class="2xx"}"#)
                    == 1)
            #expect(
                Self.value(in: text, #"scim_http_requests_total{method="GET",route="NotFound",status_class="4xx"}"#)
                    == 1)
            #expect(
                text.contains(
                    #"scim_http_request_duration_seconds_bucket{method="GET",route="/scim/v2/Users/{id}",status_class="2xx",le="#
                ))
            #expect(text.contains(#"route="/admin/v1/organisations/{slug}/tokens""#))
            for gauge in [
                "connections_in_use", "connections_idle", "waiting", "connections_opened", "statements_prepared",
                "visited_leases",
            ] {
                for pool in ["request", "background"] {
                    #expect(
                        Self.value(in: text, "scim_db_pool_\(gauge){pool=\"\(pool)\"}") != nil,
                        "missing \(gauge) of the \(pool) pool")
                }
            }
            #expect((Self.value(in: text, #"scim_db_pool_connections_opened{pool="request"}"#) ?? 0) >= 1)
            // The GETs by id ran a statement seen before: prepared, unless prepared statements are off.
            let prepared = Self.value(in: text, #"scim_db_pool_statements_prepared{pool="request"}"#)
            #expect(
                PostgresClient.Configuration.preparedStatementsFromEnvironment() ? (prepared ?? 0) > 0 : prepared == 0)
            #expect(Self.value(in: text, "scim_events_purged_total") == 0)
            // Bounded labels: no ids or user names anywhere in the exposition, and the slug only as the
            // `organisation` label of the per-organisation series.
            #expect(!text.contains(id))
            #expect(!text.contains("@example.com"))
            for line in text.split(separator: "\n") where line.contains(organisation.slug) {
                #expect(line.hasPrefix("scim_organisation_"), "slug outside the per-organisation series: \(line)")
                #expect(
                    line.contains("organisation=\"\(organisation.slug)\""),
                    "slug outside the organisation label: \(line)")
            }
        }
    }

    @Test("with METRICS_TOKEN set, /metrics wants that bearer token")
    func metricsToken() async throws {
        var configuration = try TestDatabase.configuration()
        configuration.metricsToken = "metrics-token-0123456789"
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        try await app.test(.router) { client in
            let client = TestClient(client: client)
            let anonymous = try await client.request(.get, "/metrics", bearer: nil)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.request(.get, "/metrics", bearer: TestDatabase.adminToken).status == .unauthorized)
            let scrape = try await client.request(.get, "/metrics", bearer: "metrics-token-0123456789")
            #expect(scrape.status == .ok)
            #expect(scrape.text.contains("scim_db_pool_connections_in_use"))
        }
    }

    // MARK: - Retention

    @Test("a purge pass deletes only events older than the retention period, in batches, and counts them")
    func purgeDeletesOnlyOldEvents() async throws {
        let migrations = try MigrationSet.load(from: TestDatabase.sqlDirectory)
        try await withDatabase { client in
            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(client)
            let organisation = try await OrganisationStore(client: client, migrations: migrations)
                .create(slug: TestDatabase.uniqueSlug("purge"), name: "Purge")
            let schema = try PostgresIdentifier(organisation.schemaName)
            func insert(_ count: Int, daysAgo: Int, requestPrefix: String) async throws {
                _ = try await client.query(
                    """
                    INSERT INTO \(schema).sync_events (occurred_at, outcome, request_id, method, path, status)
                    SELECT now() - make_interval(days => \(daysAgo)::int), 'success', \(requestPrefix) || g, 'GET', '/Users', 200
                    FROM generate_series(1, \(count)::int) AS g
                    """)
            }
            // Ten days old: past this purger's five-day retention, within the 30 days every test app's
            // own background purger keeps, so none of them deletes these rows first.
            try await insert(5, daysAgo: 10, requestPrefix: "old-")
            try await insert(2, daysAgo: 1, requestPrefix: "recent-")

            let metrics = ServiceMetrics()
            let purger = EventPurger(
                client: client, retentionDays: 5, interval: .seconds(3600), batchSize: 2, metrics: metrics,
                logger: TestDatabase.logger)
            let summary = try await purger.purgeOnce()

            let left = try await client.query("SELECT request_id FROM \(schema).sync_events ORDER BY request_id")
                .map { try $0.decode(0, as: String.self) }
            #expect(left == ["recent-1", "recent-2"])
            // Other tests' organisations share the database, so at least ours; the schema count includes ours.
            #expect(summary.purged >= 5)
            #expect(summary.schemas >= 1)
            #expect(summary.failedSchemas == 0)
            let counted = try #require(
                Self.value(in: String(decoding: metrics.render(), as: UTF8.self), "scim_events_purged_total"))
            #expect(counted == Double(summary.purged))

            // Nothing old is left: a second pass deletes nothing here.
            _ = try await purger.purgeOnce()
            let remaining = try await client.query("SELECT count(*) FROM \(schema).sync_events").first!.decode(
                0, as: Int.self)
            #expect(remaining == 2)
        }
    }

    @Test("the purger stops on graceful shutdown without waiting out its delay", .timeLimit(.minutes(1)))
    func purgerStopsOnShutdown() async throws {
        try await withDatabase { client in
            let purger = EventPurger(
                client: client, retentionDays: 30, interval: .seconds(3600), initialDelay: .seconds(3600),
                metrics: ServiceMetrics(),
                logger: TestDatabase.logger)
            let group = ServiceGroup(services: [purger], logger: TestDatabase.logger)
            // Finishing at all is the check: the purger's first run is an hour away, and the suite's time
            // limit ends the test long before that.
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await Task.sleep(for: .milliseconds(100))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    // MARK: - Configuration

    @Test("retention, purge interval, log format and metrics token come from the environment")
    func environment() throws {
        let base = ["DATABASE_URL": "postgresql://x@localhost/db", "ADMIN_API_TOKEN": TestDatabase.adminToken]
        let defaults = try AppConfiguration.fromEnvironment(base)
        #expect(defaults.eventRetentionDays == 30)
        #expect(defaults.eventPurgeInterval == .seconds(3600))
        #expect(defaults.logFormat == .text)
        #expect(defaults.metricsToken == nil)
        #expect(defaults.statementCacheSize == 512)

        let set = try AppConfiguration.fromEnvironment(
            base.merging([
                "EVENT_RETENTION_DAYS": "7", "EVENT_PURGE_INTERVAL_SECONDS": "600", "LOG_FORMAT": "JSON",
                "METRICS_TOKEN": "metrics-token-0123456789", "DB_STATEMENT_CACHE_SIZE": "2048",
            ]) { $1 })
        #expect(set.eventRetentionDays == 7)
        #expect(set.eventPurgeInterval == .seconds(600))
        #expect(set.logFormat == .json)
        #expect(set.metricsToken == "metrics-token-0123456789")
        #expect(set.statementCacheSize == 2048)
    }

    @Test(
        "invalid operations settings are refused at start-up",
        arguments: [
            ("EVENT_RETENTION_DAYS", "0"), ("EVENT_RETENTION_DAYS", "thirty"), ("EVENT_PURGE_INTERVAL_SECONDS", "1"),
            ("EVENT_PURGE_INTERVAL_SECONDS", "-5"), ("LOG_FORMAT", "xml"), ("METRICS_TOKEN", "short"),
            ("DB_STATEMENT_CACHE_SIZE", "0"), ("DB_STATEMENT_CACHE_SIZE", "lots"),
        ])
    func invalidEnvironment(name: String, value: String) {
        let environment = [
            "DATABASE_URL": "postgresql://x@localhost/db", "ADMIN_API_TOKEN": TestDatabase.adminToken, name: value,
        ]
        #expect(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
    }

    // MARK: - JSON logs

    @Test("the JSON log handler writes one object per line with flattened metadata")
    func jsonLogLines() throws {
        let sink = LineSink()
        var logger = Logger(label: "scim-server") { label in JSONLogHandler(label: label, output: sink.output) }
        logger.logLevel = .debug
        logger[metadataKey: "scim.request.id"] = "req-123"
        logger[metadataKey: "scim.org"] = "acme"
        logger.info(
            "user \"created\"\nnext line",
            metadata: [
                "scim": ["resource": "User", "status": .stringConvertible(201)],
                "scim.changes": ["name.givenName", "active"],
                "message": "collides",
            ])
        logger.trace("not written")
        logger.warning("second line")

        let text = String(decoding: sink.bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3, "two lines and a final newline: \(text)")
        #expect(lines.last == "")
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "scim-server")
        #expect(first["message"] as? String == "user \"created\"\nnext line")
        #expect(first["source"] as? String == "SCIMServerTests")
        #expect(first["scim.request.id"] as? String == "req-123")
        #expect(first["scim.org"] as? String == "acme")
        #expect(first["scim.resource"] as? String == "User")
        #expect(first["scim.status"] as? String == "201")
        #expect(first["scim.changes"] as? [String] == ["name.givenName", "active"])
        #expect(first["metadata.message"] as? String == "collides")
        let timestamp = try #require(first["timestamp"] as? String)
        #expect(
            try Date(timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                .timeIntervalSinceNow > -60)

        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "warning")
        #expect(second["message"] as? String == "second line")
        #expect(second["scim.request.id"] as? String == "req-123")
    }

    @Test("control characters and non-ASCII text stay valid JSON")
    func jsonEscaping() throws {
        let sink = LineSink()
        let logger = Logger(label: "x") { label in JSONLogHandler(label: label, output: sink.output) }
        logger.error("tab\there \u{01} bell\u{07} backslash\\ émoji 🚀")
        let line = String(decoding: sink.bytes, as: UTF8.self).split(separator: "\n")[0]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "tab\there \u{01} bell\u{07} backslash\\ émoji 🚀")
    }

    @Test("the text log handler writes what swift-log's stream handler writes, metadata and all")
    func textLogLines() throws {
        func line(_ makeHandler: @escaping @Sendable (String, TextSink) -> any LogHandler) -> String {
            let sink = TextSink()
            var logger = Logger(label: "scim-server") { label in makeHandler(label, sink) }
            logger[metadataKey: "scim.request.id"] = "req-123"
            logger[metadataKey: "scim.org"] = "acme"
            logger.warning(
                "database unavailable", metadata: ["postgres.error": "connectionFailure", "scim.org": "beta"])
            logger.debug("not written")
            // The timestamp differs between the two runs; the rest must not.
            return String(sink.text.drop { $0 != " " })
        }
        let text = line { label, sink in TextLogHandler(label: label, stream: sink) }
        let stream = line { label, sink in StreamLogHandler(label: label, stream: sink) }
        #expect(text == stream)
        #expect(
            text
                == " warning scim-server: postgres.error=connectionFailure scim.org=beta scim.request.id=req-123 [SCIMServerTests] database unavailable\n"
        )
    }

    // MARK: - Helpers

    /// The value of one sample line (`name{labels} value`) in a Prometheus exposition.
    static func value(in exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

/// Collects a text handler's output in memory.
private final class TextSink: TextOutputStream, Sendable {
    private let buffer = Mutex("")

    func write(_ string: String) { buffer.withLock { $0 += string } }
    var text: String { buffer.withLock { $0 } }
}

/// Collects the handler's output in memory.
private final class LineSink: Sendable {
    private let buffer = Mutex<[UInt8]>([])

    var output: JSONLogHandler.Output {
        JSONLogHandler.Output { bytes in self.buffer.withLock { $0.append(contentsOf: bytes) } }
    }
    var bytes: [UInt8] { buffer.withLock { $0 } }
}
