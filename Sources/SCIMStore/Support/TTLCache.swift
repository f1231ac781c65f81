import Synchronization

/// A small, bounded cache whose entries live for a fixed time.
///
/// Used where a value read on every request changes rarely and may be a second stale: token → tenant
/// and custom-field mappings. A one-second lifetime keeps every replica within a second of the
/// database (a revoked token stops working within a second everywhere) without cross-replica
/// invalidation, and still removes nearly every lookup under load.
public final class TTLCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[Key: Entry]>([:])
    private let lifetime: Duration
    private let capacity: Int

    public init(lifetime: Duration = .seconds(1), capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    public func value(for key: Key, now: ContinuousClock.Instant = .now) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    public func store(_ value: Value, for key: Key, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= capacity {
                // Drop what has expired; if everything is live, start afresh rather than grow.
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(value: value, expires: now + lifetime)
        }
    }

    public func removeAll() {
        entries.withLock { $0.removeAll() }
    }

    public func remove(_ key: Key) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    /// The cached value, or `load()`'s, which is then cached.
    public func value(for key: Key, orLoad load: () throws -> Value) rethrows -> Value {
        if let cached = value(for: key) { return cached }
        let loaded = try load()
        store(loaded, for: key)
        return loaded
    }
}
