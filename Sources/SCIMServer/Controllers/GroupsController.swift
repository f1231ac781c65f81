import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SCIM
import SCIMStore

/// `/scim/v2/Groups`: Learn Amp teams, as Okta Group Push and Entra group provisioning manage them.
struct GroupsController {
    let groups: GroupStore
    let settings: SCIMSettings
    let metrics: ServiceMetrics

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.post("Groups", use: create)
        group.get("Groups", use: list)
        group.post("Groups/.search", use: search)
        group.get("Groups/:id", use: get)
        group.put("Groups/:id", use: replace)
        group.patch("Groups/:id", use: patch)
        group.delete("Groups/:id", use: delete)
    }

    @Sendable func create(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let group = try await Self.group(request, settings: settings, metrics: metrics)
        let projection = try Self.projection(request.queryParameters)
        let stored = try await groups.create(
            context.tenant, group: group, includeMembers: projection.includes("members"), origin: context.origin)
        Self.recorded(stored.metadata.id, context)
        return render(stored, request: request, projection: projection, status: .created, location: true)
    }

    @Sendable func get(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let projection = try Self.projection(request.queryParameters)
        let id = try context.resourceID("Group")
        context.notes.update {
            $0.resourceType = "Group"
            $0.resourceID = id
        }
        let stored = try await groups.get(context.tenant, id: id, includeMembers: projection.includes("members"))
        return render(stored, request: request, projection: projection)
    }

    @Sendable func replace(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("Group")
        let group = try await Self.group(request, settings: settings, metrics: metrics)
        let projection = try Self.projection(request.queryParameters)
        context.notes.update {
            $0.resourceType = "Group"
            $0.resourceID = id
        }
        let stored = try await groups.replace(
            context.tenant, id: id, group: group, ifMatch: request.headers[.ifMatch],
            includeMembers: projection.includes("members"),
            origin: context.origin)
        Self.recorded(id, context)
        return render(stored, request: request, projection: projection)
    }

    /// 204 by default; 200 with the resource when the client asks for attributes. Members are loaded
    /// only if the requested representation shows them.
    @Sendable func patch(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("Group")
        context.notes.update {
            $0.resourceType = "Group"
            $0.resourceID = id
        }
        let body = try await request.scimJSON(limit: settings.limits.maxGroupPayloadSize)
        let plan = try PatchEngine.memberChanges(
            try PatchRequest.decode(body, limits: settings.limits), groupID: id.lowercasedString,
            limits: settings.limits)
        metrics.recordRewrites(plan.rewrites)
        let parameters = request.queryParameters
        let wantsRepresentation = parameters.keys.contains {
            ["attributes", "excludedattributes"].contains($0.lowercased())
        }
        let projection = try Self.projection(parameters)
        let stored = try await groups.apply(
            plan, tenant: context.tenant, id: id, ifMatch: request.headers[.ifMatch],
            includeMembers: wantsRepresentation && projection.includes("members"), render: wantsRepresentation,
            origin: context.origin)
        Self.recorded(id, context)
        guard let stored else { return Response(status: .noContent) }
        return render(stored, request: request, projection: projection)
    }

    @Sendable func delete(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let id = try context.resourceID("Group")
        context.notes.update {
            $0.resourceType = "Group"
            $0.resourceID = id
        }
        try await groups.delete(context.tenant, id: id, ifMatch: request.headers[.ifMatch], origin: context.origin)
        Self.recorded(id, context)
        return Response(status: .noContent)
    }

    @Sendable func list(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try await respond(to: try ListRequest(parameters: request.queryParameters), request: request, context: context)
    }

    @Sendable func search(_ request: Request, context: TenantRequestContext) async throws -> Response {
        let body = try await request.scimJSON(limit: settings.limits.maxGroupPayloadSize)
        return try await respond(to: try ListRequest(searchBody: body), request: request, context: context)
    }

    private func respond(to listRequest: ListRequest, request: Request, context: TenantRequestContext) async throws
        -> Response
    {
        let projection = try AttributeProjection(
            attributes: listRequest.attributes, excludedAttributes: listRequest.excludedAttributes, resourceType: .group
        )
        let page = try await groups.list(
            context.tenant, request: listRequest, includeMembers: projection.includes("members"))
        let baseURL = settings.baseURL(for: request)
        let resources = page.items.map { projection.apply(to: Self.json($0, baseURL: baseURL)) }
        return Responses.scim(page.listResponse(resources, cursorPaging: listRequest.cursor != nil))
    }

    private func render(
        _ stored: StoredGroup, request: Request, projection: AttributeProjection, status: HTTPResponse.Status = .ok,
        location: Bool = false
    ) -> Response {
        let baseURL = settings.baseURL(for: request)
        var headers: HTTPFields = [.eTag: stored.metadata.etag]
        if location { headers[.location] = "\(baseURL)/Groups/\(stored.metadata.id.lowercasedString)" }
        headers[.contentType] = Responses.scimContentType
        let body = GroupResponseBody(
            displayName: stored.displayName, externalID: stored.externalID, members: stored.members,
            metadata: stored.metadata, baseURL: baseURL, projection: projection)
        return Response(status: status, headers: headers, body: Self.responseBody(body))
    }

    /// Members written 2,000 at a time (about 360 KB) into one reused array as the body goes out,
    /// so a 100,000-member response is never held whole (18 MB).
    static func responseBody(_ body: GroupResponseBody) -> ResponseBody {
        guard body.memberCount > 0 else { return ResponseBody(byteBuffer: ByteBuffer(bytes: body.prefix)) }
        return ResponseBody(contentLength: body.count) { writer in
            var piece = body.prefix
            let step = 2_000
            for start in stride(from: 0, to: body.memberCount, by: step) {
                body.writeMembers(start..<min(start + step, body.memberCount), into: &piece)
                try await writer.write(ByteBuffer(bytes: piece))
                piece.removeAll(keepingCapacity: true)
            }
            piece.append(contentsOf: body.suffix)
            try await writer.write(ByteBuffer(bytes: piece))
            try await writer.finish(nil)
        }
    }

    static func json(_ stored: StoredGroup, baseURL: String) -> JSONValue {
        Group.json(
            displayName: stored.displayName, externalID: stored.externalID, members: stored.members,
            metadata: stored.metadata,
            baseURL: baseURL)
    }

    /// The write's event went out with its transaction; the middleware must not log it again.
    static func recorded(_ id: UUID, _ context: TenantRequestContext) {
        context.notes.update {
            $0.resourceType = "Group"
            $0.resourceID = id
            $0.recordedInTransaction = true
        }
    }

    /// The group a POST or PUT body describes. Its members are parsed straight into a `MemberList`
    /// and the body's bytes are released before the store runs, so a 100,000-member push holds one
    /// compact copy of its members (plus the statement's array bind) rather than a JSON tree.
    static func group(_ request: Request, settings: SCIMSettings, metrics: ServiceMetrics) async throws -> Group {
        let body = try JSONValue.parseGroup(
            try await request.scimBody(limit: settings.limits.maxGroupPayloadSize).readableBytesView)
        let extracted = body.members[.resource]
        var normalised = try Normaliser(resourceType: .group).normalise(resource: body.json)
        if let extracted { normalised.rewrites.merge(extracted.rewrites, uniquingKeysWith: +) }
        metrics.recordRewrites(normalised.rewrites)
        return try Group(json: normalised.value, extractedMembers: extracted?.list, limits: settings.limits)
    }

    static func projection(_ parameters: [String: String]) throws -> AttributeProjection {
        try AttributeProjection(parameters: parameters, resourceType: .group)
    }
}
