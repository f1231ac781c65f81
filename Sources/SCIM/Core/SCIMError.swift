/// An error a SCIM client is allowed to see: RFC 7644 §3.12 status, `scimType` and a human detail.
///
/// Every failure that reaches a client is one of these; the HTTP layer renders it in one place.
/// `detail` must never contain server internals (SQL, stack traces, bind values).
public struct SCIMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP status code.
    public var status: Int
    /// RFC 7644 §3.12 `scimType`, where the RFC defines one for this status.
    public var scimType: ScimType?
    /// Human-readable explanation, safe to show to an identity-provider admin.
    public var detail: String
    /// Seconds a client should wait before retrying (429, 503).
    public var retryAfter: Int?

    public init(status: Int, scimType: ScimType? = nil, detail: String, retryAfter: Int? = nil) {
        self.status = status
        self.scimType = scimType
        self.detail = detail
        self.retryAfter = retryAfter
    }

    public var description: String {
        "SCIMError(\(status)\(scimType.map { " \($0.rawValue)" } ?? ""): \(detail))"
    }

    /// RFC 7644 §3.12 scimType values.
    public struct ScimType: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let invalidFilter = ScimType(rawValue: "invalidFilter")
        public static let tooMany = ScimType(rawValue: "tooMany")
        public static let uniqueness = ScimType(rawValue: "uniqueness")
        public static let mutability = ScimType(rawValue: "mutability")
        public static let invalidSyntax = ScimType(rawValue: "invalidSyntax")
        public static let invalidPath = ScimType(rawValue: "invalidPath")
        public static let noTarget = ScimType(rawValue: "noTarget")
        public static let invalidValue = ScimType(rawValue: "invalidValue")
        public static let invalidVers = ScimType(rawValue: "invalidVers")
        public static let sensitive = ScimType(rawValue: "sensitive")
        public static let invalidCursor = ScimType(rawValue: "invalidCursor")
        public static let expiredCursor = ScimType(rawValue: "expiredCursor")
    }
}

extension SCIMError {
    public static func invalidFilter(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .invalidFilter, detail: detail)
    }
    public static func invalidSyntax(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .invalidSyntax, detail: detail)
    }
    public static func invalidValue(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .invalidValue, detail: detail)
    }
    public static func invalidPath(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .invalidPath, detail: detail)
    }
    public static func noTarget(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .noTarget, detail: detail)
    }
    public static func mutability(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .mutability, detail: detail)
    }
    public static func tooMany(_ detail: String) -> SCIMError { .init(status: 400, scimType: .tooMany, detail: detail) }
    public static func invalidCursor(_ detail: String) -> SCIMError {
        .init(status: 400, scimType: .invalidCursor, detail: detail)
    }
    public static func uniqueness(_ detail: String) -> SCIMError {
        .init(status: 409, scimType: .uniqueness, detail: detail)
    }
    public static func badRequest(_ detail: String) -> SCIMError { .init(status: 400, detail: detail) }
    public static func unauthorized(_ detail: String) -> SCIMError { .init(status: 401, detail: detail) }
    public static func forbidden(_ detail: String) -> SCIMError { .init(status: 403, detail: detail) }
    public static func notFound(_ detail: String) -> SCIMError { .init(status: 404, detail: detail) }
    public static func methodNotAllowed(_ detail: String) -> SCIMError { .init(status: 405, detail: detail) }
    public static func preconditionFailed(_ detail: String) -> SCIMError { .init(status: 412, detail: detail) }
    public static func payloadTooLarge(_ detail: String) -> SCIMError { .init(status: 413, detail: detail) }
    public static func unsupportedMediaType(_ detail: String) -> SCIMError { .init(status: 415, detail: detail) }
    public static func tooManyRequests(retryAfter: Int) -> SCIMError {
        .init(
            status: 429, detail: "Too many requests for this organisation; retry after \(retryAfter) s.",
            retryAfter: retryAfter)
    }
    public static func unavailable(retryAfter: Int = 5) -> SCIMError {
        .init(
            status: 503, detail: "The service is temporarily unavailable; retry after \(retryAfter) s.",
            retryAfter: retryAfter)
    }
    public static func notImplemented(_ detail: String) -> SCIMError { .init(status: 501, detail: detail) }
}
