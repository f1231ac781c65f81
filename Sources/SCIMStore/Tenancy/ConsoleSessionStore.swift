import Foundation
import Postgres

/// A signed-in console session, as a request sees it.
public struct ConsoleSession: Sendable, Equatable {
    /// The SHA-256 of the session id: how the row is found, and what the CSRF token is derived from.
    public var idHash: [UInt8]
    public var identity: StaffIdentity
    public var createdAt: Date
    public var lastSeenAt: Date
    public var expiresAt: Date
}

/// Console sessions in the control schema: the cookie holds a 256-bit random id, the table only its
/// SHA-256. Every lookup takes `now` from the caller, so tests can move time.
public struct ConsoleSessionStore: Sendable {
    /// A session unused for this long has ended.
    public static let idleTimeout: TimeInterval = 30 * 60
    /// A session ends this long after sign-in, however busy.
    public static let absoluteLifetime: TimeInterval = 12 * 60 * 60
    /// `last_seen_at` is written at most this often per session.
    static let touchInterval: TimeInterval = 60

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Starts a session for `identity` (a staff key or the bootstrap token).
    /// - Parameter bootstrapDigest: the SHA-256 of the current `ADMIN_API_TOKEN`, kept with a bootstrap
    ///   session so that rotating the token ends it.
    /// - Returns: the session id for the cookie; it exists only in this return value.
    public func start(_ identity: StaffIdentity, bootstrapDigest: [UInt8], now: Date) async throws -> String {
        let id = Secrets.randomBase62(43)
        let expires = now.addingTimeInterval(Self.absoluteLifetime)
        let digest: [UInt8]? = identity.id == nil ? bootstrapDigest : nil
        _ = try await client.query(
            """
            INSERT INTO control.console_sessions
                (id_hash, staff_key_id, bootstrap_digest, created_at, last_seen_at, expires_at)
            VALUES (\(Secrets.sha256(id)), \(identity.id), \(digest), \(now), \(now), \(expires))
            """)
        return id
    }

    /// The live session behind a cookie's id, touched as seen; nil when there is none, it was ended,
    /// it sat idle for `idleTimeout`, it is past its absolute expiry, its staff key was revoked, or
    /// (a bootstrap session) `ADMIN_API_TOKEN` is no longer the token it signed in with.
    public func resume(_ id: String, bootstrapDigest: [UInt8], now: Date) async throws -> ConsoleSession? {
        guard (20...100).contains(id.utf8.count) else { return nil }
        let hash = Secrets.sha256(id)
        let idleSince = now.addingTimeInterval(-Self.idleTimeout)
        let rows = try await client.query(
            """
            SELECT s.staff_key_id, s.created_at, s.last_seen_at, s.expires_at,
                   k.name, k.role, k.organisation_id, o.slug AS organisation_slug
            FROM control.console_sessions s
            LEFT JOIN control.staff_keys k ON k.id = s.staff_key_id
            LEFT JOIN control.organisations o ON o.id = k.organisation_id
            WHERE s.id_hash = \(hash) AND s.ended_at IS NULL AND s.last_seen_at > \(idleSince) AND s.expires_at > \(now)
              AND (s.staff_key_id IS NOT NULL OR s.bootstrap_digest = \(bootstrapDigest))
              AND (s.staff_key_id IS NULL OR k.revoked_at IS NULL)
            """)
        guard let row = rows.first else { return nil }
        let identity: StaffIdentity
        if let keyID = try row.decode("staff_key_id", as: UUID?.self) {
            guard let role = StaffIdentity.Role(rawValue: try row.decode("role")) else { return nil }
            identity = StaffIdentity(
                kind: .staffKey, id: keyID, name: try row.decode("name"), role: role,
                organisationID: try row.decode("organisation_id"), organisationSlug: try row.decode("organisation_slug")
            )
        } else {
            identity = .bootstrap
        }
        var lastSeen: Date = try row.decode("last_seen_at")
        if now.timeIntervalSince(lastSeen) >= Self.touchInterval {
            // Another request of the session may have written a later time since the read above.
            let touched = try await client.query(
                """
                UPDATE control.console_sessions SET last_seen_at = GREATEST(last_seen_at, \(now))
                WHERE id_hash = \(hash) RETURNING last_seen_at
                """)
            lastSeen = try touched.first?.decode("last_seen_at", as: Date.self) ?? now
        }
        return ConsoleSession(
            idHash: hash, identity: identity, createdAt: try row.decode("created_at"), lastSeenAt: lastSeen,
            expiresAt: try row.decode("expires_at"))
    }

    /// Ends the session (sign out). Ending one that has already ended changes nothing.
    public func end(idHash: [UInt8], now: Date) async throws {
        _ = try await client.query(
            "UPDATE control.console_sessions SET ended_at = COALESCE(ended_at, \(now)) WHERE id_hash = \(idHash)")
    }

    /// Deletes sessions that expired or ended more than a day before `now`.
    public func purge(now: Date) async throws {
        let cutoff = now.addingTimeInterval(-24 * 60 * 60)
        _ = try await client.query(
            "DELETE FROM control.console_sessions WHERE expires_at < \(cutoff) OR ended_at < \(cutoff)")
    }
}
