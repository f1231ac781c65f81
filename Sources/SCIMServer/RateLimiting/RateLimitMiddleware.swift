import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SCIM
import SCIMStore

/// Rate-limit settings read from the environment (see `AppConfiguration.fromEnvironment`).
///
/// Every limit is enforced by each replica on its own: with N replicas behind a balancer the
/// effective limit is N times these figures (docs/scaling.md).
public struct RateLimitSettings: Sendable, Equatable {
    /// Default sustained SCIM requests per second per organisation (`RATE_LIMIT_RPS`).
    public var requestsPerSecond: Int = 50
    /// Default burst per organisation (`RATE_LIMIT_BURST`).
    public var burst: Int = 100
    /// Failed SCIM or admin authentications a client address may make per `failedAuthWindow`
    /// (`FAILED_AUTH_LIMIT`, per minute) before every attempt from it gets 429.
    public var failedAuthAttempts: Int = 20
    public var failedAuthWindow: Duration = .seconds(60)
    /// Behind a load balancer (`TRUSTED_PROXY=true`): key failed-auth limits by the address the
    /// balancer appended to `X-Forwarded-For` rather than the balancer's own address.
    public var trustedProxy: Bool = false

    public init(
        requestsPerSecond: Int = 50, burst: Int = 100, failedAuthAttempts: Int = 20, failedAuthWindow: Duration = .seconds(60),
        trustedProxy: Bool = false
    ) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
        self.failedAuthAttempts = failedAuthAttempts
        self.failedAuthWindow = failedAuthWindow
        self.trustedProxy = trustedProxy
    }

    /// The per-organisation default, in the same shape as a staff override.
    var defaultLimit: RateLimit { RateLimit(requestsPerSecond: requestsPerSecond, burst: burst) }

    /// `failedAuthAttempts` at once, then one more each `failedAuthWindow / failedAuthAttempts`.
    var failedAuthLimit: TokenBucket.Limit {
        let (seconds, attoseconds) = failedAuthWindow.components
        let window = max(0.001, Double(seconds) + Double(attoseconds) / 1e18)
        return TokenBucket.Limit(ratePerSecond: Double(failedAuthAttempts) / window, burst: failedAuthAttempts)
    }
}

extension TokenBucket.Limit {
    init(_ limit: RateLimit) {
        self.init(ratePerSecond: Double(limit.requestsPerSecond), burst: limit.burst)
    }
}

/// Per-organisation token bucket on `/scim/v2`: a request over the organisation's limit (its staff
/// override, carried on the `Tenant` by the token lookup, else the default) gets a 429 SCIM error
/// with `Retry-After`, which Okta and Entra honour.
///
/// > Warning: Added after `SCIMAuthMiddleware`, which sets `context.tenant`; requests without a
/// > tenant never get this far.
struct RateLimitMiddleware: RouterMiddleware {
    let limiter: RateLimiter<UUID>
    let defaultLimit: RateLimit

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let tenant = context.tenant else { return try await next(request, context) }
        if case .limited(let retryAfter) = limiter.take(tenant.organisationID, limit: .init(tenant.rateLimit ?? defaultLimit)) {
            context.logger.debug("organisation rate limited", metadata: ["scim.retry_after": "\(retryAfter)"])
            throw SCIMError.tooManyRequests(retryAfter: retryAfter)
        }
        return try await next(request, context)
    }
}

/// Limits failed authentications per client address, for SCIM and admin alike (one shared limiter).
///
/// Only failures (401) spend tokens; once an address has none left, every request from it, with a
/// valid token or not, gets 429 with `Retry-After` until the bucket refills, so guessing tokens costs
/// an attacker the whole window. Added to a group *before* its auth middleware.
struct FailedAuthLimitMiddleware: RouterMiddleware {
    enum Surface: Sendable { case scim, admin }

    let limiter: RateLimiter<String>
    let limit: TokenBucket.Limit
    let trustedProxy: Bool
    let surface: Surface

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        let address = Self.clientAddress(request, remote: context.remoteAddress, trustedProxy: trustedProxy)
        if case .limited(let retryAfter) = limiter.check(address) {
            return tooManyFailures(retryAfter: retryAfter, requestID: context.requestID)
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as SCIMError where error.status == 401 {
            recordFailure(address, logger: context.logger)
            throw error
        } catch let error as AdminError where error.status == 401 {
            recordFailure(address, logger: context.logger)
            throw error
        }
        if response.status == .unauthorized { recordFailure(address, logger: context.logger) }
        return response
    }

    private func recordFailure(_ address: String, logger: Logger) {
        _ = limiter.take(address, limit: limit)
        if case .limited = limiter.check(address) {
            logger.notice("client address limited after repeated failed authentication", metadata: ["scim.client": "\(address)"])
        }
    }

    private func tooManyFailures(retryAfter: Int, requestID: String) -> Response {
        let message = "Too many failed authentication attempts from this address; retry after \(retryAfter) s."
        switch surface {
        case .scim:
            return Responses.scimError(SCIMError(status: 429, detail: message, retryAfter: retryAfter), requestID: requestID)
        case .admin:
            var response = Responses.adminError(AdminError(status: 429, code: "too_many_requests", message: message), requestID: requestID)
            response.headers[.retryAfter] = String(retryAfter)
            return response
        }
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// The key for a request's client: its socket's IP address, or, with `trustedProxy`, the
    /// right-most `X-Forwarded-For` entry — the address the trusted balancer itself appended, which a
    /// client cannot forge (entries to its left are whatever the client sent). Requests with no
    /// address at all (in-process tests) share the key `unknown`.
    static func clientAddress(_ request: Request, remote: SocketAddress?, trustedProxy: Bool) -> String {
        if trustedProxy {
            let entries = request.headers[values: forwardedFor].flatMap { $0.split(separator: ",") }
            if let last = entries.last?.trimmingCharacters(in: .whitespaces), (1...64).contains(last.count),
                last.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" })
            {
                return last
            }
        }
        switch remote {
        case .v4?, .v6?: return remote?.ipAddress ?? "unknown"
        case .unixDomainSocket?: return "unix"
        case nil: return "unknown"
        }
    }
}
