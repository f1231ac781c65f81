import Foundation
import Logging
@testable import Postgres
import Testing

@Suite("Connection pool against a real server")
struct PoolTests {
    @Test("200 concurrent queries over a pool of 8 all succeed")
    func concurrentQueries() async throws {
        try await withClient(configure: { $0.maximumConnections = 8; $0.waitTimeout = .seconds(30) }) { client in
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 1...200 {
                    group.addTask {
                        try await client.query("SELECT \(i) AS v, pg_sleep(0.005)")[0].decode("v")
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(sum == 200 * 201 / 2)
            let metrics = client.metrics
            #expect(metrics.connectionsOpened <= 8)
            #expect(metrics.inUse == 0 && metrics.waiting == 0)
        }
    }

    @Test("waiting longer than waitTimeout for a connection throws poolTimeout")
    func waitTimeout() async throws {
        try await withClient(configure: { $0.maximumConnections = 1; $0.waitTimeout = .milliseconds(200) }) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The holder keeps the only connection for 3 s; timing out must not wait for it (generous
                // bound: the suite runs in parallel on 2 shared cores).
                group.addTask { _ = try await client.query("SELECT pg_sleep(3)") }
                #expect(try await eventually { client.metrics.inUse == 1 })
                let started = ContinuousClock.now
                await #expect {
                    try await client.query("SELECT 1")
                } throws: { error in
                    let error = error as? PostgresError
                    return error?.code == .poolTimeout && error?.isTransient == true
                }
                #expect(ContinuousClock.now - started < .milliseconds(2500))
                #expect(client.metrics.waiting == 0)
                try await group.waitForAll()
            }
            #expect(try await client.query("SELECT 1 AS one").count == 1)
        }
    }

    @Test("a cancelled waiter leaves the queue at once")
    func cancelledWaiter() async throws {
        try await withClient(configure: { $0.maximumConnections = 1; $0.waitTimeout = .seconds(30) }) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await client.query("SELECT pg_sleep(1)") }
                #expect(try await eventually { client.metrics.inUse == 1 })
                let waiter = Task { try await client.query("SELECT 1") }
                #expect(try await eventually { client.metrics.waiting == 1 })
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                #expect(client.metrics.waiting == 0)
                try await group.waitForAll()
            }
        }
    }

    @Test("ping reports whether the database answers")
    func ping() async throws {
        try await withClient { client in
            #expect(await client.ping())
        }
        try await withClient(url: "postgresql://scim@127.0.0.1:1/scim", configure: { $0.connectionTimeout = .seconds(1) }) { client in
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
        let client = PostgresClient(configuration: .init(connectionString: try databaseURL()), logger: .init(label: "postgres-tests"))
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
        let environment = ProcessInfo.processInfo.environment
        guard let cluster = environment["SCIM_TEST_PG_CLUSTER"], let workdir = environment["SCIM_TEST_WORKDIR"] else {
            throw TestSetupError(description: "SCIM_TEST_PG_CLUSTER and SCIM_TEST_WORKDIR must be set: run the tests with scripts/test")
        }
        let port = try freePort()
        let directory = "\(workdir)/restart-\(UUID().uuidString.prefix(8))"
        try await runCluster(cluster, "start", directory, String(port))
        do {
            try await restartAndRecover(cluster: cluster, directory: directory, port: port)
            try await runCluster(cluster, "stop", directory)
        } catch {
            try? await runCluster(cluster, "stop", directory)
            throw error
        }
    }

    private func restartAndRecover(cluster: String, directory: String, port: Int) async throws {
        // Every statement prepared at once, so each connection has a cache for the restart to invalidate.
        let configure: (inout PostgresClient.Configuration) -> Void = { $0.maximumConnections = 4; preparing(true)(&$0) }
        try await withClient(url: "postgresql://scim@127.0.0.1:\(port)/scim", configure: configure) { client in
            // Open all four connections so every one of them is killed by the restart.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { _ = try await client.query("SELECT pg_sleep(0.2)") }
                }
                try await group.waitForAll()
            }
            #expect(client.metrics.idle == 4)

            try await runCluster(cluster, "restart", directory)

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
                            let names = try connection.query("SELECT coalesce(array_agg(name::text), '{}') AS names FROM pg_prepared_statements")
                            return (Set(connection.preparedStatementNames), Set(try names[0].decode("names", as: [String].self)))
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

/// Runs `scripts/pg-cluster`, awaiting its exit on a helper thread rather than a cooperative one.
///
/// `posix_spawn` rather than Foundation's `Process`: on Linux `Process` learns of the exit through a
/// socket the child inherits, and the server the script starts keeps that socket open forever.
private func runCluster(_ script: String, _ arguments: String...) async throws {
    let argv = ([script] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let spawnError = posix_spawn(&pid, script, nil, nil, argv, environ)
    guard spawnError == 0 else {
        throw TestSetupError(description: "could not run \(script): error \(spawnError)")
    }
    let child = pid
    let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
        Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            continuation.resume(returning: status)
        }.start()
    }
    guard status == 0 else {
        throw TestSetupError(description: "pg-cluster \(arguments.joined(separator: " ")) failed with wait status \(status)")
    }
}

/// A loopback port in 56000..<57000 that nothing listens on.
private func freePort() throws -> Int {
    for _ in 0..<50 {
        let port = 56000 + Int.random(in: 0..<1000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 {
            return port
        }
    }
    throw TestSetupError(description: "no free port found in 56000..<57000")
}
