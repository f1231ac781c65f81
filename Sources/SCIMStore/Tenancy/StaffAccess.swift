import Foundation

/// The staff access policy as the stores' callers share it: the admin API and the console ask the same
/// questions of a `StaffIdentity`.
extension StaffIdentity {
    /// Whether this identity may see the organisation with this slug: a key bound to one organisation
    /// sees that one alone.
    public func maySee(organisationSlug slug: String) -> Bool {
        organisationSlug.map { $0 == slug } ?? true
    }

    /// Whether this identity may change anything (readonly keys may not).
    public var mayWrite: Bool { !isReadOnly }

    /// Whether this identity may act outside one organisation: create organisations, manage staff
    /// keys, read the audit log.
    public var isUnbound: Bool { organisationID == nil }
}
