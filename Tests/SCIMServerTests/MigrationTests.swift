import Foundation
import Logging
import Postgres
import SCIMServer
import SCIMStore
import TestClusters
import Testing

/// Runs `body` with a pool on the test database.
func withDatabase<R: Sendable>(_ body: @Sendable (PostgresClient) async throws -> R) async throws -> R {
    var configuration = PostgresClient.Configuration(connectionString: try TestDatabase.configuration().databaseURL)
    configuration.maximumConnections = 4
    let client = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

@Suite("Migrations", .serialized)
struct MigrationTests {
    let migrations: MigrationSet

    init() throws {
        migrations = try MigrationSet.load(from: TestDatabase.sqlDirectory)
    }

    @Test("the shipped files are numbered and complete")
    func files() {
        #expect(migrations.control.map(\.version) == Array(1...migrations.control.count))
        #expect(migrations.tenant.map(\.version) == Array(1...migrations.tenant.count))
    }

    @Test("applying twice is a no-op, and two migrators at once do not conflict")
    func idempotentAndConcurrent() async throws {
        let migrations = self.migrations
        try await withDatabase { client in
            let migrator = Migrator(migrations: migrations, logger: TestDatabase.logger)
            try await migrator.migrate(client)
            async let first = migrator.migrate(client)
            async let second = migrator.migrate(client)
            _ = try await (first, second)
            let again = try await migrator.migrate(client)
            #expect(again == 0, "nothing left to migrate")
            let applied = try await client.query("SELECT count(*) FROM control.schema_migrations").first!.decode(
                0, as: Int.self)
            #expect(applied == migrations.control.count)
        }
    }

    @Test("a new organisation's schema has every tenant migration, recorded in its own schema")
    func newTenantIsComplete() async throws {
        let migrations = self.migrations
        try await withDatabase { client in
            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(client)
            let store = OrganisationStore(client: client, migrations: migrations)
            let organisation = try await store.create(slug: TestDatabase.uniqueSlug("m"), name: "Migrated")
            let schema = try PostgresIdentifier(organisation.schemaName)
            let versions = try await client.query("SELECT version FROM \(schema).schema_migrations ORDER BY version")
                .map { try $0.decode(0, as: Int.self) }
            #expect(versions == migrations.tenant.map(\.version))
            let tables = try await client.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = \(organisation.schemaName) ORDER BY 1"
            ).map { try $0.decode(0, as: String.self) }
            #expect(
                Set(tables).isSuperset(of: ["users", "teams", "team_members", "custom_field_mappings", "sync_events"]))
            #expect(try await Self.eventLogOptions(schema, client) == "autovacuum_analyze_threshold=10000")
            let recorded = try await client.query(
                "SELECT schema_version FROM control.organisations WHERE id = \(organisation.id)"
            ).first!.decode(0, as: Int.self)
            #expect(recorded == migrations.latestTenantVersion)
        }
    }

    @Test("eight replicas migrating a fresh database at once: one applies, the others wait and find it done")
    func freshDatabaseConcurrently() async throws {
        let migrations = self.migrations
        try await TestCluster.with("fresh") { cluster in
            var configuration = PostgresClient.Configuration(connectionString: cluster.url)
            configuration.maximumConnections = 8
            let client = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                try await withThrowingTaskGroup(of: Int.self) { replicas in
                    for _ in 0..<8 {
                        replicas.addTask {
                            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(client)
                        }
                    }
                    try await replicas.waitForAll()
                }
                let applied = try await client.query("SELECT count(*) FROM control.schema_migrations").first!.decode(
                    0, as: Int.self)
                #expect(applied == migrations.control.count)
            }
        }
    }

    @Test("creating an organisation waits for a running migrator instead of being cut off by the statement timeout")
    func creationOutlastsStatementTimeout() async throws {
        let migrations = self.migrations
        var configuration = PostgresClient.Configuration(connectionString: try TestDatabase.configuration().databaseURL)
        configuration.statementTimeout = .milliseconds(200)
        let client = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
        try await withDatabase { migratorClient in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                // The migrator holds its lock until the test ends it (pg_cancel_backend below).
                let migratorHolds = Task {
                    try await migratorClient.withTransaction { connection in
                        _ = try connection.query("SELECT pg_advisory_xact_lock(\(Migrator.lockKey))")
                        try connection.execute(unsafeSQL: "SELECT pg_sleep(120)")
                    }
                }
                let migratorsLock: PostgresQuery = """
                    l.locktype = 'advisory' AND l.classid::bigint = \(Migrator.lockKey >> 32)
                    AND l.objid::bigint = \(Migrator.lockKey & 0xFFFF_FFFF) AND l.objsubid = 1
                    """
                try await waitUntil(
                    migratorClient,
                    """
                    SELECT count(*) FROM pg_locks l WHERE \(migratorsLock) AND l.mode = 'ExclusiveLock' AND l.granted
                    """)
                let creation = Task {
                    try await OrganisationStore(client: client, migrations: migrations)
                        .create(slug: TestDatabase.uniqueSlug("w"), name: "Waited")
                }
                // The creation waits on the migrator's lock for twice its statement timeout, by the server's clock.
                try await waitUntil(
                    migratorClient,
                    """
                    SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE \(migratorsLock) AND l.mode = 'ShareLock' AND NOT l.granted
                      AND clock_timestamp() - a.query_start > interval '400 milliseconds'
                    """)
                _ = try await migratorClient.query(
                    "SELECT pg_cancel_backend(l.pid) FROM pg_locks l WHERE \(migratorsLock) AND l.mode = 'ExclusiveLock' AND l.granted"
                )
                #expect(await migratorHolds.result.isFailure, "the migrator's transaction was cancelled")
                let organisation = try await creation.value
                #expect(organisation.schemaName.hasPrefix("org_"), "the creation outlived its statement timeout")
            }
        }
    }

    @Test("a stale tenant schema is brought up to date at start-up")
    func staleTenantIsMigrated() async throws {
        let migrations = self.migrations
        try await withDatabase { client in
            let migrator = Migrator(migrations: migrations, logger: TestDatabase.logger)
            try await migrator.migrate(client)
            let organisation = try await OrganisationStore(client: client, migrations: migrations)
                .create(slug: TestDatabase.uniqueSlug("s"), name: "Stale")
            let schema = try PostgresIdentifier(organisation.schemaName)
            // Simulate a schema created by an older release: undo the last migration (005) and its record.
            let last = try #require(migrations.tenant.last)
            try await client.withTransaction { connection in
                _ = try connection.query("ALTER TABLE \(schema).sync_events DROP COLUMN client_request_id")
                _ = try connection.query("DELETE FROM \(schema).schema_migrations WHERE version = \(last.version)")
                _ = try connection.query(
                    "UPDATE control.organisations SET schema_version = \(last.version - 1) WHERE id = \(organisation.id)"
                )
            }
            #expect(try await migrator.migrate(client) >= 1)
            let column = try await client.query(
                """
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = \(organisation.schemaName) AND table_name = 'sync_events' AND column_name = 'client_request_id'
                """)
            #expect(try column[0].decode(0, as: Int.self) == 1)
        }
    }

    /// The storage parameters of a tenant's `sync_events` (migration 004), comma-separated.
    static func eventLogOptions(_ schema: PostgresIdentifier, _ client: PostgresClient) async throws -> String? {
        try await client.query(
            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = \("\(schema.quoted).sync_events")::regclass"
        ).first!.decode(0, as: String?.self)
    }
}

/// Polls `query` (a count) every 20 ms until it is positive; records an issue after 30 s.
private func waitUntil(_ client: PostgresClient, _ query: PostgresQuery) async throws {
    for _ in 0..<1500 {
        if try await client.query(query).first?.decode(0, as: Int.self) ?? 0 > 0 { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("never true: \(query.sql)")
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
