import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import SCIM
import SCIMServer
import Testing

/// Lists that may scan many rows get `listStatementTimeout`, shorter than writes': one organisation's
/// expensive filters cannot hold the shared pool's connections for the full statement timeout.
@Suite("SCIM lists run with their own, shorter statement timeout")
struct ListTimeoutTests {
    @Test("an expensive filtered list is cut off (503); a lookup by userName and a write are not")
    func expensiveListIsCutOff() async throws {
        var configuration = try TestDatabase.configuration()
        // Far below what scanning 30,000 rows with ILIKE takes, far above a lookup by a unique index.
        configuration.listStatementTimeout = .milliseconds(1)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        let databaseURL = configuration.databaseURL
        try await app.test(.router) { client in
            let client = TestClient(client: client)
            let organisation = try await client.organisation("slow")
            let id = try await organisation.createUser("ann@example.com")
            let schema = try #require(
                try await client.admin(.get, "/organisations/\(organisation.slug)")["schemaName"]?.stringValue)
            try await Self.insertUsers(30_000, schema: try PostgresIdentifier(schema), databaseURL: databaseURL)

            let list = try await organisation.scim(.get, "/Users?filter=" + "title co \"nobody\"".queryEncoded)
            expectSCIMError(list, .serviceUnavailable)
            #expect(list.headers[.retryAfter] != nil)

            let lookup = try await organisation.scim(
                .get, "/Users?filter=" + "userName eq \"ann@example.com\"".queryEncoded)
            #expect(lookup.status == .ok, "\(lookup.text)")
            #expect(lookup["totalResults"] == 1)
            let patch = try await organisation.scim(
                .patch, "/Users/\(id)",
                json: [
                    "schemas": [.string(SchemaURN.patchOp)],
                    "Operations": [["op": "replace", "path": "title", "value": "Engineer"]],
                ])
            #expect(patch.status == .ok, "\(patch.text)")
        }
    }

    /// Bulk rows straight into the tenant's table: 30,000 SCIM POSTs would take minutes.
    static func insertUsers(_ count: Int, schema: PostgresIdentifier, databaseURL: String) async throws {
        let client = PostgresClient(
            configuration: .init(connectionString: databaseURL), logger: Logger(label: "list-timeout-test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            _ = try await client.query(
                """
                INSERT INTO \(schema).users (id, user_name, email, title, scim_managed)
                SELECT gen_random_uuid(), 'bulk' || g || '@example.com', 'bulk' || g || '@example.com', 'Title ' || g, true
                FROM generate_series(1, \(count)) AS g
                """)
        }
    }
}

extension String {
    /// Percent-encoded for a query string value.
    fileprivate var queryEncoded: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? self
    }
}
