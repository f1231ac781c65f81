import Hummingbird
import SCIMStore

/// After any successful admin write (a token revoked, SCIM disabled, an organisation changed), drops
/// this replica's cached token lookups, so the change applies here at once; other replicas follow
/// within the cache's one-second lifetime.
struct TokenCacheInvalidationMiddleware: RouterMiddleware {
    let authenticator: CachedTokenAuthenticator

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        if request.method != .get, request.method != .head, (200..<300).contains(response.status.code) {
            authenticator.removeAll()
        }
        return response
    }
}
