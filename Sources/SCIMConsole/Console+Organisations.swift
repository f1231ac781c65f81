import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Postgres
import SCIMStore

/// Organisations: the list, "New organisation", the overview with the Connect Okta panel.
extension Console {
    func listOrganisations(_ call: ConsoleCall<Context>) async throws -> Response {
        try await organisationsPage(call, form: [:], error: nil, status: .ok)
    }

    private func organisationsPage(
        _ call: ConsoleCall<Context>, form: [String: String], error: String?, status: HTTPResponse.Status
    ) async throws -> Response {
        var visible = try await stores.organisations.list()
        if let slug = call.identity.organisationSlug { visible = visible.filter { $0.slug == slug } }
        let search = call.query.text("q")
        if let search {
            let needle = search.lowercased()
            visible = visible.filter { $0.name.lowercased().contains(needle) || $0.slug.contains(needle) }
        }
        // One page at a time: each row reads its organisation's status, so the page's cost stays bounded
        // however many organisations the deployment serves.
        let page = try pageNumber(call)
        let shown = visible.dropFirst((page - 1) * Self.pageSize).prefix(Self.pageSize)
        let hasMore = visible.count > page * Self.pageSize
        var rows: [[String: Any]] = []
        for organisation in shown {
            let status: OrganisationStatus
            do {
                status = try await organisationStatus(organisation)
            } catch let error as PostgresError where error.namesMissingRelation {
                continue  // purged since the list was read
            } catch let error as StoreError where error.kind == .notFound {
                continue
            }
            let live = status.tokens.count
            rows.append([
                "name": organisation.name, "slug": organisation.slug, "scimEnabled": organisation.scimEnabled,
                "health": ConsoleHealth(status, offboarded: organisation.isOffboarded).view,
                "activeUsers": status.users.active,
                "totalUsers": status.users.total,
                "lastSync": ConsoleTime.view(status.lastRequestAt, now: call.now) as Any, "liveTokens": live,
            ])
        }
        let data: [String: Any] = [
            "organisations": rows, "any": !rows.isEmpty, "q": search ?? "", "searched": search != nil,
            "canCreate": call.identity.mayWrite && call.identity.isUnbound, "csrf": call.csrf,
            "form": form, "error": error as Any, "pager": pager(call, page: page, hasMore: hasMore),
        ]
        return views.page(
            "organisations", title: "Organisations", data: data, layout: ConsoleViews.layout(call), status: status)
    }

    func createOrganisation(_ call: ConsoleCall<Context>) async throws -> Response {
        try call.requireWrite()
        try call.requireUnbound()
        let slug = call.form.text("slug") ?? ""
        let name = call.form.text("name") ?? ""
        let organisation: Organisation
        do {
            organisation = try await stores.organisations.create(slug: slug, name: name)
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable else { throw failure }
            return try await organisationsPage(
                call, form: ["slug": slug, "name": name], error: failure.message, status: failure.status)
        }
        await written(
            call, method: "POST", route: "/admin/v1/organisations", slug: organisation.slug, target: organisation.slug,
            status: 201)
        return Self.redirect("/console/organisations/\(organisation.slug)?done=organisation-created")
    }

    func overview(_ call: ConsoleCall<Context>) async throws -> Response {
        let organisation = try await stores.organisations.find(slug: try call.slug())
        let status = try await organisationStatus(organisation)
        let base = scimBaseURL(call.request)
        let data: [String: Any] = [
            "name": organisation.name, "slug": organisation.slug, "scimEnabled": organisation.scimEnabled,
            "verdict": status.health.verdict.rawValue, "reasons": status.health.reasons,
            "health": ConsoleHealth(status, offboarded: organisation.isOffboarded).view,
            "hasReasons": !status.health.reasons.isEmpty,
            "lastRequest": ConsoleTime.view(status.lastRequestAt, now: call.now) as Any,
            "lastSuccess": ConsoleTime.view(status.lastSuccessAt, now: call.now) as Any,
            "lastError": ConsoleTime.view(status.lastErrorAt, now: call.now) as Any,
            "users": [
                "total": status.users.total, "active": status.users.active, "deactivated": status.users.deactivated,
                "scimManaged": status.users.scimManaged, "manual": status.users.manual,
            ],
            "teams": plural(status.teams, "team"), "requests24h": plural(status.last24Hours.requests, "request"),
            "errors24h": plural(status.last24Hours.errors, "error"),
            "liveTokens": plural(status.tokens.count, "live token"), "noTokens": status.tokens.isEmpty,
            "recentErrors": status.recentErrors.prefix(5).map { error -> [String: Any] in
                [
                    "time": ConsoleTime.view(error.occurredAt, now: call.now) as Any, "requestId": error.requestId,
                    "method": error.method, "path": error.path, "status": error.status, "detail": error.detail ?? "",
                    "userName": error.userName ?? "",
                ]
            },
            "hasErrors": !status.recentErrors.isEmpty,
            "unresolvedManagers": status.unresolvedManagers.count,
            "unmapped": status.unmappedAttributes.map { ["name": $0.name, "count": $0.count] },
            "scimBaseURL": base, "canWrite": call.identity.mayWrite,
            "canIssue": call.identity.mayWrite && !organisation.isOffboarded,
            "offboarded": organisation.offboardedAt.map { at -> [String: Any] in
                [
                    "at": ConsoleTime.view(at, now: call.now) as Any,
                    "purge": ConsoleTime.deadline(organisation.purgeAfter, now: call.now) as Any,
                    "mayRestore": Self.mayChangeLifecycle(call.identity),
                ]
            } as Any,
        ]
        return views.page(
            "overview", title: organisation.name, data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "overview"))
    }

    /// The status route's view of one organisation, with this replica's buffered events written first.
    func organisationStatus(_ organisation: Organisation) async throws -> OrganisationStatus {
        let tenant = try await stores.organisations.tenant(slug: organisation.slug)
        _ = try await stores.events.flush(stores.client, only: tenant.schema)
        return try await stores.status.status(
            tenant, organisation: organisation, tokens: stores.tokens, oauth: stores.oauth)
    }

    /// The SCIM base URL a customer types into Okta: from `PUBLIC_BASE_URL` when set.
    func scimBaseURL(_ request: Request) -> String {
        if let base = settings.publicBaseURL { return base.trimmingSuffix("/") + "/scim/v2" }
        return (expectedOrigin(request) ?? "https://scim.learnamp.com") + "/scim/v2"
    }

    /// After a console write: the audit entry the same write through the admin API records (the admin
    /// API's method and route template, the organisation, the id written, the status it would answer),
    /// and the cache invalidation that write triggers.
    func written(
        _ call: ConsoleCall<Context>, method: String, route: String, slug: String?, target: String?, status: Int
    ) async {
        stores.coherence.invalidate()
        do {
            try await stores.auditLog.record(
                call.identity, method: method, route: route, organisationSlug: slug, target: target, status: status)
        } catch {
            // The write is committed; failing the page now would invite a duplicate.
            call.context.logger.error(
                "audit log write failed", metadata: ["error": "\(String(reflecting: error))", "scim.route": "\(route)"])
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
