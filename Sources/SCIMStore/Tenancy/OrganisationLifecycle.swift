import Foundation
import Postgres
import SCIM

/// The end of an organisation's life: offboarding, restoring within the grace period, and the purge.
///
/// Offboarding switches SCIM off and revokes every token in one transaction; the triggers on the
/// control tables move `control.cache_epoch` with it, so every replica drops its cached tokens within
/// about a second (the replica that served the request at once). The data stays intact, readable by
/// staff, until `purge_after`; then `purgeDue` (the background purger, on every replica at once) or
/// `purge(slug:by:)` (staff, at once) drops the tenant schema, deletes the organisation's control
/// rows and audit entries, and leaves one audit entry naming the slug, who offboarded it and when it
/// was purged.
///
/// Every purge locks the organisation's row (`FOR UPDATE`; the background pass with `SKIP LOCKED`),
/// so two replicas never purge the same organisation, and holds the migrator's shared lock, so no
/// migration recreates a schema being dropped.
public struct OrganisationLifecycle: Sendable {
    /// The default and the allowed range of `ORG_PURGE_GRACE_DAYS`.
    public static let defaultGraceDays = 30
    public static let graceDaysRange = 0...365
    /// How long a purge waits for the locks of requests still running in the schema before it gives
    /// up (and the next pass tries again), so it never queues SCIM requests behind it for long.
    static let lockTimeoutMilliseconds = 10_000

    let client: PostgresClient
    /// Days between offboarding and the purge (`ORG_PURGE_GRACE_DAYS`).
    public let graceDays: Int

    public init(client: PostgresClient, graceDays: Int = defaultGraceDays) {
        self.client = client
        self.graceDays = graceDays
    }

    /// What a purge removed, and the one audit entry it left.
    public struct PurgeReceipt: Sendable, Equatable, Encodable {
        public var slug: String
        public var offboardedAt: Date
        public var offboardedBy: String
        public var purgedAt: Date
        /// `scheduled` (the grace period ended) or `requested` (staff, with `DELETE`).
        public var trigger: String
    }

    static func offboardedConflict(slug: String) -> StoreError {
        .conflict("organisation", "Organisation \"\(slug.prefix(64))\" is offboarded: restore it first.")
    }

    /// Offboards the organisation: SCIM off, every token and OAuth client revoked, purge scheduled `graceDays`
    /// later.
    ///
    /// Offboarding again changes nothing and returns the organisation as it is (same purge date).
    /// - Throws: `StoreError.notFound` for an unknown slug.
    public func offboard(slug: String, by actor: StaffIdentity) async throws -> Organisation {
        let row = try await client.withTransaction { connection -> PostgresRow? in
            let rows = try connection.query(
                """
                UPDATE control.organisations
                SET offboarded_at = now(), purge_after = now() + make_interval(days => \(graceDays)::integer),
                    offboarded_by_kind = \(actor.kind.rawValue), offboarded_by_id = \(actor.id),
                    offboarded_by_name = \(actor.name), scim_enabled_before_offboarding = scim_enabled,
                    scim_enabled = false, updated_at = now()
                WHERE slug = \(slug) AND offboarded_at IS NULL
                RETURNING \(Organisation.columns)
                """)
            guard let row = rows.first else { return nil }
            let id: UUID = try row.decode("id")
            _ = try connection.query(
                "UPDATE control.scim_tokens SET revoked_at = now() WHERE organisation_id = \(id) AND revoked_at IS NULL"
            )
            // OAuth clients are credentials too: revoked with their secrets, so a restore needs new ones.
            _ = try connection.query(
                "UPDATE control.oauth_clients SET revoked_at = now() WHERE organisation_id = \(id) AND revoked_at IS NULL"
            )
            return row
        }
        guard let row else {
            // Already offboarded (or no such organisation: `find` throws the 404).
            return try await OrganisationStore.find(slug: slug, client: client)
        }
        return try Organisation(row: row)
    }

    /// Undoes an offboarding within the grace period: SCIM as it was before, no purge date. Tokens and
    /// OAuth clients stay revoked; staff issue new ones.
    /// - Throws: `StoreError.notFound` for an unknown (or purged) slug, conflict when it is not offboarded.
    public func restore(slug: String) async throws -> Organisation {
        let rows = try await client.query(
            """
            UPDATE control.organisations
            SET scim_enabled = scim_enabled_before_offboarding, offboarded_at = NULL, purge_after = NULL,
                offboarded_by_kind = NULL, offboarded_by_id = NULL, offboarded_by_name = NULL,
                scim_enabled_before_offboarding = NULL, updated_at = now()
            WHERE slug = \(slug) AND offboarded_at IS NOT NULL
            RETURNING \(Organisation.columns)
            """)
        guard let row = rows.first else {
            _ = try await OrganisationStore.find(slug: slug, client: client)
            throw StoreError.conflict("organisation", "Organisation \"\(slug.prefix(64))\" is not offboarded.")
        }
        return try Organisation(row: row)
    }

    /// Purges an offboarded organisation now, whatever its purge date.
    ///
    /// The caller repeats the slug as `confirmation` (the admin API's `?confirm=`, the slug typed on
    /// the console's confirmation page), so a stray request purges nothing: the data cannot be recovered.
    /// - Throws: `StoreError.invalid` (`confirmation`) when the confirmation is not the slug, checked
    ///   before anything is read; `notFound` for an unknown (or already purged) slug, conflict when it is
    ///   not offboarded, busy when requests in its schema held their locks too long (try again).
    public func purge(slug: String, confirmation: String?, by actor: StaffIdentity) async throws -> PurgeReceipt {
        guard confirmation == slug else {
            throw StoreError.invalid(
                "confirmation",
                "Repeat the slug \"\(slug.prefix(64))\" to confirm the purge: "
                    + "the organisation's data cannot be recovered.")
        }
        return try await client.withTransaction { connection in
            try Migrator.sharedLock(connection)
            let rows = try connection.query(
                "SELECT \(Self.purgeColumns) FROM control.organisations WHERE slug = \(slug) FOR UPDATE")
            guard let row = rows.first else {
                throw StoreError.notFound("organisation", "No organisation with slug \"\(slug.prefix(64))\".")
            }
            guard try row.decode("offboarded_at", as: Date?.self) != nil else {
                throw StoreError.conflict(
                    "organisation", "Organisation \"\(slug.prefix(64))\" is not offboarded: offboard it first.")
            }
            return try Self.purgeLocked(row, trigger: "requested", on: connection)
        }
    }

    /// Purges every organisation in `scope` whose grace period ended before `now`, one transaction each.
    ///
    /// Safe on every replica at once: each takes the next due row with `FOR UPDATE SKIP LOCKED`, so
    /// replicas share the work and never purge one organisation twice. An organisation whose purge
    /// fails (its schema busy past the lock timeout) is skipped for the rest of the pass.
    /// - Returns: what was purged, and for each organisation that failed (retried next pass) its slug
    ///   and the type of the error (never a message: those may quote data).
    public func purgeDue(
        now: Date = Date(), scope: OrganisationScope = .all
    ) async throws -> (purged: [PurgeReceipt], failed: [(slug: String, error: String)]) {
        var purged: [PurgeReceipt] = []
        var skipped: [UUID] = []
        var failed: [(slug: String, error: String)] = []
        let inScope: PostgresQuery = scope.slugs.map { "AND slug = ANY(\($0)::text[])" } ?? ""
        while true {
            try Task.checkCancellation()
            let skip = skipped
            do {
                let receipt = try await client.withTransaction { connection -> PurgeReceipt? in
                    try Migrator.sharedLock(connection)
                    let rows = try connection.query(
                        """
                        SELECT \(Self.purgeColumns) FROM control.organisations
                        WHERE purge_after <= \(now) AND NOT (id = ANY(\(skip.map(\.lowercasedString))::uuid[]))
                          \(inScope)
                        ORDER BY purge_after LIMIT 1 FOR UPDATE SKIP LOCKED
                        """)
                    guard let row = rows.first else { return nil }
                    do {
                        return try Self.purgeLocked(row, trigger: "scheduled", on: connection)
                    } catch {
                        throw FailedPurge(
                            organisationID: try row.decode("id"), slug: try row.decode("slug"), error: error)
                    }
                }
                guard let receipt else { break }
                purged.append(receipt)
            } catch let failure as FailedPurge {
                skipped.append(failure.organisationID)
                let reason =
                    (failure.error as? PostgresError)?.sqlState?.rawValue ?? String(describing: type(of: failure.error))
                failed.append((failure.slug, reason))
            }
        }
        return (purged, failed)
    }

    /// A purge that failed for one organisation: the pass goes on without it.
    struct FailedPurge: Error {
        var organisationID: UUID
        var slug: String
        var error: any Error
    }

    static let purgeColumns: PostgresQuery =
        "id, slug, schema_name, offboarded_at, offboarded_by_kind, offboarded_by_id, offboarded_by_name"

    /// Drops the locked organisation's schema, deletes its control rows and audit entries, and writes
    /// the one audit entry that remains. Runs inside the caller's transaction.
    private static func purgeLocked(
        _ row: PostgresRow, trigger: String, on connection: PostgresConnection
    ) throws -> PurgeReceipt {
        let id: UUID = try row.decode("id")
        let slug: String = try row.decode("slug")
        let schema = try PostgresIdentifier(try row.decode("schema_name", as: String.self))
        try connection.execute(unsafeSQL: "SET LOCAL lock_timeout = \(lockTimeoutMilliseconds)")
        do {
            try connection.execute(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema.quoted) CASCADE")
        } catch let error as PostgresError where error.sqlState == .lockNotAvailable {
            throw StoreError.busy("organisation", "The organisation's data is busy; retry the purge shortly.")
        }
        _ = try connection.query("DELETE FROM control.audit_log WHERE organisation_slug = \(slug)")
        // Tokens and staff keys bound to the organisation go with it (ON DELETE CASCADE).
        _ = try connection.query("DELETE FROM control.organisations WHERE id = \(id)")
        let offboardedBy: String = try row.decode("offboarded_by_name")
        let entry = try connection.query(
            """
            INSERT INTO control.audit_log
                (actor_kind, actor_id, actor_name, method, route, organisation_slug, target, status)
            VALUES (\(try row.decode("offboarded_by_kind", as: String.self)),
                    \(try row.decode("offboarded_by_id", as: UUID?.self)),
                    \(offboardedBy), 'PURGE', '/admin/v1/organisations/{slug}', \(slug), \(trigger), 200)
            RETURNING occurred_at
            """)
        return PurgeReceipt(
            slug: slug, offboardedAt: try row.decode("offboarded_at"), offboardedBy: offboardedBy,
            purgedAt: try entry.single().decode("occurred_at"), trigger: trigger)
    }
}
