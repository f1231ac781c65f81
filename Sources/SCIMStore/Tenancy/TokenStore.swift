import Foundation
import Postgres
import SCIM

/// A SCIM API token as staff see it: never the secret.
public struct TokenInfo: Sendable, Equatable {
    public var id: UUID
    public var label: String
    public var prefix: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        label = try row.decode("label")
        prefix = try row.decode("prefix")
        createdAt = try row.decode("created_at")
        expiresAt = try row.decode("expires_at")
        lastUsedAt = try row.decode("last_used_at")
        revokedAt = try row.decode("revoked_at")
    }

    static let columns: PostgresQuery = "id, label, prefix, created_at, expires_at, last_used_at, revoked_at"
}

/// Issues, lists, revokes and checks per-organisation SCIM tokens.
public struct TokenStore: Sendable {
    public static let kind = "lascim"
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Issues a token. The returned `token` string exists only in this return value.
    /// - Throws: `StoreError` invalid for a bad label or a past expiry, conflict when the organisation is offboarded.
    public func issue(organisationID: UUID, label: String, expiresAt: Date?) async throws -> (
        info: TokenInfo, token: String
    ) {
        let label = label.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= 100 else {
            throw StoreError.invalid("label", "label is required (at most 100 characters).")
        }
        if let expiresAt, expiresAt <= Date() {
            throw StoreError.invalid("expiresAt", "expiresAt must be in the future.")
        }
        let secret = IssuedSecret.generate(kind: Self.kind)
        // The row lock makes this and an offboarding take turns: a token inserted first is revoked by
        // the offboarding, and one after it sees `offboarded_at` and is refused.
        let rows = try await client.query(
            """
            INSERT INTO control.scim_tokens (id, organisation_id, label, prefix, secret_hash, expires_at)
            SELECT \(UUID()), id, \(label), \(secret.prefix), \(secret.digest), \(expiresAt)::timestamptz
            FROM control.organisations WHERE id = \(organisationID) AND offboarded_at IS NULL FOR SHARE
            RETURNING \(TokenInfo.columns)
            """)
        guard let row = rows.first else {
            throw StoreError.conflict(
                "organisation", "The organisation is offboarded: restore it before issuing tokens.")
        }
        return (try TokenInfo(row: row), secret.token)
    }

    /// Active and past tokens of an organisation, newest first (revoked ones included, marked).
    public func list(organisationID: UUID) async throws -> [TokenInfo] {
        try await client.query(
            """
            SELECT \(TokenInfo.columns) FROM control.scim_tokens
            WHERE organisation_id = \(organisationID) ORDER BY created_at DESC, id
            """
        ).map(TokenInfo.init(row:))
    }

    /// Revokes a token of this organisation; from then on it gets 401.
    /// - Throws: `StoreError` not found when the organisation has no such token.
    public func revoke(organisationID: UUID, tokenID: UUID) async throws {
        let rows = try await client.query(
            """
            UPDATE control.scim_tokens SET revoked_at = COALESCE(revoked_at, now())
            WHERE id = \(tokenID) AND organisation_id = \(organisationID)
            """)
        guard rows.affectedRows == 1 else {
            throw StoreError.notFound("token", "No token \(tokenID) in this organisation.")
        }
    }

    /// Resolves a bearer token to its organisation.
    ///
    /// The tenant comes from the token alone. `last_used_at` is written at most once a minute per
    /// token, so authentication costs no write on the hot path.
    /// - Returns: the tenant, and when the token expires (so a cache can stop serving it then).
    /// - Throws: `SCIMError` 401 for a missing, malformed or unknown token; `RejectedCredential` (401)
    ///   for a revoked or expired one, (403) when the organisation has SCIM disabled.
    public func authenticate(bearer token: String) async throws -> (tenant: Tenant, expiresAt: Date?) {
        guard let prefix = IssuedSecret.prefix(of: token, kind: Self.kind) else {
            throw SCIMError.unauthorized("The bearer token is not a valid Learn Amp SCIM token.")
        }
        let digest = Secrets.sha256(token)
        let row = try await client.withConnection { connection -> PostgresRow? in
            let rows = try connection.query(
                """
                SELECT t.id, t.secret_hash, t.expires_at, t.revoked_at IS NOT NULL AS revoked,
                       t.expires_at IS NOT NULL AND t.expires_at <= now() AS expired,
                       t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale,
                       o.id AS organisation_id, o.slug, o.schema_name, o.scim_enabled, o.rate_limit_rps,
                       o.rate_limit_burst,
                       o.offboarded_at IS NOT NULL AS offboarded
                FROM control.scim_tokens t JOIN control.organisations o ON o.id = t.organisation_id
                WHERE t.prefix = \(prefix)
                """)
            guard let row = rows.first else { return nil }
            if try row.decode("stale", as: Bool.self), Secrets.constantTimeEquals(try row.decode("secret_hash"), digest)
            {
                // Never back: a request whose statement started earlier may write after this one.
                _ = try connection.query(
                    """
                    UPDATE control.scim_tokens SET last_used_at = GREATEST(last_used_at, now())
                    WHERE id = \(try row.decode("id", as: UUID.self))
                    """)
            }
            return row
        }
        guard let row, Secrets.constantTimeEquals(try row.decode("secret_hash"), digest) else {
            throw SCIMError.unauthorized("The bearer token is not valid.")
        }
        let tenant = Tenant(
            organisationID: try row.decode("organisation_id"), slug: try row.decode("slug"),
            schema: try PostgresIdentifier(try row.decode("schema_name", as: String.self)),
            tokenID: try row.decode("id"),
            rateLimit: RateLimit(
                requestsPerSecond: try row.decode("rate_limit_rps"), burst: try row.decode("rate_limit_burst")))
        // From here the organisation is known, so the refusal can go into its event log.
        // Offboarding revokes every token; an offboarded organisation refuses a token restored by hand too.
        if try row.decode("revoked", as: Bool.self) || row.decode("offboarded", as: Bool.self) {
            throw RejectedCredential(error: .unauthorized("The bearer token has been revoked."), tenant: tenant)
        }
        if try row.decode("expired", as: Bool.self) {
            throw RejectedCredential(error: .unauthorized("The bearer token has expired."), tenant: tenant)
        }
        guard try row.decode("scim_enabled", as: Bool.self) else {
            throw RejectedCredential(
                error: .forbidden("SCIM provisioning is disabled for this organisation. Contact Learn Amp support."),
                tenant: tenant)
        }
        return (tenant, try row.decode("expires_at"))
    }
}

/// A genuine token of a known organisation that may not be used (revoked, expired, SCIM disabled):
/// the client sees `error`; the organisation's event log records the refusal.
public struct RejectedCredential: Error, Sendable {
    public var error: SCIMError
    public var tenant: Tenant
}
