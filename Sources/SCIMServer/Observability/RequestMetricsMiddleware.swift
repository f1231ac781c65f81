import HTTPTypes
import Hummingbird
import NIOCore
import Postgres
import SCIMStore

/// Counts every request and records its latency by method, route template and status class.
///
/// Added first, so it sees the response the client gets, after the error middleware has rendered
/// any thrown error. The route label is Hummingbird's matched template (`context.endpointPath`, e.g.
/// `/scim/v2/Users/{id}`) or `NotFound`; never the raw path, which carries ids and slugs.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let status: Int
        do {
            let response = try await next(request, context)
            status = Int(response.status.code)
            record(request, context, status, since: start)
            return response
        } catch {
            status = Int((error as? any HTTPResponseError)?.status.code ?? 500)
            record(request, context, status, since: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, _ status: Int, since start: ContinuousClock.Instant) {
        metrics.recordRequest(
            method: request.method.rawValue, route: context.endpointPath ?? "NotFound", status: status,
            duration: ContinuousClock.now - start)
    }
}

/// `GET /metrics`: the Prometheus text exposition, with the pools' and event buffer's gauges sampled at scrape time.
///
/// > Warning: Without `METRICS_TOKEN` the endpoint is unauthenticated. It exposes no tenant data
/// > (labels are bounded, see `ServiceMetrics`), but it should only be reachable from the private
/// > network where Prometheus runs; block `/metrics` at the public load balancer.
struct MetricsController {
    let metrics: ServiceMetrics
    let pools: [ServiceMetrics.PoolRole: PostgresClient]
    let events: EventBuffer
    /// SHA-256 of `METRICS_TOKEN`, compared in constant time; nil when the endpoint is open.
    let tokenDigest: [UInt8]?

    init(metrics: ServiceMetrics, pools: [ServiceMetrics.PoolRole: PostgresClient], events: EventBuffer, token: String?)
    {
        self.metrics = metrics
        self.pools = pools
        self.events = events
        self.tokenDigest = token.map(Secrets.sha256)
    }

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("metrics") { request, _ in try self.scrape(request) }
    }

    func scrape(_ request: Request) throws -> Response {
        if let tokenDigest {
            guard let header = request.headers[.authorization], header.count > 7,
                header.prefix(7).lowercased() == "bearer ",
                Secrets.constantTimeEquals(Secrets.sha256(String(header.dropFirst(7))), tokenDigest)
            else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"])
            }
        }
        for (role, client) in pools {
            metrics.samplePool(client.metrics, role: role)
        }
        metrics.sampleEvents(events)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }
}
