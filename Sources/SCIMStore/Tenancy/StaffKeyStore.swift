import Foundation
import Postgres
import SCIM

/// Who is calling the admin API: the bootstrap `ADMIN_API_TOKEN` or one staff key.
///
/// Resolved once per request by the admin auth middleware; the access policy and the audit log read it.
public struct StaffIdentity: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case bootstrap
        case staffKey = "staff_key"
    }

    public enum Role: String, Sendable, CaseIterable {
        /// The deployment's `ADMIN_API_TOKEN`: everything.
        case bootstrap
        /// Reads and writes, possibly limited to one organisation.
        case support
        /// GET only, possibly limited to one organisation.
        case readonly
    }

    public var kind: Kind
    /// The staff key's id; nil for the bootstrap token.
    public var id: UUID?
    public var name: String
    public var role: Role
    /// The organisation the key is bound to; nil when it may see every organisation.
    public var organisationID: UUID?
    public var organisationSlug: String?

    public init(
        kind: Kind, id: UUID?, name: String, role: Role, organisationID: UUID? = nil, organisationSlug: String? = nil
    ) {
        self.kind = kind
        self.id = id
        self.name = name
        self.role = role
        self.organisationID = organisationID
        self.organisationSlug = organisationSlug
    }

    /// The identity of a request that presented the bootstrap `ADMIN_API_TOKEN`.
    public static let bootstrap = StaffIdentity(kind: .bootstrap, id: nil, name: "bootstrap", role: .bootstrap)

    /// Whether the identity may only read.
    public var isReadOnly: Bool { role == .readonly }
}

/// A staff key as staff see it: never the secret.
public struct StaffKeyInfo: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var role: StaffIdentity.Role
    /// Slug of the organisation the key is bound to, or nil.
    public var organisation: String?
    public var prefix: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        let role = try row.decode("role", as: String.self)
        guard let parsed = StaffIdentity.Role(rawValue: role) else {
            throw PostgresError(code: .decoding, message: "staff_keys.role holds an unknown role")
        }
        self.role = parsed
        organisation = try row.decode("organisation_slug")
        prefix = try row.decode("prefix")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decode("last_used_at")
        revokedAt = try row.decode("revoked_at")
    }

    static let columns: PostgresQuery = """
        k.id, k.name, k.role, o.slug AS organisation_slug, k.prefix, k.created_at, k.last_used_at, k.revoked_at
        """
}

/// Issues, lists, revokes and checks staff keys (`lastaff_…`), stored hashed like SCIM tokens.
public struct StaffKeyStore: Sendable {
    public static let kind = "lastaff"
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Issues a key. The returned `key` string exists only in this return value.
    /// - Parameter organisationSlug: binds the key to this organisation; nil for every organisation.
    /// - Throws: `StoreError` invalid for an empty or long name or a role other than support/readonly,
    ///   not found when `organisationSlug` names no organisation.
    public func issue(name: String, role: String, organisationSlug: String?) async throws -> (
        info: StaffKeyInfo, key: String
    ) {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        // Counted in code points, as the table's check counts them: a flag is one Character but two.
        guard !name.isEmpty, name.unicodeScalars.count <= 100 else {
            throw StoreError.invalid("name", "name is required (at most 100 characters).")
        }
        guard let role = StaffIdentity.Role(rawValue: role), role != .bootstrap else {
            throw StoreError.invalid("role", "role must be support or readonly.")
        }
        let secret = IssuedSecret.generate(kind: Self.kind)
        let id = UUID()
        let info = try await client.withTransaction { connection -> StaffKeyInfo? in
            var organisationID: UUID?
            if let organisationSlug {
                guard
                    let row = try connection.query(
                        "SELECT id FROM control.organisations WHERE slug = \(organisationSlug)"
                    ).first
                else { return nil }
                organisationID = try row.decode("id")
            }
            _ = try connection.query(
                """
                INSERT INTO control.staff_keys (id, name, role, organisation_id, prefix, secret_hash)
                VALUES (\(id), \(name), \(role.rawValue), \(organisationID), \(secret.prefix), \(secret.digest))
                """)
            return try Self.find(id, on: connection)
        }
        guard let info else {
            throw StoreError.notFound(
                "organisation", "No organisation with slug \"\((organisationSlug ?? "").prefix(64))\".")
        }
        return (info, secret.token)
    }

    /// Every key, newest first, revoked ones included (marked), never with the secret.
    public func list() async throws -> [StaffKeyInfo] {
        try await client.query(
            """
            SELECT \(StaffKeyInfo.columns)
            FROM control.staff_keys k LEFT JOIN control.organisations o ON o.id = k.organisation_id
            ORDER BY k.created_at DESC, k.id
            """
        ).map(StaffKeyInfo.init(row:))
    }

    /// Revokes a key; from then on it gets 401. Revoking twice keeps the first `revokedAt`.
    /// - Throws: `StoreError` not found when there is no such key.
    public func revoke(id: UUID) async throws {
        let rows = try await client.query(
            "UPDATE control.staff_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = \(id)")
        guard rows.affectedRows == 1 else {
            throw StoreError.notFound("staff key", "No staff key \(id.lowercasedString).")
        }
    }

    /// Resolves a presented `lastaff_…` key to the staff identity it stands for.
    ///
    /// The key is found by its public prefix and accepted only when the SHA-256 digests match in
    /// constant time. `last_used_at` is written at most once a minute per key.
    /// - Returns: nil for a malformed, unknown or revoked key, alike (the caller answers all three
    ///   the same way, so the answer does not tell a guesser which prefixes exist).
    public func authenticate(bearer key: String) async throws -> StaffIdentity? {
        guard let prefix = IssuedSecret.prefix(of: key, kind: Self.kind) else { return nil }
        let digest = Secrets.sha256(key)
        let row = try await client.withConnection { connection -> PostgresRow? in
            let rows = try connection.query(
                """
                SELECT k.id, k.name, k.role, k.secret_hash, k.revoked_at IS NOT NULL AS revoked,
                       k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' AS stale,
                       k.organisation_id, o.slug AS organisation_slug
                FROM control.staff_keys k LEFT JOIN control.organisations o ON o.id = k.organisation_id
                WHERE k.prefix = \(prefix)
                """)
            guard let row = rows.first else { return nil }
            if try row.decode("stale", as: Bool.self), try !row.decode("revoked", as: Bool.self),
                Secrets.constantTimeEquals(try row.decode("secret_hash"), digest)
            {
                // Never back: a request whose statement started earlier may write after this one.
                _ = try connection.query(
                    """
                    UPDATE control.staff_keys SET last_used_at = GREATEST(last_used_at, now())
                    WHERE id = \(try row.decode("id", as: UUID.self))
                    """)
            }
            return row
        }
        guard let row, Secrets.constantTimeEquals(try row.decode("secret_hash"), digest),
            try !row.decode("revoked", as: Bool.self),
            let role = StaffIdentity.Role(rawValue: try row.decode("role"))
        else { return nil }
        return StaffIdentity(
            kind: .staffKey, id: try row.decode("id"), name: try row.decode("name"), role: role,
            organisationID: try row.decode("organisation_id"), organisationSlug: try row.decode("organisation_slug"))
    }

    private static func find(_ id: UUID, on connection: PostgresConnection) throws -> StaffKeyInfo {
        let rows = try connection.query(
            """
            SELECT \(StaffKeyInfo.columns)
            FROM control.staff_keys k LEFT JOIN control.organisations o ON o.id = k.organisation_id
            WHERE k.id = \(id)
            """)
        return try StaffKeyInfo(row: rows.single())
    }
}

/// One recorded admin write.
public struct AuditEntry: Sendable, Equatable {
    public var id: Int64
    public var occurredAt: Date
    public var actorKind: StaffIdentity.Kind
    public var actorID: UUID?
    public var actorName: String
    public var method: String
    public var route: String
    public var organisation: String?
    public var target: String?
    public var status: Int

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        occurredAt = try row.decode("occurred_at")
        actorKind = StaffIdentity.Kind(rawValue: try row.decode("actor_kind")) ?? .staffKey
        actorID = try row.decode("actor_id")
        actorName = try row.decode("actor_name")
        method = try row.decode("method")
        route = try row.decode("route")
        organisation = try row.decode("organisation_slug")
        target = try row.decode("target")
        status = try row.decode("status")
    }

    static let columns: PostgresQuery =
        "id, occurred_at, actor_kind, actor_id, actor_name, method, route, organisation_slug, target, status"
}

/// The control-schema audit log: who wrote what through the admin API, and when.
///
/// > Warning: Only route templates, slugs and ids go in here, never a request body, a query string or
/// > a secret.
public struct AuditLog: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Records one admin write.
    /// - Parameters:
    ///   - route: the route template (`/admin/v1/organisations/{slug}/tokens`), not the concrete path.
    ///   - target: the id the write created or changed, when it has one.
    public func record(
        _ identity: StaffIdentity, method: String, route: String, organisationSlug: String?, target: String?,
        status: Int
    ) async throws {
        _ = try await client.query(
            """
            INSERT INTO control.audit_log (actor_kind, actor_id, actor_name, method, route, organisation_slug, target, status)
            VALUES (\(identity.kind.rawValue), \(identity.id), \(identity.name), \(method), \(String(route.prefix(300))),
                    \(organisationSlug.map { String($0.prefix(64)) }), \(target.map { String($0.prefix(200)) }), \(status))
            """)
    }

    /// A page of entries, newest first.
    /// - Parameter cursor: the `nextCursor` of the previous page (entries older than it).
    /// - Returns: the entries and the cursor of the next page, nil on the last one.
    public func list(limit: Int, cursor: Int64?) async throws -> (entries: [AuditEntry], nextCursor: Int64?) {
        let rows = try await client.query(
            """
            SELECT \(AuditEntry.columns) FROM control.audit_log
            WHERE id < \(cursor ?? Int64.max)
            ORDER BY id DESC LIMIT \(limit + 1)
            """)
        let entries = try rows.rows.prefix(limit).map(AuditEntry.init(row:))
        return (entries, rows.rows.count > limit ? entries.last?.id : nil)
    }
}
