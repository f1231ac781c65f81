import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Postgres
import SCIMStore

/// What the console needs of the application's request context: the server's request id (shown on
/// error pages) and the connected peer (the failed sign-in limit counts per address).
public protocol ConsoleRequestContext: RequestContext, RemoteAddressRequestContext {
    var requestID: String { get }
}

/// The console's clock; tests inject one to move sessions past their timeouts.
public struct ConsoleClock: Sendable {
    public var now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }

    public static let system = ConsoleClock { Date() }
}

/// The application's failed-authentication limiter, as the sign-in form uses it. The application
/// owns the limiter (shared with SCIM and the admin API); the console only asks and reports.
public struct ConsoleSignInLimit: Sendable {
    /// Seconds to wait when this credential from this client is limited, nil when it may be tried.
    public var check: @Sendable (_ request: Request, _ remote: SocketAddress?, _ credential: String) -> Int?
    /// Counts a failed sign-in with this credential from this client.
    public var recordFailure: @Sendable (_ request: Request, _ remote: SocketAddress?, _ credential: String) -> Void

    public init(
        check: @escaping @Sendable (Request, SocketAddress?, String) -> Int?,
        recordFailure: @escaping @Sendable (Request, SocketAddress?, String) -> Void
    ) {
        self.check = check
        self.recordFailure = recordFailure
    }

    /// No limit (for tests of other things).
    public static let none = ConsoleSignInLimit(check: { _, _, _ in nil }, recordFailure: { _, _, _ in })
}

/// The stores the console reads and writes: the same ones, with the same rules, as the admin API.
public struct ConsoleStores: Sendable {
    public var client: PostgresClient
    public var organisations: OrganisationStore
    public var tokens: TokenStore
    public var customFields: CustomFieldStore
    public var groups: GroupStore
    public var status: SyncStatusStore
    public var events: EventBuffer
    public var staffKeys: StaffKeyStore
    public var auditLog: AuditLog
    public var sessions: ConsoleSessionStore
    public var directory: UserDirectory
    public var coherence: CacheCoherence
    public var oauth: OAuthClientStore
    public var lifecycle: OrganisationLifecycle

    public init(
        client: PostgresClient, organisations: OrganisationStore, tokens: TokenStore, customFields: CustomFieldStore,
        groups: GroupStore, status: SyncStatusStore, events: EventBuffer, staffKeys: StaffKeyStore, auditLog: AuditLog,
        sessions: ConsoleSessionStore, directory: UserDirectory, coherence: CacheCoherence, oauth: OAuthClientStore,
        lifecycle: OrganisationLifecycle
    ) {
        self.client = client
        self.organisations = organisations
        self.tokens = tokens
        self.customFields = customFields
        self.groups = groups
        self.status = status
        self.events = events
        self.staffKeys = staffKeys
        self.auditLog = auditLog
        self.sessions = sessions
        self.directory = directory
        self.coherence = coherence
        self.oauth = oauth
        self.lifecycle = lifecycle
    }
}

/// How the console is served.
public struct ConsoleSettings: Sendable {
    /// The bootstrap `ADMIN_API_TOKEN`, which signs in with every right.
    public var adminToken: String
    /// `PUBLIC_BASE_URL`: the origin POSTs must come from, and the SCIM base URL shown to customers.
    public var publicBaseURL: String?
    /// Whether the service itself serves HTTPS (then cookies are `Secure` too).
    public var servesTLS: Bool

    public init(adminToken: String, publicBaseURL: String?, servesTLS: Bool) {
        self.adminToken = adminToken
        self.publicBaseURL = publicBaseURL
        self.servesTLS = servesTLS
    }

    /// Cookies are `Secure` whenever the console is reached over HTTPS: native TLS, or an https
    /// `PUBLIC_BASE_URL` behind a TLS-terminating proxy.
    var secureCookies: Bool { servesTLS || (publicBaseURL?.lowercased().hasPrefix("https://") ?? false) }
}

/// The support console under `/console`: server-rendered pages over the admin API's stores.
public struct Console<Context: ConsoleRequestContext>: Sendable {
    let stores: ConsoleStores
    let settings: ConsoleSettings
    let signInLimit: ConsoleSignInLimit
    let clock: ConsoleClock
    let views: ConsoleViews
    let adminTokenDigest: [UInt8]

    /// - Throws: when the templates or assets in the binary's resources cannot be read.
    public init(
        stores: ConsoleStores, settings: ConsoleSettings, signInLimit: ConsoleSignInLimit, clock: ConsoleClock = .system
    ) throws {
        self.stores = stores
        self.settings = settings
        self.signInLimit = signInLimit
        self.clock = clock
        self.views = try ConsoleViews.load()
        self.adminTokenDigest = Secrets.sha256(settings.adminToken)
    }

    public func addRoutes(to router: Router<Context>) {
        let group = router.group("console")
        group.get("") { _, _ in Self.redirect("/console/organisations") }
        group.get("assets/:file") { request, context in views.asset(context.parameters.get("file") ?? "") }
        group.get("sign-in") { request, context in signInPage(request, context: context) }
        group.post("sign-in") { request, context in try await signIn(request, context: context) }
        group.post("sign-out", use: page(signOut))

        group.get("organisations", use: page(listOrganisations))
        group.post("organisations", use: page(createOrganisation))
        group.get("organisations/:slug", use: page(overview))
        group.get("organisations/:slug/tokens", use: page(listTokens))
        group.post("organisations/:slug/tokens", use: page(issueToken))
        group.get("organisations/:slug/tokens/:id/revoke", use: page(confirmRevokeToken))
        group.post("organisations/:slug/tokens/:id/revoke", use: page(revokeToken))
        addMorePages(to: group)
        addOAuthClientPages(to: group)
        addLifecyclePages(to: group)
        group.get("**") { request, context in
            views.errorPage(
                ConsoleFailure(
                    status: .notFound, title: "Page not found", message: "There is no console page at this address."),
                session: nil, requestID: context.requestID)
        }
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}
