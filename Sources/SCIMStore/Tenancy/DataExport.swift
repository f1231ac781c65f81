import Foundation
import Postgres
import SCIM

/// Everything the service holds for one organisation, or for one person, as NDJSON: one JSON object
/// per line, each with a `record` naming its kind (`organisation`, `token`, `customFieldMapping`, `user`, `team`,
/// `membership`, `manager`, `syncEvent`, `auditEntry`) and the row's columns under their column names.
///
/// PostgreSQL renders each line (`to_jsonb` of the row), so every column a migration adds is exported
/// without a change here. Secrets never are: tokens go without their hash (and without their prefix).
///
/// The organisation export reads each table in pages of `pageSize` rows in key order (keyset
/// paging, one short query per page, no connection held between pages) and hands each page to the
/// caller before it reads the next, so memory stays constant whatever the organisation's size. It is
/// not one snapshot: a row changed while the export runs may appear as it was before or after.
public struct DataExport: Sendable {
    public static let defaultPageSize = 1000

    /// Receives the export page by page: newline-terminated NDJSON lines.
    public typealias Sink = (String) async throws -> Void

    let client: PostgresClient
    /// Rows per query: about a megabyte of users at the default.
    let pageSize: Int

    public init(client: PostgresClient, pageSize: Int = defaultPageSize) {
        self.client = client
        self.pageSize = pageSize
    }

    /// Streams the organisation's settings (without secrets), custom-field mappings, users with all
    /// their attributes, teams, memberships, manager links and sync events to `sink`.
    /// - Throws: `StoreError.notFound` when the organisation is gone before the first line.
    public func organisation(_ tenant: Tenant, to sink: Sink) async throws {
        let schema = tenant.schema
        let settings = try await client.query(
            """
            SELECT (jsonb_build_object('record', 'organisation') || to_jsonb(o)
                    - 'offboarded_by_kind' - 'offboarded_by_id' - 'offboarded_by_name'
                    - 'scim_enabled_before_offboarding'
                    - 'schema_version')::text AS line
            FROM control.organisations o WHERE o.id = \(tenant.organisationID)
            """)
        guard !settings.isEmpty else {
            throw StoreError.notFound("organisation", "No organisation with slug \"\(tenant.slug.prefix(64))\".")
        }
        try await sink(Self.lines(settings))
        try await sink(
            Self.lines(
                try await client.query(
                    """
                    SELECT jsonb_build_object('record', 'token', 'id', id, 'label', label, 'created_at', created_at,
                        'expires_at', expires_at, 'last_used_at', last_used_at, 'revoked_at', revoked_at)::text AS line
                    FROM control.scim_tokens WHERE organisation_id = \(tenant.organisationID) ORDER BY created_at, id
                    """)))
        try await sink(
            Self.lines(
                try await client.query(
                    """
                    SELECT (jsonb_build_object('record', 'customFieldMapping') || to_jsonb(m))::text AS line
                    FROM \(schema).custom_field_mappings m ORDER BY scim_attribute
                    """)))
        try await pages(to: sink) { after in
            """
            SELECT u.id::text AS key, (jsonb_build_object('record', 'user') || to_jsonb(u))::text AS line
            FROM \(schema).users u \(Self.after(after) { "WHERE u.id > \($0)::uuid" }) ORDER BY u.id LIMIT \(pageSize)
            """
        }
        try await pages(to: sink) { after in
            """
            SELECT t.id::text AS key, (jsonb_build_object('record', 'team') || to_jsonb(t))::text AS line
            FROM \(schema).teams t \(Self.after(after) { "WHERE t.id > \($0)::uuid" }) ORDER BY t.id LIMIT \(pageSize)
            """
        }
        try await pages(to: sink) { after in
            let next = Self.after(after) {
                "WHERE (m.team_id, m.user_id) > (split_part(\($0), ',', 1)::uuid, split_part(\($0), ',', 2)::uuid)"
            }
            return """
                SELECT m.team_id::text || ',' || m.user_id::text AS key,
                       (jsonb_build_object('record', 'membership') || to_jsonb(m))::text AS line
                FROM \(schema).team_members m \(next) ORDER BY m.team_id, m.user_id LIMIT \(pageSize)
                """
        }
        try await pages(to: sink) { after in
            """
            SELECT u.id::text AS key,
                   jsonb_build_object('record', 'manager', 'user_id', u.id, 'manager_id', u.manager_id)::text AS line
            FROM \(schema).users u WHERE u.manager_id IS NOT NULL \(Self.after(after) { "AND u.id > \($0)::uuid" })
            ORDER BY u.id LIMIT \(pageSize)
            """
        }
        try await pages(to: sink) { after in
            """
            SELECT e.id::text AS key, (jsonb_build_object('record', 'syncEvent') || to_jsonb(e))::text AS line
            FROM \(schema).sync_events e \(Self.after(after) { "WHERE e.id > \($0)::bigint" }) ORDER BY e.id
            LIMIT \(pageSize)
            """
        }
    }

    /// One person's data (a subject-access request): their user row with every attribute, their team
    /// memberships, their manager link and the links of the people they manage, the sync events
    /// about them (by id, or by userName when an event names no resource: a refused create), and the
    /// audit entries that name them. An event about another account that held the same userName
    /// before (it was renamed) is that account's, and stays out.
    /// - Returns: the NDJSON text.
    /// - Throws: `StoreError.notFound` when the organisation has no such user.
    public func user(_ tenant: Tenant, id: UUID) async throws -> String {
        let schema = tenant.schema
        let slug = tenant.slug
        return try await client.withTransaction(isolation: .repeatableRead, readOnly: true) { connection in
            let user = try connection.query(
                """
                SELECT (jsonb_build_object('record', 'user') || to_jsonb(u))::text AS line, u.user_name
                FROM \(schema).users u WHERE u.id = \(id)
                """)
            guard let row = user.first else { throw StoreError.notFound("user", "No such user in this organisation.") }
            let userName: String = try row.decode("user_name")
            let parts = [
                user,
                try connection.query(
                    """
                    SELECT (jsonb_build_object('record', 'membership') || to_jsonb(m))::text AS line
                    FROM \(schema).team_members m WHERE m.user_id = \(id) ORDER BY m.team_id
                    """),
                try connection.query(
                    """
                    SELECT jsonb_build_object('record', 'manager', 'user_id', u.id, 'manager_id', u.manager_id)::text
                           AS line
                    FROM \(schema).users u WHERE u.id = \(id) AND u.manager_id IS NOT NULL OR u.manager_id = \(id)
                    ORDER BY u.id
                    """),
                try connection.query(
                    """
                    SELECT (jsonb_build_object('record', 'syncEvent') || to_jsonb(e))::text AS line
                    FROM \(schema).sync_events e
                    WHERE e.resource_id = \(id)
                       OR e.resource_id IS NULL AND lower(e.user_name) = lower(\(userName))
                    ORDER BY e.id
                    """),
                try connection.query(
                    """
                    SELECT (jsonb_build_object('record', 'auditEntry') || to_jsonb(a))::text AS line
                    FROM control.audit_log a WHERE a.organisation_slug = \(slug) AND a.target = \(id.lowercasedString)
                    ORDER BY a.id
                    """),
            ]
            return try parts.map(Self.lines).joined()
        }
    }

    /// Runs `query` page after page, each after the last `key` of the one before, until a page is short.
    private func pages(to sink: Sink, _ query: (String?) -> PostgresQuery) async throws {
        var after: String?
        while true {
            try Task.checkCancellation()
            let rows = try await client.query(query(after))
            if !rows.isEmpty { try await sink(try Self.lines(rows)) }
            guard rows.count == pageSize, let last = rows.last else { return }
            after = try last.decode("key", as: String.self)
        }
    }

    /// The condition that starts a page after `key`; empty for the first page.
    private static func after(_ key: String?, _ condition: (String) -> PostgresQuery) -> PostgresQuery {
        key.map(condition) ?? ""
    }

    private static func lines(_ rows: PostgresRows) throws -> String {
        var text = ""
        for row in rows {
            text += try row.decode("line", as: String.self)
            text += "\n"
        }
        return text
    }
}
