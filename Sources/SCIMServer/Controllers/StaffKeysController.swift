import Foundation
import HTTPTypes
import Hummingbird
import SCIM
import SCIMStore

/// `/admin/v1/staff-keys` and `/admin/v1/audit`: per-person staff keys instead of the shared bootstrap
/// token, and the log of every admin write. Who may call these is decided by `AdminAuthMiddleware`
/// (keys bound to an organisation get 403 here).
struct StaffKeysController {
    let staffKeys: StaffKeyStore
    let auditLog: AuditLog
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("staff-keys", use: issue)
        group.get("staff-keys", use: list)
        group.delete("staff-keys/:id", use: revoke)
        group.get("audit", use: audit)
    }

    /// Issues a key; the secret is in this response only.
    @Sendable func issue(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        try body.allowOnly(["name", "role", "organisation"])
        let (info, key) = try await staffKeys.issue(
            name: try body.requiredString("name"), role: try body.requiredString("role"),
            organisationSlug: try body.string("organisation"))
        return try Responses.json(IssuedKeyResponse(info, key: key), status: .created)
            .located("/admin/v1/staff-keys/\(info.id.lowercasedString)")
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        try Responses.json(["staffKeys": try await staffKeys.list().map(StaffKeyResponse.init)])
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("No such staff key.")
        }
        try await staffKeys.revoke(id: id)
        return Response(status: .noContent)
    }

    /// Admin writes, newest first: `?limit=1-1000` (default 100) and `?cursor=` from the previous page.
    @Sendable func audit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let query = request.queryParameters
        var limit = 100
        if let text = query["limit"] {
            guard let number = Int(text), (1...1000).contains(number) else {
                throw AdminError.badRequest("limit must be 1-1000.")
            }
            limit = number
        }
        var cursor: Int64?
        if let text = query["cursor"], !text.isEmpty {
            guard let number = Int64(text), number > 0 else {
                throw AdminError.badRequest("cursor is not one this server issued.")
            }
            cursor = number
        }
        let (entries, next) = try await auditLog.list(limit: limit, cursor: cursor)
        return try Responses.json(
            AuditPageResponse(entries: entries.map(AuditEntryResponse.init), nextCursor: next.map(String.init)))
    }
}

extension Response {
    /// This response with `Location` set: where a 201's new resource lives (the audit log takes its id
    /// from here).
    func located(_ path: String) -> Response {
        var response = self
        response.headers[.location] = path
        return response
    }
}
