import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import SCIM
import SCIMServer
import SCIMStore
import TestClusters
import Testing

@Suite("Postgres outage: 503 with Retry-After, and recovery without a restart")
struct OutageTests {
    @Test(
        "while Postgres is down SCIM and admin answer 503, /readyz 503, /healthz 200; afterwards all works again",
        .timeLimit(.minutes(2)))
    func outageAndRecovery() async throws {
        try await TestCluster.with("outage") { cluster in
            var configuration = try cluster.appConfiguration()
            configuration.poolSize = 3
            configuration.databaseConnectTimeout = .seconds(2)
            configuration.databaseWaitTimeout = .seconds(2)
            configuration.databaseStatementTimeout = .seconds(5)
            // An outage longer than the requests ride out: they end in clean 503s. How long a 503 may
            // take is the pool's and the connection's deadlines, tested with their own clocks in
            // PostgresTests; here every route must answer, and answer 503, rather than hang or fail.
            configuration.databaseOutageRetry = .seconds(1)
            let app = try await buildApplication(configuration, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                let api = TestClient(client: client)
                let org = try await api.organisation("outage")
                let id = try await org.createUser("before@outage.com")
                #expect(try await api.request(.get, "/readyz", bearer: nil).status == .ok)

                try await cluster.stop()

                let requests: [(HTTPRequest.Method, String, JSONValue?)] = [
                    (.get, "/Users/\(id)", nil),
                    (.get, "/Users?filter=\(Users.encode("userName eq \"before@outage.com\""))", nil),
                    (.post, "/Users", Users.body("during@outage.com")),
                    (.patch, "/Users/\(id)", Users.patch(["op": "replace", "path": "title", "value": "Down"])),
                    (.get, "/Groups", nil),
                ]
                for (method, path, body) in requests {
                    let result = try await org.scim(method, path, json: body)
                    expectSCIMError(result, .serviceUnavailable)
                    #expect(
                        result.headers[.retryAfter].flatMap(Int.init).map { $0 > 0 } == true,
                        "\(method) \(path): no Retry-After")
                }
                // The token lookup itself fails: that is an outage (503), never a bad token (401).
                // A well-formed token no cache can know, so the lookup must reach the database.
                let unknownToken = try await api.request(
                    .get, "/scim/v2/Users", bearer: "lascim_AAAAAAAAAAAA_" + String(repeating: "x", count: 43))
                expectSCIMError(unknownToken, .serviceUnavailable)

                let admin = try await api.admin(.get, "/organisations/\(org.slug)")
                #expect(admin.status == .serviceUnavailable, "\(admin.text)")
                #expect(admin.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(admin["error"]?.stringValue == "unavailable")

                let ready = try await api.request(.get, "/readyz", bearer: nil)
                #expect(ready.status == .serviceUnavailable)
                #expect(try await api.request(.get, "/healthz", bearer: nil).status == .ok)

                try await cluster.start()

                // The pool reconnects by itself: at most one failed attempt per broken pooled connection.
                var answered: TestResult?
                for _ in 0..<20 {
                    let result = try await org.scim(.get, "/Users/\(id)")
                    if result.status == .ok {
                        answered = result
                        break
                    }
                    #expect(result.status == .serviceUnavailable, "\(result.text)")
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(answered?["userName"]?.stringValue == "before@outage.com")
                #expect(try await api.request(.get, "/readyz", bearer: nil).status == .ok)
                let created = try await org.scim(.post, "/Users", json: Users.body("after@outage.com"))
                #expect(created.status == .created, "\(created.text)")
                #expect(try await api.admin(.get, "/organisations/\(org.slug)").status == .ok)
                // The POST refused during the outage left nothing behind.
                #expect(try await org.matching("userName eq \"during@outage.com\"") == [])
            }
        }
    }

    @Test(
        "a restart shorter than DB_RETRY_SECONDS is ridden out: every request succeeds, nothing twice",
        .timeLimit(.minutes(2)))
    func shortOutageIsRiddenOut() async throws {
        try await TestCluster.with("short-outage") { cluster in
            var configuration = try cluster.appConfiguration()
            configuration.poolSize = 4
            configuration.databaseConnectTimeout = .seconds(2)
            configuration.databaseWaitTimeout = .seconds(5)
            configuration.databaseOutageRetry = .seconds(20)
            let app = try await buildApplication(configuration, logger: TestDatabase.logger)
            try await app.test(.router) { client in
                let api = TestClient(client: client)
                let org = try await api.organisation("short")
                let id = try await org.createUser("before@short.com")

                try await cluster.stop()
                let results = try await withThrowingTaskGroup(of: (String, TestResult)?.self) { group in
                    group.addTask {
                        // Back well inside the window, after every request below has met the outage.
                        try await Task.sleep(for: .seconds(1))
                        try await cluster.start()
                        return nil
                    }
                    let requests: [(String, HTTPRequest.Method, String, JSONValue?)] = [
                        ("get", .get, "/Users/\(id)", nil),
                        ("lookup", .get, "/Users?filter=\(Users.encode("userName eq \"before@short.com\""))", nil),
                        ("post", .post, "/Users", Users.body("during@short.com")),
                        (
                            "patch", .patch, "/Users/\(id)",
                            Users.patch(["op": "replace", "path": "title", "value": "Back"])
                        ),
                        ("groups", .get, "/Groups", nil),
                    ]
                    for (label, method, path, body) in requests {
                        group.addTask { (label, try await org.scim(method, path, json: body)) }
                    }
                    var results: [String: TestResult] = [:]
                    for try await case let (label, result)? in group { results[label] = result }
                    return results
                }
                let statuses = results.mapValues(\.status.code)
                print("short outage: statuses \(statuses.sorted { $0.key < $1.key })")
                #expect(results["get"]?.status == .ok)
                #expect(results["lookup"]?["totalResults"] == 1)
                #expect(results["post"]?.status == .created, "\(results["post"]?.text ?? "")")
                #expect(results["patch"]?["title"]?.stringValue == "Back")
                #expect(results["groups"]?.status == .ok)
                #expect(try await org.matching("userName eq \"during@short.com\"").count == 1, "created once")
            }
        }
    }

    @Test(
        "a statement cut off by DB_STATEMENT_TIMEOUT_SECONDS is a 503 with Retry-After, not a hang or a 500",
        .timeLimit(.minutes(1)))
    func statementTimeout() async throws {
        var configuration = try TestDatabase.configuration()
        configuration.databaseStatementTimeout = .seconds(1)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        let databaseURL = configuration.databaseURL
        try await app.test(.router) { client in
            let org = try await TestClient(client: client).organisation("stmt")
            let id = try await org.createUser(Users.email("slow"))
            // Another session holds the users table: the PATCH can only answer while the lock is held if
            // the statement timeout cuts its wait short.
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            try await withTableLock("users", of: schema, mode: "ACCESS EXCLUSIVE", databaseURL: databaseURL) { lock in
                let result = try await org.patchUser(id, ["op": "replace", "path": "title", "value": "Slow"])
                expectSCIMError(result, .serviceUnavailable)
                #expect(result.headers[.retryAfter] != nil)
                #expect(try await lock.isHeld(), "the 503 came while the lock was still held")
            }
            #expect(try await org.patchUser(id, ["op": "replace", "path": "title", "value": "Fast"]).status == .ok)
        }
    }
}

extension TestCluster {
    /// The test configuration, pointed at this cluster.
    func appConfiguration() throws -> AppConfiguration {
        var configuration = try TestDatabase.configuration()
        configuration.databaseURL = url
        return configuration
    }
}
