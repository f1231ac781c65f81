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
    /// fields; the people they managed lose the link; their userName (and those their events show
    /// they had before), emails and names are replaced by their user id in the organisation's sync
    /// events and audit entries. A later SCIM `POST` with the
    /// same email creates a new account, and the old id is 404 everywhere.
    ///
    /// Names are replaced where they stand as whole words, case-insensitively; values shorter than two
    /// characters are left alone (they would match inside unrelated text).
    ///
    /// Events other replicas buffered before the erasure (reads, failures) are written after it, still
    /// naming the person: the erasure leaves a follow-up (`control.erasure_followups`, with the values
    /// it scrubbed) that `followUp(now:)` applies to such late events for `followUpWindow`, then deletes.
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
            // Each value as stored and as the database lowercases it (Swift's lowercasing differs for
            // some letters, the Turkish dotted capital I among them): `lower(column) = ANY(…)` finds the
            // lowered form, and the case-insensitive pattern finds the stored one where the database's
            // case folding does not lead back to it. The userNames the person's own events carry are
            // theirs too: those they had before a rename.
            let lowered = try connection.query(
                """
                WITH v AS (
                    SELECT v FROM \(schema).users u,
                        unnest(ARRAY[u.user_name, u.email, u.given_name, u.family_name, u.formatted_name,
                                     u.display_name]
                               || ARRAY(SELECT e->>'value' FROM jsonb_array_elements(u.emails) e)) v
                    WHERE u.id = \(userID)
                    UNION SELECT user_name FROM \(schema).sync_events WHERE resource_id = \(userID)
                )
                SELECT DISTINCT w FROM v, unnest(ARRAY[v, lower(v)]) w WHERE length(v) >= 2 ORDER BY w
                """
            ).map { try $0.decode("w", as: String.self) }

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
                Self.scrubEvents(in: schema, userID: userID, names: lowered, since: nil)
            ).affectedRows
            if !lowered.isEmpty {
                _ = try connection.query(
                    """
                    INSERT INTO control.erasure_followups (organisation_id, user_id, erased_at, expires_at, names)
                    VALUES (\(tenant.organisationID), \(userID), now(),
                            now() + make_interval(secs => \(Self.followUpWindow.components.seconds)), \(lowered))
                    ON CONFLICT (organisation_id, user_id) DO UPDATE
                        SET erased_at = EXCLUDED.erased_at, expires_at = EXCLUDED.expires_at, names = EXCLUDED.names
                    """)
            }
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

    /// How long an erasure's follow-up scrubs late events: longer than any replica buffers an event
    /// (`EventBuffer.maximumDelay`), and than the database outages its flushes ride out.
    public static let followUpWindow: Duration = .seconds(3600)

    /// What one follow-up pass did.
    public struct FollowUpSummary: Sendable, Equatable {
        /// Follow-ups past their window, deleted with the values they held.
        public var expired = 0
        /// Follow-ups applied.
        public var applied = 0
        /// Late events scrubbed.
        public var scrubbed = 0
    }

    /// Applies every live erasure follow-up to events written since its erasure, and deletes those
    /// whose window ended before `now`. Every replica may run it at once: a scrubbed event no longer
    /// matches, so a second scrub changes nothing.
    public func followUp(now: Date) async throws -> FollowUpSummary {
        var summary = FollowUpSummary()
        summary.expired = try await client.query(
            "DELETE FROM control.erasure_followups WHERE expires_at <= \(now)"
        ).affectedRows
        let due = try await client.query(
            """
            SELECT f.user_id, f.erased_at, f.names, o.schema_name
            FROM control.erasure_followups f JOIN control.organisations o ON o.id = f.organisation_id
            ORDER BY f.erased_at
            """)
        for row in due {
            try Task.checkCancellation()
            let schema = try PostgresIdentifier(try row.decode("schema_name", as: String.self))
            let erasedAt: Date = try row.decode("erased_at")
            // Events buffered elsewhere carry the time of their request, before the erasure.
            let since = erasedAt.addingTimeInterval(-Double(Self.followUpWindow.components.seconds))
            do {
                summary.scrubbed += try await client.query(
                    Self.scrubEvents(
                        in: schema, userID: try row.decode("user_id"), names: try row.decode("names"), since: since)
                ).affectedRows
                summary.applied += 1
            } catch let error as PostgresError where error.namesMissingRelation {
                // The organisation is being purged: its follow-ups go with it.
                continue
            }
        }
        return summary
    }

    /// Replaces the person's `names` (as stored and lowercased) by their user id in the events that
    /// still carry them: as the userName, as whole words in the detail, or by the person's id with a
    /// userName. An event about another resource keeps its userName, that resource's own (another
    /// account that held the same userName before, or that the identity provider provisions again
    /// with the same email after the erasure); only its detail is scrubbed.
    /// With `since`, only events that occurred from then on are read (the occurred-at index).
    static func scrubEvents(in schema: PostgresIdentifier, userID: UUID, names: [String], since: Date?) -> PostgresQuery
    {
        let replacement = userID.lowercasedString
        // Nil when nothing is long enough to scrub: then no detail is touched.
        let pattern = names.isEmpty ? nil : wholeWords(names)
        let recent: PostgresQuery = since.map { "AND occurred_at >= \($0)" } ?? ""
        return """
            UPDATE \(schema).sync_events
            SET user_name = CASE WHEN resource_id = \(userID) AND user_name IS NOT NULL
                                      OR resource_id IS NULL AND lower(user_name) = ANY(\(names)::text[])
                                 THEN \(replacement) ELSE user_name END,
                detail = CASE WHEN \(pattern)::text IS NULL THEN detail
                              ELSE regexp_replace(detail, \(pattern)::text, \(replacement), 'gi') END
            WHERE (resource_id = \(userID) AND user_name IS DISTINCT FROM \(replacement) AND user_name IS NOT NULL
                   OR resource_id IS NULL AND lower(user_name) = ANY(\(names)::text[])
                   OR detail ~* \(pattern)::text)
              \(recent)
            """
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
