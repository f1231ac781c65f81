import Foundation

/// Remembers which organisation a SCIM token resolved to, so requests cost no token lookup.
///
/// Keyed by the token's SHA-256 (never the token itself). Only successes are cached: a bad token is
/// looked up every time (and rate-limited per client address). How long an entry is trusted is
/// `CacheCoherence`'s call: a revoked token or a disabled organisation stops working on every replica
/// within about a second; an expiring token stops at its expiry, cached or not.
public struct CachedTokenAuthenticator: Sendable {
    private struct Entry {
        var tenant: Tenant
        var expiresAt: Date?
    }

    let tokens: TokenStore
    private let cache: TTLCache<[UInt8], Entry>

    public init(tokens: TokenStore, coherence: CacheCoherence = CacheCoherence()) {
        self.tokens = tokens
        self.cache = TTLCache(coherence: coherence, capacity: 10_000)
    }

    /// - Throws: as `TokenStore.authenticate(bearer:)`.
    public func authenticate(bearer token: String) async throws -> Tenant {
        let key = Secrets.sha256(token)
        if let entry = cache.value(for: key), entry.expiresAt.map({ $0 > Date() }) ?? true { return entry.tenant }
        // An expired entry is looked up again, which refuses it and logs the refusal to the organisation.
        let generation = cache.coherence.generation
        let (tenant, expiresAt) = try await tokens.authenticate(bearer: token)
        cache.store(Entry(tenant: tenant, expiresAt: expiresAt), for: key, generation: generation)
        return tenant
    }
}
