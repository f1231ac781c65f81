import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SCIM
import SCIMServer
import Synchronization
import Testing

/// Two organisations' reads and writes interleaved on one application, as many Okta tenants share a
/// replica. `scripts/test-pgbouncer` runs it through PgBouncer in transaction mode with prepared
/// statements on (the default): there, each transaction of a pooled connection may land on another
/// server session, and a prepared statement's name must mean the same statement on every session, or
/// a request runs another organisation's query with its own parameters.
@Suite("Tenant isolation through a shared pooler: no request sees another organisation's rows")
struct PoolerIsolationTests {
    @Test("two organisations read and write interleaved: zero rows of the other organisation, zero 5xx")
    func interleavedOrganisations() async throws {
        var configuration = try TestDatabase.configuration()
        // Several client connections, so that through the pooler each one's statements meet server
        // sessions another one prepared.
        configuration.poolSize = 8
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        try await app.test(.router) { client in
            let client = TestClient(client: client)
            let organisations = [try await client.organisation("ann"), try await client.organisation("bob")]
            let markers = organisations.map { "\($0.slug.prefix(3))-\(UUID().uuidString.prefix(8).lowercased())" }
            var ids: [[String]] = []
            for (organisation, marker) in zip(organisations, markers) {
                var created: [String] = []
                for index in 0..<4 {
                    created.append(try await organisation.createUser("\(marker)-\(index)@example.com"))
                }
                ids.append(created)
            }

            let tally = Tally()
            let rounds = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    let side = worker % 2
                    let organisation = organisations[side]
                    let own = markers[side]
                    let other = markers[1 - side]
                    let userIDs = ids[side]
                    group.addTask {
                        for round in 0..<rounds {
                            let id = userIDs[(worker + round) % userIDs.count]
                            let requests: [(HTTPRequest.Method, String, JSONValue?)] = [
                                (.get, "/Users?startIndex=1&count=50", nil),
                                (.get, "/Users?filter=" + "userName eq \"\(own)-1@example.com\"".percentEncoded, nil),
                                (.get, "/Users/\(id)", nil),
                                (
                                    .patch, "/Users/\(id)",
                                    [
                                        "schemas": [.string(SchemaURN.patchOp)],
                                        "Operations": [
                                            ["op": "replace", "path": "title", "value": .string("Round \(round)")]
                                        ],
                                    ]
                                ),
                            ]
                            let (method, path, body) = requests[round % requests.count]
                            let result = try await organisation.scim(method, path, json: body)
                            tally.record(status: result.status.code, leaked: result.text.contains(other))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (responses, leaks, serverErrors) = tally.totals
            print(
                "pooler isolation: \(responses) responses, \(leaks) with the other organisation's rows, \(serverErrors) 5xx"
            )
            #expect(responses == 8 * rounds)
            #expect(leaks == 0, "responses holding the other organisation's users")
            #expect(serverErrors == 0, "5xx responses")
        }
    }
}

/// Counts from many tasks at once.
private final class Tally: Sendable {
    private let counts = Mutex((responses: 0, leaks: 0, serverErrors: 0))

    func record(status: Int, leaked: Bool) {
        counts.withLock { counts in
            counts.responses += 1
            if leaked { counts.leaks += 1 }
            if status >= 500 { counts.serverErrors += 1 }
        }
    }

    var totals: (Int, Int, Int) { counts.withLock { ($0.responses, $0.leaks, $0.serverErrors) } }
}

extension String {
    /// Percent-encoded for a query string value.
    fileprivate var percentEncoded: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? self
    }
}
