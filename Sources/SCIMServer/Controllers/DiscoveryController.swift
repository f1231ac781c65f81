import Foundation
import HTTPTypes
import Hummingbird
import SCIM
import SCIMStore

/// RFC 7644 §4 discovery: what this server supports, including the organisation's custom fields.
struct DiscoveryController {
    let customFields: CustomFieldStore
    let settings: SCIMSettings

    func addRoutes(to group: RouterGroup<TenantRequestContext>) {
        group.get("ServiceProviderConfig", use: serviceProviderConfig)
        group.get("ResourceTypes", use: resourceTypes)
        group.get("ResourceTypes/:id", use: resourceType)
        group.get("Schemas", use: schemas)
        group.get("Schemas/:id", use: schema)
        for path: RouterPath in [
            "ServiceProviderConfig", "ResourceTypes", "ResourceTypes/:id", "Schemas", "Schemas/:id",
        ] {
            for method: HTTPRequest.Method in [.post, .put, .patch, .delete] {
                group.on(path, method: method) { _, _ -> Response in
                    throw SCIMError.methodNotAllowed("Discovery endpoints are read-only.")
                }
            }
        }
        // RFC 7644 §3.12: what the protocol defines but this service does not do is 501, not 404.
        group.post(".search") { _, _ -> Response in
            throw SCIMError.notImplemented(
                "Searching across resource types is not supported; POST to /Users/.search or /Groups/.search.")
        }
        group.post("Bulk") { _, _ -> Response in
            throw SCIMError.notImplemented(
                "Bulk operations are not supported (ServiceProviderConfig bulk.supported is false).")
        }
        for method: HTTPRequest.Method in [.get, .post, .put, .patch, .delete] {
            group.on("Me", method: method) { _, _ -> Response in
                throw SCIMError.notImplemented(
                    "/Me is not supported: a SCIM token acts for an organisation, not a user.")
            }
        }
    }

    /// RFC 7644 §4: a filter on a discovery endpoint is 403, so a client cannot take the unfiltered
    /// answer for a filtered one.
    private static func refuseFilter(_ request: Request) throws {
        if request.uri.queryParameters.contains(where: { $0.key.lowercased() == "filter" }) {
            throw SCIMError.forbidden("Discovery endpoints cannot be filtered (RFC 7644 section 4).")
        }
    }

    @Sendable func serviceProviderConfig(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try Self.refuseFilter(request)
        return Responses.scim(
            DiscoveryDocuments.serviceProviderConfig(baseURL: settings.baseURL(for: request), limits: settings.limits))
    }

    @Sendable func resourceTypes(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try Self.refuseFilter(request)
        let all = try await resourceTypeDocuments(request, context)
        return Responses.scim(
            ListPage(totalResults: all.count, startIndex: 1, items: all, nextCursor: nil).listResponse(
                all, cursorPaging: false))
    }

    @Sendable func resourceType(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try Self.refuseFilter(request)
        let id = context.parameters.get("id") ?? ""
        guard
            let found = try await resourceTypeDocuments(request, context)
                .first(where: { $0[caseInsensitive: "id"]?.stringValue?.lowercased() == id.lowercased() })
        else { throw SCIMError.notFound("No resource type \(id.prefix(64)).") }
        return Responses.scim(found)
    }

    @Sendable func schemas(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try Self.refuseFilter(request)
        let all = try await schemaDocuments(request, context)
        return Responses.scim(
            ListPage(totalResults: all.count, startIndex: 1, items: all, nextCursor: nil).listResponse(
                all, cursorPaging: false))
    }

    @Sendable func schema(_ request: Request, context: TenantRequestContext) async throws -> Response {
        try Self.refuseFilter(request)
        let id = context.parameters.get("id") ?? ""
        guard
            let found = try await schemaDocuments(request, context)
                .first(where: { $0[caseInsensitive: "id"]?.stringValue?.lowercased() == id.lowercased() })
        else { throw SCIMError.notFound("No schema \(id.prefix(120)).") }
        return Responses.scim(found)
    }

    private func resourceTypeDocuments(
        _ request: Request, _ context: TenantRequestContext
    ) async throws -> [JSONValue] {
        let mappings = try await customFields.list(context.tenant)
        return DiscoveryDocuments.resourceTypes(
            baseURL: settings.baseURL(for: request), customFields: mappings.map(\.definition))
    }

    private func schemaDocuments(_ request: Request, _ context: TenantRequestContext) async throws -> [JSONValue] {
        let mappings = try await customFields.list(context.tenant)
        return DiscoveryDocuments.schemas(
            baseURL: settings.baseURL(for: request), customFields: mappings.map(\.definition))
    }
}
