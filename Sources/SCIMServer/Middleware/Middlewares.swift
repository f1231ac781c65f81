import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Postgres
import SCIM
import SCIMStore

/// Gives every request an id of the server's own, and every response that id (`X-Request-Id`) and the
/// security headers a credential-bearing API should send.
///
/// A client's own `X-Request-Id` cannot be trusted to be unique, so it never replaces the server's id:
/// when it is sane (1-128 letters, digits, `-`, `_`, `.`, `:`) it is kept beside it, in the log
/// (`scim.request.client_id`) and in sync events, where support can search by either id.
struct RequestIDMiddleware: RouterMiddleware {
    let generator = RequestIDGenerator()

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = generator.next()
        context.logger[metadataKey: "scim.request.id"] = .string(context.requestID)
        if let sent = request.headers[.requestID], Self.isUsable(sent) {
            context.clientRequestID = sent
            context.logger[metadataKey: "scim.request.client_id"] = .string(sent)
        }
        var response = try await EventOrigin.$currentClientRequestID.withValue(context.clientRequestID) {
            try await next(request, context)
        }
        response.headers[.requestID] = context.requestID
        // Only the console's content-hashed assets say otherwise (cached for a year).
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.strictTransportSecurity] = "max-age=63072000"
        return response
    }

    /// 1-128 ASCII letters, digits, `-`, `_`, `.` and `:`.
    static func isUsable(_ sent: String) -> Bool {
        (1...128).contains(sent.utf8.count)
            && sent.utf8.allSatisfy { byte in
                (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
                    || "-_.:".utf8.contains(byte)
            }
    }
}

/// Turns anything thrown into the error body its API promises, in one place: RFC 7644 errors under
/// `/scim/v2` (including unknown paths there), JSON errors under `/admin`, RFC 6749 errors under
/// `/oauth/` (an unknown path there 404, a known one with another method 405 with `Allow`).
///
/// Database outages become 503 with `Retry-After`; anything unexpected becomes a 500 whose body says
/// nothing about the server (the details go to the log, with the request id).
struct ErrorResponseMiddleware: RouterMiddleware {
    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if request.uri.path.hasPrefix("/scim/") {
                return Responses.scimError(
                    Self.scimError(for: error, logger: context.logger), requestID: context.requestID)
            }
            if request.uri.path.hasPrefix("/admin/") {
                return Responses.adminError(
                    Self.adminError(for: error, logger: context.logger), requestID: context.requestID)
            }
            if request.uri.path.hasPrefix("/oauth/") {
                if let error = error as? OAuthHTTPError ?? Self.unrouted(error, path: request.uri.path) {
                    return Responses.oauthError(
                        error.error, status: error.status, headers: error.headers, requestID: context.requestID)
                }
                let oauthError = Self.oauthError(for: error, logger: context.logger)
                return Responses.oauthError(oauthError, requestID: context.requestID)
            }
            throw error
        }
    }

    static func scimError(for error: any Error, logger: Logger) -> SCIMError {
        switch error {
        case let error as SCIMError:
            return error
        case let rejected as RejectedCredential:
            return rejected.error
        case let error as PostgresError where error.namesMissingRelation:
            // The organisation was purged while the request ran: its token went with it.
            return .unauthorized("The organisation of this token no longer exists.")
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return .unavailable()
        case let error as HTTPError:
            return SCIMError(status: Int(error.status.code), detail: error.body ?? error.status.reasonPhrase)
        case is CancellationError:
            // The server is stopping under the request: nothing was committed, and another replica can serve it.
            logger.debug("request cancelled")
            return .unavailable()
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return SCIMError(status: 500, detail: "Internal error. Contact Learn Amp support with the request id.")
        }
    }

    /// RFC 6749 section 5.2 errors on the token endpoint; what is not an `OAuthError` is the request's
    /// fault (`invalid_request`) or the server's (`server_error`, `temporarily_unavailable`).
    static func oauthError(for error: any Error, logger: Logger) -> OAuthError {
        switch error {
        case let error as OAuthError:
            return error
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return OAuthError(code: "temporarily_unavailable", detail: "The database is unavailable; retry shortly.")
        case let error as SCIMError where (400..<500).contains(error.status):
            return .invalidRequest(error.detail)
        case let error as HTTPError where (400..<500).contains(error.status.code):
            return .invalidRequest(error.status.reasonPhrase)
        case is CancellationError:
            logger.debug("request cancelled")
            return OAuthError(code: "temporarily_unavailable", detail: "The server is stopping; retry shortly.")
        default:
            logger.error("unexpected OAuth error", metadata: ["error": "\(String(reflecting: error))"])
            return OAuthError(
                code: "server_error", detail: "Internal error. Contact Learn Amp support with the request id.")
        }
    }

    /// The router's 404 under `/oauth/`: 405 for an OAuth endpoint asked with another method (the
    /// router matches the path but not the method), else 404. Nil for any other error.
    static func unrouted(_ error: any Error, path: String) -> OAuthHTTPError? {
        guard let error = error as? HTTPError, error.status == .notFound else { return nil }
        if let allow = OAuthTokenController.allowedMethods(path: path) { return .methodNotAllowed(allow: allow) }
        return .notFound
    }

    static func adminError(for error: any Error, logger: Logger) -> AdminError {
        switch error {
        case let error as AdminError:
            return error
        case let error as StoreError:
            return AdminError(error)
        case let error as SCIMError where error.status == 413:
            return AdminError(status: 413, code: "payload_too_large", message: error.detail)
        case let error as SCIMError:
            return AdminError(
                status: error.status, code: error.status == 404 ? "not_found" : "bad_request", message: error.detail)
        case let error as PostgresError where error.namesMissingRelation:
            // The organisation was purged while the request ran.
            return .notFound("The organisation no longer exists.")
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return AdminError(status: 503, code: "unavailable", message: "The database is unavailable; retry shortly.")
        case let error as HTTPError:
            let code = error.status == .notFound ? "not_found" : "http_error"
            return AdminError(
                status: Int(error.status.code), code: code, message: error.body ?? error.status.reasonPhrase)
        case is CancellationError:
            logger.debug("request cancelled")
            return AdminError(status: 503, code: "unavailable", message: "The server is stopping; retry shortly.")
        default:
            logger.error("unexpected admin error", metadata: ["error": "\(String(reflecting: error))"])
            return AdminError(status: 500, code: "internal", message: "Internal error.")
        }
    }
}

/// Checks the headers that absolute URLs are built from, before anything else reads them.
///
/// An HTTP/1.1 request must carry exactly one `Host` (RFC 9112 §3.2); one without is 400. When
/// `PUBLIC_BASE_URL` is unset, `Location`, `meta.location` and `$ref` are built from `Host` and
/// `X-Forwarded-Proto`, so a `Host` that is not a plain authority (`host[:port]`, an IPv6 address in
/// brackets; no user info, path or spaces) or a scheme other than `http`/`https` is 400 rather than
/// echoed into them.
///
/// `/healthz` and `/readyz` are left alone: load balancers' probes may speak HTTP/1.0 without `Host`,
/// and Hummingbird's request type does not carry the HTTP version.
struct HostHeaderMiddleware: RouterMiddleware {
    /// Set: URLs never come from the request, so only a missing or repeated `Host` is refused.
    let publicBaseURL: String?

    /// HTTPTypes marks its own `.host` unavailable (the field becomes `authority`), but a second `Host`
    /// stays a field, and that is what is looked for.
    static let host = HTTPField.Name(literal: "Host")

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if path == "/healthz" || path == "/readyz" { return try await next(request, context) }
        guard let authority = request.head.authority else {
            throw SCIMError.badRequest("The Host header is required (RFC 9112 section 3.2).")
        }
        // The HTTP/1 conversion keeps the first Host as the authority and any further ones as fields.
        guard request.headers[Self.host] == nil else {
            throw SCIMError.badRequest("A request may carry only one Host header (RFC 9112 section 3.2).")
        }
        if publicBaseURL == nil {
            guard Self.isAuthority(authority) else {
                throw SCIMError.badRequest("The Host header must be host or host:port (RFC 9110 section 7.2).")
            }
            if let proto = request.headers[.forwardedProto], Self.scheme(forwardedProto: proto) == nil {
                throw SCIMError.badRequest("X-Forwarded-Proto must be http or https.")
            }
        }
        return try await next(request, context)
    }

    /// Whether `text` is `host[:port]`: a registered name of letters, digits, `-`, `.`, `_` and `~`,
    /// an IPv4 address, or an IPv6 address in brackets; a port of 1-5 digits up to 65535.
    static func isAuthority(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 261 else { return false }
        var hostEnd = bytes.count
        var portStart: Int?
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            let inner = bytes[1..<close]
            guard inner.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }),
                inner.contains(UInt8(ascii: ":"))
            else { return false }
            hostEnd = close + 1
            if hostEnd < bytes.count {
                guard bytes[hostEnd] == UInt8(ascii: ":") else { return false }
                portStart = hostEnd + 1
            }
        } else {
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
                hostEnd = colon
                portStart = colon + 1
            }
            let name = bytes[0..<hostEnd]
            guard !name.isEmpty, name.count <= 253, name.allSatisfy(isNameByte) else { return false }
        }
        if let portStart {
            let port = bytes[portStart...]
            guard (1...5).contains(port.count), port.allSatisfy({ (48...57).contains($0) }),
                let value = Int(String(decoding: port, as: UTF8.self)), value <= 65535
            else { return false }
        }
        return true
    }

    /// The scheme an `X-Forwarded-Proto` names: `http` or `https`, case-insensitive. Behind chained
    /// proxies it may be a list; the first entry is the scheme the client used, and every entry must
    /// be one of the two. Nil for anything else.
    static func scheme(forwardedProto: String) -> String? {
        let entries = forwardedProto.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let first = entries.first, entries.allSatisfy({ $0 == "http" || $0 == "https" }) else { return nil }
        return first
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte)
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
            || "-._~".utf8.contains(byte)
    }
}

/// Refuses a SCIM or admin query string holding an encoded NUL (`%00`): libpq sends values as C
/// strings, so `filter=userName eq "a%00b"` would silently match "a". Request bodies get the same
/// check in `JSONValue.parse`.
struct QueryNULMiddleware: RouterMiddleware {
    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        if let query = request.uri.query, Self.containsNUL(query),
            request.uri.path.hasPrefix("/scim/") || request.uri.path.hasPrefix("/admin/")
        {
            throw SCIMError.invalidValue("Query parameters may not contain the NUL character (U+0000).")
        }
        return try await next(request, context)
    }

    /// Whether `query` holds a NUL, raw or as `%00`. One pass over the bytes: the generic
    /// `contains(_:)` for a subsequence is a visible share of the server's CPU on every request.
    static func containsNUL(_ query: String) -> Bool {
        var query = query
        return query.withUTF8 { bytes in
            var index = 0
            while index < bytes.count {
                if bytes[index] == 0 {
                    return true
                }
                if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                    bytes[index + 1] == UInt8(ascii: "0"), bytes[index + 2] == UInt8(ascii: "0")
                {
                    return true
                }
                index += 1
            }
            return false
        }
    }
}

/// Resolves the SCIM bearer token to its organisation: the tenant is chosen by the token alone.
struct SCIMAuthMiddleware: RouterMiddleware {
    let tokens: CachedTokenAuthenticator
    /// Refusals of a known organisation's genuine token are logged to that organisation.
    let events: EventBuffer
    /// And counted as that organisation's errors.
    let metrics: ServiceMetrics

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let bearer = Self.bearer(in: request) else {
            throw SCIMError.unauthorized("Authorization: Bearer <token> is required.")
        }
        var context = context
        let tenant: Tenant
        do {
            tenant = try await tokens.authenticate(bearer: bearer)
        } catch let rejected as RejectedCredential {
            let origin = EventOrigin(
                requestID: context.requestID, tokenID: rejected.tenant.tokenID, method: request.method.rawValue,
                path: request.uri.path)
            events.append(
                SyncEvent(
                    origin: origin, outcome: .error, status: rejected.error.status, detail: rejected.error.detail),
                for: rejected.tenant)
            metrics.recordOrganisationRequest(slug: rejected.tenant.slug, failed: true)
            // Thrown whole, so `FailedAuthLimitMiddleware` counts it as a failure;
            // `ErrorResponseMiddleware` answers with `rejected.error`.
            throw rejected
        }
        context.tenant = tenant
        context.logger[metadataKey: "scim.org"] = .string(tenant.slug)
        return try await PostgresClient.$affinity.withValue(tenant.schema.name) { try await next(request, context) }
    }

    /// The token of an `Authorization: Bearer <token>` header, without the spaces around it; nil
    /// without such a header.
    static func bearer(in request: Request) -> String? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer "
        else { return nil }
        return trimmingSpaces(header.utf8.dropFirst(7))
    }

    /// How `FailedAuthLimitMiddleware` counts this request's failures: by the token's public prefix
    /// when it is shaped like a SCIM token (`lascim_<prefix>_<secret>`) or an OAuth access token
    /// (`laoauth_<prefix>_<secret>`), else by client address alone.
    static func presentedCredential(_ request: Request) -> PresentedCredential {
        guard let bearer = bearer(in: request) else { return .unshaped }
        let kind = OAuthClientStore.isAccessToken(bearer) ? OAuthClientStore.accessTokenKind : TokenStore.kind
        guard let prefix = IssuedSecret.prefix(of: bearer, kind: kind) else { return .unshaped }
        return .key(prefix: prefix)
    }

    /// Without the spaces and tabs around it. On bytes: Foundation's `trimmingCharacters` bridges
    /// through `NSString`, too dear for every request.
    static func trimmingSpaces(_ text: Substring.UTF8View) -> String {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let start = text.firstIndex { !isSpace($0) } ?? text.endIndex
        let end = text[start...].lastIndex { !isSpace($0) }.map(text.index(after:)) ?? start
        return String(Substring(text[start..<end]))
    }
}

/// Staff auth and the admin access policy, in one place.
///
/// The bearer is either the bootstrap `ADMIN_API_TOKEN` (compared in constant time, of the digests, so
/// not even the token's length leaks) or a staff key (`lastaff_…`, see `StaffKeyStore`). The identity
/// goes into `context.staff`, then `authorise` decides: `readonly` keys may only read, and a key bound
/// to an organisation sees that organisation alone (any other slug is a 404, exactly as for a missing
/// organisation, so a bound key cannot even learn which slugs exist).
///
/// > Warning: This middleware is added to the `/admin/v1` group, so it runs after the router matched
/// > the route: `context.parameters` and `context.endpointPath` are filled in.
struct AdminAuthMiddleware: RouterMiddleware {
    let adminTokenDigest: [UInt8]
    let staffKeys: StaffKeyStore

    init(adminToken: String, staffKeys: StaffKeyStore) {
        adminTokenDigest = Secrets.sha256(adminToken)
        self.staffKeys = staffKeys
    }

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let bearer = Self.bearer(in: request) else {
            throw AdminError.unauthorized("A valid staff bearer token is required.")
        }
        let identity: StaffIdentity
        if bearer.hasPrefix("\(StaffKeyStore.kind)_") {
            // One message for a malformed, unknown or revoked key, so a guesser learns nothing.
            guard let key = try await staffKeys.authenticate(bearer: bearer.trimmingCharacters(in: .whitespaces)) else {
                throw AdminError.unauthorized("The staff key is not valid.")
            }
            identity = key
        } else if isBootstrap(bearer) {
            identity = .bootstrap
        } else {
            throw AdminError.unauthorized("A valid staff bearer token is required.")
        }
        try Self.authorise(
            identity, method: request.method, route: context.endpointPath ?? request.uri.path,
            slug: context.parameters.get("slug"))
        var context = context
        context.staff = identity
        context.logger[metadataKey: "scim.staff"] = .string(identity.name)
        return try await next(request, context)
    }

    /// The text after `Authorization: Bearer `, as sent (the bootstrap token is compared untrimmed);
    /// nil without such a header.
    static func bearer(in request: Request) -> String? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer "
        else { return nil }
        return String(header.dropFirst(7))
    }

    /// Whether `bearer` is the bootstrap token (constant time, of the digests).
    func isBootstrap(_ bearer: String) -> Bool {
        Secrets.constantTimeEquals(Secrets.sha256(bearer), adminTokenDigest)
    }

    /// How `FailedAuthLimitMiddleware` counts this request's failures, read as `handle` reads it: a
    /// staff key by its public prefix; the correct bootstrap token as valid, so no limit ever refuses
    /// it; anything else (no header, a wrong bootstrap token, a malformed key) by client address alone.
    func presentedCredential(_ request: Request) -> PresentedCredential {
        guard let bearer = Self.bearer(in: request) else { return .unshaped }
        return presentedCredential(bearer: bearer)
    }

    /// The same reading of a credential pasted into the console's sign-in form.
    func presentedCredential(bearer: String) -> PresentedCredential {
        if bearer.hasPrefix("\(StaffKeyStore.kind)_") {
            let prefix = IssuedSecret.prefix(of: bearer.trimmingCharacters(in: .whitespaces), kind: StaffKeyStore.kind)
            return prefix.map { .key(prefix: $0) } ?? .unshaped
        }
        return isBootstrap(bearer) ? .bootstrap : .unshaped
    }

    /// Routes that remove or hand out an organisation's personal data wholesale: only an unbound
    /// `support` key or the bootstrap token may call them, never a `readonly` or bound key.
    static let lifecycleRoutes: Set<String> = [
        "POST /admin/v1/organisations/{slug}/offboard", "POST /admin/v1/organisations/{slug}/restore",
        "DELETE /admin/v1/organisations/{slug}", "GET /admin/v1/organisations/{slug}/export",
        "HEAD /admin/v1/organisations/{slug}/export", "POST /admin/v1/organisations/{slug}/users/{id}/erase",
        "GET /admin/v1/organisations/{slug}/users/{id}/export", "HEAD /admin/v1/organisations/{slug}/users/{id}/export",
    ]

    /// The admin access policy.
    /// - Parameters:
    ///   - route: the matched route template (`/admin/v1/organisations/{slug}`).
    ///   - slug: the route's `{slug}` parameter, when it has one.
    /// - Throws: `AdminError` 404 when a bound key names another organisation; 403 when a bound key
    ///   calls a route that is not about its organisation, or a `readonly` key tries to write; 403 when
    ///   anything but an unbound `support` key or the bootstrap token calls a lifecycle route.
    static func authorise(_ identity: StaffIdentity, method: HTTPRequest.Method, route: String, slug: String?) throws {
        let reads = method == .get || method == .head
        if let bound = identity.organisationSlug {
            if let slug {
                guard slug == bound else {
                    throw AdminError.notFound("No organisation with slug \"\(slug.prefix(64))\".")
                }
            } else if !(reads && route == "/admin/v1/organisations") {
                throw AdminError.forbidden(
                    "This staff key is limited to organisation \(bound): \(method.rawValue) \(route) is not allowed.")
            }
        }
        if lifecycleRoutes.contains("\(method.rawValue) \(route)"),
            identity.isReadOnly || identity.organisationID != nil
        {
            throw AdminError.forbidden(
                "Offboarding, purging, erasing and exporting need an unbound support key or the bootstrap token.")
        }
        if identity.isReadOnly && !reads {
            throw AdminError.forbidden("This staff key is read-only: it may only send GET requests.")
        }
    }
}

/// Records every successful admin write (a non-GET request answered 2xx), and every export of
/// personal data, in the audit log: who (`context.staff`), the method, the route template, the
/// organisation and the id written or exported.
///
/// Added to the `/admin/v1` group after `AdminAuthMiddleware`, so it sees the identity and the matched
/// route. The target is the route's `{id}`, else the last segment of the `Location` of a 201.
/// Nothing from a body or a query string is recorded.
struct AdminAuditMiddleware: RouterMiddleware {
    let log: AuditLog

    /// Reads recorded like writes: each hands a person's or an organisation's personal data out.
    static let exportRoutes: Set<String> = [
        "/admin/v1/organisations/{slug}/export", "/admin/v1/organisations/{slug}/users/{id}/export",
    ]

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unknown"
        let recorded = (request.method != .get && request.method != .head) || Self.exportRoutes.contains(route)
        guard recorded, (200..<300).contains(response.status.code), let staff = context.staff else { return response }
        // A purge writes its own entry, the one that outlives the organisation (`OrganisationLifecycle`).
        if request.method == .delete, route == "/admin/v1/organisations/{slug}" { return response }
        let created = response.headers[.location].flatMap { $0.split(separator: "/").last.map(String.init) }
        let target = context.parameters.get("id")?.lowercased() ?? created
        let slug = context.parameters.get("slug") ?? (route == "/admin/v1/organisations" ? created : nil)
        do {
            try await log.record(
                staff, method: request.method.rawValue, route: route, organisationSlug: slug, target: target,
                status: Int(response.status.code))
        } catch {
            // The write is committed; failing the response now would invite a duplicate retry.
            context.logger.error(
                "audit log write failed", metadata: ["error": "\(String(reflecting: error))", "scim.route": "\(route)"])
        }
        return response
    }
}
