import HTTPTypes
import Testing

@testable import SCIMConsole
@testable import SCIMServer

/// Every field name the service spells in code, built with `init(literal:)`, which stops the process on
/// a name that is not a token: touching each constant here makes a typo fail the suite, not a request.
@Suite("HTTP field names spelled in code")
struct HTTPFieldNameTests {
    @Test(
        "each constant is the field it is written as",
        arguments: [
            (HTTPField.Name.requestID, "X-Request-Id"),
            (HTTPField.Name.forwardedProto, "X-Forwarded-Proto"),
            (HTTPField.Name.forwardedFor, "X-Forwarded-For"),
            (HTTPField.Name.pragma, "Pragma"),
            (HostHeaderMiddleware.host, "Host"),
            (FailedAuthLimitMiddleware.forwardedFor, "X-Forwarded-For"),
            (HTTPField.Name.referrerPolicy, "Referrer-Policy"),
            (HTTPField.Name.xFrameOptions, "X-Frame-Options"),
            (HTTPField.Name.secFetchSite, "Sec-Fetch-Site"),
            (HTTPField.Name.consoleForwardedProto, "X-Forwarded-Proto"),
        ])
    func spelled(name: HTTPField.Name, spelling: String) {
        #expect(name.rawName == spelling)
        #expect(name.canonicalName == spelling.lowercased())
    }
}
