/// The leasing rules of the connection pool, free of I/O so they can be tested directly.
///
/// The I/O shell (`ConnectionPool`) calls these methods under a lock and carries out the returned
/// actions: resuming waiters, opening and closing connections. Invariants: `leased + idle.count` never
/// exceeds `maximumConnections`; a waiter exists only while no idle connection and no free slot exist;
/// waiters are served first in, first out.
struct ConnectionPoolStateMachine<Connection> {
    typealias WaiterID = Int

    /// What a lease holder receives: a connection to reuse, or permission to open a new one.
    enum Grant {
        case connection(Connection)
        case openSlot
    }

    enum LeaseAction {
        case grant(Grant)
        case wait
        case shutdown
    }

    /// What the shell must do after a connection or slot came back.
    struct ReleaseAction {
        /// A connection to close (broken, in a transaction, or the pool is shutting down).
        var close: Connection?
        /// The first waiter and what it now holds.
        var handOver: (waiter: WaiterID, grant: Grant)?
    }

    let maximumConnections: Int
    /// Connections and open slots currently held by callers.
    private(set) var leased = 0
    /// Most recently used last, so a quiet pool reuses a warm connection and lets the rest idle.
    private(set) var idle: [Connection] = []
    private(set) var waiters: [WaiterID] = []
    private(set) var isShutdown = false
    /// Connections successfully opened since start, for metrics.
    private(set) var connectionsOpened = 0

    init(maximumConnections: Int) {
        precondition(maximumConnections > 0, "the pool needs at least one connection")
        self.maximumConnections = maximumConnections
    }

    mutating func lease(_ waiter: WaiterID) -> LeaseAction {
        if self.isShutdown {
            return .shutdown
        }
        if let connection = self.idle.popLast() {
            self.leased += 1
            return .grant(.connection(connection))
        }
        if self.leased < self.maximumConnections {
            self.leased += 1
            return .grant(.openSlot)
        }
        self.waiters.append(waiter)
        return .wait
    }

    /// Returns a connection. A `reusable` one goes to the first waiter or back to the idle list.
    mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        guard reusable, !self.isShutdown else {
            return ReleaseAction(close: connection, handOver: self.releaseSlot().handOver)
        }
        if !self.waiters.isEmpty {
            return ReleaseAction(handOver: (self.waiters.removeFirst(), .connection(connection)))
        }
        self.leased -= 1
        self.idle.append(connection)
        return ReleaseAction()
    }

    /// Returns a slot without a connection (opening failed, or it was never used); the first waiter
    /// may then open one.
    mutating func releaseSlot() -> ReleaseAction {
        if !self.isShutdown, !self.waiters.isEmpty {
            return ReleaseAction(handOver: (self.waiters.removeFirst(), .openSlot))
        }
        self.leased -= 1
        return ReleaseAction()
    }

    mutating func connectionOpened() {
        self.connectionsOpened += 1
    }

    /// Removes a waiter that timed out or was cancelled.
    /// - Returns: false if it had already been served (or removed), so the caller must not resume it.
    mutating func removeWaiter(_ waiter: WaiterID) -> Bool {
        guard let index = self.waiters.firstIndex(of: waiter) else { return false }
        self.waiters.remove(at: index)
        return true
    }

    /// Stops leasing. Returns the idle connections to close and the waiters to fail; leased connections
    /// are closed as they come back.
    mutating func shutdown() -> (close: [Connection], fail: [WaiterID]) {
        self.isShutdown = true
        defer {
            self.idle = []
            self.waiters = []
        }
        return (self.idle, self.waiters)
    }
}

extension ConnectionPoolStateMachine.Grant: Sendable where Connection: Sendable {}
