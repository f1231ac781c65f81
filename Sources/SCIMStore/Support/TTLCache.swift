import Synchronization

/// A small, bounded cache of values read on every request that change rarely: token → tenant and
/// custom-field mappings. How long an entry lives is `CacheCoherence`'s call.
public final class TTLCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var loadedAt: ContinuousClock.Instant
        var generation: UInt64
    }

    private let entries = Mutex<[Key: Entry]>([:])
    let coherence: CacheCoherence
    private let capacity: Int

    public init(coherence: CacheCoherence = CacheCoherence(), capacity: Int = 10_000) {
        self.coherence = coherence
        self.capacity = capacity
    }

    /// The entry for `key` if `CacheCoherence` still trusts it at `now` (by default, the coherence's clock).
    public func value(for key: Key, now: ContinuousClock.Instant? = nil) -> Value? {
        let now = now ?? coherence.now()
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard coherence.trusts(loadedAt: entry.loadedAt, generation: entry.generation, now: now) else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    /// Stores what a load read, unless the caches were invalidated since `generation` was captured
    /// (before the load began): the value may then predate the change.
    public func store(_ value: Value, for key: Key, generation: UInt64, now: ContinuousClock.Instant? = nil) {
        guard generation == coherence.generation else { return }
        let now = now ?? coherence.now()
        entries.withLock { entries in
            if entries.count >= capacity {
                // Drop what is no longer trusted; if everything is, start afresh rather than grow.
                entries = entries.filter {
                    coherence.trusts(loadedAt: $0.value.loadedAt, generation: $0.value.generation, now: now)
                }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(value: value, loadedAt: now, generation: generation)
        }
    }

    /// The cached value, or `load()`'s, which is then cached.
    public func value(for key: Key, orLoad load: () throws -> Value) rethrows -> Value {
        if let cached = value(for: key) { return cached }
        let generation = coherence.generation
        let loaded = try load()
        store(loaded, for: key, generation: generation)
        return loaded
    }
}
