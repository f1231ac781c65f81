import Foundation
import Postgres
import SCIM

/// What erasing a person removed, returned to staff as the erasure's receipt.
public struct ErasureReceipt: Sendable, Equatable, Encodable {
    public var userID: UUID
    public var erasedAt: Date
    /// Teams the person was a member of (the memberships are deleted; the teams stay).
    public var teamMemberships: Int
    /// Custom-field values the person had.
    public var customFields: Int
    /// People whose manager the person was: they keep their account and lose the link.
    public var managerLinksRemoved: Int
    /// People waiting for the person as a not-yet-provisioned manager (by email): the reference is dropped.
    public var pendingManagerReferencesRemoved: Int
    /// Sync events whose userName or detail named the person, now naming the user id instead.
    public var syncEventsScrubbed: Int
    /// Audit entries whose target named the person, now naming the user id instead.
    public var auditEntriesScrubbed: Int

    enum CodingKeys: String, CodingKey {
        case userId, erasedAt, teamMemberships, customFields, managerLinksRemoved, pendingManagerReferencesRemoved,
            syncEventsScrubbed, auditEntriesScrubbed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(userID.lowercasedString, forKey: .userId)
        try container.encode(erasedAt, forKey: .erasedAt)
        try container.encode(teamMemberships, forKey: .teamMemberships)
        try container.encode(customFields, forKey: .customFields)
        try container.encode(managerLinksRemoved, forKey: .managerLinksRemoved)
        try container.encode(pendingManagerReferencesRemoved, forKey: .pendingManagerReferencesRemoved)
        try container.encode(syncEventsScrubbed, forKey: .syncEventsScrubbed)
        try container.encode(auditEntriesScrubbed, forKey: .auditEntriesScrubbed)
    }
}

/// Erasing one person on request (a right-to-erasure request), unlike SCIM `DELETE`, which keeps the
/// account deactivated.
public struct UserErasure: Sendable {
    let client: PostgresClient
    /// This replica's buffered read and failure events, written out before the scrub so none naming
    /// the person lands after it.
    let events: EventBuffer?

    public init(client: PostgresClient, events: EventBuffer? = nil) {
        self.client = client
        self.events = events
    }

    /// Deletes the person outright, in one transaction: their row, team memberships and custom
    /// fields; the people they managed lose the link; their userName, emails and names are replaced by
    /// their user id in the organisation's sync events and audit entries. A later SCIM `POST` with the
    /// same email creates a new account, and the old id is 404 everywhere.
    ///
    /// Names are replaced where they stand as whole words, case-insensitively; values shorter than two
    /// characters are left alone (they would match inside unrelated text).
    ///
    /// > Warning: Events other replicas buffered in the second before the erasure (reads, failures)
    /// > are written after it, still naming the person; their userName is what the client sent.
    /// - Throws: `StoreError.notFound` when the organisation has no such user (erased already, or never there).
    public func erase(_ tenant: Tenant, userID: UUID) async throws -> ErasureReceipt {
        let schema = tenant.schema
        let slug = tenant.slug
        let replacement = userID.lowercasedString
        if let events { _ = try await events.flush(client, only: schema) }
        return try await client.withTransaction { connection in
            let found = try connection.query(
                """
                SELECT (SELECT count(*) FROM jsonb_object_keys(u.custom_fields))::integer AS custom_fields,
                       now() AS erased_at
                FROM \(schema).users u WHERE u.id = \(userID) FOR UPDATE
                """)
            guard let row = found.first else { throw StoreError.notFound("user", "No such user in this organisation.") }
            let values = try connection.query(
                """
                SELECT DISTINCT v FROM \(schema).users u,
                    unnest(ARRAY[u.user_name, u.email, u.given_name, u.family_name, u.formatted_name, u.display_name]
                           || ARRAY(SELECT e->>'value' FROM jsonb_array_elements(u.emails) e)) v
                WHERE u.id = \(userID) AND length(v) >= 2
                """
            ).map { try $0.decode("v", as: String.self) }
            let lowered = values.map { $0.lowercased() }
            // Nil when nothing is long enough to scrub: then no detail is touched.
            let pattern = values.isEmpty ? nil : Self.wholeWords(values)

            let memberships = try connection.query(
                """
                WITH gone AS (DELETE FROM \(schema).team_members WHERE user_id = \(userID) RETURNING team_id)
                UPDATE \(schema).teams SET version = version + 1, updated_at = now()
                WHERE id IN (SELECT team_id FROM gone)
                """
            ).affectedRows
            let managed = try connection.query(
                """
                UPDATE \(schema).users SET manager_id = NULL, version = version + 1, updated_at = now()
                WHERE manager_id = \(userID)
                """
            ).affectedRows
            let pending = try connection.query(
                """
                UPDATE \(schema).users SET pending_manager = NULL, version = version + 1, updated_at = now()
                WHERE lower(pending_manager) = ANY(\(lowered)::text[]) OR lower(pending_manager) = \(replacement)
                """
            ).affectedRows
            _ = try connection.query("DELETE FROM \(schema).users WHERE id = \(userID)")
            let events = try connection.query(
                """
                UPDATE \(schema).sync_events
                SET user_name = CASE WHEN user_name IS NULL THEN NULL ELSE \(replacement) END,
                    detail = CASE WHEN \(pattern)::text IS NULL THEN detail
                                  ELSE regexp_replace(detail, \(pattern)::text, \(replacement), 'gi') END
                WHERE resource_id = \(userID) OR lower(user_name) = ANY(\(lowered)::text[])
                   OR detail ~* \(pattern)::text
                """
            ).affectedRows
            let audit = try connection.query(
                """
                UPDATE control.audit_log SET target = \(replacement)
                WHERE organisation_slug = \(slug) AND lower(target) = ANY(\(lowered)::text[])
                """
            ).affectedRows
            return ErasureReceipt(
                userID: userID, erasedAt: try row.decode("erased_at"), teamMemberships: memberships,
                customFields: try row.decode("custom_fields"), managerLinksRemoved: managed,
                pendingManagerReferencesRemoved: pending, syncEventsScrubbed: events, auditEntriesScrubbed: audit)
        }
    }

    /// A PostgreSQL regular expression matching any of `values` as a whole word (not inside a longer
    /// run of letters or digits), each value taken literally.
    static func wholeWords(_ values: [String]) -> String {
        let special = Set("\\^$.|?*+()[]{}")
        let alternatives = values.map { value in
            String(value.flatMap { special.contains($0) ? ["\\", $0] : [$0] })
        }
        return "(?<![[:alnum:]])(?:\(alternatives.joined(separator: "|")))(?![[:alnum:]])"
    }
}
