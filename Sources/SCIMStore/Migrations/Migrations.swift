import Foundation
import Logging
import Postgres

/// One numbered, forward-only SQL file from `sql/control` or `sql/tenant`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
}

/// The migration files this build ships, read once at start-up.
public struct MigrationSet: Sendable {
    public var control: [Migration]
    public var tenant: [Migration]

    public var latestTenantVersion: Int { tenant.last?.version ?? 0 }

    /// Reads `control/NNN_name.sql` and `tenant/NNN_name.sql` under `directory`.
    /// - Throws: `MigrationError` when a folder is missing or two files share a number.
    public static func load(from directory: URL) throws -> MigrationSet {
        MigrationSet(
            control: try files(in: directory.appendingPathComponent("control")),
            tenant: try files(in: directory.appendingPathComponent("tenant")))
    }

    /// Where the SQL files are: `$SCIM_SQL_DIR`, else `./sql`, else next to the executable
    /// (`../share/scim-server/sql`, as the Docker image lays it out).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let configured = environment["SCIM_SQL_DIR"], !configured.isEmpty {
            return URL(fileURLWithPath: configured)
        }
        let candidates = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql"),
            (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("../share/scim-server/sql").standardized,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("control").path) }
            ?? candidates[0]
    }

    private static func files(in folder: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw MigrationError(message: "migration folder \(folder.path) is missing (set SCIM_SQL_DIR)")
        }
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            guard let version = Int(name.prefix { $0.isNumber }), version > 0 else {
                throw MigrationError(message: "migration \(name) must start with its number, e.g. 001_users.sql")
            }
            let sql = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(name.dropLast(4)), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (a, b) in zip(migrations, migrations.dropFirst()) where a.version == b.version {
            throw MigrationError(message: "migrations \(a.name) and \(b.name) share number \(a.version)")
        }
        return migrations
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "MigrationError: \(message)" }
}

/// Applies pending migrations to the control schema and to every tenant schema.
///
/// Each schema records what it has applied in its own `schema_migrations` table, so a tenant schema
/// stays self-contained (it can be dumped, restored or moved to another node on its own). Every run
/// holds a transaction-scoped advisory lock, so replicas starting together take turns instead of racing,
/// and nothing session-scoped survives into a pooled connection (PgBouncer transaction mode is fine).
public struct Migrator: Sendable {
    public static let controlSchema = PostgresIdentifier(literal: "control")
    /// Arbitrary, fixed key for `pg_advisory_xact_lock`: "SCIM" in ASCII (`objid` 1397965133 in `pg_locks`).
    public static let lockKey: Int64 = 0x5343_494D

    public var migrations: MigrationSet
    public var logger: Logger

    public init(migrations: MigrationSet, logger: Logger) {
        self.migrations = migrations
        self.logger = logger
    }

    /// Brings the control schema and then every tenant schema up to date.
    /// - Returns: how many tenant schemas were migrated.
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws -> Int {
        let control = migrations.control
        let applied = try await Self.retryingCatalogRaces {
            try await client.withTransaction { connection in
                try Self.lock(connection)
                try connection.execute(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS control")
                return try Self.apply(control, to: Self.controlSchema, on: connection)
            }
        }
        if !applied.isEmpty {
            logger.info("applied control migrations", metadata: ["scim.migrations": "\(applied)"])
        }
        return try await migrateTenants(client)
    }

    /// Migrates each tenant schema whose recorded version is behind, one transaction each.
    public func migrateTenants(_ client: PostgresClient) async throws -> Int {
        let latest = migrations.latestTenantVersion
        let stale = try await client.query(
            "SELECT schema_name FROM control.organisations WHERE schema_version < \(latest) ORDER BY schema_name")
        let tenant = migrations.tenant
        for row in stale {
            let schema = try PostgresIdentifier(try row.decode("schema_name", as: String.self))
            let migrated = try await Self.retryingCatalogRaces {
                try await client.withTransaction { connection -> Bool in
                    try Self.lock(connection)
                    // Purged since the list was read: migrating would create its schema again.
                    let exists = try connection.query(
                        "SELECT 1 FROM control.organisations WHERE schema_name = \(schema.name)")
                    guard !exists.isEmpty else { return false }
                    try Self.migrateTenant(schema, migrations: tenant, on: connection)
                    return true
                }
            }
            guard migrated else { continue }
            logger.info("migrated tenant schema", metadata: ["scim.schema": "\(schema.name)"])
        }
        return stale.count
    }

    /// Runs `transaction` again (at most twice more) when it failed on a unique index of PostgreSQL's
    /// own catalogs (`pg_namespace_nspname_index`, `pg_type_typname_nsp_index`, …): `CREATE … IF NOT
    /// EXISTS` is not safe against a creation it cannot see yet. Behind the advisory lock that should
    /// not happen, yet it was seen once, with replicas starting together on a new database through
    /// PgBouncer. The transaction rolled back, and a new one sees what the other committed.
    static func retryingCatalogRaces<R>(_ transaction: () async throws -> R) async throws -> R {
        var attempt = 1
        while true {
            do {
                return try await transaction()
            } catch let error as PostgresError
                where error.sqlState == .uniqueViolation && error.constraint?.hasPrefix("pg_") == true && attempt < 3
            {
                attempt += 1
            }
        }
    }

    /// Creates (if needed) and migrates one tenant schema inside the caller's transaction.
    static func migrateTenant(_ schema: PostgresIdentifier, migrations: [Migration], on connection: PostgresConnection)
        throws
    {
        try connection.execute(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema.quoted)")
        _ = try apply(migrations, to: schema, on: connection)
        _ = try connection.query(
            """
            UPDATE control.organisations SET schema_version = \(migrations.last?.version ?? 0)
            WHERE schema_name = \(schema.name)
            """)
    }

    /// Exclusive: one migrator at a time, and no organisation is created while a migrator runs.
    ///
    /// Migrations may wait for another replica's run and may take long on big tables, so the request
    /// statement timeout does not apply to them (`SET LOCAL`: it ends with the transaction).
    static func lock(_ connection: PostgresConnection) throws {
        try connection.execute(unsafeSQL: "SET LOCAL statement_timeout = 0")
        _ = try connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
    }

    /// Shared: organisations can be created concurrently, but never half-way through a migration run
    /// (which could otherwise miss the new schema).
    ///
    /// Creating an organisation runs the tenant migrations and may wait for a migrator (every replica
    /// takes the exclusive lock briefly at start-up), so, like a migration, it is not cut off by the
    /// request statement timeout.
    static func sharedLock(_ connection: PostgresConnection) throws {
        try connection.execute(unsafeSQL: "SET LOCAL statement_timeout = 0")
        _ = try connection.query("SELECT pg_advisory_xact_lock_shared(\(lockKey))")
    }

    /// Applies what `schema` has not recorded yet; the caller's transaction makes it all-or-nothing.
    private static func apply(
        _ migrations: [Migration], to schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws -> [String] {
        // SET LOCAL: the search path ends with this transaction, never leaking to the next pool user.
        try connection.execute(
            unsafeSQL: """
                SET LOCAL search_path TO \(schema.quoted);
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """)
        let done = Set(
            try connection.query("SELECT version FROM \(schema).schema_migrations").map {
                try $0.decode(0, as: Int.self)
            })
        var applied: [String] = []
        for migration in migrations where !done.contains(migration.version) {
            try connection.execute(unsafeSQL: migration.sql)
            _ = try connection.query(
                "INSERT INTO \(schema).schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))"
            )
            applied.append(migration.name)
        }
        try connection.execute(unsafeSQL: "SET LOCAL search_path TO DEFAULT")
        return applied
    }
}
