import Logging
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

/// The one place errors become HTTP answers: what a request cut short by shutdown gets.
@Suite("Error mapping: cancellation and the unexpected")
struct ErrorMappingTests {
    let logger = Logger(label: "error-mapping-test")

    @Test("a request cancelled under it (the server stopping) is 503 to retry elsewhere, never a 500")
    func cancellation() {
        #expect(ErrorResponseMiddleware.scimError(for: CancellationError(), logger: logger).status == 503)
        #expect(ErrorResponseMiddleware.scimError(for: CancellationError(), logger: logger).retryAfter != nil)
        #expect(ErrorResponseMiddleware.adminError(for: CancellationError(), logger: logger).status == 503)
        #expect(
            ErrorResponseMiddleware.oauthError(for: CancellationError(), logger: logger).code
                == "temporarily_unavailable")
    }

    @Test("an error nobody expected is a 500 in each family")
    func unexpected() {
        struct Unexpected: Error {}
        #expect(ErrorResponseMiddleware.scimError(for: Unexpected(), logger: logger).status == 500)
        #expect(ErrorResponseMiddleware.adminError(for: Unexpected(), logger: logger).status == 500)
        #expect(ErrorResponseMiddleware.oauthError(for: Unexpected(), logger: logger).code == "server_error")
    }
}
