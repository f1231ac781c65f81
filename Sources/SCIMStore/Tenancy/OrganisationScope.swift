import Foundation

/// The organisations a background pass over every organisation acts on (the scheduled purge, the
/// erasure follow-ups, the access-token purge, the per-organisation metrics).
///
/// In service it is always `all`. Tests share one database, and a test that runs such a pass itself,
/// on a clock of its own, names its own organisations, so the pass never acts on other tests' data
/// and its result does not depend on how many organisations the database holds.
public enum OrganisationScope: Sendable, Hashable {
    /// Every organisation.
    case all
    /// Only the organisations with these slugs.
    case only(Set<String>)

    /// True when the organisation with this slug is in scope.
    public func contains(slug: String) -> Bool {
        switch self {
        case .all: true
        case .only(let slugs): slugs.contains(slug)
        }
    }

    /// The slugs in scope, sorted, for a `slug = ANY(…)` bind; nil for every organisation, so a pass
    /// in service runs its query unchanged.
    var slugs: [String]? {
        switch self {
        case .all: nil
        case .only(let slugs): slugs.sorted()
        }
    }
}
