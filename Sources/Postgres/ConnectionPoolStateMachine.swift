/// The leasing rules of the connection pool, free of I/O so they can be tested directly.
///
/// The I/O shell (`ConnectionPool`) calls these methods under a lock and carries out the returned
/// actions: resuming waiters, opening and closing connections, scheduling `redispatch`. Invariants:
/// `leased + idle.count` never exceeds `maximumConnections`; a waiter exists only while no idle
/// connection and no free slot exist, unless it holds out for its home connection (below).
///
/// Waiters are served first in, first out, except for affinity: a lease may name a bucket (a tenant's
/// hash, below `maximumConnections`), and each connection has a home bucket for its whole life, no two
/// the same: its opener's bucket when no other connection has it, else any free one. An idle
/// connection whose home is the lease's bucket is preferred, and a released connection goes to the
/// first waiter of its home bucket among the next `affinityWindow`, so a tenant keeps landing on the
/// same server session, where its statements are prepared and its tables' catalog entries cached.
/// The home is fixed rather than whatever the connection served last, which would let buckets drift
/// over every connection until each session warms every tenant. The oldest waiter is passed over at most
/// `maximumPassOvers` times in a row, which bounds its wait to that many more releases.
///
/// A lease also names its tenant (`key`). While its home connection serves another tenant, it holds
/// out for the home, for at most `homeWait`, rather than visit another connection: a visited session
/// seldom has the tenant's statements, so it parses and plans them again (about 0.25 ms of PostgreSQL
/// CPU, against 0.03-0.06 ms to run a lookup). A tenant whose home serves the tenant itself is busy
/// enough to be served everywhere, and visits at once. When a hold leaves a connection idle, the
/// shell calls `redispatch` after `homeWait`, so no caller waits much longer than that while a
/// connection is free.
///
/// Fair share: while callers of another tenant (or without one) wait, a tenant is served only within
/// `tenantShare` connections, unless no waiter of another tenant within its share can be. A lease
/// may weigh more than one connection towards its tenant's share (`weight`, at most the share): the
/// client gives expensive lists a weight of 2, as each keeps a database core busy. One tenant's burst
/// of slow queries thus leaves the rest of the pool to everyone else, and a tenant alone still has
/// every connection.
struct ConnectionPoolStateMachine<Connection> {
    typealias WaiterID = Int
    typealias Instant = ContinuousClock.Instant

    /// What a lease holder receives: a connection to reuse, or permission to open a new one, whose
    /// home is `bucket`.
    enum Grant {
        case connection(Connection)
        case openSlot(bucket: Int)
    }

    enum LeaseAction {
        case grant(Grant)
        /// Queued; if `redispatchAfter` is set, the shell calls `redispatch` then.
        case wait(redispatchAfter: Duration?)
        case shutdown
    }

    /// What the shell must do after a connection or slot came back.
    struct ReleaseAction {
        /// A connection to close (broken, in a transaction, or the pool is shutting down).
        var close: Connection?
        /// The first waiter and what it now holds.
        var handOver: (waiter: WaiterID, grant: Grant)?
        /// When to call `redispatch`: the connection went idle while callers hold out for theirs.
        var redispatchAfter: Duration?
    }

    private struct Waiter {
        var bucket: Int?
        var key: Int?
        var weight: Int
        var since: Instant
    }

    let maximumConnections: Int
    /// The longest a caller holds out for its home connection while another is idle: long enough that
    /// most lookups find their warm session, short enough not to show in one organisation's p99. A
    /// caller waits at most about that long, and only for another tenant's work.
    let homeWait: Duration
    /// How far down the queue a released connection looks for a waiter of its bucket. A miss sends
    /// it to another bucket's tenant, which its session serves cold (statements parsed and planned
    /// again); a window of 8 × the pool makes such misses rare (docs/performance-history.md has the
    /// figures).
    var affinityWindow: Int { 8 * self.maximumConnections }
    /// How many releases in a row may pass the oldest waiter over for waiters of their own bucket.
    /// With every bucket equally busy, the oldest waiter's home comes free about once in
    /// `maximumConnections` releases; a bound of `maximumConnections` would send it to another bucket's
    /// connection about a third of the time, and 4 × halves the visits again. Each pass-over costs
    /// the oldest one release, a fraction of a millisecond under load.
    var maximumPassOvers: Int { 4 * self.maximumConnections }
    /// Connections and open slots currently held by callers.
    private(set) var leased = 0
    /// Most recently used last, so a quiet pool reuses a warm connection and lets the rest idle; each
    /// with its home bucket.
    private var idleEntries: [(connection: Connection, bucket: Int)] = []
    /// Home buckets that no connection or open slot holds.
    private var unclaimedBuckets: [Int]
    private(set) var waiters: [WaiterID] = []
    private var waiterDetails: [WaiterID: Waiter] = [:]
    /// For each home bucket whose connection or open slot is leased, the tenant key it serves (nil:
    /// a lease without one, such as writing the event log).
    private var serving: [Int: Int?] = [:]
    /// How many times in a row the oldest waiter has been passed over for a waiter of another bucket.
    private var oldestPassedOver = 0
    /// Whether the shell has a `redispatch` scheduled.
    private var redispatchScheduled = false
    private(set) var isShutdown = false
    /// The most connections one tenant holds while others wait (see the type).
    let tenantShare: Int
    /// The weight of the leases of each tenant key (see the type).
    private var heldByKey: [Int: Int] = [:]
    /// The weight of the lease each leased home bucket serves.
    private var servingWeight: [Int: Int] = [:]
    /// Waiters by tenant key (`nil` for those without one).
    private var waitingByKey: [Int?: Int] = [:]
    /// Connections successfully opened since start, for metrics.
    private(set) var connectionsOpened = 0

    var idle: [Connection] { self.idleEntries.map(\.connection) }

    init(maximumConnections: Int, homeWait: Duration = .milliseconds(5), tenantShare: Int? = nil) {
        precondition(maximumConnections > 0, "the pool needs at least one connection")
        self.maximumConnections = maximumConnections
        self.homeWait = homeWait
        self.tenantShare = min(maximumConnections, max(1, tenantShare ?? maximumConnections))
        self.unclaimedBuckets = Array((0..<maximumConnections).reversed())
    }

    /// - Parameters:
    ///   - bucket: the affinity bucket of the lease's tenant, if it has one.
    ///   - key: the tenant itself (any stable hash of it): see the type on holding out for the home.
    mutating func lease(
        _ waiter: WaiterID, bucket: Int? = nil, key: Int? = nil, weight: Int = 1, now: Instant = .now
    ) -> LeaseAction {
        if self.isShutdown {
            return .shutdown
        }
        let details = Waiter(bucket: bucket, key: key, weight: min(max(1, weight), self.tenantShare), since: now)
        if self.exceedsShare(details), !self.idleEntries.isEmpty || self.leased < self.maximumConnections {
            // Free connections are kept for the other tenants' waiters, which hold out for their homes.
            self.enqueue(waiter, details)
            return .wait(redispatchAfter: self.scheduleRedispatch())
        }
        if !self.idleEntries.isEmpty {
            if let bucket, let home = self.idleEntries.lastIndex(where: { $0.bucket == bucket }) {
                return .grant(.connection(self.take(idle: home, details)))
            }
            if self.holdsOut(details, now: now) {
                self.enqueue(waiter, details)
                return .wait(redispatchAfter: self.scheduleRedispatch())
            }
            return .grant(.connection(self.take(idle: self.idleEntries.count - 1, details)))
        }
        if self.leased < self.maximumConnections {
            self.leased += 1
            let claimed =
                bucket.flatMap { bucket in self.unclaimedBuckets.firstIndex(of: bucket) } ?? self.unclaimedBuckets.count
                - 1
            let home = self.unclaimedBuckets.remove(at: claimed)
            self.serve(home, details)
            return .grant(.openSlot(bucket: home))
        }
        self.enqueue(waiter, details)
        return .wait(redispatchAfter: nil)
    }

    /// Returns a connection whose home is `bucket`. A `reusable` one goes to a waiter (see the type's
    /// affinity rule) or back to the idle list; any other is to be closed, and its slot and home pass on.
    mutating func release(_ connection: Connection, bucket: Int, reusable: Bool, now: Instant = .now) -> ReleaseAction {
        guard reusable, !self.isShutdown else {
            return ReleaseAction(close: connection, handOver: self.releaseSlot(bucket: bucket).handOver)
        }
        self.serve(bucket, nil)
        if let index = self.nextWaiter(for: bucket, now: now) {
            let waiter = self.dequeue(at: index)
            self.serve(bucket, waiter.details)
            return ReleaseAction(handOver: (waiter.id, .connection(connection)))
        }
        self.leased -= 1
        self.idleEntries.append((connection, bucket))
        return ReleaseAction(redispatchAfter: self.waiters.isEmpty ? nil : self.scheduleRedispatch())
    }

    /// Serves the waiters that no longer hold out (their home is free of other tenants, or they have
    /// waited `homeWait`) with the idle connections, oldest first.
    /// - Returns: the hand-overs, and when to call again (callers still hold out).
    mutating func redispatch(now: Instant = .now) -> (handOvers: [(waiter: WaiterID, grant: Grant)], again: Duration?) {
        self.redispatchScheduled = false
        var handOvers: [(waiter: WaiterID, grant: Grant)] = []
        while !self.idleEntries.isEmpty, let index = self.nextReadyWaiter(now: now) {
            if index == 0 { self.oldestPassedOver = 0 }
            let waiter = self.dequeue(at: index)
            let home = waiter.details?.bucket.flatMap { bucket in self.idleEntries.lastIndex { $0.bucket == bucket } }
            let connection = self.take(idle: home ?? self.idleEntries.count - 1, waiter.details)
            handOvers.append((waiter.id, .connection(connection)))
        }
        let again = !self.idleEntries.isEmpty && !self.waiters.isEmpty ? self.scheduleRedispatch() : nil
        return (handOvers, again)
    }

    /// Whether a caller would rather wait for its home connection than visit another: its home
    /// serves another tenant (not itself, and not a lease without a tenant), and it has not yet
    /// waited `homeWait`.
    private func holdsOut(_ waiter: Waiter, now: Instant) -> Bool {
        guard let bucket = waiter.bucket, let key = waiter.key, case let served?? = self.serving[bucket] else {
            return false
        }
        return served != key && now - waiter.since < self.homeWait
    }

    private mutating func scheduleRedispatch() -> Duration? {
        guard !self.redispatchScheduled else { return nil }
        self.redispatchScheduled = true
        return self.homeWait
    }

    /// The first waiter that no longer holds out for its home, preferring one within its tenant's share.
    private func nextReadyWaiter(now: Instant) -> Int? {
        var firstReady: Int?
        for (index, waiter) in self.waiters.enumerated() {
            guard let details = self.waiterDetails[waiter], !self.holdsOut(details, now: now) else { continue }
            if !self.exceedsShare(details) { return index }
            firstReady = firstReady ?? index
        }
        return firstReady
    }

    /// Whether serving this caller now would give its tenant more than its share while a caller of
    /// another tenant (or of none) waits.
    private func exceedsShare(_ waiter: Waiter?) -> Bool {
        guard let waiter, let key = waiter.key, self.heldByKey[key, default: 0] + waiter.weight > self.tenantShare
        else {
            return false
        }
        return self.waiters.count > self.waitingByKey[key, default: 0]
    }

    /// Records that the connection or slot of home `bucket` now serves `lease` (nil: nobody).
    private mutating func serve(_ bucket: Int, _ lease: Waiter?) {
        if case let previous?? = self.serving[bucket] {
            self.heldByKey[previous, default: 0] -= self.servingWeight[bucket] ?? 1
            if self.heldByKey[previous, default: 0] <= 0 { self.heldByKey[previous] = nil }
        }
        self.serving[bucket] = lease?.key
        self.servingWeight[bucket] = lease?.weight
        if let key = lease?.key { self.heldByKey[key, default: 0] += lease?.weight ?? 1 }
    }

    private mutating func take(idle index: Int, _ lease: Waiter?) -> Connection {
        let (connection, home) = self.idleEntries.remove(at: index)
        self.leased += 1
        self.serve(home, lease)
        return connection
    }

    private mutating func enqueue(_ waiter: WaiterID, _ details: Waiter) {
        self.waiters.append(waiter)
        self.waiterDetails[waiter] = details
        self.waitingByKey[details.key, default: 0] += 1
    }

    private mutating func dequeue(at index: Int) -> (id: WaiterID, details: Waiter?) {
        let waiter = self.waiters.remove(at: index)
        let details = self.waiterDetails.removeValue(forKey: waiter)
        if let details {
            self.waitingByKey[details.key, default: 1] -= 1
            if self.waitingByKey[details.key] == 0 { self.waitingByKey[details.key] = nil }
        }
        return (waiter, details)
    }

    /// The index of the waiter a connection of `bucket` should serve, if any: the first of its
    /// bucket among the next `affinityWindow`, else the first there that does not hold out for its
    /// home; the oldest once it has been passed over `maximumPassOvers` times. A waiter whose tenant
    /// holds its share is passed over for the first waiter in the queue that is within its own.
    private mutating func nextWaiter(for bucket: Int, now: Instant) -> Int? {
        guard !self.waiters.isEmpty else { return nil }
        let chosen = self.chooseWaiter(for: bucket, now: now)
        self.oldestPassedOver = chosen == 0 ? 0 : self.oldestPassedOver + 1
        return chosen
    }

    private func chooseWaiter(for bucket: Int, now: Instant) -> Int? {
        guard !self.waiters.isEmpty else { return nil }
        let withinShare = { (waiter: WaiterID) in !self.exceedsShare(self.waiterDetails[waiter]) }
        let ready = { (waiter: WaiterID) in self.waiterDetails[waiter].map { !self.holdsOut($0, now: now) } == true }
        var chosen: Int? = 0
        if self.oldestPassedOver < self.maximumPassOvers {
            let window = self.waiters.prefix(self.affinityWindow)
            chosen =
                window.firstIndex { self.waiterDetails[$0]?.bucket == bucket && withinShare($0) }
                ?? window.firstIndex { ready($0) && withinShare($0) }
        }
        if let index = chosen, !withinShare(self.waiters[index]) {
            return self.waiters.firstIndex(where: withinShare) ?? index
        }
        // Past the window: a waiter the window's over-share tenants kept back.
        return chosen ?? self.waiters.firstIndex { ready($0) && withinShare($0) }
    }

    /// Returns a slot without a connection (opening failed, or it was never used), with its home
    /// `bucket`; the first waiter may then open one there.
    mutating func releaseSlot(bucket: Int) -> ReleaseAction {
        self.serve(bucket, nil)
        if !self.isShutdown, !self.waiters.isEmpty {
            let waiter = self.dequeue(at: self.waiters.firstIndex { !self.exceedsShare(self.waiterDetails[$0]) } ?? 0)
            self.serve(bucket, waiter.details)
            self.oldestPassedOver = 0
            return ReleaseAction(handOver: (waiter.id, .openSlot(bucket: bucket)))
        }
        self.leased -= 1
        self.unclaimedBuckets.append(bucket)
        return ReleaseAction()
    }

    mutating func connectionOpened() {
        self.connectionsOpened += 1
    }

    /// Removes a waiter that timed out or was cancelled.
    /// - Returns: false if it had already been served (or removed), so the caller must not resume it.
    mutating func removeWaiter(_ waiter: WaiterID) -> Bool {
        guard let index = self.waiters.firstIndex(of: waiter) else { return false }
        _ = self.dequeue(at: index)
        if index == 0 { self.oldestPassedOver = 0 }
        return true
    }

    /// Stops leasing. Returns the idle connections to close and the waiters to fail; leased connections
    /// are closed as they come back.
    mutating func shutdown() -> (close: [Connection], fail: [WaiterID]) {
        self.isShutdown = true
        defer {
            self.idleEntries = []
            self.waiters = []
            self.waiterDetails = [:]
            self.waitingByKey = [:]
        }
        return (self.idle, self.waiters)
    }
}

extension ConnectionPoolStateMachine.Grant: Sendable where Connection: Sendable {}
