import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SCIM
import SCIMStore

/// `/admin/v1` routes for the end of an organisation's life and for one person's data: offboard,
/// restore and purge an organisation; export an organisation or a person; erase a person.
///
/// The rules live in `OrganisationLifecycle`, `UserErasure` and `DataExport`; only unbound `support`
/// keys and the bootstrap token reach these routes (`AdminAuthMiddleware.authorise`).
struct LifecycleController {
    let organisations: OrganisationStore
    let lifecycle: OrganisationLifecycle
    let erasure: UserErasure
    let export: DataExport

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("organisations/:slug/offboard", use: offboard)
        group.post("organisations/:slug/restore", use: restore)
        group.delete("organisations/:slug", use: purge)
        group.get("organisations/:slug/export", use: exportOrganisation)
        group.post("organisations/:slug/users/:id/erase", use: erase)
        group.get("organisations/:slug/users/:id/export", use: exportUser)
    }

    @Sendable func offboard(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await lifecycle.offboard(
            slug: try context.parameters.require("slug"), by: try staff(context))
        return try Responses.json(OrganisationResponse(organisation))
    }

    @Sendable func restore(_ request: Request, context: AppRequestContext) async throws -> Response {
        try Responses.json(
            OrganisationResponse(try await lifecycle.restore(slug: try context.parameters.require("slug"))))
    }

    /// `DELETE …/{slug}?confirm={slug}`: the slug typed twice, so a stray `DELETE` purges nothing
    /// (the store checks the confirmation, as for the console's purge).
    @Sendable func purge(_ request: Request, context: AppRequestContext) async throws -> Response {
        let slug = try context.parameters.require("slug")
        let receipt = try await lifecycle.purge(
            slug: slug, confirmation: request.uri.queryParameters["confirm"].map(String.init), by: try staff(context))
        return try Responses.json(receipt)
    }

    @Sendable func erase(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        return try Responses.json(try await erasure.erase(tenant, userID: try userID(context)))
    }

    /// NDJSON, streamed page by page: the response starts once the organisation is found, and a
    /// failure later cuts the body short (the last line is then incomplete or missing).
    @Sendable func exportOrganisation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let export = self.export
        let logger = context.logger
        return Response(
            status: .ok, headers: Self.ndjsonHeaders(filename: "\(tenant.slug).ndjson"),
            body: ResponseBody { writer in
                do {
                    try await export.organisation(tenant) { text in
                        try await writer.write(ByteBuffer(string: text))
                    }
                } catch {
                    logger.warning(
                        "organisation export cut short", metadata: ["error": "\(String(describing: type(of: error)))"])
                    throw error
                }
                try await writer.finish(nil)
            })
    }

    @Sendable func exportUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let id = try userID(context)
        let text = try await export.user(tenant, id: id)
        return Response(
            status: .ok, headers: Self.ndjsonHeaders(filename: "\(tenant.slug)-\(id.lowercasedString).ndjson"),
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func ndjsonHeaders(filename: String) -> HTTPFields {
        [.contentType: "application/x-ndjson", .contentDisposition: "attachment; filename=\"\(filename)\""]
    }

    private func staff(_ context: AppRequestContext) throws -> StaffIdentity {
        guard let staff = context.staff else {
            throw AdminError.unauthorized("A valid staff bearer token is required.")
        }
        return staff
    }

    private func userID(_ context: AppRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("No such user in this organisation.")
        }
        return id
    }
}
