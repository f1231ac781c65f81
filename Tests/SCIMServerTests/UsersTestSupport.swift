import Foundation
import HTTPTypes
import SCIM
import Testing

/// Helpers shared by the `/Users` end-to-end suites.
enum Users {
    static let enterprise = SchemaURN.enterpriseUser
    static let learnAmp = SchemaURN.learnAmpUser

    /// Percent-encodes a query value with the unreserved set only, so `"`, `&`, `+`, `[` and spaces
    /// reach the server as data.
    static func encode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    /// `?a=b&c=d` with every value encoded.
    static func query(_ pairs: KeyValuePairs<String, String>) -> String {
        "?" + pairs.map { "\($0.key)=\(encode($0.value))" }.joined(separator: "&")
    }

    /// A PatchOp message around `operations`.
    static func patch(_ operations: JSONValue...) -> JSONValue {
        ["schemas": [.string(SchemaURN.patchOp)], "Operations": .array(operations)]
    }

    /// A full user body as Okta sends it on POST.
    static func body(
        _ userName: String, given: String = "Given", family: String = "Family", extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var body: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.user)],
            "userName": .string(userName),
            "name": ["givenName": .string(given), "familyName": .string(family)],
            "emails": [["value": .string(userName), "type": "work", "primary": true]],
            "active": true,
        ]
        for (key, value) in extra { body[key] = value }
        return .object(body)
    }

    /// A unique, lowercase email so tests never collide even inside one organisation.
    static func email(_ prefix: String = "user", domain: String = "example.com") -> String {
        "\(prefix)-\(UUID().uuidString.lowercased().prefix(8))@\(domain)"
    }

    /// The ids in a ListResponse, in order.
    static func ids(_ result: TestResult) -> [String] {
        (result["Resources"]?.arrayValue ?? []).compactMap { $0[caseInsensitive: "id"]?.stringValue }
    }

    /// The userNames in a ListResponse, in order.
    static func userNames(_ result: TestResult) -> [String] {
        (result["Resources"]?.arrayValue ?? []).compactMap { $0[caseInsensitive: "userName"]?.stringValue }
    }
}

extension TestResult {
    /// The top-level member names of the body.
    var keys: Set<String> { Set(json?.objectValue.map { Array($0.keys) } ?? []) }
}

extension TestOrganisation {
    /// `GET /Users?filter=…` plus any extra parameters.
    func filter(_ filter: String, _ extra: String = "") async throws -> TestResult {
        try await scim(.get, "/Users?filter=\(Users.encode(filter))\(extra)")
    }

    /// The userNames a filter matches (up to 1,000), sorted, failing the test on a non-200.
    func matching(_ filter: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let result = try await self.filter(filter, "&count=1000")
        #expect(result.status == .ok, "filter \(filter): \(result.text)", sourceLocation: sourceLocation)
        return Users.userNames(result).sorted()
    }

    func patchUser(_ id: String, _ operations: JSONValue..., headers: HTTPFields = [:]) async throws -> TestResult {
        try await scim(
            .patch, "/Users/\(id)", json: ["schemas": [.string(SchemaURN.patchOp)], "Operations": .array(operations)],
            headers: headers)
    }

    /// Sets custom-field mappings through the admin API, failing the test unless it answers 200.
    func mapCustomFields(_ mappings: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let result = try await client.admin(.put, "/organisations/\(slug)/custom-fields", json: ["mappings": mappings])
        try #require(result.status == .ok, "custom-fields: \(result.text)", sourceLocation: sourceLocation)
    }

    /// The admin API's view of the user with this email.
    func adminUser(email: String) async throws -> JSONValue? {
        let result = try await client.admin(.get, "/organisations/\(slug)/users?email=\(Users.encode(email))")
        return result["users"]?.arrayValue?.first
    }
}

/// Organisations shared by the cases of one parameterised table, created once per test run.
///
/// Creating an organisation migrates a tenant schema under the global migration lock, so fifty table
/// cases each creating one would queue behind each other past the statement timeout. Cases that share
/// an organisation only read it, or write users with unique emails and look at nothing else.
actor SharedOrganisations {
    static let shared = SharedOrganisations()
    private var pending: [String: Task<(slug: String, token: String), any Error>] = [:]

    /// The organisation called `key`, set up by `setUp` the first time; rebound to `client`.
    func organisation(
        _ key: String, client: TestClient, setUp: @escaping @Sendable (TestOrganisation) async throws -> Void = { _ in }
    ) async throws -> TestOrganisation {
        let task =
            pending[key]
            ?? Task {
                let organisation = try await client.organisation(String(key.prefix(8)))
                try await setUp(organisation)
                return (organisation.slug, organisation.token)
            }
        pending[key] = task
        let (slug, token) = try await task.value
        return TestOrganisation(slug: slug, token: token, client: client)
    }
}
