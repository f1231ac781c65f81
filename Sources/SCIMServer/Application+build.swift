import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import Postgres
import SCIM
import SCIMConsole
import SCIMStore
import ServiceLifecycle

/// The one composition root: `scim-server serve` and the tests build the same application here.
///
/// The Postgres pool is a service of the application's `ServiceGroup`; migrations run before the
/// server accepts connections; SIGTERM stops accepting, lets in-flight requests finish, then closes
/// the pool.
///
/// `metrics` holds the Prometheus registry behind `/metrics`; `scim-server serve` passes the one
/// from `bootstrapObservability`, tests let each application have its own.
///
/// `readiness` is what `/readyz` consults before the database: `scim-server serve` closes it through
/// `ShutdownDrain` when SIGTERM arrives, so the load balancer stops routing here before the listener closes.
///
/// `coherence` decides how long cached control data is trusted; tests pass one on a clock they move.
/// - Throws: `ConfigurationError` when the TLS certificate or key cannot be loaded.
public func buildApplication(
    _ configuration: AppConfiguration, logger: Logger, metrics: ServiceMetrics = ServiceMetrics(),
    readiness: ReadinessGate = ReadinessGate(), coherence: CacheCoherence = CacheCoherence(),
    consoleClock: ConsoleClock = .system
) async throws -> some ApplicationProtocol {
    let migrations = try MigrationSet.load(from: configuration.sqlDirectory)
    var poolConfiguration = PostgresClient.Configuration(connectionString: configuration.databaseURL)
    poolConfiguration.maximumConnections = configuration.poolSize
    if let preparedStatements = configuration.preparedStatements {
        poolConfiguration.preparedStatements = preparedStatements
    }
    poolConfiguration.preparedStatementCacheSize = configuration.statementCacheSize
    poolConfiguration.connectionTimeout = configuration.databaseConnectTimeout
    poolConfiguration.waitTimeout = configuration.databaseWaitTimeout
    poolConfiguration.statementTimeout = configuration.databaseStatementTimeout
    poolConfiguration.outageRetry = configuration.databaseOutageRetry
    // Rounded up: with 10 connections and 50%, an organisation keeps 5 while others wait.
    poolConfiguration.tenantShare = (configuration.poolSize * configuration.poolShareOfOrganisation + 99) / 100
    let client = PostgresClient(configuration: poolConfiguration, logger: logger)
    // Background writes (the read events' flushes, the event purge) get connections of their own: on
    // the request pool a flush would hold some organisations' home connection, and their requests
    // would go to sessions where their statements are cold, parsed and planned again.
    // Their statements are per organisation and seldom repeat on a connection: none is prepared.
    var backgroundConfiguration = poolConfiguration
    backgroundConfiguration.maximumConnections = EventFlushService.parallelFlushes
    backgroundConfiguration.preparedStatements = false
    backgroundConfiguration.applicationName = "scim-server-background"
    let backgroundClient = PostgresClient(configuration: backgroundConfiguration, logger: logger)
    let events = EventBuffer()
    let router = try buildRouter(
        configuration, client: client, backgroundClient: backgroundClient, migrations: migrations, metrics: metrics,
        events: events,
        coherence: coherence, readiness: readiness, consoleClock: consoleClock)

    let purger = EventPurger(
        client: backgroundClient, retentionDays: configuration.eventRetentionDays,
        interval: configuration.eventPurgeInterval,
        metrics: metrics, logger: logger)

    let organisationPurger = OrganisationPurger(
        lifecycle: OrganisationLifecycle(client: backgroundClient, graceDays: configuration.organisationPurgeGraceDays),
        interval: configuration.eventPurgeInterval, logger: logger)

    // The purge deletes every organisation's expired tokens, so it goes by the system clock even where
    // `configuration.clock` is moved (tests sharing one database); `AccessTokenPurger`'s tests pass
    // a store on a clock of their own and their own organisation.
    let accessTokenPurger = AccessTokenPurger(
        oauth: OAuthClientStore(
            client: backgroundClient, accessTokenLifetime: configuration.oauthAccessTokenLifetime,
            now: { Date() }),
        interval: configuration.eventPurgeInterval, metrics: metrics, logger: logger)

    var app = Application(
        router: router,
        server: .guarded(
            tls: try configuration.tls?.serverConfiguration(), settings: configuration.connections, metrics: metrics),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "learnamp-scim"),
        services: [
            client, backgroundClient, purger, organisationPurger, accessTokenPurger,
            ErasureFollowUpService(client: backgroundClient, logger: logger),
            EventFlushService(buffer: events, client: backgroundClient, logger: logger),
            CacheCoherenceService(coherence: coherence, client: client, logger: logger),
            OrganisationMetricsService(
                client: backgroundClient, metrics: metrics, interval: configuration.organisationMetricsInterval,
                scope: configuration.organisationMetricsScope, logger: logger),
        ],
        logger: logger)
    app.beforeServerStarts {
        try await Migrator(migrations: migrations, logger: logger).migrate(client)
    }
    return app
}

func buildRouter(
    _ configuration: AppConfiguration, client: PostgresClient, backgroundClient: PostgresClient,
    migrations: MigrationSet,
    metrics: ServiceMetrics, events: EventBuffer, coherence: CacheCoherence = CacheCoherence(),
    readiness: ReadinessGate = ReadinessGate(), consoleClock: ConsoleClock = .system
) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: ErrorResponseMiddleware())
    router.add(middleware: HostHeaderMiddleware(publicBaseURL: configuration.publicBaseURL))
    router.add(middleware: QueryNULMiddleware())

    router.get("healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: .init(string: "ok\n"))) }
    router.get("readyz") { _, _ in
        if readiness.isDraining {
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: .init(string: "shutting down\n")))
        }
        return await client.ping()
            ? Response(status: .ok, body: .init(byteBuffer: .init(string: "ready\n")))
            : Response(status: .serviceUnavailable, body: .init(byteBuffer: .init(string: "database unavailable\n")))
    }
    MetricsController(
        metrics: metrics, pools: [.request: client, .background: backgroundClient], events: events,
        token: configuration.metricsToken
    ).addRoutes(to: router)

    let organisations = OrganisationStore(client: client, migrations: migrations)
    let tokens = TokenStore(client: client)
    let mappingCache = CustomFieldCache(coherence: coherence)
    let customFields = CustomFieldStore(client: client, cache: mappingCache)
    let groups = GroupStore(client: client)
    let settings = SCIMSettings(limits: configuration.limits, publicBaseURL: configuration.publicBaseURL)

    let rateLimits = configuration.rateLimits
    let failedAuth = FailedAuthLimiter(rateLimits, coherence: coherence, clock: configuration.rateLimitClock)
    let oauth = OAuthClientStore(
        client: client, accessTokenLifetime: configuration.oauthAccessTokenLifetime, now: configuration.clock)
    let authenticator = CachedTokenAuthenticator(
        tokens: tokens, oauth: oauth, coherence: coherence, date: configuration.clock)
    let adminAuth = AdminAuthMiddleware(adminToken: configuration.adminToken, staffKeys: StaffKeyStore(client: client))
    let admin = router.group("admin/v1")
        .add(
            middleware: FailedAuthLimitMiddleware(
                limiter: failedAuth, trustedProxy: rateLimits.trustedProxy, surface: .admin,
                credential: { adminAuth.presentedCredential($0) })
        )
        .add(middleware: adminAuth)
        .add(middleware: AdminAuditMiddleware(log: AuditLog(client: client)))
        .add(middleware: CacheInvalidationMiddleware(coherence: coherence))
    AdminController(
        organisations: organisations, tokens: tokens, customFields: customFields,
        manualUsers: ManualUserStore(client: client), groups: groups,
        bodyLimit: configuration.limits.maxPayloadSize
    ).addRoutes(to: admin)
    OAuthClientsController(
        organisations: organisations, oauth: oauth, bodyLimit: configuration.limits.maxPayloadSize
    ).addRoutes(to: admin)
    LifecycleController(
        organisations: organisations,
        lifecycle: OrganisationLifecycle(client: client, graceDays: configuration.organisationPurgeGraceDays),
        erasure: UserErasure(client: client, events: events), export: DataExport(client: client)
    ).addRoutes(to: admin)
    StatusController(
        organisations: organisations, tokens: tokens, oauth: oauth, status: SyncStatusStore(client: client),
        events: events, client: client
    ).addRoutes(to: admin)
    StaffKeysController(
        staffKeys: StaffKeyStore(client: client), auditLog: AuditLog(client: client),
        bodyLimit: configuration.limits.maxPayloadSize
    ).addRoutes(to: admin)

    OAuthTokenController(
        oauth: oauth, limiter: failedAuth, issued: RateLimiter<UUID>(clock: configuration.rateLimitClock),
        issueLimit: rateLimits.oauthTokenLimit,
        trustedProxy: rateLimits.trustedProxy, events: events
    ).addRoutes(to: router)

    // The support console: the same stores, and the same failed-authentication limit for its sign-in.
    let console = try Console<AppRequestContext>(
        stores: ConsoleStores(
            client: client, organisations: organisations, tokens: tokens, customFields: customFields, groups: groups,
            status: SyncStatusStore(client: client), events: events, staffKeys: StaffKeyStore(client: client),
            auditLog: AuditLog(client: client), sessions: ConsoleSessionStore(client: client),
            directory: UserDirectory(client: client), coherence: coherence, oauth: oauth,
            lifecycle: OrganisationLifecycle(client: client, graceDays: configuration.organisationPurgeGraceDays)),
        settings: ConsoleSettings(
            adminToken: configuration.adminToken, publicBaseURL: configuration.publicBaseURL,
            servesTLS: configuration.tls != nil),
        signInLimit: ConsoleSignInLimit(failedAuth, adminAuth: adminAuth, trustedProxy: rateLimits.trustedProxy),
        clock: consoleClock)
    console.addRoutes(to: router)

    let scim = router.group("scim/v2")
        .add(
            middleware: FailedAuthLimitMiddleware(
                limiter: failedAuth, trustedProxy: rateLimits.trustedProxy, surface: .scim,
                credential: { SCIMAuthMiddleware.presentedCredential($0) })
        )
        .add(middleware: SCIMAuthMiddleware(tokens: authenticator, events: events, metrics: metrics))
        .add(middleware: SyncEventMiddleware(buffer: events, metrics: metrics))
        .add(
            middleware: RateLimitMiddleware(
                limiter: RateLimiter<UUID>(clock: configuration.rateLimitClock), defaultLimit: rateLimits.defaultLimit)
        )
        .group(context: TenantRequestContext.self)
    let users = UserStore(
        client: client, mappings: mappingCache, listStatementTimeout: configuration.listStatementTimeout)
    UsersController(users: users, settings: settings, metrics: metrics).addRoutes(to: scim)
    GroupsController(groups: groups, settings: settings, metrics: metrics).addRoutes(to: scim)
    DiscoveryController(customFields: customFields, settings: settings).addRoutes(to: scim)
    return router
}

extension TLSFiles {
    /// A TLS 1.2+ server configuration from the PEM certificate chain and key.
    /// - Throws: `ConfigurationError` naming the file that could not be loaded.
    func serverConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ConfigurationError("TLS_CERT_PATH=\(certificatePath): not a PEM certificate (\(error)).")
        }
        guard !chain.isEmpty else {
            throw ConfigurationError("TLS_CERT_PATH=\(certificatePath): no certificate in the file.")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ConfigurationError("TLS_KEY_PATH=\(keyPath): not an unencrypted PEM private key (\(error)).")
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}
