/// Why a store refused a request, with a message safe to show to support staff.
///
/// Stores know nothing of HTTP: the server maps each kind to a status in one place (its error
/// middleware). An extensible struct, so a new kind does not break callers' switches.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case notFound, conflict, invalid, busy
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// What the request names does not exist (or is not this caller's to see).
        public static let notFound = Kind(.notFound)
        /// The request would break a uniqueness rule.
        public static let conflict = Kind(.conflict)
        /// A value in the request breaks a rule of its field.
        public static let invalid = Kind(.invalid)
        /// What the request needs is held by other work for now; the same request may succeed shortly.
        public static let busy = Kind(.busy)

        public var description: String { base.rawValue }
    }

    public var kind: Kind
    /// What the refusal is about: the missing thing (`organisation`), the attribute in conflict
    /// (`slug`), or the invalid field (`name`).
    public var subject: String
    public var message: String

    public init(_ kind: Kind, subject: String, message: String) {
        self.kind = kind
        self.subject = subject
        self.message = message
    }

    public var description: String { "StoreError(\(kind) \(subject)): \(message)" }

    /// `what` does not exist: `.notFound("organisation", "No organisation with slug …")`.
    public static func notFound(_ what: String, _ message: String) -> StoreError {
        StoreError(.notFound, subject: what, message: message)
    }

    /// Another row already has this `attribute`: `.conflict("email", "A user with email … already exists")`.
    public static func conflict(_ attribute: String, _ message: String) -> StoreError {
        StoreError(.conflict, subject: attribute, message: message)
    }

    /// The value of `field` breaks its rule: `.invalid("name", "name is required")`.
    public static func invalid(_ field: String, _ message: String) -> StoreError {
        StoreError(.invalid, subject: field, message: message)
    }

    /// `what` is held by other work: `.busy("organisation", "The organisation's data is busy; …")`.
    public static func busy(_ what: String, _ message: String) -> StoreError {
        StoreError(.busy, subject: what, message: message)
    }
}
