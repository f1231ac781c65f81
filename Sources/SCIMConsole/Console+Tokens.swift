import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SCIM
import SCIMStore

/// SCIM tokens: the list, issuing one (shown once), revoking one after a confirmation step.
extension Console {
    func listTokens(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await stores.organisations.find(slug: try call.slug())
        return try await tokensPage(call, organisation: organisation, issued: nil, form: [:], error: nil, status: .ok)
    }

    private func tokensPage(
        _ call: ConsoleCall<Context>, organisation: Organisation, issued: [String: Any]?, form: [String: String],
        error: String?,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let tokens = try await stores.tokens.list(organisationID: organisation.id)
        let rows = tokens.map { token -> [String: Any] in
            let expired = token.expiresAt.map { $0 <= call.now } ?? false
            return [
                "id": token.id.uuidString.lowercased(), "label": token.label, "prefix": token.prefix,
                "created": ConsoleTime.view(token.createdAt, now: call.now) as Any,
                "lastUsed": ConsoleTime.view(token.lastUsedAt, now: call.now) as Any,
                "expires": ConsoleTime.view(token.expiresAt, now: call.now) as Any,
                "revoked": ConsoleTime.view(token.revokedAt, now: call.now) as Any,
                "live": token.revokedAt == nil && !expired, "expired": expired && token.revokedAt == nil,
            ]
        }
        let data: [String: Any] = [
            "slug": organisation.slug, "tokens": rows, "any": !rows.isEmpty, "canWrite": call.identity.mayWrite,
            "canIssue": call.identity.mayWrite && !organisation.isOffboarded,
            "offboarded": organisation.isOffboarded, "mayRestore": Self.mayChangeLifecycle(call.identity),
            "csrf": call.csrf, "issued": issued as Any, "form": form, "error": error as Any,
            "scimBaseURL": scimBaseURL(call.request),
        ]
        return views.page(
            "tokens", title: "SCIM tokens · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "tokens"), status: status)
    }

    func issueToken(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let label = call.form.text("label") ?? ""
        let expiresText = call.form.text("expires")
        let issued: (info: TokenInfo, token: String)
        do {
            guard !label.isEmpty else { throw StoreError.invalid("label", "Give the token a label, such as okta.") }
            var expiresAt: Date?
            if let expiresText {
                // A date from the form's date field: the token expires at the start of that day, UTC.
                guard let date = SCIMDate.parse(expiresText + "T00:00:00Z") ?? SCIMDate.parse(expiresText) else {
                    throw StoreError.invalid("expiresAt", "The expiry must be a date (YYYY-MM-DD).")
                }
                guard date > call.now else {
                    throw StoreError.invalid("expiresAt", "The expiry must be in the future.")
                }
                expiresAt = date
            }
            issued = try await stores.tokens.issue(organisationID: organisation.id, label: label, expiresAt: expiresAt)
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable else { throw failure }
            return try await tokensPage(
                call, organisation: organisation, issued: nil, form: ["label": label, "expires": expiresText ?? ""],
                error: failure.message,
                status: failure.status)
        }
        let id = issued.info.id.uuidString.lowercased()
        await written(
            call, method: "POST", route: "/admin/v1/organisations/{slug}/tokens", slug: slug, target: id, status: 201)
        // Rendered, not redirected: the secret exists only in this response.
        return try await tokensPage(
            call, organisation: organisation, issued: ["token": issued.token, "label": issued.info.label], form: [:],
            error: nil,
            status: .created)
    }

    func confirmRevokeToken(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let token = try await findToken(call, organisation: organisation)
        let data: [String: Any] = [
            "slug": slug, "id": token.id.uuidString.lowercased(), "label": token.label, "prefix": token.prefix,
            "csrf": call.csrf,
            "lastUsed": ConsoleTime.view(token.lastUsedAt, now: call.now) as Any,
        ]
        return views.page(
            "token-revoke", title: "Revoke token \(token.label)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "tokens"))
    }

    func revokeToken(_ call: ConsoleCall<Context>) async throws -> Response {
        let slug = try call.slug()
        try call.requireWrite()
        let organisation = try await stores.organisations.find(slug: slug)
        let token = try await findToken(call, organisation: organisation)
        try await stores.tokens.revoke(organisationID: organisation.id, tokenID: token.id)
        await written(
            call, method: "DELETE", route: "/admin/v1/organisations/{slug}/tokens/{id}", slug: slug,
            target: token.id.uuidString.lowercased(), status: 204)
        return Self.redirect("/console/organisations/\(slug)/tokens?done=token-revoked")
    }

    private func findToken(_ call: ConsoleCall<Context>, organisation: Organisation) async throws -> TokenInfo {
        let id = call.context.parameters.get("id").flatMap(UUID.init(uuidString:))
        guard let id,
            let token = try await stores.tokens.list(organisationID: organisation.id).first(where: { $0.id == id })
        else {
            throw ConsoleFailure(
                status: .notFound, title: "Token not found", message: "This organisation has no such token.")
        }
        return token
    }
}
