import ArgumentParser
import CMalloc
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Postgres
import SCIMServer
import SCIMStore
import ServiceLifecycle
import UnixSignals

@main
struct SCIMServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scim-server",
        abstract: "Learn Amp SCIM 2.0 provisioning service.",
        subcommands: [Serve.self, Migrate.self, Org.self, Token.self],
        defaultSubcommand: Serve.self)

    /// Makes two process-wide settings before anything else runs, then parses the command line.
    ///
    /// Swift concurrency's jobs run on the NIO event loops that also serve HTTP (and that Hummingbird
    /// uses), instead of every request being handed between two thread pools: an awaited handler
    /// resumes on the loop that owns its connection, with no thread switch on the way in or out.
    /// Blocking libpq calls stay on the Postgres client's own threads. `SWIFT_EXECUTOR_TAKEOVER=false`
    /// turns it off.
    static func main() async {
        // A fixed threshold: glibc otherwise raises it to the size of the largest block freed, so the
        // megabyte-sized buffers of event flushes and big list pages end up in the heap and leave it
        // fragmented, and RSS grows steadily under load; with it fixed RSS stays flat.
        _ = cmalloc_set_mmap_threshold(128 * 1024)
        // Two malloc arenas instead of glibc's 8 per core: every thread that allocates under
        // contention gets an arena of its own (the event loops, each pooled connection's libpq
        // thread), each arena keeps its own free memory, and with a dozen of them peak RSS followed
        // the number of requests in flight. `MALLOC_ARENA_MAX` in the environment still wins.
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil {
            _ = cmalloc_set_arena_max(2)
        }
        if AppConfiguration.executorTakeover() {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await Self.main(nil)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Migrate, then serve HTTP until SIGTERM/SIGINT.")

    @Flag(help: "Create a demo organisation and print a SCIM token for it when there are no organisations yet.")
    var demo = false

    func run() async throws {
        let configuration = try AppConfiguration.fromEnvironment()
        // Process-wide logging (LOG_FORMAT) and metrics backends: once, before the first logger.
        let metrics = bootstrapObservability(configuration)
        let logger = makeLogger(configuration)
        if demo {
            try await Tools.withClient(configuration, logger: logger) { client, migrations in
                try await Migrator(migrations: migrations, logger: logger).migrate(client)
                let store = OrganisationStore(client: client, migrations: migrations)
                guard try await store.list().isEmpty else { return }
                let organisation = try await store.create(slug: "demo", name: "Demo Organisation")
                let (_, token) = try await TokenStore(client: client).issue(
                    organisationID: organisation.id, label: "demo", expiresAt: nil)
                let base = configuration.publicBaseURL ?? "http://\(configuration.host):\(configuration.port)"
                // Written straight to the file descriptor: print() is buffered when stdout is a pipe.
                FileHandle.standardOutput.write(
                    Data(
                        """

                        Demo organisation "demo" created.
                          SCIM base URL:   \(base)/scim/v2
                          SCIM token:      \(token)
                          (shown once; issue more with POST /admin/v1/organisations/demo/tokens)

                        """.utf8))
            }
        }
        let readiness = ReadinessGate()
        let app = try await buildApplication(configuration, logger: logger, metrics: metrics, readiness: readiness)
        // Shut down in reverse order: on SIGTERM the drain first turns /readyz to 503 and waits
        // SHUTDOWN_DRAIN_SECONDS, then the application stops accepting, finishes in-flight requests
        // and closes the pool.
        let group = ServiceGroup(
            configuration: .init(
                services: [app, ShutdownDrain(gate: readiness, drain: configuration.shutdownDrain)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending control and tenant migrations, then exit.")

    func run() async throws {
        let configuration = try AppConfiguration.fromEnvironment()
        let logger = makeLogger(configuration)
        try await Tools.withClient(configuration, logger: logger) { client, migrations in
            let tenants = try await Migrator(migrations: migrations, logger: logger).migrate(client)
            print("migrations applied; \(tenants) tenant schema(s) updated")
        }
    }
}

struct Org: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage organisations.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organisation and its schema.")
        @Option(help: "URL-safe identifier, e.g. acme.") var slug: String
        @Option(help: "Display name, e.g. \"Acme Ltd\".") var name: String

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            try await Tools.withClient(configuration, logger: makeLogger(configuration)) { client, migrations in
                try await Migrator(migrations: migrations, logger: makeLogger(configuration)).migrate(client)
                let organisation = try await OrganisationStore(client: client, migrations: migrations).create(
                    slug: slug, name: name)
                print(
                    "created organisation \(organisation.slug) (\(organisation.id)) in schema \(organisation.schemaName)"
                )
            }
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage SCIM tokens.", subcommands: [Issue.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a SCIM token; it is printed once and never stored.")
        @Option(help: "Organisation slug.") var org: String
        @Option(help: "Label, e.g. okta.") var label: String

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            try await Tools.withClient(configuration, logger: makeLogger(configuration)) { client, migrations in
                let organisation = try await OrganisationStore(client: client, migrations: migrations).find(slug: org)
                let (info, token) = try await TokenStore(client: client).issue(
                    organisationID: organisation.id, label: label, expiresAt: nil)
                print("token \(info.prefix) for \(organisation.slug) (shown once):\n\(token)")
            }
        }
    }
}

func makeLogger(_ configuration: AppConfiguration) -> Logger {
    var logger = Logger(label: "scim-server")
    logger.logLevel = configuration.logLevel
    return logger
}

/// Runs a one-off command with a pool that lives only as long as the command.
enum Tools {
    static func withClient(
        _ configuration: AppConfiguration, logger: Logger,
        _ body: @Sendable @escaping (PostgresClient, MigrationSet) async throws -> Void
    ) async throws {
        let migrations = try MigrationSet.load(from: configuration.sqlDirectory)
        var poolConfiguration = PostgresClient.Configuration(connectionString: configuration.databaseURL)
        poolConfiguration.maximumConnections = 2
        let client = PostgresClient(configuration: poolConfiguration, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            try await body(client, migrations)
        }
    }
}
