import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SCIM
import SCIMStore

/// OAuth clients (for Microsoft Entra): the list with every secret, creating a client and adding a
/// secret (each secret shown once), revoking a secret or a client after a confirmation step.
/// The rules (secret limit, lifetimes) are `OAuthClientStore`'s, as for the admin API.
extension Console {
    func addOAuthClientPages(to group: RouterGroup<Context>) {
        group.get("organisations/:slug/oauth-clients", use: page(listOAuthClients))
        group.post("organisations/:slug/oauth-clients", use: page(createOAuthClient))
        group.post("organisations/:slug/oauth-clients/:id/secrets", use: page(addOAuthSecret))
        group.get("organisations/:slug/oauth-clients/:id/revoke", use: page(confirmRevokeOAuthClient))
        group.post("organisations/:slug/oauth-clients/:id/revoke", use: page(revokeOAuthClient))
        group.get("organisations/:slug/oauth-clients/:id/secrets/:secretId/revoke", use: page(confirmRevokeOAuthSecret))
        group.post("organisations/:slug/oauth-clients/:id/secrets/:secretId/revoke", use: page(revokeOAuthSecret))
    }

    func listOAuthClients(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await stores.organisations.find(slug: try call.slug())
        return try await oauthClientsPage(
            call, organisation: organisation, issued: nil, form: [:], error: nil, status: .ok)
    }

    private func oauthClientsPage(
        _ call: ConsoleCall<Context>, organisation: Organisation, issued: [String: Any]?, form: [String: String],
        error: String?, status: HTTPResponse.Status
    ) async throws -> Response {
        let clients = try await stores.oauth.list(organisationID: organisation.id)
        let canWrite = call.identity.mayWrite
        let rows = clients.map { client -> [String: Any] in
            let clientLive = client.revokedAt == nil
            let secrets = client.secrets.map { secret -> [String: Any] in
                let live = clientLive && secret.isLive(at: call.now)
                // Keys distinct from the client's: a missing one would otherwise resolve to the client's value.
                return [
                    "secretId": secret.secretID.uuidString.lowercased(),
                    "secretCreated": ConsoleTime.view(secret.createdAt, now: call.now) as Any,
                    "secretLastUsed": ConsoleTime.view(secret.lastUsedAt, now: call.now) as Any,
                    "secretExpires": ConsoleTime.view(secret.expiresAt, now: call.now) as Any,
                    "secretRevoked": ConsoleTime.view(secret.revokedAt, now: call.now) as Any,
                    "secretLive": live, "secretExpired": secret.revokedAt == nil && secret.expiresAt <= call.now,
                    // Revoking a client leaves its unexpired secrets' own state untouched: they end with it.
                    "endedWithClient": !clientLive && secret.revokedAt == nil && secret.expiresAt > call.now,
                    "expiringSoon": live
                        && secret.expiresAt.timeIntervalSince(call.now) <= OAuthClientStore.expiryWarning,
                    "secretExpiresIn": ConsoleTime.days(until: secret.expiresAt, now: call.now),
                    "canRevoke": canWrite && live,
                ]
            }
            return [
                "id": client.id.uuidString.lowercased(), "label": client.label, "clientId": client.clientID,
                "created": ConsoleTime.view(client.createdAt, now: call.now) as Any,
                "lastUsed": ConsoleTime.view(client.lastUsedAt, now: call.now) as Any,
                "revoked": ConsoleTime.view(client.revokedAt, now: call.now) as Any,
                "live": clientLive, "secrets": secrets, "canManage": canWrite && clientLive,
            ]
        }
        let data: [String: Any] = [
            "slug": organisation.slug, "clients": rows, "any": !rows.isEmpty, "canWrite": canWrite,
            "canIssue": canWrite && !organisation.isOffboarded,
            "offboarded": organisation.isOffboarded, "mayRestore": Self.mayChangeLifecycle(call.identity),
            "csrf": call.csrf, "issued": issued as Any, "form": form, "error": error as Any,
            "tokenURL": tokenURL(call.request), "scimBaseURL": scimBaseURL(call.request),
            "maximumLiveSecrets": OAuthClientStore.maximumLiveSecrets,
        ]
        return views.page(
            "oauth-clients", title: "OAuth clients · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "oauth-clients"), status: status)
    }

    /// The token endpoint Entra's "Token endpoint" field takes.
    func tokenURL(_ request: Request) -> String {
        if let base = settings.publicBaseURL { return base.trimmingSuffix("/") + "/oauth/token" }
        return (expectedOrigin(request) ?? "https://scim.learnamp.com") + "/oauth/token"
    }

    /// A date from a form's date field: the start of that day, UTC; nil when the field is empty.
    private func formExpiry(_ text: String?, field: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = SCIMDate.parse(text + "T00:00:00Z") ?? SCIMDate.parse(text) else {
            throw StoreError.invalid(field, "The expiry must be a date (YYYY-MM-DD).")
        }
        return date
    }

    func createOAuthClient(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let label = call.form.text("label") ?? ""
        let expiresText = call.form.text("expires")
        let issued: IssuedOAuthClient
        do {
            issued = try await stores.oauth.create(
                organisationID: organisation.id, label: label,
                secretExpiresAt: try formExpiry(expiresText, field: "secretExpiresAt"))
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable else { throw failure }
            return try await oauthClientsPage(
                call, organisation: organisation, issued: nil, form: ["label": label, "expires": expiresText ?? ""],
                error: failure.message, status: failure.status)
        }
        let id = issued.id.uuidString.lowercased()
        await written(
            call, method: "POST", route: "/admin/v1/organisations/{slug}/oauth-clients", slug: slug, target: id,
            status: 201)
        // Rendered, not redirected: the secret exists only in this response.
        return try await oauthClientsPage(
            call, organisation: organisation,
            issued: [
                "heading": "New OAuth client “\(issued.label)”", "clientId": issued.clientID,
                "clientSecret": issued.clientSecret,
                "expires": ConsoleTime.view(issued.secretExpiresAt, now: call.now) as Any,
            ],
            form: [:], error: nil, status: .created)
    }

    func addOAuthSecret(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let client = try await findOAuthClient(call, organisation: organisation)
        let issued: IssuedOAuthSecret
        do {
            issued = try await stores.oauth.addSecret(
                organisationID: organisation.id, clientID: client.id,
                expiresAt: try formExpiry(call.form.text("expires"), field: "expiresAt"))
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable else { throw failure }
            return try await oauthClientsPage(
                call, organisation: organisation, issued: nil, form: [:], error: failure.message,
                status: failure.status)
        }
        let id = client.id.uuidString.lowercased()
        await written(
            call, method: "POST", route: "/admin/v1/organisations/{slug}/oauth-clients/{id}/secrets", slug: slug,
            target: id, status: 201)
        return try await oauthClientsPage(
            call, organisation: organisation,
            issued: [
                "heading": "New secret for “\(client.label)”", "clientId": client.clientID,
                "clientSecret": issued.clientSecret,
                "expires": ConsoleTime.view(issued.expiresAt, now: call.now) as Any,
            ],
            form: [:], error: nil, status: .created)
    }

    func confirmRevokeOAuthClient(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let client = try await findOAuthClient(call, organisation: organisation)
        let data: [String: Any] = [
            "slug": slug, "id": client.id.uuidString.lowercased(), "label": client.label, "clientId": client.clientID,
            "csrf": call.csrf, "lastUsed": ConsoleTime.view(client.lastUsedAt, now: call.now) as Any,
        ]
        return views.page(
            "oauth-client-revoke", title: "Revoke OAuth client \(client.label)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "oauth-clients"))
    }

    func revokeOAuthClient(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let client = try await findOAuthClient(call, organisation: organisation)
        try await stores.oauth.revoke(organisationID: organisation.id, clientID: client.id)
        await written(
            call, method: "DELETE", route: "/admin/v1/organisations/{slug}/oauth-clients/{id}", slug: slug,
            target: client.id.uuidString.lowercased(), status: 204)
        return Self.redirect("/console/organisations/\(slug)/oauth-clients?done=oauth-client-revoked")
    }

    func confirmRevokeOAuthSecret(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let client = try await findOAuthClient(call, organisation: organisation)
        let secret = try findOAuthSecret(call, client: client)
        let live = client.secrets.filter { $0.isLive(at: call.now) }.count
        let data: [String: Any] = [
            "slug": slug, "id": client.id.uuidString.lowercased(), "label": client.label, "clientId": client.clientID,
            "secretId": secret.secretID.uuidString.lowercased(), "csrf": call.csrf,
            "created": ConsoleTime.view(secret.createdAt, now: call.now) as Any,
            "lastUsed": ConsoleTime.view(secret.lastUsedAt, now: call.now) as Any,
            "lastLive": live <= 1 && secret.isLive(at: call.now),
        ]
        return views.page(
            "oauth-secret-revoke", title: "Revoke a secret of \(client.label)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "oauth-clients"))
    }

    func revokeOAuthSecret(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let client = try await findOAuthClient(call, organisation: organisation)
        let secret = try findOAuthSecret(call, client: client)
        try await stores.oauth.revokeSecret(
            organisationID: organisation.id, clientID: client.id, secretID: secret.secretID)
        await written(
            call, method: "DELETE", route: "/admin/v1/organisations/{slug}/oauth-clients/{id}/secrets/{secretId}",
            slug: slug, target: client.id.uuidString.lowercased(), status: 204)
        return Self.redirect("/console/organisations/\(slug)/oauth-clients?done=oauth-secret-revoked")
    }

    private func findOAuthClient(_ call: ConsoleCall<Context>, organisation: Organisation) async throws
        -> OAuthClientInfo
    {
        let id = call.context.parameters.get("id").flatMap(UUID.init(uuidString:))
        guard let id,
            let client = try await stores.oauth.list(organisationID: organisation.id).first(where: { $0.id == id })
        else {
            throw ConsoleFailure(
                status: .notFound, title: "OAuth client not found",
                message: "This organisation has no such OAuth client.")
        }
        return client
    }

    private func findOAuthSecret(_ call: ConsoleCall<Context>, client: OAuthClientInfo) throws -> OAuthSecretInfo {
        let id = call.context.parameters.get("secretId").flatMap(UUID.init(uuidString:))
        guard let id, let secret = client.secrets.first(where: { $0.secretID == id }) else {
            throw ConsoleFailure(
                status: .notFound, title: "Secret not found", message: "This OAuth client has no such secret.")
        }
        return secret
    }
}
