import Foundation

/// Remembers, for one second, which organisation a SCIM token resolved to, so a burst of requests
/// costs one token lookup rather than one each.
///
/// Keyed by the token's SHA-256 (never the token itself). Only successes are cached: a bad token is
/// looked up every time (and rate-limited per client address). One second bounds how long a revoked,
/// expired or disabled credential keeps working on any replica, with no invalidation traffic.
public struct CachedTokenAuthenticator: Sendable {
    let tokens: TokenStore
    let cache: TTLCache<[UInt8], Tenant>

    public init(tokens: TokenStore, lifetime: Duration = .seconds(1)) {
        self.tokens = tokens
        self.cache = TTLCache(lifetime: lifetime, capacity: 10_000)
    }

    /// - Throws: as `TokenStore.authenticate(bearer:)`.
    public func authenticate(bearer token: String) async throws -> Tenant {
        let key = Secrets.sha256(token)
        if let tenant = cache.value(for: key) { return tenant }
        let tenant = try await tokens.authenticate(bearer: token)
        cache.store(tenant, for: key)
        return tenant
    }

    /// Forgets every cached lookup (after a revocation or an organisation change on this replica).
    public func removeAll() {
        cache.removeAll()
    }
}
