import Foundation
import HTTPTypes
import Hummingbird
import SCIM
import SCIMStore

/// `/scim/v2/Users` (RFC 7644 §3) with Learn Amp's provisioning rules; the rules themselves live in
/// `UserStore` (adoption, deprovisioning, managers) and in the pure `SCIM` target (validation, PATCH).
struct UsersController {
    let users: UserStore
    let settings: SCIMSettings
    let metrics: ServiceMetrics

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.post("Users", use: create)
        group.get("Users", use: list)
        group.post("Users/.search", use: search)
        group.get("Users/:id", use: get)
        group.put("Users/:id", use: replace)
        group.patch("Users/:id", use: patch)
        group.delete("Users/:id", use: delete)
    }

    @Sendable func create(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await request.scimJSON(limit: settings.limits.maxPayloadSize)
        context.notes.update {
            $0.resourceType = "User"
            $0.userName = body[caseInsensitive: "userName"]?.stringValue
        }
        let projection = try await projection(request.queryParameters, context)
        let (stored, _) = try await users.create(context.tenant, origin: context.origin) { mappings in
            try Self.input(from: body, mappings: mappings, metrics: metrics)
        }
        Self.recorded(stored, context)
        return render(stored, request: request, projection: projection, status: .created, location: true)
    }

    @Sendable func get(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let projection = try await projection(request.queryParameters, context)
        let id = try context.resourceID("User")
        context.notes.update {
            $0.resourceType = "User"
            $0.resourceID = id
        }
        let stored = try await users.get(context.tenant, id: id)
        context.notes.update { $0.userName = stored.user.userName }
        return render(stored, request: request, projection: projection)
    }

    @Sendable func replace(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("User")
        context.notes.update {
            $0.resourceType = "User"
            $0.resourceID = id
        }
        let body = try await request.scimJSON(limit: settings.limits.maxPayloadSize)
        if let sentID = body[caseInsensitive: "id"]?.stringValue, UUID(uuidString: sentID) != id {
            throw SCIMError.mutability("id is immutable: the body's id does not match the URL.")
        }
        let projection = try await projection(request.queryParameters, context)
        let stored = try await users.replace(
            context.tenant, id: id, ifMatch: request.headers[.ifMatch], origin: context.origin
        ) {
            mappings in try Self.input(from: body, mappings: mappings, metrics: metrics)
        }
        Self.recorded(stored, context)
        return render(stored, request: request, projection: projection)
    }

    @Sendable func patch(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("User")
        context.notes.update {
            $0.resourceType = "User"
            $0.resourceID = id
        }
        let body = try await request.scimJSON(limit: settings.limits.maxPayloadSize)
        let patchRequest = try PatchRequest.decode(body, limits: settings.limits)
        let projection = try await projection(request.queryParameters, context)
        let baseURL = settings.baseURL(for: request)
        let stored = try await users.update(
            context.tenant, id: id, ifMatch: request.headers[.ifMatch], origin: context.origin
        ) {
            current, mappings in
            let definitions = mappings.map(\.definition)
            let engine = PatchEngine(resourceType: .user(customFields: definitions))
            let result = try engine.apply(
                patchRequest, to: current.user.json(metadata: current.metadata, baseURL: baseURL))
            metrics.recordRewrites(result.rewrites)
            let user = try User(patched: result, current: current.user, customFields: definitions)
            return UserInput(user: user, unknownAttributes: result.unknownAttributes)
        }
        Self.recorded(stored, context)
        return render(stored, request: request, projection: projection)
    }

    @Sendable func delete(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("User")
        context.notes.update {
            $0.resourceType = "User"
            $0.resourceID = id
        }
        try await users.delete(context.tenant, id: id, ifMatch: request.headers[.ifMatch], origin: context.origin)
        context.notes.update { $0.recordedInTransaction = true }
        return Response(status: .noContent)
    }

    @Sendable func list(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await respond(to: try ListRequest(parameters: request.queryParameters), request: request, context: context)
    }

    @Sendable func search(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await request.scimJSON(limit: settings.limits.maxPayloadSize)
        return try await respond(to: try ListRequest(searchBody: body), request: request, context: context)
    }

    private func respond(to listRequest: ListRequest, request: Request, context: TenantRequestContext) async throws
        -> Response
    {
        let projection = try AttributeProjection(
            attributes: listRequest.attributes, excludedAttributes: listRequest.excludedAttributes,
            resourceType: .user(customFields: try await users.customFields(context.tenant)))
        let page = try await users.list(context.tenant, request: listRequest)
        let baseURL = settings.baseURL(for: request)
        let resources = page.items.map { projection.apply(to: $0.user.json(metadata: $0.metadata, baseURL: baseURL)) }
        return Responses.scim(page.listResponse(resources, cursorPaging: listRequest.cursor != nil))
    }

    private func render(
        _ stored: StoredUser, request: Request, projection: AttributeProjection, status: HTTPResponse.Status = .ok,
        location: Bool = false
    ) -> Response {
        let baseURL = settings.baseURL(for: request)
        let resource = stored.user.json(metadata: stored.metadata, baseURL: baseURL)
        var headers: HTTPFields = [.eTag: stored.metadata.etag]
        if location { headers[.location] = "\(baseURL)/Users/\(stored.metadata.id.lowercasedString)" }
        return Responses.scim(projection.apply(to: resource), status: status, headers: headers)
    }

    static func input(from body: JSONValue, mappings: [CustomFieldMapping], metrics: ServiceMetrics) throws -> UserInput
    {
        let definitions = mappings.map(\.definition)
        let normalised = try Normaliser(resourceType: .user(customFields: definitions)).normalise(resource: body)
        metrics.recordRewrites(normalised.rewrites)
        return UserInput(
            user: try User(json: normalised.value, customFields: definitions),
            unknownAttributes: normalised.unknownAttributes)
    }

    /// The write's event went out with its transaction; the middleware must not log it again.
    static func recorded(_ stored: StoredUser, _ context: TenantRequestContext) {
        context.notes.update {
            $0.resourceID = stored.metadata.id
            $0.userName = stored.user.userName
            $0.recordedInTransaction = true
        }
    }

    /// `attributes`/`excludedAttributes` over this organisation's User schema: the projection must know
    /// the mapped custom fields, or it drops them from every response.
    func projection(_ parameters: [String: String], _ context: TenantRequestContext) async throws -> AttributeProjection
    {
        try AttributeProjection(
            parameters: parameters, resourceType: .user(customFields: try await users.customFields(context.tenant)))
    }
}

/// What SCIM controllers share: limits and how to build absolute URLs.
struct SCIMSettings: Sendable {
    var limits: ServiceLimits
    var publicBaseURL: String?

    /// `<public base>/scim/v2`, or built from the request's Host (and `X-Forwarded-Proto`), which
    /// `HostHeaderMiddleware` has checked.
    func baseURL(for request: Request) -> String {
        if let publicBaseURL { return "\(publicBaseURL)/scim/v2" }
        let host = request.head.authority ?? "localhost"
        let scheme = request.headers[.forwardedProto].flatMap(HostHeaderMiddleware.scheme(forwardedProto:)) ?? "http"
        return "\(scheme)://\(host)/scim/v2"
    }
}
