import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SCIM
import SCIMStore

/// `POST /oauth/token`: the OAuth 2.0 client credentials grant (RFC 6749 section 4.4) for identity
/// providers that will not hold a long-lived bearer token (Microsoft Entra ID).
///
/// The client authenticates with `Authorization: Basic` (client_secret_basic) or with `client_id`
/// and `client_secret` in the form body (client_secret_post): reports disagree about which Entra's
/// agent sends, so both work; both at once is `invalid_request` (RFC 6749 section 2.3). Errors are
/// RFC 6749 section 5.2 JSON, rendered by `ErrorResponseMiddleware`.
///
/// Failed client authentications count against the failed-authentication limit shared with SCIM and
/// admin, per client address and the presented secret's public prefix (`lasecret_<prefix>`) when it
/// has a secret's shape, else per address. Not per `client_id`: that is public (it sits in the
/// identity provider's settings), so anyone sharing an egress address could lock a client out with
/// made-up secrets; a secret's prefix is known only to whoever holds the secret. The body holds the
/// credentials in client_secret_post, so the limit is applied here, after parsing, rather than by
/// `FailedAuthLimitMiddleware`, which sees only headers.
///
/// Tokens issued are limited too, per OAuth client (`OAUTH_TOKEN_RATE_LIMIT` a minute, bursts of
/// `OAUTH_TOKEN_RATE_BURST`, per replica), so a client stuck in a loop cannot fill the token table.
/// Only a request that authenticated spends from its client's bucket: a stranger who knows the
/// public `client_id` cannot use it up. Over the limit: 429 with `Retry-After`, and nothing written.
struct OAuthTokenController {
    let oauth: OAuthClientStore
    let limiter: FailedAuthLimiter
    /// Tokens issued per OAuth client (keyed by `OAuthClientInfo.id`).
    let issued: RateLimiter<UUID>
    let issueLimit: TokenBucket.Limit
    let trustedProxy: Bool
    /// Refusals of a known organisation's genuine secret go to its event log.
    let events: EventBuffer

    /// Form bodies here are a few hundred bytes.
    static let bodyLimit = 16 * 1024
    static let tokenPath = "/oauth/token"
    /// What the token response says was granted: always, as RFC 6749 section 5.1 asks when it differs
    /// from the request (a request may leave `scope` out).
    static let grantedScope = "scim"

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("oauth/token", use: token)
    }

    /// The methods an OAuth endpoint at `path` takes (the `Allow` value), or nil when no endpoint is there.
    static func allowedMethods(path: String) -> String? {
        path == tokenPath || path == tokenPath + "/" ? "POST" : nil
    }

    /// The parsed, checked request: which client it says it is, and the secret it offers.
    struct ClientCredentials: Equatable {
        var clientID: String
        var clientSecret: String
    }

    @Sendable func token(_ request: Request, context: AppRequestContext) async throws -> Response {
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard mediaType == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest(
                "Send the request as Content-Type: application/x-www-form-urlencoded (RFC 6749 section 4.4.2).")
        }
        let body = try await request.collectBody(limit: Self.bodyLimit)
        let form = try Self.form(String(buffer: body))
        // A malformed header is refused inside the `do` below, so that it counts as a failure.
        let basic = Result { try Self.basicCredentials(request.headers[.authorization]) }
        let address = FailedAuthLimitMiddleware.addressKey(
            FailedAuthLimitMiddleware.clientAddress(request, remote: context.remoteAddress, trustedProxy: trustedProxy))
        let key: FailedAuthKey =
            if let secret = (try? basic.get()).flatMap({ $0?.clientSecret }) ?? form["client_secret"],
                let prefix = IssuedSecret.prefix(of: secret, kind: OAuthClientStore.secretKind)
            {
                .key(address: address, prefix: prefix)
            } else {
                .address(address)
            }
        let generation = limiter.generation
        if case .limited(let retryAfter) = limiter.check(key, generation: generation) {
            throw OAuthHTTPError.tooManyRequests(
                "Too many failed client authentications from this address; retry after \(retryAfter) s.",
                retryAfter: retryAfter)
        }
        do {
            let credentials = try Self.credentials(form: form, basic: basic.get())
            try Self.checkGrant(form)
            let (issued, issueLimit, events, logger) = (self.issued, self.issueLimit, self.events, context.logger)
            let (requestID, method, path) = (context.requestID, request.method.rawValue, request.uri.path)
            let token = try await oauth.issueAccessToken(
                clientID: credentials.clientID, clientSecret: credentials.clientSecret
            ) { client, tenant in
                guard case .limited(let retryAfter) = issued.take(client, limit: issueLimit) else { return }
                let refusal = OAuthHTTPError.tooManyRequests(
                    "Too many access tokens requested by this client: reuse the last one until it expires "
                        + "(expires_in), or retry after \(retryAfter) s.",
                    retryAfter: retryAfter)
                logger.notice("OAuth client over its access token limit", metadata: ["scim.org": "\(tenant.slug)"])
                // The organisation's event log shows support why its identity provider got no token.
                events.append(
                    SyncEvent(
                        origin: EventOrigin(requestID: requestID, tokenID: client, method: method, path: path),
                        outcome: .error, status: 429,
                        detail: "invalid_request: \(refusal.error.detail)"),
                    for: tenant)
                throw refusal
            }
            context.logger.info("access token issued", metadata: ["scim.org": "\(token.tenant.slug)"])
            let answer: JSONValue = [
                "access_token": .string(token.accessToken), "token_type": "Bearer",
                "expires_in": .number(Double(token.expiresIn)), "scope": .string(Self.grantedScope),
            ]
            return Response(
                status: .ok, headers: [.contentType: Responses.jsonContentType, .pragma: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer.serialized())))
        } catch let error as OAuthError where error.code == "invalid_client" {
            // A disabled organisation's refusal ends when staff enable it: counted under the generation
            // read before authenticating, so the change lets the secret try again at once.
            limiter.recordFailure(key, curableUntil: error.isCurable ? generation : nil)
            if let tenant = error.tenant {
                let origin = EventOrigin(
                    requestID: context.requestID, tokenID: tenant.tokenID, method: request.method.rawValue,
                    path: request.uri.path)
                events.append(
                    SyncEvent(origin: origin, outcome: .error, status: 401, detail: "invalid_client: \(error.detail)"),
                    for: tenant)
            }
            throw error
        }
    }

    /// The form's parameters. Parameters sent without a value count as omitted (RFC 6749 section
    /// 3.1); one sent twice is `invalid_request`.
    static func form(_ text: String) throws -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in text.utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = Request.formDecoded(parts[0])
            let value = parts.count > 1 ? Request.formDecoded(parts[1]) : ""
            guard !value.isEmpty else { continue }
            guard parameters[name] == nil else {
                throw OAuthError.invalidRequest("The parameter \(name.prefix(32)) is repeated.")
            }
            parameters[name] = value
        }
        return parameters
    }

    /// The client's id and secret from `Authorization: Basic` (each form-encoded, then joined by `:`
    /// and base64-encoded: RFC 6749 section 2.3.1); nil without an `Authorization` header.
    /// - Throws: `invalid_client` for another scheme or a header that does not decode.
    static func basicCredentials(_ header: String?) throws -> ClientCredentials? {
        guard let header else { return nil }
        let refused = OAuthError.invalidClient("Authorization must be Basic base64(client_id:client_secret).")
        guard header.count > 6, header.prefix(6).lowercased() == "basic " else { throw refused }
        let encoded = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let data = Data(base64Encoded: encoded), let decoded = String(data: data, encoding: .utf8),
            let colon = decoded.firstIndex(of: ":")
        else { throw refused }
        let id = Request.formDecoded(decoded[..<colon].utf8)
        let secret = Request.formDecoded(decoded[decoded.index(after: colon)...].utf8)
        guard !id.isEmpty, !secret.isEmpty else { throw refused }
        return ClientCredentials(clientID: id, clientSecret: secret)
    }

    /// Which client authenticates, from exactly one of the two places.
    static func credentials(form: [String: String], basic: ClientCredentials?) throws -> ClientCredentials {
        if let basic {
            guard form["client_secret"] == nil else {
                throw OAuthError.invalidRequest(
                    "Send the client secret either in Authorization: Basic or in the body, not both.")
            }
            if let id = form["client_id"], id != basic.clientID {
                throw OAuthError.invalidRequest("client_id in the body differs from the one in Authorization: Basic.")
            }
            return basic
        }
        guard let id = form["client_id"], let secret = form["client_secret"] else {
            throw OAuthError.invalidClient(
                "Client authentication is required: Authorization: Basic, or client_id and client_secret in the body.")
        }
        return ClientCredentials(clientID: id, clientSecret: secret)
    }

    /// `grant_type=client_credentials`, and a `scope` that is absent or `scim`.
    static func checkGrant(_ form: [String: String]) throws {
        guard let grant = form["grant_type"] else {
            throw OAuthError.invalidRequest("grant_type is required (client_credentials).")
        }
        guard grant == "client_credentials" else {
            throw OAuthError.unsupportedGrantType("Only grant_type=client_credentials is supported.")
        }
        if let scope = form["scope"] {
            let scopes = scope.split(separator: " ")
            guard !scopes.isEmpty, scopes.allSatisfy({ $0 == "scim" }) else {
                throw OAuthError.invalidScope("The only scope is scim (or leave scope out).")
            }
        }
    }
}
