import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SCIM
import SCIMStore

/// Users, teams, sync events, custom fields, settings; staff keys and the audit log.
extension Console {
    static var pageSize: Int { 50 }

    func addMorePages(to group: RouterGroup<Context>) {
        group.get("organisations/:slug/users", use: page(listUsers))
        group.get("organisations/:slug/users/:id", use: page(userPage))
        group.get("organisations/:slug/teams", use: page(listTeams))
        group.get("organisations/:slug/teams/:id", use: page(teamPage))
        group.get("organisations/:slug/events", use: page(listEvents))
        group.get("organisations/:slug/custom-fields", use: page(customFieldsPage))
        group.post("organisations/:slug/custom-fields", use: page(saveCustomField))
        group.post("organisations/:slug/custom-fields/remove", use: page(removeCustomField))
        group.get("organisations/:slug/settings", use: page(settingsPage))
        group.post("organisations/:slug/settings", use: page(saveSettings))
        group.get("staff-keys", use: page(staffKeysPage))
        group.post("staff-keys", use: page(issueStaffKey))
        group.post("staff-keys/:id/revoke", use: page(revokeStaffKey))
        group.get("audit", use: page(auditPage))
    }

    /// The organisation of the route (visible to the caller, or 404) and its tenant.
    func organisation(_ call: ConsoleCall<Context>) async throws -> (Organisation, Tenant) {
        let organisation = try await stores.organisations.find(slug: try call.slug())
        return (organisation, try await stores.organisations.tenant(slug: organisation.slug))
    }

    /// `?page=N` (1-based), checked.
    func pageNumber(_ call: ConsoleCall<Context>) throws -> Int {
        guard let text = call.query.text("page") else { return 1 }
        guard let number = Int(text), (1...100_000).contains(number) else {
            throw ConsoleFailure(
                status: .badRequest, title: "Check the address", message: "page must be a number from 1.")
        }
        return number
    }

    /// Links to the previous and next page, keeping the other query parameters.
    func pager(_ call: ConsoleCall<Context>, page: Int, hasMore: Bool) -> [String: Any] {
        func link(_ number: Int) -> String {
            var pairs = call.query.pairsExcept("page")
            pairs.append(("page", String(number)))
            return call.request.uri.path + "?" + FormFields.encode(pairs)
        }
        var pager: [String: Any] = ["page": page, "show": page > 1 || hasMore]
        if page > 1 { pager["previous"] = link(page - 1) }
        if hasMore { pager["next"] = link(page + 1) }
        return pager
    }

    static func userRow(_ user: UserSummary, slug: String, now: Date) -> [String: Any] {
        [
            "id": user.id.uuidString.lowercased(), "name": user.name, "userName": user.userName, "email": user.email,
            "active": user.active, "scim": user.managedBySCIM,
            "updated": ConsoleTime.view(user.updatedAt, now: now) as Any,
            "href": "/console/organisations/\(slug)/users/\(user.id.uuidString.lowercased())",
        ]
    }

    // MARK: - Users

    func listUsers(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        let search = call.query.text("q")
        let filterText = call.query.text("filter") ?? "all"
        guard let filter = UserFilter(rawValue: filterText) else {
            throw ConsoleFailure(
                status: .badRequest, title: "Check the address", message: "Unknown filter \"\(filterText.prefix(32))\"."
            )
        }
        let page = try pageNumber(call)
        let (users, hasMore) = try await stores.directory.search(
            tenant, search: search, filter: filter, limit: Self.pageSize, offset: (page - 1) * Self.pageSize)
        let filters = UserFilter.allCases.map { option -> [String: Any] in
            let labels: [UserFilter: String] = [
                .all: "All users", .active: "Active", .deactivated: "Deactivated", .scim: "Managed by SCIM",
                .manual: "Manual",
            ]
            return ["value": option.rawValue, "label": labels[option] ?? option.rawValue, "selected": option == filter]
        }
        let data: [String: Any] = [
            "slug": organisation.slug, "users": users.map { Self.userRow($0, slug: organisation.slug, now: call.now) },
            "any": !users.isEmpty, "q": search ?? "", "filters": filters, "narrowed": search != nil || filter != .all,
            "pager": pager(call, page: page, hasMore: hasMore),
        ]
        return views.page(
            "users", title: "Users · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "users"))
    }

    func userPage(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        guard let id = call.context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw ConsoleFailure(
                status: .notFound, title: "User not found", message: "This organisation has no such user.")
        }
        let detail = try await stores.directory.user(tenant, id: id)
        _ = try await stores.events.flush(stores.client, only: tenant.schema)
        var query = EventQuery()
        query.userName = detail.user.userName
        query.limit = 20
        let (events, _) = try await stores.status.events(tenant, query: query)
        let slug = organisation.slug
        let data: [String: Any] = [
            "slug": slug, "user": Self.userRow(detail.user, slug: slug, now: call.now),
            "externalId": detail.externalID as Any, "title": detail.title as Any,
            "department": detail.department as Any,
            "role": detail.role, "created": ConsoleTime.view(detail.createdAt, now: call.now) as Any,
            "manager": detail.manager.map { manager -> [String: Any] in
                [
                    "name": manager.name, "userName": manager.userName,
                    "href": "/console/organisations/\(slug)/users/\(manager.id.uuidString.lowercased())",
                ]
            } as Any,
            "pendingManager": detail.pendingManager as Any,
            "teams": detail.teams.map {
                ["name": $0.name, "href": "/console/organisations/\(slug)/teams/\($0.id.uuidString.lowercased())"]
            },
            "hasTeams": !detail.teams.isEmpty,
            "customFields": detail.customFields.keys.sorted().map {
                ["name": $0, "value": Self.display(detail.customFields[$0])]
            },
            "hasCustomFields": !detail.customFields.isEmpty,
            "events": events.map { Self.eventRow($0, slug: slug, now: call.now) }, "hasEvents": !events.isEmpty,
            "eventsHref":
                "/console/organisations/\(slug)/events?userName=\(FormFields.encodeValue(detail.user.userName))",
        ]
        return views.page(
            "user", title: "\(detail.user.name) · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "users"))
    }

    static func display(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: ""
        case .string(let text)?: text
        case .bool(let flag)?: flag ? "true" : "false"
        case .number(let number)?:
            number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case let other?: String(decoding: other.serialized(), as: UTF8.self)
        }
    }

    // MARK: - Teams

    func listTeams(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        let teams = try await stores.groups.teams(tenant)
        let sources = ["group": "Okta group", "department": "Department", "both": "Group and department"]
        let data: [String: Any] = [
            "teams": teams.map { team -> [String: Any] in
                [
                    "name": team.name, "members": team.memberCount, "source": sources[team.source] ?? team.source,
                    "href": "/console/organisations/\(organisation.slug)/teams/\(team.id.uuidString.lowercased())",
                ]
            },
            "any": !teams.isEmpty,
        ]
        return views.page(
            "teams", title: "Teams · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "teams"))
    }

    func teamPage(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        guard let id = call.context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw ConsoleFailure(
                status: .notFound, title: "Team not found", message: "This organisation has no such team.")
        }
        let page = try pageNumber(call)
        let (team, hasMore) = try await stores.directory.team(
            tenant, id: id, limit: Self.pageSize, offset: (page - 1) * Self.pageSize)
        let data: [String: Any] = [
            "name": team.name, "externalId": team.externalID as Any, "memberCount": team.memberCount,
            "source": team.isGroup ? "Okta group (Group Push)" : "Department",
            "members": team.members.map { Self.userRow($0, slug: organisation.slug, now: call.now) },
            "any": !team.members.isEmpty,
            "pager": pager(call, page: page, hasMore: hasMore), "slug": organisation.slug,
        ]
        return views.page(
            "team", title: "\(team.name) · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "teams"))
    }

    // MARK: - Sync events

    static func eventRow(_ event: EventRecord, slug: String, now: Date) -> [String: Any] {
        [
            "time": ConsoleTime.view(event.occurredAt, now: now) as Any, "outcome": event.outcome,
            "method": event.method,
            "path": event.path, "status": event.status, "userName": event.userName ?? "", "detail": event.detail ?? "",
            "scimType": event.scimType ?? "", "requestId": event.requestId,
            "clientRequestId": event.clientRequestId ?? "",
            "changes": event.changes.joined(separator: ", "), "hasChanges": !event.changes.isEmpty,
            "failed": event.outcome != "success", "duration": event.durationMs.map { "\($0) ms" } ?? "",
            "kind": event.kind ?? "",
        ]
    }

    func listEvents(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        let q = call.query
        var query = EventQuery()
        query.outcome = q.text("outcome")
        query.method = q.text("method")?.uppercased()
        query.requestID = q.text("requestId")
        query.userName = q.text("userName")
        query.cursor = q.text("cursor")
        query.limit = Self.pageSize
        let windows: [String: TimeInterval] = ["1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400]
        let window = q.text("since") ?? ""
        if !window.isEmpty {
            guard let seconds = windows[window] else {
                throw ConsoleFailure(
                    status: .badRequest, title: "Check the address", message: "since must be 1h, 24h, 7d or 30d.")
            }
            query.since = call.now.addingTimeInterval(-seconds)
        }
        _ = try await stores.events.flush(stores.client, only: tenant.schema)
        let (events, next) = try await stores.status.events(tenant, query: query)
        func options(_ values: [(String, String)], selected: String?) -> [[String: Any]] {
            values.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == (selected ?? "")] }
        }
        var nextHref: String?
        if let next {
            var pairs = q.pairsExcept("cursor")
            pairs.append(("cursor", next))
            nextHref = call.request.uri.path + "?" + FormFields.encode(pairs)
        }
        let data: [String: Any] = [
            "slug": organisation.slug,
            "events": events.map { Self.eventRow($0, slug: organisation.slug, now: call.now) },
            "any": !events.isEmpty, "requestId": query.requestID ?? "", "userName": query.userName ?? "",
            "outcomes": options(
                [("", "Any outcome"), ("error", "Errors"), ("warning", "Warnings"), ("success", "Successes")],
                selected: query.outcome),
            "methods": options(
                [
                    ("", "Any operation"), ("POST", "Create (POST)"), ("PUT", "Replace (PUT)"),
                    ("PATCH", "Update (PATCH)"),
                    ("DELETE", "Delete (DELETE)"), ("GET", "Read (GET)"),
                ], selected: query.method),
            "windows": options(
                [
                    ("", "Any time"), ("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"),
                    ("30d", "Last 30 days"),
                ], selected: window),
            "narrowed": query.outcome != nil || query.method != nil || query.requestID != nil || query.userName != nil
                || !window.isEmpty,
            "next": nextHref as Any, "paged": query.cursor != nil,
            "firstHref": call.request.uri.path + "?" + FormFields.encode(q.pairsExcept("cursor")),
        ]
        return views.page(
            "events", title: "Sync events · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "events"))
    }

    // MARK: - Custom fields

    func customFieldsPage(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        let mappings = try await stores.customFields.list(tenant)
        let editing = call.query.text("edit").flatMap { attribute in mappings.first { $0.scimAttribute == attribute } }
        var form: [String: String] = [:]
        if let editing {
            form = [
                "original": editing.scimAttribute, "scimAttribute": editing.scimAttribute, "field": editing.field,
                "type": editing.type.rawValue,
                "allowedValues": (editing.allowedValues ?? []).joined(separator: ", "),
            ]
        }
        return try await customFieldsView(
            call, organisation: organisation, mappings: mappings, form: form, errors: [:], status: .ok)
    }

    private func customFieldsView(
        _ call: ConsoleCall<Context>, organisation: Organisation, mappings: [CustomFieldMapping],
        form: [String: String],
        errors: [String: String], status: HTTPResponse.Status
    ) async throws -> Response {
        let slug = organisation.slug
        let types = ["string", "number", "boolean", "date", "enum"].map { type -> [String: Any] in
            ["value": type, "selected": type == (form["type"] ?? "string")]
        }
        var errorViews: [String: Any] = [:]
        for (key, message) in errors { errorViews[key] = message }
        let data: [String: Any] = [
            "slug": slug, "csrf": call.csrf, "canWrite": call.identity.mayWrite, "any": !mappings.isEmpty,
            "mappings": mappings.map { mapping -> [String: Any] in
                [
                    "scimAttribute": mapping.scimAttribute, "field": mapping.field, "type": mapping.type,
                    "allowedValues": (mapping.allowedValues ?? []).joined(separator: ", "),
                    "editHref":
                        "/console/organisations/\(slug)/custom-fields?edit="
                        + "\(FormFields.encodeValue(mapping.scimAttribute))#mapping-form",
                ]
            },
            "warnings": CustomFieldStore.warnings(for: mappings),
            "hasWarnings": !CustomFieldStore.warnings(for: mappings).isEmpty,
            "form": form, "editing": form["original"] != nil, "types": types, "errors": errorViews,
            "hasErrors": !errors.isEmpty,
        ]
        return views.page(
            "custom-fields", title: "Custom fields · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "custom-fields"), status: status)
    }

    /// Adds a mapping, or replaces the one named by `original`: the whole list goes through
    /// `CustomFieldStore.replace`, as `PUT /admin/v1/organisations/{slug}/custom-fields` does.
    func saveCustomField(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        try call.requireWrite()
        let form = call.form
        let values = (form.text("allowedValues") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        .filter { !$0.isEmpty }
        let mapping = CustomFieldMapping.Draft(
            scimAttribute: form.text("scimAttribute") ?? "", field: form.text("field") ?? "",
            type: form.text("type") ?? "",
            allowedValues: values.isEmpty ? nil : values)
        var mappings = try await stores.customFields.list(tenant).map(\.draft)
        if let original = form.text("original") {
            mappings.removeAll { $0.scimAttribute == original }
        }
        var errors: [String: String] = [:]
        if mapping.scimAttribute.isEmpty { errors["scimAttribute"] = "Enter the SCIM attribute." }
        if mapping.field.isEmpty { errors["field"] = "Enter the Learn Amp field name." }
        if errors.isEmpty {
            do {
                _ = try await stores.customFields.replace(tenant, with: mappings + [mapping])
                await written(
                    call, method: "PUT", route: "/admin/v1/organisations/{slug}/custom-fields", slug: organisation.slug,
                    target: nil,
                    status: 200)
                return Self.redirect("/console/organisations/\(organisation.slug)/custom-fields?done=fields-saved")
            } catch {
                let failure = ConsoleFailure.from(error, logger: call.context.logger)
                guard failure.isCorrectable else { throw failure }
                errors[Self.customFieldInput(for: failure.message)] = failure.message
            }
        }
        let entered = [
            "original": form.text("original") ?? "", "scimAttribute": mapping.scimAttribute, "field": mapping.field,
            "type": mapping.type, "allowedValues": values.joined(separator: ", "),
        ].filter { !$0.value.isEmpty }
        return try await customFieldsView(
            call, organisation: organisation, mappings: try await stores.customFields.list(tenant), form: entered,
            errors: errors,
            status: .badRequest)
    }

    /// Which input a custom-field validation message is about, read from the field it names.
    static func customFieldInput(for message: String) -> String {
        if message.hasPrefix("field ") { return "field" }
        if message.hasPrefix("type ") { return "type" }
        if message.contains("allowedValues") { return "allowedValues" }
        return "scimAttribute"
    }

    func removeCustomField(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, tenant) = try await organisation(call)
        try call.requireWrite()
        let attribute = call.form.text("scimAttribute") ?? ""
        var mappings = try await stores.customFields.list(tenant)
        guard mappings.contains(where: { $0.scimAttribute == attribute }) else {
            throw ConsoleFailure(
                status: .notFound, title: "Mapping not found", message: "No mapping for \(attribute.prefix(120)).")
        }
        mappings.removeAll { $0.scimAttribute == attribute }
        _ = try await stores.customFields.replace(tenant, with: mappings.map(\.draft))
        await written(
            call, method: "PUT", route: "/admin/v1/organisations/{slug}/custom-fields", slug: organisation.slug,
            target: nil, status: 200)
        return Self.redirect("/console/organisations/\(organisation.slug)/custom-fields?done=fields-saved")
    }

    // MARK: - Settings

    func settingsPage(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, _) = try await organisation(call)
        return settingsView(call, organisation: organisation, form: [:], error: nil, status: .ok)
    }

    private func settingsView(
        _ call: ConsoleCall<Context>, organisation: Organisation, form: [String: String], error: String?,
        status: HTTPResponse.Status
    ) -> Response {
        let data: [String: Any] = [
            "slug": organisation.slug, "csrf": call.csrf, "canWrite": call.identity.mayWrite,
            "scimEnabled": organisation.scimEnabled,
            "name": form["name"] ?? organisation.name,
            "rps": form["rps"] ?? organisation.rateLimit.map { String($0.requestsPerSecond) } ?? "",
            "burst": form["burst"] ?? organisation.rateLimit.map { String($0.burst) } ?? "",
            "hasOverride": organisation.rateLimit != nil, "error": error as Any,
            "mayChangeLifecycle": Self.mayChangeLifecycle(call.identity), "offboarded": organisation.isOffboarded,
            "graceDays": plural(stores.lifecycle.graceDays, "day"),
        ]
        return views.page(
            "settings", title: "Settings · \(organisation.name)", data: data,
            layout: ConsoleViews.layout(call, organisation: organisation, section: "settings"), status: status)
    }

    func saveSettings(_ call: ConsoleCall<Context>) async throws -> Response {
        let (organisation, _) = try await organisation(call)
        try call.requireWrite()
        let form = call.form
        let rps = form.text("rps")
        let burst = form.text("burst")
        do {
            var change = RateLimitChange.cleared
            if rps != nil || burst != nil {
                guard let rps, let burst, let perSecond = Int(rps), let size = Int(burst) else {
                    throw StoreError.invalid(
                        "rateLimit", "Enter both the requests per second and the burst as whole numbers, or neither.")
                }
                change = .set(RateLimit(requestsPerSecond: perSecond, burst: size))
            }
            _ = try await stores.organisations.update(
                slug: organisation.slug, name: form.text("name") ?? "", scimEnabled: form["scimEnabled"] == "on",
                rateLimit: change)
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable else { throw failure }
            return settingsView(
                call, organisation: organisation,
                form: ["name": form["name"] ?? "", "rps": rps ?? "", "burst": burst ?? ""],
                error: failure.message, status: failure.status)
        }
        await written(
            call, method: "PATCH", route: "/admin/v1/organisations/{slug}", slug: organisation.slug, target: nil,
            status: 200)
        return Self.redirect("/console/organisations/\(organisation.slug)/settings?done=settings-saved")
    }

    // MARK: - Staff keys and the audit log (unbound keys only)

    func staffKeysPage(_ call: ConsoleCall<Context>) async throws -> Response {
        try call.requireUnbound()
        return try await staffKeysView(call, issued: nil, form: [:], error: nil, status: .ok)
    }

    private func staffKeysView(
        _ call: ConsoleCall<Context>, issued: [String: Any]?, form: [String: String], error: String?,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let keys = try await stores.staffKeys.list()
        let organisations = try await stores.organisations.list()
        let data: [String: Any] = [
            "csrf": call.csrf, "canWrite": call.identity.mayWrite, "issued": issued as Any, "error": error as Any,
            "form": form,
            "any": !keys.isEmpty,
            "keys": keys.map { key -> [String: Any] in
                [
                    "id": key.id.uuidString.lowercased(), "name": key.name, "role": key.role.rawValue,
                    "prefix": key.prefix,
                    "organisation": key.organisation ?? "",
                    "created": ConsoleTime.view(key.createdAt, now: call.now) as Any,
                    "lastUsed": ConsoleTime.view(key.lastUsedAt, now: call.now) as Any,
                    "revoked": ConsoleTime.view(key.revokedAt, now: call.now) as Any, "live": key.revokedAt == nil,
                    "self": key.id == call.identity.id,
                ]
            },
            "roles": [
                ["value": "support", "selected": form["role"] != "readonly"],
                ["value": "readonly", "selected": form["role"] == "readonly"],
            ],
            "organisations": organisations.map {
                ["slug": $0.slug, "name": $0.name, "selected": $0.slug == form["organisation"]]
            },
        ]
        var layout = ConsoleViews.layout(call)
        layout["sectionOrganisations"] = false
        return views.page("staff-keys", title: "Staff keys", data: data, layout: layout, status: status)
    }

    func issueStaffKey(_ call: ConsoleCall<Context>) async throws -> Response {
        try call.requireUnbound()
        try call.requireWrite()
        let form = call.form
        let name = form.text("name") ?? ""
        let role = form.text("role") ?? ""
        let bound = form.text("organisation")
        let issued: (info: StaffKeyInfo, key: String)
        do {
            issued = try await stores.staffKeys.issue(name: name, role: role, organisationSlug: bound)
        } catch {
            let failure = ConsoleFailure.from(error, logger: call.context.logger)
            guard failure.isCorrectable || failure.status == .notFound else { throw failure }
            return try await staffKeysView(
                call, issued: nil, form: ["name": name, "role": role, "organisation": bound ?? ""],
                error: failure.message,
                status: .badRequest)
        }
        await written(
            call, method: "POST", route: "/admin/v1/staff-keys", slug: nil,
            target: issued.info.id.uuidString.lowercased(), status: 201)
        return try await staffKeysView(
            call, issued: ["key": issued.key, "name": issued.info.name], form: [:], error: nil, status: .created)
    }

    func revokeStaffKey(_ call: ConsoleCall<Context>) async throws -> Response {
        try call.requireUnbound()
        try call.requireWrite()
        guard let id = call.context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw ConsoleFailure(status: .notFound, title: "Key not found", message: "There is no such staff key.")
        }
        try await stores.staffKeys.revoke(id: id)
        await written(
            call, method: "DELETE", route: "/admin/v1/staff-keys/{id}", slug: nil, target: id.uuidString.lowercased(),
            status: 204)
        return Self.redirect("/console/staff-keys?done=key-revoked")
    }

    func auditPage(_ call: ConsoleCall<Context>) async throws -> Response {
        try call.requireUnbound()
        var cursor: Int64?
        if let text = call.query.text("cursor") {
            guard let number = Int64(text), number > 0 else {
                throw ConsoleFailure(
                    status: .badRequest, title: "Check the address", message: "cursor is not one this server issued.")
            }
            cursor = number
        }
        let (entries, next) = try await stores.auditLog.list(limit: Self.pageSize, cursor: cursor)
        let data: [String: Any] = [
            "any": !entries.isEmpty, "paged": cursor != nil,
            "next": next.map { "/console/audit?cursor=\($0)" } as Any,
            "entries": entries.map { entry -> [String: Any] in
                [
                    "time": ConsoleTime.view(entry.occurredAt, now: call.now) as Any, "actor": entry.actorName,
                    "kind": entry.actorKind == .bootstrap ? "bootstrap token" : "staff key", "method": entry.method,
                    "route": entry.route, "organisation": entry.organisation ?? "", "target": entry.target ?? "",
                    "status": entry.status,
                ]
            },
        ]
        var layout = ConsoleViews.layout(call)
        layout["sectionOrganisations"] = false
        return views.page("audit", title: "Audit log", data: data, layout: layout)
    }
}

extension FormFields {
    func pairsExcept(_ name: String) -> [(String, String)] {
        pairs.filter { $0.0 != name && !$0.1.isEmpty }
    }

    static func encodeValue(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(encodeValue($0.0))=\(encodeValue($0.1))" }.joined(separator: "&")
    }
}
