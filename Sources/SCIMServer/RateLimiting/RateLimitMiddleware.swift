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
    /// Failed SCIM or admin authentications with one token prefix a client address may make per
    /// `failedAuthWindow` (`FAILED_AUTH_LIMIT`, per minute) before that prefix gets 429 from it.
    public var failedAuthAttempts: Int = 20
    /// Failed authentications without a key-shaped credential (no header, a garbage bearer) a client
    /// address may make per `failedAuthWindow` (`FAILED_AUTH_ADDRESS_LIMIT`); nil for
    /// `addressLimitFactor` × `failedAuthAttempts`.
    public var failedAuthAddressAttempts: Int?
    public var failedAuthWindow: Duration = .seconds(60)
    /// Access tokens one OAuth client may obtain per minute from `POST /oauth/token`, sustained
    /// (`OAUTH_TOKEN_RATE_LIMIT`). An identity provider asks for one about once an hour.
    public var oauthTokensPerMinute: Int = 60
    /// Access tokens one OAuth client may obtain at once after an idle spell (`OAUTH_TOKEN_RATE_BURST`).
    public var oauthTokenBurst: Int = 10
    /// Behind a load balancer (`TRUSTED_PROXY=true`): key failed-auth limits by the address the
    /// balancer appended to `X-Forwarded-For` rather than the balancer's own address.
    public var trustedProxy: Bool = false

    /// The address-only limit when `FAILED_AUTH_ADDRESS_LIMIT` is not set, as a multiple of
    /// `FAILED_AUTH_LIMIT`: an identity provider's shared egress address carries many customers'
    /// mistakes.
    public static let addressLimitFactor = 5

    public init(
        requestsPerSecond: Int = 50, burst: Int = 100, failedAuthAttempts: Int = 20,
        failedAuthAddressAttempts: Int? = nil, failedAuthWindow: Duration = .seconds(60),
        oauthTokensPerMinute: Int = 60, oauthTokenBurst: Int = 10, trustedProxy: Bool = false
    ) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
        self.failedAuthAttempts = failedAuthAttempts
        self.failedAuthAddressAttempts = failedAuthAddressAttempts
        self.failedAuthWindow = failedAuthWindow
        self.oauthTokensPerMinute = oauthTokensPerMinute
        self.oauthTokenBurst = oauthTokenBurst
        self.trustedProxy = trustedProxy
    }

    /// The per-organisation default, in the same shape as a staff override.
    var defaultLimit: RateLimit { RateLimit(requestsPerSecond: requestsPerSecond, burst: burst) }

    /// `failedAuthAttempts` at once, then one more each `failedAuthWindow / failedAuthAttempts`.
    var failedAuthLimit: TokenBucket.Limit { perWindow(failedAuthAttempts) }

    /// One OAuth client's bucket on `POST /oauth/token`: `oauthTokenBurst` at once, then
    /// `oauthTokensPerMinute` a minute.
    var oauthTokenLimit: TokenBucket.Limit {
        TokenBucket.Limit(ratePerSecond: Double(oauthTokensPerMinute) / 60, burst: oauthTokenBurst)
    }

    /// The same for the address-only bucket.
    var failedAuthAddressLimit: TokenBucket.Limit {
        perWindow(failedAuthAddressAttempts ?? failedAuthAttempts * Self.addressLimitFactor)
    }

    private func perWindow(_ attempts: Int) -> TokenBucket.Limit {
        let (seconds, attoseconds) = failedAuthWindow.components
        let window = max(0.001, Double(seconds) + Double(attoseconds) / 1e18)
        return TokenBucket.Limit(ratePerSecond: Double(attempts) / window, burst: attempts)
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

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let tenant = context.tenant else { return try await next(request, context) }
        if case .limited(let retryAfter) = limiter.take(
            tenant.organisationID, limit: .init(tenant.rateLimit ?? defaultLimit))
        {
            context.logger.debug("organisation rate limited", metadata: ["scim.retry_after": "\(retryAfter)"])
            throw SCIMError.tooManyRequests(retryAfter: retryAfter)
        }
        return try await next(request, context)
    }
}

/// What a request presents, as far as the failed-authentication limit is concerned. Each auth
/// middleware reads its own surface's credential (`SCIMAuthMiddleware.presentedCredential`,
/// `AdminAuthMiddleware.presentedCredential`), exactly as it will authenticate it.
enum PresentedCredential: Sendable, Hashable {
    /// No bearer, or one that cannot be a key of this surface: counted per client address alone.
    case unshaped
    /// Shaped like a key of this surface (`lascim_<prefix>_<secret>` under `/scim/v2`,
    /// `lastaff_<prefix>_<secret>` under `/admin/v1`): counted per client address and public prefix.
    case key(prefix: String)
    /// The correct bootstrap `ADMIN_API_TOKEN`: valid, so never counted or refused.
    case bootstrap
}

/// The bucket a failed authentication is counted in.
enum FailedAuthKey: Sendable, Hashable {
    /// An address (an IPv6 /64) and a key prefix: one customer's bad token, whoever else shares the address.
    case key(address: String, prefix: String)
    /// An address alone, for credentials with no key shape.
    case address(String)

    /// The key for `credential` from `address` (already grouped by `FailedAuthLimitMiddleware.addressKey`);
    /// nil for the bootstrap token, which is never limited.
    init?(address: String, credential: PresentedCredential) {
        switch credential {
        case .key(let prefix): self = .key(address: address, prefix: prefix)
        case .unshaped: self = .address(address)
        case .bootstrap: return nil
        }
    }
}

/// The failed-authentication buckets SCIM and admin share, with their limits.
///
/// Key buckets and address buckets live in separate limiters, so a flood of made-up prefixes can
/// evict only other key buckets. Of all failures only a disabled organisation's 403 can become a
/// success (when staff enable it again); those are counted under `CacheCoherence.generation`, so
/// after any control change such a limited prefix may try once more, and an organisation enabled
/// again is not refused for the rest of the window. Unknown, malformed, revoked and expired
/// credentials stay invalid whatever changes: their failures hold under every generation.
struct FailedAuthLimiter: Sendable {
    let keyLimit: TokenBucket.Limit
    let addressLimit: TokenBucket.Limit
    let coherence: CacheCoherence
    private let byKey: RateLimiter<FailedAuthKey>
    private let byAddress: RateLimiter<FailedAuthKey>

    init(
        _ settings: RateLimitSettings, coherence: CacheCoherence,
        clock: @escaping @Sendable () -> Double = RateLimiter<FailedAuthKey>.monotonicSeconds
    ) {
        keyLimit = settings.failedAuthLimit
        addressLimit = settings.failedAuthAddressLimit
        self.coherence = coherence
        byKey = RateLimiter(clock: clock)
        byAddress = RateLimiter(clock: clock)
    }

    /// The generation to pass to `check` and `recordFailure`; read it before authenticating, so a
    /// change that lands during the lookup is not stamped on the failure it may have cured.
    var generation: UInt64 { coherence.generation }

    /// Whether `key` is limited now, without spending anything.
    func check(_ key: FailedAuthKey, generation: UInt64) -> TokenBucket.Decision {
        switch key {
        case .key: byKey.check(key, generation: generation)
        case .address: byAddress.check(key)
        }
    }

    /// Counts one failure; true when `key` is limited from now on.
    /// - Parameter curableUntil: the generation read before authenticating, when a control change
    ///   may cure this failure (a disabled organisation's 403); nil when nothing will.
    @discardableResult
    func recordFailure(_ key: FailedAuthKey, curableUntil generation: UInt64?) -> Bool {
        switch key {
        case .key:
            _ = byKey.take(key, limit: keyLimit, generation: generation)
            return byKey.check(key, generation: generation ?? coherence.generation) != .allowed
        case .address:
            _ = byAddress.take(key, limit: addressLimit)
            return byAddress.check(key) != .allowed
        }
    }
}

/// Limits failed authentications, for SCIM and admin alike (one shared `FailedAuthLimiter`), so that
/// a bad credential cannot lock anyone else out.
///
/// Okta and Entra send every customer's requests from a few shared egress addresses, so failures are
/// counted per client address (IPv6 by /64) *and* token prefix: one customer's revoked token retried
/// by Okta gets 429 after `FAILED_AUTH_LIMIT` failures a minute, without a database lookup, while
/// every other token from that address is still authenticated. Credentials with no key shape (no
/// header, a garbage bearer) are counted per address alone, under the higher address limit, and only
/// such credentials are refused by it. A valid credential is never refused here: a valid key's prefix
/// has no failures of its own unless someone presents it with a wrong secret, and the bootstrap admin
/// token is recognised before any limit is consulted.
///
/// Failures are 401s and the 403 of a disabled organisation (`RejectedCredential`); the token cache
/// keeps that 403 for a few seconds, so a disabled organisation's retries cost no lookup either.
/// Added to a group *before* its auth middleware.
struct FailedAuthLimitMiddleware: RouterMiddleware {
    enum Surface: Sendable { case scim, admin }

    let limiter: FailedAuthLimiter
    let trustedProxy: Bool
    let surface: Surface
    /// The auth middleware's reading of the request's credential.
    let credential: @Sendable (Request) -> PresentedCredential

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let client = Self.clientAddress(request, remote: context.remoteAddress, trustedProxy: trustedProxy)
        let address = Self.addressKey(client)
        guard let key = FailedAuthKey(address: address, credential: credential(request)) else {
            return try await next(request, context)
        }
        let generation = limiter.generation
        if case .limited(let retryAfter) = limiter.check(key, generation: generation) {
            return tooManyFailures(key, retryAfter: retryAfter, requestID: context.requestID)
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as SCIMError where error.status == 401 {
            recordFailure(key, curableUntil: nil, logger: context.logger)
            throw error
        } catch let error as RejectedCredential {
            // 401 revoked or expired: for good. 403 SCIM disabled: until staff enable the organisation.
            recordFailure(key, curableUntil: error.error.status == 403 ? generation : nil, logger: context.logger)
            throw error
        } catch let error as AdminError where error.status == 401 {
            recordFailure(key, curableUntil: nil, logger: context.logger)
            throw error
        }
        if response.status == .unauthorized { recordFailure(key, curableUntil: nil, logger: context.logger) }
        return response
    }

    private func recordFailure(_ key: FailedAuthKey, curableUntil generation: UInt64?, logger: Logger) {
        guard limiter.recordFailure(key, curableUntil: generation) else { return }
        switch key {
        case .key(let address, let prefix):
            // The prefix is the public part of a key, shown in token listings: never the secret.
            logger.notice(
                "token prefix limited at a client address after repeated failed authentication",
                metadata: ["scim.client": "\(address)", "scim.token.prefix": "\(prefix)"])
        case .address(let address):
            logger.notice(
                "client address limited after repeated credentials without a key's shape",
                metadata: ["scim.client": "\(address)"])
        }
    }

    private func tooManyFailures(_ key: FailedAuthKey, retryAfter: Int, requestID: String) -> Response {
        let message =
            switch key {
            case .key: "Too many failed authentications with this token from this address; retry after \(retryAfter) s."
            case .address: "Too many failed authentication attempts from this address; retry after \(retryAfter) s."
            }
        switch surface {
        case .scim:
            return Responses.scimError(
                SCIMError(status: 429, detail: message, retryAfter: retryAfter), requestID: requestID)
        case .admin:
            var response = Responses.adminError(
                AdminError(status: 429, code: "too_many_requests", message: message), requestID: requestID)
            response.headers[.retryAfter] = String(retryAfter)
            return response
        }
    }

    static let forwardedFor = HTTPField.Name.forwardedFor

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

extension FailedAuthLimitMiddleware {
    /// The address part of a failed-authentication key: an IPv6 address by its /64 network
    /// (`2001:db8:1:2::/64`), because one host or one customer network usually holds a whole /64 and
    /// could otherwise rotate through it; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as its
    /// IPv4 address; anything else (IPv4, `unknown`, `unix`, text that is no address) unchanged.
    static func addressKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        // A zone (`fe80::1%eth0`) names an interface of this host, not a network.
        let withoutZone = address.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard let groups = ipv6Groups(withoutZone) else { return address }
        if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xffff {
            let octets = [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff]
            return octets.map(String.init).joined(separator: ".")
        }
        return groups[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The eight 16-bit groups of an IPv6 address in text form (RFC 4291 section 2.2: `::` for a
    /// run of zero groups, an IPv4 dotted quad in the last 32 bits), or nil when it is not one.
    static func ipv6Groups(_ text: Substring) -> [UInt16]? {
        guard text.count <= 45 else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func parse(_ part: String, last: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var groups: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if last, index == fields.count - 1, field.contains(".") {
                    let octets = field.split(separator: ".", omittingEmptySubsequences: false)
                    guard octets.count == 4 else { return nil }
                    var bytes: [UInt16] = []
                    for octet in octets {
                        guard (1...3).contains(octet.count), octet.allSatisfy({ $0.isASCII && $0.isNumber }),
                            let value = UInt16(octet), value <= 255
                        else { return nil }
                        bytes.append(value)
                    }
                    groups += [bytes[0] << 8 | bytes[1], bytes[2] << 8 | bytes[3]]
                } else {
                    guard (1...4).contains(field.count), field.allSatisfy(\.isHexDigit),
                        let value = UInt16(field, radix: 16)
                    else { return nil }
                    groups.append(value)
                }
            }
            return groups
        }
        if halves.count == 1 {
            guard let groups = parse(halves[0], last: true), groups.count == 8 else { return nil }
            return groups
        }
        guard let head = parse(halves[0], last: false), let tail = parse(halves[1], last: true),
            head.count + tail.count <= 7
        else { return nil }
        return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
