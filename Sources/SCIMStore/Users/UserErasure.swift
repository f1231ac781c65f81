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
    /// it scrubbed) that `followUp(now:)` applies to such late events on `followUpSchedule`, then deletes.
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
                    INSERT INTO control.erasure_followups (organisation_id, user_id, erased_at, next_pass_at, names)
                    VALUES (\(tenant.organisationID), \(userID), now(),
                            now() + make_interval(secs => \(Self.followUpSchedule[0].components.seconds)), \(lowered))
                    ON CONFLICT (organisation_id, user_id) DO UPDATE
                        SET erased_at = EXCLUDED.erased_at, next_pass_at = EXCLUDED.next_pass_at,
                            passes = 0, names = EXCLUDED.names
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

    /// When an erasure's follow-up passes run, counted from the erasure. Other replicas write what
    /// they buffered within seconds (`EventBuffer.maximumDelay`) once the database answers, so the
    /// early passes catch nearly all late events and the later ones what a database outage held back;
    /// the last, an hour on, deletes the follow-up with the values it held. A few passes per erasure,
    /// however many replicas run them, keep even a bulk erasure cheap for the database.
    public static let followUpSchedule: [Duration] = [
        .seconds(15), .seconds(60), .seconds(300), .seconds(1200), .seconds(3600),
    ]
    /// How long an erasure's follow-up keeps the person's values: until its last pass.
    public static var followUpWindow: Duration { followUpSchedule[followUpSchedule.count - 1] }

    /// What one follow-up pass did.
    public struct FollowUpSummary: Sendable, Equatable {
        /// Follow-ups whose last pass ran, deleted with the values they held.
        public var expired = 0
        /// Passes run.
        public var applied = 0
        /// Late events scrubbed.
        public var scrubbed = 0
    }

    /// Runs every follow-up pass due at `now` of the organisations in `scope`, at most `limit`: each
    /// scrubs the events that occurred from `followUpWindow` before its erasure on, then schedules the
    /// next pass or, after the last, deletes the follow-up. Every replica may run it at once: a pass
    /// locks its follow-up and skips one another replica holds, and a scrubbed event no longer matches.
    public func followUp(now: Date, limit: Int = 100, scope: OrganisationScope = .all) async throws -> FollowUpSummary {
        var summary = FollowUpSummary()
        let inScope: PostgresQuery =
            scope.slugs.map {
                "AND organisation_id IN (SELECT id FROM control.organisations WHERE slug = ANY(\($0)::text[]))"
            } ?? ""
        let due = try await client.query(
            """
            SELECT organisation_id, user_id FROM control.erasure_followups
            WHERE next_pass_at <= \(now) \(inScope) ORDER BY next_pass_at LIMIT \(limit)
            """)
        let schedule = Self.followUpSchedule.map { Int($0.components.seconds) }
        for key in due {
            try Task.checkCancellation()
            let (organisationID, userID): (UUID, UUID) = (try key.decode("organisation_id"), try key.decode("user_id"))
            do {
                let pass = try await client.withTransaction { connection -> (scrubbed: Int, last: Bool)? in
                    guard
                        let row = try connection.query(
                            """
                            SELECT f.erased_at, f.names, f.passes, o.schema_name
                            FROM control.erasure_followups f JOIN control.organisations o ON o.id = f.organisation_id
                            WHERE f.organisation_id = \(organisationID) AND f.user_id = \(userID)
                              AND f.next_pass_at <= \(now)
                            FOR UPDATE OF f SKIP LOCKED
                            """
                        ).first
                    else { return nil }
                    let erasedAt: Date = try row.decode("erased_at")
                    // Events buffered elsewhere carry the time of their request, before the erasure.
                    let since = erasedAt.addingTimeInterval(-Double(Self.followUpWindow.components.seconds))
                    let scrubbed = try connection.query(
                        Self.scrubEvents(
                            in: try PostgresIdentifier(try row.decode("schema_name", as: String.self)),
                            userID: userID, names: try row.decode("names"), since: since)
                    ).affectedRows
                    let passes = try row.decode("passes", as: Int.self) + 1
                    let key: PostgresQuery = "organisation_id = \(organisationID) AND user_id = \(userID)"
                    guard passes < schedule.count else {
                        _ = try connection.query("DELETE FROM control.erasure_followups WHERE \(key)")
                        return (scrubbed, true)
                    }
                    _ = try connection.query(
                        """
                        UPDATE control.erasure_followups
                        SET passes = \(passes), next_pass_at = erased_at + make_interval(secs => \(schedule[passes]))
                        WHERE \(key)
                        """)
                    return (scrubbed, false)
                }
                // Nil: another replica ran this pass first.
                guard let pass else { continue }
                summary.scrubbed += pass.scrubbed
                summary.applied += 1
                if pass.last { summary.expired += 1 }
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
