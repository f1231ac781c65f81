import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Postgres
import SCIM
import SCIMServer
import SCIMStore
import Testing

/// The database every server test talks to. Tests fail, never skip, when it is missing:
/// run them with `scripts/test`, which starts a throwaway Postgres and sets DATABASE_URL.
enum TestDatabase {
    static let adminToken = "test-admin-token-0123456789"

    static func configuration() throws -> AppConfiguration {
        let url = try #require(
            ProcessInfo.processInfo.environment["DATABASE_URL"],
            "DATABASE_URL is not set: run the tests with scripts/test")
        var configuration = AppConfiguration(databaseURL: url, adminToken: adminToken, sqlDirectory: sqlDirectory)
        configuration.poolSize = 4
        // Tests run many apps in parallel on 2 shared cores: waiting for a pooled connection may take
        // seconds there. Pool timeouts have tests of their own (PoolTests, OutageTests).
        configuration.databaseWaitTimeout = .seconds(30)
        configuration.rateLimits = RateLimitSettings(
            requestsPerSecond: 100_000, burst: 100_000, failedAuthAttempts: 100_000, oauthTokensPerMinute: 100_000,
            oauthTokenBurst: 100_000)  // RateLimitTests and OAuthTests set their own
        return configuration
    }

    static var sqlDirectory: URL {
        if let configured = ProcessInfo.processInfo.environment["SCIM_SQL_DIR"] {
            return URL(fileURLWithPath: configured)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../sql")
            .standardized
    }

    static var logger: Logger {
        var logger = Logger(label: "scim-test")
        logger.logLevel = .warning
        return logger
    }

    /// A short unique slug per test, so tests share a database without sharing data.
    static func uniqueSlug(_ prefix: String = "t") -> String {
        "\(prefix)-\(UUID().uuidString.lowercased().prefix(12))"
    }
}

/// A response with its body parsed as JSON when it has one.
struct TestResult: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var json: JSONValue?
    var text: String

    subscript(_ key: String) -> JSONValue? { json?[caseInsensitive: key] }
}

/// Drives the app over HTTP (in-process router): admin calls with the staff token, SCIM calls with an
/// organisation's token.
struct TestClient: Sendable {
    let client: any TestClientProtocol

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, bearer: String?, json: JSONValue? = nil, raw: String? = nil,
        headers extra: HTTPFields = [:], contentType: String? = "application/scim+json"
    ) async throws -> TestResult {
        var headers = extra
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        var body: ByteBuffer?
        if let json { body = ByteBuffer(bytes: json.serialized()) }
        if let raw { body = ByteBuffer(string: raw) }
        if body != nil, let contentType, headers[.contentType] == nil { headers[.contentType] = contentType }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
            let text = String(buffer: response.body)
            let json = text.isEmpty ? nil : try? JSONValue.parse(Array(text.utf8))
            return TestResult(status: response.status, headers: response.headers, json: json, text: text)
        }
    }

    @discardableResult
    func admin(_ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil, raw: String? = nil) async throws
        -> TestResult
    {
        try await request(
            method, "/admin/v1\(path)", bearer: TestDatabase.adminToken, json: json, raw: raw,
            contentType: "application/json")
    }

    /// Creates an organisation and a SCIM token for it.
    func organisation(_ prefix: String = "t") async throws -> TestOrganisation {
        try await organisation(slug: TestDatabase.uniqueSlug(prefix))
    }

    /// Creates the organisation with this slug (one chosen before the app was built) and a SCIM token for it.
    func organisation(slug: String) async throws -> TestOrganisation {
        let created = try await admin(
            .post, "/organisations", json: ["slug": .string(slug), "name": .string("Test \(slug)")])
        try #require(created.status == .created, "creating \(slug): \(created.text)")
        let token = try await admin(.post, "/organisations/\(slug)/tokens", json: ["label": "okta"])
        try #require(token.status == .created, "issuing a token: \(token.text)")
        return TestOrganisation(slug: slug, token: try #require(token["token"]?.stringValue), client: self)
    }
}

struct TestOrganisation: Sendable {
    let slug: String
    let token: String
    let client: TestClient

    @discardableResult
    func scim(
        _ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil, raw: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> TestResult {
        try await client.request(method, "/scim/v2\(path)", bearer: token, json: json, raw: raw, headers: headers)
    }

    /// POSTs a minimal Okta-style user and returns its id.
    func createUser(_ userName: String, extra: [String: JSONValue] = [:]) async throws -> String {
        var body: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.user)],
            "userName": .string(userName),
            "name": ["givenName": "Given", "familyName": "Family"],
            "emails": [["value": .string(userName), "type": "work", "primary": true]],
            "active": true,
        ]
        for (key, value) in extra { body[key] = value }
        let result = try await scim(.post, "/Users", json: .object(body))
        try #require(result.status == .created, "POST /Users \(userName): \(result.text)")
        return try #require(result["id"]?.stringValue)
    }
}

/// Builds the real application (the same `buildApplication` as `scim-server serve`) and runs `body`
/// against it through Hummingbird's in-process test client.
func withApp(_ body: @Sendable (TestClient) async throws -> Void) async throws {
    let app = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
    try await app.test(.router) { client in
        try await body(TestClient(client: client))
    }
}

extension JSONValue {
    /// Path lookup for assertions: `json.at("name", "givenName")`.
    func at(_ keys: String...) -> JSONValue? {
        var current: JSONValue? = self
        for key in keys { current = current?[caseInsensitive: key] }
        return current
    }
}

/// A SCIM error body: checks the schema, the status and the scimType together.
func expectSCIMError(
    _ result: TestResult, _ status: HTTPResponse.Status, _ scimType: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == status, "status \(result.status) body \(result.text)", sourceLocation: sourceLocation)
    #expect(
        result["schemas"] == [.string(SchemaURN.error)], "not a SCIM error: \(result.text)",
        sourceLocation: sourceLocation)
    #expect(result["status"]?.stringValue == String(status.code), sourceLocation: sourceLocation)
    if let scimType {
        #expect(result["scimType"]?.stringValue == scimType, "body \(result.text)", sourceLocation: sourceLocation)
    }
    #expect(result.headers[.contentType]?.hasPrefix("application/scim+json") == true, sourceLocation: sourceLocation)
}
