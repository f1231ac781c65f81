import Hummingbird
import SCIMStore

/// After any successful admin write (a token revoked, SCIM disabled, mappings replaced), drops this
/// replica's cached control data at once; other replicas follow when they see `control.cache_epoch` move.
struct CacheInvalidationMiddleware: RouterMiddleware {
    let coherence: CacheCoherence

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let response = try await next(request, context)
        if request.method != .get, request.method != .head, (200..<300).contains(response.status.code) {
            coherence.invalidate()
        }
        return response
    }
}
