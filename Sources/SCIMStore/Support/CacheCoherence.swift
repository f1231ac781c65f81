import Postgres
import Synchronization

/// Decides how long this replica may trust what it cached of control data (token → organisation,
/// custom-field mappings), and drops all of it when that data changes anywhere.
///
/// `control.cache_epoch` moves, in the same transaction, with every change to those data (triggers on
/// the control tables; `CustomFieldStore.replace` for mappings). `CacheCoherenceService` reads it twice
/// a second and reports here. While those reads keep succeeding, an entry is trusted for up to
/// `confirmedLifetime`, because a change would have been seen within `confirmationWindow`; when they
/// stop (database trouble, or no service running, as in unit tests), entries fall back to the plain
/// one-second `lifetime` they had before. Either way a change reaches every replica within about a
/// second, and with 1,000 organisations spread over a replica's traffic the caches still hit.
///
/// Invalidation bumps a generation rather than clearing each cache: entries of an older generation
/// are misses, and a load that began before an invalidation is not stored, so a lookup racing a
/// revocation cannot put the old answer back.
public final class CacheCoherence: Sendable {
    public static let lifetime: Duration = .seconds(1)
    public static let confirmedLifetime: Duration = .seconds(60)
    public static let confirmationWindow: Duration = .seconds(1)

    private struct State {
        var generation: UInt64 = 0
        var epoch: Int64?
        var confirmedAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    /// The clock every trust decision reads; tests inject one they can move.
    public let now: @Sendable () -> ContinuousClock.Instant

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
    }

    /// The generation a load must capture before it reads the database (see `TTLCache.store`).
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Drops every entry cached under this coherence (an admin write on this replica, or a moved epoch).
    public func invalidate() {
        state.withLock { $0.generation &+= 1 }
    }

    /// When the latest successful epoch read started: everything committed before it is known here.
    public var lastConfirmedRead: ContinuousClock.Instant? { state.withLock { $0.confirmedAt } }

    /// Records an epoch read that started at `start`: everything committed before `start` is now known.
    ///
    /// The first read (and a reset counter) invalidates: entries loaded before it may predate changes
    /// it cannot tell apart.
    public func confirm(epoch: Int64, readStartedAt start: ContinuousClock.Instant) {
        state.withLock { state in
            if state.epoch != epoch { state.generation &+= 1 }
            state.epoch = epoch
            state.confirmedAt = max(state.confirmedAt ?? start, start)
        }
    }

    /// Whether an entry loaded at `loadedAt` under `generation` may be served at `now`.
    func trusts(loadedAt: ContinuousClock.Instant, generation: UInt64, now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard generation == state.generation else { return false }
            let age = now - loadedAt
            if age < Self.lifetime { return true }
            guard let confirmedAt = state.confirmedAt, now - confirmedAt < Self.confirmationWindow else { return false }
            return age < Self.confirmedLifetime
        }
    }

    /// Reads `control.cache_epoch` and reports it; the caller repeats this well within `confirmationWindow`.
    public func refresh(_ client: PostgresClient) async throws {
        let start = now()
        let rows = try await client.query("SELECT epoch FROM control.cache_epoch")
        guard let row = rows.first else {
            throw PostgresError(code: .decoding, message: "control.cache_epoch has no row")
        }
        confirm(epoch: try row.decode("epoch"), readStartedAt: start)
    }

    /// Moves the epoch inside `connection`'s transaction, for changes no trigger sees (tenant schemas).
    static func invalidateEverywhere(on connection: PostgresConnection) throws {
        _ = try connection.query("SELECT control.invalidate_caches()")
    }
}
