import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SCIM
import SCIMConsole
import SCIMStore
import Synchronization

/// The context every request starts with: its id, and the identity middleware resolved, if any.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext, ConsoleRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The server's own id of the request, always generated: the response's `X-Request-Id`, quoted in
    /// error bodies, on every log line (`scim.request.id`) and in sync events.
    public var requestID: String = ""
    /// The client's own `X-Request-Id` when it sent a usable one: kept beside `requestID` in the log
    /// (`scim.request.client_id`) and in sync events, so support can search by either.
    public var clientRequestID: String?
    /// Set by `SCIMAuthMiddleware` once a bearer token resolved an organisation.
    public var tenant: Tenant?
    /// Set by `SyncEventMiddleware` for SCIM requests.
    public var origin: EventOrigin?
    /// Shared with the handler (a reference), so the event middleware learns what the handler did.
    public let notes = RequestNotes()
    /// Set by `AdminAuthMiddleware`: the bootstrap token or the staff key behind an admin request.
    public var staff: StaffIdentity?
    /// The connected peer (the balancer's address behind one); nil in in-process tests.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// A SCIM request whose tenant is known. Handlers under `/scim/v2` take this context, so a handler
/// that touches tenant data cannot even be written without an organisation.
public struct TenantRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let requestID: String
    public let tenant: Tenant
    public let origin: EventOrigin
    public let notes: RequestNotes

    public init(context: AppRequestContext) throws {
        guard let tenant = context.tenant, let origin = context.origin else {
            throw SCIMError.unauthorized("Authentication required.")
        }
        coreContext = context.coreContext
        requestID = context.requestID
        self.tenant = tenant
        self.origin = origin
        notes = context.notes
    }
}

/// What a SCIM handler tells the event log about its request: the resource it touched and whether
/// the store already recorded the event inside the request's transaction.
public final class RequestNotes: Sendable {
    public struct Notes: Sendable {
        public var resourceType: String?
        public var resourceID: UUID?
        public var userName: String?
        /// True once the write's success event was committed with the change itself.
        public var recordedInTransaction = false
    }

    private let state = Mutex(Notes())

    public init() {}

    public var current: Notes { state.withLock { $0 } }

    public func update(_ change: (inout Notes) -> Void) {
        state.withLock { change(&$0) }
    }
}
