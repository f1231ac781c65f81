import Foundation
import Postgres

/// Organisations in the control schema, and the tenant schema each one owns.
public struct OrganisationStore: Sendable {
    let client: PostgresClient
    let migrations: MigrationSet

    public init(client: PostgresClient, migrations: MigrationSet) {
        self.client = client
        self.migrations = migrations
    }

    /// Creates the organisation and its schema with every tenant migration, atomically: either the
    /// organisation exists with a complete schema, or nothing was written.
    /// - Throws: `StoreError` invalid for a bad slug or empty name, conflict when the slug is taken.
    public func create(slug: String, name: String) async throws -> Organisation {
        guard Organisation.isValidSlug(slug) else {
            throw StoreError.invalid("slug", "Invalid slug \"\(slug.prefix(64))\": \(Organisation.slugRule).")
        }
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw StoreError.invalid("name", "name is required (at most 200 characters).")
        }
        let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: slug))
        let tenantMigrations = migrations.tenant
        do {
            return try await client.withTransaction { connection in
                try Migrator.sharedLock(connection)
                let rows = try connection.query(
                    """
                    INSERT INTO control.organisations (id, slug, name, schema_name)
                    VALUES (\(UUID()), \(slug), \(name), \(schema.name))
                    RETURNING \(Organisation.columns)
                    """)
                try Migrator.migrateTenant(schema, migrations: tenantMigrations, on: connection)
                return try Organisation(row: rows.single())
            }
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw StoreError.conflict(
                "slug", "An organisation with slug \"\(slug)\" (or schema \(schema.name)) already exists.")
        }
    }

    public func list() async throws -> [Organisation] {
        try await client.query("SELECT \(Organisation.columns) FROM control.organisations ORDER BY slug")
            .map(Organisation.init(row:))
    }

    /// - Throws: `StoreError` not found when no organisation has this slug.
    public func find(slug: String) async throws -> Organisation {
        try await Self.find(slug: slug, client: client)
    }

    static func find(slug: String, client: PostgresClient) async throws -> Organisation {
        let rows = try await client.query(
            "SELECT \(Organisation.columns) FROM control.organisations WHERE slug = \(slug)")
        guard let row = rows.first else {
            throw StoreError.notFound("organisation", "No organisation with slug \"\(slug.prefix(64))\".")
        }
        return try Organisation(row: row)
    }

    /// Changes the name, whether SCIM is enabled and/or the rate-limit override; absent fields stay as they are.
    /// - Throws: `StoreError` invalid for an empty name or a rate limit outside 1-100000, not found for an
    ///   unknown slug, conflict for turning SCIM on in an offboarded organisation (restore it first).
    public func update(slug: String, name: String?, scimEnabled: Bool?, rateLimit: RateLimitChange = .unchanged)
        async throws -> Organisation
    {
        let name = name?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let name, name.isEmpty || name.count > 200 {
            throw StoreError.invalid("name", "name must be 1-200 characters.")
        }
        var override: RateLimit?
        if case .set(let limit) = rateLimit {
            let valid = 1...RateLimit.maximum
            guard valid.contains(limit.requestsPerSecond), valid.contains(limit.burst) else {
                throw StoreError.invalid(
                    "rateLimit",
                    "rateLimit.requestsPerSecond and rateLimit.burst must be integers from 1 to \(RateLimit.maximum).")
            }
            override = limit
        }
        let changeLimit = rateLimit != .unchanged
        let rows = try await client.query(
            """
            UPDATE control.organisations
            SET name = COALESCE(\(name), name), scim_enabled = COALESCE(\(scimEnabled), scim_enabled),
                rate_limit_rps = CASE WHEN \(changeLimit) THEN \(override?.requestsPerSecond)::integer ELSE rate_limit_rps END,
                rate_limit_burst = CASE WHEN \(changeLimit) THEN \(override?.burst)::integer ELSE rate_limit_burst END,
                updated_at = now()
            WHERE slug = \(slug) AND (offboarded_at IS NULL OR \(scimEnabled) IS NOT TRUE)
            RETURNING \(Organisation.columns)
            """)
        guard let row = rows.first else {
            _ = try await find(slug: slug)
            throw OrganisationLifecycle.offboardedConflict(slug: slug)
        }
        return try Organisation(row: row)
    }

    /// The tenant for staff requests that name an organisation by slug.
    public func tenant(slug: String) async throws -> Tenant {
        let organisation = try await find(slug: slug)
        return Tenant(
            organisationID: organisation.id, slug: organisation.slug,
            schema: try PostgresIdentifier(organisation.schemaName),
            rateLimit: organisation.rateLimit)
    }
}
