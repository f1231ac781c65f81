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

    struct IssuedKey: Encodable {
        var info: StaffKeyInfo
        var key: String

        enum CodingKeys: String, CodingKey { case id, name, role, organisation, prefix, key, createdAt }

        /// `organisation` is always present (null for an unbound key): the shape is a contract.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(info.id.lowercasedString, forKey: .id)
            try container.encode(info.name, forKey: .name)
            try container.encode(info.role.rawValue, forKey: .role)
            try container.encode(info.organisation, forKey: .organisation)
            try container.encode(info.prefix, forKey: .prefix)
            try container.encode(key, forKey: .key)
            try container.encode(info.createdAt, forKey: .createdAt)
        }
    }

    /// Issues a key; the secret is in this response only.
    @Sendable func issue(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        try body.allowOnly(["name", "role", "organisation"])
        let (info, key) = try await staffKeys.issue(
            name: try body.requiredString("name"), role: try body.requiredString("role"), organisationSlug: try body.string("organisation"))
        return try Responses.json(IssuedKey(info: info, key: key), status: .created).located("/admin/v1/staff-keys/\(info.id.lowercasedString)")
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        try Responses.json(["staffKeys": try await staffKeys.list()])
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("No such staff key.")
        }
        try await staffKeys.revoke(id: id)
        return Response(status: .noContent)
    }

    struct AuditPage: Encodable {
        var entries: [AuditEntry]
        var nextCursor: String?

        enum CodingKeys: String, CodingKey { case entries, nextCursor }

        /// `nextCursor` is always present, null on the last page.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(entries, forKey: .entries)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// Admin writes, newest first: `?limit=1-1000` (default 100) and `?cursor=` from the previous page.
    @Sendable func audit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let query = request.queryParameters
        var limit = 100
        if let text = query["limit"] {
            guard let number = Int(text), (1...1000).contains(number) else { throw AdminError.badRequest("limit must be 1-1000.") }
            limit = number
        }
        var cursor: Int64?
        if let text = query["cursor"], !text.isEmpty {
            guard let number = Int64(text), number > 0 else { throw AdminError.badRequest("cursor is not one this server issued.") }
            cursor = number
        }
        let (entries, next) = try await auditLog.list(limit: limit, cursor: cursor)
        return try Responses.json(AuditPage(entries: entries, nextCursor: next.map(String.init)))
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
