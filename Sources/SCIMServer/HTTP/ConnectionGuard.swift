import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTPTypes
import NIOSSL
import Synchronization

/// Counts the open client connections and admits a new one only below `MAX_CONNECTIONS`.
///
/// Shared by every event loop, so the count is atomic. A refused connection is closed at once rather
/// than left in the listen queue: its client sees the refusal immediately and can go elsewhere.
final class ConnectionGate: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var openConnections: Int { count.load(ordering: .relaxed) }

    /// Takes a slot; false when all `limit` are taken. A refused connection never counts, even for a
    /// moment: connections accepted on two event loops at once must not see each other's refusals.
    func admit() -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a slot taken by `admit`.
    func release() {
        count.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Wraps the server's child channel (plain HTTP/1.1, or TLS around it) with the connection cap and
/// the deadlines of `HTTPConnectionSettings`.
///
/// Its handler goes first in the pipeline, ahead of TLS: a client that opens a connection and never
/// completes the handshake meets the header deadline, and a timed-out connection is closed at the
/// socket without waiting on a TLS close exchange. The HTTP parts it needs (a request's head and end,
/// a response's end) come from `HTTPPhaseObserver`, which sits after the HTTP codec.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let settings: HTTPConnectionSettings
    let gate: ConnectionGate
    let metrics: ServiceMetrics

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let handler: any ChannelHandler
        if gate.admit() {
            metrics.connectionOpened()
            channel.closeFuture.whenComplete { [gate, metrics] _ in
                gate.release()
                metrics.connectionClosed()
            }
            handler = ConnectionDeadlineHandler(settings: settings, metrics: metrics)
        } else {
            metrics.connectionRefused()
            logger.debug(
                "connection refused: MAX_CONNECTIONS reached", metadata: ["scim.connections.limit": "\(gate.limit)"])
            handler = RefuseConnectionHandler()
        }
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes a connection past `MAX_CONNECTIONS` as soon as it is active, before any TLS or HTTP work.
final class RefuseConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// The I/O shell of `ConnectionDeadlines` for one connection: sees the raw bytes (first in the
/// pipeline), keeps one timer on the connection's event loop, and closes the socket when a deadline
/// passes.
final class ConnectionDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var machine: ConnectionDeadlines
    private let metrics: ServiceMetrics
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(settings: HTTPConnectionSettings, metrics: ServiceMetrics) {
        machine = ConnectionDeadlines(settings: settings, now: .now())
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        machine.bytesReceived(now: .now())
        armTimer()
        context.fireChannelRead(data)
    }

    /// From `HTTPPhaseObserver`: a request's head was parsed.
    func headReceived() {
        machine.headReceived(now: .now())
        armTimer()
    }

    /// From `HTTPPhaseObserver`: a request's end was parsed.
    func endReceived() {
        machine.endReceived(now: .now())
        armTimer()
    }

    /// From `HTTPPhaseObserver`: a response's end was written.
    func responseEnded() {
        machine.responseEnded(now: .now())
        armTimer()
    }

    /// Makes sure a timer fires by the current deadline. A timer already set for an earlier time
    /// stays: when it fires it finds the later deadline and sets itself again, so moving a deadline
    /// on every request costs no cancellation.
    private func armTimer() {
        guard let context, let deadline = machine.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        cancelTimer()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            switch machine.timerFired(now: .now()) {
            case .close(let phase):
                metrics.connectionTimedOut(phase)
                self.context?.close(promise: nil)
            case .reschedule:
                armTimer()
            case .none:
                break
            }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }
}

/// Tells the connection's `ConnectionDeadlineHandler` where each request and response stands.
/// Added after the HTTP codec (`HTTP1Channel.Configuration.additionalChannelHandlers`).
final class HTTPPhaseObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var deadlines: ConnectionDeadlineHandler?

    func handlerAdded(context: ChannelHandlerContext) {
        deadlines = try? context.pipeline.syncOperations.handler(type: ConnectionDeadlineHandler.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlines = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head: deadlines?.headReceived()
        case .end: deadlines?.endReceived()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) { deadlines?.responseEnded() }
        context.write(data, promise: promise)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1, over TLS when `tls` is given, behind `GuardedChildChannel`.
    static func guarded(
        tls: TLSConfiguration?, settings: HTTPConnectionSettings, metrics: ServiceMetrics
    ) -> HTTPServerBuilder {
        let gate = ConnectionGate(limit: settings.maxConnections)
        return HTTPServerBuilder { responder in
            let http1 = HTTP1Channel(
                responder: responder, configuration: .init(additionalChannelHandlers: [HTTPPhaseObserver()]))
            if let tls {
                let base = try TLSChannel(http1, tlsConfiguration: tls)
                return GuardedChildChannel(base: base, settings: settings, gate: gate, metrics: metrics)
            }
            return GuardedChildChannel(base: http1, settings: settings, gate: gate, metrics: metrics)
        }
    }
}
