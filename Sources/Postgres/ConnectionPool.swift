import NIOCore
import NIOPosix
import Synchronization

/// The I/O shell around `ConnectionPoolStateMachine`: parks waiters as continuations, times them out
/// and resumes them outside the lock with whatever the state machine decided.
final class ConnectionPool: Sendable {
    typealias Machine = ConnectionPoolStateMachine<PostgresConnection>
    typealias Grant = Machine.Grant

    private struct Waiter {
        let continuation: CheckedContinuation<Grant, any Error>
        let timeout: Scheduled<Void>
    }

    private struct State {
        var machine: Machine
        var waiters: [Machine.WaiterID: Waiter] = [:]
        var nextWaiterID = 0
    }

    private let state: Mutex<State>
    /// Only fires wait timeouts; no I/O runs on it.
    private let timerLoop: any EventLoop

    init(maximumConnections: Int) {
        self.state = Mutex(State(machine: Machine(maximumConnections: maximumConnections)))
        self.timerLoop = MultiThreadedEventLoopGroup.singleton.any()
    }

    /// Waits (first in, first out, bar affinity: see `ConnectionPoolStateMachine`) for an idle
    /// connection or a free slot.
    /// - Throws: `PostgresError(.poolTimeout)` after `timeout`, `.poolShutdown`, or `CancellationError`.
    func lease(timeout: Duration, bucket: Int?) async throws -> Grant {
        let id = self.state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let immediate: Result<Grant, any Error>? = self.state.withLock { state in
                    // Checked under the lock: a cancellation handler that ran before we queued finds no
                    // waiter to remove, so this is where such a cancellation is honoured.
                    if Task.isCancelled {
                        return .failure(CancellationError())
                    }
                    switch state.machine.lease(id, bucket: bucket) {
                    case .grant(let grant):
                        return .success(grant)
                    case .shutdown:
                        return .failure(PostgresError(code: .poolShutdown, message: "the Postgres client is shut down"))
                    case .wait:
                        let timeout = self.timerLoop.scheduleTask(in: TimeAmount(timeout)) {
                            self.removeWaiter(id, error: PostgresError(
                                code: .poolTimeout,
                                message: "no database connection became free within \(timeout)"
                            ))
                        }
                        state.waiters[id] = Waiter(continuation: continuation, timeout: timeout)
                        return nil
                    }
                }
                if let immediate {
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            self.removeWaiter(id, error: CancellationError())
        }
    }

    /// Returns a leased connection: reused if connected and idle, closed otherwise. Called on the pool
    /// thread that last used it, so closing happens there.
    func release(_ connection: PostgresConnection) {
        let reusable = connection.isReusable
        self.perform { $0.release(connection, bucket: connection.poolBucket, reusable: reusable) }
    }

    /// Returns a slot whose connection could not be opened or was never used.
    func releaseSlot(bucket: Int) {
        self.perform { $0.releaseSlot(bucket: bucket) }
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
            waiter.continuation.resume(throwing: PostgresError(code: .poolShutdown, message: "the Postgres client is shutting down"))
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

    private func perform(_ transition: (inout Machine) -> Machine.ReleaseAction) {
        let (close, handOver) = self.state.withLock { state in
            let action = transition(&state.machine)
            // The machine has dequeued the waiter, so a racing timeout or cancellation no longer finds it.
            let handOver = action.handOver.flatMap { id, grant in state.waiters.removeValue(forKey: id).map { ($0, grant) } }
            return (action.close, handOver)
        }
        if let (waiter, grant) = handOver {
            waiter.timeout.cancel()
            waiter.continuation.resume(returning: grant)
        }
        close?.close()
    }

    private func removeWaiter(_ id: Machine.WaiterID, error: any Error) {
        let waiter = self.state.withLock { state in
            state.machine.removeWaiter(id) ? state.waiters.removeValue(forKey: id) : nil
        }
        waiter?.timeout.cancel()
        waiter?.continuation.resume(throwing: error)
    }
}
