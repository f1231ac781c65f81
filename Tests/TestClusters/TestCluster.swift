import Foundation

/// A private Postgres cluster for one test (`scripts/pg-cluster` on a free loopback port), which the
/// test may stop, start and restart; always stopped at the end. For the tests that take a server away
/// (pool recovery, outages); everything else shares the suite's cluster through `DATABASE_URL`.
///
/// Runs the script with `posix_spawn` (`spawnAndWait`): Foundation's `Process` learns of the exit
/// through a descriptor the server inherits and keeps open, so it would wait forever.
public struct TestCluster: Sendable {
    public let script: String
    public let directory: String
    public let port: Int

    public var url: String { "postgresql://scim@127.0.0.1:\(port)/scim" }

    /// Starts a fresh cluster, runs `body`, and stops the cluster whatever happens.
    /// - Throws: `ClusterError` when `SCIM_TEST_PG_CLUSTER`/`SCIM_TEST_WORKDIR` are unset (run the
    ///   tests with `scripts/test`) or the cluster cannot start; else what `body` throws.
    public static func with<R: Sendable>(_ name: String, _ body: (TestCluster) async throws -> R) async throws -> R {
        let environment = ProcessInfo.processInfo.environment
        guard let script = environment["SCIM_TEST_PG_CLUSTER"], let workdir = environment["SCIM_TEST_WORKDIR"] else {
            throw ClusterError(
                description: "SCIM_TEST_PG_CLUSTER and SCIM_TEST_WORKDIR must be set: run the tests with scripts/test")
        }
        let cluster = TestCluster(
            script: script, directory: "\(workdir)/\(name)-\(UUID().uuidString.prefix(8).lowercased())",
            port: try freePort())
        try await cluster.start()
        do {
            let result = try await body(cluster)
            try await cluster.stop()
            return result
        } catch {
            try? await cluster.stop()
            throw error
        }
    }

    public func start() async throws { try await run("start", directory, String(port)) }
    public func stop() async throws { try await run("stop", directory) }
    public func restart() async throws { try await run("restart", directory) }

    private func run(_ arguments: String...) async throws {
        // A throwaway cluster need not survive a power cut.
        try await spawnAndWait(script, arguments, environment: ["PG_FSYNC": "off"])
    }

    /// A loopback port in 27000..<29000 that nothing is bound to: below the kernel's ephemeral range
    /// (32768-60999), so no outgoing connection can take it between this probe and Postgres's bind.
    private static func freePort() throws -> Int {
        for _ in 0..<50 {
            let port = 27000 + Int.random(in: 0..<2000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0 { return port }
        }
        throw ClusterError(description: "no free port found in 27000..<29000")
    }
}

/// Runs a program (found on PATH) and awaits its exit on a helper thread rather than a cooperative one.
/// `quiet` sends the program's standard error to /dev/null (openssl's progress dots).
/// - Throws: `ClusterError` when it cannot be started or exits unsuccessfully.
public func spawnAndWait(
    _ program: String, _ arguments: [String], environment extra: [String: String] = [:], quiet: Bool = false
) async throws {
    let argv = ([program] + arguments).map { strdup($0) } + [nil]
    let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if quiet { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
    var pid = pid_t()
    let spawnError = posix_spawnp(&pid, program, &actions, nil, argv, envp)
    guard spawnError == 0 else { throw ClusterError(description: "could not run \(program): error \(spawnError)") }
    let child = pid
    let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
        Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            continuation.resume(returning: status)
        }.start()
    }
    guard status == 0 else {
        throw ClusterError(
            description: "\(program) \(arguments.joined(separator: " ")) failed with wait status \(status)")
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public var description: String
}
