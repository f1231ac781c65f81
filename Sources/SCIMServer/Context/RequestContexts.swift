import HTTPTypes
import Hummingbird
import Logging
import SCIM
import SCIMStore

/// The context every request starts with: its id, and the identity middleware resolved, if any.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// `X-Request-Id`: the client's, or one we generated; quoted in SCIM error details.
    public var requestID: String = ""
    /// Set by `SCIMAuthMiddleware` once a bearer token resolved an organisation.
    public var tenant: Tenant?
    /// Set by `AdminAuthMiddleware`: the bootstrap token or the staff key behind an admin request.
    public var staff: StaffIdentity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// A SCIM request whose tenant is known. Handlers under `/scim/v2` take this context, so a handler
/// that touches tenant data cannot even be written without an organisation.
public struct TenantRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let requestID: String
    public let tenant: Tenant

    public init(context: AppRequestContext) throws {
        guard let tenant = context.tenant else { throw SCIMError.unauthorized("Authentication required.") }
        coreContext = context.coreContext
        requestID = context.requestID
        self.tenant = tenant
    }
}
