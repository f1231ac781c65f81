import Foundation

/// A per-organisation request-rate override set by staff (`PATCH /admin/v1/organisations/{slug}`
/// `{"rateLimit":{"requestsPerSecond":N,"burst":M}}`); organisations without one get the service
/// default (`RATE_LIMIT_RPS`, `RATE_LIMIT_BURST`).
public struct RateLimit: Sendable, Hashable {
    /// Sustained requests per second a replica admits for the organisation.
    public var requestsPerSecond: Int
    /// Requests a replica admits at once after the organisation has been idle.
    public var burst: Int

    /// The largest value staff may set for either field.
    public static let maximum = 100_000

    public init(requestsPerSecond: Int, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }

    /// Both columns or neither: the schema's CHECK makes a half-set override impossible.
    init?(requestsPerSecond: Int?, burst: Int?) {
        guard let requestsPerSecond, let burst else { return nil }
        self.init(requestsPerSecond: requestsPerSecond, burst: burst)
    }
}

/// What a PATCH does to an organisation's override: leave it, remove it, or replace it.
public enum RateLimitChange: Sendable, Equatable {
    case unchanged
    case cleared
    case set(RateLimit)
}
