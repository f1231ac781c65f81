import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SCIM
import SCIMStore

/// Offboarding an organisation, restoring it and purging it at once, each after a confirmation step
/// (for the purge, the slug typed again). As for the admin API's routes, only unbound support keys and
/// the bootstrap token may; the rules are `OrganisationLifecycle`'s.
extension Console {
    func addLifecyclePages(to group: RouterGroup<Context>) {
        group.get("organisations/:slug/offboard", use: page(confirmOffboard))
        group.post("organisations/:slug/offboard", use: page(offboard))
        group.get("organisations/:slug/restore", use: page(confirmRestore))
        group.post("organisations/:slug/restore", use: page(restore))
        group.get("organisations/:slug/purge", use: page(confirmPurge))
        group.post("organisations/:slug/purge", use: page(purge))
    }

    /// Whether this identity may offboard and restore organisations.
    static func mayChangeLifecycle(_ identity: StaffIdentity) -> Bool { identity.isUnbound && identity.mayWrite }

    private func lifecycleOrganisation(_ call: ConsoleCall<Context>) async throws -> Organisation {
        let slug = try call.slug()
        try call.requireWrite()
        try call.requireUnbound()
        return try await stores.organisations.find(slug: slug)
    }

    func confirmOffboard(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        guard !organisation.isOffboarded else {
            return Self.redirect("/console/organisations/\(organisation.slug)")
        }
        let tokens = try await stores.tokens.list(organisationID: organisation.id).filter {
            $0.revokedAt == nil && ($0.expiresAt.map { $0 > call.now } ?? true)
        }
        let clients = try await stores.oauth.list(organisationID: organisation.id).filter { $0.revokedAt == nil }
        let graceDays = stores.lifecycle.graceDays
        let data: [String: Any] = [
            "slug": organisation.slug, "name": organisation.name, "csrf": call.csrf,
            "tokens": plural(tokens.count, "live SCIM token"), "clients": plural(clients.count, "OAuth client"),
            "graceDays": plural(graceDays, "day"),
            "purge": ConsoleTime.deadline(
                call.now.addingTimeInterval(TimeInterval(graceDays) * 86_400), now: call.now) as Any,
        ]
        return views.page(
            "offboard", title: "Offboard \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "settings"))
    }

    func offboard(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        _ = try await stores.lifecycle.offboard(slug: organisation.slug, by: call.identity)
        await written(
            call, method: "POST", route: "/admin/v1/organisations/{slug}/offboard", slug: organisation.slug,
            target: nil, status: 200)
        return Self.redirect("/console/organisations/\(organisation.slug)?done=offboarded")
    }

    func confirmRestore(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        guard organisation.isOffboarded else {
            return Self.redirect("/console/organisations/\(organisation.slug)")
        }
        let data: [String: Any] = [
            "slug": organisation.slug, "name": organisation.name, "csrf": call.csrf,
            "offboarded": ConsoleTime.view(organisation.offboardedAt, now: call.now) as Any,
            "purge": ConsoleTime.deadline(organisation.purgeAfter, now: call.now) as Any,
        ]
        return views.page(
            "restore", title: "Restore \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "settings"))
    }

    func restore(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        _ = try await stores.lifecycle.restore(slug: organisation.slug)
        await written(
            call, method: "POST", route: "/admin/v1/organisations/{slug}/restore", slug: organisation.slug,
            target: nil, status: 200)
        return Self.redirect("/console/organisations/\(organisation.slug)?done=restored")
    }

    func confirmPurge(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        guard organisation.isOffboarded else {
            return Self.redirect("/console/organisations/\(organisation.slug)")
        }
        return try await purgePage(call, organisation: organisation, typed: "", error: nil, status: .ok)
    }

    private func purgePage(
        _ call: ConsoleCall<Context>, organisation: Organisation, typed: String, error: String?,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let counts = try await organisationStatus(organisation)
        let data: [String: Any] = [
            "slug": organisation.slug, "name": organisation.name, "csrf": call.csrf, "typed": typed,
            "error": error as Any, "invalid": error != nil,
            "offboarded": ConsoleTime.view(organisation.offboardedAt, now: call.now) as Any,
            "purge": ConsoleTime.deadline(organisation.purgeAfter, now: call.now) as Any,
            "users": plural(counts.users.total, "user"), "teams": plural(counts.teams, "team"),
        ]
        return views.page(
            "purge", title: "Purge \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "overview"), status: status)
    }

    /// Purges through the store method the admin API's `DELETE …/{slug}?confirm={slug}` calls, with the
    /// slug typed on the confirmation page as the confirmation. The purge writes its own audit entry,
    /// the one that outlives the organisation, as for the admin API.
    func purge(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await lifecycleOrganisation(call)
        let typed = call.form.text("confirm") ?? ""
        do {
            _ = try await stores.lifecycle.purge(slug: organisation.slug, confirmation: typed, by: call.identity)
        } catch let error as StoreError where error.kind == .invalid {
            return try await purgePage(
                call, organisation: organisation, typed: typed, error: error.message, status: .badRequest)
        } catch let error as StoreError where error.kind == .conflict {
            throw ConsoleFailure(status: .conflict, title: "Not offboarded", message: error.message)
        }
        stores.coherence.invalidate()
        return Self.redirect("/console/organisations?done=purged")
    }
}
