import ServiceLifecycle
import Synchronization

/// Whether `/readyz` may answer 200: false from the moment graceful shutdown begins.
///
/// Shared by the router (which reads it on every `/readyz`) and `ShutdownDrain` (which closes it).
public final class ReadinessGate: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    /// True once shutdown has begun; never goes back to false.
    public var isDraining: Bool { self.draining.load(ordering: .acquiring) }

    /// Makes `/readyz` answer 503 from now on.
    public func beginDraining() {
        self.draining.store(true, ordering: .releasing)
    }
}

/// On graceful shutdown, closes the readiness gate, keeps serving for `drain`, then returns so the
/// services listed before it (the application: listener, then pool) shut down in turn.
///
/// > Warning: A `ServiceGroup` shuts its services down in reverse order, so this must come *after*
/// > the application in the group (`scim-server serve` does this). Placed among the application's own
/// > services it would hear of the shutdown only once the listener had already closed.
public struct ShutdownDrain: Service, CustomStringConvertible {
    let gate: ReadinessGate
    let drain: Duration
    /// Waits out the drain; tests pass one they control instead of the real clock.
    let sleep: @Sendable (Duration) async throws -> Void

    public init(
        gate: ReadinessGate, drain: Duration,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.gate = gate
        self.drain = drain
        self.sleep = sleep
    }

    public var description: String { "ShutdownDrain" }

    public func run() async throws {
        // Returns on graceful shutdown; throws CancellationError on cancellation (nothing to drain then).
        try await gracefulShutdown()
        self.gate.beginDraining()
        // Plain sleep: further shutdown signals must not cut the drain short, only cancellation may.
        try await self.sleep(self.drain)
    }
}
