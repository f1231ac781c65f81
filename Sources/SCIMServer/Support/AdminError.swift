import SCIMStore

/// An admin-API failure: the HTTP status, a stable code and a message safe to show to support staff.
/// Rendered by `Responses.adminError`; `ErrorResponseMiddleware` turns every other error into one.
public struct AdminError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// A store's refusal as the admin API answers it: not found 404, conflict 409, invalid 400, busy 503.
    init(_ error: StoreError) {
        switch error.kind {
        case .notFound: self = .notFound(error.message)
        case .conflict: self = .conflict(error.message)
        case .invalid: self = .badRequest(error.message)
        case .busy: self = .init(status: 503, code: "unavailable", message: error.message)
        default: self = .badRequest(error.message)
        }
    }

    public var description: String { "AdminError(\(status) \(code)): \(message)" }

    public static func badRequest(_ message: String) -> AdminError {
        .init(status: 400, code: "bad_request", message: message)
    }

    public static func notFound(_ message: String) -> AdminError {
        .init(status: 404, code: "not_found", message: message)
    }

    public static func conflict(_ message: String) -> AdminError {
        .init(status: 409, code: "conflict", message: message)
    }

    public static func unauthorized(_ message: String) -> AdminError {
        .init(status: 401, code: "unauthorized", message: message)
    }

    public static func forbidden(_ message: String) -> AdminError {
        .init(status: 403, code: "forbidden", message: message)
    }

    public static func unsupportedMediaType(_ message: String) -> AdminError {
        .init(status: 415, code: "unsupported_media_type", message: message)
    }
}
