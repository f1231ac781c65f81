import Foundation
import Hummingbird
import Postgres
import SCIM
import SCIMStore

/// `/admin/v1/organisations/{slug}/status` and `/events`: what support and the Learn Amp app read to
/// answer "is SCIM working, and why didn't this user sync?".
struct StatusController {
    let organisations: OrganisationStore
    let tokens: TokenStore
    let oauth: OAuthClientStore
    let status: SyncStatusStore
    let events: EventBuffer
    let client: PostgresClient

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("organisations/:slug/status", use: organisationStatus)
        group.get("organisations/:slug/events", use: listEvents)
    }

    @Sendable func organisationStatus(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let tenant = try await organisations.tenant(slug: organisation.slug)
        try await flush(tenant)
        let current = try await status.status(tenant, organisation: organisation, tokens: tokens, oauth: oauth)
        return try Responses.json(OrganisationStatusResponse(current))
    }

    @Sendable func listEvents(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let parameters = request.queryParameters
        var query = EventQuery()
        // SyncStatusStore.events checks the value.
        query.outcome = parameters["outcome"].flatMap { $0.isEmpty ? nil : $0 }
        query.since = try Self.date(parameters["since"], name: "since")
        query.until = try Self.date(parameters["until"], name: "until")
        query.userName = parameters["userName"].flatMap { $0.isEmpty ? nil : $0 }
        query.requestID = parameters["requestId"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = parameters["limit"] {
            guard let limit = Int(text), (1...500).contains(limit) else {
                throw AdminError.badRequest("limit must be 1-500.")
            }
            query.limit = limit
        }
        query.cursor = parameters["cursor"]
        try await flush(tenant)
        let (events, next) = try await status.events(tenant, query: query)
        return try Responses.json(EventListResponse(events: events.map(EventResponse.init), nextCursor: next))
    }

    /// Events of reads and failures wait in this replica's buffer for up to a second; write them first
    /// so support sees what just happened.
    private func flush(_ tenant: Tenant) async throws {
        try await events.flush(client, only: tenant.schema)
    }

    static func date(_ text: String?, name: String) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard let date = SCIMDate.parse(text) else {
            throw AdminError.badRequest("\(name) must be an RFC 3339 date-time.")
        }
        return date
    }
}
