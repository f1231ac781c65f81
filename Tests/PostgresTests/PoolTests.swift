import Foundation
import Logging
import TestClusters
import Testing

@testable import Postgres

@Suite("Connection pool against a real server")
struct PoolTests {
    @Test("200 concurrent queries over a pool of 8 all succeed")
    func concurrentQueries() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 8
            $0.waitTimeout = .seconds(30)
        }) { client in
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 1...200 {
                    group.addTask {
                        try await client.query("SELECT \(i) AS v, pg_sleep(0.005)")[0].decode("v")
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(sum == 200 * 201 / 2)
            #expect(client.metrics.connectionsOpened <= 8)
            // A caller is resumed just before its connection goes back.
            #expect(try await eventually { client.metrics.inUse == 0 && client.metrics.waiting == 0 })
        }
    }

    @Test("waiting longer than waitTimeout for a connection throws poolTimeout")
    func waitTimeout() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.waitTimeout = .milliseconds(200)
        }) { client in
            // The only connection stays busy until the waiter has timed out, however slow the machine:
            // the waiter's error arriving while the holder still holds it shows it did not wait for it.
            let release = DispatchSemaphore(value: 0)
            let holder = Task { try await client.withConnection { _ in release.wait() } }
            #expect(try await eventually { client.metrics.inUse == 1 })
            await #expect {
                try await client.query("SELECT 1")
            } throws: { error in
                let error = error as? PostgresError
                return error?.code == .poolTimeout && error?.isTransient == true
            }
            #expect(client.metrics.inUse == 1, "the holder still holds the connection")
            #expect(client.metrics.waiting == 0)
            release.signal()
            try await holder.value
            #expect(try await client.query("SELECT 1 AS one").count == 1)
        }
    }

    @Test("a cancelled waiter leaves the queue at once")
    func cancelledWaiter() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.waitTimeout = .seconds(30)
        }) { client in
            // The only connection stays busy until the waiter has been cancelled, however slow the machine.
            let release = DispatchSemaphore(value: 0)
            let holder = Task { try await client.withConnection { _ in release.wait() } }
            #expect(try await eventually { client.metrics.inUse == 1 })
            let waiter = Task { try await client.query("SELECT 1") }
            #expect(try await eventually { client.metrics.waiting == 1 })
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            #expect(client.metrics.waiting == 0)
            release.signal()
            try await holder.value
        }
    }

    @Test("a queued caller's body starts on the thread that released the connection, not via the caller's executor")
    func handOverNeedsNoExecutorHop() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.waitTimeout = .seconds(30)
        }) { client in
            let release = DispatchSemaphore(value: 0)
            let holder = Task { try await client.withConnection { _ in release.wait() } }
            #expect(try await eventually { client.metrics.inUse == 1 })
            let executor = QueueExecutor()
            let bodyStarted = DispatchSemaphore(value: 0)
            let queued = Task(executorPreference: executor) {
                try await client.withConnection { connection -> Int in
                    bodyStarted.signal()
                    return try connection.query("SELECT 2 AS v")[0].decode("v")
                }
            }
            #expect(try await eventually { client.metrics.waiting == 1 })
            // Block the queued caller's executor, then let the holder go, and wait for the body to start:
            // had the hand-over gone through the caller's task, it could not start in time.
            let started = await withCheckedContinuation { continuation in
                executor.queue.async {
                    release.signal()
                    continuation.resume(returning: bodyStarted.wait(timeout: .now() + 5) == .success)
                }
            }
            #expect(started)
            _ = try await holder.value
            #expect(try await queued.value == 2)
            #expect(try await eventually { client.metrics.inUse == 0 && client.metrics.waiting == 0 })
        }
    }

    @Test("a caller whose home connection serves another tenant holds out for it, then takes an idle one")
    func holdsOutForHomeThenVisits() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 2
            $0.waitTimeout = .seconds(30)
        }) { client in
            let tenants = (0..<100).map { "tenant\($0)" }
            let inBucket0 = tenants.filter { client.bucket(forAffinity: $0) == 0 }
            let (other, caller) = (inBucket0[0], inBucket0[1])
            let elsewhere = tenants.first { client.bucket(forAffinity: $0) == 1 }!
            // The first connection (home 0) is kept busy with another tenant of the caller's bucket...
            let release = DispatchSemaphore(value: 0)
            let busy = Task {
                try await PostgresClient.$affinity.withValue(other) {
                    try await client.withConnection { _ in _ = release.wait(timeout: .now() + 20) }
                }
            }
            #expect(try await eventually { client.metrics.inUse == 1 })
            // ...and the second (home 1) is idle.
            _ = try await PostgresClient.$affinity.withValue(elsewhere) { try await client.query("SELECT 1") }
            #expect(try await eventually { client.metrics.idle == 1 })
            let visitsBefore = client.metrics.visitedLeases
            let served = Task {
                try await PostgresClient.$affinity.withValue(caller) {
                    try await client.query("SELECT 3 AS v")[0].decode("v", as: Int.self)
                }
            }
            // Served by the idle connection once the hold ends, long before the busy one is released.
            #expect(try await eventually { client.metrics.visitedLeases == visitsBefore + 1 })
            #expect(try await served.value == 3)
            release.signal()
            try await busy.value
        }
    }

    @Test("ping reports whether the database answers")
    func ping() async throws {
        try await withClient { client in
            #expect(await client.ping())
        }
        try await withClient(
            url: "postgresql://scim@127.0.0.1:1/scim", configure: { $0.connectionTimeout = .seconds(1) }
        ) { client in
            #expect(await !client.ping())
            await #expect {
                try await client.query("SELECT 1")
            } throws: { error in
                let error = error as? PostgresError
                return error?.code == .connectionFailure && error?.isTransient == true
            }
        }
    }

    @Test("after shutdown, calls fail with poolShutdown")
    func shutdown() async throws {
        let client = PostgresClient(
            configuration: .init(connectionString: try databaseURL()), logger: .init(label: "postgres-tests"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            #expect(try await client.query("SELECT 1 AS one").count == 1)
            group.cancelAll()
            try await group.waitForAll()
        }
        await #expect { try await client.query("SELECT 1") } throws: { ($0 as? PostgresError)?.code == .poolShutdown }
    }

    @Test("after a real server restart the next queries succeed without restarting the client", .timeLimit(.minutes(2)))
    func recoversAfterRestart() async throws {
        try await TestCluster.with("restart") { cluster in try await restartAndRecover(cluster) }
    }

    private func restartAndRecover(_ cluster: TestCluster) async throws {
        // Every statement prepared at once, so each connection has a cache for the restart to invalidate.
        let configure: (inout PostgresClient.Configuration) -> Void = {
            $0.maximumConnections = 4
            preparing(true)(&$0)
        }
        try await withClient(url: cluster.url, configure: configure) { client in
            // Open all four connections so every one of them is killed by the restart.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { _ = try await client.query("SELECT pg_sleep(0.2)") }
                }
                try await group.waitForAll()
            }
            #expect(try await eventually { client.metrics.idle == 4 })

            try await cluster.restart()

            var failures = 0
            var answered = false
            for _ in 0..<5 where !answered {
                do {
                    answered = try await client.query("SELECT 1 AS one")[0].decode("one") == 1
                } catch let error as PostgresError {
                    #expect(error.isTransient, "\(error)")
                    failures += 1
                }
            }
            #expect(answered)
            #expect(failures <= 1)
            // Every pooled connection works again, not just the first one.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { _ = try await client.query("SELECT pg_sleep(0.05)") }
                }
                try await group.waitForAll()
            }
            // Reconnected connections forgot the old session's statements: what each one thinks it has
            // prepared, the server has.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let (cached, onServer) = try await client.withConnection { connection in
                            let names = try connection.query(
                                "SELECT coalesce(array_agg(name::text), '{}') AS names FROM pg_prepared_statements")
                            return (
                                Set(connection.preparedStatementNames),
                                Set(try names[0].decode("names", as: [String].self))
                            )
                        }
                        #expect(cached.isSubset(of: onServer))
                        #expect(!cached.isEmpty)
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// A task executor on one serial queue, so a test can block a task's executor on purpose.
private final class QueueExecutor: TaskExecutor {
    let queue = DispatchQueue(label: "pool-tests.executor")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
