import Foundation
import HTTPTypes
import Hummingbird
import SCIM
import SCIMStore

/// `/admin/v1`: how Learn Amp support onboards organisations. JSON in, JSON out; the shapes are a contract.
struct AdminController {
    let organisations: OrganisationStore
    let tokens: TokenStore
    let customFields: CustomFieldStore
    let manualUsers: ManualUserStore
    let groups: GroupStore
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("organisations", use: createOrganisation)
        group.get("organisations", use: listOrganisations)
        group.get("organisations/:slug", use: getOrganisation)
        group.patch("organisations/:slug", use: updateOrganisation)
        group.post("organisations/:slug/tokens", use: issueToken)
        group.get("organisations/:slug/tokens", use: listTokens)
        group.delete("organisations/:slug/tokens/:id", use: revokeToken)
        group.put("organisations/:slug/custom-fields", use: replaceCustomFields)
        group.get("organisations/:slug/custom-fields", use: listCustomFields)
        group.post("organisations/:slug/users", use: createUser)
        group.get("organisations/:slug/users", use: listUsers)
        group.patch("organisations/:slug/users/:id", use: updateUser)
        group.get("organisations/:slug/teams", use: listTeams)
    }

    @Sendable func createOrganisation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        let organisation = try await organisations.create(
            slug: try body.requiredString("slug"), name: try body.requiredString("name"))
        return try Responses.json(OrganisationResponse(organisation), status: .created)
            .located("/admin/v1/organisations/\(organisation.slug)")
    }

    @Sendable func listOrganisations(_ request: Request, context: AppRequestContext) async throws -> Response {
        var visible = try await organisations.list()
        // A staff key bound to one organisation lists only that one; AdminAuthMiddleware guards the rest.
        if let bound = context.staff?.organisationID { visible = visible.filter { $0.id == bound } }
        return try Responses.json(["organisations": visible.map(OrganisationResponse.init)])
    }

    @Sendable func getOrganisation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        return try Responses.json(OrganisationResponse(organisation))
    }

    @Sendable func updateOrganisation(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        try body.allowOnly(["name", "scimEnabled", "rateLimit"])
        let organisation = try await organisations.update(
            slug: try context.parameters.require("slug"), name: try body.string("name"),
            scimEnabled: try body.bool("scimEnabled"),
            rateLimit: try body.rateLimitChange())
        return try Responses.json(OrganisationResponse(organisation))
    }

    @Sendable func issueToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let (info, token) = try await tokens.issue(
            organisationID: organisation.id, label: try body.requiredString("label"),
            expiresAt: try body.date("expiresAt"))
        return try Responses.json(IssuedTokenResponse(info, token: token), status: .created)
            .located("/admin/v1/organisations/\(organisation.slug)/tokens/\(info.id.lowercasedString)")
    }

    @Sendable func listTokens(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        let list = try await tokens.list(organisationID: organisation.id)
        return try Responses.json(["tokens": list.map(TokenResponse.init)])
    }

    @Sendable func revokeToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let organisation = try await organisations.find(slug: try context.parameters.require("slug"))
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("No such token in this organisation.")
        }
        try await tokens.revoke(organisationID: organisation.id, tokenID: id)
        return Response(status: .noContent)
    }

    @Sendable func replaceCustomFields(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        guard case .array(let items)? = body.object["mappings"] else {
            throw AdminError.badRequest("mappings must be an array of {scimAttribute, field, type, allowedValues?}.")
        }
        let mappings = try items.map { item in
            let element = try AdminBody(item, context: "mappings[]")
            return CustomFieldMapping.Draft(
                scimAttribute: try element.requiredString("scimAttribute"), field: try element.requiredString("field"),
                type: try element.requiredString("type"), allowedValues: try element.stringArray("allowedValues"))
        }
        let stored = try await customFields.replace(tenant, with: mappings)
        let warnings = CustomFieldStore.warnings(for: stored)
        return try Responses.json(
            CustomFieldsReplacedResponse(
                mappings: stored.map(CustomFieldMappingResponse.init), warnings: warnings.isEmpty ? nil : warnings))
    }

    @Sendable func listCustomFields(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let mappings = try await customFields.list(tenant)
        return try Responses.json(["mappings": mappings.map(CustomFieldMappingResponse.init)])
    }

    @Sendable func createUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let user = try await manualUsers.create(
            tenant, email: try body.requiredString("email"), firstName: try body.string("firstName"),
            lastName: try body.string("lastName"), role: try body.role() ?? .viewer)
        return try Responses.json(AdminUserResponse(user), status: .created)
            .located("/admin/v1/organisations/\(tenant.slug)/users/\(user.id.lowercasedString)")
    }

    @Sendable func listUsers(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        let query = request.queryParameters
        var active: Bool?
        if let text = query["active"] {
            guard let flag = Bool(text.lowercased()) else {
                throw AdminError.badRequest("active must be true or false.")
            }
            active = flag
        }
        var limit = 100
        if let text = query["limit"] {
            guard let number = Int(text), (1...1000).contains(number) else {
                throw AdminError.badRequest("limit must be 1-1000.")
            }
            limit = number
        }
        var cursor: UUID?
        if let text = query["cursor"], !text.isEmpty {
            guard let id = UUID(uuidString: text) else {
                throw AdminError.badRequest("cursor is not one this server issued.")
            }
            cursor = id
        }
        let (users, next) = try await manualUsers.list(
            tenant, email: query["email"], active: active, limit: limit, cursor: cursor)
        return try Responses.json(
            AdminUserListResponse(users: users.map(AdminUserResponse.init), nextCursor: next?.lowercasedString))
    }

    @Sendable func updateUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await AdminBody(request, limit: bodyLimit)
        try body.allowOnly(["role", "firstName", "lastName", "active"])
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("No such user in this organisation.")
        }
        let user = try await manualUsers.update(
            tenant, id: id, role: try body.role(), firstName: try body.string("firstName"),
            lastName: try body.string("lastName"),
            active: try body.bool("active"))
        return try Responses.json(AdminUserResponse(user))
    }
}

extension AdminController {
    @Sendable func listTeams(_ request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await organisations.tenant(slug: try context.parameters.require("slug"))
        return try Responses.json(["teams": try await groups.teams(tenant).map(TeamResponse.init)])
    }
}

/// A JSON object from an admin request, with typed accessors that fail with a message naming the field.
struct AdminBody {
    let object: [String: JSONValue]
    let context: String

    /// - Throws: `AdminError` 415 unless the body is sent as `application/json` (parameters such as
    ///   `charset` allowed): the admin API speaks JSON only, and a body labelled otherwise was not meant
    ///   for it. 413 over `limit`; 400 for anything but a JSON object.
    init(_ request: Request, limit: Int) async throws {
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard mediaType == "application/json" else {
            throw AdminError.unsupportedMediaType("Send the body as Content-Type: application/json.")
        }
        let buffer = try await request.collectBody(limit: limit)
        let value: JSONValue
        do {
            value = try JSONValue.parse(buffer.readableBytesView)
        } catch {
            throw AdminError.badRequest("The request body is not valid JSON.")
        }
        try self.init(value, context: "body")
    }

    init(_ value: JSONValue, context: String) throws {
        guard case .object(let object) = value else {
            throw AdminError.badRequest("The \(context) must be a JSON object.")
        }
        self.object = object
        self.context = context
    }

    func string(_ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: nil
        case .string(let value)?: value
        default: throw AdminError.badRequest("\(key) must be a string.")
        }
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = try string(key) else { throw AdminError.badRequest("\(key) is required.") }
        return value
    }

    func bool(_ key: String) throws -> Bool? {
        switch object[key] {
        case nil, .null?: nil
        case .bool(let value)?: value
        default: throw AdminError.badRequest("\(key) must be true or false.")
        }
    }

    func date(_ key: String) throws -> Date? {
        guard let text = try string(key) else { return nil }
        guard let date = SCIMDate.parse(text) else {
            throw AdminError.badRequest("\(key) must be an RFC 3339 date-time.")
        }
        return date
    }

    func stringArray(_ key: String) throws -> [String]? {
        switch object[key] {
        case nil, .null?: return nil
        case .array(let items)?:
            let strings = items.compactMap(\.stringValue)
            guard strings.count == items.count else { throw AdminError.badRequest("\(key) must be a list of strings.") }
            return strings
        default: throw AdminError.badRequest("\(key) must be a list of strings.")
        }
    }

    func role() throws -> LearnAmpRole? {
        guard let text = try string("role") else { return nil }
        guard let role = LearnAmpRole(rawValue: text.lowercased()) else {
            throw AdminError.badRequest(
                "role must be one of \(LearnAmpRole.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return role
    }

    /// `"rateLimit"`: absent leaves the override alone, `null` clears it, and an object must have
    /// exactly `requestsPerSecond` and `burst`, both integers from 1 to 100000.
    func rateLimitChange() throws -> RateLimitChange {
        switch object["rateLimit"] {
        case nil: return .unchanged
        case .null?: return .cleared
        case .object(let fields)?:
            let rule =
                "rateLimit must be null or {\"requestsPerSecond\": N, \"burst\": M} with integers from 1 to \(RateLimit.maximum)."
            guard Set(fields.keys) == ["requestsPerSecond", "burst"] else { throw AdminError.badRequest(rule) }
            func integer(_ key: String) throws -> Int {
                guard let number = fields[key]?.numberValue, number.rounded() == number,
                    (1...Double(RateLimit.maximum)).contains(number)
                else { throw AdminError.badRequest(rule) }
                return Int(number)
            }
            return .set(RateLimit(requestsPerSecond: try integer("requestsPerSecond"), burst: try integer("burst")))
        default:
            throw AdminError.badRequest("rateLimit must be null or an object {\"requestsPerSecond\": N, \"burst\": M}.")
        }
    }

    func allowOnly(_ keys: Set<String>) throws {
        if let unknown = object.keys.first(where: { !keys.contains($0) }) {
            throw AdminError.badRequest(
                "Unknown field \(unknown.prefix(64)); allowed: \(keys.sorted().joined(separator: ", ")).")
        }
    }
}
