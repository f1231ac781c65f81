import Foundation
import SCIM

/// Remembers which organisation a SCIM token or an OAuth access token resolved to, so requests cost
/// no token lookup.
///
/// Keyed by the token's SHA-256 (never the token itself). Successes are cached, and so, for
/// `refusalLifetime` at most, is the 403 of a genuine token whose organisation has SCIM disabled: an
/// identity provider keeps retrying that token, and each retry would otherwise cost a lookup. Other
/// bad tokens are looked up every time (and limited per client address and token prefix by
/// `FailedAuthLimitMiddleware`). How long an entry is trusted is otherwise `CacheCoherence`'s call:
/// a revoked token, a disabled organisation or one enabled again takes effect on every replica
/// within about a second, on this replica at once after an admin write; an expiring token stops at
/// its expiry, cached or not.
public struct CachedTokenAuthenticator: Sendable {
    /// The longest a disabled organisation's 403 is served from the cache.
    public static let refusalLifetime: Duration = .seconds(5)

    /// A lookup's answer for one token.
    private enum Entry {
        case accepted(Tenant, expiresAt: Date?)
        /// The organisation has SCIM disabled; served until `until`, then looked up again.
        case disabled(RejectedCredential, until: ContinuousClock.Instant)
    }

    /// Resolves a token from the database: `TokenStore.authenticate(bearer:)`, or a test's wrapper.
    typealias Lookup = @Sendable (String) async throws -> (tenant: Tenant, expiresAt: Date?)

    private let lookup: Lookup
    private let now: @Sendable () -> ContinuousClock.Instant
    /// The wall clock a token's expiry is compared with.
    private let date: @Sendable () -> Date
    private let cache: TTLCache<[UInt8], Entry>

    /// - Parameters:
    ///   - oauth: resolves OAuth access tokens (`laoauth_…`); other bearers go to `tokens`.
    ///   - date: the wall clock expiries are measured by; tests pass a manual one.
    public init(
        tokens: TokenStore, oauth: OAuthClientStore? = nil, coherence: CacheCoherence = CacheCoherence(),
        date: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.init(coherence: coherence, now: { .now }, date: date) { bearer in
            if let oauth, OAuthClientStore.isAccessToken(bearer) {
                return try await oauth.authenticate(accessToken: bearer)
            }
            return try await tokens.authenticate(bearer: bearer)
        }
    }

    /// - Parameters:
    ///   - now: the cache's clock; tests pass a manual one.
    ///   - lookup: what a cache miss costs; tests count the calls.
    init(
        coherence: CacheCoherence, now: @escaping @Sendable () -> ContinuousClock.Instant,
        date: @escaping @Sendable () -> Date = { Date() }, lookup: @escaping Lookup
    ) {
        self.lookup = lookup
        self.now = now
        self.date = date
        self.cache = TTLCache(coherence: coherence, capacity: 10_000)
    }

    /// - Throws: as `TokenStore.authenticate(bearer:)`.
    public func authenticate(bearer token: String) async throws -> Tenant {
        let key = Secrets.sha256(token)
        let start = now()
        switch cache.value(for: key, now: start) {
        case .accepted(let tenant, let expiresAt)? where expiresAt.map({ $0 > date() }) ?? true:
            return tenant
        case .disabled(let refusal, let until)? where start < until:
            throw refusal
        default:
            // An expired entry is looked up again, which refuses it and logs the refusal to the organisation.
            break
        }
        let generation = cache.coherence.generation
        do {
            let (tenant, expiresAt) = try await lookup(token)
            cache.store(.accepted(tenant, expiresAt: expiresAt), for: key, generation: generation, now: start)
            return tenant
        } catch let refusal as RejectedCredential where refusal.error.status == 403 {
            let entry = Entry.disabled(refusal, until: start + Self.refusalLifetime)
            cache.store(entry, for: key, generation: generation, now: start)
            throw refusal
        }
    }
}
