import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SCIM
import Testing

@testable import SCIMServer

/// Builds the app with the production rate-limit defaults (50 rps, burst 100) but a failed-auth
/// threshold of 5 per prefix (25 per address for unshaped credentials) over an hour, instead of the
/// generous limits the other suites run with. The limiters' clock is frozen, so no bucket refills
/// while a test runs, however slowly its requests are served.
private func withRateLimitedApp(_ body: @Sendable (TestClient) async throws -> Void) async throws {
    var configuration = try TestDatabase.configuration()
    configuration.rateLimits = RateLimitSettings(failedAuthAttempts: 5, failedAuthWindow: .seconds(3600))
    configuration.rateLimitClock = { 1_000 }
    let app = try await buildApplication(configuration, logger: TestDatabase.logger)
    try await app.test(.router) { client in
        try await body(TestClient(client: client))
    }
}

@Suite("Rate limits: per organisation (429 + Retry-After) and failed authentication per client address and prefix")
struct RateLimitTests {
    @Test(
        "an organisation over its override gets a 429 SCIM error with Retry-After; another organisation is unaffected")
    func organisationOverride() async throws {
        try await withRateLimitedApp { client in
            let noisy = try await client.organisation("noisy")
            let quiet = try await client.organisation("quiet")
            #expect(
                try await client.admin(.get, "/organisations/\(noisy.slug)")["rateLimit"] == .null,
                "no override by default")

            let patched = try await client.admin(
                .patch, "/organisations/\(noisy.slug)", json: ["rateLimit": ["requestsPerSecond": 1, "burst": 3]])
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched["rateLimit"] == ["requestsPerSecond": 1, "burst": 3])
            #expect(patched.text.contains("\"requestsPerSecond\":1"), "integers on the wire: \(patched.text)")
            #expect(
                try await client.admin(.get, "/organisations/\(noisy.slug)")["rateLimit"] == [
                    "requestsPerSecond": 1, "burst": 3,
                ])

            // The bucket never refills on the frozen clock: the burst passes, then every request is limited.
            var results: [TestResult] = []
            for _ in 0..<6 { results.append(try await noisy.scim(.get, "/Users")) }
            #expect(
                results.map(\.status) == [.ok, .ok, .ok, .tooManyRequests, .tooManyRequests, .tooManyRequests],
                "statuses \(results.map(\.status.code))")
            let limited = try #require(
                results.first { $0.status == .tooManyRequests }, "statuses \(results.map(\.status.code))")
            expectSCIMError(limited, .tooManyRequests)
            let retryAfter = try #require(
                limited.headers[.retryAfter].flatMap { Int($0) }, "Retry-After: \(limited.headers)")
            #expect(retryAfter >= 1)

            for index in 0..<20 {
                #expect(try await quiet.scim(.get, "/Users").status == .ok, "quiet request \(index)")
            }
        }
    }

    @Test("clearing the override restores the default limit")
    func clearOverride() async throws {
        try await withRateLimitedApp { client in
            let org = try await client.organisation("clear")
            try await client.admin(
                .patch, "/organisations/\(org.slug)", json: ["rateLimit": ["requestsPerSecond": 1, "burst": 2]])
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<5 { statuses.append(try await org.scim(.get, "/Users").status) }
            #expect(statuses == [.ok, .ok, .tooManyRequests, .tooManyRequests, .tooManyRequests], "\(statuses)")

            let cleared = try await client.admin(.patch, "/organisations/\(org.slug)", json: ["rateLimit": .null])
            #expect(cleared.status == .ok)
            #expect(cleared["rateLimit"] == .null)
            #expect(cleared.text.contains("\"rateLimit\":null"), "the field is present, null: \(cleared.text)")
            for index in 0..<30 {
                #expect(try await org.scim(.get, "/Users").status == .ok, "request \(index) after clearing")
            }

            // A PATCH that does not mention rateLimit leaves an override alone.
            try await client.admin(
                .patch, "/organisations/\(org.slug)", json: ["rateLimit": ["requestsPerSecond": 7, "burst": 9]])
            let renamed = try await client.admin(.patch, "/organisations/\(org.slug)", json: ["name": "Renamed"])
            #expect(renamed["rateLimit"] == ["requestsPerSecond": 7, "burst": 9])
        }
    }

    @Test(
        "invalid rateLimit bodies are 400 and change nothing",
        arguments: [
            #"{"rateLimit":{"requestsPerSecond":0,"burst":3}}"#,
            #"{"rateLimit":{"requestsPerSecond":5,"burst":0}}"#,
            #"{"rateLimit":{"requestsPerSecond":-1,"burst":3}}"#,
            #"{"rateLimit":{"requestsPerSecond":100001,"burst":3}}"#,
            #"{"rateLimit":{"requestsPerSecond":5,"burst":100001}}"#,
            #"{"rateLimit":{"requestsPerSecond":1.5,"burst":3}}"#,
            #"{"rateLimit":{"requestsPerSecond":"5","burst":3}}"#,
            #"{"rateLimit":{"requestsPerSecond":5}}"#,
            #"{"rateLimit":{"burst":5}}"#,
            #"{"rateLimit":{"requestsPerSecond":5,"burst":3,"extra":1}}"#,
            #"{"rateLimit":{}}"#,
            #"{"rateLimit":5}"#,
            #"{"rateLimit":"fast"}"#,
            #"{"rateLimit":[5,3]}"#,
            #"{"rateLimit":true}"#,
            #"{"rateLimit":{"requestsPerSecond":1e300,"burst":3}}"#,
        ])
    func invalidBodies(body: String) async throws {
        try await withRateLimitedApp { client in
            let org = try await client.organisation("badrl")
            let result = try await client.admin(.patch, "/organisations/\(org.slug)", raw: body)
            #expect(result.status == .badRequest, "\(body) → \(result.status) \(result.text)")
            #expect(result["error"]?.stringValue == "bad_request")
            #expect(result["message"]?.stringValue?.contains("rateLimit") == true, "\(result.text)")
            #expect(try await client.admin(.get, "/organisations/\(org.slug)")["rateLimit"] == .null)
        }
    }

    @Test("the largest allowed values are accepted")
    func boundaries() async throws {
        try await withRateLimitedApp { client in
            let org = try await client.organisation("maxrl")
            let result = try await client.admin(
                .patch, "/organisations/\(org.slug)",
                json: ["rateLimit": ["requestsPerSecond": 100_000, "burst": 100_000]])
            #expect(result.status == .ok, "\(result.text)")
            #expect(result["rateLimit"] == ["requestsPerSecond": 100_000, "burst": 100_000])
            #expect(try await org.scim(.get, "/Users").status == .ok)
        }
    }

    @Test("repeated garbage tokens from one address: later ones get 429, but valid credentials from it still pass")
    func failedAuthentication() async throws {
        try await withRateLimitedApp { client in
            let org = try await client.organisation("brute")
            // In-process requests have no remote address: they all share the key "unknown".
            var statuses: [HTTPResponse.Status] = []
            var last: TestResult?
            for index in 0..<35 {
                let result = try await client.request(
                    .get, "/scim/v2/Users", bearer: "lascim_garbage\(index)_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
                statuses.append(result.status)
                last = result
            }
            // Not shaped like a token: counted per address, 5 × FAILED_AUTH_LIMIT.
            #expect(statuses.prefix(25).allSatisfy { $0 == .unauthorized }, "\(statuses.map(\.code))")
            #expect(statuses.suffix(10).allSatisfy { $0 == .tooManyRequests }, "\(statuses.map(\.code))")
            let limited = try #require(last)
            expectSCIMError(limited, .tooManyRequests)
            #expect(
                limited.headers[.retryAfter].flatMap { Int($0) }.map { $0 >= 1 } == true,
                "Retry-After: \(limited.headers)")

            // Garbage is refused, SCIM or admin; valid credentials from the same address are not.
            let admin = try await client.request(.get, "/admin/v1/organisations", bearer: "wrong-token-0123456789")
            #expect(admin.status == .tooManyRequests)
            #expect(admin["error"]?.stringValue == "too_many_requests")
            #expect(admin.headers[.retryAfter] != nil)
            #expect(try await org.scim(.get, "/Users").status == .ok)
            #expect(try await client.admin(.get, "/organisations").status == .ok)
        }
    }

    @Test("failed admin authentications count too; successful ones never do")
    func failedAdminAuthentication() async throws {
        try await withRateLimitedApp { client in
            for _ in 0..<30 { #expect(try await client.admin(.get, "/organisations").status == .ok) }
            // A staff key's prefix has a bucket of its own (FAILED_AUTH_LIMIT).
            let key = "lastaff_\(String(repeating: "Z", count: 12))_\(String(repeating: "z", count: 43))"
            for _ in 0..<5 {
                #expect(try await client.request(.get, "/admin/v1/organisations", bearer: key).status == .unauthorized)
            }
            let limitedKey = try await client.request(.get, "/admin/v1/organisations", bearer: key)
            #expect(limitedKey.status == .tooManyRequests)
            #expect(limitedKey.headers[.retryAfter] != nil)
            // A wrong bootstrap token has no key shape: the address bucket (5 × FAILED_AUTH_LIMIT).
            for _ in 0..<25 {
                #expect(
                    try await client.request(.get, "/admin/v1/organisations", bearer: "wrong-token-0123456789").status
                        == .unauthorized)
            }
            let limited = try await client.request(.get, "/admin/v1/organisations", bearer: "wrong-token-0123456789")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try await client.admin(.get, "/organisations").status == .ok, "the bootstrap token is not refused")
        }
    }

    @Test("the client address is the socket's or, behind a trusted proxy, the right-most X-Forwarded-For entry")
    func clientAddress() throws {
        func address(_ forwarded: [String], remote: SocketAddress?, trusted: Bool) -> String {
            var fields = HTTPFields()
            for value in forwarded {
                fields.append(HTTPField(name: FailedAuthLimitMiddleware.forwardedFor, value: value))
            }
            let head = HTTPRequest(
                method: .get, scheme: "http", authority: "scim", path: "/scim/v2/Users", headerFields: fields)
            let request = Request(head: head, body: .init(buffer: ByteBuffer()))
            return FailedAuthLimitMiddleware.clientAddress(request, remote: remote, trustedProxy: trusted)
        }
        let balancer = try SocketAddress(ipAddress: "10.1.2.3", port: 5555)
        #expect(
            address(["198.51.100.7"], remote: balancer, trusted: false) == "10.1.2.3", "ignored unless TRUSTED_PROXY")
        #expect(address(["198.51.100.7"], remote: balancer, trusted: true) == "198.51.100.7")
        #expect(
            address(["1.1.1.1, 198.51.100.7"], remote: balancer, trusted: true) == "198.51.100.7",
            "the client's own entry is not trusted")
        #expect(address(["1.1.1.1", "198.51.100.7"], remote: balancer, trusted: true) == "198.51.100.7")
        #expect(address(["2001:db8::1"], remote: balancer, trusted: true) == "2001:db8::1")
        #expect(
            address(["<script>"], remote: balancer, trusted: true) == "10.1.2.3", "garbage falls back to the socket")
        #expect(address([], remote: balancer, trusted: true) == "10.1.2.3")
        #expect(
            address([], remote: try SocketAddress(ipAddress: "2001:db8::2", port: 1), trusted: false) == "2001:db8::2")
        #expect(address([], remote: nil, trusted: false) == "unknown")
    }

    @Test("rate-limit settings come from the environment, validated")
    func configuration() throws {
        let base = ["DATABASE_URL": "postgresql://x@localhost/db", "ADMIN_API_TOKEN": "0123456789abcdef"]
        let defaults = try AppConfiguration.fromEnvironment(base).rateLimits
        #expect(
            defaults
                == RateLimitSettings(requestsPerSecond: 50, burst: 100, failedAuthAttempts: 20, trustedProxy: false))
        #expect(defaults.failedAuthLimit.burst == 20)
        #expect(defaults.failedAuthAddressLimit.burst == 100, "5 × FAILED_AUTH_LIMIT without FAILED_AUTH_ADDRESS_LIMIT")
        let set = try AppConfiguration.fromEnvironment(
            base.merging([
                "RATE_LIMIT_RPS": "5", "RATE_LIMIT_BURST": "7", "FAILED_AUTH_LIMIT": "3",
                "FAILED_AUTH_ADDRESS_LIMIT": "40", "TRUSTED_PROXY": "true",
            ]) { $1 }
        ).rateLimits
        #expect(
            set
                == RateLimitSettings(
                    requestsPerSecond: 5, burst: 7, failedAuthAttempts: 3, failedAuthAddressAttempts: 40,
                    trustedProxy: true))
        #expect(set.failedAuthAddressLimit.burst == 40)
        let derived = try AppConfiguration.fromEnvironment(base.merging(["FAILED_AUTH_LIMIT": "3"]) { $1 }).rateLimits
        #expect(derived.failedAuthAddressLimit.burst == 15)
        for (name, value) in [
            ("RATE_LIMIT_RPS", "0"), ("RATE_LIMIT_RPS", "x"), ("RATE_LIMIT_BURST", "100001"),
            ("FAILED_AUTH_LIMIT", "-1"),
            ("FAILED_AUTH_ADDRESS_LIMIT", "0"), ("FAILED_AUTH_ADDRESS_LIMIT", "100001"),
            ("FAILED_AUTH_ADDRESS_LIMIT", "many"),
            ("TRUSTED_PROXY", "maybe"),
        ] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") {
                try AppConfiguration.fromEnvironment(base.merging([name: value]) { $1 })
            }
        }
    }
}
