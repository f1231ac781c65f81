import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Postgres
import SCIM
import SCIMStore

/// Gives every request an id (the client's `X-Request-Id` when it is sane) and every response the id
/// and the security headers a credential-bearing API should send.
struct RequestIDMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        let sent = request.headers[.requestID]
        context.requestID =
            if let sent, (1...128).contains(sent.count), sent.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) {
                sent
            } else {
                UUID().uuidString.lowercased()
            }
        context.logger[metadataKey: "scim.request.id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        response.headers[.cacheControl] = "no-store"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=63072000"
        return response
    }
}

/// Turns anything thrown into the error body its API promises, in one place: RFC 7644 errors under
/// `/scim/v2` (including unknown paths there), JSON errors under `/admin`.
///
/// Database outages become 503 with `Retry-After`; anything unexpected becomes a 500 whose body says
/// nothing about the server (the details go to the log, with the request id).
struct ErrorResponseMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if request.uri.path.hasPrefix("/scim/") {
                return Responses.scimError(Self.scimError(for: error, logger: context.logger), requestID: context.requestID)
            }
            if request.uri.path.hasPrefix("/admin/") {
                return Responses.adminError(Self.adminError(for: error, logger: context.logger), requestID: context.requestID)
            }
            throw error
        }
    }

    static func scimError(for error: any Error, logger: Logger) -> SCIMError {
        switch error {
        case let error as SCIMError:
            return error
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return .unavailable()
        case let error as HTTPError:
            return SCIMError(status: Int(error.status.code), detail: error.body ?? error.status.reasonPhrase)
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return SCIMError(status: 500, detail: "Internal error. Contact Learn Amp support with the request id.")
        }
    }

    static func adminError(for error: any Error, logger: Logger) -> AdminError {
        switch error {
        case let error as AdminError:
            return error
        case let error as SCIMError where error.status == 413:
            return AdminError(status: 413, code: "payload_too_large", message: error.detail)
        case let error as SCIMError:
            return AdminError(status: error.status, code: error.status == 404 ? "not_found" : "bad_request", message: error.detail)
        case let error as PostgresError where error.isTransient:
            logger.warning("database unavailable", metadata: ["postgres.error": "\(error.code)"])
            return AdminError(status: 503, code: "unavailable", message: "The database is unavailable; retry shortly.")
        case let error as HTTPError:
            let code = error.status == .notFound ? "not_found" : "http_error"
            return AdminError(status: Int(error.status.code), code: code, message: error.body ?? error.status.reasonPhrase)
        default:
            logger.error("unexpected admin error", metadata: ["error": "\(String(reflecting: error))"])
            return AdminError(status: 500, code: "internal", message: "Internal error.")
        }
    }
}

/// Resolves the SCIM bearer token to its organisation: the tenant is chosen by the token alone.
struct SCIMAuthMiddleware: RouterMiddleware {
    let tokens: TokenStore

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw SCIMError.unauthorized("Authorization: Bearer <token> is required.")
        }
        var context = context
        let tenant = try await tokens.authenticate(bearer: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        context.tenant = tenant
        context.logger[metadataKey: "scim.org"] = .string(tenant.slug)
        return try await next(request, context)
    }
}

/// Staff auth with the bootstrap `ADMIN_API_TOKEN`, compared in constant time (of the digests, so
/// not even the token's length leaks).
struct AdminAuthMiddleware: RouterMiddleware {
    let adminTokenDigest: [UInt8]

    init(adminToken: String) {
        adminTokenDigest = Secrets.sha256(adminToken)
    }

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
            Secrets.constantTimeEquals(Secrets.sha256(String(header.dropFirst(7))), adminTokenDigest)
        else {
            throw AdminError.unauthorized("A valid staff bearer token is required.")
        }
        return try await next(request, context)
    }
}
