import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SCIM
import SCIMStore

extension HTTPField.Name {
    static let requestID = Self(literal: "X-Request-Id")
    static let forwardedProto = Self(literal: "X-Forwarded-Proto")
    static let forwardedFor = Self(literal: "X-Forwarded-For")
    static let pragma = Self(literal: "Pragma")

    /// A field name spelled in this module's code. HTTPTypes can only build a name it has validated
    /// (`init?(_:)`), and its own constants cover only the registered fields, so a name such as
    /// `X-Request-Id` is checked here, once, when its constant is first used.
    ///
    /// - Precondition: `name` is a token (RFC 9110 section 5.1). Only a literal written in code can be
    ///   passed, so a bad name is a typo, which `HTTPFieldNameTests` catches, never something a client sent.
    init(literal name: StaticString) {
        guard let valid = Self(name.description) else {
            preconditionFailure("\(name) is not an HTTP field name (RFC 9110 section 5.1)")
        }
        self = valid
    }
}

/// Response builders: SCIM bodies are `application/scim+json`, admin bodies `application/json`.
enum Responses {
    static let scimContentType = "application/scim+json; charset=utf-8"
    static let jsonContentType = "application/json; charset=utf-8"

    static func scim(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = scimContentType
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: jsonContentType],
            body: .init(byteBuffer: ByteBuffer(bytes: try jsonBody(value))))
    }

    /// An admin body's bytes: keys sorted, dates as RFC 3339.
    static func jsonBody(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(SCIMDate.format(date))
        }
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    /// RFC 7644 §3.12 error body; `detail` ends with the request id so customers can quote it to support.
    static func scimError(_ error: SCIMError, requestID: String) -> Response {
        var body: [String: JSONValue] = [
            "schemas": [.string(SchemaURN.error)],
            "status": .string(String(error.status)),
            "detail": .string(requestID.isEmpty ? error.detail : "\(error.detail) (request \(requestID))"),
        ]
        body["scimType"] = error.scimType.map { .string($0.rawValue) }
        var headers: HTTPFields = [:]
        if error.status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"Learn Amp SCIM\"" }
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return scim(.object(body), status: .init(code: error.status), headers: headers)
    }

    /// RFC 6749 section 5.2: `{"error","error_description"}`. `invalid_client` is 401 with
    /// `WWW-Authenticate: Basic` (the scheme clients authenticate with here), a database outage 503,
    /// an unexpected failure 500, anything else 400, unless `status` says otherwise (see
    /// `OAuthHTTPError`); `headers` are added.
    static func oauthError(
        _ error: OAuthError, status: HTTPResponse.Status? = nil, headers extra: HTTPFields = [:], requestID: String
    ) -> Response {
        let status = status ?? oauthStatus(error.code)
        let description = requestID.isEmpty ? error.detail : "\(error.detail) (request \(requestID))"
        let body: JSONValue = ["error": .string(error.code), "error_description": .string(description)]
        var headers: HTTPFields = [.contentType: jsonContentType, .pragma: "no-cache"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Basic realm=\"Learn Amp OAuth\", charset=\"UTF-8\"" }
        if status == .serviceUnavailable { headers[.retryAfter] = "5" }
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    /// The status of an RFC 6749 error code on its own.
    private static func oauthStatus(_ code: String) -> HTTPResponse.Status {
        switch code {
        case "invalid_client": .unauthorized
        case "temporarily_unavailable": .serviceUnavailable
        case "server_error": .internalServerError
        default: .badRequest
        }
    }

    static func adminError(_ error: AdminError, requestID: String) -> Response {
        let body: JSONValue = [
            "error": .string(error.code), "message": .string(error.message), "status": .number(Double(error.status)),
            "requestId": .string(requestID),
        ]
        var headers: HTTPFields = [.contentType: jsonContentType]
        if error.status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"Learn Amp admin\"" }
        return Response(
            status: .init(code: error.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }
}

/// Reads a request body up to the configured limit.
extension Request {
    /// - Throws: `SCIMError` 413 when the body is larger than `limit`.
    func collectBody(limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw SCIMError.payloadTooLarge("The request body is larger than \(limit) bytes.")
        } catch is NIOTooManyBytesError {
            // A streamed body (no Content-Length, or a lying one) overflows here instead.
            throw SCIMError.payloadTooLarge("The request body is larger than \(limit) bytes.")
        } catch is HTTPParserError {
            // The body's framing is broken (a chunk size that is not hex, a chunk longer than it said):
            // the client's fault, and the connection cannot be reused.
            throw SCIMError.invalidSyntax("The request body is not correctly framed (RFC 9112 section 7.1).")
        }
    }

    /// The JSON body of a SCIM write. Accepts `application/scim+json` and `application/json`
    /// (and a missing content type, as some clients send none).
    func scimJSON(limit: Int) async throws -> JSONValue {
        let buffer = try await scimBody(limit: limit)
        return try JSONValue.parse(buffer.readableBytesView)
    }

    /// The bytes of a SCIM write's JSON body, checked as `scimJSON(limit:)` checks them, for a caller
    /// that parses them its own way.
    func scimBody(limit: Int) async throws -> ByteBuffer {
        if let contentType = headers[.contentType]?.lowercased(),
            !contentType.hasPrefix("application/scim+json"), !contentType.hasPrefix("application/json")
        {
            throw SCIMError.unsupportedMediaType("Send application/scim+json or application/json.")
        }
        let buffer = try await collectBody(limit: limit)
        guard buffer.readableBytes > 0 else { throw SCIMError.invalidSyntax("The request body is empty.") }
        return buffer
    }

    /// Query parameters as a dictionary (last value wins), decoded as HTML forms encode them: `+` is a
    /// space (`filter=userName+eq+"x"`, as `curl --data-urlencode` and many clients send it).
    var queryParameters: [String: String] {
        var parameters: [String: String] = [:]
        for pair in (uri.query ?? "").utf8.split(separator: UInt8(ascii: "&")) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            parameters[Self.formDecoded(parts[0])] = parts.count > 1 ? Self.formDecoded(parts[1]) : ""
        }
        return parameters
    }

    /// `+` as a space and `%XX` as that byte; where that is malformed or not UTF-8, the text with only
    /// `+` replaced, as Foundation's `removingPercentEncoding` would leave it. On bytes, without
    /// Foundation's string bridging, as every list request parses its query string.
    static func formDecoded(_ text: Substring.UTF8View) -> String {
        let spacedOnly = {
            String(decoding: text.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var index = text.startIndex
        while index != text.endIndex {
            let byte = text[index]
            text.formIndex(after: &index)
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard index != text.endIndex, let high = ASCIIHex.value(of: text[index]),
                    text.index(after: index) != text.endIndex,
                    let low = ASCIIHex.value(of: text[text.index(after: index)])
                else { return spacedOnly() }
                bytes.append(high << 4 | low)
                text.formIndex(&index, offsetBy: 2)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? spacedOnly()
    }

}

/// An RFC 6749 section 5.2 error that the token endpoint answers with a status its `error` code alone
/// does not give. RFC 6749 has no code for these, so they say `invalid_request` (what an OAuth client
/// library shows as a request it should not repeat as is) and the description says why.
struct OAuthHTTPError: Error, Sendable {
    var error: OAuthError
    var status: HTTPResponse.Status
    var headers: HTTPFields = [:]

    /// 429 with `Retry-After`: over a limit.
    static func tooManyRequests(_ detail: String, retryAfter: Int) -> OAuthHTTPError {
        OAuthHTTPError(
            error: .invalidRequest(detail), status: .tooManyRequests, headers: [.retryAfter: String(retryAfter)])
    }

    /// 404: a path under `/oauth/` that is no endpoint.
    static var notFound: OAuthHTTPError {
        OAuthHTTPError(
            error: .invalidRequest("No such OAuth endpoint: the only one is POST /oauth/token."), status: .notFound)
    }

    /// 405 with `Allow`: an endpoint asked with a method it does not take.
    static func methodNotAllowed(allow: String) -> OAuthHTTPError {
        OAuthHTTPError(
            error: .invalidRequest("This endpoint accepts \(allow) only (RFC 6749 section 3.2)."),
            status: .methodNotAllowed, headers: [.allow: allow])
    }
}
