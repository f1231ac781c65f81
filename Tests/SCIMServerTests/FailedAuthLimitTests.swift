import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import SCIM
import Synchronization
import Testing

@testable import SCIMServer
@testable import SCIMStore

/// The address every request of these tests comes from, as a trusted balancer reports it: one of an
/// identity provider's shared egress addresses.
private let egress: HTTPFields = [FailedAuthLimitMiddleware.forwardedFor: "203.0.113.7"]
private let otherAddress: HTTPFields = [FailedAuthLimitMiddleware.forwardedFor: "198.51.100.9"]

/// An app behind a trusted balancer whose organisation limits never bite, with `FAILED_AUTH_LIMIT`
/// = `attempts` over an hour: no bucket refills while a test runs, however slow the machine.
private func withFailedAuthApp(attempts: Int, _ body: @Sendable (TestClient) async throws -> Void) async throws {
    var configuration = try TestDatabase.configuration()
    configuration.rateLimits = RateLimitSettings(
        requestsPerSecond: 100_000, burst: 100_000, failedAuthAttempts: attempts, failedAuthWindow: .seconds(3600),
        trustedProxy: true)
    let app = try await buildApplication(configuration, logger: TestDatabase.logger)
    try await app.test(.router) { client in
        try await body(TestClient(client: client))
    }
}

extension TestClient {
    /// Revokes the organisation's (only) token.
    func revokeToken(of org: TestOrganisation) async throws {
        let tokens = try await admin(.get, "/organisations/\(org.slug)/tokens")
        let first = tokens["tokens"]?.arrayValue?.first
        let id = try #require(first?[caseInsensitive: "id"]?.stringValue, "\(tokens.text)")
        try #require(try await admin(.delete, "/organisations/\(org.slug)/tokens/\(id)").status == .noContent)
    }

    func setSCIMEnabled(_ enabled: Bool, _ org: TestOrganisation) async throws {
        let patched = try await admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": .bool(enabled)])
        try #require(patched.status == .ok, "\(patched.text)")
    }
}

/// Status code → how many times it was seen, for the figures a test prints.
private func tally(_ statuses: [HTTPResponse.Status]) -> [Int: Int] {
    statuses.reduce(into: [:]) { $0[Int($1.code), default: 0] += 1 }
}

@Suite("Failed authentication limits: per address and token prefix, never refusing a valid credential")
struct FailedAuthLimitTests {
    @Test("one organisation's revoked token, retried 500 times, never stops another's valid token from its address")
    func revokedTokenSharedAddress() async throws {
        try await withFailedAuthApp(attempts: 20) { client in
            let revoked = try await client.organisation("revoked")
            let valid = try await client.organisation("valid")
            try await client.revokeToken(of: revoked)

            var revokedStatuses: [HTTPResponse.Status] = []
            var validStatuses: [HTTPResponse.Status] = []
            var lastLimited: TestResult?
            for _ in 0..<500 {
                let refused = try await revoked.scim(.get, "/Users", headers: egress)
                revokedStatuses.append(refused.status)
                if refused.status == .tooManyRequests { lastLimited = refused }
                validStatuses.append(try await valid.scim(.get, "/Users", headers: egress).status)
            }
            print(
                "revoked token, 500 attempts from one address: \(tally(revokedStatuses));",
                "another organisation's valid token, interleaved: \(tally(validStatuses))")

            #expect(validStatuses.allSatisfy { $0 == .ok }, "the other organisation: \(tally(validStatuses))")
            #expect(revokedStatuses.prefix(20).allSatisfy { $0 == .unauthorized }, "\(tally(revokedStatuses))")
            #expect(revokedStatuses.dropFirst(20).allSatisfy { $0 == .tooManyRequests }, "\(tally(revokedStatuses))")
            let limited = try #require(lastLimited)
            expectSCIMError(limited, .tooManyRequests)
            #expect(limited["detail"]?.stringValue?.contains("with this token") == true, "\(limited.text)")
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap { Int($0) }, "\(limited.headers)")
            #expect(retryAfter >= 1)

            // The key is the address and the prefix: the same token from another address is judged afresh.
            expectSCIMError(try await revoked.scim(.get, "/Users", headers: otherAddress), .unauthorized)
        }
    }

    @Test("unshaped credentials hit the address-only limit; valid tokens and the bootstrap token still pass")
    func unshapedCredentials() async throws {
        // FAILED_AUTH_LIMIT 4: the address-only limit is 5 × 4 = 20.
        try await withFailedAuthApp(attempts: 4) { client in
            let org = try await client.organisation("unshaped")
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<30 {
                let bearer: String? =
                    switch index % 3 {
                    case 0: nil  // no Authorization header
                    case 1: "garbage-\(index)"
                    default: "lascim_short_\(index)"  // the kind, but not a token's shape
                    }
                let result = try await client.request(.get, "/scim/v2/Users", bearer: bearer, headers: egress)
                statuses.append(result.status)
            }
            print("unshaped credentials, 30 from one address: \(tally(statuses))")
            #expect(statuses.prefix(20).allSatisfy { $0 == .unauthorized }, "\(statuses.map(\.code))")
            #expect(statuses.dropFirst(20).allSatisfy { $0 == .tooManyRequests }, "\(statuses.map(\.code))")
            let limited = try await client.request(.get, "/scim/v2/Users", bearer: "garbage", headers: egress)
            expectSCIMError(limited, .tooManyRequests)
            #expect(limited["detail"]?.stringValue?.contains("from this address") == true, "\(limited.text)")

            // Valid credentials from the same address are never refused.
            for index in 0..<10 {
                #expect(try await org.scim(.get, "/Users", headers: egress).status == .ok, "valid request \(index)")
                let admin = try await client.request(
                    .get, "/admin/v1/organisations", bearer: TestDatabase.adminToken, headers: egress)
                #expect(admin.status == .ok, "bootstrap request \(index): \(admin.text)")
            }
            // A token-shaped credential has a key of its own: judged, not refused.
            let unknown = "lascim_\(String(repeating: "A", count: 12))_\(String(repeating: "b", count: 43))"
            let unknownResult = try await client.request(.get, "/scim/v2/Users", bearer: unknown, headers: egress)
            expectSCIMError(unknownResult, .unauthorized)

            // The address-only bucket is shared with the admin API; a wrong bootstrap token is unshaped.
            let admin = try await client.request(
                .get, "/admin/v1/organisations", bearer: "wrong-admin-token", headers: egress)
            #expect(admin.status == .tooManyRequests, "\(admin.text)")
            #expect(admin["error"]?.stringValue == "too_many_requests")
            #expect(admin.headers[.retryAfter] != nil)
            // Another address is not affected.
            let elsewhere = try await client.request(.get, "/scim/v2/Users", bearer: "garbage", headers: otherAddress)
            expectSCIMError(elsewhere, .unauthorized)
        }
    }

    @Test("a disabled organisation's 403 counts as a failure; enabling it again works at once, even after its limit")
    func disabledOrganisation() async throws {
        try await withFailedAuthApp(attempts: 5) { client in
            let disabled = try await client.organisation("disabled")
            let other = try await client.organisation("enabled")
            #expect(try await disabled.scim(.get, "/Users", headers: egress).status == .ok)
            try await client.setSCIMEnabled(false, disabled)

            // Other suites' control writes move the shared epoch, and each move lets a disabled token try
            // once more (see the cache test below for exact counts): send until it is limited.
            var statuses: [HTTPResponse.Status] = []
            while statuses.last != .tooManyRequests, statuses.count < 100 {
                statuses.append(try await disabled.scim(.get, "/Users", headers: egress).status)
            }
            print("disabled organisation, requests from one address until limited: \(tally(statuses))")
            #expect(statuses.last == .tooManyRequests, "\(tally(statuses))")
            #expect(statuses.prefix(5).allSatisfy { $0 == .forbidden }, "\(statuses.map(\.code))")
            #expect(statuses.dropLast().allSatisfy { $0 == .forbidden }, "\(statuses.map(\.code))")
            #expect(try await other.scim(.get, "/Users", headers: egress).status == .ok)

            // The admin write invalidates the cached 403 and lets the limited prefix try again.
            try await client.setSCIMEnabled(true, disabled)
            for index in 0..<10 {
                let result = try await disabled.scim(.get, "/Users", headers: egress)
                #expect(result.status == .ok, "request \(index) after enabling: \(result.text)")
            }
        }
    }

    @Test("a disabled organisation's 403 comes from the token cache: no lookup per request, one after 5 s or a write")
    func disabledRefusalCached() async throws {
        try await withApp { client in
            let disabled = try await client.organisation("cached403")
            let valid = try await client.organisation("cached200")
            try await client.setSCIMEnabled(false, disabled)
            try await withDatabase { database in
                let clock = TestInstantClock()
                let coherence = CacheCoherence()
                // Epoch reads that keep succeeding (the production case): entries may live past one second.
                coherence.confirm(epoch: 1, readStartedAt: clock.instant)
                let lookups = Counter()
                let store = TokenStore(client: database)
                let authenticator = CachedTokenAuthenticator(coherence: coherence, now: { clock.instant }) { token in
                    lookups.increment()
                    return try await store.authenticate(bearer: token)
                }
                // The production middlewares, in the production order, around a handler that needs no database.
                let settings = RateLimitSettings(failedAuthAttempts: 5)
                let limiter = FailedAuthLimiter(settings, coherence: coherence) { clock.seconds }
                let router = Router(context: AppRequestContext.self)
                router.add(middleware: ErrorResponseMiddleware())
                router.group("scim/v2")
                    .add(
                        middleware: FailedAuthLimitMiddleware(
                            limiter: limiter, trustedProxy: false, surface: .scim,
                            credential: { SCIMAuthMiddleware.presentedCredential($0) })
                    )
                    .add(
                        middleware: SCIMAuthMiddleware(
                            tokens: authenticator, events: EventBuffer(), metrics: ServiceMetrics())
                    )
                    .get("Users") { _, _ in "ok" }
                try await Application(router: router, logger: TestDatabase.logger).test(.router) { http in
                    let http = TestClient(client: http)
                    func scim(_ org: TestOrganisation) async throws -> HTTPResponse.Status {
                        coherence.confirm(epoch: 1, readStartedAt: clock.instant)
                        return try await http.request(.get, "/scim/v2/Users", bearer: org.token).status
                    }
                    var statuses: [HTTPResponse.Status] = []
                    for _ in 0..<5 {
                        statuses.append(try await scim(disabled))
                        clock.advance(by: .milliseconds(900))
                    }
                    #expect(statuses == Array(repeating: .forbidden, count: 5))
                    #expect(lookups.count == 1, "five 403s within 4.5 s, one lookup")

                    // Five failures (FAILED_AUTH_LIMIT 5): the prefix is refused before the cache is even asked.
                    for _ in 0..<20 { statuses.append(try await scim(disabled)) }
                    #expect(statuses.suffix(20) == Array(repeating: .tooManyRequests, count: 20))
                    #expect(lookups.count == 1)
                    #expect(try await scim(valid) == .ok)
                    #expect(lookups.count == 2)

                    // At 12.5 s the bucket has a token again and the cached 403 (5 s) is gone: one lookup,
                    // one more failure, limited again.
                    clock.advance(by: .seconds(8))
                    statuses.append(try await scim(disabled))
                    #expect(statuses.last == .forbidden)
                    #expect(lookups.count == 3)
                    statuses.append(try await scim(disabled))
                    #expect(statuses.last == .tooManyRequests)
                    print(
                        "disabled organisation, \(statuses.count) requests via the token cache: \(tally(statuses)),",
                        "\(lookups.count - 1) token lookups for it")

                    // Enabled again: the admin write's invalidation reaches both the cache and the limit.
                    try await client.setSCIMEnabled(true, disabled)
                    coherence.invalidate()
                    #expect(try await scim(disabled) == .ok)
                    #expect(lookups.count == 4)
                }
            }
        }
    }

    @Test("failure keys: IPv6 addresses by /64, IPv4-mapped addresses as IPv4, everything else as is")
    func addressKeys() {
        let cases: [(String, String)] = [
            ("203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
            ("2001:0DB8:0001:0002::1", "2001:db8:1:2::/64"),
            ("2001:db8::1", "2001:db8:0:0::/64"),
            ("2001:db8:0:0:1::", "2001:db8:0:0::/64"),
            ("::1", "0:0:0:0::/64"),
            ("::", "0:0:0:0::/64"),
            ("fe80::1%eth0", "fe80:0:0:0::/64"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"),
            ("unknown", "unknown"),
            ("unix", "unix"),
            ("2001:db8::1::2", "2001:db8::1::2"),
            ("2001:db8:1:2:3:4:5:6:7", "2001:db8:1:2:3:4:5:6:7"),
            ("12345::", "12345::"),
            ("::ffff:192.0.2.256", "::ffff:192.0.2.256"),
            (":", ":"),
        ]
        for (address, key) in cases {
            #expect(FailedAuthLimitMiddleware.addressKey(address) == key, "\(address)")
        }
        let key = FailedAuthLimitMiddleware.addressKey
        #expect(key("2001:db8:aa:bb::1") == key("2001:db8:aa:bb:9:8:7:6"), "one /64, one key")
        #expect(key("2001:db8:aa:bb::1") != key("2001:db8:aa:bc::1"))

        #expect(FailedAuthKey(address: "a", credential: .bootstrap) == nil, "the bootstrap token is never counted")
        #expect(FailedAuthKey(address: "a", credential: .unshaped) == .address("a"))
        #expect(
            FailedAuthKey(address: "a", credential: .key(prefix: "lascim_x")) == .key(address: "a", prefix: "lascim_x"))
    }

    @Test("credentials are read as each auth middleware reads them")
    func presentedCredentials() {
        func request(_ authorization: String?) -> Request {
            var fields = HTTPFields()
            if let authorization { fields[.authorization] = authorization }
            let head = HTTPRequest(method: .get, scheme: "http", authority: "scim", path: "/", headerFields: fields)
            return Request(head: head, body: .init(buffer: .init()))
        }
        let prefix = "lascim_\(String(repeating: "A", count: 12))"
        let token = "\(prefix)_\(String(repeating: "b", count: 43))"
        #expect(SCIMAuthMiddleware.presentedCredential(request("Bearer \(token)")) == .key(prefix: prefix))
        #expect(SCIMAuthMiddleware.presentedCredential(request("bearer  \(token) ")) == .key(prefix: prefix))
        #expect(SCIMAuthMiddleware.presentedCredential(request(nil)) == .unshaped)
        #expect(SCIMAuthMiddleware.presentedCredential(request("Basic abc")) == .unshaped)
        #expect(SCIMAuthMiddleware.presentedCredential(request("Bearer \(token)x")) == .unshaped)
        #expect(SCIMAuthMiddleware.presentedCredential(request("Bearer \(TestDatabase.adminToken)")) == .unshaped)

        // Never run: reading a credential touches no database.
        let unused = PostgresClient(
            configuration: .init(connectionString: "postgresql://scim@127.0.0.1:1/scim"), logger: TestDatabase.logger)
        let admin = AdminAuthMiddleware(adminToken: TestDatabase.adminToken, staffKeys: StaffKeyStore(client: unused))
        let staffPrefix = "lastaff_\(String(repeating: "C", count: 12))"
        #expect(admin.presentedCredential(request("Bearer \(TestDatabase.adminToken)")) == .bootstrap)
        #expect(admin.presentedCredential(request("Bearer \(TestDatabase.adminToken)x")) == .unshaped)
        let staffKey = "\(staffPrefix)_\(String(repeating: "d", count: 43))"
        #expect(admin.presentedCredential(request("Bearer \(staffKey)")) == .key(prefix: staffPrefix))
        #expect(admin.presentedCredential(request("Bearer lastaff_short")) == .unshaped)
        #expect(admin.presentedCredential(request("Bearer \(token)")) == .unshaped, "a SCIM token is no staff key")
        #expect(admin.presentedCredential(request(nil)) == .unshaped)
    }
}

/// Counts calls from concurrent tasks.
private final class Counter: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func increment() { value.withLock { $0 += 1 } }
}

/// A monotonic clock the test moves by hand, read both as an instant (the token cache) and as
/// seconds (the rate limiter).
private final class TestInstantClock: Sendable {
    private let start = ContinuousClock.now
    private let offset = Mutex(Duration.zero)

    var instant: ContinuousClock.Instant { start + offset.withLock { $0 } }
    var seconds: Double {
        let (whole, attoseconds) = offset.withLock { $0 }.components
        return 1_000 + Double(whole) + Double(attoseconds) / 1e18
    }

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
}
