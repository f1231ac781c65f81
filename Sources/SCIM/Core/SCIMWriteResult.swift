/// What a successful SCIM write did, and the status RFC 7644 answers it with: the store says what
/// happened, the protocol says how that is reported (and the event log records that status).
public enum SCIMWriteResult: Sendable, Hashable {
    /// A resource was created (RFC 7644 §3.3).
    case created
    /// The resource was replaced or modified and its representation is returned (§3.5.1, §3.5.2).
    case returned
    /// The write succeeded and nothing is returned: a PATCH without a representation, a DELETE (§3.6).
    case noContent

    /// 201, 200 or 204.
    public var status: Int {
        switch self {
        case .created: 201
        case .returned: 200
        case .noContent: 204
        }
    }
}
