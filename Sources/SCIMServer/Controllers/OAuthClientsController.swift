import Foundation
import HTTPTypes
import Hummingbird
import SCIM
import SCIMStore

/// `/admin/v1/organisations/{slug}/oauth-clients`: staff manage an organisation's OAuth clients and
/// rotate their secrets. The rules (secret limit, lifetimes, hashing) are `OAuthClientStore`'s; who
/// may call these routes is `AdminAuthMiddleware`'s (readonly keys read, bound keys see their own
/// organisation). The shapes are a contract.
struct OAuthClientsController {
    let organisations: OrganisationStore
    let oauth: OAuthClientStore
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("organisations/:slug/oauth-clients", use: create)
        group.get("organisations/:slug/oauth-clients", use: list)
        group.post("organisations/:slug/oauth-clients/:id/secrets", use: addSecret)
        group.delete("organisations/:slug/oauth-clients/:id/secrets/:secretId", use: revokeSecret)
        group.delete("organisations/:slug/oauth-clients/:id", use: revoke)
    }

    /// `{"label", "secretExpiresAt"?}` → 201 with the client and its first secret (shown this once).
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        try body.allowOnly(["label", "secretExpiresAt"])
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let issued = try await oauth.create(
            organisationID: organisation.id, label: try body.requiredString("label"),
            secretExpiresAt: try body.date("secretExpiresAt"))
        return try Responses.json(IssuedOAuthClientResponse(issued), status: .created)
            .located("/admin/v1/organisations/\(organisation.slug)/oauth-clients/\(issued.id.lowercasedString)")
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let clients = try await oauth.list(organisationID: organisation.id)
        return try Responses.json(OAuthClientListResponse(oauthClients: clients.map(OAuthClientResponse.init)))
    }

    /// `{"expiresAt"?}` (an empty body is `{}`) → 201 with the new secret (shown this once).
    @Sendable func addSecret(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let id = try Self.id(context.parameters.get("id"), missing: "No such OAuth client in this organisation.")
        let raw = try await request.collectBody(limit: bodyLimit)
        var expiresAt: Date?
        if raw.readableBytes > 0 {
            var request = request
            request.body = .init(buffer: raw)
            let body = try await AdminBody(request, limit: bodyLimit)
            try body.allowOnly(["expiresAt"])
            expiresAt = try body.date("expiresAt")
        }
        let issued = try await oauth.addSecret(organisationID: organisation.id, clientID: id, expiresAt: expiresAt)
        let location = "/admin/v1/organisations/\(organisation.slug)/oauth-clients/\(id.lowercasedString)/secrets/"
        return try Responses.json(IssuedOAuthSecretResponse(issued), status: .created).located(
            location + issued.secretID.lowercasedString)
    }

    @Sendable func revokeSecret(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let id = try Self.id(context.parameters.get("id"), missing: "No such OAuth client in this organisation.")
        let secretID = try Self.id(context.parameters.get("secretId"), missing: "No such secret of this OAuth client.")
        try await oauth.revokeSecret(organisationID: organisation.id, clientID: id, secretID: secretID)
        return Response(status: .noContent)
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let id = try Self.id(context.parameters.get("id"), missing: "No such OAuth client in this organisation.")
        try await oauth.revoke(organisationID: organisation.id, clientID: id)
        return Response(status: .noContent)
    }

    /// A path id that is not a UUID names nothing: 404, as for an unknown one.
    private static func id(_ text: String?, missing: String) throws -> UUID {
        guard let id = text.flatMap(UUID.init(uuidString:)) else { throw AdminError.notFound(missing) }
        return id
    }
}
