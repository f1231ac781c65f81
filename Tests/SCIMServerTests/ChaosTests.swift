import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SCIM
import SCIMServer
import Synchronization
import TestClusters
import Testing

@Suite("Chaos: Postgres restarts in the middle of a stream of SCIM writes")
struct ChaosTests {
    @Test(
        "a restart inside DB_RETRY_SECONDS: no client-visible failure, nothing lost, nothing twice",
        .timeLimit(.minutes(2)))
    func restartUnderLoad() async throws {
        // Longer than any restart here takes, even on a loaded machine: the requests ride it out.
        let figures = try await Self.run("chaos", outageRetry: .seconds(20)) { cluster in
            try await Task.sleep(for: .seconds(4))
            try await cluster.restart()
        }
        print("chaos: \(figures)")
        #expect(figures.unavailable == 0, "503s while the restart was ridden out")
        Self.expectNothingLost(figures)
    }

    @Test(
        "an outage longer than DB_RETRY_SECONDS: clean 503s, each retried afterwards; nothing lost, nothing twice",
        .timeLimit(.minutes(2)))
    func outageLongerThanTheRetry() async throws {
        let figures = try await Self.run("chaos-long", outageRetry: .seconds(1)) { cluster in
            try await Task.sleep(for: .seconds(3))
            try await cluster.stop()
            // Three times the retry window: the requests meeting it give up with 503.
            try await Task.sleep(for: .seconds(3))
            try await cluster.start()
        }
        print("chaos, outage longer than the retry: \(figures)")
        #expect(figures.unavailable > 0, "the outage outlasted the retry window")
        Self.expectNothingLost(figures)
    }

    /// Eight workers' writes for 12 seconds against a private cluster, while `disturb` acts on it; then
    /// every 503 is retried and every user checked.
    static func run(
        _ name: String, outageRetry: Duration, disturb: @escaping @Sendable (TestCluster) async throws -> Void
    ) async throws -> ChaosRun.Figures {
        try await TestCluster.with(name) { cluster in
            var configuration = try cluster.appConfiguration()
            configuration.poolSize = 8
            configuration.databaseConnectTimeout = .seconds(2)
            configuration.databaseWaitTimeout = .seconds(3)
            configuration.databaseStatementTimeout = .seconds(5)
            configuration.databaseOutageRetry = outageRetry
            // The stream is faster than a tenant's default budget; a 429 here would hide what is tested.
            configuration.rateLimits.requestsPerSecond = 100_000
            configuration.rateLimits.burst = 100_000
            let app = try await buildApplication(configuration, logger: TestDatabase.logger)
            return try await app.test(.router) { client in
                let api = TestClient(client: client)
                let org = try await api.organisation(name)
                let run = ChaosRun(organisation: org, workers: 8, duration: .seconds(12))
                let users = try await withThrowingTaskGroup(of: [ChaosRun.TrackedUser]?.self) { group in
                    group.addTask {
                        try await disturb(cluster)
                        return nil
                    }
                    for worker in 0..<run.workers {
                        group.addTask { try await run.work(worker) }
                    }
                    var users: [ChaosRun.TrackedUser] = []
                    for try await batch in group { users += batch ?? [] }
                    return users
                }
                #expect(try await run.waitUntilReady(api), "/readyz never recovered")
                return try await run.retryAndVerify(users)
            }
        }
    }

    static func expectNothingLost(_ figures: ChaosRun.Figures, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(figures.sent > 0 && figures.acknowledged > 0, sourceLocation: sourceLocation)
        #expect(
            figures.unexpected.isEmpty, "statuses other than 2xx/503: \(figures.unexpected.prefix(5))",
            sourceLocation: sourceLocation)
        #expect(
            figures.retryFailures.isEmpty, "503s whose retry failed: \(figures.retryFailures.prefix(5))",
            sourceLocation: sourceLocation)
        #expect(
            figures.lost.isEmpty, "acknowledged writes missing or different: \(figures.lost.prefix(5))",
            sourceLocation: sourceLocation)
        #expect(
            figures.duplicates.isEmpty, "userNames held by more than one user: \(figures.duplicates.prefix(5))",
            sourceLocation: sourceLocation)
    }
}

/// A stream of creates and updates from concurrent workers, and the checks after it.
///
/// Each worker creates a user, then updates it (PUT and PATCH in turn) a few times, then moves on to
/// a new user. The first 503 on a user retires it with that request pending: once Postgres is back,
/// the pending request is retried, so every user's last write is the one whose data must be stored.
final class ChaosRun: Sendable {
    let organisation: TestOrganisation
    let workers: Int
    let duration: Duration
    let updatesPerUser = 5

    /// A write and the user data it sets.
    struct Write: Sendable, CustomStringConvertible {
        enum Kind: String, Sendable {
            case post = "POST"
            case put = "PUT"
            case patch = "PATCH"
        }
        var kind: Kind
        var userName: String
        var id: String?
        var title: String
        var givenName: String

        var body: JSONValue {
            switch kind {
            case .post, .put:
                Users.body(userName, given: givenName, extra: ["title": .string(title)])
            case .patch:
                Users.patch(
                    ["op": "replace", "path": "title", "value": .string(title)],
                    ["op": "replace", "path": "name.givenName", "value": .string(givenName)])
            }
        }

        var method: HTTPRequest.Method {
            switch kind {
            case .post: .post
            case .put: .put
            case .patch: .patch
            }
        }

        var path: String { kind == .post ? "/Users" : "/Users/\(id!)" }
        var description: String { "\(kind.rawValue) \(userName) title=\(title)" }
    }

    /// What a worker knows about one user: its last acknowledged write, and the one that got a 503.
    struct TrackedUser: Sendable {
        var userName: String
        var id: String?
        var acknowledged: Write?
        var pending: Write?
    }

    struct Figures: Sendable, CustomStringConvertible {
        var sent = 0
        var acknowledged = 0
        var unavailable = 0
        var unexpected: [String] = []
        var retriedOK = 0
        /// Retried POSTs answered 409 because the first attempt had committed after all; the user was
        /// then found with the data sent.
        var retriedFoundCommitted = 0
        var retryFailures: [String] = []
        var users = 0
        var lost: [String] = []
        var duplicates: [String] = []

        var description: String {
            "requests sent \(sent), 2xx \(acknowledged), 503 \(unavailable), other \(unexpected.count); "
                + "503s retried OK \(retriedOK) (of which POSTs that had committed, answered 409: \(retriedFoundCommitted)), "
                + "retry failures \(retryFailures.count); users checked \(users), lost \(lost.count), duplicates \(duplicates.count)"
        }
    }

    private let figures = Mutex(Figures())

    init(organisation: TestOrganisation, workers: Int, duration: Duration) {
        self.organisation = organisation
        self.workers = workers
        self.duration = duration
    }

    /// One worker's stream of writes until `duration` has passed.
    func work(_ worker: Int) async throws -> [TrackedUser] {
        let deadline = ContinuousClock.now + duration
        var users: [TrackedUser] = []
        var serial = 0
        while ContinuousClock.now < deadline {
            serial += 1
            let userName = "w\(worker)-\(serial)-\(UUID().uuidString.prefix(6).lowercased())@chaos.test"
            var user = TrackedUser(userName: userName)
            for step in 0...updatesPerUser where ContinuousClock.now < deadline {
                let kind: Write.Kind = step == 0 ? .post : (step.isMultiple(of: 2) ? .put : .patch)
                let write = Write(
                    kind: kind, userName: userName, id: user.id, title: "T\(step)", givenName: "G\(worker)x\(step)")
                let result = try await organisation.scim(write.method, write.path, json: write.body)
                let status = result.status.code
                figures.withLock { $0.sent += 1 }
                if (200..<300).contains(status) {
                    figures.withLock { $0.acknowledged += 1 }
                    if kind == .post { user.id = result["id"]?.stringValue }
                    user.acknowledged = write
                } else if status == 503 {
                    figures.withLock { $0.unavailable += 1 }
                    user.pending = write
                    break
                } else {
                    figures.withLock { $0.unexpected.append("\(write): \(status) \(result.text.prefix(300))") }
                    break
                }
            }
            if user.acknowledged != nil || user.pending != nil { users.append(user) }
        }
        return users
    }

    /// Polls `/readyz` for up to 30 s.
    func waitUntilReady(_ api: TestClient) async throws -> Bool {
        for _ in 0..<120 {
            if try await api.request(.get, "/readyz", bearer: nil).status == .ok { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Retries every pending write, then checks every user against its last write and counts users per userName.
    func retryAndVerify(_ users: [TrackedUser]) async throws -> Figures {
        let checked = try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in 0..<workers {
                let mine = stride(from: slice, to: users.count, by: workers).map { users[$0] }
                group.addTask {
                    for var user in mine {
                        if let pending = user.pending {
                            guard let id = try await self.retry(pending) else { continue }
                            user.id = id
                            user.acknowledged = pending
                        }
                        try await self.verify(user)
                    }
                }
            }
            try await group.waitForAll()
            return users.count
        }
        return figures.withLock {
            $0.users = checked
            return $0
        }
    }

    /// Sends a 503'd write again; a few more 503s are tolerated while the pool reconnects.
    /// - Returns: The user's id, or nil when the retry failed (recorded).
    private func retry(_ write: Write) async throws -> String? {
        for attempt in 0..<10 {
            let result = try await organisation.scim(write.method, write.path, json: write.body)
            switch result.status.code {
            case 200, 201:
                figures.withLock { $0.retriedOK += 1 }
                return result["id"]?.stringValue ?? write.id
            case 409 where write.kind == .post:
                // The first attempt committed but its answer was lost: the user must be there, once.
                let found = try await organisation.filter("userName eq \"\(write.userName)\"")
                let ids = Users.ids(found)
                guard ids.count == 1 else {
                    figures.withLock { $0.retryFailures.append("\(write): 409 but \(ids.count) users found") }
                    return nil
                }
                figures.withLock {
                    $0.retriedOK += 1
                    $0.retriedFoundCommitted += 1
                }
                return ids[0]
            case 503 where attempt < 9:
                try await Task.sleep(for: .milliseconds(300))
            default:
                figures.withLock {
                    $0.retryFailures.append("\(write): \(result.status.code) \(result.text.prefix(300))")
                }
                return nil
            }
        }
        return nil
    }

    /// The stored user equals its last write, and its userName is held by it alone.
    private func verify(_ user: TrackedUser) async throws {
        guard let id = user.id, let expected = user.acknowledged else {
            figures.withLock { $0.lost.append("\(user.userName): acknowledged without an id") }
            return
        }
        let stored = try await organisation.scim(.get, "/Users/\(id)")
        let same =
            stored.status == .ok && stored["userName"]?.stringValue == user.userName
            && stored["title"]?.stringValue == expected.title
            && stored.json?.at("name", "givenName")?.stringValue == expected.givenName
        if !same {
            figures.withLock { $0.lost.append("\(expected) → \(stored.status.code) \(stored.text.prefix(300))") }
        }
        let holders = Users.ids(try await organisation.filter("userName eq \"\(user.userName)\""))
        if holders.count != 1 {
            figures.withLock { $0.duplicates.append("\(user.userName): \(holders.count)") }
        }
    }
}
