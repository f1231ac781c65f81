import Hummingbird
import NIOCore
import SCIMConsole

extension ConsoleSignInLimit {
    /// The console's sign-in form counted by the shared failed-authentication limiter, exactly as a
    /// bearer on the admin API: a staff key by its public prefix, the bootstrap token never limited,
    /// anything else by client address.
    init(_ limiter: FailedAuthLimiter, adminAuth: AdminAuthMiddleware, trustedProxy: Bool) {
        @Sendable func key(_ request: Request, _ remote: SocketAddress?, _ credential: String) -> FailedAuthKey? {
            let client = FailedAuthLimitMiddleware.clientAddress(request, remote: remote, trustedProxy: trustedProxy)
            return FailedAuthKey(
                address: FailedAuthLimitMiddleware.addressKey(client),
                credential: adminAuth.presentedCredential(bearer: credential))
        }
        self.init(
            check: { request, remote, credential in
                guard let key = key(request, remote, credential),
                    case .limited(let retryAfter) = limiter.check(key, generation: limiter.generation)
                else { return nil }
                return retryAfter
            },
            recordFailure: { request, remote, credential in
                guard let key = key(request, remote, credential) else { return }
                _ = limiter.recordFailure(key, curableUntil: nil)
            })
    }
}
