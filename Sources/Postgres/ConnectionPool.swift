import NIOCore
import NIOPosix
import Synchronization

/// The I/O shell around `ConnectionPoolStateMachine`: queues callers' jobs, times them out, and
/// hands each released connection to the next job, which the releasing pool thread then runs itself
/// (`start`).
final class ConnectionPool: Sendable {
    typealias Machine = ConnectionPoolStateMachine<PostgresConnection>
    typealias Grant = Machine.Grant
    typealias WaiterID = Machine.WaiterID

    /// A caller's work: run on a pool thread once it holds a connection or slot, or failed instead.
    /// Exactly one of the two is called, once.
    struct Job: Sendable {
        /// Uses the grant, resumes the caller, and says what to give back.
        let run: @Sendable (Grant) -> Returned
        let fail: @Sendable (any Error) -> Void
    }

    /// What a job gives back: its connection, or the slot it could not open one in.
    enum Returned: Sendable {
        case connection(PostgresConnection)
        case slot(bucket: Int)
    }

    private struct Waiter {
        let job: Job
        let timeout: Scheduled<Void>
    }

    private struct State {
        var machine: Machine
        var waiters: [WaiterID: Waiter] = [:]
        var nextWaiterID = 0
    }

    private let state: Mutex<State>
    /// Runs the jobs: every libpq call blocks its thread.
    private let threadPool: NIOThreadPool
    /// Only fires wait timeouts and redispatches; no I/O runs on it.
    private let timerLoop: any EventLoop

    init(maximumConnections: Int, tenantShare: Int? = nil, threadPool: NIOThreadPool) {
        self.state = Mutex(State(machine: Machine(maximumConnections: maximumConnections, tenantShare: tenantShare)))
        self.threadPool = threadPool
        self.timerLoop = MultiThreadedEventLoopGroup.singleton.any()
    }

    func makeWaiterID() -> WaiterID {
        self.state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
    }

    /// Returns an idle connection or a free slot to run `job` with now, or queues the job (first in,
    /// first out, bar affinity: see `ConnectionPoolStateMachine`) and returns nil. A queued job runs
    /// when a connection is released to it (`release`), or fails with `PostgresError(.poolTimeout)`
    /// after `timeout`, with `CancellationError` (`cancel`), or with `.poolShutdown`.
    func lease(_ id: WaiterID, _ job: Job, timeout: Duration, bucket: Int?, key: Int?, weight: Int = 1) -> Grant? {
        let outcome: Result<Grant, any Error>? = self.state.withLock { state in
            // Checked under the lock: a cancellation handler that ran before we queued finds no
            // waiter to remove, so this is where such a cancellation is honoured.
            if Task.isCancelled {
                return .failure(CancellationError())
            }
            switch state.machine.lease(id, bucket: bucket, key: key, weight: weight) {
            case .grant(let grant):
                return .success(grant)
            case .shutdown:
                return .failure(PostgresError(code: .poolShutdown, message: "the Postgres client is shut down"))
            case .wait(let redispatchAfter):
                self.scheduleRedispatch(after: redispatchAfter)
                let timeout = self.timerLoop.scheduleTask(in: TimeAmount(timeout)) {
                    self.removeWaiter(
                        id,
                        error: PostgresError(
                            code: .poolTimeout,
                            message: "no database connection became free within \(timeout)"
                        ))
                }
                state.waiters[id] = Waiter(job: job, timeout: timeout)
                return nil
            }
        }
        switch outcome {
        case .success(let grant): return grant
        case .failure(let error): job.fail(error)
        case nil: break
        }
        return nil
    }

    /// Fails a queued job with `CancellationError`; does nothing once it has been handed a connection.
    func cancel(_ id: WaiterID) {
        self.removeWaiter(id, error: CancellationError())
    }

    /// Takes back what a job used: a connection is reused if connected and idle, closed otherwise (on
    /// this thread: call it on a pool thread). Returns the queued job it now goes to, for the caller to
    /// run at once.
    func release(_ returned: Returned) -> (job: Job, grant: Grant)? {
        switch returned {
        case .connection(let connection):
            let reusable = connection.isReusable
            return self.perform { $0.release(connection, bucket: connection.poolBucket, reusable: reusable) }
        case .slot(let bucket):
            return self.perform { $0.releaseSlot(bucket: bucket) }
        }
    }

    func connectionOpened() {
        self.state.withLock { $0.machine.connectionOpened() }
    }

    /// Stops leasing and fails all waiters.
    /// - Returns: The idle connections, for the caller to close on a pool thread.
    func shutdown() -> [PostgresConnection] {
        let (idle, waiters) = self.state.withLock { state in
            let (idle, failed) = state.machine.shutdown()
            return (idle, failed.compactMap { state.waiters.removeValue(forKey: $0) })
        }
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.job.fail(PostgresError(code: .poolShutdown, message: "the Postgres client is shutting down"))
        }
        return idle
    }

    var metrics: PostgresClient.PoolMetrics {
        self.state.withLock { state in
            PostgresClient.PoolMetrics(
                inUse: state.machine.leased,
                idle: state.machine.idle.count,
                waiting: state.machine.waiters.count,
                connectionsOpened: state.machine.connectionsOpened
            )
        }
    }

    /// Runs `job` on a pool thread, then, for as long as callers are queued, the job its connection is
    /// released to, on the same thread. A queued caller's body thus starts without two thread
    /// switches: to its task's event loop to take the connection, and from there back to a pool thread.
    func start(_ job: Job, with grant: Grant) {
        self.threadPool.submit { state in
            var next: (job: Job, grant: Grant)? = (job, grant)
            guard case .active = state else {
                // The threads have stopped, which happens only after the pool itself has shut down:
                // the connection given back is closed and no job is handed it.
                while let (job, grant) = next {
                    job.fail(PostgresError(code: .poolShutdown, message: "the Postgres client is shut down"))
                    next = self.release(grant.unused)
                }
                return
            }
            while let (job, grant) = next {
                next = self.release(job.run(grant))
            }
        }
    }

    private func perform(_ transition: (inout Machine) -> Machine.ReleaseAction) -> (job: Job, grant: Grant)? {
        let (close, handOver) = self.state.withLock { state in
            let action = transition(&state.machine)
            self.scheduleRedispatch(after: action.redispatchAfter)
            // The machine has dequeued the waiter, so a racing timeout or cancellation no longer finds it.
            let handOver = action.handOver.flatMap { id, grant in
                state.waiters.removeValue(forKey: id).map { ($0, grant) }
            }
            return (action.close, handOver)
        }
        close?.close()
        guard let (waiter, grant) = handOver else { return nil }
        waiter.timeout.cancel()
        return (waiter.job, grant)
    }

    /// Callers hold out for their home connections while another is idle: after `delay`, those
    /// that no longer do (see `ConnectionPoolStateMachine`) get the idle ones.
    private func scheduleRedispatch(after delay: Duration?) {
        guard let delay else { return }
        self.timerLoop.scheduleTask(in: TimeAmount(delay)) {
            let handOvers = self.state.withLock { state in
                let (handOvers, again) = state.machine.redispatch()
                self.scheduleRedispatch(after: again)
                return handOvers.compactMap { id, grant in state.waiters.removeValue(forKey: id).map { ($0, grant) } }
            }
            for (waiter, grant) in handOvers {
                waiter.timeout.cancel()
                self.start(waiter.job, with: grant)
            }
        }
    }

    private func removeWaiter(_ id: WaiterID, error: any Error) {
        let waiter = self.state.withLock { state in
            state.machine.removeWaiter(id) ? state.waiters.removeValue(forKey: id) : nil
        }
        waiter?.timeout.cancel()
        waiter?.job.fail(error)
    }
}

extension ConnectionPool.Grant where Connection == PostgresConnection {
    /// What to give back for a grant no job used.
    var unused: ConnectionPool.Returned {
        switch self {
        case .connection(let connection): .connection(connection)
        case .openSlot(let bucket): .slot(bucket: bucket)
        }
    }
}
