import Foundation
import Postgres
import SCIM
import Synchronization

/// One secret of an OAuth client as staff see it: never the secret itself.
public struct OAuthSecretInfo: Sendable, Equatable {
    public var secretID: UUID
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var expiresAt: Date
    public var revokedAt: Date?

    init(row: PostgresRow) throws {
        secretID = try row.decode("id")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decode("last_used_at")
        expiresAt = try row.decode("expires_at")
        revokedAt = try row.decode("revoked_at")
    }

    /// Whether the secret can still obtain access tokens at `now`.
    public func isLive(at now: Date) -> Bool { revokedAt == nil && expiresAt > now }
}

/// An OAuth client of an organisation as staff see it, with all its secrets (newest first).
public struct OAuthClientInfo: Sendable, Equatable {
    public var id: UUID
    public var label: String
    /// What the identity provider sends as `client_id`: public, not a secret.
    public var clientID: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    public var secrets: [OAuthSecretInfo]

    init(row: PostgresRow, secrets: [OAuthSecretInfo]) throws {
        id = try row.decode("id")
        label = try row.decode("label")
        clientID = try row.decode("client_id")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decode("last_used_at")
        revokedAt = try row.decode("revoked_at")
        self.secrets = secrets
    }

    static let columns: PostgresQuery = "id, label, client_id, created_at, last_used_at, revoked_at"

}

/// A client just created: the only place its first secret ever appears.
public struct IssuedOAuthClient: Sendable {
    public var id: UUID
    public var label: String
    public var clientID: String
    public var clientSecret: String
    public var secretID: UUID
    public var secretExpiresAt: Date
    public var createdAt: Date

}

/// A secret just added for rotation: the only place it ever appears.
public struct IssuedOAuthSecret: Sendable {
    public var secretID: UUID
    public var clientSecret: String
    public var expiresAt: Date

}

/// A live secret that expires soon, for the status route (and the console): rotate it before then.
public struct ExpiringOAuthSecret: Sendable, Equatable {
    public var id: UUID
    public var label: String
    public var clientID: String
    public var secretID: UUID
    public var expiresAt: Date

}

/// An access token just issued by `POST /oauth/token`.
public struct IssuedAccessToken: Sendable {
    public var accessToken: String
    /// Whole seconds until it expires (`expires_in`).
    public var expiresIn: Int
    public var tenant: Tenant
}

/// An RFC 6749 section 5.2 error of the token endpoint: `code` is the `error` value, `detail` the
/// `error_description`. `tenant` is set when the request proved it holds a genuine secret of a known
/// organisation (an expired or revoked secret, SCIM disabled), so the refusal goes to that
/// organisation's event log.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var detail: String
    public var tenant: Tenant?
    /// The same credentials may succeed later without the client changing anything: the organisation
    /// has SCIM disabled, and staff may enable it again. Every other refusal is for good.
    public var isCurable: Bool

    public init(code: String, detail: String, tenant: Tenant? = nil, isCurable: Bool = false) {
        self.code = code
        self.detail = detail
        self.tenant = tenant
        self.isCurable = isCurable
    }

    public var description: String { "OAuthError(\(code)): \(detail)" }

    public static func invalidRequest(_ detail: String) -> OAuthError { .init(code: "invalid_request", detail: detail) }
    public static func invalidClient(_ detail: String, tenant: Tenant? = nil, isCurable: Bool = false) -> OAuthError {
        .init(code: "invalid_client", detail: detail, tenant: tenant, isCurable: isCurable)
    }
    public static func unsupportedGrantType(_ detail: String) -> OAuthError {
        .init(code: "unsupported_grant_type", detail: detail)
    }
    public static func invalidScope(_ detail: String) -> OAuthError { .init(code: "invalid_scope", detail: detail) }
}

/// OAuth 2.0 client credentials (RFC 6749 section 4.4) for identity providers that will not hold a
/// long-lived bearer token (Microsoft Entra ID): per-organisation clients, their secrets, and the
/// short-lived access tokens `POST /oauth/token` issues, which `/scim/v2` accepts like the
/// organisation's SCIM token.
///
/// Every rule lives here, so the admin API and the console apply the same ones: at most
/// `maximumLiveSecrets` live secrets per client, secrets expiring by default after
/// `defaultSecretLifetime` and never later, secrets and access tokens stored only as SHA-256 digests.
/// Revoking a client or a secret ends its access tokens: `control.cache_epoch` moves (triggers in
/// `006_oauth_clients.sql`), so every replica's token cache drops them within about a second.
///
/// Time comes from `now` (tests inject a manual clock), not from the database.
public struct OAuthClientStore: Sendable {
    public static let clientIDKind = "laclient"
    public static let secretKind = "lasecret"
    public static let accessTokenKind = "laoauth"
    /// Live (unrevoked, unexpired) secrets a client may have at once: one in use, one being rolled
    /// out, one spare.
    public static let maximumLiveSecrets = 3
    /// How long a secret lives unless staff ask for less; also the longest it may live.
    public static let defaultSecretLifetime: TimeInterval = 730 * 86_400
    /// Secrets expiring within this are listed by the status route.
    public static let expiryWarning: TimeInterval = 30 * 86_400
    /// The range `OAUTH_ACCESS_TOKEN_TTL_SECONDS` may take.
    public static let accessTokenLifetimes = 3600...21_600

    let client: PostgresClient
    let accessTokenLifetime: Int
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - accessTokenLifetime: seconds an access token lives (`OAUTH_ACCESS_TOKEN_TTL_SECONDS`).
    ///   - now: the wall clock expiry is measured by; tests pass a manual one.
    public init(
        client: PostgresClient, accessTokenLifetime: Int = 3600, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.accessTokenLifetime = accessTokenLifetime
        self.now = now
    }

    /// The store's wall clock now: what expiries are measured against.
    public var currentDate: Date { now() }

    // MARK: Staff

    /// Creates a client with its first secret. The secret exists only in the return value.
    /// - Parameter secretExpiresAt: nil for `defaultSecretLifetime` from now.
    /// - Throws: `StoreError.invalid` for an empty or long label or an expiry in the past or too far ahead;
    ///   `StoreError.conflict` when the organisation is offboarded.
    public func create(organisationID: UUID, label: String, secretExpiresAt: Date?) async throws -> IssuedOAuthClient {
        let label = label.trimmingCharacters(in: .whitespacesAndNewlines)
        // Counted in code points, as the table's check counts them: a flag is one Character but two.
        guard !label.isEmpty, label.unicodeScalars.count <= 100 else {
            throw StoreError.invalid("label", "label is required (at most 100 characters).")
        }
        let now = now()
        let expiresAt = try Self.secretExpiry(secretExpiresAt, now: now, field: "secretExpiresAt")
        let id = UUID()
        let clientID = "\(Self.clientIDKind)_\(Secrets.randomBase62(24))"
        let secret = IssuedSecret.generate(kind: Self.secretKind)
        let secretID = UUID()
        let createdAt = try await client.withTransaction { connection -> Date in
            try Self.lockActiveOrganisation(organisationID, on: connection)
            let rows = try connection.query(
                """
                INSERT INTO control.oauth_clients (id, organisation_id, label, client_id, created_at)
                VALUES (\(id), \(organisationID), \(label), \(clientID), \(now))
                RETURNING created_at
                """)
            let row = try rows.single()
            _ = try connection.query(
                """
                INSERT INTO control.oauth_client_secrets (id, client_id, prefix, secret_hash, created_at, expires_at)
                VALUES (\(secretID), \(id), \(secret.prefix), \(secret.digest), \(now), \(expiresAt))
                """)
            return try row.decode("created_at")
        }
        return IssuedOAuthClient(
            id: id, label: label, clientID: clientID, clientSecret: secret.token, secretID: secretID,
            secretExpiresAt: expiresAt,
            createdAt: createdAt)
    }

    /// Every client of the organisation, newest first, revoked ones included (marked), with every secret.
    public func list(organisationID: UUID) async throws -> [OAuthClientInfo] {
        try await client.withConnection { connection in
            let clients = try connection.query(
                """
                SELECT \(OAuthClientInfo.columns) FROM control.oauth_clients
                WHERE organisation_id = \(organisationID) ORDER BY created_at DESC, id
                """)
            let secrets = try connection.query(
                """
                SELECT s.client_id, s.id, s.created_at, s.last_used_at, s.expires_at, s.revoked_at
                FROM control.oauth_client_secrets s JOIN control.oauth_clients c ON c.id = s.client_id
                WHERE c.organisation_id = \(organisationID) ORDER BY s.created_at DESC, s.id
                """)
            var byClient: [UUID: [OAuthSecretInfo]] = [:]
            for row in secrets {
                byClient[try row.decode("client_id"), default: []].append(try OAuthSecretInfo(row: row))
            }
            return try clients.map { try OAuthClientInfo(row: $0, secrets: byClient[try $0.decode("id")] ?? []) }
        }
    }

    /// Adds a secret to a client, for rotation. The secret exists only in the return value.
    /// - Throws: `StoreError.notFound` when the organisation has no such client, 409 when the organisation
    ///   is offboarded or the client is revoked or already has `maximumLiveSecrets` live secrets, 400 for
    ///   a bad expiry.
    public func addSecret(organisationID: UUID, clientID id: UUID, expiresAt: Date?) async throws -> IssuedOAuthSecret {
        let now = now()
        let expiresAt = try Self.secretExpiry(expiresAt, now: now, field: "expiresAt")
        let secret = IssuedSecret.generate(kind: Self.secretKind)
        let secretID = UUID()
        let refusal = try await client.withTransaction { connection -> StoreError? in
            try Self.lockActiveOrganisation(organisationID, on: connection)
            // The row lock makes concurrent rotations of one client take turns, so the limit holds.
            guard
                let row = try connection.query(
                    """
                    SELECT revoked_at IS NOT NULL AS revoked FROM control.oauth_clients
                    WHERE id = \(id) AND organisation_id = \(organisationID) FOR UPDATE
                    """
                ).first
            else {
                return StoreError.notFound(
                    "oauthClient", "No OAuth client \(id.lowercasedString) in this organisation.")
            }
            if try row.decode("revoked", as: Bool.self) {
                return StoreError.conflict(
                    "oauthClient", "OAuth client \(id.lowercasedString) is revoked: create a new client instead.")
            }
            let live = try connection.query(
                """
                SELECT count(*) AS n FROM control.oauth_client_secrets
                WHERE client_id = \(id) AND revoked_at IS NULL AND expires_at > \(now)
                """
            ).rows[0].decode("n", as: Int.self)
            guard live < Self.maximumLiveSecrets else {
                return StoreError.conflict(
                    "secrets",
                    "OAuth client \(id.lowercasedString) already has \(Self.maximumLiveSecrets) live secrets: "
                        + "revoke one first.")
            }
            _ = try connection.query(
                """
                INSERT INTO control.oauth_client_secrets (id, client_id, prefix, secret_hash, created_at, expires_at)
                VALUES (\(secretID), \(id), \(secret.prefix), \(secret.digest), \(now), \(expiresAt))
                """)
            return nil
        }
        if let refusal { throw refusal }
        return IssuedOAuthSecret(secretID: secretID, clientSecret: secret.token, expiresAt: expiresAt)
    }

    /// Revokes one secret: it obtains no more access tokens, and those it obtained stop working.
    /// Revoking twice keeps the first `revokedAt`.
    /// - Throws: `StoreError.notFound` when the organisation's client has no such secret.
    public func revokeSecret(organisationID: UUID, clientID id: UUID, secretID: UUID) async throws {
        let rows = try await client.query(
            """
            UPDATE control.oauth_client_secrets s SET revoked_at = COALESCE(s.revoked_at, \(now()))
            FROM control.oauth_clients c
            WHERE s.id = \(secretID) AND s.client_id = \(id) AND c.id = s.client_id
              AND c.organisation_id = \(organisationID)
            """)
        guard rows.affectedRows == 1 else {
            throw StoreError.notFound(
                "oauthSecret",
                "No secret \(secretID.lowercasedString) of OAuth client \(id.lowercasedString) in this organisation.")
        }
    }

    /// Revokes a client and with it every secret and access token it has.
    /// - Throws: `StoreError.notFound` when the organisation has no such client.
    public func revoke(organisationID: UUID, clientID id: UUID) async throws {
        let rows = try await client.query(
            """
            UPDATE control.oauth_clients SET revoked_at = COALESCE(revoked_at, \(now()))
            WHERE id = \(id) AND organisation_id = \(organisationID)
            """)
        guard rows.affectedRows == 1 else {
            throw StoreError.notFound("oauthClient", "No OAuth client \(id.lowercasedString) in this organisation.")
        }
    }

    /// Live secrets of live clients that expire within `expiryWarning`, soonest first.
    public func expiringSecrets(organisationID: UUID) async throws -> [ExpiringOAuthSecret] {
        let now = now()
        return try await client.query(
            """
            SELECT c.id, c.label, c.client_id, s.id AS secret_id, s.expires_at
            FROM control.oauth_client_secrets s JOIN control.oauth_clients c ON c.id = s.client_id
            WHERE c.organisation_id = \(organisationID) AND c.revoked_at IS NULL AND s.revoked_at IS NULL
              AND s.expires_at > \(now) AND s.expires_at <= \(now.addingTimeInterval(Self.expiryWarning))
            ORDER BY s.expires_at, s.id
            """
        ).map {
            ExpiringOAuthSecret(
                id: try $0.decode("id"), label: try $0.decode("label"), clientID: try $0.decode("client_id"),
                secretID: try $0.decode("secret_id"), expiresAt: try $0.decode("expires_at"))
        }
    }

    /// Locks the organisation's row (`FOR SHARE`) for the rest of the transaction, and refuses an
    /// offboarded one. Offboarding updates that row before it revokes the clients, so the two take
    /// turns: a client or secret added first is revoked by the offboarding, and one added after it
    /// sees `offboarded_at` and is refused.
    /// - Throws: `StoreError.conflict` when the organisation is offboarded (or gone).
    private static func lockActiveOrganisation(_ organisationID: UUID, on connection: PostgresConnection) throws {
        let rows = try connection.query(
            """
            SELECT 1 FROM control.organisations WHERE id = \(organisationID) AND offboarded_at IS NULL FOR SHARE
            """)
        guard rows.first != nil else {
            throw StoreError.conflict(
                "organisation", "The organisation is offboarded: restore it before adding OAuth clients or secrets.")
        }
    }

    /// The expiry of a new secret: `requested`, or `defaultSecretLifetime` from now.
    private static func secretExpiry(_ requested: Date?, now: Date, field: String) throws -> Date {
        let latest = now.addingTimeInterval(defaultSecretLifetime)
        guard let requested else { return latest }
        guard requested > now, requested <= latest else {
            throw StoreError.invalid(field, "\(field) must be in the future and at most 730 days (2 years) ahead.")
        }
        return requested
    }

    // MARK: Token endpoint

    /// The client credentials grant: checks the client's id and secret and issues an access token.
    ///
    /// The token lives `accessTokenLifetime` seconds, or less when its secret expires sooner.
    /// `last_used_at` of the client and the secret are written with the token. Expired tokens are
    /// deleted by `purgeExpiredAccessTokens`, not here.
    /// - Parameter admit: called once the client has authenticated, before anything is written, with
    ///   the client's id (`OAuthClientInfo.id`) and its organisation: the caller's per-client limit on
    ///   issued tokens. What it throws is rethrown and nothing changes. It is called at most once,
    ///   even when the transaction runs again (a serialization failure, or a transaction pooler that
    ///   gave it another session), so a request counts once against the limit.
    /// - Throws: `OAuthError` `invalid_client` for unknown, malformed, mismatched, revoked or expired
    ///   credentials and for an organisation offboarded or with SCIM disabled; `admit`'s error.
    public func issueAccessToken(
        clientID: String, clientSecret: String, admit: @Sendable (UUID, Tenant) throws -> Void = { _, _ in }
    ) async throws -> IssuedAccessToken {
        let refused = OAuthError.invalidClient("Client authentication failed: unknown client or wrong secret.")
        guard let prefix = IssuedSecret.prefix(of: clientSecret, kind: Self.secretKind) else { throw refused }
        let digest = Secrets.sha256(clientSecret)
        let now = now()
        let token = IssuedSecret.generate(kind: Self.accessTokenKind)
        let lifetime = accessTokenLifetime
        let admitted = Mutex(false)
        let outcome = try await client.withTransaction { connection -> Result<IssuedAccessToken, OAuthError> in
            guard
                let row = try connection.query(
                    """
                    SELECT s.id AS secret_id, s.secret_hash, s.expires_at, s.revoked_at IS NOT NULL AS secret_revoked,
                           c.id AS client_uuid, c.client_id, c.revoked_at IS NOT NULL AS client_revoked,
                           o.id AS organisation_id, o.slug, o.schema_name, o.scim_enabled,
                           o.offboarded_at IS NOT NULL AS offboarded, o.rate_limit_rps, o.rate_limit_burst
                    FROM control.oauth_client_secrets s
                    JOIN control.oauth_clients c ON c.id = s.client_id
                    JOIN control.organisations o ON o.id = c.organisation_id
                    WHERE s.prefix = \(prefix)
                    """
                ).first,
                Secrets.constantTimeEquals(try row.decode("secret_hash"), digest),
                try row.decode("client_id", as: String.self) == clientID
            else { return .failure(refused) }
            let clientUUID: UUID = try row.decode("client_uuid")
            let tenant = try Self.tenant(row, credential: clientUUID)
            // The caller holds a genuine secret from here, so it may learn why it is refused.
            if try row.decode("client_revoked", as: Bool.self) {
                return .failure(.invalidClient("The OAuth client has been revoked.", tenant: tenant))
            }
            if try row.decode("secret_revoked", as: Bool.self) {
                return .failure(.invalidClient("The client secret has been revoked.", tenant: tenant))
            }
            let secretExpiresAt: Date = try row.decode("expires_at")
            guard secretExpiresAt > now else {
                return .failure(.invalidClient("The client secret has expired.", tenant: tenant))
            }
            // Offboarding revokes every client, so this holds only for one added by hand since.
            if try row.decode("offboarded", as: Bool.self) {
                return .failure(
                    .invalidClient(
                        "The organisation has been offboarded. Contact Learn Amp support.", tenant: tenant))
            }
            guard try row.decode("scim_enabled", as: Bool.self) else {
                return .failure(
                    .invalidClient(
                        "SCIM provisioning is disabled for this organisation. Contact Learn Amp support.",
                        tenant: tenant, isCurable: true))
            }
            if !admitted.withLock({ $0 }) {
                try admit(clientUUID, tenant)
                admitted.withLock { $0 = true }
            }
            let expiresAt = min(now.addingTimeInterval(TimeInterval(lifetime)), secretExpiresAt)
            let secretID: UUID = try row.decode("secret_id")
            _ = try connection.query(
                """
                INSERT INTO control.oauth_access_tokens (id, secret_id, prefix, token_hash, issued_at, expires_at)
                VALUES (\(UUID()), \(secretID), \(token.prefix), \(token.digest), \(now), \(expiresAt))
                """)
            // `now` was read before the transaction: a later request may have written a later time first.
            _ = try connection.query(
                """
                UPDATE control.oauth_client_secrets SET last_used_at = GREATEST(last_used_at, \(now))
                WHERE id = \(secretID)
                """)
            _ = try connection.query(
                """
                UPDATE control.oauth_clients SET last_used_at = GREATEST(last_used_at, \(now))
                WHERE id = \(clientUUID)
                """)
            let seconds = Int(expiresAt.timeIntervalSince(now).rounded())
            return .success(IssuedAccessToken(accessToken: token.token, expiresIn: max(1, seconds), tenant: tenant))
        }
        return try outcome.get()
    }

    // MARK: Retention

    /// How long past its expiry an access token row is kept before `purgeExpiredAccessTokens` may
    /// delete it. Until then a client presenting it is told it expired rather than that it is
    /// unknown, also by a replica whose clock runs a few minutes behind the purging one's.
    public static let accessTokenPurgeMargin: TimeInterval = 300
    /// Rows per purge `DELETE`: one short statement, never a long lock.
    public static let accessTokenPurgeBatch = 1000

    /// Deletes up to `limit` access tokens that expired more than `accessTokenPurgeMargin` before now
    /// (the store's clock), oldest first, in one autocommitted statement.
    ///
    /// Safe on every replica at once: rows another purge has locked are skipped (`SKIP LOCKED`), never
    /// waited for, and each row is deleted once. Deleting an expired token changes nothing a cache may
    /// serve (a cached token stops at its own expiry), so no cache epoch moves.
    /// - Parameter scope: whose tokens: every organisation's in service; tests that share one database
    ///   and move the store's clock name their own.
    /// - Returns: how many rows were deleted; fewer than `limit` means none due is left unlocked.
    public func purgeExpiredAccessTokens(
        limit: Int = accessTokenPurgeBatch, scope: OrganisationScope = .all
    ) async throws -> Int {
        let cutoff = now().addingTimeInterval(-Self.accessTokenPurgeMargin)
        let inScope: PostgresQuery =
            scope.slugs.map {
                """
                AND secret_id IN (SELECT s.id FROM control.oauth_client_secrets s
                    JOIN control.oauth_clients c ON c.id = s.client_id
                    JOIN control.organisations o ON o.id = c.organisation_id WHERE o.slug = ANY(\($0)::text[]))
                """
            } ?? ""
        return try await client.query(
            """
            DELETE FROM control.oauth_access_tokens WHERE id IN (
                SELECT id FROM control.oauth_access_tokens WHERE expires_at < \(cutoff) \(inScope)
                ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            """
        ).affectedRows
    }

    // MARK: SCIM

    /// Whether `bearer` is shaped like one of this store's access tokens (`laoauth_…`), rather than a
    /// SCIM token.
    public static func isAccessToken(_ bearer: String) -> Bool {
        bearer.hasPrefix("\(accessTokenKind)_")
    }

    /// Resolves an access token presented on `/scim/v2` to its organisation, as
    /// `TokenStore.authenticate(bearer:)` resolves a SCIM token. The tenant's `tokenID` is the OAuth
    /// client's id, so the organisation's events name the client.
    /// - Returns: the tenant, and when the token expires (so a cache can stop serving it then).
    /// - Throws: `SCIMError` 401 for a malformed or unknown token; `RejectedCredential` 401 for an
    ///   expired token or a revoked secret or client, 403 when the organisation has SCIM disabled.
    public func authenticate(accessToken token: String) async throws -> (tenant: Tenant, expiresAt: Date?) {
        guard let prefix = IssuedSecret.prefix(of: token, kind: Self.accessTokenKind) else {
            throw SCIMError.unauthorized("The bearer token is not a valid Learn Amp access token.")
        }
        let digest = Secrets.sha256(token)
        let rows = try await client.query(
            """
            SELECT a.token_hash, LEAST(a.expires_at, s.expires_at) AS expires_at,
                   s.revoked_at IS NOT NULL OR c.revoked_at IS NOT NULL AS revoked,
                   c.id AS client_uuid, o.id AS organisation_id, o.slug, o.schema_name, o.scim_enabled,
                   o.rate_limit_rps, o.rate_limit_burst
            FROM control.oauth_access_tokens a
            JOIN control.oauth_client_secrets s ON s.id = a.secret_id
            JOIN control.oauth_clients c ON c.id = s.client_id
            JOIN control.organisations o ON o.id = c.organisation_id
            WHERE a.prefix = \(prefix)
            """)
        guard let row = rows.first, Secrets.constantTimeEquals(try row.decode("token_hash"), digest) else {
            throw SCIMError.unauthorized("The bearer token is not valid.")
        }
        let tenant = try Self.tenant(row, credential: try row.decode("client_uuid"))
        if try row.decode("revoked", as: Bool.self) {
            throw RejectedCredential(
                error: .unauthorized("The access token's OAuth client or secret has been revoked."), tenant: tenant)
        }
        // A token never outlives its secret, even one whose expiry was brought forward by hand.
        let expiresAt: Date = try row.decode("expires_at")
        guard expiresAt > now() else {
            throw RejectedCredential(
                error: .unauthorized("The access token has expired: request a new one."), tenant: tenant)
        }
        guard try row.decode("scim_enabled", as: Bool.self) else {
            throw RejectedCredential(
                error: .forbidden("SCIM provisioning is disabled for this organisation. Contact Learn Amp support."),
                tenant: tenant)
        }
        return (tenant, expiresAt)
    }

    private static func tenant(_ row: PostgresRow, credential: UUID) throws -> Tenant {
        Tenant(
            organisationID: try row.decode("organisation_id"), slug: try row.decode("slug"),
            schema: try PostgresIdentifier(try row.decode("schema_name", as: String.self)), tokenID: credential,
            rateLimit: RateLimit(
                requestsPerSecond: try row.decode("rate_limit_rps"), burst: try row.decode("rate_limit_burst")))
    }
}
