import NIOCore

/// How long an HTTP connection may take at each step, and how many may be open at once.
///
/// Every deadline closes the connection without a response: a client that is that slow is either
/// gone or holding a file descriptor on purpose.
public struct HTTPConnectionSettings: Sendable, Equatable {
    /// `HTTP_IDLE_TIMEOUT_SECONDS`: how long a keep-alive connection may wait between the end of one
    /// response and the first byte of the next request.
    public var idleTimeout: Duration = .seconds(60)
    /// `HTTP_HEADER_TIMEOUT_SECONDS`: how long a request's line and headers may take, from their
    /// first byte (or, for a new connection, from the accept, so the TLS handshake counts too).
    public var headerTimeout: Duration = .seconds(10)
    /// `HTTP_BODY_TIMEOUT_SECONDS`: how long a request's body may take, from the end of its headers.
    public var bodyTimeout: Duration = .seconds(30)
    /// `MAX_CONNECTIONS`: open client connections past which new ones are closed at once.
    public var maxConnections: Int = 10_000

    public init() {}
}

/// The deadlines of one HTTP/1.1 connection, as a pure state machine: the channel handlers feed it
/// what happened and when, and it says when the connection must be closed.
///
/// A new connection waits for its first request's headers (`headerTimeout`, from the accept). Once
/// they are in, the body has `bodyTimeout`. While a response is being produced there is no deadline:
/// the handler's own work is bounded by the database timeouts. After the response, the connection is
/// idle (`idleTimeout`) until a byte of the next request arrives, which starts its header deadline.
struct ConnectionDeadlines {
    /// What the connection is waiting for; names the deadline that closed it.
    enum Phase: String, CaseIterable, Sendable {
        /// Between a response and the next request.
        case idle
        /// A request's line and headers (for a new connection: the TLS handshake too).
        case headers
        /// A request's body.
        case body
        /// The server's response; no deadline.
        case responding
    }

    enum TimerAction: Equatable {
        /// The deadline has passed: close the connection.
        case close(Phase)
        /// The deadline moved later since the timer was set: set it again for this time.
        case reschedule(NIODeadline)
        /// No deadline now.
        case none
    }

    let settings: HTTPConnectionSettings
    private(set) var phase: Phase
    private(set) var deadline: NIODeadline?
    /// Requests whose head arrived and whose response has not ended.
    private var responsesOwed = 0
    /// A request's head arrived and its end has not.
    private var readingBody = false

    init(settings: HTTPConnectionSettings, now: NIODeadline) {
        self.settings = settings
        phase = .headers
        deadline = now + TimeAmount(settings.headerTimeout)
    }

    /// Bytes arrived from the client. On an idle connection they start a request: its headers'
    /// deadline runs from now.
    mutating func bytesReceived(now: NIODeadline) {
        guard phase == .idle else { return }
        phase = .headers
        deadline = now + TimeAmount(settings.headerTimeout)
    }

    /// A request's line and headers were parsed: its body's deadline runs from now.
    mutating func headReceived(now: NIODeadline) {
        responsesOwed += 1
        readingBody = true
        phase = .body
        deadline = now + TimeAmount(settings.bodyTimeout)
    }

    /// A request's body ended. A response not yet finished has no deadline; one already sent (an
    /// early refusal) leaves the connection idle.
    mutating func endReceived(now: NIODeadline) {
        readingBody = false
        if responsesOwed > 0 {
            phase = .responding
            deadline = nil
        } else {
            becomeIdle(now: now)
        }
    }

    /// A response ended. While the request's body is still coming, its deadline stays.
    mutating func responseEnded(now: NIODeadline) {
        responsesOwed = max(0, responsesOwed - 1)
        if responsesOwed == 0, !readingBody { becomeIdle(now: now) }
    }

    /// The timer set for an earlier `deadline` fired.
    func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline else { return .none }
        return deadline <= now ? .close(phase) : .reschedule(deadline)
    }

    private mutating func becomeIdle(now: NIODeadline) {
        phase = .idle
        deadline = now + TimeAmount(settings.idleTimeout)
    }
}
